"""``synthlang fit --auto``: find and classify nuclei without annotations.

:func:`detect_nuclei` segments nuclei by colour deconvolution, multi-Otsu
thresholds and a distance-transform watershed, and classifies them by the
size, shape and darkness thresholds of :class:`AutoRule`. Point annotations
(:mod:`synthlang.fit.points`) use the same segmentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import threshold_multiotsu
from skimage.segmentation import watershed

from synthlang.common.units import DEFAULT_PIXEL_SIZE_UM
from synthlang.stats import hematoxylin, object_shapes

__all__ = ["ASSUMED_PIXEL_SIZE_UM", "AutoRule", "detect_nuclei", "disk"]

ASSUMED_PIXEL_SIZE_UM = DEFAULT_PIXEL_SIZE_UM
"""Pixel size (µm/px) assumed at the working scale when none is given: 20x, as in the paper."""


@dataclass(frozen=True)
class AutoRule:
    """Thresholds of the ``--auto`` nucleus detector and classifier, in µm.

    Lengths are converted to pixels with the working pixel size. Every
    detected nucleus gets one class, checked in this order:

    1. ``stroma`` -- spindle-shaped: minor / major semi-axis < ``elongated_ratio``;
    2. ``lymphocyte`` -- small, round and dark: equivalent radius <=
       ``lymphocyte_max_radius_um``, minor / major >= ``round_ratio`` and at
       least ``dark_fraction`` of its pixels above the upper of the two
       multi-Otsu haematoxylin thresholds;
    3. ``tumor`` -- equivalent radius >= ``tumor_min_radius_um``;
    4. ``other`` -- everything else (small and pale: fragments, tangential cuts).

    Nuclei with an equivalent radius below ``min_radius_um`` are discarded.
    The defaults were chosen on the PUMA FIT half (rows 0-511 of
    ``training_set_metastatic_roi_094`` at 20x): of the detected nuclei that
    match an annotated one (IoU >= 0.3), 84 of 97 tumour and 93 of 113
    lymphocyte nuclei get their annotated class (``docs/fit.md``).
    """

    min_radius_um: float = 1.2
    lymphocyte_max_radius_um: float = 4.0
    tumor_min_radius_um: float = 2.7
    dark_fraction: float = 0.5
    round_ratio: float = 0.5
    elongated_ratio: float = 0.45
    smooth_um: float = 0.5
    near_dark_um: float = 1.0
    split_distance_um: float = 1.5


def detect_nuclei(
    image: np.ndarray, *, pixel_size_um: float = ASSUMED_PIXEL_SIZE_UM, rule: AutoRule | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    """Find and classify nuclei in an H&E image without annotations.

    1. Haematoxylin channel of a colour deconvolution (:func:`~synthlang.stats.hematoxylin`),
       smoothed by a Gaussian of ``rule.smooth_um``.
    2. Two thresholds by three-class Otsu (``threshold_multiotsu``): pixels
       above the lower one are nucleus; within ``rule.near_dark_um`` of the
       dark class (above the upper one: lymphocytes, hyperchromatic nuclei)
       only dark pixels count, which separates packed dark nuclei.
    3. Opening with a 3 x 3 square, holes filled, debris removed.
    4. Touching nuclei split by a watershed of the sum of the normalised
       distance transform and the smoothed haematoxylin, from its local
       maxima at least ``rule.split_distance_um`` apart.
    5. Classes by :class:`AutoRule`.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    pixel_size_um : float, optional
        µm per pixel of ``image``.
    rule : AutoRule, optional
        Thresholds (default ``AutoRule()``).

    Returns
    -------
    labels : numpy.ndarray
        ``(rows, cols)`` int32 nucleus labels, 1..n.
    classes : dict
        Label -> ``"tumor"``, ``"lymphocyte"``, ``"stroma"`` or ``"other"``.
    """
    rule = rule or AutoRule()
    px = float(pixel_size_um)
    h = hematoxylin(image)
    hs = ndi.gaussian_filter(h, max(rule.smooth_um / px, 0.3))
    empty: tuple[np.ndarray, dict[int, str]] = (np.zeros(h.shape, np.int32), {})
    if float(hs.max() - hs.min()) < 1e-6 or np.unique(hs).size < 3:
        return empty
    try:
        low, high = threshold_multiotsu(hs, classes=3)
    except ValueError:  # too few distinct values for three classes
        return empty
    square = np.ones((3, 3), bool)
    dark = ndi.binary_opening(hs > high, structure=square)
    near = ndi.binary_dilation(dark, structure=disk(max(1, round(rule.near_dark_um / px))))
    fg = (hs > low) & ~(near & ~dark)
    fg = ndi.binary_opening(fg, structure=square)
    fg = ndi.binary_fill_holes(fg)
    min_area = math.pi * (rule.min_radius_um / px) ** 2
    comp, _ = ndi.label(fg)
    sizes = np.bincount(comp.ravel())
    fg = fg & (sizes[comp] >= min_area) & (comp > 0)
    if not fg.any():
        return empty
    dist = ndi.distance_transform_edt(fg)
    hm = ndi.gaussian_filter(h, 1.5)
    h_lo = float(hm[fg].min())
    score = dist / max(float(dist.max()), 1.0) + (hm - h_lo) / max(float(hm.max()) - h_lo, 1e-9)
    score = ndi.gaussian_filter(score, 0.7)
    comp, _ = ndi.label(fg)
    md = max(1, round(rule.split_distance_um / px))
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
    labels = _relabel(labels)
    shapes = object_shapes(labels)
    if shapes.ids.size == 0:
        return labels, {}
    dark_frac = ndi.mean((hs > high).astype(np.float64), labels, shapes.ids)
    req = shapes.equivalent_radius * px
    ratio = shapes.semi_minor / np.maximum(shapes.semi_major, 1e-9)
    classes: dict[int, str] = {}
    for k, ident in enumerate(shapes.ids.tolist()):
        if ratio[k] < rule.elongated_ratio:
            cls = "stroma"
        elif (
            req[k] <= rule.lymphocyte_max_radius_um
            and ratio[k] >= rule.round_ratio
            and dark_frac[k] >= rule.dark_fraction
        ):
            cls = "lymphocyte"
        elif req[k] >= rule.tumor_min_radius_um:
            cls = "tumor"
        else:
            cls = "other"
        classes[int(ident)] = cls
    return labels, classes


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
