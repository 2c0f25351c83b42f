"""Scores of one predicted image against its truth: pixels, detection, panoptic quality, AJI.

Pixel level (:func:`pixel_scores`): accuracy, Dice ``2|P n T| / (|P| + |T|)``, IoU
``|P n T| / |P u T|`` of two boolean masks (both 1 when prediction and truth are empty).
Image level: PSNR of a denoised image against a clean truth (:func:`psnr`, peak 1).

Object level, on instance maps (``(H, W)`` integer ids, 0 = none) of one class:

* **centre matching** (:func:`match_centroids`, the PUMA rule): a predicted and a true
  instance match when their centroids are at most ``radius`` pixels apart (7.5 px at
  20x). The matching is one-to-one and optimal: the largest number of pairs, and among
  those the smallest total distance (the Hungarian method,
  ``scipy.optimize.linear_sum_assignment``, on each connected group of candidates).
  Matched pairs are true positives, unmatched predictions false positives, unmatched
  truths false negatives (:func:`detection_counts`).
* **panoptic quality** (:func:`panoptic_counts`; Kirillov et al. 2019): a predicted and a
  true instance match when their IoU exceeds 1/2 (such a match is unique).
  ``SQ = sum IoU / TP``, ``RQ = TP / (TP + FP/2 + FN/2)``, ``PQ = SQ x RQ``.
* **aggregated Jaccard index** (:func:`aji_counts`; Kumar et al. 2017): every true
  instance is paired with the predicted instance of largest IoU among those it
  overlaps (a prediction may serve several); ``AJI = sum |G n S| / (sum |G u S| +
  sum of the unpaired predictions' areas)``, a true instance without overlap adding
  its area to the denominator (HoVer-Net's ``get_fast_aji``).
* **hit rule** (:func:`object_scores`, the binary score ``synthlang evaluate`` always
  had): a true object is hit when at least ``hit_fraction`` of its pixels are
  predicted; a predicted 8-connected component touching no true object is false.

A ratio whose denominator is 0 is undefined and returned as None (a precision without
predictions is not 1), except the pixel scores of :func:`pixel_scores` and the hit
rule's recall, kept as they were.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "DEFAULT_RADIUS",
    "pixel_scores",
    "psnr",
    "object_scores",
    "match_centroids",
    "detection_counts",
    "panoptic_counts",
    "aji_counts",
    "ratio",
]

DEFAULT_RADIUS = 7.5
"""Centre matching radius in pixels (PUMA: 15 px at 40x, i.e. 7.5 px at 20x)."""

_EIGHT = np.ones((3, 3), dtype=bool)


def ratio(num: float, den: float) -> float | None:
    """``num / den``, None when ``den`` is 0.

    Examples
    --------
    >>> ratio(1, 4), ratio(0, 0)
    (0.25, None)
    """
    return num / den if den else None


def pixel_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pixel accuracy, Dice and IoU of two boolean masks.

    Examples
    --------
    >>> p = np.array([[1, 1, 0, 0]], bool); t = np.array([[1, 0, 0, 0]], bool)
    >>> s = pixel_scores(p, t)
    >>> s["accuracy"], round(s["dice"], 4), s["iou"]
    (0.75, 0.6667, 0.5)
    """
    p = np.asarray(pred, bool)
    t = np.asarray(truth, bool)
    if p.shape != t.shape:
        raise ValueError(f"shapes differ: {p.shape} and {t.shape}")
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    tn = int(p.size - tp - fp - fn)
    union = tp + fp + fn
    return {
        "accuracy": (tp + tn) / p.size if p.size else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
        "iou": tp / union if union else 1.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def psnr(image: np.ndarray, reference: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images).

    Examples
    --------
    >>> round(psnr(np.full((2, 2), 0.1), np.zeros((2, 2))), 6)
    20.0
    """
    a = np.asarray(image, np.float64)
    b = np.asarray(reference, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def object_scores(
    pred: np.ndarray,
    truth: np.ndarray,
    instances: np.ndarray | None = None,
    hit_fraction: float = 0.5,
) -> dict[str, Any]:
    """Object-level detection counts by the hit rule (module docstring).

    Parameters
    ----------
    pred, truth : numpy.ndarray
        ``(H, W)`` boolean masks.
    instances : numpy.ndarray, optional
        ``(H, W)`` instance ids; truth objects are the ids inside ``truth``.
        Without it, the 8-connected components of ``truth``.
    hit_fraction : float
        Fraction of a truth object's pixels that must be predicted.

    Returns
    -------
    dict
        ``truth_objects``, ``hit``, ``pred_objects``, ``false_objects``,
        ``recall`` (1 without truth objects), ``precision`` (None without predicted
        objects), ``f1`` (0 when either is 0 or undefined).
    """
    p = np.asarray(pred, bool)
    t = np.asarray(truth, bool)
    if instances is not None:
        labels = np.where(t, np.asarray(instances, np.int64), 0)
    else:
        labels, _ = ndi.label(t, structure=_EIGHT)
    ids = labels[labels > 0]
    sizes = np.bincount(ids) if ids.size else np.zeros(1, np.int64)
    covered = np.bincount(labels[(labels > 0) & p], minlength=sizes.size)
    present = np.nonzero(sizes)[0]
    n_truth = int(present.size)
    hit = int(np.count_nonzero(covered[present] >= hit_fraction * sizes[present]))
    plabels, n_pred = ndi.label(p, structure=_EIGHT)
    touching = np.unique(plabels[(plabels > 0) & (labels > 0)])
    n_false = int(n_pred - touching.size)
    recall = hit / n_truth if n_truth else 1.0
    precision = 1.0 - n_false / n_pred if n_pred else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {
        "truth_objects": n_truth,
        "hit": hit,
        "pred_objects": int(n_pred),
        "false_objects": n_false,
        "recall": recall,
        "precision": precision,
        "f1": f1,
    }


def match_centroids(
    truth: np.ndarray, pred: np.ndarray, radius: float = DEFAULT_RADIUS
) -> list[tuple[int, int]]:
    """One-to-one matching of centre points within ``radius`` (module docstring).

    Parameters
    ----------
    truth, pred : numpy.ndarray
        ``(n, 2)`` and ``(m, 2)`` centroids (row, column).
    radius : float
        Largest distance of a matched pair (inclusive).

    Returns
    -------
    list of (int, int)
        ``(truth index, prediction index)`` pairs, sorted: as many as possible, of
        least total distance among those.

    Examples
    --------
    >>> t = np.array([[0.0, 0.0], [0.0, 10.0]]); p = np.array([[0.0, 6.0], [0.0, 16.0]])
    >>> match_centroids(t, p, 7.5)   # nearest-first would pair (1, 0) alone
    [(0, 0), (1, 1)]
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    t = np.asarray(truth, np.float64).reshape(-1, 2)
    p = np.asarray(pred, np.float64).reshape(-1, 2)
    n, m = len(t), len(p)
    if n == 0 or m == 0:
        return []
    near = cKDTree(t).query_ball_tree(cKDTree(p), r=radius)
    rows = np.array([i for i, js in enumerate(near) for _ in js], dtype=np.int64)
    cols = np.array([j for js in near for j in js], dtype=np.int64)
    if rows.size == 0:
        return []
    dist = np.hypot(*(t[rows] - p[cols]).T)
    keep = dist <= radius
    rows, cols, dist = rows[keep], cols[keep], dist[keep]
    graph = coo_matrix((np.ones(rows.size), (rows, n + cols)), shape=(n + m, n + m))
    _, group = connected_components(graph, directed=False)
    pairs: list[tuple[int, int]] = []
    for g in np.unique(group[rows]):
        sel = group[rows] == g
        ti, ti_inv = np.unique(rows[sel], return_inverse=True)
        pj, pj_inv = np.unique(cols[sel], return_inverse=True)
        big = radius * (min(ti.size, pj.size) + 1) + 1.0  # any valid pair beats one invalid
        cost = np.full((ti.size, pj.size), big)
        cost[ti_inv, pj_inv] = dist[sel]
        r, c = linear_sum_assignment(cost)
        ok = cost[r, c] < big
        pairs.extend(zip(ti[r[ok]].tolist(), pj[c[ok]].tolist(), strict=True))
    return sorted(pairs)


def detection_counts(
    truth: np.ndarray, pred: np.ndarray, radius: float = DEFAULT_RADIUS
) -> tuple[int, int, int]:
    """``(TP, FP, FN)`` of centre matching between two instance maps.

    Examples
    --------
    >>> t = np.zeros((5, 20), int); t[1:3, 1:3] = 1; t[1:3, 15:17] = 2
    >>> p = np.zeros_like(t); p[2:4, 2:4] = 7
    >>> detection_counts(t, p, 7.5)
    (1, 0, 1)
    """
    from vnet.instances import centroids

    _, ct = centroids(truth)
    _, cp = centroids(pred)
    tp = len(match_centroids(ct, cp, radius))
    return tp, len(cp) - tp, len(ct) - tp


def _overlaps(
    truth: np.ndarray, pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Areas of the true and predicted ids and the intersections of overlapping pairs.

    Returns ``(t_ids, t_area, p_ids, p_area, pairs)`` where ``pairs`` is ``(k, 3)``:
    index into ``t_ids``, index into ``p_ids``, intersection in pixels.
    """
    t = np.asarray(truth, np.int64).ravel()
    p = np.asarray(pred, np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"shapes differ: {np.shape(truth)} and {np.shape(pred)}")
    t_ids, t_area = np.unique(t[t > 0], return_counts=True)
    p_ids, p_area = np.unique(p[p > 0], return_counts=True)
    both = (t > 0) & (p > 0)
    if not both.any():
        return t_ids, t_area, p_ids, p_area, np.zeros((0, 3), np.int64)
    key, inter = np.unique(np.stack([t[both], p[both]]), axis=1, return_counts=True)
    ti = np.searchsorted(t_ids, key[0])
    pj = np.searchsorted(p_ids, key[1])
    return t_ids, t_area, p_ids, p_area, np.stack([ti, pj, inter], axis=1)


def panoptic_counts(truth: np.ndarray, pred: np.ndarray) -> tuple[int, int, int, float]:
    """``(TP, FP, FN, sum of the matched IoUs)`` of panoptic matching (IoU > 1/2).

    Examples
    --------
    >>> t = np.zeros((4, 8), int); t[0:2, 0:2] = 1; t[0:2, 4:8] = 2
    >>> p = np.zeros_like(t); p[0:2, 0:2] = 5; p[0:2, 4:5] = 6
    >>> panoptic_counts(t, p)          # 5 = 1 exactly; 6 covers a quarter of 2
    (1, 1, 1, 1.0)
    """
    t_ids, t_area, p_ids, p_area, pairs = _overlaps(truth, pred)
    if pairs.size:
        ti, pj, inter = pairs.T
        iou = inter / (t_area[ti] + p_area[pj] - inter)
        matched = iou > 0.5
        tp, iou_sum = int(matched.sum()), float(iou[matched].sum())
    else:
        tp, iou_sum = 0, 0.0
    return tp, int(p_ids.size) - tp, int(t_ids.size) - tp, iou_sum


def aji_counts(truth: np.ndarray, pred: np.ndarray) -> tuple[int, int]:
    """``(intersection, union)`` sums of the aggregated Jaccard index (module docstring).

    Examples
    --------
    >>> t = np.zeros((2, 6), int); t[:, 0:2] = 1; t[:, 4:6] = 2
    >>> p = np.zeros_like(t); p[:, 0:3] = 1       # pairs with 1: 4 of 6; 2 has no overlap
    >>> aji_counts(t, p)
    (4, 10)
    """
    t_ids, t_area, p_ids, p_area, pairs = _overlaps(truth, pred)
    inter_sum = union_sum = 0
    used = np.zeros(p_ids.size, dtype=bool)
    paired = np.zeros(t_ids.size, dtype=bool)
    if pairs.size:
        ti, pj, inter = pairs.T
        union = t_area[ti] + p_area[pj] - inter
        iou = inter / union
        # per true instance the pair of largest IoU (ties: the lower predicted id)
        order = np.lexsort((pj, -iou, ti))
        first = np.ones(order.size, dtype=bool)
        first[1:] = ti[order][1:] != ti[order][:-1]
        best = order[first]
        inter_sum = int(inter[best].sum())
        union_sum = int(union[best].sum())
        used[pj[best]] = True
        paired[ti[best]] = True
    union_sum += int(t_area[~paired].sum()) + int(p_area[~used].sum())
    return inter_sum, union_sum
