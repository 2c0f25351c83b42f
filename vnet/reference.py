"""Naive reference implementation of the coupled variational network.

Computes exactly the same function as :class:`vnet.model.CoupledVN`, the way one
would write it without care for cost:

* the RBF functions materialise the ``(input x N_w)`` tensor of basis values
  (:func:`vnet.rbf.rbf_materialized`, :func:`vnet.rbf.rbf_antiderivative`);
* ``grad E_t`` is obtained by autograd of the energy of Eq. (2) with
  ``create_graph=True``, so training backpropagates through a double-backward graph.

It shares the parameters of a :class:`~vnet.model.CoupledVN`, and serves as the
baseline of ``benchmarks/vnet_step.py`` and as an independent check in the tests.
"""

from __future__ import annotations

import torch
from torch import nn

from vnet.model import CoupledVN, VNStep, conv
from vnet.rbf import rbf_antiderivative, rbf_materialized

__all__ = ["NaiveCoupledVN", "naive_energy"]


def naive_energy(block: VNStep, u: torch.Tensor, m: torch.Tensor, u0: torch.Tensor) -> torch.Tensor:
    """``E_t(u, m)`` of Eq. (2) per sample, with materialised RBFs.

    Parameters
    ----------
    block : VNStep
        The step whose parameters define ``E_t``.
    u, m, u0 : torch.Tensor
        Image ``(B, C, H, W)``, mask ``(B, K, H, W)`` and input image.

    Returns
    -------
    torch.Tensor
        Shape ``(B,)``.
    """
    pad = block.config.padding
    fu = rbf_materialized(conv(u, block.ku, pad), block.wu, block.basis)
    fm = rbf_materialized(conv(m, block.km, pad), block.wm, block.basis)
    z = conv(torch.cat([fu, fm], dim=1), block.k, pad)
    reg = rbf_antiderivative(z, block.w, block.basis).flatten(1).sum(1)
    return reg + 0.5 * block.lam * (u - u0).flatten(1).pow(2).sum(1)


class NaiveCoupledVN(nn.Module):
    """The network of ``model`` evaluated naively (autograd of the energy).

    Parameters
    ----------
    model : CoupledVN
        The network whose parameters are used (shared, not copied).
    """

    def __init__(self, model: CoupledVN) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, u0: torch.Tensor, m0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the steps of Eq. (1) with ``grad E_t`` from autograd (``create_graph=True``)."""
        if m0 is None:
            m0 = u0.new_zeros(u0.shape[0], self.model.mask_channels, *u0.shape[-2:])
        u = u0.detach().clone().requires_grad_(True)
        m = m0.detach().clone().requires_grad_(True)
        for block in self.model.blocks:
            energy = naive_energy(block, u, m, u0).sum()  # type: ignore[arg-type]
            gu, gm = torch.autograd.grad(energy, (u, m), create_graph=True)
            u = torch.clamp(u - gu, 0.0, 1.0)
            m = torch.clamp(m - gm, 0.0, 1.0)
        return u, m

    @torch.no_grad()
    def project_(self) -> list[object]:
        """Project the shared parameters (as :meth:`CoupledVN.project_`)."""
        return list(self.model.project_())
