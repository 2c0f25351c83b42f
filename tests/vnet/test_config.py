"""Loss weights of the training configuration and of the presets (the denoising fix)."""

from __future__ import annotations

import json

import pytest
import torch

from vnet.config import (
    DEFAULT_LOSS_WEIGHTS,
    PAPER_LOSS_WEIGHTS,
    TrainConfig,
    preset,
)
from vnet.train import loss_and_metrics


def test_paper_weights_are_eq3_and_the_default_field() -> None:
    assert PAPER_LOSS_WEIGHTS == (1 / 6, 1 / 2)
    assert TrainConfig().loss_weights == PAPER_LOSS_WEIGHTS
    for scene in (None, "scenario1", "scenario2", "scenario3"):
        assert preset("paper", scene=scene).loss_weights == PAPER_LOSS_WEIGHTS
    assert preset("paper", "unet").loss_weights == PAPER_LOSS_WEIGHTS
    assert preset("default", "unet").loss_weights == PAPER_LOSS_WEIGHTS


def test_default_vn_preset_weights_the_image_more() -> None:
    for scene in (None, "scenario1", "scenario2", "scenario3"):
        cfg = preset("default", scene=scene)
        assert cfg.loss_weights == DEFAULT_LOSS_WEIGHTS
    w_u, w_m = DEFAULT_LOSS_WEIGHTS
    assert w_u / w_m == pytest.approx(30 * (1 / 6) / (1 / 2))


def test_round_trip_and_old_dicts() -> None:
    cfg = preset("default")
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["loss_weights"] == list(DEFAULT_LOSS_WEIGHTS)
    assert TrainConfig.from_dict(d) == cfg
    # the paper's weights are not stored: a dict written before the field existed is equal
    paper = preset("paper")
    assert "loss_weights" not in paper.to_dict()
    assert TrainConfig.from_dict(paper.to_dict()) == paper
    old = cfg.to_dict()
    del old["loss_weights"]
    assert TrainConfig.from_dict(old).loss_weights == PAPER_LOSS_WEIGHTS
    assert cfg.replace(loss_weights=[1, 0]).loss_weights == (1.0, 0.0)


@pytest.mark.parametrize(
    "bad", [(1.0,), (1.0, 2.0, 3.0), (0.0, 0.0), (-1.0, 1.0), (float("nan"), 1.0), ("a", 1), 5]
)
def test_invalid_weights(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        TrainConfig(loss_weights=bad)  # type: ignore[arg-type]


def test_loss_uses_the_weights() -> None:
    g = torch.Generator().manual_seed(0)
    u, gu, u0 = (torch.rand(2, 3, 8, 8, generator=g) for _ in range(3))
    m, gm = (torch.rand(2, 1, 8, 8, generator=g) for _ in range(2))
    per_u = (u - gu).pow(2).flatten(1).sum(1)
    per_m = (m - gm).pow(2).flatten(1).sum(1)
    paper, _ = loss_and_metrics(u, m, gu, gm, u0)
    torch.testing.assert_close(paper, (per_u / 6 + per_m / 2).mean())
    loss, metrics = loss_and_metrics(u, m, gu, gm, u0, DEFAULT_LOSS_WEIGHTS)
    torch.testing.assert_close(loss, (5 * per_u + per_m / 2).mean())
    assert metrics["loss"] == pytest.approx(float(loss))
