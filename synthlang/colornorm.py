"""Colour statistics of training data and colour normalisation of inputs to them.

A network trained on synthetic images sees the colours of its training scene; a
real slide from another lab or scanner has other colours. ``synthlang train``
therefore stores the colour statistics of the training inputs in the checkpoint
(:class:`ColorStats`), and ``synthlang predict`` maps every input to them first.
Three methods:

* **Reinhard** (Reinhard et al. 2001): per-channel mean and standard deviation
  in CIE L*a*b* (:func:`synthlang.stats.reinhard_stats`); the input's channels
  are shifted and scaled to them.
* **Macenko** (Macenko et al. 2009): the two stain vectors of an H&E image in
  optical-density (OD) space and the 99th percentile of each stain's
  concentration (:class:`MacenkoStats`). The input's stain concentrations are
  found by least squares on its own stain vectors, rescaled to the target's
  maximum concentrations and recomposed with the target's stain vectors.
* **Haematoxylin level**: only the input's haematoxylin is rescaled, so that the
  99th percentile of its concentration (on the input's own stain vectors) meets
  the typical level of the training inputs (:attr:`ColorStats.haematoxylin_level`,
  the median over the images of each one's level); hue, eosin and everything the
  two stains do not explain stay as given. A model trained with stain variation
  keeps its tolerance of other hues and is spared only inputs paler or darker in
  nuclear stain than its training data.

Macenko's estimate needs tissue: it uses pixels whose optical density is at
least ``beta`` in every channel. An image without enough of them (a blank
tile, a flat colour) has no stain estimate; :func:`normalize` then falls back
to Reinhard and says so.

All images are ``float32`` RGB in ``[0, 1]`` with shape ``(rows, cols, 3)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthlang.stats import ReinhardStats, mean_reinhard_stats, reinhard_normalize, reinhard_stats

__all__ = [
    "METHODS",
    "DEFAULT_METHOD",
    "STATS_SAMPLES",
    "MacenkoStats",
    "ColorStats",
    "macenko_stats",
    "macenko_normalize",
    "haematoxylin_level",
    "haematoxylin_normalize",
    "color_stats",
    "source_color_stats",
    "normalize",
]

METHODS = ("reinhard", "macenko", "haematoxylin")
"""Colour normalisation methods of :func:`normalize`."""

DEFAULT_METHOD = "macenko"
"""The method ``synthlang predict`` uses by default (measured better; docs/vnet.md)."""

STATS_SAMPLES = 32
"""Training inputs (the first ones) whose colours a checkpoint's statistics describe."""

MAX_HAEMATOXYLIN_FACTOR = 2.0
"""The most :func:`haematoxylin_normalize` multiplies (or divides) an input's haematoxylin by."""

_IO = 240.0 / 255.0  # transmitted light intensity of an empty slide (Macenko's I_0)
_BETA = 0.15  # OD threshold of a tissue pixel
_ALPHA = 1.0  # percentile of the extreme stain angles
_MIN_TISSUE = 50  # fewest tissue pixels for a stain estimate
_MAX_PIXELS = 200_000  # pixels used for one estimate (a fixed, even subsample)


# --------------------------------------------------------------------------- Macenko


