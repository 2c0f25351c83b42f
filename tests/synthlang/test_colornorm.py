"""Colour statistics and Reinhard / Macenko normalisation (synthlang.colornorm)."""

from __future__ import annotations

import numpy as np
import pytest

from synthlang.colornorm import (
    MAX_HAEMATOXYLIN_FACTOR,
    ColorStats,
    color_stats,
    haematoxylin_level,
    haematoxylin_normalize,
    macenko_normalize,
    macenko_stats,
    normalize,
    source_color_stats,
)
from synthlang.stats import reinhard_stats

H = np.array([0.65, 0.70, 0.29])
E = np.array([0.07, 0.99, 0.11])


def he_image(seed: int = 0, stains: tuple[np.ndarray, np.ndarray] = (H, E)) -> np.ndarray:
    """A 40 x 40 H&E-like image: blobs of haematoxylin on an eosin background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :40]
    hc = np.zeros((40, 40))
    for cy, cx in rng.uniform(0, 40, (8, 2)):
        hc += 1.4 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 12.0)
    ec = 0.5 + 0.3 * rng.uniform(size=(40, 40))
    conc = np.stack([hc.ravel(), ec.ravel()])
    od = np.stack(stains, axis=1) @ conc
    return ((240 / 255) * np.exp(-od)).T.reshape(40, 40, 3).astype(np.float32)


def test_macenko_finds_the_stains_in_order() -> None:
    s = macenko_stats(he_image())
    assert s.stain_matrix[:, 0] @ (H / np.linalg.norm(H)) > 0.97
    assert s.stain_matrix[:, 1] @ (E / np.linalg.norm(E)) > 0.97
    assert np.all(s.max_concentrations > 0)


def test_macenko_maps_other_stains_to_the_target() -> None:
    target = macenko_stats(he_image(1))
    other = he_image(2, (np.array([0.45, 0.80, 0.40]), np.array([0.20, 0.95, 0.25])))
    out = macenko_normalize(other, target)
    assert out.shape == other.shape and out.dtype == np.float32
    got = macenko_stats(out)
    assert np.all(np.sum(got.stain_matrix * target.stain_matrix, axis=0) > 0.99)


def test_too_little_tissue_falls_back_to_reinhard() -> None:
    blank = np.full((20, 20, 3), 0.9, np.float32)
    with pytest.raises(ValueError, match="too little stained tissue"):
        macenko_stats(blank)
    stats = color_stats([he_image()])
    out, how = normalize(blank, stats, "macenko")
    assert how.startswith("reinhard (macenko impossible")
    assert out.shape == blank.shape
    assert color_stats([blank]).macenko is None
    _, how = normalize(he_image(3), ColorStats(stats.reinhard, None, 1), "macenko")
    assert how == "reinhard (macenko impossible: the target has no stain estimate)"


def test_reinhard_maps_a_colour_cast_to_the_target() -> None:
    stats = color_stats([he_image(0), he_image(1)], origin="two")
    cast = np.clip(he_image(4) * np.array([1.0, 0.75, 0.9], np.float32) + 0.05, 0, 1)
    out, how = normalize(cast, stats, "reinhard")
    assert how == "reinhard"
    np.testing.assert_allclose(reinhard_stats(out).mean, stats.reinhard.mean, atol=1.5)


def test_color_stats_round_trip_and_validation() -> None:
    stats = color_stats([he_image(0), he_image(1)], origin="two")
    d = stats.to_dict()
    back = ColorStats.from_dict(d)
    assert back.to_dict() == d and back.n_images == 2 and back.origin == "two"
    for bad, match in [
        ([], "not a dict"),
        ({**d, "extra": 1}, "unknown field"),
        ({**d, "n_images": 0}, "n_images"),
        ({**d, "reinhard": {"lab_mean": [1, 2], "lab_std": [1, 1, 1]}}, "lab_mean"),
        ({**d, "reinhard": {"lab_mean": [50, 0, 0], "lab_std": [1, float("nan"), 1]}}, "lab_std"),
        ({**d, "reinhard": {"lab_mean": [500, 0, 0], "lab_std": [1, 1, 1]}}, "L\\*a\\*b\\*"),
        ({**d, "macenko": {**d["macenko"], "stain_vectors": [[1, 0, 0], [2, 0, 0]]}}, "unit"),
        ({**d, "macenko": {**d["macenko"], "max_concentrations": [1, -1]}}, "positive"),
        ({**d, "macenko": {"stain_vectors": [[1, 0, 0], [0, 1, 0]]}}, "max_concentrations"),
        ({**d, "macenko": "x"}, "macenko"),
        ({**d, "haematoxylin_level": -1.0}, "haematoxylin_level"),
        ({**d, "haematoxylin_level": float("inf")}, "haematoxylin_level"),
        ({**d, "haematoxylin_level": "2"}, "haematoxylin_level"),
        ({**d, "haematoxylin_level": True}, "haematoxylin_level"),
    ]:
        with pytest.raises(ValueError, match=match):
            ColorStats.from_dict(bad)


def test_statistics_stored_before_the_haematoxylin_level_still_load() -> None:
    d = color_stats([he_image(0)]).to_dict()
    assert d["haematoxylin_level"] == pytest.approx(haematoxylin_level([he_image(0)]))
    old = {k: v for k, v in d.items() if k != "haematoxylin_level"}
    assert ColorStats.from_dict(old).haematoxylin_level is None
    assert ColorStats.from_dict({**d, "haematoxylin_level": None}).haematoxylin_level is None


def test_haematoxylin_level_is_the_median_of_the_images() -> None:
    pale, mid, dark = (haematoxylin_normalize(he_image(5), level) for level in (0.8, 1.2, 1.9))
    assert haematoxylin_level([pale, dark, mid]) == pytest.approx(1.2, rel=0.02)
    blank = np.full((20, 20, 3), 0.9, np.float32)
    assert haematoxylin_level([blank, mid]) == pytest.approx(1.2, rel=0.02)
    assert haematoxylin_level([blank]) is None


def test_haematoxylin_normalize_changes_only_the_nuclear_stain() -> None:
    img = he_image(6)
    src = macenko_stats(img)
    target = 1.25 * float(src.max_concentrations[0])
    out = haematoxylin_normalize(img, target)
    assert out.dtype == np.float32 and out.shape == img.shape
    got = macenko_stats(out)
    assert got.max_concentrations[0] == pytest.approx(target, rel=0.02)
    assert got.max_concentrations[1] == pytest.approx(src.max_concentrations[1], rel=0.02)
    assert np.all(np.sum(got.stain_matrix * src.stain_matrix, axis=0) > 0.999)
    # pixels without haematoxylin (the eosin background) keep their colour exactly
    hc = np.linalg.lstsq(src.stain_matrix, -np.log(img.reshape(-1, 3) / (240 / 255)).T)[0][0]
    clear = hc.reshape(40, 40) <= 0
    assert clear.any()
    np.testing.assert_allclose(out[clear], img[clear], atol=1e-6)
    # darker nuclei where the haematoxylin was
    assert out[~clear].mean() < img[~clear].mean()


def test_haematoxylin_normalize_is_bounded_and_checks_its_level() -> None:
    img = he_image(7)
    h = float(macenko_stats(img).max_concentrations[0])
    bound = MAX_HAEMATOXYLIN_FACTOR
    for asked, factor in ((100 * h, bound), (h / 100, 1 / bound)):
        got = macenko_stats(haematoxylin_normalize(img, asked)).max_concentrations[0]
        assert got == pytest.approx(factor * h, rel=0.03)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="haematoxylin level must be positive"):
            haematoxylin_normalize(img, bad)


def test_normalize_by_haematoxylin_and_its_fallbacks() -> None:
    stats = color_stats([he_image(0), he_image(1)])
    assert stats.haematoxylin_level is not None
    pale = haematoxylin_normalize(he_image(8), 0.6 * stats.haematoxylin_level)
    out, how = normalize(pale, stats, "haematoxylin")
    assert how == "haematoxylin"
    assert haematoxylin_level([out]) == pytest.approx(stats.haematoxylin_level, rel=0.02)
    blank = np.full((20, 20, 3), 0.9, np.float32)
    out, how = normalize(blank, stats, "haematoxylin")
    assert how.startswith("none (haematoxylin impossible: too little stained tissue")
    np.testing.assert_array_equal(out, blank)
    no_level = ColorStats(stats.reinhard, stats.macenko, 2)
    out, how = normalize(pale, no_level, "haematoxylin")
    assert how == "none (haematoxylin impossible: the target has no haematoxylin level)"
    np.testing.assert_array_equal(out, pale)
    with pytest.raises(ValueError, match="method must be one of"):
        normalize(pale, stats, "hematoxylin")


def test_source_color_stats_uses_the_first_inputs() -> None:
    seen: list[int] = []

    def source(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        seen.append(i)
        return he_image(i), he_image(i), np.zeros((40, 40), np.float32)

    stats = source_color_stats(source, 3)
    assert seen == [0, 1, 2] and stats is not None and stats.n_images == 3
    assert stats.origin == "first 3 training inputs"
    gray = source_color_stats(lambda i: (np.zeros((8, 8, 1)), None, None), 2)
    assert gray is None
