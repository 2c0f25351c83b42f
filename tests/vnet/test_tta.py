"""The 8 symmetries of the square and the mean over them (test-time augmentation)."""

from __future__ import annotations

import numpy as np
import pytest

from vnet.tta import DIHEDRAL, dihedral, dihedral_mean, undo_dihedral


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
