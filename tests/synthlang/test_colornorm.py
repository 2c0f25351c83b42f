"""Colour statistics and Reinhard / Macenko normalisation (synthlang.colornorm)."""

from __future__ import annotations

import numpy as np
import pytest

from synthlang.colornorm import (
    ColorStats,
    color_stats,
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
    ]:
        with pytest.raises(ValueError, match=match):
            ColorStats.from_dict(bad)


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
