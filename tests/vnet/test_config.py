"""Training configuration: loss weights and presets (the denoising fix), validation messages."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from synthlang.common.errors import SynthlangError
from vnet.config import (
    DEFAULT_LOSS_WEIGHTS,
    PAPER_LOSS_WEIGHTS,
    TrainConfig,
    preset,
)
from vnet.errors import ConfigError
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
    d = json.loads(json.dumps(cfg.model_dump(mode="json")))
    assert d["loss_weights"] == list(DEFAULT_LOSS_WEIGHTS)
    assert TrainConfig.model_validate(d) == cfg
    # the paper's weights are not stored: a dict written before the field existed is equal
    paper = preset("paper")
    assert "loss_weights" not in paper.model_dump()
    assert TrainConfig.model_validate(paper.model_dump()) == paper
    old = cfg.model_dump()
    del old["loss_weights"]
    assert TrainConfig.model_validate(old).loss_weights == PAPER_LOSS_WEIGHTS
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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 5000}, ".batch_size must be a whole number in [1, 4096], got 5000"),
        ({"vn.k_u": 4}, ".vn.k_u must be a positive odd kernel size, got 4"),
        ({"vn.steps": True}, ".vn.steps must be a whole number in [1, 1000], got True"),
        ({"lr": float("inf")}, ".lr must be a finite number in (0, 1000], got inf"),
        ({"betas": [0.9, 1.0]}, ".betas must be two finite numbers in [0, 1), got [0.9, 1.0]"),
        ({"loss_weights": (0, 0)}, ".loss_weights must not both be 0, got (0, 0)"),
        ({"crop": 0}, ".crop must be a whole number in [1, 65536] or None, got 0"),
        ({"device": "tpu"}, ".device must be one of ['auto', 'cpu', 'cuda'], got 'tpu'"),
        ({"vn.zero_mean": 1}, ".vn.zero_mean must be true or false, got 1"),
        ({"vn": [1]}, ".vn is a list, not a dict"),
        ({"unet.bogus": 1}, ".unet has an unknown field 'bogus'"),
        ({"vn.k.x": 1}, " has an unknown field 'vn.k.x'"),
    ],
)
def test_replace_errors_are_one_line(changes: dict, message: str) -> None:
    """What ``synthlang train`` prints for a bad value: one line naming field, range, value."""
    with pytest.raises(ConfigError) as info:
        preset("default").replace(**changes)
    assert info.value.message == "TrainConfig" + message
    assert isinstance(info.value, SynthlangError) and isinstance(info.value, ValueError)


def test_stored_dicts_validate_strictly() -> None:
    """Checkpoint dicts go through ``model_validate``: same rules, no coercion."""
    d = preset("default").model_dump(mode="json")
    assert TrainConfig.model_validate(d) == preset("default")
    for key, bad in (("seed", "3"), ("flips", 1), ("iterations", 2.0), ("n_samples", 10**9)):
        with pytest.raises(ValidationError):
            TrainConfig.model_validate({**d, key: bad})
