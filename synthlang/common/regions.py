"""Region clean-up shared by image and whole-slide prediction.

:func:`fill_regions` closes cracks up to two pixels wide and fills holes in every class of a
class map; :func:`complete_nuclei` extends a class map over the whole of every nucleus (of a
separate nucleus segmentation) that it covers at least in half. ``vnet.predict``
(``synthlang predict`` on images) and :mod:`synthlang.slides.predict` (whole slides) both use
them, so the two paths give the same regions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["WHOLE_NUCLEUS_FRACTION", "complete_nuclei", "fill_regions"]

#: Share of a nucleus that a class map must cover for :func:`complete_nuclei` to complete it
WHOLE_NUCLEUS_FRACTION = 0.5


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
    ids = nuc.astype(np.int64).ravel()
    cls = lab.astype(np.int64).ravel()
    n, k = int(ids.max()) + 1, int(cls.max()) + 1
    # pixels of each nucleus per class id (column 0: background)
    counts = np.bincount(ids * k + cls, minlength=n * k).reshape(n, k)
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
