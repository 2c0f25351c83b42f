"""The 8 symmetries of the square and the mean over them (test-time augmentation)."""

from __future__ import annotations

import numpy as np
import pytest

from vnet.tta import DIHEDRAL, check_scales, dihedral, dihedral_mean, scale_mean, undo_dihedral


def test_the_eight_transforms_are_distinct_and_undone() -> None:
    a = np.arange(12).reshape(3, 4)
    seen = {
        dihedral(a, k, flip).tobytes() + bytes(dihedral(a, k, flip).shape) for k, flip in DIHEDRAL
    }
    assert len(DIHEDRAL) == 8 and len(seen) == 8
    for k, flip in DIHEDRAL:
        assert np.array_equal(undo_dihedral(dihedral(a, k, flip), k, flip), a)


def test_other_axes_turn_the_plane_of_those_axes() -> None:
    batch = np.random.default_rng(0).random((2, 3, 5, 4))  # (N, C, h, w)
    for k, flip in DIHEDRAL:
        turned = dihedral(batch, k, flip, axes=(2, 3))
        assert turned.shape[:2] == (2, 3)
        assert np.array_equal(turned[1, 2], dihedral(batch[1, 2], k, flip))
        assert np.array_equal(undo_dihedral(turned, k, flip, axes=(2, 3)), batch)


def test_mean_of_an_equivariant_map_is_the_map() -> None:
    x = np.random.default_rng(1).random((5, 7, 3))
    u, m = dihedral_mean(lambda t: (t * 2.0, t.sum(axis=2, keepdims=True)), x)
    assert u.dtype == np.float32 and m.shape == (5, 7, 1)
    np.testing.assert_allclose(u, 2 * x, rtol=1e-6)
    np.testing.assert_allclose(m[..., 0], x.sum(axis=2), rtol=1e-6)


def test_mean_of_an_orientation_dependent_map_is_symmetrised() -> None:
    # the row index of the transformed input, turned back: averaged over the 8 views it is
    # the same at every pixel, (h + w - 2) / 4, for any (h, w)
    x = np.zeros((4, 6))
    (rows,) = dihedral_mean(lambda t: (np.indices(t.shape)[0].astype(float),), x)
    np.testing.assert_allclose(rows, np.full((4, 6), (4 + 6 - 2) / 4))
    # and it differs from the plain map, which depends on the row
    assert not np.allclose(rows, np.indices(x.shape)[0])


def test_output_axes_may_differ_from_input_axes() -> None:
    tiles = np.random.default_rng(2).random((2, 6, 4, 3))  # (N, h, w, 3) -> (N, 1, h, w)
    (mean,) = dihedral_mean(
        lambda t: (t.mean(axis=3)[:, None],), tiles, in_axes=(1, 2), out_axes=(2, 3)
    )
    assert mean.shape == (2, 1, 6, 4)
    np.testing.assert_allclose(mean[:, 0], tiles.mean(axis=3), rtol=1e-6)


def test_outputs_must_match_in_number() -> None:
    calls = iter(range(8))

    def uneven(t: np.ndarray) -> tuple[np.ndarray, ...]:
        return (t,) if next(calls) == 0 else (t, t)

    with pytest.raises(ValueError):
        dihedral_mean(uneven, np.zeros((2, 2)))


def test_scale_mean_of_a_pointwise_map_is_the_map() -> None:
    """A map that acts pixel by pixel commutes with resampling (up to its smoothing)."""
    x = np.tile(np.linspace(0.1, 0.9, 40), (30, 1))[..., None] * np.ones(3)  # a smooth ramp
    mean = scale_mean(lambda t: t.mean(axis=2), x, (1.0, 0.9, 1.25))
    assert mean.shape == (30, 40) and mean.dtype == np.float32
    np.testing.assert_allclose(mean[:, 2:-2], x[:, 2:-2, 0], atol=0.01)


def test_scale_mean_averages_the_outputs_resampled_back() -> None:
    # the output is the number of rows fn was given, as a probability: at scale 1 20 rows,
    # at 0.6 12 rows, so the mean is (0.2 + 0.12) / 2 at every pixel, on x's grid
    x = np.zeros((20, 30, 3))
    seen: list[tuple[int, ...]] = []

    def rows(t: np.ndarray) -> np.ndarray:
        seen.append(t.shape)
        return np.full(t.shape[:2], t.shape[0] / 100)

    mean = scale_mean(rows, x, (1.0, 0.6))
    assert seen == [(20, 30, 3), (12, 18, 3)]
    np.testing.assert_allclose(mean, np.full((20, 30), 0.16), atol=1e-6)
    # given: fn(x) is not run again for the scale 1
    seen.clear()
    scale_mean(rows, x, (1.0, 0.6), given=np.full((20, 30), 0.2))
    assert seen == [(12, 18, 3)]


def test_scale_mean_keeps_other_axes() -> None:
    tiles = np.random.default_rng(3).random((2, 16, 12, 3))  # (N, h, w, 3) -> (N, 1, h, w)
    mean = scale_mean(
        lambda t: t.mean(axis=3)[:, None], tiles, (1.0, 0.75), in_axes=(1, 2), out_axes=(2, 3)
    )
    assert mean.shape == (2, 1, 16, 12)
    # each tile on its own gives the same as in the batch
    alone = scale_mean(lambda t: t.mean(axis=2), tiles[1], (1.0, 0.75))
    np.testing.assert_allclose(mean[1, 0], alone, atol=1e-6)


@pytest.mark.parametrize(
    ("scales", "message"),
    [
        ((0.9,), "must include 1"),
        ((1.0, 0.4), "outside \\[0.5, 2\\]"),
        ((1.0, float("nan")), "outside"),
        ((1.0, 0.9, 0.9), "repeated"),
        ((1.0, 0.6, 0.7, 0.8, 0.9), "at most 4"),
    ],
)
def test_check_scales_refuses(scales: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_scales(scales)
    assert check_scales([1, 0.5, 2]) == (1.0, 0.5, 2.0)
