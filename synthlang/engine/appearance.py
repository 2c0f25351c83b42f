"""Appearance passes: stain, brightness, contrast, gamma and saturation variation.

These passes of a ``degrade { }`` block model the tissue's staining and the
scanner's colour response. Unlike the noise passes they change what the
tissue looks like, so they are applied to the clean *and* the noisy image of
a sample with the same drawn parameters: the network is trained to remove
noise, not to undo the stain. Each is registered in
:data:`~synthlang.engine.base.APPEARANCE` with the signature
``fn(images, pass_ir, rng) -> list of images``; ``images[0]`` is the
reference (the clean image) from which image statistics (the mean grey level
of ``contrast``) are taken. Parameters are drawn once per sample, in a fixed
order, when the pass runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import null_space
from skimage.color import hed_from_rgb, rgb2gray, rgb_from_hed

from synthlang import ir
from synthlang.engine.base import APPEARANCE, register
from synthlang.engine.degrade import blur
from synthlang.engine.sampling import draw

__all__ = [
    "OD_EPS",
    "stain_concentrations",
    "stain_images",
    "tilt_vectors",
    "stain_jitter",
    "brightness",
    "contrast",
    "gamma",
    "saturation",
    "focus",
]

OD_EPS = 1e-6
"""Smallest intensity before the logarithm, as in :func:`skimage.color.rgb2hed`."""

_LOG_EPS = float(np.log(OD_EPS))


def stain_concentrations(image: np.ndarray) -> np.ndarray:
    """H, E and DAB concentrations of an RGB image in :func:`skimage.color.rgb2hed` units.

    The same linear map as ``rgb2hed`` (scikit-image's HED basis on the
    optical density ``-log(rgb)``) without its clamp at 0, so that
    :func:`stain_images` inverts it exactly.

    Parameters
    ----------
    image : numpy.ndarray
        ``(..., 3)`` RGB in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` float64 concentrations (H, E, DAB).

    Examples
    --------
    >>> from skimage.color import rgb2hed
    >>> rgb = np.array([[[0.6, 0.3, 0.7]]])
    >>> bool(np.allclose(stain_concentrations(rgb), np.maximum(rgb2hed(rgb), 0)))
    True
    """
    rgb = np.maximum(np.asarray(image, dtype=np.float64), OD_EPS)
    return (np.log(rgb) / _LOG_EPS) @ hed_from_rgb


def stain_images(concentrations: np.ndarray, basis: np.ndarray = rgb_from_hed) -> np.ndarray:
    """RGB image of stain concentrations under a stain basis (rows: stain OD vectors).

    Parameters
    ----------
    concentrations : numpy.ndarray
        ``(..., 3)`` concentrations in :func:`skimage.color.rgb2hed` units.
    basis : numpy.ndarray
        ``(3, 3)`` stain vectors, one per row (default: scikit-image's H, E, DAB).

    Returns
    -------
    numpy.ndarray
        ``(..., 3)`` float64 RGB (not clipped).

    Examples
    --------
    >>> rgb = np.array([[0.6, 0.3, 0.7]])
    >>> bool(np.allclose(stain_images(stain_concentrations(rgb)), rgb))
    True
    """
    return np.exp((concentrations @ basis) * _LOG_EPS)


def tilt_vectors(
    basis: np.ndarray, angles_deg: Sequence[float], directions: Sequence[float]
) -> np.ndarray:
    """Tilt each of the first rows of a stain basis by an angle, keeping its length.

    Row ``i`` turns by ``angles_deg[i]`` towards the unit vector at angle
    ``directions[i]`` (radians) in the plane perpendicular to it.

    Parameters
    ----------
    basis : numpy.ndarray
        ``(3, 3)`` stain vectors, one per row.
    angles_deg : sequence of float
        Tilt of rows ``0 .. len(angles_deg) - 1`` in degrees.
    directions : sequence of float
        Direction of each tilt in radians.

    Returns
    -------
    numpy.ndarray
        The tilted basis (a new array).

    Examples
    --------
    >>> b = tilt_vectors(rgb_from_hed, [10.0], [0.3])
    >>> v, w = rgb_from_hed[0], b[0]
    >>> angle = np.degrees(np.arccos(v @ w / (np.linalg.norm(v) * np.linalg.norm(w))))
    >>> round(float(angle), 6), bool(np.allclose(b[1:], rgb_from_hed[1:]))
    (10.0, True)
    """
    out = np.array(basis, dtype=np.float64)
    for i, (angle, phi) in enumerate(zip(angles_deg, directions, strict=True)):
        if angle == 0:
            continue
        v = out[i]
        norm = float(np.linalg.norm(v))
        unit = v / norm
        perp = null_space(unit[None, :])  # (3, 2) orthonormal basis of the perpendicular plane
        u = perp[:, 0] * np.cos(phi) + perp[:, 1] * np.sin(phi)
        t = np.radians(angle)
        out[i] = norm * (np.cos(t) * unit + np.sin(t) * u)
    return out


def _f32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


@register(APPEARANCE, "stain")
def stain_jitter(
    images: Sequence[np.ndarray], spec: ir.StainJitter, rng: np.random.Generator
) -> list[np.ndarray]:
    """Perturb stain concentrations and stain vectors in optical-density space.

    For each perturbed stain (H, E, and DAB for ``hed``), in that order, the
    pass draws ``alpha``, ``beta``, ``angle`` and a tilt direction; the
    concentrations become ``alpha * c + beta`` and are recombined with the
    tilted stain vectors. With ``alpha = 1``, ``beta = 0`` and ``angle = 0``
    the images are unchanged (up to float rounding).

    Examples
    --------
    >>> img = np.full((4, 4, 3), 0.5, np.float32)
    >>> spec = ir.StainJitter(alpha=(ir.Constant(value=1.5), ir.Constant(value=1)),
    ...                       beta=(ir.Constant(value=0), ir.Constant(value=0)))
    >>> out, = stain_jitter([img], spec, np.random.default_rng(0))
    >>> bool(out.mean() < img.mean())   # more haematoxylin: darker
    True
    """
    n = len(spec.stains)
    alpha = np.ones(3)
    beta = np.zeros(3)
    angles: list[float] = []
    directions: list[float] = []
    for i in range(n):
        alpha[i] = draw(spec.alpha[i], rng)
        beta[i] = draw(spec.beta[i], rng)
        angles.append(draw(spec.angle, rng))
        directions.append(float(rng.uniform(0.0, 2.0 * np.pi)))
    basis = tilt_vectors(rgb_from_hed, angles, directions)
    out = []
    for image in images:
        c = stain_concentrations(image)
        c *= alpha
        c += beta
        out.append(_f32(stain_images(c, basis)))
    return out


@register(APPEARANCE, "brightness")
def brightness(
    images: Sequence[np.ndarray], spec: ir.Brightness, rng: np.random.Generator
) -> list[np.ndarray]:
    """Multiply every channel by ``factor`` (drawn once).

    Examples
    --------
    >>> out, = brightness([np.full((2, 2, 3), 0.5, np.float32)],
    ...                   ir.Brightness(factor=ir.Constant(value=1.2)), np.random.default_rng(0))
    >>> round(float(out[0, 0, 0]), 6)
    0.6
    """
    f = np.float32(draw(spec.factor, rng))
    return [_f32(image) * f for image in images]


@register(APPEARANCE, "contrast")
def contrast(
    images: Sequence[np.ndarray], spec: ir.Contrast, rng: np.random.Generator
) -> list[np.ndarray]:
    """Scale deviations from the reference image's mean grey level by ``factor``.

    The pivot is the mean of :func:`skimage.color.rgb2gray` of ``images[0]``
    (the clean image), so every image gets the same affine map; for images that are
    not RGB, each channel's mean in ``images[0]``.

    Examples
    --------
    >>> img = np.zeros((2, 2, 3), np.float32); img[0] = 1
    >>> out, = contrast([img], ir.Contrast(factor=ir.Constant(value=0.5)),
    ...                 np.random.default_rng(0))
    >>> out[:, 0, 0].round(3).tolist()
    [0.75, 0.25]
    """
    f = draw(spec.factor, rng)
    if not images:
        return []
    ref = _f32(images[0])
    if ref.shape[-1] != 3:  # not RGB: each channel around its own mean
        pivots = ref.reshape(-1, ref.shape[-1]).mean(axis=0, dtype=np.float64)
        p32 = pivots.astype(np.float32)
        return [_f32(p32 + np.float32(f) * (_f32(image) - p32)) for image in images]
    pivot = float(np.mean(rgb2gray(ref)))
    return [_f32(pivot + f * (_f32(image) - np.float32(pivot))) for image in images]


@register(APPEARANCE, "gamma")
def gamma(
    images: Sequence[np.ndarray], spec: ir.Gamma, rng: np.random.Generator
) -> list[np.ndarray]:
    """Raise every channel to the power ``exponent`` (drawn once; > 1 darkens).

    Examples
    --------
    >>> out, = gamma([np.full((1, 1, 3), 0.25, np.float32)],
    ...              ir.Gamma(exponent=ir.Constant(value=0.5)), np.random.default_rng(0))
    >>> float(out[0, 0, 0])
    0.5
    """
    g = np.float32(draw(spec.exponent, rng))
    return [np.power(np.clip(_f32(image), 0.0, 1.0), g, dtype=np.float32) for image in images]


@register(APPEARANCE, "saturation")
def saturation(
    images: Sequence[np.ndarray], spec: ir.Saturation, rng: np.random.Generator
) -> list[np.ndarray]:
    """Blend each pixel with its grey level: ``grey + factor * (rgb - grey)``.

    The grey level is :func:`skimage.color.rgb2gray`; 0 gives a grey image,
    1 leaves it unchanged, above 1 saturates.

    Examples
    --------
    >>> img = np.array([[[0.8, 0.2, 0.4]]], np.float32)
    >>> out, = saturation([img], ir.Saturation(factor=ir.Constant(value=0)),
    ...                   np.random.default_rng(0))
    >>> bool(np.ptp(out) < 1e-6)
    True
    """
    f = np.float32(draw(spec.factor, rng))
    out = []
    for image in images:
        img = _f32(image)
        grey = _f32(rgb2gray(img))[..., None]
        out.append(grey + f * (img - grey))
    return out


@register(APPEARANCE, "focus")
def focus(
    images: Sequence[np.ndarray], spec: ir.Focus, rng: np.random.Generator
) -> list[np.ndarray]:
    """Blur every image with one Gaussian, ``sigma`` drawn once (0: unchanged).

    Examples
    --------
    >>> img = np.zeros((9, 9, 3), np.float32); img[4, 4] = 1
    >>> a, b = focus([img, img], ir.Focus(sigma=ir.Constant(value=1)), np.random.default_rng(0))
    >>> bool(np.array_equal(a, b)), round(float(a.sum()), 3), float(a.max()) < 0.2
    (True, 3.0, True)
    """
    sigma = float(draw(spec.sigma, rng))
    return [blur(_f32(image), sigma) if sigma > 0 else _f32(image) for image in images]
