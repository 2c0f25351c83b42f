"""Soft object edges: the alpha falloff of ``soft(width W)`` at an object's border.

A layer with ``soft(width W)`` draws one width per object (after its colours,
contours and chromatin, in id order). Compositing
(:mod:`synthlang.engine.composite`) then blends each such object over what
lies below it with the opacity

    ``alpha = clip(0.5 - d / width, 0, 1)``,

where ``d`` is the signed distance (px) of a pixel centre from the object's
border, negative inside. The border lies half-way between an object pixel and
its nearest non-object pixel, so ``d = 0.5 - D_in`` on object pixels (``D_in``
the Euclidean distance to the nearest non-object pixel centre) and
``d = D_out - 0.5`` elsewhere (``D_out`` the distance to the nearest object
pixel centre). Hence ``alpha > 0.5`` exactly on the object's pixels and
``alpha < 0.5`` off them: the mask, the instance map and every object
statistic keep the object's exact shape, and a width of at most 1 px is the
hard edge. Beyond its mask, where ``0 < alpha < 0.5``, an object shows the
colour of its nearest object pixel.

Where an object is cut by the image border, it is taken to continue beyond it
(the border row or column is repeated), so it does not fade at the image edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from synthlang import ir
from synthlang.engine.base import Instance
from synthlang.engine.sampling import draw_array

__all__ = [
    "Sides",
    "open_sides",
    "pad_mask",
    "border_distance",
    "SoftAlpha",
    "soft_alpha",
    "draw_soft_widths",
]

Sides = tuple[bool, bool, bool, bool]


def open_sides(inst: Instance, shape: tuple[int, int]) -> Sides:
    """``(top, bottom, left, right)``: the sides of an instance's box on the image border."""
    h, w = shape
    return (inst.r0 == 0, inst.r1 == h, inst.c0 == 0, inst.c1 == w)


def pad_mask(mask: np.ndarray, pad: int, sides: Sides = (False, False, False, False)) -> np.ndarray:
    """Grow a mask's box by ``pad`` pixels on every side.

    The new pixels are False, except on ``sides`` cut by the image border,
    where the mask's border row or column is repeated (the object continues
    beyond the image).

    Examples
    --------
    >>> m = np.array([[1, 0], [1, 1]], bool)
    >>> pad_mask(m, 1, (True, False, False, False)).astype(int).tolist()
    [[0, 1, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """
    h, w = mask.shape
    out = np.zeros((h + 2 * pad, w + 2 * pad), dtype=bool)
    out[pad : pad + h, pad : pad + w] = mask
    if pad == 0:
        return out
    top, bottom, left, right = sides
    if top:
        out[:pad, pad : pad + w] = mask[0]
    if bottom:
        out[pad + h :, pad : pad + w] = mask[-1]
    if left:
        out[:, :pad] = out[:, pad : pad + 1]
    if right:
        out[:, pad + w :] = out[:, pad + w - 1 : pad + w]
    return out


def _inner_distance(padded: np.ndarray) -> np.ndarray:
    """Distance of each True pixel to the nearest False pixel centre (inf when there is none)."""
    if padded.all():
        return np.full(padded.shape, np.inf)
    return ndimage.distance_transform_edt(padded)


def border_distance(mask: np.ndarray, sides: Sides = (False, False, False, False)) -> np.ndarray:
    """Distance (px) of each object pixel to the nearest non-object pixel centre.

    1 on the object's border pixels, growing inwards; 0 off the object. Sides
    cut by the image border are no border (see :func:`pad_mask`).

    Examples
    --------
    >>> border_distance(np.ones((3, 4), bool)).tolist()[1]
    [1.0, 2.0, 2.0, 1.0]
    >>> border_distance(np.ones((3, 4), bool), (True, True, True, False)).tolist()[1]
    [4.0, 3.0, 2.0, 1.0]
    >>> bool(np.isinf(border_distance(np.ones((2, 2), bool), (True,) * 4)).all())
    True
    """
    # one pixel of padding suffices: pixels beyond the array are not background for
    # the distance transform, and repeated border rows are never nearer than the originals
    d = _inner_distance(pad_mask(mask, 1, sides))[1:-1, 1:-1]
    return np.where(mask, d, 0.0)


@dataclass(frozen=True)
class SoftAlpha:
    """An object's alpha in its box grown by ``pad`` pixels on every side.

    Attributes
    ----------
    alpha : numpy.ndarray
        ``(h + 2 pad, w + 2 pad)`` float32 opacity in [0, 1].
    pad : int
        How far the grown box reaches beyond the mask's box.
    rows, cols : numpy.ndarray
        ``(h + 2 pad, w + 2 pad)`` indices into the mask's box of each pixel's
        nearest object pixel (the pixel itself on the object).
    """

    alpha: np.ndarray
    pad: int
    rows: np.ndarray
    cols: np.ndarray


def soft_alpha(
    mask: np.ndarray, width: float, sides: Sides = (False, False, False, False)
) -> SoftAlpha:
    """Alpha of an object with a soft edge of ``width`` pixels (see the module docstring).

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean ``(h, w)`` object pixels (not empty).
    width : float
        Width of the falloff in pixels; at most 1 gives the hard edge.
    sides : tuple of bool
        ``(top, bottom, left, right)`` sides cut by the image border.

    Returns
    -------
    SoftAlpha

    Examples
    --------
    >>> a = soft_alpha(np.ones((7, 7), bool), 3.0)
    >>> a.pad, np.round(a.alpha[a.pad + 3].astype(float), 2).tolist()
    (3, [0.0, 0.0, 0.33, 0.67, 1.0, 1.0, 1.0, 1.0, 1.0, 0.67, 0.33, 0.0, 0.0])
    >>> bool(np.array_equal(soft_alpha(np.eye(3, dtype=bool), 2.5).alpha[3:-3, 3:-3] > 0.5,
    ...                     np.eye(3, dtype=bool)))
    True
    """
    width = float(width)
    if width <= 1.0:
        h, w = mask.shape
        rows, cols = np.indices((h, w))
        return SoftAlpha(mask.astype(np.float32), 0, rows, cols)
    pad = math.ceil(width / 2.0) + 1
    padded = pad_mask(mask, pad, sides)
    inner = _inner_distance(padded)
    outer, (rows, cols) = ndimage.distance_transform_edt(~padded, return_indices=True)
    signed = np.where(padded, 0.5 - inner, outer - 0.5)
    alpha = np.clip(0.5 - signed / width, 0.0, 1.0).astype(np.float32)
    h, w = mask.shape
    # pixels of the repeated border rows map to the border row they repeat
    rows = np.clip(rows - pad, 0, h - 1)
    cols = np.clip(cols - pad, 0, w - 1)
    return SoftAlpha(alpha, pad, rows, cols)


def draw_soft_widths(
    spec: ir.SoftEdge, instances: list[Instance], rng: np.random.Generator
) -> None:
    """Draw each instance's falloff width (one draw of ``len(instances)`` values, in id order)."""
    widths = draw_array(spec.width, rng, len(instances))
    for inst, width in zip(instances, widths, strict=True):
        inst.soft = float(width)
