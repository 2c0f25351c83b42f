"""The mask term of the loss (vnet.step): squared error of Eq. (3) or binary cross-entropy."""

from __future__ import annotations

import json
import math

import pytest
import torch

from vnet.config import TrainConfig, UNetConfig
from vnet.step import BCE_EPS, TrainStep, loss_and_metrics
from vnet.unet import UNet


def _batch(seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    u, gu, u0 = (torch.rand(2, 3, 6, 6, generator=g) for _ in range(3))
    m = torch.rand(2, 1, 6, 6, generator=g)
    gm = (torch.rand(2, 1, 6, 6, generator=g) > 0.7).float()
    return u, m, gu, gm, u0


def test_bce_is_the_summed_cross_entropy() -> None:
    u, m, gu, gm, u0 = _batch()
    per_u = (u - gu).pow(2).flatten(1).sum(1)
    bce = -(gm * m.log() + (1 - gm) * (1 - m).log()).flatten(1).sum(1)
    loss, metrics = loss_and_metrics(u, m, gu, gm, u0, (2.0, 0.5), "bce")
    torch.testing.assert_close(loss, (2 * per_u + 0.5 * bce).mean())
    assert metrics["loss"] == pytest.approx(float(loss))
    l2, _ = loss_and_metrics(u, m, gu, gm, u0, (2.0, 0.5), "l2")
    torch.testing.assert_close(l2, (2 * per_u + 0.5 * (m - gm).pow(2).flatten(1).sum(1)).mean())


def test_bce_is_finite_at_zero_and_one() -> None:
    u, _, gu, _, u0 = _batch()
    m = torch.tensor([0.0, 1.0, 0.0, 1.0]).view(1, 1, 2, 2)
    gm = torch.tensor([1.0, 0.0, 0.0, 1.0]).view(1, 1, 2, 2)
    loss, _ = loss_and_metrics(u[:1, :, :2, :2], m, gu[:1, :, :2, :2], gm, u0[:1, :, :2, :2],
                               (0.0, 1.0), "bce")  # fmt: skip
    # two wrong pixels at the clamp, two right ones
    expected = -2 * math.log(BCE_EPS) - 2 * math.log1p(-BCE_EPS)
    assert float(loss) == pytest.approx(expected, rel=1e-3)  # 1 - BCE_EPS in float32


def test_bce_gradient_does_not_vanish_where_the_sigmoid_saturates() -> None:
    z = torch.tensor([-12.0, -6.0, 0.0, 6.0], requires_grad=True)
    gm = torch.ones(1, 1, 1, 4)
    zeros = torch.zeros(1, 3, 1, 4)
    grads = {}
    for kind in ("l2", "bce"):
        z.grad = None
        loss, _ = loss_and_metrics(zeros, torch.sigmoid(z).view(1, 1, 1, 4), zeros, gm, zeros,
                                   (0.0, 1.0), kind)  # fmt: skip
        loss.backward()
        assert z.grad is not None
        grads[kind] = z.grad.clone()
    # cross-entropy through a sigmoid: d/dz = sigmoid(z) - g exactly
    torch.testing.assert_close(grads["bce"], torch.sigmoid(z.detach()) - 1)
    assert abs(float(grads["l2"][0])) < 1e-4 < abs(float(grads["bce"][0]))


def test_unknown_mask_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="'l2' or 'bce'"):
        loss_and_metrics(*_batch(), mask_loss="l1")


def test_config_stores_bce_only() -> None:
    assert TrainConfig().mask_loss == "l2"
    assert "mask_loss" not in TrainConfig().model_dump()
    bce = TrainConfig(mask_loss="bce")
    d = json.loads(json.dumps(bce.model_dump(mode="json")))
    assert d["mask_loss"] == "bce"
    assert TrainConfig.model_validate(d) == bce
    with pytest.raises(ValueError, match="mask_loss"):
        TrainConfig(mask_loss="dice")  # type: ignore[arg-type]


def test_train_step_learns_a_sparse_mask_with_bce_only() -> None:
    """Four 2 x 2 positives in 256 pixels: the squared error empties the mask, BCE learns it."""
    torch.manual_seed(0)
    u0 = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 0.3
    gm = torch.zeros(4, 1, 16, 16)
    for r in (2, 10):
        for c in (3, 11):
            gm[:, :, r : r + 2, c : c + 2] = 1.0
    u0[:, 2:3][gm.bool()] = 1.0  # the positives are the bright blue pixels
    out = {}
    for kind in ("l2", "bce"):
        net = UNet(UNetConfig(channels=8))
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        step = TrainStep(net, opt, torch.device("cpu"), loss_weights=(0.0, 1.0), mask_loss=kind)
        for _ in range(120):
            step((u0, u0, gm))
        with torch.no_grad():
            out[kind] = net(u0)[1]
    on = gm.bool()
    assert float(out["l2"][on].max()) < 0.1  # collapsed to an empty mask
    assert float(out["bce"][on].min()) > 0.5 > float(out["bce"][~on].max())
