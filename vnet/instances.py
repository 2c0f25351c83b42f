"""From per-class probabilities to a class map and nucleus instances.

``synthlang predict`` and ``synthlang evaluate`` share these rules:

* **class map** (:func:`label_map`): pixel class ``argmax_k m_k + 1`` where
  ``max_k m_k >= threshold`` (1/2 by default, the paper's threshold), else 0
  (background); ties go to the lower class id. For ``K = 1`` this is the paper's
  mask ``m_T >= 1/2``.
* **filled regions** (:func:`fill_regions`, from :mod:`synthlang.common.regions`, where
  asked): each class's cracks up to two pixels wide closed (a binary closing with the
  4-neighbour cross) and its holes filled, on background pixels only, so that a nucleus
  predicted as a ring or in fragments is one region.
* **instances** (:func:`split_instances`): the 8-connected components of each class,
  each split by a distance-transform watershed: markers are the local maxima of the
  Euclidean distance to the background (``skimage.feature.peak_local_max``, at least
  ``min_distance`` pixels apart; a flat maximum, a plateau, is one marker), the
  flooding is ``skimage.segmentation.watershed`` of ``-distance`` inside the component
  (8-connected). A component without a marker (none that far from another) is one
  instance. Instance ids are ``1 .. n``, class by class and then in raster order of the
  markers, so they are deterministic.

The default ``min_distance`` is :data:`MIN_DISTANCE` = 6 px: about half the diameter of a
small nucleus at 20x (0.5 um/px, nuclei about 6-10 um across), so two touching nuclei
get two markers while an elongated one keeps one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage as ndi

from synthlang.common.errors import DataError
from synthlang.common.regions import fill_regions

__all__ = [
    "MIN_DISTANCE",
    "MAX_INSTANCES",
    "label_map",
    "fill_regions",
    "remove_small_regions",
    "split_instances",
    "instance_classes",
    "instance_means",
    "centroids",
]

MIN_DISTANCE = 6
"""Default least distance (px) between two watershed markers; suits 20x (0.5 um/px)."""
MAX_INSTANCES = 65535
"""Most instances an instance map holds (a 16-bit PNG)."""
MIN_AREA_UM2 = 4.0
"""Default least area (square micrometres) of a predicted region; as whole-slide prediction."""

_EIGHT = np.ones((3, 3), dtype=bool)


def label_map(probabilities: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The class map of per-class probabilities.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(H, W)`` (one class) or ``(H, W, K)`` in ``[0, 1]``.
    threshold : float
        Least probability of a class pixel.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` uint8: ``argmax + 1`` where the maximum is at least ``threshold``,
        else 0.

    Examples
    --------
    >>> p = np.array([[[0.2, 0.7], [0.6, 0.1], [0.3, 0.4]]])
    >>> label_map(p).tolist()
    [[2, 1, 0]]
    >>> label_map(np.array([[0.5, 0.49]])).tolist()
    [[1, 0]]
    """
    m = np.asarray(probabilities)
    if m.ndim == 2:
        return (m >= threshold).astype(np.uint8)
    if m.ndim != 3 or m.shape[2] < 1:
        raise ValueError(f"probabilities must be (H, W) or (H, W, K), got shape {m.shape}")
    top = m.max(axis=2)
    ids = m.argmax(axis=2) + 1
    return np.where(top >= threshold, ids, 0).astype(np.uint8)


