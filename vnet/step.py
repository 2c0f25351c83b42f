"""One optimisation step: forward pass, the loss of Eq. (3), backward pass, Adam, projection.

Loss, Eq. (3) of the paper, per sample ``s``::

    (1/6) ||u^s_T - g^s_u||^2 + (1/2) ||m^s_T - g^s_m||^2

with the squared norms summed over all pixels (and channels); the batch loss is the
mean over the samples of the batch. With ``K`` classes, ``m`` and ``g_m`` have ``K``
channels (``g_m`` one-vs-rest: channel ``k - 1`` is 1 on the pixels of class ``k``), so
the mask term is Eq. (3)'s summed over the channels. (With 300 x 300 images this puts
the loss in the thousands, the scale of the paper's Fig. 3.) ``TrainConfig.loss_weights``
sets the two weights (the ``default`` VN preset: ``(5, 1/2)``, the image term x 30);
``TrainConfig.mask_loss = "bce"`` replaces the mask's squared error by the binary
cross-entropy ``-(g log m + (1 - g) log(1 - m))``, summed the same way. Adam with
``betas = (0.9, 0.999)``; after every Adam step the parameters are projected onto the
admissible set (:meth:`vnet.model.CoupledVN.project_`).

A non-finite loss or gradient raises :class:`Diverged` before the parameters change,
so the training loop can keep the last good checkpoint (:mod:`vnet.loop`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vnet import distributed as ddp
from vnet.config import PAPER_LOSS_WEIGHTS
from vnet.hardware import autocast

__all__ = ["loss_and_metrics", "label_map", "TrainStep", "Diverged", "BCE_EPS"]

#: probabilities are clamped to ``[BCE_EPS, 1 - BCE_EPS]`` before the cross-entropy
BCE_EPS = 1e-6


class Diverged(Exception):
    """A step gave a non-finite loss or gradient; the message says which."""


def label_map(m: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """The class of every pixel: ``argmax_k m_k + 1`` where ``max_k m_k >= threshold``, else 0.

    Parameters
    ----------
    m : torch.Tensor
        ``(B, K, H, W)`` per-class probabilities.
    threshold : float
        Least probability of a class pixel.

    Returns
    -------
    torch.Tensor
        ``(B, H, W)`` int64 class ids (ties go to the lower id).

    Examples
    --------
    >>> label_map(torch.tensor([[[[0.2, 0.7]], [[0.6, 0.1]]]])).tolist()
    [[[2, 1]]]
    """
    top, index = m.max(dim=1)
    return torch.where(top >= threshold, index + 1, torch.zeros_like(index))


def loss_and_metrics(
    u: torch.Tensor,
    m: torch.Tensor,
    g_u: torch.Tensor,
    g_m: torch.Tensor,
    u0: torch.Tensor,
    weights: tuple[float, float] = PAPER_LOSS_WEIGHTS,
    mask_loss: str = "l2",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of Eq. (3) (mean over the batch) and the logged metrics.

    ``weights`` are ``(w_u, w_m)`` of ``w_u ||u_T - g_u||^2 + w_m ||m_T - g_m||^2``
    (the paper's ``(1/6, 1/2)`` by default; ``TrainConfig.loss_weights``). With
    ``mask_loss="bce"`` the mask term is ``w_m`` times the binary cross-entropy of ``m_T``
    against ``g_m`` summed over pixels (its value taken at ``m_T`` clamped to
    ``[BCE_EPS, 1 - BCE_EPS]``, its gradient passed on unclamped): through a sigmoid its
    gradient in the logit is ``m - g``, which does not vanish where the sigmoid saturates
    at the wrong end, as the squared error's does; that lets a network learn sparse masks.

    Parameters
    ----------
    u, m : torch.Tensor
        Network outputs ``u_T`` ``(B, 3, H, W)`` and ``m_T`` ``(B, K, H, W)``.
    g_u, g_m : torch.Tensor
        Targets of the same shapes.
    u0 : torch.Tensor
        The input image (for the PSNR of the input, a reference line).
    weights : tuple of float
        ``(w_u, w_m)``.
    mask_loss : {"l2", "bce"}
        The mask term (``TrainConfig.mask_loss``).

    Returns
    -------
    (torch.Tensor, dict)
        The scalar loss (differentiable) and ``loss``, ``accuracy`` (pixels of
        ``m_T > 1/2`` equal to ``g_m > 1/2``; with ``K > 1`` pixels whose class,
        :func:`label_map` of ``m_T``, is that of ``g_m``), ``psnr`` (mean over the
        samples of the PSNR of ``u_T``, peak 1) and ``psnr_input`` as floats.
    """
    per_u = (u - g_u).flatten(1).pow(2).sum(1)
    if mask_loss == "bce":
        # the value clamped (finite logs), the gradient passed on as if unclamped
        p = m + (m.clamp(BCE_EPS, 1.0 - BCE_EPS) - m).detach()
        per_m = F.binary_cross_entropy(p, g_m, reduction="none").flatten(1).sum(1)
    elif mask_loss == "l2":
        per_m = (m - g_m).flatten(1).pow(2).sum(1)
    else:
        raise ValueError(f"mask_loss must be 'l2' or 'bce', got {mask_loss!r}")
    loss = (weights[0] * per_u + weights[1] * per_m).mean()
    with torch.no_grad():
        if m.shape[1] == 1:
            acc = ((m > 0.5) == (g_m > 0.5)).float().mean()
        else:
            acc = (label_map(m) == label_map(g_m)).float().mean()
        n_u = u[0].numel()
        psnr = (10.0 * torch.log10(1.0 / (per_u / n_u).clamp_min(1e-12))).mean()
        mse0 = (u0 - g_u).flatten(1).pow(2).mean(1)
        psnr0 = (10.0 * torch.log10(1.0 / mse0.clamp_min(1e-12))).mean()
    return loss, {
        "loss": float(loss.detach()),
        "accuracy": float(acc),
        "psnr": float(psnr),
        "psnr_input": float(psnr0),
    }


