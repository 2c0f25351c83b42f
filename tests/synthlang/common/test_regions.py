"""fill_regions, complete_nuclei and neighbour_nuclei: they change only background pixels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from synthlang.common.regions import (
    NEIGHBOUR_COUNT,
    NEIGHBOUR_PROBABILITY,
    WHOLE_NUCLEUS_FRACTION,
    complete_nuclei,
    fill_regions,
    neighbour_nuclei,
)


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


def _grid_of_nuclei(rows: int, cols: int, step: int) -> np.ndarray:
    """Square 4 x 4 nuclei on a grid, ids 1.. row by row."""
    nuc = np.zeros((rows * step, cols * step), np.int32)
    for i in range(rows):
        for j in range(cols):
            nuc[i * step : i * step + 4, j * step : j * step + 4] = 1 + i * cols + j
    return nuc


def test_a_nucleus_of_fair_probability_among_marked_ones_joins() -> None:
    nuc = _grid_of_nuclei(1, 5, 10)  # centres 10 px apart
    lab = np.isin(nuc, [1, 2, 4]).astype(np.uint8)
    prob = np.where(lab > 0, 0.9, NEIGHBOUR_PROBABILITY).astype(np.float32)
    out = neighbour_nuclei(lab, nuc, prob, distance=10.5)
    # 3 has marked 2 and 4 within reach; 5 has only 4 (of the NEIGHBOUR_COUNT = 2 needed)
    assert NEIGHBOUR_COUNT == 2
    assert (out[nuc == 3] == 1).all() and not out[nuc == 5].any()
    assert np.array_equal(out[nuc == 0], lab[nuc == 0])  # only nuclei's pixels change
    # a little less probable, or a little farther: not added
    assert np.array_equal(neighbour_nuclei(lab, nuc, prob - 0.01, distance=10.5), lab)
    assert np.array_equal(neighbour_nuclei(lab, nuc, prob, distance=9.5), lab)
    # an added nucleus does not count for the next one (one pass)
    lab2 = np.isin(nuc, [1, 2]).astype(np.uint8)
    prob2 = np.where(lab2 > 0, 0.9, 0.4).astype(np.float32)
    out2 = neighbour_nuclei(lab2, nuc, prob2, distance=20.5)
    assert (out2[nuc == 3] == 1).all() and not out2[nuc == 4].any()


def test_neighbours_count_by_class_and_a_half_marked_nucleus_is_marked() -> None:
    nuc = _grid_of_nuclei(1, 5, 10)
    lab = np.zeros(nuc.shape, np.uint8)
    lab[nuc == 1], lab[nuc == 2], lab[nuc == 4] = 2, 1, 1
    lab[nuc == 5] = 1
    lab[0:2, 40:44] = 1  # nucleus 5 half marked: it counts as marked, not as a candidate
    lab[2:4, 40:44] = 0
    probs = np.full((2,) + nuc.shape, 0.3, np.float32)
    out = neighbour_nuclei(lab, nuc, probs, distance=20.5)
    assert (out[nuc == 3] == 1).all()  # 2, 4 and 5 are class 1 (1 is class 2: one only)
    assert np.array_equal(out[nuc == 5], lab[nuc == 5])  # marked nuclei are left as they are
    probs[0] = 0.1  # class 1 too improbable; class 2 has one neighbour only
    assert not neighbour_nuclei(lab, nuc, probs, distance=20.5)[nuc == 3].any()
    probs[0], probs[1] = 0.3, 0.6
    lab[nuc == 5] = 2  # now both classes have two neighbours of 3 within reach
    out = neighbour_nuclei(lab, nuc, probs, distance=20.5)
    assert (out[nuc == 3] == 2).all()  # the more probable class


def test_neighbour_nuclei_edge_cases_and_bad_input() -> None:
    lab = np.zeros((6, 6), np.uint8)
    prob = np.zeros((6, 6), np.float32)
    assert np.array_equal(neighbour_nuclei(lab, np.zeros((6, 6), int), prob, 5), lab)
    assert neighbour_nuclei(lab, np.ones((6, 6), int), prob, 5).dtype == lab.dtype
    nuc = _grid_of_nuclei(1, 3, 10)
    marked = (nuc > 0).astype(np.uint8)  # every nucleus marked: none is a candidate
    assert np.array_equal(neighbour_nuclei(marked, nuc, np.ones(nuc.shape), 30), marked)
    with pytest.raises(ValueError, match="share"):
        neighbour_nuclei(lab, np.zeros((5, 6), int), prob, 5)
    with pytest.raises(ValueError, match="count >= 1"):
        neighbour_nuclei(lab, np.zeros((6, 6), int), prob, 5, count=0)
    with pytest.raises(ValueError, match="probability in"):
        neighbour_nuclei(lab, np.zeros((6, 6), int), prob, 5, probability=1.5)
