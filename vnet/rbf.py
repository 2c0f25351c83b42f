"""Gaussian radial basis function (RBF) activations: table-speed and exact operators.

Every nonlinear function of the coupled variational network is a weighted sum of
``N_w`` Gaussians with equally spaced centres on ``[-r, r]`` (paper: ``N_w = 31``,
``r = 1.2``), one weight vector per feature channel::

    f_c(x) = sum_j w[c, j] * exp(-(x - mu_j)**2 / (2 sigma**2)),
    mu_j = -r + j * h,   h = 2 r / (N_w - 1),   sigma = h.

Two implementations compute these functions; :func:`set_default_path` picks one.

``"table"`` (the default on every device)
    Once per call the weights are turned into a table: each channel's function as a
    piecewise cubic Hermite polynomial on a grid of spacing ``sigma / TABLE_CELLS_PER_SIGMA``
    over ``[-(r + TABLE_MARGIN sigma), r + TABLE_MARGIN sigma]`` (node values and
    slopes from the exact Gaussians). Evaluating ``f`` and ``f'`` is a cell lookup, four
    gathers and a Horner scheme, whatever ``N_w``. The operator *is* this piecewise cubic:
    ``f'`` is the derivative of the cubic, the gradient w.r.t. ``x`` uses its first and
    second derivatives, and the gradient w.r.t. the weights (the table is linear in
    them) scatters the incoming gradient onto the cells (a per-channel histogram of
    ``t^k``-moments, ``scatter_add_``) and maps it back with one small matrix product
    with the sampled Gaussians. The gradients are therefore exact for the function
    computed (float64 ``gradcheck`` passes); its deviation from the exact functions is
    bounded in ``docs/vnet.md``. Beyond the table every Gaussian is below ``1e-20``
    and the exact path returns 0; so does the table (inputs are clamped to its ends,
    where values and slopes are 0).
``"chunked"`` / ``"broadcast"`` (``"exact"`` picks the one for the device)
    The exact Gaussians, without building the ``(input x N_w)`` tensor of basis
    values that a naive implementation materialises: the forward pass loops over the
    ``N_w`` centres and accumulates; the backward pass recomputes the basis (the scheme
    of VLOGroup/optox ``act_rbf``). On the CPU (``"chunked"``) the columns of ``x``
    viewed as ``(B, C, N)`` are processed in blocks of about :data:`CHUNK_ELEMENTS`
    elements so the scratch buffers stay in cache; on a GPU (``"broadcast"``) the whole
    tensor is one block. The squared distance is capped before ``exp`` and Gaussians
    below ``1e-20`` are set to zero: far-away centres then cost a fast ``exp`` of a
    normal float instead of the slow underflow path, and later products never become
    subnormal (slow on x86).

Both save only ``x`` and ``w`` for backward: memory is O(input). Under autocast the
operators compute in float32 (a bfloat16 table would be far too coarse).

Public functions
----------------
rbf
    ``f(x)``: a function parameterised directly by RBF weights (used for the
    derivative ``Dphi_t`` of the coupling potential).
rbf_value_and_derivative
    ``(f(x), f'(x))`` in one pass (used for ``phi^u_t`` and ``phi^m_t``, whose
    derivative is obtained by differentiating the Gaussians).
rbf_antiderivative
    ``F(x)`` with ``F' = f`` (error functions; used only to evaluate the energy
    ``E_t`` for checks and for the naive reference).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

__all__ = [
    "RBFBasis",
    "rbf",
    "rbf_value_and_derivative",
    "rbf_antiderivative",
    "rbf_materialized",
    "rbf_value_and_derivative_materialized",
    "linear_weights",
    "constant_weights",
    "set_default_path",
    "get_default_path",
    "default_path",
    "table_deviation_bound",
    "TABLE_CELLS_PER_SIGMA",
    "TABLE_MARGIN",
]

#: Elements per column block of the CPU path (measured best of 64K..1M and unblocked on 2 cores).
CHUNK_ELEMENTS = 1 << 18

#: Gaussians below ``_FLOOR`` (squared normalised distance above ``2 * 46 = 92``) are set
#: to exactly zero, and the distance is capped at ``_D2MAX`` before ``exp``. Arguments
#: far below zero send ``exp`` down its slow underflow path, and tiny non-zero values
#: produce subnormal products later (both measured 7-15x slower on x86 CPUs); what is
#: dropped is below ``1e-20`` of a Gaussian's peak.
_D2MAX = 100.0
_FLOOR = 1e-20

#: Table cells per Gaussian width ``sigma`` (cubic Hermite; error bound in docs/vnet.md).
TABLE_CELLS_PER_SIGMA = 32

#: The table reaches ``TABLE_MARGIN * sigma`` beyond the outermost centres, where every
#: Gaussian is below ``_FLOOR`` (``exp(-50)``) and the exact path gives exactly 0.
TABLE_MARGIN = 10.0

_PATHS = ("auto", "table", "exact", "chunked", "broadcast")
_default_path = "auto"


def set_default_path(path: str) -> str:
    """Select the implementation used by the RBF operators.

    Parameters
    ----------
    path : {"auto", "table", "exact", "chunked", "broadcast"}
        ``"auto"`` and ``"table"``: the table-speed operators (every device).
        ``"exact"``: the exact Gaussians, ``"chunked"`` on the CPU and
        ``"broadcast"`` elsewhere; ``"chunked"``/``"broadcast"`` force one of the two.

    Returns
    -------
    str
        The previous setting (so a caller can restore it).
    """
    global _default_path
    if path not in _PATHS:
        raise ValueError(f"path must be one of {_PATHS}, got {path!r}")
    old, _default_path = _default_path, path
    return old


def get_default_path() -> str:
    """Return the current setting of :func:`set_default_path`."""
    return _default_path


@contextlib.contextmanager
def default_path(path: str) -> Iterator[None]:
    """Context manager form of :func:`set_default_path` (restores the old setting)."""
    old = set_default_path(path)
    try:
        yield
    finally:
        set_default_path(old)


def _use_table() -> bool:
    return _default_path in ("auto", "table")


def _resolve_path(x: torch.Tensor) -> str:
    """The exact implementation for ``x``: ``"chunked"`` or ``"broadcast"``."""
    if _default_path in ("chunked", "broadcast"):
        return _default_path
    return "chunked" if x.device.type == "cpu" else "broadcast"


@dataclass(frozen=True)
class RBFBasis:
    """Equally spaced Gaussian centres on ``[-radius, radius]``.

    Parameters
    ----------
    n_w : int
        Number of Gaussians (``N_w``), at least 2.
    radius : float
        Half width ``r`` of the interval holding the centres.

    Examples
    --------
    >>> b = RBFBasis(31, 1.2)
    >>> round(b.sigma, 3), round(b.centers[0], 2), round(b.centers[-1], 2)
    (0.08, -1.2, 1.2)
    """

    n_w: int = 31
    radius: float = 1.2

    def __post_init__(self) -> None:
        if self.n_w < 2:
            raise ValueError(f"n_w must be >= 2, got {self.n_w}")
        if not self.radius > 0:
            raise ValueError(f"radius must be > 0, got {self.radius}")

    @property
    def sigma(self) -> float:
        """Standard deviation of every Gaussian: the spacing of the centres."""
        return 2.0 * self.radius / (self.n_w - 1)

    @property
    def centers(self) -> tuple[float, ...]:
        """Centres ``mu_j`` as Python floats."""
        h = self.sigma
        return tuple(-self.radius + j * h for j in range(self.n_w))

    def centers_tensor(self, like: torch.Tensor) -> torch.Tensor:
        """Centres as a 1-D tensor with the dtype and device of ``like``."""
        return torch.tensor(self.centers, dtype=like.dtype, device=like.device)


# --------------------------------------------------------------------------- helpers


def _check(x: torch.Tensor, w: torch.Tensor, basis: RBFBasis) -> None:
    if x.dim() < 2:
        raise ValueError(f"x must have shape (B, C, ...), got {tuple(x.shape)}")
    if w.dim() != 2 or w.shape[0] != x.shape[1] or w.shape[1] != basis.n_w:
        raise ValueError(
            f"w must have shape (C, N_w) = ({x.shape[1]}, {basis.n_w}), got {tuple(w.shape)}"
        )
    if x.dtype != w.dtype or x.device != w.device:
        raise ValueError("x and w must share dtype and device")


def _blocks(x3: torch.Tensor) -> list[tuple[int, int]]:
    """Column ranges of ``x3`` (B, C, N): cache-sized on the CPU, one block elsewhere."""
    b, c, n = x3.shape
    if _resolve_path(x3) == "broadcast":
        return [(0, n)]
    step = max(1, CHUNK_ELEMENTS // max(1, b * c))
    return [(s, min(s + step, n)) for s in range(0, n, step)]


def _buffer(flat: torch.Tensor, b: int, c: int, n: int) -> torch.Tensor:
    """A (b, c, n) contiguous view into the front of a flat scratch buffer."""
    return flat[: b * c * n].view(b, c, n)


def _gauss(xb: torch.Tensor, mu: float, d: torch.Tensor, s: torch.Tensor, e: torch.Tensor) -> None:
    """Fill ``d = x - mu``, ``s = d**2`` and ``e = exp(-s / 2)`` (0 below ``_FLOOR``) in place."""
    torch.sub(xb, mu, out=d)
    torch.mul(d, d, out=s)
    torch.clamp(s, max=_D2MAX, out=e)
    e.mul_(-0.5).exp_()
    torch.nn.functional.threshold_(e, _FLOOR, 0.0)  # type: ignore[attr-defined]  # not in the stubs


# ------------------------------------------------------------------ forward kernel


def _forward(
    x: torch.Tensor, w: torch.Tensor, basis: RBFBasis, deriv: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return ``f(x)`` and (if ``deriv``) ``f'(x)`` without materialising the basis.

    Works on ``x`` viewed as (B, C, N) in column blocks; in every block it loops
    over the centres: ``d = (x - mu_j) / sigma``, ``g = exp(-d^2 / 2)``,
    ``f += w_j g`` and ``f' += -w_j d g / sigma``.
    """
    sigma = basis.sigma
    mus = [m / sigma for m in basis.centers]
    b, c = x.shape[0], x.shape[1]
    xs = x.reshape(b, c, -1) / sigma
    f = torch.zeros_like(xs)
    fp = torch.zeros_like(xs) if deriv else None
    wb = w.detach().t().reshape(basis.n_w, 1, c, 1).contiguous()
    wd = wb * (-1.0 / sigma)
    blocks = _blocks(xs)
    size = b * c * max(t - s for s, t in blocks)
    bd, bs, be = (torch.empty(size, dtype=x.dtype, device=x.device) for _ in range(3))
    for s0, t0 in blocks:
        n = t0 - s0
        xb, fb = xs[:, :, s0:t0], f[:, :, s0:t0]
        d, s, e = _buffer(bd, b, c, n), _buffer(bs, b, c, n), _buffer(be, b, c, n)
        for j, mu in enumerate(mus):
            _gauss(xb, mu, d, s, e)
            fb.addcmul_(e, wb[j])
            if fp is not None:
                e.mul_(d)
                fp[:, :, s0:t0].addcmul_(e, wd[j])
    out_fp = fp.view_as(x) if fp is not None else None
    return f.view_as(x), out_fp


