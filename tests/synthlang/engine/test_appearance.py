"""Appearance passes (stain, brightness, contrast, gamma, saturation, focus), JPEG compression."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2hed, rgb_from_hed

from synthlang import ir
from synthlang.engine.appearance import (
    brightness,
    contrast,
    focus,
    gamma,
    saturation,
    stain_concentrations,
    stain_images,
    stain_jitter,
    tilt_vectors,
)
from synthlang.engine.base import APPEARANCE, DEGRADATIONS
from synthlang.engine.degrade import blur, degrade, degrade_pair, jpeg_compression


def RNG() -> np.random.Generator:  # noqa: N802
    return np.random.default_rng(0)


def const(v: float) -> ir.Constant:
    return ir.Constant(value=v)


def he_image(seed: int = 0, shape: tuple[int, int] = (32, 32)) -> np.ndarray:
    """A pinkish-purple H&E-like image with some variation."""
    rng = np.random.default_rng(seed)
    base = np.array([0.75, 0.45, 0.7], np.float32)
    img = base + rng.normal(0, 0.05, shape + (3,)).astype(np.float32)
    return np.clip(img, 0.05, 0.95).astype(np.float32)


def stain(stains: str = "he", alpha=1.0, beta=0.0, angle=0.0) -> ir.StainJitter:
    n = len(stains)
    a = alpha if isinstance(alpha, tuple) else (alpha,) * n
    b = beta if isinstance(beta, tuple) else (beta,) * n
    return ir.StainJitter(
        stains=stains,
        alpha=tuple(const(x) for x in a),
        beta=tuple(const(x) for x in b),
        angle=const(angle),
    )


def test_registered() -> None:
    assert APPEARANCE["stain"] is stain_jitter
    assert APPEARANCE["brightness"] is brightness
    assert APPEARANCE["contrast"] is contrast
    assert APPEARANCE["gamma"] is gamma
    assert APPEARANCE["saturation"] is saturation
    assert APPEARANCE["focus"] is focus
    assert DEGRADATIONS["jpeg"] is jpeg_compression
    assert set(APPEARANCE) == set(ir.APPEARANCE_PASSES)


def test_concentrations_match_rgb2hed_and_invert_exactly() -> None:
    img = he_image()
    c = stain_concentrations(img)
    ref = rgb2hed(img)
    pos = ref > 0
    np.testing.assert_allclose(c[pos], ref[pos], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stain_images(c), img, atol=1e-5)


def test_identity_stain_pass_keeps_the_image() -> None:
    img = he_image()
    for stains in ("he", "hed"):
        (out,) = stain_jitter([img], stain(stains), np.random.default_rng(0))
        np.testing.assert_allclose(out, img, atol=1e-5)


@pytest.mark.parametrize("stains", ["he", "hed"])
def test_concentration_scale_moves_the_stain_mean(stains: str) -> None:
    img = he_image()
    h0, e0 = rgb2hed(img)[..., 0].mean(), rgb2hed(img)[..., 1].mean()
    (more_h,) = stain_jitter([img], stain(stains, alpha=(1.3, 1.0, 1.0)[: len(stains)]), RNG())
    (less_e,) = stain_jitter([img], stain(stains, alpha=(1.0, 0.7, 1.0)[: len(stains)]), RNG())
    h1 = rgb2hed(more_h)[..., 0].mean()
    e1 = rgb2hed(less_e)[..., 1].mean()
    assert h1 == pytest.approx(1.3 * h0, rel=0.02)
    assert e1 == pytest.approx(0.7 * e0, rel=0.02)
    # the other stain is untouched
    np.testing.assert_allclose(rgb2hed(more_h)[..., 1], rgb2hed(img)[..., 1], atol=1e-5)
    # more haematoxylin darkens and blues the image
    assert more_h.mean() < img.mean()


def test_concentration_shift_adds_stain_everywhere() -> None:
    white = np.ones((8, 8, 3), np.float32)
    (out,) = stain_jitter([white], stain(beta=(0.05, 0.0)), np.random.default_rng(0))
    np.testing.assert_allclose(rgb2hed(out)[..., 0], 0.05, atol=1e-4)
    assert (out < 1).all()


def test_tilt_keeps_length_turns_by_the_angle_and_is_drawn_per_sample() -> None:
    b = tilt_vectors(rgb_from_hed, [5.0, -3.0], [1.0, 2.0])
    for i, deg in ((0, 5.0), (1, 3.0)):
        v, w = rgb_from_hed[i], b[i]
        assert np.linalg.norm(w) == pytest.approx(np.linalg.norm(v))
        cos = v @ w / (np.linalg.norm(v) * np.linalg.norm(w))
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))) == pytest.approx(deg, abs=1e-6)
    np.testing.assert_array_equal(b[2], rgb_from_hed[2])
    img = he_image()
    spec = stain(angle=4.0)
    (a,) = stain_jitter([img], spec, np.random.default_rng(1))
    (a2,) = stain_jitter([img], spec, np.random.default_rng(1))
    (c,) = stain_jitter([img], spec, np.random.default_rng(2))
    assert a.tobytes() == a2.tobytes()
    assert not np.allclose(a, c)
    assert not np.allclose(a, img, atol=1e-3)


def test_same_parameters_for_every_image() -> None:
    clean = he_image(0)
    noisy = clean + np.random.default_rng(5).normal(0, 0.02, clean.shape).astype(np.float32)
    spec = ir.StainJitter(
        alpha=(ir.Uniform(low=0.7, high=1.3),) * 2,
        beta=(ir.Uniform(low=-0.05, high=0.05),) * 2,
        angle=ir.Uniform(low=-5, high=5),
    )
    out_clean, out_noisy = stain_jitter([clean, noisy], spec, np.random.default_rng(3))
    (alone,) = stain_jitter([clean], spec, np.random.default_rng(3))
    np.testing.assert_array_equal(out_clean, alone)
    # the noisy image got the same map: its difference to the clean one stays small
    assert np.abs(out_noisy - out_clean).mean() < 2 * np.abs(noisy - clean).mean()


def test_brightness_contrast_gamma_saturation() -> None:
    rng = np.random.default_rng(0)
    img = he_image()
    (b,) = brightness([img], ir.Brightness(factor=const(1.1)), rng)
    np.testing.assert_allclose(b, img * 1.1, rtol=1e-6)
    (c,) = contrast([img], ir.Contrast(factor=const(2.0)), rng)
    assert c.std() == pytest.approx(2 * img.std(), rel=1e-4)
    (g,) = gamma([img], ir.Gamma(exponent=const(2.0)), rng)
    np.testing.assert_allclose(g, img**2, rtol=1e-5)
    (s0,) = saturation([img], ir.Saturation(factor=const(0.0)), rng)
    assert np.ptp(s0, axis=-1).max() < 1e-6
    (s2,) = saturation([img], ir.Saturation(factor=const(2.0)), rng)
    assert np.ptp(s2, axis=-1).mean() > 1.9 * np.ptp(img, axis=-1).mean()
    for spec in (
        ir.Brightness(factor=const(1)),
        ir.Contrast(factor=const(1)),
        ir.Gamma(exponent=const(1)),
        ir.Saturation(factor=const(1)),
    ):
        (same,) = APPEARANCE[spec.kind]([img], spec, rng)
        np.testing.assert_allclose(same, img, atol=1e-6)


def test_contrast_pivot_comes_from_the_first_image() -> None:
    clean = he_image(0)
    noisy = np.clip(clean + 0.1, 0, 1)
    spec = ir.Contrast(factor=const(0.5))
    out_clean, out_noisy = contrast([clean, noisy], spec, np.random.default_rng(0))
    # one affine map for both: differences are halved
    np.testing.assert_allclose(out_noisy - out_clean, 0.5 * (noisy - clean), atol=1e-6)


def test_jpeg_quality_orders_the_error_and_is_deterministic() -> None:
    img = he_image(shape=(64, 64))
    errs = []
    for q in (20, 60, 95):
        spec = ir.JPEGCompression(quality=const(q))
        out = jpeg_compression(img, spec, np.random.default_rng(0))
        assert out.shape == img.shape and out.dtype == np.float32
        again = jpeg_compression(img, spec, np.random.default_rng(0))
        assert out.tobytes() == again.tobytes()
        errs.append(float(np.abs(out - img).mean()))
    assert errs[0] > errs[1] > errs[2]


def test_degrade_pair_applies_appearance_to_both_and_noise_to_noisy_only() -> None:
    clean = he_image(0)
    noisy = clean.copy()
    passes = (
        ir.Brightness(factor=const(0.8)),
        ir.GaussianNoise(std=const(0.05)),
        ir.JPEGCompression(quality=const(70)),
        ir.ScaleJitter(factor=const(1.2)),  # skipped: the renderer resamples
    )
    c0, n0 = clean.copy(), noisy.copy()
    out_clean, out_noisy = degrade_pair(clean, noisy, passes, np.random.default_rng(0))
    np.testing.assert_array_equal(clean, c0)  # inputs untouched
    np.testing.assert_array_equal(noisy, n0)
    assert out_clean is not None
    np.testing.assert_allclose(out_clean, np.clip(c0 * 0.8, 0, 1), rtol=1e-6)
    assert np.abs(out_noisy - out_clean).std() > 0.03
    # the single-image form gives the same noisy image
    alone = degrade(noisy, passes, np.random.default_rng(0))
    np.testing.assert_array_equal(alone, out_noisy)


def test_degrade_pair_without_appearance_returns_the_clean_image_itself() -> None:
    clean = he_image(0)
    out_clean, _ = degrade_pair(
        clean, clean, (ir.GaussianNoise(std=const(0.01)),), np.random.default_rng(0)
    )
    assert out_clean is clean


def _roughness(image: np.ndarray) -> float:
    return float(np.diff(image, axis=0).std())


def test_focus_blurs_clean_and_noisy_alike_unlike_blur() -> None:
    clean = he_image(3)
    passes = (ir.Focus(sigma=ir.Uniform(low=0.5, high=1.5)), ir.GaussianNoise(std=const(0.0)))
    out_clean, out_noisy = degrade_pair(clean, clean.copy(), passes, np.random.default_rng(4))
    assert out_clean is not None
    np.testing.assert_array_equal(out_clean, out_noisy)  # one drawn sigma for both
    # the drawn sigma is the one of the sample's generator, and the blur is blur()'s
    sigma = float(np.random.default_rng(4).uniform(0.5, 1.5))
    np.testing.assert_allclose(out_clean, np.clip(blur(clean, sigma), 0, 1), atol=1e-6)
    assert _roughness(out_clean) < 0.6 * _roughness(clean)  # he_image's pixel noise smoothed
    # `blur gaussian` leaves the clean image sharp
    sharp, blurred = degrade_pair(
        clean, clean.copy(), (ir.GaussianBlur(sigma=const(1.0)),), np.random.default_rng(4)
    )
    assert sharp is clean and _roughness(blurred) < 0.6 * _roughness(clean)
    # sigma 0 changes nothing
    (same,) = focus([clean], ir.Focus(sigma=const(0.0)), RNG())
    np.testing.assert_array_equal(same, clean)
