"""The coupled variational network of Effland et al. (Sect. "A coupled variational network").

The network performs ``N_t`` projected gradient steps, Eq. (1)::

    u_{t+1} = proj_U(u_t - grad_u E_t(u_t, m_t))
    m_{t+1} = proj_M(m_t - grad_m E_t(u_t, m_t)),      t = 0 .. N_t - 1,

on the coupled energy, Eq. (2)::

    E_t(u, m) = sum_F phi_t(K_t(phi^u_t(K^u_t u), phi^m_t(K^m_t m))) + lambda_t / 2 ||u - u0||^2,

with the gradients written out by the chain rule (the paper's formulas)::

    grad_u E_t = (K^u_t)^T Dphi^u_t(K^u_t u) P_u K_t^T Dphi_t(K_t(...)) + lambda_t (u - u0)
    grad_m E_t = (K^m_t)^T Dphi^m_t(K^m_t m) P_m K_t^T Dphi_t(K_t(...)).

The gradients are evaluated with convolutions and their adjoints, never by
differentiating the energy. ``phi^u_t`` and ``phi^m_t`` are RBF-parameterised
functions whose derivatives come from differentiating the Gaussians; ``Dphi_t`` is
itself RBF-parameterised (its antiderivative ``phi_t`` is needed only to evaluate
``E_t`` for checks). Training backpropagates through the unrolled steps with ordinary
autograd.

Each step is a :class:`VNStep` with its own parameters (the layout of fastMRI's
``VarNet``: a list of identical blocks, each with a learned data-term weight).

Several classes (``VNConfig.mask_channels = K``): the mask is ``m in [0, 1]^(K x H x W)``,
one channel per class. ``K^m_t`` reads all ``K`` channels (``(N_fm, K, k_m, k_m)``), so
the mask features, and through ``K_t`` the image features, couple the classes;
``grad_m E_t`` has ``K`` channels by the same formula. ``proj_M`` stays the pointwise
clamp to ``[0, 1]``, now per channel (``docs/vnet.md``, "Several classes", says why not
the simplex). ``K = 1`` is the paper's network, parameter for parameter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vnet.config import VNConfig
from vnet.projections import ProjectionInfo, project_kernels_
from vnet.rbf import (
    RBFBasis,
    linear_weights,
    rbf,
    rbf_antiderivative,
    rbf_value_and_derivative,
)

__all__ = [
    "CoupledVN",
    "VNStep",
    "conv",
    "conv_adjoint",
    "pad_symmetric",
    "pad_symmetric_adjoint",
    "check_images",
]


# ------------------------------------------------------------------ linear operators


def pad_symmetric(x: torch.Tensor, p: int) -> torch.Tensor:
    """Pad the last two dims by ``p`` mirroring the border including the edge pixel.

    numpy's ``mode="symmetric"``: ``[a b c] -> [b a | a b c | c b]`` for ``p = 2``.
    Needs ``p <= H`` and ``p <= W``.

    Parameters
    ----------
    x : torch.Tensor
        Shape ``(..., H, W)``.
    p : int
        Padding on each side.

    Returns
    -------
    torch.Tensor
        Shape ``(..., H + 2p, W + 2p)``.
    """
    if p == 0:
        return x
    h, w = x.shape[-2], x.shape[-1]
    if p > h or p > w:
        raise ValueError(f"symmetric padding {p} needs images of at least {p} x {p}, got {h} x {w}")
    x = torch.cat([x[..., :p].flip(-1), x, x[..., w - p :].flip(-1)], dim=-1)
    return torch.cat([x[..., :p, :].flip(-2), x, x[..., h - p :, :].flip(-2)], dim=-2)


def pad_symmetric_adjoint(y: torch.Tensor, p: int) -> torch.Tensor:
    """Adjoint of :func:`pad_symmetric`: fold the padded border back onto the image.

    Parameters
    ----------
    y : torch.Tensor
        Shape ``(..., H + 2p, W + 2p)``.
    p : int
        Padding on each side.

    Returns
    -------
    torch.Tensor
        Shape ``(..., H, W)`` with ``<pad(x), y> = <x, pad_adjoint(y)>``.
    """
    if p == 0:
        return y
    h, w = y.shape[-2] - 2 * p, y.shape[-1] - 2 * p
    rows = _fold(y.narrow(-2, p, h), y[..., :p, :].flip(-2), y[..., p + h :, :].flip(-2), p, -2)
    return _fold(rows.narrow(-1, p, w), rows[..., :p].flip(-1), rows[..., p + w :].flip(-1), p, -1)


def _fold(
    core: torch.Tensor, first: torch.Tensor, last: torch.Tensor, p: int, dim: int
) -> torch.Tensor:
    """Return ``core`` with the mirrored strips added onto its first and last ``p`` lines."""
    out = core.clone()
    n = core.shape[dim]
    out.narrow(dim, 0, p).add_(first)
    out.narrow(dim, n - p, p).add_(last)
    return out


def conv(x: torch.Tensor, weight: torch.Tensor, padding: str) -> torch.Tensor:
    """Apply the convolution operator ``K`` (a same-size 2-D convolution).

    Parameters
    ----------
    x : torch.Tensor
        Shape ``(B, C_in, H, W)``.
    weight : torch.Tensor
        Shape ``(C_out, C_in, k, k)`` with ``k`` odd.
    padding : {"symmetric", "zeros"}
        Boundary handling.

    Returns
    -------
    torch.Tensor
        Shape ``(B, C_out, H, W)``.
    """
    p = weight.shape[-1] // 2
    if padding == "zeros":
        return F.conv2d(x, weight, padding=p)
    return F.conv2d(pad_symmetric(x, p), weight)


def conv_adjoint(y: torch.Tensor, weight: torch.Tensor, padding: str) -> torch.Tensor:
    """Apply the adjoint ``K^T`` of :func:`conv` (``<K x, y> = <x, K^T y>``).

    Parameters
    ----------
    y : torch.Tensor
        Shape ``(B, C_out, H, W)``.
    weight : torch.Tensor
        Shape ``(C_out, C_in, k, k)``.
    padding : {"symmetric", "zeros"}
        Boundary handling of the forward operator.

    Returns
    -------
    torch.Tensor
        Shape ``(B, C_in, H, W)``.
    """
    p = weight.shape[-1] // 2
    if padding == "zeros":
        return F.conv_transpose2d(y, weight, padding=p)
    return pad_symmetric_adjoint(F.conv_transpose2d(y, weight), p)


def check_images(
    u0: torch.Tensor, m0: torch.Tensor | None, min_size: int, mask_channels: int = 1
) -> None:
    """Check the shapes of a network input: ``u0 (B, C, H, W)``, ``m0 (B, K, H, W)``."""
    if u0.dim() != 4:
        raise ValueError(f"u0 must have shape (B, C, H, W), got {tuple(u0.shape)}")
    k = mask_channels
    if m0 is not None and (m0.dim() != 4 or m0.shape[1] != k or m0.shape[0] != u0.shape[0]):
        raise ValueError(f"m0 must have shape (B, {k}, H, W), got {tuple(m0.shape)}")
    if m0 is not None and m0.shape[-2:] != u0.shape[-2:]:
        raise ValueError(
            f"u0 and m0 must have the same size, got {tuple(u0.shape)} and {tuple(m0.shape)}"
        )
    if min(u0.shape[-2:]) < min_size:
        raise ValueError(
            f"images must be at least {min_size} x {min_size} pixels, got {tuple(u0.shape[-2:])}"
        )


# ----------------------------------------------------------------------- the step


def _random_kernels(
    shape: tuple[int, ...], generator: torch.Generator, zero_mean: bool, granularity: str
) -> torch.Tensor:
    """Random kernels, zero mean if asked, each scaled to l1 norm 1 (feasible, dense)."""
    w = torch.randn(shape, generator=generator, dtype=torch.float64)
    rows = w.reshape(shape[0], -1) if granularity == "filter" else w.reshape(-1, shape[-1] ** 2)
    if zero_mean:
        rows = rows - rows.mean(1, keepdim=True)
    rows = rows / rows.abs().sum(1, keepdim=True)
    return rows.reshape(shape).to(torch.float32)


class VNStep(nn.Module):
    """One projected gradient step of Eq. (1) with its own parameters.

    Parameters
    ----------
    config : VNConfig
        Architecture.
    generator : torch.Generator
        Source of the random initial kernels.

    Attributes
    ----------
    ku : nn.Parameter
        ``K^u_t``, shape ``(n_fu, in_channels, k_u, k_u)``.
    km : nn.Parameter
        ``K^m_t``, shape ``(n_fm, K, k_m, k_m)`` with ``K = mask_channels`` (1: the paper's).
    k : nn.Parameter
        ``K_t``, shape ``(n_f, n_fu + n_fm, k, k)``.
    wu, wm, w : nn.Parameter
        RBF weights of ``phi^u_t`` ``(n_fu, n_w)``, ``phi^m_t`` ``(n_fm, n_w)`` and
        ``Dphi_t`` ``(n_f, n_w)``.
    lam : nn.Parameter
        ``lambda_t``, shape ``(1,)``.
    """

    def __init__(self, config: VNConfig, generator: torch.Generator) -> None:
        super().__init__()
        c = config
        self.config = config
        self.basis = RBFBasis(c.n_w, c.rbf_range)
        n_in = c.n_fu + c.n_fm
        self.ku = nn.Parameter(torch.empty(c.n_fu, c.in_channels, c.k_u, c.k_u))
        self.km = nn.Parameter(torch.empty(c.n_fm, c.mask_channels, c.k_m, c.k_m))
        self.k = nn.Parameter(torch.empty(c.n_f, n_in, c.k, c.k))
        self.wu = nn.Parameter(torch.empty(c.n_fu, c.n_w))
        self.wm = nn.Parameter(torch.empty(c.n_fm, c.n_w))
        self.w = nn.Parameter(torch.empty(c.n_f, c.n_w))
        self.lam = nn.Parameter(torch.empty(1))
        if not self.lam.is_meta:  # a network on the meta device has shapes, no values
            self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the initial parameters (see :class:`CoupledVN`) and project them onto ``P``."""
        c = self.config
        self.ku.copy_(_random_kernels(tuple(self.ku.shape), generator, c.zero_mean, c.granularity))
        self.km.copy_(_random_kernels(tuple(self.km.shape), generator, True, c.granularity))
        coupling = 0.5 * _random_kernels(tuple(self.k.shape), generator, False, "filter")
        for i in range(min(self.k.shape[0], self.k.shape[1])):
            coupling[i, i, c.k // 2, c.k // 2] += 0.5
        self.k.copy_(coupling)
        self.wu.copy_(linear_weights(c.n_fu, self.basis, c.phi_slope))
        self.wm.copy_(linear_weights(c.n_fm, self.basis, c.phi_slope))
        self.w.copy_(linear_weights(c.n_f, self.basis, c.dphi_slope))
        self.lam.fill_(float(c.lambda_init))
        self.project_()

    # -- the energy and its gradient ------------------------------------------------

    def _features(
        self, u: torch.Tensor, m: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``phi^u(K^u u)``, ``Dphi^u(K^u u)``, ``phi^m(K^m m)``, ``Dphi^m(K^m m)``."""
        pad = self.config.padding
        fu, dfu = rbf_value_and_derivative(conv(u, self.ku, pad), self.wu, self.basis)
        fm, dfm = rbf_value_and_derivative(conv(m, self.km, pad), self.wm, self.basis)
        return fu, dfu, fm, dfm

    def grad_energy(
        self, u: torch.Tensor, m: torch.Tensor, u0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluate ``(grad_u E_t, grad_m E_t)`` with the paper's explicit formulas.

        Parameters
        ----------
        u : torch.Tensor
            Current image ``(B, C, H, W)``.
        m : torch.Tensor
            Current mask ``(B, K, H, W)``.
        u0 : torch.Tensor
            Input image ``(B, C, H, W)``.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            Gradients with the shapes of ``u`` and ``m``.
        """
        pad = self.config.padding
        n_fu = self.config.n_fu
        fu, dfu, fm, dfm = self._features(u, m)
        z = conv(torch.cat([fu, fm], dim=1), self.k, pad)  # K_t(phi^u(K^u u), phi^m(K^m m))
        g = conv_adjoint(rbf(z, self.w, self.basis), self.k, pad)  # K_t^T Dphi_t(.)
        gu = conv_adjoint(dfu * g[:, :n_fu], self.ku, pad)  # (K^u)^T Dphi^u(.) P_u (.)
        gm = conv_adjoint(dfm * g[:, n_fu:], self.km, pad)  # (K^m)^T Dphi^m(.) P_m (.)
        return gu + self.lam * (u - u0), gm

    def energy(self, u: torch.Tensor, m: torch.Tensor, u0: torch.Tensor) -> torch.Tensor:
        """Evaluate ``E_t(u, m)`` of Eq. (2) per sample (for checks; plain autograd).

        ``phi_t`` is the antiderivative of the RBF function ``Dphi_t`` (error
        functions), so ``grad E_t`` by autograd must equal :meth:`grad_energy`.

        Returns
        -------
        torch.Tensor
            Shape ``(B,)``.
        """
        pad = self.config.padding
        fu, _, fm, _ = self._features(u, m)
        z = conv(torch.cat([fu, fm], dim=1), self.k, pad)
        reg = rbf_antiderivative(z, self.w, self.basis).flatten(1).sum(1)
        data = 0.5 * self.lam * (u - u0).flatten(1).pow(2).sum(1)
        return reg + data

    def forward(
        self, u: torch.Tensor, m: torch.Tensor, u0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of Eq. (1): gradient step, then pointwise projection onto [0, 1].

        With ``K`` mask channels the projection is the same clamp in every channel (the
        box ``[0, 1]^K`` per pixel), not onto a simplex.
        """
        gu, gm = self.grad_energy(u, m, u0)
        return torch.clamp(u - gu, 0.0, 1.0), torch.clamp(m - gm, 0.0, 1.0)

    # -- constraints -----------------------------------------------------------------

    @torch.no_grad()
    def project_(self) -> list[ProjectionInfo]:
        """Project the parameters onto the admissible set ``P`` in place."""
        c = self.config
        infos = [
            project_kernels_(
                self.ku.data,
                zero_mean=c.zero_mean,
                granularity=c.granularity,
                tol=c.proj_tol,
                max_iter=c.proj_max_iter,
            ),
            project_kernels_(
                self.km.data,
                zero_mean=True,
                granularity=c.granularity,
                tol=c.proj_tol,
                max_iter=c.proj_max_iter,
            ),
            project_kernels_(self.k.data, zero_mean=False, granularity="filter"),
        ]
        self.lam.data.clamp_(min=0.0)
        return infos


class CoupledVN(nn.Module):
    """Coupled variational network for joint denoising and segmentation.

    Parameters
    ----------
    config : VNConfig, optional
        Architecture (paper defaults when omitted). Parameters are initialised
        from ``config.seed`` with a private generator:

        * ``K^u_t``, ``K^m_t``: Gaussian random kernels made zero mean (``K^u``
          only when ``zero_mean``) and scaled to l1 norm 1, i.e. dense kernels on
          the boundary of the constraint set;
        * ``K_t``: half identity (feature ``i`` to feature ``i`` at the centre),
          half random, l1 norm at most 1, so every feature starts by passing
          through while the image and mask features already mix;
        * ``phi^u_t``, ``phi^m_t``: RBF weights fitted to ``phi_slope * x``
          (identity-like);
        * ``Dphi_t``: RBF weights fitted to ``dphi_slope * z`` (``phi_t`` starts
          as a small quadratic, i.e. a gentle Tikhonov smoothing step);
        * ``lambda_t = lambda_init``.

    Examples
    --------
    >>> net = CoupledVN(VNConfig(steps=2))
    >>> u0 = torch.rand(1, 3, 32, 32)
    >>> u, m = net(u0, torch.zeros(1, 1, 32, 32))
    >>> tuple(u.shape), tuple(m.shape)
    ((1, 3, 32, 32), (1, 1, 32, 32))
    >>> tuple(CoupledVN(VNConfig(steps=1, mask_channels=3))(u0)[1].shape)  # three classes
    (1, 3, 32, 32)
    """

    def __init__(self, config: VNConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else VNConfig()
        generator = torch.Generator().manual_seed(self.config.seed)
        self.blocks = nn.ModuleList(
            VNStep(self.config, generator) for _ in range(self.config.steps)
        )

    @property
    def min_size(self) -> int:
        """Smallest image side the network accepts."""
        return max(1, self.config.max_pad)

    @property
    def mask_channels(self) -> int:
        """``K``, the channels of the mask (one per class)."""
        return self.config.mask_channels

    def forward(
        self, u0: torch.Tensor, m0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the ``N_t`` steps of Eq. (1).

        Parameters
        ----------
        u0 : torch.Tensor
            Noisy image, float, ``(B, C, H, W)`` in ``[0, 1]``.
        m0 : torch.Tensor, optional
            Initial mask ``(B, K, H, W)``; zeros (the paper's empty mask) when omitted.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            ``u_T`` ``(B, C, H, W)`` and ``m_T`` ``(B, K, H, W)``, both in ``[0, 1]``.
        """
        check_images(u0, m0, self.min_size, self.mask_channels)
        if u0.shape[1] != self.config.in_channels:
            raise ValueError(f"u0 must have {self.config.in_channels} channels, got {u0.shape[1]}")
        if m0 is None:
            m0 = u0.new_zeros(u0.shape[0], self.mask_channels, *u0.shape[-2:])
        u, m = u0, m0
        for block in self.blocks:
            u, m = block(u, m, u0)
        return u, m

    @torch.no_grad()
    def project_(self) -> list[ProjectionInfo]:
        """Project every step's parameters onto ``P`` in place (after each Adam step).

        The kernels of all steps are projected in one batched call per kind (``K^u``,
        ``K^m``, ``K``): the same per-kernel result as :meth:`VNStep.project_`, with
        one Newton loop instead of one per step.

        Returns
        -------
        list of ProjectionInfo
            One per kind: ``K^u``, ``K^m``, ``K`` (empty without steps).
        """
        blocks = [b for b in self.blocks if isinstance(b, VNStep)]
        if not blocks:
            return []
        c = self.config
        infos = []
        kinds = (("ku", c.zero_mean, c.granularity), ("km", True, c.granularity))
        for name, zero_mean, granularity in (*kinds, ("k", False, "filter")):
            weights = [getattr(b, name).data for b in blocks]
            stacked = torch.cat(weights)
            infos.append(
                project_kernels_(
                    stacked,
                    zero_mean=zero_mean,
                    granularity=granularity,
                    tol=c.proj_tol,
                    max_iter=c.proj_max_iter,
                )
            )
            for w, part in zip(weights, stacked.split([w.shape[0] for w in weights]), strict=True):
                w.copy_(part)
        for b in blocks:
            b.lam.data.clamp_(min=0.0)
        return infos