@dataclass(frozen=True)
class MacenkoStats:
    """The stains of an H&E image (Macenko et al. 2009).

    Attributes
    ----------
    stain_matrix : numpy.ndarray
        ``(3, 2)`` unit OD vectors (R, G, B optical density) of haematoxylin
        (column 0) and eosin (column 1).
    max_concentrations : numpy.ndarray
        ``(2,)`` 99th percentile of the haematoxylin and eosin concentrations.
    """

    stain_matrix: np.ndarray
    max_concentrations: np.ndarray

    def to_dict(self) -> dict[str, list[Any]]:
        """Return a JSON-friendly dictionary (``stain_matrix`` as 2 stain vectors of 3)."""
        return {
            "stain_vectors": [[float(v) for v in col] for col in self.stain_matrix.T],
            "max_concentrations": [float(v) for v in self.max_concentrations],
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> MacenkoStats:
        """Inverse of :meth:`to_dict`; raises ValueError on anything malformed."""
        vectors = _numbers(d.get("stain_vectors"), (2, 3), "macenko.stain_vectors")
        conc = _numbers(d.get("max_concentrations"), (2,), "macenko.max_concentrations")
        if not np.all(np.abs(np.linalg.norm(vectors, axis=1) - 1.0) < 1e-3):
            raise ValueError("macenko.stain_vectors must be unit vectors")
        if not np.all(vectors >= -1e-6):
            raise ValueError("macenko.stain_vectors must be non-negative optical densities")
        if not np.all((conc > 0) & (conc < 1e3)):
            raise ValueError("macenko.max_concentrations must be positive")
        return MacenkoStats(vectors.T.copy(), conc)


def _od(image: np.ndarray) -> np.ndarray:
    """Optical density ``-log(I / I_0)`` of every pixel, ``(n, 3)``, non-negative."""
    img = np.asarray(image, dtype=np.float64).reshape(-1, 3)
    return np.maximum(-np.log(np.clip(img, 1.0 / 255.0, None) / _IO), 0.0)


def _tissue_od(images: Iterable[np.ndarray]) -> np.ndarray:
    """OD of the tissue pixels of all images, evenly subsampled to at most ``_MAX_PIXELS``."""
    parts = []
    for image in images:
        od = _od(_check(image))
        parts.append(od[np.all(od >= _BETA, axis=1)])
    od = np.concatenate(parts) if parts else np.zeros((0, 3))
    if od.shape[0] > _MAX_PIXELS:
        od = od[np.linspace(0, od.shape[0] - 1, _MAX_PIXELS).astype(np.int64)]
    return od


def _stain_matrix(od: np.ndarray) -> np.ndarray:
    """Macenko's two extreme stain directions in the plane of largest OD variance."""
    _, vecs = np.linalg.eigh(np.cov(od, rowvar=False))
    plane = vecs[:, 1:3]  # eigenvectors of the two largest eigenvalues
    plane = plane * np.where(plane.sum(axis=0) < 0, -1.0, 1.0)  # point into the positive octant
    proj = od @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [_ALPHA, 100.0 - _ALPHA])
    v1 = plane @ np.array([math.cos(lo), math.sin(lo)])
    v2 = plane @ np.array([math.cos(hi), math.sin(hi)])
    # haematoxylin absorbs red more than eosin does
    h, e = (v1, v2) if v1[0] > v2[0] else (v2, v1)
    m = np.abs(np.stack([h, e], axis=1))
    return np.asarray(m / np.linalg.norm(m, axis=0), dtype=np.float64)


def _concentrations(od: np.ndarray, stain_matrix: np.ndarray) -> np.ndarray:
    """Least-squares stain concentrations ``(2, n)`` of OD pixels ``(n, 3)``."""
    conc, *_ = np.linalg.lstsq(stain_matrix, od.T, rcond=None)
    return np.asarray(conc)


def macenko_stats(images: np.ndarray | Iterable[np.ndarray]) -> MacenkoStats:
    """Estimate the stain vectors and maximum concentrations of one or more images.

    Parameters
    ----------
    images : numpy.ndarray or iterable of numpy.ndarray
        One ``(rows, cols, 3)`` RGB image in ``[0, 1]``, or several (their
        tissue pixels are pooled).

    Returns
    -------
    MacenkoStats

    Raises
    ------
    ValueError
        Fewer than 50 tissue pixels (OD >= 0.15 in every channel), or stains
        that cannot be told apart.

    Examples
    --------
    >>> h, e = np.array([0.65, 0.70, 0.29]), np.array([0.07, 0.99, 0.11])
    >>> c = np.random.default_rng(0).uniform(0.2, 1.5, (2, 400))
    >>> img = (240 / 255) * np.exp(-(np.stack([h, e], 1) @ c)).T.reshape(20, 20, 3)
    >>> s = macenko_stats(img)
    >>> cosines = s.stain_matrix.T @ (np.stack([h, e], 1) / np.linalg.norm([h, e], axis=1))
    >>> np.round(np.diag(cosines), 2).tolist()
    [0.99, 0.99]
    """
    seq = [images] if isinstance(images, np.ndarray) else list(images)
    od = _tissue_od(seq)
    if od.shape[0] < _MIN_TISSUE:
        raise ValueError(
            f"too little stained tissue for a Macenko estimate ({od.shape[0]} pixels with "
            f"optical density >= {_BETA}; at least {_MIN_TISSUE} needed)"
        )
    stains = _stain_matrix(od)
    if not np.all(np.isfinite(stains)) or abs(float(stains[:, 0] @ stains[:, 1])) > 0.9999:
        raise ValueError("the two stains of the image cannot be told apart")
    conc = _concentrations(od, stains)
    max_c = np.percentile(conc, 99, axis=1)
    if not np.all(np.isfinite(max_c) & (max_c > 1e-6)):
        raise ValueError("a stain is absent from the image (no positive concentration)")
    return MacenkoStats(stains, max_c)


