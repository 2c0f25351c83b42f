r"""Smooth Gaussian random fields (speed fields for fast marching).

A :class:`synthlang.ir.SpeedField` ``gaussian_field(mean m, std s, smoothness l,
minimum v)`` is a stationary Gaussian random field with Gaussian
autocorrelation

.. math:: \rho(d) = \exp\left(-\frac{d^2}{2 l^2}\right)

(``d`` in pixels), normalised per draw to mean ``m`` and standard deviation
``s`` and clipped below at ``v``.

Algorithm
---------
White noise filtered by a Gaussian of standard deviation ``sigma`` has the
autocorrelation ``exp(-d^2 / (4 sigma^2))``, so ``sigma = l / sqrt(2)``. The
field is smooth on the scale ``sigma``, so it is synthesised on a grid that is
``f = floor(sigma / 1.5)`` times coarser (at least 1.5 coarse pixels per
``sigma``), filtered there with ``sigma / f`` (periodic filter on a grid padded
by ``3 sigma / f`` on every side, so the crop shows no wrap-around), and brought
back to the requested grid by separable linear interpolation, much cheaper than
a full-resolution ``gaussian_filter`` (docs/architecture.md, Performance).

Normalisation is empirical: the draw is shifted and scaled so that its own
mean and standard deviation are exactly ``m`` and ``s`` (before clipping),
which keeps the requested statistics even when ``l`` is comparable to the
image size. Fields are float32.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from synthlang import ir

__all__ = ["gaussian_field", "white_noise_field", "upsample_linear"]


def upsample_linear(coarse: np.ndarray, shape: tuple[int, int], factor: float) -> np.ndarray:
    """Resample a coarse 2-d grid to ``shape`` by separable linear interpolation.

    Pixel centres are aligned: fine pixel ``i`` sits at coarse coordinate
    ``(i + 0.5) / factor - 0.5``; coordinates outside the coarse grid are
    clamped to its border.

    Parameters
    ----------
    coarse : numpy.ndarray
        ``(h, w)`` coarse values.
    shape : tuple of int
        ``(rows, cols)`` of the output.
    factor : float
        Fine pixels per coarse pixel.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` array of the dtype of ``coarse`` (float).

    Examples
    --------
    >>> upsample_linear(np.array([[0.0, 1.0]]), (1, 4), 2.0).tolist()
    [[0.0, 0.25, 0.75, 1.0]]
    """
    out = coarse
    for axis, n in enumerate(shape):
        size = out.shape[axis]
        pos = (np.arange(n, dtype=np.float64) + 0.5) / factor - 0.5
        pos = np.clip(pos, 0.0, size - 1)
        i0 = np.minimum(np.floor(pos).astype(np.intp), max(size - 2, 0))
        i1 = np.minimum(i0 + 1, size - 1)
        a = (pos - i0).astype(out.dtype)
        if axis == 0:
            out = out[i0, :] * (1 - a)[:, None] + out[i1, :] * a[:, None]
        else:
            out = out[:, i0] * (1 - a)[None, :] + out[:, i1] * a[None, :]
    return out


def white_noise_field(
    shape: tuple[int, int], smoothness: float, rng: np.random.Generator
) -> np.ndarray:
    """Zero-mean, unit-variance smooth Gaussian field with correlation length ``smoothness``.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the field.
    smoothness : float
        Correlation length ``l`` in pixels (autocorrelation ``exp(-d^2 / 2 l^2)``).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` float32 with empirical mean 0 and standard deviation 1
        (all zeros for a one-pixel field).

    Examples
    --------
    >>> z = white_noise_field((64, 64), 5.0, np.random.default_rng(0))
    >>> bool(abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-5)
    True
    """
    rows, cols = int(shape[0]), int(shape[1])
    sigma = max(float(smoothness), 1e-6) / math.sqrt(2.0)
    factor = max(1, int(sigma / 1.5))
    sigma_c = sigma / factor
    pad = int(math.ceil(3.0 * sigma_c))
    h = int(math.ceil(rows / factor)) + 1
    w = int(math.ceil(cols / factor)) + 1
    noise = rng.standard_normal((h + 2 * pad, w + 2 * pad), dtype=np.float32)
    if sigma_c > 0.1:
        noise = ndi.gaussian_filter(noise, sigma_c, mode="wrap", truncate=3.0)
    coarse = noise[pad : pad + h, pad : pad + w]
    if factor > 1:
        field = upsample_linear(coarse, (rows, cols), float(factor))
    else:
        field = np.array(coarse[:rows, :cols], dtype=np.float32)
    field -= field.mean(dtype=np.float64)
    sd = float(field.std(dtype=np.float64))
    if sd > 0:
        field /= np.float32(sd)
    return field


def gaussian_field(
    spec: ir.SpeedField,
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    pixel_size: float = 1.0,
) -> np.ndarray:
    """Draw a smooth, positive random speed field.

    Parameters
    ----------
    spec : synthlang.ir.SpeedField
        Mean, standard deviation, correlation length (image pixels) and minimum.
    shape : tuple of int
        ``(rows, cols)`` of the grid to fill.
    rng : numpy.random.Generator
        Source of randomness.
    pixel_size : float, optional
        Image pixels per grid pixel (``> 1`` for a coarse working grid): the
        correlation length on the grid is ``spec.smoothness / pixel_size``.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` float32, mean ``spec.mean`` and standard deviation
        ``spec.std`` before clipping at ``spec.minimum``.

    Examples
    --------
    >>> spec = ir.SpeedField(mean=1.0, std=0.3, smoothness=10.0)
    >>> f = gaussian_field(spec, (100, 120), np.random.default_rng(0))
    >>> f.shape, bool(f.min() >= spec.minimum)
    ((100, 120), True)
    """
    rows, cols = int(shape[0]), int(shape[1])
    if spec.std == 0 or rows * cols <= 1:
        return np.full((rows, cols), max(spec.mean, spec.minimum), dtype=np.float32)
    z = white_noise_field((rows, cols), spec.smoothness / float(pixel_size), rng)
    field = z * np.float32(spec.std) + np.float32(spec.mean)
    np.maximum(field, np.float32(spec.minimum), out=field)
    return field