# ----------------------------------------------------------------- backward kernel


def _backward(
    x: torch.Tensor,
    w: torch.Tensor,
    basis: RBFBasis,
    gf: torch.Tensor | None,
    gfp: torch.Tensor | None,
    need_x: bool,
    need_w: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Gradients of ``<gf, f(x)> + <gfp, f'(x)>`` w.r.t. ``x`` and ``w``.

    ``grad_x = gf * f'(x) + gfp * f''(x)`` and
    ``grad_w[c, j] = sum over channel c of g_j(x) * (gf - gfp * d_j / sigma)``
    with ``d_j = (x - mu_j) / sigma``, ``g_j' = -d_j g_j / sigma`` and
    ``g_j'' = (d_j^2 - 1) g_j / sigma^2``. The basis is recomputed, never stored.
    """
    sigma = basis.sigma
    mus = [m / sigma for m in basis.centers]
    b, c = x.shape[0], x.shape[1]
    xs = x.reshape(b, c, -1) / sigma
    g1 = gf.reshape(b, c, -1) if gf is not None else None
    g2 = gfp.reshape(b, c, -1) if gfp is not None else None
    use_fp = need_x and g1 is not None
    use_a2 = need_x and g2 is not None
    wd = w.detach().t().reshape(basis.n_w, 1, c, 1) * (-1.0 / sigma)
    w2 = w.detach().t().reshape(basis.n_w, 1, c, 1) * (1.0 / sigma**2)
    gx = torch.zeros_like(xs) if need_x else None
    gw = torch.zeros(basis.n_w, c, dtype=torch.float64, device=x.device) if need_w else None
    blocks = _blocks(xs)
    size = b * c * max(t - s for s, t in blocks)
    bufs = [torch.empty(size, dtype=x.dtype, device=x.device) for _ in range(6)]
    part = torch.empty(basis.n_w, c, dtype=x.dtype, device=x.device) if need_w else None
    for s0, t0 in blocks:
        n = t0 - s0
        d, s, e, ed, fp, a2 = (_buffer(buf, b, c, n) for buf in bufs)
        xb = xs[:, :, s0:t0]
        g1b = g1[:, :, s0:t0] if g1 is not None else None
        g2b = g2[:, :, s0:t0] if g2 is not None else None
        if use_fp:
            fp.zero_()
        if use_a2:
            a2.zero_()
        if part is not None:
            part.zero_()
        for j, mu in enumerate(mus):
            _gauss(xb, mu, d, s, e)
            if use_fp or (part is not None and g2b is not None):
                torch.mul(e, d, out=ed)
            if part is not None:
                if g1b is not None:
                    part[j] += torch.mul(e, g1b, out=d).sum((0, 2))
                if g2b is not None:
                    part[j] -= torch.mul(ed, g2b, out=d).sum((0, 2)) / sigma
            if use_fp:
                fp.addcmul_(ed, wd[j])
            if use_a2:
                s.sub_(1.0).mul_(e)
                a2.addcmul_(s, w2[j])
        if gx is not None:
            gxb = gx[:, :, s0:t0]
            if use_fp:
                gxb.addcmul_(g1b, fp)  # type: ignore[arg-type]  # set when use_fp
            if use_a2:
                gxb.addcmul_(g2b, a2)  # type: ignore[arg-type]  # set when use_a2
        if gw is not None and part is not None:
            gw += part.to(torch.float64)
    out_x = gx.view_as(x) if gx is not None else None
    out_w = gw.t().to(w.dtype).contiguous() if gw is not None else None
    return out_x, out_w


# ------------------------------------------------------------------- table path


@dataclass(frozen=True)
class _Grid:
    """The table grid of a basis: ``cells`` cells of width ``h`` starting at ``lo``."""

    lo: float
    h: float
    cells: int


def _grid(basis: RBFBasis, per_sigma: int | None = None, margin: float | None = None) -> _Grid:
    h = basis.sigma / (per_sigma or TABLE_CELLS_PER_SIGMA)
    half = basis.radius + (TABLE_MARGIN if margin is None else margin) * basis.sigma
    cells = math.ceil(2.0 * half / h - 1e-9)
    return _Grid(-0.5 * cells * h, h, cells)


def _hermite_basis(
    basis: RBFBasis, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached :func:`_sampled_basis` for the current table settings."""
    return _sampled_basis(basis, TABLE_CELLS_PER_SIGMA, TABLE_MARGIN, dtype, device)


@functools.lru_cache(maxsize=32)
def _sampled_basis(
    basis: RBFBasis, per_sigma: int, margin: float, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampled Gaussians as Hermite monomial coefficients ``phi`` ``(4, cells, N_w)``.

    Returned with its contiguous transpose ``(4, N_w, cells)`` (for building tables).

    Cell ``i`` holds ``p(t) = sum_k c_k t^k`` (``t`` in [0, 1] across the cell) with
    ``c_k = sum_j w_j phi[k, i, j]``: the cubic through the node values and slopes
    (in ``t`` units) of the Gaussians, floored like the exact path.
    """
    grid = _grid(basis, per_sigma, margin)
    nodes = grid.lo + grid.h * torch.arange(grid.cells + 1, dtype=torch.float64)
    mu = torch.tensor(basis.centers, dtype=torch.float64)
    d = (nodes[:, None] - mu[None, :]) / basis.sigma
    g = torch.exp(-0.5 * d.square().clamp(max=_D2MAX))
    g = torch.where(g < _FLOOR, torch.zeros_like(g), g)
    s = -d * g * (grid.h / basis.sigma)
    y0, y1, s0, s1 = g[:-1], g[1:], s[:-1], s[1:]
    phi = torch.stack([y0, s0, 3 * (y1 - y0) - 2 * s0 - s1, 2 * (y0 - y1) + s0 + s1])
    phi = phi.to(dtype=dtype, device=device)
    return phi.contiguous(), phi.transpose(1, 2).contiguous()


@contextlib.contextmanager
def _no_autocast(device: torch.device) -> Iterator[None]:
    with torch.autocast(device.type, enabled=False):
        yield


def _table(w: torch.Tensor, phi_t: torch.Tensor) -> torch.Tensor:
    """Coefficients ``(4, C * cells)`` of every channel's piecewise cubic."""
    with _no_autocast(w.device):
        return torch.matmul(w.detach(), phi_t).view(4, -1)  # (4, C, cells)


def _locate(x: torch.Tensor, grid: _Grid) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat table index (cell + channel offset, int32) and position ``t`` in [0, 1].

    ``x`` is viewed as ``(B, C, N)``. Entries beyond the table land in its end cells,
    where the functions are 0 (``t`` clamped to [0, 1]); the cell is clamped again after
    the integer conversion, so inf and NaN (which stays NaN through ``t``) are safe.
    """
    b, c = x.shape[0], x.shape[1]
    a = torch.tensor(1.0 / grid.h, dtype=x.dtype, device=x.device)
    off = torch.tensor(-grid.lo / grid.h, dtype=x.dtype, device=x.device)
    s = torch.addcmul(off, x.reshape(b, c, -1), a)
    cell = s.floor().clamp_(0, grid.cells - 1)
    t = s.sub_(cell).clamp_(0.0, 1.0)
    idx = cell.to(torch.int32).clamp_(0, grid.cells - 1)
    offset = torch.arange(0, c * grid.cells, grid.cells, dtype=torch.int32, device=x.device)
    return idx.add_(offset.view(1, c, 1)).view(-1), t


def _gather(
    tab: torch.Tensor, idx: torch.Tensor, ks: tuple[int, ...], like: torch.Tensor
) -> list[torch.Tensor]:
    """Coefficients ``ks`` of the cells ``idx``, shaped like ``like``."""
    return [tab[k].index_select(0, idx).view_as(like) for k in ks]


def _table_forward(
    x: torch.Tensor, w: torch.Tensor, basis: RBFBasis, deriv: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``f(x)`` and (if ``deriv``) ``f'(x)`` of the piecewise cubic."""
    grid = _grid(basis)
    tab = _table(w, _hermite_basis(basis, x.dtype, x.device)[1])
    idx, t = _locate(x, grid)
    c0, c1, c2, c3 = _gather(tab, idx, (0, 1, 2, 3), t)
    fp = None
    if deriv:  # p'(t) / h = (c1 + 2 c2 t + 3 c3 t^2) / h
        q = torch.addcmul(c2, c3, t, value=1.5)
        fp = torch.addcmul(c1, q, t, value=2.0).mul_(1.0 / grid.h).view_as(x)
    c2.addcmul_(c3, t)
    c1.addcmul_(c2, t)
    return c0.addcmul_(c1, t).view_as(x), fp


def _table_backward(
    x: torch.Tensor,
    w: torch.Tensor,
    basis: RBFBasis,
    gf: torch.Tensor | None,
    gfp: torch.Tensor | None,
    need_x: bool,
    need_w: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Gradients of ``<gf, f(x)> + <gfp, f'(x)>`` for the piecewise cubic.

    ``grad_x = gf p'/h + gfp p''/h^2``; ``grad_w`` from the moments
    ``A_k[cell] = sum (gf t^k + gfp k t^(k-1) / h)`` times the sampled Gaussians.
    """
    grid = _grid(basis)
    phi, phi_t = _hermite_basis(basis, x.dtype, x.device)
    idx, t = _locate(x, grid)
    b, c = x.shape[0], x.shape[1]
    g1 = gf.reshape(b, c, -1) if gf is not None else None
    g2 = gfp.reshape(b, c, -1) if gfp is not None else None
    gx = gw = None
    if need_x:
        tab = _table(w, phi_t)
        c1, c2, c3 = _gather(tab, idx, (1, 2, 3), t)
        if g1 is not None:  # p'(t) = c1 + 2 c2 t + 3 c3 t^2
            q = torch.addcmul(c2, c3, t, value=1.5)
            gx = torch.addcmul(c1, q, t, value=2.0).mul_(g1).mul_(1.0 / grid.h)
        if g2 is not None:  # p''(t) = 2 c2 + 6 c3 t
            c2.addcmul_(c3, t, value=3.0)
            if gx is None:
                gx = c2.mul_(g2).mul_(2.0 / grid.h**2)
            else:
                gx.addcmul_(g2, c2, value=2.0 / grid.h**2)
        assert gx is not None
        gx = gx.view_as(x)
    if need_w:
        moments = _moments(t, g1, g2, 1.0 / grid.h)
        size = c * grid.cells
        hist = torch.zeros(4, size, dtype=x.dtype, device=x.device)
        idx = idx.to(torch.int64)  # scatter_add_ wants int64; faster than int32 index_add_
        for k, m in enumerate(moments):
            if m is not None:
                hist[k].scatter_add_(0, idx, m.reshape(-1))
        with _no_autocast(x.device):
            gw = torch.matmul(hist.view(4, c, grid.cells), phi).sum(0)
    return gx, gw


def _moments(
    t: torch.Tensor, g1: torch.Tensor | None, g2: torch.Tensor | None, inv_h: float
) -> list[torch.Tensor | None]:
    """Per entry: ``g1 t^k + g2 k t^(k-1) / h`` for ``k = 0..3`` (``None`` if all zero)."""
    if g1 is None:
        assert g2 is not None
        q = g2 * inv_h
        return [None, q, (2.0 * q).mul_(t), (3.0 * q).mul_(t).mul_(t)]
    p = g1 * t
    if g2 is None:
        p2 = p * t
        return [g1, p, p2, p2 * t]
    return [
        g1,
        torch.add(p, g2, alpha=inv_h),
        torch.add(p, g2, alpha=2.0 * inv_h).mul_(t),
        torch.add(p, g2, alpha=3.0 * inv_h).mul_(t).mul_(t),
    ]


def table_deviation_bound(basis: RBFBasis, w: torch.Tensor) -> tuple[float, float]:
    """Bounds on ``|f_table - f|`` and ``|f'_table - f'|`` over the real line, per channel max.

    The cubic Hermite interpolant of a smooth ``f`` on cells of width ``h`` satisfies
    ``|f - p| <= h^4 / 384 max|f''''|`` and ``|f' - p'| <= sqrt(3) h^3 / 216 max|f''''|``
    (on each cell). ``max|f''''|`` is bounded by ``sum_j |w_j| |g_j''''|`` on a fine
    grid (plus a margin for the sampling), i.e. ``max|w| * S`` with ``S`` a property of the
    basis. Rounding of the table in the working dtype comes on top.

    Parameters
    ----------
    basis : RBFBasis
        The basis.
    w : torch.Tensor
        Weights ``(C, N_w)``.

    Returns
    -------
    (float, float)
        Bounds for the value and for the derivative.
    """
    grid = _grid(basis)
    xs = torch.linspace(-basis.radius - 2.0, basis.radius + 2.0, 20001, dtype=torch.float64)
    mu = torch.tensor(basis.centers, dtype=torch.float64)
    d = (xs[:, None] - mu[None, :]) / basis.sigma
    g4 = (d**4 - 6 * d**2 + 3) * torch.exp(-0.5 * d**2) / basis.sigma**4  # g''''
    f4 = (g4.abs() @ w.detach().to(torch.float64).abs().t()).max().item() * 1.05
    return grid.h**4 / 384.0 * f4, math.sqrt(3.0) * grid.h**3 / 216.0 * f4


# --------------------------------------------------------------- autograd functions


class _RBF(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, x: torch.Tensor, w: torch.Tensor, basis: RBFBasis, table: bool
    ) -> torch.Tensor:
        f, _ = (_table_forward if table else _forward)(x, w, basis, False)
        ctx.save_for_backward(x, w)
        ctx.basis = basis  # type: ignore[attr-defined]
        ctx.table = table  # type: ignore[attr-defined]
        return f

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, gf: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        x, w = ctx.saved_tensors  # type: ignore[attr-defined]
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]  # type: ignore[attr-defined]
        impl = _table_backward if ctx.table else _backward  # type: ignore[attr-defined]
        gx, gw = impl(x, w, ctx.basis, gf.contiguous(), None, need_x, need_w)  # type: ignore[attr-defined]
        return gx, gw, None, None


class _RBFValueAndDerivative(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, x: torch.Tensor, w: torch.Tensor, basis: RBFBasis, table: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        f, fp = (_table_forward if table else _forward)(x, w, basis, True)
        ctx.save_for_backward(x, w)
        ctx.basis = basis  # type: ignore[attr-defined]
        ctx.table = table  # type: ignore[attr-defined]
        assert fp is not None
        return f, fp

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, gf: torch.Tensor | None, gfp: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        x, w = ctx.saved_tensors  # type: ignore[attr-defined]
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]  # type: ignore[attr-defined]
        impl = _table_backward if ctx.table else _backward  # type: ignore[attr-defined]
        gx, gw = impl(
            x,
            w,
            ctx.basis,  # type: ignore[attr-defined]
            gf.contiguous() if gf is not None else None,
            gfp.contiguous() if gfp is not None else None,
            need_x,
            need_w,
        )
        return gx, gw, None, None


def _prepare(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Under autocast compute in float32 (the dtype autocast gives the weights)."""
    if torch.is_autocast_enabled(x.device.type):
        dtype = w.dtype if w.dtype in (torch.float32, torch.float64) else torch.float32
        return x.to(dtype), w.to(dtype)
    return x, w


def rbf(x: torch.Tensor, w: torch.Tensor, basis: RBFBasis) -> torch.Tensor:
    """Evaluate the RBF function ``f(x)`` channel-wise, memory-light.

    Parameters
    ----------
    x : torch.Tensor
        Input of shape ``(B, C, ...)``.
    w : torch.Tensor
        Weights of shape ``(C, N_w)`` (same dtype and device as ``x``).
    basis : RBFBasis
        Centres and width of the Gaussians.

    Returns
    -------
    torch.Tensor
        ``f(x)``, same shape as ``x``. Differentiable w.r.t. ``x`` and ``w``
        (first order); backward recomputes what it needs from the saved ``x``.
        Computed by the path of :func:`set_default_path`.

    Examples
    --------
    >>> basis = RBFBasis(31, 1.2)
    >>> x = torch.zeros(1, 2, 3, 3)
    >>> rbf(x, constant_weights(2, basis, 0.0), basis).abs().max().item()
    0.0
    """
    x, w = _prepare(x, w)
    _check(x, w, basis)
    with _no_autocast(x.device):
        return _RBF.apply(x.contiguous(), w, basis, _use_table())


def rbf_value_and_derivative(
    x: torch.Tensor, w: torch.Tensor, basis: RBFBasis
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate ``f(x)`` and ``f'(x)`` in one pass over the basis.

    Parameters
    ----------
    x : torch.Tensor
        Input of shape ``(B, C, ...)``.
    w : torch.Tensor
        Weights of shape ``(C, N_w)``.
    basis : RBFBasis
        Centres and width of the Gaussians.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``f(x)`` and ``f'(x)``. Both outputs are differentiable w.r.t. ``x`` and
        ``w``; backward recomputes what it needs (first and second derivatives)
        from the saved ``x``. Computed by the path of :func:`set_default_path`.
    """
    x, w = _prepare(x, w)
    _check(x, w, basis)
    with _no_autocast(x.device):
        return _RBFValueAndDerivative.apply(x.contiguous(), w, basis, _use_table())


def rbf_antiderivative(x: torch.Tensor, w: torch.Tensor, basis: RBFBasis) -> torch.Tensor:
    """Antiderivative ``F`` of :func:`rbf` (``F' = f``, ``F(-inf) = 0`` per Gaussian).

    ``integral exp(-(t-mu)^2 / (2 sigma^2)) dt = sigma sqrt(pi/2) (1 + erf((x-mu)/(sqrt2 sigma)))``.
    Plain autograd, materialises ``(input x N_w)``: for the energy in checks and the
    naive reference only, never on the training path.

    Parameters
    ----------
    x : torch.Tensor
        Input of shape ``(B, C, ...)``.
    w : torch.Tensor
        Weights of shape ``(C, N_w)``.
    basis : RBFBasis
        Centres and width of the Gaussians.

    Returns
    -------
    torch.Tensor
        ``F(x)``, same shape as ``x``.
    """
    _check(x, w, basis)
    mu = basis.centers_tensor(x)
    sigma = basis.sigma
    z = (x.unsqueeze(-1) - mu) / (math.sqrt(2.0) * sigma)
    prim = sigma * math.sqrt(math.pi / 2.0) * (1.0 + torch.erf(z))
    wb = w.reshape(1, w.shape[0], *([1] * (x.dim() - 2)), w.shape[1])
    return (prim * wb).sum(-1)


def rbf_materialized(x: torch.Tensor, w: torch.Tensor, basis: RBFBasis) -> torch.Tensor:
    """Naive ``f(x)`` that builds the ``(input x N_w)`` basis tensor (reference only)."""
    _check(x, w, basis)
    mu = basis.centers_tensor(x)
    g = torch.exp(-0.5 * ((x.unsqueeze(-1) - mu) / basis.sigma) ** 2)
    wb = w.reshape(1, w.shape[0], *([1] * (x.dim() - 2)), w.shape[1])
    return (g * wb).sum(-1)


def rbf_value_and_derivative_materialized(
    x: torch.Tensor, w: torch.Tensor, basis: RBFBasis
) -> tuple[torch.Tensor, torch.Tensor]:
    """Naive ``(f(x), f'(x))`` with the basis materialised (reference only)."""
    _check(x, w, basis)
    mu = basis.centers_tensor(x)
    d = (x.unsqueeze(-1) - mu) / basis.sigma
    g = torch.exp(-0.5 * d**2)
    wb = w.reshape(1, w.shape[0], *([1] * (x.dim() - 2)), w.shape[1])
    return (g * wb).sum(-1), (-(d * g) / basis.sigma * wb).sum(-1)


# -------------------------------------------------------------------- initialisers


def linear_weights(
    channels: int, basis: RBFBasis, slope: float = 1.0, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Weights whose RBF function is close to ``slope * x`` on ``[-r, r]``.

    Found by least squares on a fine grid of ``[-r, r]`` (tiny ridge). For the paper's
    basis the fit of the identity is within 0.01 on ``[-1, 1]`` and within 0.05 up to
    the ends of the interval.

    Parameters
    ----------
    channels : int
        Number of channels ``C`` (rows of the result).
    basis : RBFBasis
        The basis.
    slope : float
        Slope of the target line.
    dtype : torch.dtype
        dtype of the result.

    Returns
    -------
    torch.Tensor
        Shape ``(C, N_w)``.

    Examples
    --------
    >>> b = RBFBasis(31, 1.2)
    >>> w = linear_weights(1, b, 1.0, dtype=torch.float64)
    >>> x = torch.linspace(-1.0, 1.0, 5, dtype=torch.float64).view(1, 1, 5)
    >>> bool((rbf_materialized(x, w, b) - x).abs().max() < 1e-2)
    True
    """
    return _fit_weights(channels, basis, lambda t: slope * t, dtype)


def constant_weights(
    channels: int, basis: RBFBasis, value: float = 0.0, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Weights whose RBF function is close to the constant ``value`` on ``[-r, r]``."""
    return _fit_weights(channels, basis, lambda t: value + 0.0 * t, dtype)


def _fit_weights(
    channels: int, basis: RBFBasis, target: object, dtype: torch.dtype
) -> torch.Tensor:
    grid = torch.linspace(-basis.radius, basis.radius, 481, dtype=torch.float64)
    mu = basis.centers_tensor(grid)
    a = torch.exp(-0.5 * ((grid[:, None] - mu[None, :]) / basis.sigma) ** 2)
    y = target(grid)  # type: ignore[operator]
    ridge = 1e-6 * torch.eye(basis.n_w, dtype=torch.float64)
    sol = torch.linalg.solve(a.T @ a + ridge, a.T @ y)
    return sol.to(dtype).expand(channels, -1).clone()