def macenko_normalize(
    image: np.ndarray, target: MacenkoStats, source: MacenkoStats | None = None
) -> np.ndarray:
    """Map the stains of ``image`` to those of ``target``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    target : MacenkoStats
        The stains to map to.
    source : MacenkoStats, optional
        The stains of ``image`` (estimated from it when omitted).

    Returns
    -------
    numpy.ndarray
        ``(rows, cols, 3)`` float32 RGB in ``[0, 1]``.

    Raises
    ------
    ValueError
        When ``source`` is omitted and ``image`` has no stain estimate (see
        :func:`macenko_stats`).
    """
    img = _check(image)
    src = source if source is not None else macenko_stats(img)
    conc = _concentrations(_od(img), src.stain_matrix)
    conc *= (target.max_concentrations / src.max_concentrations)[:, None]
    out = _IO * np.exp(-(target.stain_matrix @ conc)).T
    return np.clip(out, 0.0, 1.0).reshape(img.shape).astype(np.float32)


def haematoxylin_level(images: Iterable[np.ndarray]) -> float | None:
    """The typical haematoxylin level of a set of H&E images.

    Parameters
    ----------
    images : iterable of numpy.ndarray
        ``(rows, cols, 3)`` RGB images in ``[0, 1]``.

    Returns
    -------
    float or None
        The median over the images of each one's 99th-percentile haematoxylin
        concentration on its own stain vectors (:func:`macenko_stats`); images
        without a stain estimate are left out, None when none has one.

    Examples
    --------
    >>> h, e = np.array([0.65, 0.70, 0.29]), np.array([0.07, 0.99, 0.11])
    >>> c = np.random.default_rng(0).uniform(0.2, 1.5, (2, 400))
    >>> img = (240 / 255) * np.exp(-(np.stack([h, e], 1) @ c)).T.reshape(20, 20, 3)
    >>> round(haematoxylin_level([img, img]), 2)
    1.71
    """
    levels = []
    for image in images:
        try:
            levels.append(float(macenko_stats(_check(image)).max_concentrations[0]))
        except ValueError:
            continue
    return float(np.median(levels)) if levels else None


