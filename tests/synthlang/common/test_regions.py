"""fill_regions (narrow cracks closed, holes filled) and complete_nuclei, only on background."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthlang.common.regions import WHOLE_NUCLEUS_FRACTION, complete_nuclei, fill_regions


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


def _two_nuclei() -> np.ndarray:
    nuclei = np.zeros((10, 20), np.int32)
    nuclei[2:8, 2:8] = 1  # 36 pixels
    nuclei[2:8, 11:17] = 2
    return nuclei


def test_nuclei_covered_at_least_in_half_are_completed_others_left() -> None:
    nuclei = _two_nuclei()
    lab = np.zeros(nuclei.shape, np.uint8)
    lab[2:5, 2:8] = 1  # exactly half of nucleus 1
    lab[2:4, 11:17] = 1  # a third of nucleus 2
    lab[0, 0] = 1  # outside every nucleus: kept
    out = complete_nuclei(lab, nuclei)
    assert WHOLE_NUCLEUS_FRACTION == 0.5
    assert (out[nuclei == 1] == 1).all()
    assert np.array_equal(out[nuclei == 2], lab[nuclei == 2])
    assert out[0, 0] == 1 and out.dtype == lab.dtype
    assert lab[7, 7] == 0  # the input is not changed
    assert np.array_equal(complete_nuclei(lab, nuclei, fraction=0.6), lab)
    assert (complete_nuclei(lab, nuclei, fraction=0.3)[nuclei > 0] == 1).all()


def test_a_completed_nucleus_takes_its_majority_class_and_no_labelled_pixel_changes() -> None:
    nuclei = _two_nuclei()
    lab = np.zeros(nuclei.shape, np.uint8)
    lab[2:4, 2:8] = 2  # 12 pixels of class 2
    lab[4:7, 2:8] = 1  # 18 pixels of class 1
    out = complete_nuclei(lab, nuclei)
    assert (out[7, 2:8] == 1).all()  # the rest: the majority class
    assert np.array_equal(out[lab > 0], lab[lab > 0])


def test_complete_nuclei_edge_cases_and_bad_input() -> None:
    lab = np.ones((4, 4), np.uint8)
    assert np.array_equal(complete_nuclei(lab, np.zeros((4, 4), np.int32)), lab)
    assert complete_nuclei(np.zeros((0, 0), np.uint8), np.zeros((0, 0), np.int32)).shape == (0, 0)
    with pytest.raises(ValueError, match="same"):
        complete_nuclei(lab, np.zeros((4, 5), np.int32))
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            complete_nuclei(lab, np.ones((4, 4), np.int32), fraction=bad)
