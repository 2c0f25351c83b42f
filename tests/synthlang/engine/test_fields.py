"""Smooth Gaussian random fields (synthlang.engine.fields)."""

from __future__ import annotations

import numpy as np
import pytest

from synthlang import ir
from synthlang.engine.fields import gaussian_field, upsample_linear, white_noise_field


def _corr(z: np.ndarray, lag: int) -> float:
    """Empirical autocorrelation at ``lag`` along both axes."""
    z = z - z.mean()
    v = float((z * z).mean())
    a = float((z[:, :-lag] * z[:, lag:]).mean())
    b = float((z[:-lag, :] * z[lag:, :]).mean())
    return 0.5 * (a + b) / v


@pytest.mark.parametrize("smoothness", [1.0, 3.0, 10.0, 25.0])
def test_mean_and_std(smoothness: float) -> None:
    spec = ir.SpeedField(mean=2.0, std=0.3, smoothness=smoothness, minimum=1e-3)
    rng = np.random.default_rng(0)
    fields = [gaussian_field(spec, (200, 160), rng) for _ in range(5)]
    for f in fields:
        assert f.shape == (200, 160)
        assert f.dtype == np.float32
        assert abs(float(f.mean()) - 2.0) < 0.01
        assert abs(float(f.std()) - 0.3) < 0.3 * 0.05


@pytest.mark.parametrize("smoothness", [2.0, 6.0, 12.0])
def test_correlation_length(smoothness: float) -> None:
    # autocorrelation exp(-d^2 / (2 l^2)): exp(-1/2) at d = l, ~0.01 at d = 3 l
    rng = np.random.default_rng(1)
    lag = int(round(smoothness))
    at_l = [_corr(white_noise_field((256, 256), smoothness, rng), lag) for _ in range(8)]
    at_3l = [_corr(white_noise_field((256, 256), smoothness, rng), 3 * lag) for _ in range(8)]
    assert abs(np.mean(at_l) - np.exp(-0.5)) < 0.08
    assert abs(np.mean(at_3l)) < 0.1


def test_smoother_fields_vary_less_between_neighbours() -> None:
    rng = np.random.default_rng(2)
    grads = []
    for smoothness in (2.0, 8.0, 32.0):
        z = white_noise_field((128, 128), smoothness, rng)
        grads.append(float(np.abs(np.diff(z, axis=1)).mean()))
    assert grads[0] > grads[1] > grads[2]


def test_pixel_size_rescales_the_correlation_length() -> None:
    spec = ir.SpeedField(mean=1.0, std=0.5, smoothness=16.0, minimum=1e-3)
    rng = np.random.default_rng(3)
    coarse = [_corr(gaussian_field(spec, (200, 200), rng, pixel_size=2.0), 8) for _ in range(6)]
    assert abs(np.mean(coarse) - np.exp(-0.5)) < 0.08


def test_minimum_clips() -> None:
    spec = ir.SpeedField(mean=0.5, std=1.0, smoothness=4.0, minimum=0.2)
    f = gaussian_field(spec, (64, 64), np.random.default_rng(4))
    assert float(f.min()) == pytest.approx(0.2)
    assert (f >= np.float32(0.2)).all()


def test_zero_std_is_constant() -> None:
    spec = ir.SpeedField(mean=1.5, std=0.0)
    f = gaussian_field(spec, (10, 12), np.random.default_rng(0))
    assert f.dtype == np.float32
    assert (f == np.float32(1.5)).all()


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (17, 1), (2, 3), (5, 300)])
def test_tiny_and_thin_shapes(shape: tuple[int, int]) -> None:
    spec = ir.SpeedField(mean=1.0, std=0.3, smoothness=10.0)
    f = gaussian_field(spec, shape, np.random.default_rng(0))
    assert f.shape == shape
    assert np.isfinite(f).all()
    assert (f >= spec.minimum).all()


def test_deterministic_for_a_seed() -> None:
    spec = ir.SpeedField(mean=1.0, std=0.3, smoothness=7.0)
    a = gaussian_field(spec, (50, 70), np.random.default_rng(11))
    b = gaussian_field(spec, (50, 70), np.random.default_rng(11))
    c = gaussian_field(spec, (50, 70), np.random.default_rng(12))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_upsample_linear_aligns_pixel_centres() -> None:
    coarse = np.array([[0.0, 2.0], [4.0, 6.0]], dtype=np.float32)
    fine = upsample_linear(coarse, (4, 4), 2.0)
    assert fine.shape == (4, 4)
    assert fine[0].tolist() == [0.0, 0.5, 1.5, 2.0]
    assert fine[:, 0].tolist() == [0.0, 1.0, 3.0, 4.0]
    # a linear function is reproduced exactly away from the clamped border
    big = np.add.outer(np.arange(10.0), 2 * np.arange(12.0))
    up = upsample_linear(big, (30, 36), 3.0)
    r = (np.arange(30) + 0.5) / 3 - 0.5
    c = (np.arange(36) + 0.5) / 3 - 0.5
    inner = np.ix_((r >= 0) & (r <= 9), (c >= 0) & (c <= 11))
    assert np.allclose(up[inner], np.add.outer(r, 2 * c)[inner])