@dataclass
class TrainStep:
    """One optimisation step of a network on one batch (call it with the batch).

    Parameters
    ----------
    net : torch.nn.Module
        The network (:class:`~vnet.model.CoupledVN` or :class:`~vnet.unet.UNet`).
    optimizer : torch.optim.Optimizer
        Adam over ``net``'s parameters.
    device : torch.device
        Where the batch goes.
    model : torch.nn.Module, optional
        What runs the forward pass: ``net`` itself (default) or its DDP wrapper.
    precision : {"fp32", "bf16"}
        Arithmetic of the forward pass (:func:`vnet.hardware.autocast`).
    loss_weights : tuple of float
        ``(w_u, w_m)`` of :func:`loss_and_metrics`.
    mask_loss : {"l2", "bce"}
        The mask term of :func:`loss_and_metrics`.
    ctx : vnet.distributed.DistContext
        The process group (none for one process).
    batch_size : int
        Samples of the global batch (all processes).
    n_local : int
        Samples of this process's part of it.
    """

    net: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    model: nn.Module | None = None
    precision: str = "fp32"
    loss_weights: tuple[float, float] = PAPER_LOSS_WEIGHTS
    mask_loss: str = "l2"
    ctx: ddp.DistContext = field(default_factory=ddp.DistContext)
    batch_size: int = 1
    n_local: int = 1

    @property
    def lr(self) -> float:
        """The optimiser's current step size."""
        return float(self.optimizer.param_groups[0]["lr"])

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = value

    def __call__(self, batch: Any, stop: bool = False) -> tuple[dict[str, float], bool]:
        """Run the step on ``batch = (u0, g_u, g_m)``.

        Parameters
        ----------
        batch : sequence of torch.Tensor
            Noisy images, clean images and masks of this process's samples.
        stop : bool
            Whether this process was asked to stop (shared with the others).

        Returns
        -------
        (dict, bool)
            The metrics of the global batch (:func:`loss_and_metrics`) and whether any
            process was asked to stop.

        Raises
        ------
        Diverged
            The loss or a gradient is not finite (the parameters are unchanged).
        """
        u0, g_u, g_m = (t.to(self.device, non_blocking=True) for t in batch)
        m0 = torch.zeros_like(g_m)
        model = self.model if self.model is not None else self.net
        with autocast(self.precision, self.device):
            u_t, m_t = model(u0, m0)
        u_t, m_t = u_t.float(), m_t.float()
        loss, metrics = loss_and_metrics(u_t, m_t, g_u, g_m, u0, self.loss_weights, self.mask_loss)
        ctx = self.ctx
        metrics, stop_all = ddp.reduce_step(
            metrics, self.n_local, self.batch_size, stop, ctx, self.device
        )
        if not math.isfinite(metrics["loss"]):
            raise Diverged(f"the loss is {metrics['loss']}")
        self.optimizer.zero_grad(set_to_none=True)
        # DDP averages the processes' gradients; weighting each local mean by its share
        # of the global batch makes that average the gradient of the global batch mean
        scale = self.n_local * ctx.world_size / self.batch_size
        (loss * scale if ctx.enabled else loss).backward()
        for name, p in self.net.named_parameters():
            if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
                raise Diverged(f"the gradient of {name} is not finite")
        self.optimizer.step()
        self.net.project_()  # type: ignore[operator]  # CoupledVN or UNet
        return metrics, stop_all
