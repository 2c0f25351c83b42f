"""Chromatin-like texture of a layer's objects: ``chromatin(amount, scale, granules, rim)``.

Every object of a layer with a ``chromatin`` item gets its own shading field
``s`` over its bounding box, and its colour is multiplied by it (the clean and
the noisy image alike; the noisy image adds the layer's pixel noise on top):

1. band-passed noise ``n``: white Gaussian noise filtered with a difference of
   Gaussians of sigma ``scale`` and ``2 scale`` (:func:`scipy.ndimage.gaussian_filter`),
   standardised over the object's pixels;
2. granules ``g``: a soft indicator of the noise's upper tail,
   ``clip((n - 0.5) / 0.5, 0, 1)``, standardised -- distinct dark spots;
3. texture ``t``: ``(1 - granules) n + granules g``, standardised;
4. ``s = (1 - amount t) (1 - rim exp(-((D - 1) / scale)^2))``, clipped at 0,
   with ``D`` the distance to the border (:func:`~synthlang.engine.soft.border_distance`,
   1 on the border pixels): high texture values darken, the rim is darker;
5. ``s`` is divided by its mean over the object, so the object keeps its mean
   colour (up to clipping to [0, 1]).

Draws, per layer: ``amount``, ``scale``, ``granules``, ``rim`` for all objects
(one array each, in this order), then one standard normal per box pixel for
each object in id order. Nothing is drawn for layers without ``chromatin``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from synthlang import ir
from synthlang.engine.base import Instance, RenderContext
from synthlang.engine.sampling import draw_array
from synthlang.engine.soft import Sides, border_distance, open_sides

__all__ = ["chromatin_shade", "apply_chromatin"]

_GRANULE_LOW = 0.5
"""Standardised noise level (std units) where granules start."""
_GRANULE_RAMP = 0.5
"""Width (std units) of the granules' soft edge."""


def _standardise(x: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Zero mean and unit standard deviation over ``inside`` (all zero when constant there)."""
    values = x[inside]
    std = float(values.std())
    if not std > 1e-12:
        return np.zeros_like(x)
    return (x - float(values.mean())) / std


def chromatin_shade(
    mask: np.ndarray,
    noise: np.ndarray,
    *,
    amount: float,
    scale: float,
    granules: float,
    rim: float,
    sides: Sides = (False, False, False, False),
) -> np.ndarray:
    """The shading field of one object (see the module docstring).

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean ``(h, w)`` object pixels.
    noise : numpy.ndarray
        ``(h, w)`` standard normal draws.
    amount, scale, granules, rim : float
        The drawn parameters: relative standard deviation, band-pass sigma (px),
        granule share, rim darkening.
    sides : tuple of bool
        ``(top, bottom, left, right)`` sides of the box cut by the image border
        (no rim there).

    Returns
    -------
    numpy.ndarray
        ``(h, w)`` float32 factors >= 0 with mean 1 over the object; 1 off it.

    Examples
    --------
    >>> mask = np.ones((24, 24), bool)
    >>> s = chromatin_shade(mask, np.random.default_rng(0).standard_normal((24, 24)),
    ...                     amount=0.2, scale=1.5, granules=0.5, rim=0.1)
    >>> round(float(s.mean()), 4), 0.1 < float(s.std()) < 0.3
    (1.0, True)
    """
    out = np.ones(mask.shape, dtype=np.float32)
    if not mask.any():
        return out
    band = ndimage.gaussian_filter(noise, scale, mode="reflect")
    band -= ndimage.gaussian_filter(noise, 2.0 * scale, mode="reflect")
    n = _standardise(band, mask)
    g = _standardise(np.clip((n - _GRANULE_LOW) / _GRANULE_RAMP, 0.0, 1.0), mask)
    t = _standardise((1.0 - granules) * n + granules * g, mask)
    shade = 1.0 - amount * t
    if rim > 0:
        d = border_distance(mask, sides)
        shade *= 1.0 - rim * np.exp(-(((d - 1.0) / scale) ** 2))
    np.clip(shade, 0.0, None, out=shade)
    mean = float(shade[mask].mean())
    if mean > 0:
        shade /= mean
    out[mask] = shade[mask]
    return out


def apply_chromatin(
    spec: ir.Chromatin, instances: list[Instance], ctx: RenderContext, rng: np.random.Generator
) -> None:
    """Give every instance its chromatin shading.

    A flat-coloured instance gets ``Instance.shade`` (compositing multiplies
    its colour by it); a textured one (own ``clean`` / ``noisy`` pixels) has
    both multiplied now (new arrays; clipped to [0, 1]).
    """
    n = len(instances)
    if n == 0:
        return
    amount = draw_array(spec.amount, rng, n)
    scale = draw_array(spec.scale, rng, n)
    granules = draw_array(spec.granules, rng, n)
    rim = draw_array(spec.rim, rng, n)
    for k, inst in enumerate(instances):
        noise = rng.standard_normal(inst.mask.shape)
        shade = chromatin_shade(
            inst.mask,
            noise,
            amount=float(amount[k]),
            scale=float(scale[k]),
            granules=float(granules[k]),
            rim=float(rim[k]),
            sides=open_sides(inst, ctx.shape),
        )
        if inst.clean is None:
            inst.shade = shade
            continue
        factor = shade[:, :, None]
        inst.clean = np.clip(inst.clean * factor, 0.0, 1.0).astype(np.float32)
        if inst.noisy is not None:
            inst.noisy = np.clip(inst.noisy * factor, 0.0, 1.0).astype(np.float32)
