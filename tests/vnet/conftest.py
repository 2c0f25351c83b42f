"""Fixtures of the vnet tests: devices, small configurations, a toy dataset folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vnet import VNConfig
from vnet.data import write_toy_dataset

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Every available device: cpu, and cuda when present."""
    return torch.device(request.param)


@pytest.fixture
def small_config() -> VNConfig:
    """A small network (2 steps, few and small kernels) for fast tests."""
    return VNConfig(steps=2, n_fu=5, k_u=5, n_fm=2, k_m=3, n_f=6, k=3, seed=3)


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-sample, 48 x 48 dataset folder in the docs/dataset.md format (read-only)."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "data", 12, size=48, seed=5)
