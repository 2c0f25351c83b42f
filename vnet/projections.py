"""Euclidean projections onto the admissible parameter set ``P`` of the paper.

``P`` asks for

* feature-extraction kernels ``K^u_t``, ``K^m_t`` in
  ``K = {k : <1, k> = 0, ||k||_1 <= 1}`` (zero mean and inside the l1 ball),
* coupling kernels ``K_t`` in the l1 ball ``||k||_1 <= 1``,
* data weights ``lambda_t >= 0``.

After every Adam step the parameters are replaced by their Euclidean projections
(:meth:`vnet.model.CoupledVN.project_`).

Which entries form "one kernel"
-------------------------------
``granularity="filter"`` (default) follows the paper's indexing of ``P``: one kernel
is everything that produces one output feature, ``K^{u,i}_t`` (3 x 11 x 11),
``K^{m,j}_t`` (1 x 5 x 5) and ``K^l_t`` (24 x 5 x 5). ``granularity="slice"`` treats
every (output, input) 2-D slice as a kernel of its own. For ``K^m`` (one input
channel) the two coincide.

Algorithms
----------
l1 ball
    The sort-based exact projection of Duchi et al. (2008), batched over rows.
zero mean and l1 ball
    The projection ``x*`` of ``v`` onto ``{1'x = 0} n {||x||_1 <= r}`` is
    ``P_r(v - nu* 1)``, where ``P_r`` is the l1-ball projection and ``nu*`` the
    multiplier of the linear constraint: minimising the Lagrangian
    ``1/2 ||x - v||^2 + nu 1'x`` over the ball gives ``x(nu) = P_r(v - nu 1)`` and
    the dual derivative is ``-s(nu)`` with ``s(nu) = 1'x(nu)``. ``s`` is continuous,
    piecewise linear and non-increasing with ``s(min v) >= 0 >= s(max v)``, so the
    root is bracketed. We run a safeguarded Newton method on this one-dimensional
    dual (Newton step with the exact slope of the active piece, bisection when the
    step leaves the bracket), batched over all kernels. Because ``s`` is piecewise
    linear, Newton is exact once it is on the right piece: typically 2-8 iterations,
    always within ``max_iter`` bisection-safeguarded steps. Stopping rule:
    ``|1'x| <= tol * r`` for every kernel (``tol = 1e-12`` by default; computed in
    float64 whatever the parameter dtype).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "ProjectionInfo",
    "project_l1_ball",
    "project_zero_mean_l1_ball",
    "project_kernels_",
    "kernel_rows",
]


@dataclass(frozen=True)
class ProjectionInfo:
    """Diagnostics of :func:`project_zero_mean_l1_ball`.

    Parameters
    ----------
    iterations : int
        Newton/bisection iterations used (0 when no kernel needed any).
    max_abs_sum : float
        Largest ``|sum(x)|`` over the kernels after the projection.
    converged : bool
        Whether every kernel met the tolerance.
    """

    iterations: int
    max_abs_sum: float
    converged: bool


def project_l1_ball(v: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    """Project every row of ``v`` onto the l1 ball of radius ``radius``.

    Duchi, Shalev-Shwartz, Singer and Chandra (2008), "Efficient projections onto
    the l1-ball for learning in high dimensions", Fig. 1, batched over rows.

    Parameters
    ----------
    v : torch.Tensor
        Shape ``(n, d)``.
    radius : float
        Radius ``r > 0``.

    Returns
    -------
    torch.Tensor
        Shape ``(n, d)``, same dtype; rows already inside the ball are unchanged.

    Examples
    --------
    >>> project_l1_ball(torch.tensor([[2.0, 0.0], [0.25, -0.25]]))
    tensor([[ 1.0000,  0.0000],
            [ 0.2500, -0.2500]])
    """
    if v.dim() != 2:
        raise ValueError(f"v must have shape (n, d), got {tuple(v.shape)}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    a = v.abs()
    inside = a.sum(1) <= radius
    mu = torch.sort(a, dim=1, descending=True).values
    css = torch.cumsum(mu, dim=1)
    k = torch.arange(1, v.shape[1] + 1, dtype=v.dtype, device=v.device)
    cond = mu - (css - radius) / k > 0
    rho = cond.sum(1).clamp(min=1)
    theta = (css.gather(1, (rho - 1).unsqueeze(1)).squeeze(1) - radius) / rho.to(v.dtype)
    x = torch.sign(v) * torch.clamp(a - theta.unsqueeze(1), min=0) + 0.0  # no -0.0
    return torch.where(inside.unsqueeze(1), v, x)


def project_zero_mean_l1_ball(
    v: torch.Tensor,
    radius: float = 1.0,
    *,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> tuple[torch.Tensor, ProjectionInfo]:
    """Project every row of ``v`` onto ``{x : sum(x) = 0, ||x||_1 <= radius}``.

    Safeguarded Newton method on the one-dimensional dual (see the module
    docstring), batched over rows, computed in float64.

    Parameters
    ----------
    v : torch.Tensor
        Shape ``(n, d)`` with ``d >= 2``.
    radius : float
        Radius ``r > 0`` of the l1 ball.
    tol : float
        Stop when ``|sum(x)| <= tol * radius`` for every row.
    max_iter : int
        Upper bound on the iterations.

    Returns
    -------
    (torch.Tensor, ProjectionInfo)
        The projections (dtype of ``v``) and diagnostics.

    Examples
    --------
    >>> x, info = project_zero_mean_l1_ball(torch.tensor([[3.0, 1.0, 0.0, 0.0]]))
    >>> x
    tensor([[ 0.5000,  0.0000, -0.2500, -0.2500]])
    >>> info.converged
    True
    """
    if v.dim() != 2 or v.shape[1] < 2:
        raise ValueError(f"v must have shape (n, d) with d >= 2, got {tuple(v.shape)}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    w = v.detach().to(torch.float64)
    d = w.shape[1]
    lo = w.min(1).values
    hi = w.max(1).values
    nu = w.mean(1)  # exact when the l1 constraint is inactive at the solution
    limit = tol * radius
    iterations = 0
    x = project_l1_ball(w - nu.unsqueeze(1), radius)
    s = x.sum(1)
    for _ in range(max_iter):
        active = s.abs() > limit
        if not bool(active.any()):
            break
        iterations += 1
        lo = torch.where(s > 0, torch.maximum(lo, nu), lo)
        hi = torch.where(s < 0, torch.minimum(hi, nu), hi)
        # slope of s on the current piece: -d inside the ball, else -|S| + (sum sign_S)^2/|S|
        shifted = w - nu.unsqueeze(1)
        in_ball = shifted.abs().sum(1) <= radius
        support = x != 0
        n_s = support.sum(1).to(torch.float64)
        sgn = torch.sign(x).sum(1)
        slope = torch.where(
            in_ball,
            torch.full_like(s, -float(d)),
            -n_s + sgn**2 / n_s.clamp(min=1.0),
        )
        newton = nu - s / torch.where(slope < 0, slope, torch.full_like(slope, -1.0))
        ok = (slope < 0) & (newton > lo) & (newton < hi)
        step = torch.where(ok, newton, 0.5 * (lo + hi))
        nu = torch.where(active, step, nu)
        x = project_l1_ball(w - nu.unsqueeze(1), radius)
        s = x.sum(1)
    max_abs = float(s.abs().max()) if s.numel() else 0.0
    info = ProjectionInfo(iterations, max_abs, max_abs <= limit)
    return x.to(v.dtype), info


def kernel_rows(weight: torch.Tensor, granularity: str) -> torch.Tensor:
    """View a conv weight ``(out, in, kh, kw)`` as one row per kernel.

    Parameters
    ----------
    weight : torch.Tensor
        Convolution weight of shape ``(out, in, kh, kw)``.
    granularity : {"filter", "slice"}
        ``"filter"``: one row per output channel (``in * kh * kw`` entries);
        ``"slice"``: one row per (output, input) 2-D slice (``kh * kw`` entries).

    Returns
    -------
    torch.Tensor
        A reshaped view (or copy) with one kernel per row.
    """
    if weight.dim() != 4:
        raise ValueError(f"weight must have shape (out, in, kh, kw), got {tuple(weight.shape)}")
    if granularity == "filter":
        return weight.reshape(weight.shape[0], -1)
    if granularity == "slice":
        return weight.reshape(weight.shape[0] * weight.shape[1], -1)
    raise ValueError(f"granularity must be 'filter' or 'slice', got {granularity!r}")


@torch.no_grad()
def project_kernels_(
    weight: torch.Tensor,
    *,
    zero_mean: bool,
    radius: float = 1.0,
    granularity: str = "filter",
    tol: float = 1e-12,
    max_iter: int = 100,
) -> ProjectionInfo:
    """Project a convolution weight in place onto the kernel constraint set.

    Parameters
    ----------
    weight : torch.Tensor
        Shape ``(out, in, kh, kw)``; overwritten.
    zero_mean : bool
        ``True``: project onto ``{zero mean} n {l1 ball}``; ``False``: onto the
        l1 ball only.
    radius : float
        Radius of the l1 ball.
    granularity : {"filter", "slice"}
        What one kernel is (see :func:`kernel_rows`).
    tol, max_iter : float, int
        Passed to :func:`project_zero_mean_l1_ball`.

    Returns
    -------
    ProjectionInfo
        Diagnostics (``iterations = 0`` for the plain l1 projection).
    """
    rows = kernel_rows(weight, granularity)
    if zero_mean:
        proj, info = project_zero_mean_l1_ball(rows, radius, tol=tol, max_iter=max_iter)
    else:
        proj = project_l1_ball(rows.to(torch.float64), radius).to(weight.dtype)
        info = ProjectionInfo(0, 0.0, True)
    weight.copy_(proj.reshape(weight.shape))
    return info
