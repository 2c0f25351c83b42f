"""Where the tissue is: an Otsu mask on a low-resolution view of the slide.

:func:`thumbnail` reads a downsampled view strip by strip from the coarsest
pyramid level that is fine enough (memory: the thumbnail plus one strip), and
:func:`tissue_mask` thresholds its HSV saturation (stained tissue is coloured, glass
is white or gray; black scanner padding has no saturation) or its gray level with
Otsu's method (scikit-image), then removes specks and fills small holes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage as ndi

from synthlang.slides.reader import Slide

__all__ = [
    "MAX_MASK_MPP",
    "TissueMask",
    "default_mask_mpp",
    "thumbnail",
    "tissue_mask",
]

MAX_MASK_MPP = 16.0
"""Coarsest default tissue-mask pixel (micrometres)."""

_STRIP_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class TissueMask:
    """A boolean tissue mask on a coarse grid over level 0.

    Mask pixel ``(i, j)`` covers the level-0 rectangle
    ``[j scale, (j + 1) scale) x [i scale, (i + 1) scale)``.

    Attributes
    ----------
    mask : numpy.ndarray
        ``(rows, cols)`` bool.
    scale : float
        Level-0 pixels per mask pixel.
    mpp : float
        Mask pixel size in micrometres.
    threshold : float
        The Otsu threshold (on saturation or darkness, in ``[0, 1]``).
    """

    mask: np.ndarray
    scale: float
    mpp: float
    threshold: float = float("nan")

    @cached_property
    def _integral(self) -> np.ndarray:
        s = np.zeros((self.mask.shape[0] + 1, self.mask.shape[1] + 1), np.int64)
        np.cumsum(np.cumsum(self.mask, axis=0), axis=1, out=s[1:, 1:])
        return s

    def _cells(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        rows, cols = self.mask.shape
        c0 = min(max(int(math.floor(x0 / self.scale)), 0), cols)
        r0 = min(max(int(math.floor(y0 / self.scale)), 0), rows)
        c1 = min(max(int(math.ceil(x1 / self.scale)), 0), cols)
        r1 = min(max(int(math.ceil(y1 / self.scale)), 0), rows)
        return r0, c0, r1, c1

    def count(self, x0: float, y0: float, x1: float, y1: float) -> int:
        """Tissue pixels of the mask cells touching the level-0 box ``[x0, x1) x [y0, y1)``."""
        r0, c0, r1, c1 = self._cells(x0, y0, x1, y1)
        if r1 <= r0 or c1 <= c0:
            return 0
        s = self._integral
        return int(s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0])

    def touches(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        """Whether any tissue cell touches the level-0 box."""
        return self.count(x0, y0, x1, y1) > 0

    def region_mask(self, region: tuple[int, int, int, int] | None) -> np.ndarray:
        """The mask with cells outside ``region`` (level-0 ``x, y, w, h``) cleared."""
        if region is None:
            return self.mask
        x, y, w, h = region
        r0, c0, r1, c1 = self._cells(x, y, x + w, y + h)
        out = np.zeros_like(self.mask)
        out[r0:r1, c0:c1] = self.mask[r0:r1, c0:c1]
        return out

    def area_mm2(self, region: tuple[int, int, int, int] | None = None) -> float:
        """Tissue area in mm² (inside ``region`` if given; whole mask cells)."""
        n = int(np.count_nonzero(self.region_mask(region)))
        return n * (self.mpp / 1000.0) ** 2


def default_mask_mpp(slide: Slide) -> float:
    """About 1024 mask pixels along the longer side, between the slide's pixel and 16 um."""
    w, h = slide.dimensions
    longest_um = max(w, h) * slide.mpp
    return float(min(max(longest_um / 1024.0, slide.mpp), max(MAX_MASK_MPP, slide.mpp)))


