"""Helpers of the vnet tests: checkpoints of networks built in a test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from vnet import CoupledVN, VNConfig
from vnet.train import save_checkpoint
from vnet.unet import UNet


def write_model_checkpoint(path: Path, model: nn.Module, **extra: Any) -> Path:
    """Save ``model`` (a :class:`CoupledVN` or :class:`UNet`) as a minimal checkpoint.

    ``extra`` adds top-level entries (``source``, ``classes``, ...).
    """
    assert isinstance(model, (CoupledVN, UNet)), type(model)
    save_checkpoint(
        path,
        {
            "format": "vnet-checkpoint",
            "version": 1,
            "model_kind": "vn" if isinstance(model, CoupledVN) else "unet",
            "model_config": model.config.model_dump(mode="json"),
            "model_state": model.state_dict(),
            **extra,
        },
    )
    return path


def write_tiny_vn(
    path: Path, source: dict[str, Any] | None = None, in_channels: int = 3, seed: int = 0
) -> Path:
    """Save an untrained one-step VN with tiny kernels, its checkpoint source ``source``."""
    cfg = VNConfig(
        steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3, in_channels=in_channels, seed=seed
    )
    return write_model_checkpoint(path, CoupledVN(cfg), source=source or {})
