"""Object scores on hand-made cases: centre matching, detection, panoptic quality, AJI."""

from __future__ import annotations

import numpy as np
import pytest

from vnet.scores import (
    aji_counts,
    detection_counts,
    match_centroids,
    object_scores,
    panoptic_counts,
    ratio,
)


def test_centre_matching_is_one_to_one_and_maximal() -> None:
    t = np.array([[0.0, 0.0], [0.0, 10.0], [50.0, 50.0]])
    p = np.array([[0.0, 6.0], [0.0, 16.0], [80.0, 80.0]])
    # nearest first would take (1, 0) at 4 px and leave both others unmatched
    assert match_centroids(t, p, 7.5) == [(0, 0), (1, 1)]
    assert match_centroids(t, p, 5.0) == [(1, 0)]
    # one prediction between two truths matches one of them only
    assert len(match_centroids(np.array([[0.0, 0.0], [0.0, 4.0]]), np.array([[0.0, 2.0]]))) == 1
    # the radius is inclusive; an empty side matches nothing
    assert match_centroids(np.array([[0.0, 0.0]]), np.array([[0.0, 7.5]]), 7.5) == [(0, 0)]
    assert match_centroids(np.zeros((0, 2)), p) == [] == match_centroids(t, np.zeros((0, 2)))


def test_match_prefers_the_shorter_total_distance() -> None:
    t = np.array([[0.0, 0.0], [0.0, 5.0]])
    p = np.array([[0.0, 4.0], [0.0, 1.0]])
    assert match_centroids(t, p, 7.5) == [(0, 1), (1, 0)]  # 1 + 1 px, not 4 + 4 px


def _squares(shape: tuple[int, int], boxes: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    out = np.zeros(shape, np.int64)
    for i, (r0, r1, c0, c1) in boxes.items():
        out[r0:r1, c0:c1] = i
    return out


def test_detection_counts() -> None:
    truth = _squares((20, 40), {1: (2, 6, 2, 6), 2: (2, 6, 20, 24), 3: (12, 16, 30, 34)})
    perfect = detection_counts(truth, truth)
    assert perfect == (3, 0, 0)
    missed = truth.copy()
    missed[missed == 3] = 0  # one missed object
    assert detection_counts(truth, missed) == (2, 0, 1)
    shifted = _squares((20, 40), {7: (10, 14, 2, 6)})  # 8 px away from object 1: no match
    assert detection_counts(truth, shifted) == (0, 1, 3)
    assert detection_counts(truth, np.zeros_like(truth)) == (0, 0, 3)


def test_panoptic_quality_by_hand() -> None:
    truth = _squares((10, 30), {1: (0, 4, 0, 4), 2: (0, 4, 10, 14), 3: (6, 10, 20, 24)})
    pred = _squares((10, 30), {5: (0, 4, 0, 4), 6: (0, 4, 11, 14), 8: (0, 2, 20, 30)})
    # 5 = 1 (IoU 1); 6 in 2 (IoU 12/16 = 0.75); 3 missed; 8 touches nothing of 3: false
    tp, fp, fn, iou_sum = panoptic_counts(truth, pred)
    assert (tp, fp, fn) == (2, 1, 1) and iou_sum == pytest.approx(1.75)
    sq, rq = iou_sum / tp, tp / (tp + 0.5 * fp + 0.5 * fn)
    assert sq == pytest.approx(0.875) and rq == pytest.approx(2 / 3)
    half = _squares((10, 30), {5: (0, 4, 0, 2)})  # IoU exactly 1/2 is not a match
    assert panoptic_counts(truth, half)[:3] == (0, 1, 3)


def test_aji_by_hand() -> None:
    truth = _squares((4, 20), {1: (0, 4, 0, 4), 2: (0, 4, 10, 14)})
    pred = _squares((4, 20), {3: (0, 4, 0, 2), 4: (0, 4, 2, 6), 9: (0, 1, 16, 18)})
    # truth 1 pairs with 3 or 4 (IoU 8/16 and 8/24): 3; 2 has no overlap; 4 and 9 unused
    inter, union = aji_counts(truth, pred)
    assert (inter, union) == (8, 16 + 16 + 16 + 2)
    assert aji_counts(truth, truth) == (32, 32)
    assert aji_counts(truth, np.zeros_like(truth)) == (0, 32)


def test_precision_is_undefined_without_predictions() -> None:
    truth = np.zeros((6, 6), bool)
    truth[1:3, 1:3] = True
    s = object_scores(np.zeros_like(truth), truth)
    assert s["precision"] is None and s["recall"] == 0.0 and s["f1"] == 0.0
    assert ratio(0, 0) is None and ratio(3, 4) == 0.75