def thumbnail(slide: Slide, mpp: float) -> tuple[np.ndarray, float]:
    """A view of the whole slide with ``mpp``-micrometre pixels, read strip by strip.

    Returns
    -------
    (numpy.ndarray, float)
        ``(rows, cols, 3)`` uint8 and its scale (level-0 pixels per thumbnail pixel;
        exactly ``mpp / slide.mpp``). The last row and column may extend past the
        slide (white).
    """
    scale = max(mpp / slide.mpp, 1.0)
    w0, h0 = slide.dimensions
    cols, rows = max(1, math.ceil(w0 / scale)), max(1, math.ceil(h0 / scale))
    level = slide.best_level(scale)
    dx, dy = slide.level_downsample_xy(level)
    row_bytes = 3 * (cols * scale / dx + 8) * (scale / dy)
    step = max(1, int(_STRIP_BYTES // max(row_bytes, 1.0)))
    out = np.empty((rows, cols, 3), np.uint8)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        out[r0:r1] = slide.read_scaled(
            0.0, r0 * scale, cols * scale, (r1 - r0) * scale, (cols, r1 - r0), level=level
        )
    return out, float(scale)


def _remove_small(mask: np.ndarray, max_size: int) -> np.ndarray:
    """Drop 8-connected components of at most ``max_size`` pixels."""
    if max_size <= 0 or not mask.any():
        return mask
    lab, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes > max_size
    keep[0] = False
    return np.asarray(keep[lab])


def tissue_mask(
    slide: Slide,
    *,
    mpp: float | None = None,
    channel: str = "saturation",
    min_tissue_um2: float = 20_000.0,
    max_hole_um2: float = 10_000.0,
    image: tuple[np.ndarray, float] | None = None,
) -> TissueMask:
    """Otsu tissue mask of ``slide`` on a coarse grid.

    Parameters
    ----------
    slide : Slide
        The slide.
    mpp : float, optional
        Mask pixel size in micrometres (default :func:`default_mask_mpp`).
    channel : {"saturation", "gray"}
        Threshold the HSV saturation (tissue above) or the darkness
        ``1 - gray`` (tissue above).
    min_tissue_um2 : float
        Tissue pieces up to this area are dropped (dust, specks); at most 1 % of
        the image's area.
    max_hole_um2 : float
        Holes up to this area inside tissue are filled (at most 1 % of the image).
    image : (numpy.ndarray, float), optional
        A :func:`thumbnail` already read (its scale is used).

    Returns
    -------
    TissueMask

    Examples
    --------
    >>> a = np.full((64, 64, 3), 240, np.uint8); a[16:48, 16:48] = (150, 60, 140)
    >>> t = tissue_mask(Slide.from_array(a, mpp=1.0), min_tissue_um2=10, max_hole_um2=10)
    >>> int(t.mask.sum()), t.scale
    (1024, 1.0)
    """
    from skimage.color import rgb2gray, rgb2hsv
    from skimage.filters import threshold_otsu

    if channel not in ("saturation", "gray"):
        raise ValueError(f"channel must be 'saturation' or 'gray', got {channel!r}")
    if image is None:
        image = thumbnail(slide, mpp if mpp is not None else default_mask_mpp(slide))
    thumb, scale = image
    mask_mpp = scale * slide.mpp
    rgb = thumb.astype(np.float32) / 255.0
    value = rgb2hsv(rgb)[..., 1] if channel == "saturation" else 1.0 - rgb2gray(rgb)
    value = value.astype(np.float32)
    lo, hi = float(value.min()), float(value.max())
    if hi - lo < 0.04:
        # one colour everywhere: all tissue if it is coloured/dark, else none
        thr = 0.12 if channel == "saturation" else 0.2
        mask = np.full(value.shape, (lo + hi) / 2.0 > thr, bool)
    else:
        thr = float(threshold_otsu(value))
        # never call faintly tinted glass tissue (at least 0.05 above the background);
        # never call clearly stained tissue glass (at most 0.2 saturation / 0.25
        # darkness), which Otsu does when there is no glass and dark nuclei split it
        thr = min(max(thr, lo + 0.05), 0.2 if channel == "saturation" else 0.25)
        mask = value > thr
    px_um2 = mask_mpp**2
    # small images (one field of view): never drop more than 1 % of the image as specks
    image_um2 = mask.size * px_um2
    mask = _remove_small(mask, int(min(min_tissue_um2, 0.01 * image_um2) / px_um2))
    holes = _remove_small(~mask, int(min(max_hole_um2, 0.01 * image_um2) / px_um2))
    border = np.zeros_like(mask)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    # holes touching the border are background, not holes
    lab, _ = ndi.label(~mask)
    outer = np.isin(lab, np.unique(lab[border & ~mask]))
    mask = mask | (~mask & ~holes & ~outer)
    return TissueMask(mask=mask, scale=scale, mpp=mask_mpp, threshold=thr)