def haematoxylin_normalize(
    image: np.ndarray, level: float, source: MacenkoStats | None = None
) -> np.ndarray:
    """Rescale the haematoxylin of ``image`` to ``level``; everything else stays.

    The image's haematoxylin concentration (least squares on its own stain
    vectors, negative values taken as none) is multiplied by
    ``level / (its 99th percentile)``, bounded to ``[1/2, 2]``
    (:data:`MAX_HAEMATOXYLIN_FACTOR`), by adding the change of optical density to
    each pixel: hue, eosin and what the two stains do not explain are kept.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    level : float
        The target 99th-percentile haematoxylin concentration
        (:attr:`ColorStats.haematoxylin_level`).
    source : MacenkoStats, optional
        The stains of ``image`` (estimated from it when omitted; a whole slide
        passes the estimate of its thumbnail).

    Returns
    -------
    numpy.ndarray
        ``(rows, cols, 3)`` float32 RGB in ``[0, 1]``.

    Raises
    ------
    ValueError
        ``level`` not positive, or (``source`` omitted) an image without a stain
        estimate.

    Examples
    --------
    >>> h, e = np.array([0.65, 0.70, 0.29]), np.array([0.07, 0.99, 0.11])
    >>> c = np.random.default_rng(0).uniform(0.2, 1.5, (2, 400))
    >>> img = (240 / 255) * np.exp(-(np.stack([h, e], 1) @ c)).T.reshape(20, 20, 3)
    >>> [round(haematoxylin_level([haematoxylin_normalize(img, t)]), 2) for t in (1.0, 2.0)]
    [1.0, 2.0]
    """
    img = _check(image)
    if not (math.isfinite(level) and level > 0):
        raise ValueError(f"the haematoxylin level must be positive, got {level}")
    src = source if source is not None else macenko_stats(img)
    factor = float(
        np.clip(
            level / src.max_concentrations[0],
            1.0 / MAX_HAEMATOXYLIN_FACTOR,
            MAX_HAEMATOXYLIN_FACTOR,
        )
    )
    hvec = src.stain_matrix[:, 0]
    conc_h = np.maximum(_concentrations(_od(img), src.stain_matrix)[0], 0.0)
    rgb = np.asarray(img, dtype=np.float64).reshape(-1, 3)
    out = rgb * np.exp(-(factor - 1.0) * conc_h[:, None] * hvec[None, :])
    return np.clip(out, 0.0, 1.0).reshape(img.shape).astype(np.float32)


# ---------------------------------------------------------------- statistics of a data set


@dataclass(frozen=True)
class ColorStats:
    """Colour statistics of a set of images (stored in checkpoints).

    Attributes
    ----------
    reinhard : ReinhardStats
        Mean over the images of their L*a*b* means and standard deviations.
    macenko : MacenkoStats or None
        Stains of the pooled tissue pixels; None when the images have too
        little stained tissue for an estimate.
    n_images : int
        Number of images measured.
    origin : str
        What they were (for example ``"first 32 training inputs"``).
    haematoxylin_level : float or None
        Median over the images of each one's 99th-percentile haematoxylin
        concentration (on its own stain vectors; :func:`haematoxylin_level`), the
        target of :func:`haematoxylin_normalize`; None when no image has a stain
        estimate, or for statistics stored before it was measured.
    """

    reinhard: ReinhardStats
    macenko: MacenkoStats | None
    n_images: int
    origin: str = ""
    haematoxylin_level: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dictionary (the form stored in checkpoints)."""
        return {
            "n_images": int(self.n_images),
            "origin": self.origin,
            "reinhard": self.reinhard.to_dict(),
            "macenko": None if self.macenko is None else self.macenko.to_dict(),
            "haematoxylin_level": self.haematoxylin_level,
        }

    @staticmethod
    def from_dict(d: Any) -> ColorStats:
        """Inverse of :meth:`to_dict`, validating every field.

        Raises
        ------
        ValueError
            One message naming the first malformed field.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"color_stats is a {type(d).__name__}, not a dict")
        unknown = set(d) - {"n_images", "origin", "reinhard", "macenko", "haematoxylin_level"}
        if unknown:
            raise ValueError(f"color_stats has an unknown field {sorted(map(str, unknown))[0]!r}")
        n = d.get("n_images")
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10**8:
            raise ValueError("color_stats.n_images must be a whole number >= 1")
        origin = d.get("origin", "")
        if not isinstance(origin, str) or len(origin) > 500:
            raise ValueError("color_stats.origin must be a short string")
        r = d.get("reinhard")
        if not isinstance(r, Mapping):
            raise ValueError("color_stats.reinhard must be a dict")
        mean = _numbers(r.get("lab_mean"), (3,), "reinhard.lab_mean")
        std = _numbers(r.get("lab_std"), (3,), "reinhard.lab_std")
        if not (0 <= mean[0] <= 100 and np.all(np.abs(mean[1:]) <= 128)):
            raise ValueError("reinhard.lab_mean must be an L*a*b* colour (L* in [0, 100])")
        if not np.all((std >= 0) & (std <= 100)):
            raise ValueError("reinhard.lab_std must be in [0, 100]")
        m = d.get("macenko")
        if m is not None and not isinstance(m, Mapping):
            raise ValueError("color_stats.macenko must be a dict or None")
        macenko = None if m is None else MacenkoStats.from_dict(m)
        level = d.get("haematoxylin_level")
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, (int, float)):
                raise ValueError("color_stats.haematoxylin_level must be a number or None")
            if not (math.isfinite(level) and 0 < level < 1e3):
                raise ValueError("color_stats.haematoxylin_level must be positive and finite")
            level = float(level)
        return ColorStats(ReinhardStats(mean, std), macenko, int(n), origin, level)


