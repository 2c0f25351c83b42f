"""Degradations: blur, Gaussian and Poisson noise, applied to the noisy image only."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import DEGRADATIONS
from synthlang.engine.degrade import (
    degrade,
    gaussian_blur,
    gaussian_kernel,
    gaussian_noise,
    poisson_noise,
)
from synthlang.engine.gauss import standard_normal_f32
from synthlang.engine.render import render
from synthlang.engine.scratch import scratch, tune_allocator


def const(v: float) -> ir.Constant:
    return ir.Constant(value=v)


def test_registered() -> None:
    assert DEGRADATIONS["blur"] is gaussian_blur
    assert DEGRADATIONS["gaussian_noise"] is gaussian_noise
    assert DEGRADATIONS["poisson_noise"] is poisson_noise


def test_blur_matches_scipy_gaussian_filter() -> None:
    img = np.random.default_rng(0).random((30, 40, 3)).astype(np.float32)
    out = gaussian_blur(img, ir.GaussianBlur(sigma=const(1.3)), np.random.default_rng(0))
    ref = ndimage.gaussian_filter(img, (1.3, 1.3, 0), mode="reflect")
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert out.dtype == np.float32
    assert gaussian_kernel(2.0).sum() == pytest.approx(1.0, abs=1e-6)


def test_blur_keeps_constants_and_zero_sigma_is_identity() -> None:
    img = np.full((10, 10, 3), 0.3, np.float32)
    out = gaussian_blur(img, ir.GaussianBlur(sigma=const(2)), np.random.default_rng(0))
    np.testing.assert_allclose(out, 0.3, atol=1e-6)
    assert gaussian_blur(img, ir.GaussianBlur(sigma=const(0)), np.random.default_rng(0)) is img


def test_gaussian_noise_statistics() -> None:
    img = np.full((200, 200, 3), 0.5, np.float32)
    out = gaussian_noise(img, ir.GaussianNoise(std=const(0.05)), np.random.default_rng(1))
    assert out.dtype == np.float32
    assert abs(float(out.std()) - 0.05) < 2e-3 and abs(float(out.mean()) - 0.5) < 2e-3


def test_poisson_noise_statistics_and_bad_peak() -> None:
    img = np.full((200, 200, 3), 0.4, np.float32)
    out = poisson_noise(img, ir.PoissonNoise(peak=const(100)), np.random.default_rng(1))
    assert abs(float(out.mean()) - 0.4) < 3e-3
    assert abs(float(out.var()) - 0.4 / 100) < 3e-4
    with pytest.raises(RenderError, match="peak"):
        poisson_noise(img, ir.PoissonNoise(peak=const(0)), np.random.default_rng(1))


def test_degrade_clips_and_does_not_modify_input() -> None:
    img = np.full((20, 20, 3), 0.98, np.float32)
    before = img.copy()
    out = degrade(
        img,
        (ir.GaussianBlur(sigma=const(1)), ir.GaussianNoise(std=const(0.2))),
        np.random.default_rng(0),
    )
    assert out.min() >= 0 and out.max() <= 1 and out.dtype == np.float32
    np.testing.assert_array_equal(img, before)


def test_unknown_degradation_is_a_render_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(DEGRADATIONS, "blur")
    with pytest.raises(RenderError, match="blur"):
        degrade(np.zeros((2, 2, 3), np.float32), (ir.GaussianBlur(sigma=const(1)),), None)


def test_degradations_change_only_the_noisy_image() -> None:
    layers = (
        ir.Layer(
            index=0,
            name="bg",
            shape=ir.FillShape(),
            color=ir.MVNColor(mean=(0.6, 0.5, 0.7), cov=((1e-3, 0, 0), (0, 1e-3, 0), (0, 0, 1e-3))),
        ),
        ir.Layer(
            index=1,
            name="cell",
            shape=ir.EllipseShape(semi_axes=(ir.Uniform(low=3, high=6),) * 2),
            placement=ir.Placement(mode="count", count=const(6)),
            color=ir.MVNColor(mean=(0.3, 0.1, 0.5)),
        ),
    )
    plain = ir.Scene(name="s", size=(40, 50), layers=layers, masks=(ir.MaskRule(category="cell"),))
    degraded = plain.model_copy(
        update={"degrade": (ir.GaussianBlur(sigma=const(1.0)), ir.GaussianNoise(std=const(0.05)))}
    )
    a = render(plain, seed=5)
    b = render(degraded, seed=5)
    np.testing.assert_array_equal(a.clean, b.clean)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.instance_map, b.instance_map)
    np.testing.assert_array_equal(a.layer_map, b.layer_map)
    assert not np.array_equal(a.noisy, b.noisy)
    assert b.noisy.min() >= 0 and b.noisy.max() <= 1


def test_blur_with_kernel_wider_than_the_image_falls_back_to_scipy() -> None:
    img = np.random.default_rng(2).random((6, 7, 3)).astype(np.float32)
    out = gaussian_blur(img, ir.GaussianBlur(sigma=const(3.0)), np.random.default_rng(0))
    ref = ndimage.gaussian_filter(img, (3.0, 3.0, 0), mode="reflect")
    np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 101, 99)])
def test_standard_normal_f32_shapes_and_statistics(shape: tuple[int, ...]) -> None:
    z = standard_normal_f32(np.random.default_rng(0), shape)
    assert z.shape == shape and z.dtype == np.float32 and np.all(np.isfinite(z))
    if z.size > 1000:
        x = z.astype(np.float64).ravel()
        assert abs(x.mean()) < 0.02 and abs(x.std() - 1) < 0.02
        assert abs(np.mean(x**4) - 3) < 0.1  # Gaussian kurtosis
        # the two halves (cos and sin of the same pair) are uncorrelated
        half = (x.size + 1) // 2
        n = x.size - half
        assert abs(np.corrcoef(x[:n], x[half : half + n])[0, 1]) < 0.02


def test_standard_normal_f32_out_and_determinism() -> None:
    out = np.empty((4, 5), np.float32)
    a = standard_normal_f32(np.random.default_rng(9), (4, 5), out=out)
    assert a is out
    np.testing.assert_array_equal(a, standard_normal_f32(np.random.default_rng(9), (4, 5)))
    with pytest.raises(ValueError):
        standard_normal_f32(np.random.default_rng(9), (4, 5), out=np.empty((5, 4), np.float32))


def test_scratch_buffers_and_allocator_tuning() -> None:
    a = scratch("test.buf", (3, 4), np.float32)
    assert a is scratch("test.buf", (3, 4), np.float32)
    assert a is not scratch("test.buf", (3, 4), np.float64)
    assert isinstance(tune_allocator(), bool)
