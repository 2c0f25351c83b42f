"""Nucleus segmentation of H&E images by colour deconvolution, without a network.

:func:`segment_nuclei` finds nuclei by the haematoxylin channel, multi-Otsu thresholds and a
distance-transform watershed. ``synthlang fit --auto`` and point annotations classify its
nuclei (:func:`synthlang.fit.detect_nuclei`); ``synthlang predict --whole-nuclei`` completes
the nuclei that a network marked in part (:func:`synthlang.common.regions.complete_nuclei`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import threshold_multiotsu
from skimage.segmentation import watershed

from synthlang.stats import hematoxylin

__all__ = ["NucleusSegmentation", "disk", "segment_nuclei"]


@dataclass(frozen=True)
class NucleusSegmentation:
    """Nuclei of an image (:func:`segment_nuclei`).

    Attributes
    ----------
    labels : numpy.ndarray
        ``(rows, cols)`` int32 nucleus labels ``1..n``, 0 = not a nucleus.
    dark : numpy.ndarray
        ``(rows, cols)`` bool: the smoothed haematoxylin above the upper of the two
        multi-Otsu thresholds (dense chromatin: lymphocytes, hyperchromatic nuclei).
    """

    labels: np.ndarray
    dark: np.ndarray


def segment_nuclei(
    image: np.ndarray,
    *,
    pixel_size_um: float,
    min_radius_um: float = 1.2,
    smooth_um: float = 0.5,
    near_dark_um: float = 1.0,
    split_distance_um: float = 1.5,
) -> NucleusSegmentation:
    """Find the nuclei of an H&E image by colour deconvolution.

    1. Haematoxylin channel of a colour deconvolution (:func:`synthlang.stats.hematoxylin`),
       smoothed by a Gaussian of ``smooth_um``.
    2. Two thresholds by three-class Otsu (``threshold_multiotsu``): pixels above the lower
       one are nucleus; within ``near_dark_um`` of the dark class (above the upper one) only
       dark pixels count, which separates packed dark nuclei.
    3. Opening with a 3 x 3 square, holes filled, pieces with an equivalent radius below
       ``min_radius_um`` removed.
    4. Touching nuclei split by a watershed of the sum of the normalised distance transform
       and the smoothed haematoxylin, from its local maxima at least ``split_distance_um``
       apart.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    pixel_size_um : float
        µm per pixel of ``image``; every length above is converted with it.
    min_radius_um, smooth_um, near_dark_um, split_distance_um : float, optional
        The lengths of the steps above, in µm.

    Returns
    -------
    NucleusSegmentation
        The labels and the dark-chromatin mask; no nuclei (all zero) for an image without
        contrast.

    Examples
    --------
    >>> yy, xx = np.mgrid[:40, :40]
    >>> img = np.full((40, 40, 3), [0.9, 0.75, 0.85])
    >>> img[(yy - 20) ** 2 + (xx - 20) ** 2 <= 36] = [0.3, 0.25, 0.55]    # a nucleus
    >>> img[(yy - 8) ** 2 + (xx - 30) ** 2 <= 16] = [0.45, 0.35, 0.6]     # a paler one
    >>> int(segment_nuclei(img, pixel_size_um=0.5).labels.max())
    2
    """
    px = float(pixel_size_um)
    if not px > 0:
        raise ValueError(f"pixel_size_um must be > 0, got {pixel_size_um}")
    h = hematoxylin(image)
    hs = ndi.gaussian_filter(h, max(smooth_um / px, 0.3))
    none = NucleusSegmentation(np.zeros(h.shape, np.int32), np.zeros(h.shape, bool))
    if float(hs.max() - hs.min()) < 1e-6 or np.unique(hs).size < 3:
        return none
    try:
        low, high = threshold_multiotsu(hs, classes=3)
    except ValueError:  # too few distinct values for three classes
        return none
    square = np.ones((3, 3), bool)
    dark = ndi.binary_opening(hs > high, structure=square)
    near = ndi.binary_dilation(dark, structure=disk(max(1, round(near_dark_um / px))))
    fg = (hs > low) & ~(near & ~dark)
    fg = ndi.binary_opening(fg, structure=square)
    fg = ndi.binary_fill_holes(fg)
    min_area = math.pi * (min_radius_um / px) ** 2
    comp, _ = ndi.label(fg)
    sizes = np.bincount(comp.ravel())
    fg = fg & (sizes[comp] >= min_area) & (comp > 0)
    if not fg.any():
        return NucleusSegmentation(none.labels, hs > high)
    dist = ndi.distance_transform_edt(fg)
    hm = ndi.gaussian_filter(h, 1.5)
    h_lo = float(hm[fg].min())
    score = dist / max(float(dist.max()), 1.0) + (hm - h_lo) / max(float(hm.max()) - h_lo, 1e-9)
    score = ndi.gaussian_filter(score, 0.7)
    comp, _ = ndi.label(fg)
    md = max(1, round(split_distance_um / px))
    peaks = peak_local_max(score, min_distance=md, labels=comp, exclude_border=False)
    markers = np.zeros(fg.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # components without a peak (flat plateaus) get one marker at their maximum
    missing = np.setdiff1d(np.unique(comp[fg]), np.unique(comp[markers > 0]))
    if missing.size:
        pos = ndi.maximum_position(score, comp, missing)
        for k, (r, c) in enumerate(pos):
            markers[int(r), int(c)] = len(peaks) + 1 + k
    labels = watershed(-score, markers, mask=fg).astype(np.int32)
    sizes = np.bincount(labels.ravel())
    labels[sizes[labels] < min_area] = 0
    return NucleusSegmentation(_relabel(labels), hs > high)


def disk(radius: int) -> np.ndarray:
    """Boolean disk footprint of ``radius`` pixels (``(2 radius + 1)`` square)."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius**2


def _relabel(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    ids = ids[ids > 0]
    lut = np.zeros(int(labels.max(initial=0)) + 1, np.int32)
    lut[ids] = np.arange(1, ids.size + 1)
    return lut[labels]