def _numbers(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers of shape {shape}") from None
    if a.shape != shape or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite numbers of shape {shape}")
    return a


def _check(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"image must have shape (rows, cols, 3), got {a.shape}")
    return a


def color_stats(images: Iterable[np.ndarray], origin: str = "") -> ColorStats:
    """Colour statistics of a set of RGB images.

    Parameters
    ----------
    images : iterable of numpy.ndarray
        At least one ``(rows, cols, 3)`` RGB image in ``[0, 1]``.
    origin : str
        A short description stored with the statistics.

    Returns
    -------
    ColorStats

    Examples
    --------
    >>> img = np.random.default_rng(0).uniform(0.2, 0.8, (16, 16, 3)).astype(np.float32)
    >>> s = color_stats([img, img[::-1]], origin="two")
    >>> s.n_images, s.macenko is not None, s.haematoxylin_level is not None
    (2, True, True)
    """
    imgs = [_check(np.asarray(i, dtype=np.float32)) for i in images]
    if not imgs:
        raise ValueError("color_stats needs at least one image")
    reinhard = mean_reinhard_stats([reinhard_stats(i) for i in imgs])
    try:
        macenko: MacenkoStats | None = macenko_stats(imgs)
    except ValueError:
        macenko = None
    return ColorStats(reinhard, macenko, len(imgs), origin, haematoxylin_level(imgs))


def source_color_stats(
    source: Callable[[int], tuple[Any, ...]], n: int, origin: str | None = None
) -> ColorStats | None:
    """Colour statistics of the inputs (noisy images) of samples ``0 .. n-1`` of a source.

    Parameters
    ----------
    source : callable
        ``index -> (noisy, clean, mask)``, as ``synthlang train`` uses.
    n : int
        Number of samples (the first ones, so the result is deterministic).
    origin : str, optional
        Description (default ``"first N training inputs"``).

    Returns
    -------
    ColorStats or None
        None when the inputs are not RGB (colour statistics do not apply).
    """
    images = []
    for i in range(max(1, n)):
        noisy = np.asarray(source(i)[0], dtype=np.float32)
        if noisy.ndim != 3 or noisy.shape[2] != 3:
            return None
        images.append(noisy)
    return color_stats(images, origin or f"first {len(images)} training inputs")


def normalize(image: np.ndarray, target: ColorStats, method: str) -> tuple[np.ndarray, str]:
    """Colour-normalise ``image`` to ``target`` with ``method``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    target : ColorStats
        The statistics to map to.
    method : {"reinhard", "macenko", "haematoxylin"}
        Macenko falls back to Reinhard when the target or the image has no
        stain estimate; the haematoxylin level leaves such an image as it is.

    Returns
    -------
    (numpy.ndarray, str)
        The normalised image (float32) and what was done: ``"reinhard"``,
        ``"macenko"``, ``"haematoxylin"``, ``"reinhard (macenko impossible: REASON)"``
        or ``"none (haematoxylin impossible: REASON)"``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "haematoxylin":
        if target.haematoxylin_level is None:
            reason = "the target has no haematoxylin level"
        else:
            try:
                return haematoxylin_normalize(image, target.haematoxylin_level), "haematoxylin"
            except ValueError as exc:
                reason = str(exc)
        return np.asarray(image, dtype=np.float32), f"none (haematoxylin impossible: {reason})"
    if method == "macenko":
        if target.macenko is None:
            reason = "the target has no stain estimate"
        else:
            try:
                return macenko_normalize(image, target.macenko), "macenko"
            except ValueError as exc:
                reason = str(exc)
        return reinhard_normalize(
            image, target.reinhard
        ), f"reinhard (macenko impossible: {reason})"
    return reinhard_normalize(image, target.reinhard), "reinhard"
