"""Colour statistics: known per-object colours and noise covariance are recovered."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import ellipse

from synthlang.stats import (
    ObjectColorStats,
    ReinhardStats,
    class_color_model,
    erode_labels,
    hematoxylin,
    mean_reinhard_stats,
    object_color_stats,
    object_shapes,
    region_color_model,
    reinhard_normalize,
    reinhard_stats,
)

MEAN = np.array([0.5, 0.4, 0.6])
BETWEEN = np.array([[4e-4, 1e-4, 2e-4], [1e-4, 3e-4, 1e-4], [2e-4, 1e-4, 5e-4]])
COV = np.array([[1.0e-3, 4e-4, 5e-4], [4e-4, 8e-4, 3e-4], [5e-4, 3e-4, 1.2e-3]])


def _objects(seed: int = 0, n_side: int = 6, size: int = 12, gap: int = 4):
    """Square objects with known mean colours and known pixel noise covariance."""
    rng = np.random.default_rng(seed)
    side = n_side * (size + gap) + gap
    img = np.full((side, side, 3), 0.9, np.float32)
    lab = np.zeros((side, side), np.int32)
    true_means = rng.multivariate_normal(MEAN, BETWEEN, n_side * n_side)
    k = 0
    for i in range(n_side):
        for j in range(n_side):
            r, c = gap + i * (size + gap), gap + j * (size + gap)
            noise = rng.multivariate_normal(np.zeros(3), COV, (size, size))
            img[r : r + size, c : c + size] = true_means[k] + noise
            lab[r : r + size, c : c + size] = k + 1
            k += 1
    return img, lab, true_means


def test_per_object_means_and_covariances() -> None:
    img, lab, true_means = _objects()
    stats = object_color_stats(img, lab)
    assert stats.ids.tolist() == list(range(1, 37))
    assert (stats.counts == 144).all()
    # the mean of 144 pixels with std <= 0.035 is within 4 standard errors (0.012)
    assert np.abs(stats.means - true_means).max() < 0.012
    # each object's covariance from 144 pixels: about 12% standard error on the diagonal
    assert np.allclose(stats.covs.mean(axis=0), COV, rtol=0.1, atol=1e-4)


def test_class_model_recovers_mean_between_and_within() -> None:
    img, lab, true_means = _objects(seed=1)
    model = class_color_model(object_color_stats(img, lab))
    assert model.n_objects == 36 and model.n_pixels == 36 * 144
    # mean of the object means: exactly the mean of the drawn means, up to pixel noise
    assert np.allclose(model.mean, true_means.mean(axis=0), atol=3e-3)
    # pooled within-object covariance from 5184 pixels: ~2% standard error; 10% tolerance
    assert np.allclose(model.cov, COV, rtol=0.1, atol=5e-5)
    # between: the sample covariance of the drawn means plus COV / 144 from the pixel noise
    expected = np.cov(true_means, rowvar=False) + COV / 144
    assert np.allclose(model.between, expected, atol=5e-5)
    assert np.allclose(model.between, model.between.T)


def test_erosion_keeps_statistics_and_drops_boundaries() -> None:
    img, lab, _ = _objects(seed=2)
    stats = object_color_stats(img, lab, erode=1)
    assert (stats.counts == 100).all()  # 12 x 12 -> 10 x 10
    model = class_color_model(stats)
    assert np.allclose(model.cov, COV, rtol=0.12, atol=5e-5)
    lab2 = np.zeros((5, 5), int)
    lab2[2, 2] = 4  # a one-pixel object falls back to its own pixel
    assert object_color_stats(np.zeros((5, 5, 3)), lab2, erode=1, min_pixels=1).ids.tolist() == [4]
    assert int((erode_labels(lab, 2) > 0).sum()) == 36 * 64


def test_subset_concatenate_and_ids() -> None:
    img, lab, _ = _objects(seed=3)
    stats = object_color_stats(img, lab, ids=[3, 1, 99])
    assert stats.ids.tolist() == [1, 3]
    both = ObjectColorStats.concatenate([stats, stats.subset([3])])
    assert both.ids.tolist() == [1, 2, 3] and both.means.shape == (3, 3)
    with pytest.raises(ValueError, match="at least one object"):
        class_color_model(stats.subset([]))


def test_region_model_blocks() -> None:
    rng = np.random.default_rng(4)
    img = np.empty((128, 128, 3), np.float32)
    # four quadrants with different means: the block means vary, the pixel noise is iid
    for q, m in enumerate([0.7, 0.75, 0.8, 0.85]):
        r, c = divmod(q, 2)
        img[r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64] = m
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    model = region_color_model(img, np.ones((128, 128), bool), block=32)
    assert model.n_objects == 16
    assert np.allclose(np.diag(model.cov), 4e-4, rtol=0.1)
    # variance of the 16 block means: quadrant means 0.7..0.85 with 4 blocks each
    assert model.between[0, 0] == pytest.approx(np.var([0.7, 0.75, 0.8, 0.85] * 4, ddof=1), rel=0.1)
    assert model.mean == pytest.approx([0.775] * 3, abs=2e-3)


def test_reinhard_maps_source_stats_to_reference() -> None:
    rng = np.random.default_rng(5)
    src = np.clip(rng.normal([0.7, 0.45, 0.65], [0.08, 0.08, 0.06], (64, 64, 3)), 0, 1).astype(
        np.float32
    )
    ref_img = np.clip(rng.normal([0.8, 0.55, 0.75], [0.05, 0.06, 0.05], (48, 48, 3)), 0, 1).astype(
        np.float32
    )
    ref = reinhard_stats(ref_img)
    out = reinhard_normalize(src, ref)
    got = reinhard_stats(out)
    # L* in 0..100, a*/b* about -20..20: within 0.5 units and 3% of the spread
    assert np.allclose(got.mean, ref.mean, atol=0.5)
    assert np.allclose(got.std, ref.std, rtol=0.03)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_reinhard_to_own_stats_is_identity() -> None:
    rng = np.random.default_rng(6)
    img = rng.uniform(0.3, 0.8, (16, 16, 3)).astype(np.float32)
    out = reinhard_normalize(img, reinhard_stats(img))
    assert np.abs(out - img).max() < 1e-3


def test_reinhard_flat_channel_and_mean_stats() -> None:
    flat = np.full((4, 4, 3), 0.5, np.float32)
    ref = ReinhardStats(np.array([60.0, 5.0, -5.0]), np.array([10.0, 3.0, 3.0]))
    out = reinhard_normalize(flat, ref)  # zero spread: only shifted, no division by zero
    assert reinhard_stats(out).mean == pytest.approx(ref.mean, abs=0.5)
    avg = mean_reinhard_stats([ref, ReinhardStats(ref.mean + 2, ref.std * 3)])
    assert avg.mean == pytest.approx(ref.mean + 1) and avg.std == pytest.approx(ref.std * 2)
    with pytest.raises(ValueError):
        mean_reinhard_stats([])


def test_hematoxylin_is_high_on_nuclei() -> None:
    img = np.zeros((1, 2, 3), np.float32)
    img[0, 0] = (0.25, 0.15, 0.5)  # haematoxylin-rich nucleus
    img[0, 1] = (0.95, 0.6, 0.8)  # eosin pink
    h = hematoxylin(img)
    assert h.shape == (1, 2) and h[0, 0] > h[0, 1] + 0.05


def test_object_shapes_recover_semi_axes() -> None:
    lab = np.zeros((80, 80), np.int32)
    lab[ellipse(30, 30, 5, 11, rotation=0.4)] = 1
    lab[ellipse(60, 60, 4, 4)] = 2
    lab[0:5, 70:80] = 3
    s = object_shapes(lab)
    assert s.ids.tolist() == [1, 2, 3]
    assert s.semi_major[0] == pytest.approx(11, abs=0.5)
    assert s.semi_minor[0] == pytest.approx(5, abs=0.5)
    assert s.semi_major[1] == pytest.approx(4, abs=0.5)
    assert s.touches_border.tolist() == [False, False, True]
    assert s.equivalent_radius[1] == pytest.approx(4, abs=0.4)
