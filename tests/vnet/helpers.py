"""Helpers of the vnet tests: a tiny untrained checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vnet import CoupledVN, VNConfig
from vnet.train import save_checkpoint


def write_tiny_vn(
    path: Path, source: dict[str, Any] | None = None, in_channels: int = 3, seed: int = 0
) -> Path:
    """Save an untrained one-step VN with tiny kernels, its checkpoint source ``source``."""
    cfg = VNConfig(
        steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3, in_channels=in_channels, seed=seed
    )
    save_checkpoint(
        path,
        {
            "format": "vnet-checkpoint",
            "version": 1,
            "model_kind": "vn",
            "model_config": cfg.model_dump(mode="json"),
            "model_state": CoupledVN(cfg).state_dict(),
            "source": source or {},
        },
    )
    return path
