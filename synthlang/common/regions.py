"""Region clean-up shared by image and whole-slide prediction.

:func:`fill_regions` closes cracks up to two pixels wide and fills holes in every class of a
class map; :func:`complete_nuclei` extends a class map over the whole of every nucleus (of a
separate nucleus segmentation) that it covers at least in half; :func:`neighbour_nuclei` adds
the nuclei of fair probability that lie among marked ones. ``vnet.predict``
(``synthlang predict`` on images) and :mod:`synthlang.slides.predict` (whole slides) both use
them, so the two paths give the same regions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = [
    "NEIGHBOUR_COUNT",
    "NEIGHBOUR_DISTANCE_UM",
    "NEIGHBOUR_PROBABILITY",
    "WHOLE_NUCLEUS_FRACTION",
    "complete_nuclei",
    "fill_regions",
    "neighbour_nuclei",
]

#: Share of a nucleus that a class map must cover for :func:`complete_nuclei` to complete it
WHOLE_NUCLEUS_FRACTION = 0.5
#: :func:`neighbour_nuclei`: the mean probability a nucleus needs (half the mask threshold),
#: the marked nuclei it needs around it, and within what distance of its centre (um)
NEIGHBOUR_PROBABILITY = 0.25
NEIGHBOUR_COUNT = 2
NEIGHBOUR_DISTANCE_UM = 15.0


def fill_regions(labels: np.ndarray) -> np.ndarray:
    """The class map with each class's cracks up to two pixels wide closed and its holes filled.

    Per class id (in increasing order): a binary closing with the 4-neighbour cross (a
    dilation then an erosion; the image border counts as background) joins pieces of a
    region one or two pixels apart, then every hole of the result is filled
    (``scipy.ndimage.binary_fill_holes``). Only background pixels change: a pixel of
    another class is never taken over, and no pixel of a class is removed. Nuclei are
    simply connected, so a nucleus predicted as a ring (a pale, vesicular interior) or in
    fragments becomes one region.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` integer class ids, 0 = background.

    Returns
    -------
    numpy.ndarray
        A copy of ``labels`` (same dtype) with the cracks and holes of each class filled.

    Examples
    --------
    >>> lab = np.zeros((7, 7), np.uint8)
    >>> lab[1:6, 1:6] = 1
    >>> lab[3, 3] = 0               # a hole
    >>> lab[1:6, 3] = 0             # ... in a region cut in two by a one-pixel crack
    >>> ndi.label(lab)[1], ndi.label(fill_regions(lab))[1]     # two pieces, then one
    (2, 1)
    >>> int((lab > 0).sum()), int((fill_regions(lab) > 0).sum())   # the crack's ends stay
    (20, 23)
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {lab.shape}")
    out = lab.copy()
    cross = ndi.generate_binary_structure(2, 1)
    for k in np.unique(lab):
        if k == 0:
            continue
        # padded by one pixel so that the erosion sees background beyond the border
        region = np.pad(lab == k, 1)
        closed = ndi.binary_closing(region, structure=cross)[1:-1, 1:-1]
        filled = ndi.binary_fill_holes(closed)
        out[filled & (out == 0)] = k
    return out


def complete_nuclei(
    labels: np.ndarray, nuclei: np.ndarray, fraction: float = WHOLE_NUCLEUS_FRACTION
) -> np.ndarray:
    """The class map extended over every nucleus that it covers at least in ``fraction``.

    ``nuclei`` is a nucleus segmentation made without the network (for H&E:
    :func:`synthlang.nuclei.segment_nuclei`). A nucleus of which at least ``fraction`` of
    the pixels carry a class gets that class on its remaining background pixels -- the
    class most of its labelled pixels carry (ties: the lower id). Nuclei covered less are
    left as they are, and no labelled pixel changes. A network that marks a pale nucleus
    only on its darker chromatin or its membrane thus marks all of it.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` integer class ids, 0 = background.
    nuclei : numpy.ndarray
        ``(H, W)`` integer nucleus ids, 0 = not a nucleus.
    fraction : float, optional
        In ``(0, 1]``; default :data:`WHOLE_NUCLEUS_FRACTION`.

    Returns
    -------
    numpy.ndarray
        A copy of ``labels`` (same dtype).

    Examples
    --------
    >>> lab = np.zeros((1, 8), np.uint8)
    >>> lab[0, 1:3] = 1                         # 2 of nucleus 1's 3 pixels
    >>> lab[0, 5] = 2                           # 1 of nucleus 2's 3 pixels
    >>> nuc = np.array([[0, 1, 1, 1, 2, 2, 2, 0]])
    >>> complete_nuclei(lab, nuc).tolist()
    [[0, 1, 1, 1, 0, 2, 0, 0]]
    """
    lab = np.asarray(labels)
    nuc = np.asarray(nuclei)
    if lab.ndim != 2 or nuc.shape != lab.shape:
        raise ValueError(f"labels and nuclei must be the same (H, W), got {lab.shape}, {nuc.shape}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    out = lab.copy()
    if lab.size == 0 or not nuc.any():
        return out
    ids, cls, counts = _class_counts(lab, nuc)
    n, k = counts.shape
    size = counts.sum(axis=1)
    covered = size - counts[:, 0]
    complete = (covered > 0) & (covered >= fraction * size)
    complete[0] = False
    fill = np.zeros(n, np.int64)
    if k > 1:
        fill[complete] = 1 + np.argmax(counts[complete, 1:], axis=1)
    take = complete[ids] & (cls == 0)
    out.ravel()[take] = fill[ids[take]].astype(out.dtype)
    return out


def neighbour_nuclei(
    labels: np.ndarray,
    nuclei: np.ndarray,
    probs: np.ndarray,
    distance: float,
    probability: float = NEIGHBOUR_PROBABILITY,
    count: int = NEIGHBOUR_COUNT,
) -> np.ndarray:
    """The class map with the unmarked nuclei that lie among marked nuclei of a class added.

    Tumour cells grow in groups, and a network that is unsure of one nucleus of a group is
    often sure of its neighbours. A nucleus of ``nuclei`` that ``labels`` covers less than in
    half joins class ``c`` when its mean probability of ``c`` is at least ``probability`` and
    at least ``count`` nuclei of class ``c`` (covered at least in half, the class most of
    their labelled pixels carry) have their centre within ``distance`` pixels of its centre;
    of several such classes, the most probable. One pass: an added nucleus does not count
    for another. Only background pixels change.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` integer class ids, 0 = background.
    nuclei : numpy.ndarray
        ``(H, W)`` integer nucleus ids, 0 = not a nucleus.
    probs : numpy.ndarray
        ``(K, H, W)`` class probabilities (``(H, W)`` for one class); ``labels`` holds ids
        ``1..K``.
    distance : float
        Largest distance between centres, in pixels (:data:`NEIGHBOUR_DISTANCE_UM` over the
        pixel size for predict).
    probability : float, optional
        Least mean probability of a nucleus that joins.
    count : int, optional
        Least number of marked neighbours.

    Returns
    -------
    numpy.ndarray
        A copy of ``labels`` (same dtype).

    Examples
    --------
    >>> nuc = np.zeros((1, 12), np.int32)
    >>> nuc[0, 0:2], nuc[0, 3:5], nuc[0, 6:8], nuc[0, 10:12] = 1, 2, 3, 4
    >>> lab = np.isin(nuc, [1, 3]).astype(np.uint8)      # nuclei 1 and 3 marked
    >>> p = np.full((1, 12), 0.3, np.float32)
    >>> neighbour_nuclei(lab, nuc, p, distance=4).tolist()   # 2 lies between 1 and 3, 4 not
    [[1, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0]]
    >>> neighbour_nuclei(lab, nuc, p * 0.5, distance=4).tolist() == lab.tolist()
    True
    """
    from scipy.spatial import cKDTree

    lab = np.asarray(labels)
    nuc = np.asarray(nuclei)
    prob = np.asarray(probs)
    if prob.ndim == 2:
        prob = prob[None]
    if lab.ndim != 2 or nuc.shape != lab.shape or prob.shape[1:] != lab.shape:
        raise ValueError(
            f"labels, nuclei and probs must share (H, W), got {lab.shape}, {nuc.shape}, "
            f"{prob.shape}"
        )
    if distance < 0 or count < 1 or not 0.0 <= probability <= 1.0:
        raise ValueError(
            f"need distance >= 0, count >= 1 and probability in [0, 1], got {distance}, "
            f"{count}, {probability}"
        )
    out = lab.copy()
    if lab.size == 0 or not nuc.any():
        return out
    ids, cls, counts = _class_counts(lab, nuc, prob.shape[0])
    n = counts.shape[0]
    size = counts.sum(axis=1)
    present = size > 0
    present[0] = False
    marked = present & (size - counts[:, 0] >= WHOLE_NUCLEUS_FRACTION * size)
    klass = np.where(marked, 1 + np.argmax(counts[:, 1:], axis=1), 0)
    safe = np.maximum(size, 1)
    h, w = lab.shape  # one full-size float64 array at a time (images may be large)
    centres = np.empty((n, 2))
    centres[:, 0] = np.bincount(ids, np.repeat(np.arange(h, dtype=np.float64), w), n) / safe
    centres[:, 1] = np.bincount(ids, np.tile(np.arange(w, dtype=np.float64), h), n) / safe
    mean = np.stack([np.bincount(ids, q.ravel(), n) / safe for q in prob])  # (K, n)
    candidates = np.flatnonzero(present & ~marked)
    join = np.zeros(n, np.int64)
    for c in range(1, prob.shape[0] + 1):
        group = np.flatnonzero(klass == c)
        if len(group) < count:
            continue
        near = cKDTree(centres[group]).query_ball_point(centres[candidates], distance)
        many = np.array([len(j) >= count for j in near], bool).reshape(-1)
        ok = candidates[many & (mean[c - 1, candidates] >= probability)]
        better = (join[ok] == 0) | (mean[c - 1, ok] > mean[np.maximum(join[ok], 1) - 1, ok])
        join[ok[better]] = c
    take = (join[ids] > 0) & (cls == 0)
    out.ravel()[take] = join[ids[take]].astype(out.dtype)
    return out


def _class_counts(
    lab: np.ndarray, nuc: np.ndarray, n_classes: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat nucleus and class ids, and each nucleus's pixels per class id (column 0: none)."""
    ids = nuc.astype(np.int64).ravel()
    cls = lab.astype(np.int64).ravel()
    n, k = int(ids.max()) + 1, max(int(cls.max()), n_classes) + 1
    counts = np.bincount(ids * k + cls, minlength=n * k).reshape(n, k)
    return ids, cls, counts