def remove_small_regions(labels: np.ndarray, min_area: int) -> np.ndarray:
    """The class map without its 8-connected regions (per class) of fewer than ``min_area`` px.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` integer class ids, 0 = background.
    min_area : int
        Least area in pixels of a region that is kept (0 or 1: keep everything).

    Returns
    -------
    numpy.ndarray
        A copy of ``labels`` (same dtype) with the small regions set to 0.

    Examples
    --------
    >>> lab = np.zeros((5, 8), np.uint8)
    >>> lab[1:4, 1:4] = 1         # 9 px
    >>> lab[0, 7] = 2             # a one-pixel speck
    >>> int(remove_small_regions(lab, 4).sum()), int(remove_small_regions(lab, 10).sum())
    (9, 0)
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {lab.shape}")
    out = lab.copy()
    if min_area <= 1:
        return out
    for k in np.unique(lab):
        if k == 0:
            continue
        regions, _ = ndi.label(lab == k, structure=_EIGHT)
        small = np.bincount(regions.ravel()) < min_area
        small[0] = False
        out[small[regions]] = 0
    return out


def _split_component_mask(mask: np.ndarray, min_distance: int) -> tuple[np.ndarray, int]:
    """Watershed split of a boolean mask: ``(labels int32, count)``."""
    from skimage.feature import peak_local_max
    from skimage.morphology import local_maxima
    from skimage.segmentation import watershed

    components, n = ndi.label(mask, structure=_EIGHT)
    if n == 0:
        return components.astype(np.int32), 0
    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(
        distance,
        min_distance=max(1, int(min_distance)),
        labels=components,
        exclude_border=False,
    )
    # a marker is a whole regional maximum (a plateau of the distance is one marker)
    plateaus, n_plateaus = ndi.label(
        local_maxima(distance, connectivity=2, allow_borders=True) & mask, structure=_EIGHT
    )
    kept = np.unique(plateaus[tuple(peaks.T)])
    kept = kept[kept > 0]
    renumber = np.zeros(n_plateaus + 1, dtype=np.int32)
    renumber[kept] = np.arange(1, kept.size + 1, dtype=np.int32)
    markers, n_markers = renumber[plateaus], int(kept.size)
    # a component without a marker keeps one: the first pixel of its largest distance
    has_marker = np.zeros(n + 1, dtype=bool)
    has_marker[components[markers > 0]] = True
    missing = np.nonzero(~has_marker[1:])[0] + 1
    if missing.size:
        where = ndi.maximum_position(distance, components, missing)
        for k, pos in enumerate(where, start=1):
            markers[pos] = n_markers + k
        n_markers += missing.size
    split = watershed(-distance, markers, mask=mask, connectivity=2)
    # renumber in raster order of the first pixel, so ids do not depend on the markers
    uniq, first = np.unique(split.ravel(), return_index=True)
    keep = uniq > 0
    uniq, first = uniq[keep], first[keep]
    if uniq.size == 0:
        return split.astype(np.int32), 0
    lookup = np.zeros(int(uniq.max()) + 1, dtype=np.int32)
    lookup[uniq[np.argsort(first)]] = np.arange(1, uniq.size + 1, dtype=np.int32)
    return lookup[split], int(uniq.size)


def split_instances(
    labels: np.ndarray, n_classes: int | None = None, min_distance: int = MIN_DISTANCE
) -> tuple[np.ndarray, dict[int, int]]:
    """Nucleus instances of a class map (see the module docstring).

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` integer class ids, 0 = background.
    n_classes : int, optional
        Classes to split (ids ``1 .. n_classes``); default: up to the largest id.
    min_distance : int
        Least distance in pixels between two markers of the watershed.

    Returns
    -------
    (numpy.ndarray, dict)
        The instance map ``(H, W)`` uint16 (ids ``1 .. n``, 0 = background) and the
        class id of every instance id.

    Raises
    ------
    DataError
        More than :data:`MAX_INSTANCES` instances.

    Examples
    --------
    >>> lab = np.zeros((9, 20), np.uint8)
    >>> yy, xx = np.mgrid[:9, :20]
    >>> lab[(yy - 4) ** 2 + (xx - 4) ** 2 <= 16] = 1    # two touching discs of class 1
    >>> lab[(yy - 4) ** 2 + (xx - 11) ** 2 <= 16] = 1
    >>> lab[0:2, 17:20] = 2                             # a small object of class 2
    >>> inst, cls = split_instances(lab, min_distance=3)
    >>> int(inst.max()), cls
    (3, {1: 1, 2: 1, 3: 2})
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {lab.shape}")
    k_max = int(lab.max(initial=0)) if n_classes is None else int(n_classes)
    out = np.zeros(lab.shape, dtype=np.int64)
    class_of: dict[int, int] = {}
    next_id = 1
    for k in range(1, k_max + 1):
        mask = lab == k
        if not mask.any():
            continue
        split, n = _split_component_mask(mask, min_distance)
        if n == 0:
            continue
        out[split > 0] = split[split > 0] + (next_id - 1)
        class_of.update({i: k for i in range(next_id, next_id + n)})
        next_id += n
    if next_id - 1 > MAX_INSTANCES:
        raise DataError(
            f"{next_id - 1} instances do not fit a 16-bit instance map (at most "
            f"{MAX_INSTANCES}); predict the image in parts"
        )
    return out.astype(np.uint16), class_of


def instance_classes(instances: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """The class of every instance: the most frequent class id among its pixels.

    Examples
    --------
    >>> inst = np.array([[1, 1, 2]]); lab = np.array([[3, 3, 1]])
    >>> instance_classes(inst, lab)
    {1: 3, 2: 1}
    """
    inst = np.asarray(instances, dtype=np.int64).ravel()
    lab = np.asarray(labels, dtype=np.int64).ravel()
    on = inst > 0
    if not on.any():
        return {}
    pairs, counts = np.unique(np.stack([inst[on], lab[on]]), axis=1, return_counts=True)
    best: dict[int, tuple[int, int]] = {}
    for (i, k), c in zip(pairs.T.tolist(), counts.tolist(), strict=True):
        if i not in best or c > best[i][0]:  # ties: the lower class id (sorted first)
            best[i] = (c, k)
    return {i: k for i, (_, k) in best.items()}


def instance_means(
    instances: np.ndarray, values: np.ndarray, class_of: Mapping[int, int]
) -> dict[int, float]:
    """Mean of ``values[..., class - 1]`` over each instance's pixels.

    Parameters
    ----------
    instances : numpy.ndarray
        ``(H, W)`` instance ids.
    values : numpy.ndarray
        ``(H, W)`` (one class) or ``(H, W, K)`` per-class values (probabilities).
    class_of : mapping of int to int
        Class id of each instance id.

    Examples
    --------
    >>> inst = np.array([[1, 1, 2]]); p = np.array([[[0.6, 0.1], [0.8, 0.0], [0.2, 0.9]]])
    >>> {i: round(v, 3) for i, v in instance_means(inst, p, {1: 1, 2: 2}).items()}
    {1: 0.7, 2: 0.9}
    """
    inst = np.asarray(instances, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim == 2:
        vals = vals[..., None]
    n = int(inst.max(initial=0)) + 1
    counts = np.bincount(inst.ravel(), minlength=n)
    means: dict[int, float] = {}
    for k in sorted(set(class_of.values())):
        sums = np.bincount(inst.ravel(), weights=vals[..., k - 1].ravel(), minlength=n)
        for i, c in class_of.items():
            if c == k and 0 < i < n and counts[i]:
                means[i] = float(sums[i] / counts[i])
    return dict(sorted(means.items()))


def centroids(instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids and centroids ``(row, column)`` of the instances of an instance map.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The ids present (ascending) ``(n,)`` and their centroids ``(n, 2)`` float64.

    Examples
    --------
    >>> ids, c = centroids(np.array([[0, 3, 3], [0, 0, 3]]))
    >>> ids.tolist(), c.round(3).tolist()
    ([3], [[0.333, 1.667]])
    """
    inst = np.asarray(instances, dtype=np.int64)
    flat = inst.ravel()
    n = int(flat.max(initial=0)) + 1
    counts = np.bincount(flat, minlength=n)
    ids = np.nonzero(counts)[0]
    ids = ids[ids > 0]
    if ids.size == 0:
        return ids, np.zeros((0, 2))
    rows, cols = np.indices(inst.shape)
    r = np.bincount(flat, weights=rows.ravel(), minlength=n)[ids] / counts[ids]
    c = np.bincount(flat, weights=cols.ravel(), minlength=n)[ids] / counts[ids]
    return ids, np.stack([r, c], axis=1)
