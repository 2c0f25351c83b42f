"""Colour and shape statistics of real images (the ``fit`` side).

The paper draws the mean colour and the per-pixel noise of each object
category from a multivariate normal distribution "where the expectation, the
variance and the covariance matrices of the noise are estimated from a small
sample of patches of real images", after Reinhard colour normalisation
(Effland et al., "Stochastic generation of training data"). This module
computes those estimates:

* :func:`object_color_stats` -- per object: pixel count, mean RGB and the
  3x3 covariance of its pixels around that mean;
* :func:`class_color_model` -- per category: the mean of the object means,
  the pooled within-object covariance (the noise ``cov`` of
  ``mvn(mean, cov, between)``) and the covariance of the object means
  (``between``);
* :func:`region_color_model` -- the same for a region without objects
  (background), with square blocks playing the role of objects;
* :func:`reinhard_stats` / :func:`reinhard_normalize` -- Reinhard et al.
  (2001) colour transfer: match the per-channel mean and standard deviation
  in CIE L*a*b* (``skimage.color.rgb2lab``) to those of a reference image;
* :func:`hematoxylin` -- the haematoxylin channel of a colour deconvolution
  (``skimage.color.rgb2hed``, Ruifrok and Johnston);
* :func:`object_shapes` -- ellipse fits (``regionprops``) of labelled objects.

All images are ``float32`` RGB in ``[0, 1]`` with shape ``(rows, cols, 3)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.color import lab2rgb, rgb2hed, rgb2lab
from skimage.measure import regionprops

__all__ = [
    "ObjectColorStats",
    "ColorModel",
    "ReinhardStats",
    "ShapeStats",
    "erode_labels",
    "object_color_stats",
    "class_color_model",
    "region_color_model",
    "reinhard_stats",
    "mean_reinhard_stats",
    "reinhard_normalize",
    "hematoxylin",
    "eosin",
    "object_shapes",
    "block_color_stats",
]


def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name} must have shape (rows, cols, 3), got {a.shape}")
    return a


def _check_labels(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != image.shape[:2]:
        raise ValueError(f"labels shape {lab.shape} does not match image shape {image.shape[:2]}")
    if lab.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers, got {lab.dtype}")
    return lab


# --------------------------------------------------------------------------- per-object colour


@dataclass(frozen=True)
class ObjectColorStats:
    """Colour statistics of labelled objects.

    Attributes
    ----------
    ids : numpy.ndarray
        ``(n,)`` object labels.
    counts : numpy.ndarray
        ``(n,)`` number of pixels used per object.
    means : numpy.ndarray
        ``(n, 3)`` mean RGB per object.
    covs : numpy.ndarray
        ``(n, 3, 3)`` covariance of the object's pixels (``ddof=1``; zero
        for objects of one pixel).
    """

    ids: np.ndarray
    counts: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    @staticmethod
    def concatenate(parts: Sequence[ObjectColorStats]) -> ObjectColorStats:
        """Stack statistics of several images; ids are renumbered ``1..n``."""
        parts = [p for p in parts if p.ids.size]
        if not parts:
            empty = np.zeros((0,), np.int64)
            return ObjectColorStats(empty, empty, np.zeros((0, 3)), np.zeros((0, 3, 3)))
        counts = np.concatenate([p.counts for p in parts])
        return ObjectColorStats(
            np.arange(1, counts.size + 1, dtype=np.int64),
            counts,
            np.concatenate([p.means for p in parts]),
            np.concatenate([p.covs for p in parts]),
        )

    def subset(self, ids: Sequence[int] | np.ndarray) -> ObjectColorStats:
        """Return the statistics of the objects ``ids`` (in that order; unknown ids skipped)."""
        index = {int(i): k for k, i in enumerate(self.ids)}
        rows = [index[int(i)] for i in ids if int(i) in index]
        sel = np.asarray(rows, dtype=np.int64)
        return ObjectColorStats(self.ids[sel], self.counts[sel], self.means[sel], self.covs[sel])


def erode_labels(labels: np.ndarray, radius: int) -> np.ndarray:
    """Shrink every labelled object by ``radius`` pixels.

    A pixel keeps its label when every pixel of the ``(2r+1) x (2r+1)``
    square around it has the same label; objects are eroded away from the
    background, from each other and from the image border.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(rows, cols)`` integer labels, 0 background.
    radius : int
        Erosion radius in pixels (0 returns a copy).

    Returns
    -------
    numpy.ndarray
        Eroded labels, same dtype.

    Examples
    --------
    >>> lab = np.zeros((5, 5), int); lab[1:4, 1:4] = 7
    >>> int((erode_labels(lab, 1) == 7).sum())
    1
    """
    lab = np.asarray(labels)
    if radius <= 0:
        return lab.copy()
    size = 2 * int(radius) + 1
    lo = ndi.minimum_filter(lab, size=size, mode="constant", cval=0)
    hi = ndi.maximum_filter(lab, size=size, mode="constant", cval=0)
    return np.where((lo == lab) & (hi == lab), lab, 0).astype(lab.dtype)


def object_color_stats(
    image: np.ndarray,
    labels: np.ndarray,
    ids: Sequence[int] | np.ndarray | None = None,
    *,
    erode: int = 0,
    min_pixels: int = 2,
) -> ObjectColorStats:
    """Mean colour and pixel covariance of every labelled object.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    labels : numpy.ndarray
        ``(rows, cols)`` integer object labels, 0 background.
    ids : sequence of int, optional
        Objects to measure (default: every label > 0 present).
    erode : int, optional
        Measure only the pixels at least ``erode`` pixels inside the object
        (see :func:`erode_labels`), to keep blurred boundary pixels, which
        mix with the surroundings, out of the statistics. An object with
        fewer than ``min_pixels`` pixels left is measured uneroded.
    min_pixels : int, optional
        Objects with fewer pixels (after the fallback) are left out.

    Returns
    -------
    ObjectColorStats
        One row per measured object, sorted by id.

    Examples
    --------
    >>> img = np.zeros((4, 4, 3), np.float32); img[:2] = 0.5
    >>> lab = np.zeros((4, 4), int); lab[:2] = 1; lab[2:] = 2
    >>> object_color_stats(img, lab).means[:, 0].tolist()
    [0.5, 0.0]
    """
    img = _check_image(image)
    lab = _check_labels(labels, img)
    if erode > 0:
        eroded = erode_labels(lab, erode)
        kept = np.bincount(eroded.ravel(), minlength=int(lab.max()) + 1)
        # objects that (almost) vanish under erosion keep all their pixels
        small = np.flatnonzero(kept < max(min_pixels, 1))
        small = small[small > 0]
        if small.size:
            restore = np.isin(lab, small)
            eroded = np.where(restore, lab, eroded)
        lab = eroded
    flat = lab.ravel().astype(np.int64)
    present = np.unique(flat)
    present = present[present > 0]
    if ids is not None:
        want = np.unique(np.asarray(list(ids), dtype=np.int64))
        present = np.intersect1d(present, want)
    if present.size == 0:
        empty = np.zeros((0,), np.int64)
        return ObjectColorStats(empty, empty, np.zeros((0, 3)), np.zeros((0, 3, 3)))
    # compact index 1..n for the selected ids, 0 for everything else
    lut = np.zeros(int(flat.max()) + 1, dtype=np.int64)
    lut[present] = np.arange(1, present.size + 1)
    idx = lut[flat]
    n = present.size + 1
    x = img.reshape(-1, 3).astype(np.float64)
    counts = np.bincount(idx, minlength=n).astype(np.float64)
    sums = np.stack([np.bincount(idx, weights=x[:, c], minlength=n) for c in range(3)], axis=1)
    cross = np.empty((n, 3, 3))
    for c in range(3):
        for d in range(c, 3):
            s = np.bincount(idx, weights=x[:, c] * x[:, d], minlength=n)
            cross[:, c, d] = s
            cross[:, d, c] = s
    counts, sums, cross = counts[1:], sums[1:], cross[1:]
    keep = counts >= max(min_pixels, 1)
    counts, sums, cross, present = counts[keep], sums[keep], cross[keep], present[keep]
    means = sums / counts[:, None]
    scatter = cross - counts[:, None, None] * means[:, :, None] * means[:, None, :]
    dof = np.maximum(counts - 1.0, 1.0)
    covs = scatter / dof[:, None, None]
    covs[counts < 2] = 0.0
    covs = 0.5 * (covs + np.transpose(covs, (0, 2, 1)))
    return ObjectColorStats(present, counts.astype(np.int64), means, covs)


@dataclass(frozen=True)
class ColorModel:
    """A fitted ``mvn(mean, cov, between)`` colour model.

    Attributes
    ----------
    mean : numpy.ndarray
        ``(3,)`` mean of the object mean colours.
    cov : numpy.ndarray
        ``(3, 3)`` pooled within-object pixel covariance (the per-pixel noise).
    between : numpy.ndarray
        ``(3, 3)`` covariance of the object mean colours (zero for one object).
    n_objects : int
        Number of objects (or blocks) the model was fitted on.
    n_pixels : int
        Number of pixels used.
    """

    mean: np.ndarray
    cov: np.ndarray
    between: np.ndarray
    n_objects: int
    n_pixels: int


def class_color_model(stats: ObjectColorStats) -> ColorModel:
    """Pool per-object statistics into one category colour model.

    ``mean`` is the unweighted mean of the object means (each object counts
    once, as each synthetic object draws one mean); ``between`` is the sample
    covariance of the object means (``ddof=1``); ``cov`` is the pooled
    within-object covariance ``sum_i (n_i - 1) S_i / sum_i (n_i - 1)``.

    Parameters
    ----------
    stats : ObjectColorStats
        Statistics of the category's objects (at least one).

    Returns
    -------
    ColorModel

    Raises
    ------
    ValueError
        If ``stats`` holds no object.
    """
    n = stats.ids.size
    if n == 0:
        raise ValueError("class_color_model needs at least one object")
    mean = stats.means.mean(axis=0)
    between = np.cov(stats.means, rowvar=False, ddof=1) if n >= 2 else np.zeros((3, 3))
    dof = np.maximum(stats.counts.astype(np.float64) - 1.0, 0.0)
    if dof.sum() > 0:
        cov = np.einsum("i,ijk->jk", dof, stats.covs) / dof.sum()
    else:
        cov = np.zeros((3, 3))
    return ColorModel(
        mean=mean,
        cov=0.5 * (cov + cov.T),
        between=0.5 * (between + between.T),
        n_objects=int(n),
        n_pixels=int(stats.counts.sum()),
    )


def block_color_stats(
    image: np.ndarray, mask: np.ndarray, *, block: int = 32, min_fraction: float = 0.5
) -> ObjectColorStats:
    """Colour statistics of square blocks of a region, each block as one "object".

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB.
    mask : numpy.ndarray
        ``(rows, cols)`` bool, the region's pixels.
    block : int, optional
        Block side in pixels.
    min_fraction : float, optional
        Blocks with a smaller share of region pixels are left out.

    Returns
    -------
    ObjectColorStats
        One row per qualifying block (ids are block numbers).
    """
    img = _check_image(image)
    m = np.asarray(mask, dtype=bool)
    if m.shape != img.shape[:2]:
        raise ValueError("mask shape does not match image")
    rows, cols = m.shape
    nbc = (cols + block - 1) // block
    grid = (np.arange(rows)[:, None] // block) * nbc + np.arange(cols)[None, :] // block + 1
    stats = object_color_stats(img, np.where(m, grid, 0), min_pixels=2)
    full = np.bincount(grid.ravel())[stats.ids]
    good = stats.counts >= min_fraction * full
    return stats.subset(stats.ids[good])


def region_color_model(
    image: np.ndarray, mask: np.ndarray, *, block: int = 32, min_fraction: float = 0.5
) -> ColorModel:
    """Colour model of a region without objects (for example the background).

    The region is cut into ``block x block`` squares; each square with at
    least ``min_fraction`` of its pixels in the region plays the role of one
    object (see :func:`block_color_stats`), so ``between`` measures how the
    region's colour drifts across the image and ``cov`` the pixel noise
    within a block.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB.
    mask : numpy.ndarray
        ``(rows, cols)`` bool, the region's pixels.
    block : int, optional
        Block side in pixels.
    min_fraction : float, optional
        Blocks with a smaller share of region pixels are ignored.

    Returns
    -------
    ColorModel
        ``mean`` is the mean of all region pixels. When fewer than two blocks
        qualify, ``between`` is zero and ``cov`` is the covariance of all
        region pixels.

    Raises
    ------
    ValueError
        If the mask selects fewer than two pixels.
    """
    img = _check_image(image)
    m = np.asarray(mask, dtype=bool)
    if m.shape != img.shape[:2]:
        raise ValueError("mask shape does not match image")
    if m.sum() < 2:
        raise ValueError("region_color_model needs at least two region pixels")
    pix = img[m].astype(np.float64)
    mean = pix.mean(axis=0)
    stats = block_color_stats(img, m, block=block, min_fraction=min_fraction)
    if stats.ids.size >= 2:
        model = class_color_model(stats)
        return ColorModel(mean, model.cov, model.between, model.n_objects, int(m.sum()))
    cov = np.cov(pix, rowvar=False, ddof=1)
    return ColorModel(mean, 0.5 * (cov + cov.T), np.zeros((3, 3)), 1, int(m.sum()))


# --------------------------------------------------------------------------- Reinhard


@dataclass(frozen=True)
class ReinhardStats:
    """Per-channel mean and standard deviation of an image in CIE L*a*b*.

    Attributes
    ----------
    mean : numpy.ndarray
        ``(3,)`` mean of L*, a*, b*.
    std : numpy.ndarray
        ``(3,)`` standard deviation of L*, a*, b*.
    """

    mean: np.ndarray
    std: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        """Return a JSON-friendly dictionary."""
        return {"lab_mean": [float(v) for v in self.mean], "lab_std": [float(v) for v in self.std]}


def _to_lab(image: np.ndarray) -> np.ndarray:
    img = np.clip(_check_image(image).astype(np.float64), 0.0, 1.0)
    return rgb2lab(img)


def _from_lab(lab: np.ndarray) -> np.ndarray:
    lab = lab.copy()
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    with warnings.catch_warnings():
        # out-of-gamut colours are clipped; skimage warns about clipped Z values
        warnings.filterwarnings("ignore", message=".*negative Z values.*")
        rgb = lab2rgb(lab)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def reinhard_stats(image: np.ndarray, mask: np.ndarray | None = None) -> ReinhardStats:
    """Mean and standard deviation per L*a*b* channel.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    mask : numpy.ndarray, optional
        ``(rows, cols)`` bool: use only these pixels (default: all).

    Returns
    -------
    ReinhardStats

    Examples
    --------
    >>> s = reinhard_stats(np.full((2, 2, 3), 0.5, np.float32))
    >>> round(float(s.mean[0]), 1), float(s.std[0])
    (53.4, 0.0)
    """
    lab = _to_lab(image)
    px = lab.reshape(-1, 3) if mask is None else lab[np.asarray(mask, dtype=bool)]
    if px.shape[0] == 0:
        raise ValueError("reinhard_stats: the mask selects no pixel")
    return ReinhardStats(px.mean(axis=0), px.std(axis=0))


def mean_reinhard_stats(stats: Sequence[ReinhardStats]) -> ReinhardStats:
    """Average several images' statistics (a neutral reference for a set of images).

    Parameters
    ----------
    stats : sequence of ReinhardStats
        At least one.

    Returns
    -------
    ReinhardStats
        Channel-wise mean of the means and of the standard deviations.
    """
    if not stats:
        raise ValueError("mean_reinhard_stats needs at least one image")
    return ReinhardStats(
        np.mean([s.mean for s in stats], axis=0), np.mean([s.std for s in stats], axis=0)
    )


def reinhard_normalize(
    image: np.ndarray, ref_stats: ReinhardStats, src_stats: ReinhardStats | None = None
) -> np.ndarray:
    """Reinhard colour transfer of ``image`` to the reference statistics.

    In L*a*b*, every channel is shifted and scaled,
    ``(x - mean_src) / std_src * std_ref + mean_ref``, and the result is
    converted back to RGB and clipped to ``[0, 1]``. A channel with zero
    spread in the source is only shifted.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    ref_stats : ReinhardStats
        Target statistics (see :func:`reinhard_stats`).
    src_stats : ReinhardStats, optional
        Statistics of ``image`` (computed when omitted; pass them to compute
        them on a tissue mask only).

    Returns
    -------
    numpy.ndarray
        ``(rows, cols, 3)`` float32 RGB in ``[0, 1]``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.uniform(0.3, 0.7, (16, 16, 3)).astype(np.float32)
    >>> ref = reinhard_stats(a * 0.8 + 0.1)
    >>> out = reinhard_normalize(a, ref)
    >>> bool(np.allclose(reinhard_stats(out).mean, ref.mean, atol=0.5))
    True
    """
    lab = _to_lab(image)
    src = src_stats if src_stats is not None else reinhard_stats(image)
    std_src = np.where(src.std > 1e-8, src.std, 1.0)
    scale = np.where(src.std > 1e-8, ref_stats.std / std_src, 1.0)
    out = (lab - src.mean) * scale + ref_stats.mean
    return _from_lab(out)


# --------------------------------------------------------------------------- deconvolution


def hematoxylin(image: np.ndarray) -> np.ndarray:
    """Haematoxylin optical density of an H&E image.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` float32; larger means more haematoxylin (darker,
        bluer: nuclei).
    """
    img = np.clip(_check_image(image).astype(np.float64), 0.0, 1.0)
    return rgb2hed(img)[..., 0].astype(np.float32)


def eosin(image: np.ndarray) -> np.ndarray:
    """Eosin optical density of an H&E image (see :func:`hematoxylin`)."""
    img = np.clip(_check_image(image).astype(np.float64), 0.0, 1.0)
    return rgb2hed(img)[..., 1].astype(np.float32)


# --------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class ShapeStats:
    """Ellipse fits of labelled objects (one row per object).

    Attributes
    ----------
    ids : numpy.ndarray
        ``(n,)`` labels.
    area : numpy.ndarray
        ``(n,)`` pixel counts.
    semi_major, semi_minor : numpy.ndarray
        ``(n,)`` semi-axes in pixels of the ellipse with the same second
        moments (``regionprops`` ``axis_major_length / 2``, ``axis_minor_length / 2``).
    centroid : numpy.ndarray
        ``(n, 2)`` (row, col).
    bbox : numpy.ndarray
        ``(n, 4)`` ``(min_row, min_col, max_row, max_col)``, max exclusive.
    touches_border : numpy.ndarray
        ``(n,)`` bool: the object has a pixel on the image border.
    solidity : numpy.ndarray
        ``(n,)`` area / convex hull area.
    """

    ids: np.ndarray
    area: np.ndarray
    semi_major: np.ndarray
    semi_minor: np.ndarray
    centroid: np.ndarray
    bbox: np.ndarray
    touches_border: np.ndarray
    solidity: np.ndarray

    @property
    def equivalent_radius(self) -> np.ndarray:
        """Radius of the disk with the same area, ``sqrt(area / pi)``."""
        return np.sqrt(self.area / np.pi)


def _solidity(prop: object) -> float:
    """``regionprops`` solidity, 1 for degenerate (line-like or tiny) objects."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(prop.solidity)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - qhull fails on collinear pixels
        return 1.0
    return value if np.isfinite(value) else 1.0


def object_shapes(labels: np.ndarray) -> ShapeStats:
    """Fit an ellipse (second moments) to every labelled object.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(rows, cols)`` integer labels, 0 background.

    Returns
    -------
    ShapeStats
        Sorted by id.

    Examples
    --------
    >>> from skimage.draw import ellipse
    >>> lab = np.zeros((40, 40), int)
    >>> lab[ellipse(20, 20, 6, 12)] = 1
    >>> s = object_shapes(lab)
    >>> round(float(s.semi_major[0])), round(float(s.semi_minor[0]))
    (12, 6)
    """
    lab = np.asarray(labels)
    rows, cols = lab.shape
    props = regionprops(lab.astype(np.int32))
    n = len(props)
    ids = np.array([p.label for p in props], dtype=np.int64)
    area = np.array([p.area for p in props], dtype=np.float64)
    major = np.array([p.axis_major_length / 2 for p in props], dtype=np.float64)
    minor = np.array([p.axis_minor_length / 2 for p in props], dtype=np.float64)
    cen = np.array([p.centroid for p in props], dtype=np.float64).reshape(n, 2)
    bbox = np.array([p.bbox for p in props], dtype=np.int64).reshape(n, 4)
    touches = (bbox[:, 0] == 0) | (bbox[:, 1] == 0) | (bbox[:, 2] == rows) | (bbox[:, 3] == cols)
    solidity = np.array([_solidity(p) for p in props], dtype=np.float64)
    return ShapeStats(ids, area, major, minor, cen, bbox, touches, solidity)
