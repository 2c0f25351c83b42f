"""Scores of real_slides.py: detection matching, CRCHP points inside a mask, set totals.

Pure functions of arrays (no files): :func:`components` and :func:`instance_centres` give the
predicted nuclei's centroids, :func:`match_count` pairs them one-to-one with the truth,
:func:`detections` counts both kinds; :func:`score_mask_image` (PUMA, NuCLS: pixel counts and
tumour-nucleus detection) and :func:`score_point_image` (CRCHP: points inside the mask per
class, epithelial detection) score one image, :func:`total` pools a set's images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: CRCHP point classes as the CSV names them
EPI, INFL, FIB, OTHERS = "epithelial", "inflammatory", "fibroblast", "others"
#: centre-matching radii at 20x: PUMA challenge 15 px at 40x; CRCHP README's 6 px
RADIUS_NUCLEI = 7.5
RADIUS_CRCHP = 6.0


def components(mask: np.ndarray, min_area: int = 0) -> np.ndarray:
    """Centroids ``(n, 2)`` (row, col) of the 8-connected components of ``mask``.

    Components smaller than ``min_area`` pixels are dropped.

    Examples
    --------
    >>> m = np.zeros((5, 6), bool); m[1:3, 1:3] = True; m[4, 5] = True
    >>> components(m).tolist(), components(m, min_area=2).tolist()
    ([[1.5, 1.5], [4.0, 5.0]], [[1.5, 1.5]])
    """
    from scipy import ndimage as ndi

    labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros((0, 2))
    ids = np.arange(1, n + 1)
    if min_area > 0:
        ids = ids[np.bincount(labels.ravel(), minlength=n + 1)[1:] >= min_area]
    if ids.size == 0:
        return np.zeros((0, 2))
    return np.asarray(ndi.center_of_mass(mask, labels, ids), float).reshape(-1, 2)


def instance_centres(instances: np.ndarray) -> np.ndarray:
    """Centroids ``(n, 2)`` (row, col) of the labelled instances (``predict``'s NAME_instances).

    Examples
    --------
    >>> lab = np.zeros((4, 6), np.int64); lab[0:2, 0:2] = 1; lab[0:2, 2:4] = 2
    >>> instance_centres(lab).tolist()
    [[0.5, 0.5], [0.5, 2.5]]
    """
    from scipy import ndimage as ndi

    ids = np.unique(instances[instances > 0])
    if ids.size == 0:
        return np.zeros((0, 2))
    return np.asarray(ndi.center_of_mass(instances > 0, instances, ids), float).reshape(-1, 2)


def match_count(pred: np.ndarray, truth: np.ndarray, radius: float) -> int:
    """Number of one-to-one pairs of ``pred`` and ``truth`` points within ``radius``.

    A maximum-cardinality matching (ties broken by the smallest summed distance):
    :func:`scipy.optimize.linear_sum_assignment` on the distances, with pairs farther
    than ``radius`` priced above any sum of allowed distances.

    Examples
    --------
    >>> p = np.array([[0.0, 0.0], [0.0, 5.0]]); t = np.array([[0.0, 3.0], [9.0, 9.0]])
    >>> match_count(p, t, 3.5), match_count(p, t, 1.0)
    (1, 0)
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    if len(pred) == 0 or len(truth) == 0:
        return 0
    d = cdist(pred, truth)
    near = d <= radius
    rows, cols = np.nonzero(near.any(1))[0], np.nonzero(near.any(0))[0]
    if rows.size == 0:
        return 0
    d = d[np.ix_(rows, cols)]
    cost = np.where(d <= radius, d, radius * (min(d.shape) + 1) + 1.0)
    r, c = linear_sum_assignment(cost)
    return int(np.count_nonzero(d[r, c] <= radius))


def _f1(tp: int, n_pred: int, n_truth: int) -> dict[str, float | int]:
    """Detection counts with precision, recall and F1 (0 when undefined)."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_truth if n_truth else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "pred": n_pred, "truth": n_truth, "precision": p, "recall": r, "f1": f1}


def detections(
    pred: np.ndarray,
    truth: np.ndarray,
    radius: float,
    min_area: int,
    pred_instances: np.ndarray | None = None,
) -> dict[str, dict[str, float | int]]:
    """Detection counts of one image against the ``(n, 2)`` truth centres.

    ``detection``: the centroids of the mask's components (at least ``min_area`` px);
    ``detection_instances`` (with ``pred_instances``): those of the nuclei that ``predict``
    wrote (its watershed split, NAME_instances.png). Each matched within ``radius``.
    """
    found = components(pred, min_area)
    out = {"detection": _f1(match_count(found, truth, radius), len(found), len(truth))}
    if pred_instances is not None:
        nuclei = instance_centres(pred_instances)
        hit = match_count(nuclei, truth, radius)
        out["detection_instances"] = _f1(hit, len(nuclei), len(truth))
    return out


def score_mask_image(
    pred: np.ndarray,
    truth: np.ndarray,
    inst: np.ndarray,
    min_area: int,
    pred_instances: np.ndarray | None = None,
) -> dict:
    """Pixel counts and tumour-nucleus detection (:func:`detections`) of one PUMA / NuCLS image."""
    from scipy import ndimage as ndi

    from vnet.metrics import pixel_scores

    px = pixel_scores(pred, truth)
    ids = np.unique(inst[truth & (inst > 0)])
    centres = np.asarray(ndi.center_of_mass(truth, inst, ids), float).reshape(-1, 2)
    found = detections(pred, centres, RADIUS_NUCLEI, min_area, pred_instances)
    return {**{k: px[k] for k in ("tp", "fp", "fn", "tn")}, **found}


def score_point_image(
    pred: np.ndarray,
    points: list[tuple[float, float, str]],
    min_area: int,
    pred_instances: np.ndarray | None = None,
) -> dict:
    """Points inside the mask per class and epithelial detection (:func:`detections`) of a tile."""
    h, w = pred.shape
    inside: dict[str, list[int]] = {c: [0, 0] for c in (EPI, INFL, FIB, OTHERS)}
    for x, y, cls in points:
        r, c = min(max(round(y), 0), h - 1), min(max(round(x), 0), w - 1)
        counts = inside.setdefault(cls, [0, 0])
        counts[0] += int(pred[r, c])
        counts[1] += 1
    epi = np.array([(y, x) for x, y, c in points if c == EPI]).reshape(-1, 2)
    return {"inside": inside, **detections(pred, epi, RADIUS_CRCHP, min_area, pred_instances)}


def total(images: list[dict], points: bool) -> dict[str, Any]:
    """Micro totals over a set's images (pixel counts, inside counts, detections)."""
    out: dict[str, Any] = {"images": len(images)}
    for key in ("detection", "detection_instances"):
        if not images or not all(key in i for i in images):
            continue
        tp = sum(i[key]["tp"] for i in images)
        n_pred = sum(i[key]["pred"] for i in images)
        n_truth = sum(i[key]["truth"] for i in images)
        out[key] = _f1(tp, n_pred, n_truth)
    if points:
        for cls in (EPI, INFL, FIB, OTHERS):
            hit = sum(i["inside"].get(cls, [0, 0])[0] for i in images)
            n = sum(i["inside"].get(cls, [0, 0])[1] for i in images)
            out[f"{cls}_inside"] = hit / n if n else 0.0
            out[f"{cls}_points"] = n
        out["balanced"] = (out[f"{EPI}_inside"] + 1.0 - out[f"{INFL}_inside"]) / 2
    else:
        s = {k: sum(i[k] for i in images) for k in ("tp", "fp", "fn", "tn")}
        n = sum(s.values())
        out["accuracy"] = (s["tp"] + s["tn"]) / n if n else 1.0
        den = 2 * s["tp"] + s["fp"] + s["fn"]
        out["dice"] = 2 * s["tp"] / den if den else 1.0
        out.update(s)
    return out
