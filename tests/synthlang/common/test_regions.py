"""fill_regions: narrow cracks closed, holes filled, only on background."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthlang.common.regions import fill_regions


def _ring(shape: tuple[int, int], centre: tuple[int, int], r_in: float, r_out: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d = np.hypot(yy - centre[0], xx - centre[1])
    return (d >= r_in) & (d <= r_out)


def test_a_ring_becomes_a_disk() -> None:
    ring = _ring((30, 30), (15, 15), 4, 8).astype(np.uint8)
    filled = fill_regions(ring)
    yy, xx = np.mgrid[:30, :30]
    assert np.array_equal(filled > 0, np.hypot(yy - 15, xx - 15) <= 8)
    assert filled.dtype == ring.dtype and ring[15, 15] == 0  # the input is not changed


def test_cracks_up_to_two_pixels_are_closed_but_wider_gaps_stay() -> None:
    lab = np.zeros((12, 20), np.uint8)
    lab[2:10, 2:8] = 1
    lab[2:10, 9:15] = 1  # a one-pixel crack at column 8
    assert ndi.label(lab)[1] == 2 and ndi.label(fill_regions(lab))[1] == 1
    lab[2:10, 9] = 0  # two pixels wide
    assert ndi.label(fill_regions(lab))[1] == 1
    wide = np.zeros((12, 20), np.uint8)
    wide[2:10, 2:8] = 1
    wide[2:10, 11:16] = 1  # three pixels apart
    assert np.array_equal(fill_regions(wide), wide)


def test_other_classes_are_never_taken_over() -> None:
    lab = _ring((30, 30), (15, 15), 4, 8).astype(np.uint8)
    lab[14:17, 14:17] = 2  # a class-2 region inside the class-1 ring
    out = fill_regions(lab)
    assert (out[14:17, 14:17] == 2).all()  # kept
    assert out[15, 11] == 1  # the rest of the hole is class 1
    assert set(np.unique(out)) == {0, 1, 2}
    assert ((lab > 0) <= (out > 0)).all()  # nothing is removed


def test_regions_at_the_border_and_empty_maps() -> None:
    lab = np.zeros((10, 10), np.uint8)
    lab[0:4, 0:4] = 1
    lab[1, 1] = 0  # a hole next to the corner
    out = fill_regions(lab)
    assert out[1, 1] == 1 and (out[4:, :] == 0).all() and (out[:, 4:] == 0).all()
    assert np.array_equal(fill_regions(np.zeros((5, 6), np.int64)), np.zeros((5, 6)))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        fill_regions(np.zeros((2, 3, 4), np.uint8))
