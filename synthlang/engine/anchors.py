"""Shape values drawn where an object is placed: ``along``, ``across``, ``relative``; ``in C``.

A shape's ``angle`` may be ``along(C)`` / ``across(C)`` and its ``scale`` ``relative(C, f)``
(:mod:`synthlang.ir.relative`). They depend on the object's centre, so placement draws the
centres of such shapes first and passes them to the shape samplers (``at``). The maps they
read are derived once per sample from the finished layer ``C`` and kept on the context
(``ctx.maps``):

* the boundary normal: the gradient of the signed distance to the union of ``C``'s objects
  (``scipy.ndimage.distance_transform_edt``; positive outside), smoothed by a Gaussian of
  :data:`NORMAL_SIGMA` px, so it is the direction to (or from) the nearest boundary;
* the nearest object: for every pixel, the object of ``C`` whose pixel is nearest (the
  object itself on its own pixels; the upper one where objects overlap), and each
  object's equivalent radius ``sqrt(area / pi)``.

Angles follow the engine's convention: degrees counter-clockwise from the column axis as
displayed, direction ``(-sin, cos)`` in ``(row, col)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import RenderContext
from synthlang.engine.sampling import draw_array

__all__ = [
    "NORMAL_SIGMA",
    "anchored",
    "draw_angles",
    "draw_scales",
    "resolve_shape",
    "boundary_angles",
    "nearest_radii",
    "in_layer_area",
]

NORMAL_SIGMA = 1.0
"""Gaussian sigma (px) by which the signed distance is smoothed before its gradient is taken."""

At = tuple[np.ndarray, np.ndarray]
"""Centre pixels ``(rows, cols)`` of the candidates, one per candidate."""


def anchored(shape: Any) -> bool:
    """Whether a shape has a value drawn where the object is placed (its centres come first)."""
    return bool(ir.shape_anchors(shape))


def _pixels(ctx: RenderContext, at: At | None, what: str) -> At:
    if at is None:
        raise RenderError(f"{what} needs the object's position; it is drawn by placement")
    h, w = ctx.shape
    rows = np.clip(np.asarray(at[0], dtype=np.intp), 0, h - 1)
    cols = np.clip(np.asarray(at[1], dtype=np.intp), 0, w - 1)
    return rows, cols


def _normals(ctx: RenderContext, category: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Gradient ``(d/drow, d/dcol)`` of the smoothed signed distance to a layer's objects."""
    key = ("normal", category)
    if key not in ctx.maps:
        from scipy import ndimage

        cover = ctx.coverage(category)
        if not cover.any():
            ctx.maps[key] = None
        else:
            signed = ndimage.distance_transform_edt(~cover)
            signed -= ndimage.distance_transform_edt(cover)
            signed = ndimage.gaussian_filter(signed, NORMAL_SIGMA)
            gr, gc = np.gradient(signed)
            ctx.maps[key] = (gr, gc)
    value: tuple[np.ndarray, np.ndarray] | None = ctx.maps[key]
    return value


def boundary_angles(ctx: RenderContext, category: str, at: At) -> np.ndarray:
    """The angle (degrees) of the normal of the nearest boundary of a layer's objects.

    Parameters
    ----------
    ctx : RenderContext
        The sample's context; ``category`` must be a finished layer.
    category : str
        The layer.
    at : tuple of numpy.ndarray
        Pixels ``(rows, cols)``.

    Returns
    -------
    numpy.ndarray
        One angle per pixel in [-180, 180] (0 where the layer has no objects); add 90 for the
        tangent.
    """
    rows, cols = _pixels(ctx, at, "a boundary angle")
    normals = _normals(ctx, category)
    if normals is None:
        return np.zeros(rows.shape, dtype=np.float64)
    gr, gc = normals
    return np.degrees(np.arctan2(-gr[rows, cols], gc[rows, cols]))


def _nearest(ctx: RenderContext, category: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per pixel the index of the nearest object of a layer, and each object's radius."""
    key = ("nearest", category)
    if key not in ctx.maps:
        from scipy import ndimage

        instances = ctx.instances_of(category)
        if not instances:
            ctx.maps[key] = None
        else:
            owner = np.full(ctx.shape, -1, dtype=np.int32)
            for k, inst in enumerate(instances):  # later objects lie on top
                np.copyto(owner[inst.slices], k, where=inst.mask)
            covered = owner >= 0
            if covered.all():
                index = owner
            else:
                near = ndimage.distance_transform_edt(
                    ~covered, return_distances=False, return_indices=True
                )
                index = owner[near[0], near[1]]
            radius = np.sqrt(np.array([i.area for i in instances], dtype=np.float64) / math.pi)
            ctx.maps[key] = (index, radius)
    value: tuple[np.ndarray, np.ndarray] | None = ctx.maps[key]
    return value


def nearest_radii(ctx: RenderContext, category: str, at: At) -> np.ndarray:
    """The equivalent radius ``sqrt(area / pi)`` of the object of a layer nearest each pixel.

    NaN where the layer has no objects.
    """
    rows, cols = _pixels(ctx, at, "a relative size")
    found = _nearest(ctx, category)
    if found is None:
        return np.full(rows.shape, np.nan)
    index, radius = found
    return radius[index[rows, cols]]


def draw_angles(
    value: Any, rng: np.random.Generator, n: int, ctx: RenderContext | None, at: At | None
) -> np.ndarray:
    """Draw ``n`` angles (degrees): a distribution, or ``along`` / ``across`` at ``at``.

    For an :class:`~synthlang.ir.Orientation` the jitter is drawn (``n`` values), then the
    boundary angle at each candidate's centre is added (plus 90 degrees for ``along``).
    """
    if not isinstance(value, ir.Orientation):
        return draw_array(value, rng, n)
    jitter = draw_array(value.jitter, rng, n)
    if ctx is None:
        raise RenderError(f"{value.kind}(...) needs the render context")
    base = boundary_angles(ctx, value.category, _pixels(ctx, at, f"{value.kind}(...)"))
    if value.kind == "along":
        base = base + 90.0
    return base + jitter


def draw_scales(
    value: Any, rng: np.random.Generator, n: int, ctx: RenderContext | None, at: At | None
) -> np.ndarray | None:
    """Draw ``n`` size factors: None (no scale, nothing drawn), a distribution or ``relative``.

    For a :class:`~synthlang.ir.RelativeSize` the factor ``f`` is drawn (``n`` values) and
    multiplied by the equivalent radius of the nearest object; NaN where there is none (the
    candidate cannot be placed).
    """
    if value is None:
        return None
    if not isinstance(value, ir.RelativeSize):
        return draw_array(value, rng, n)
    factor = draw_array(value.factor, rng, n)
    if ctx is None:
        raise RenderError("relative(...) needs the render context")
    return factor * nearest_radii(ctx, value.category, _pixels(ctx, at, "relative(...)"))


def resolve_shape(
    shape: Any, rng: np.random.Generator, ctx: RenderContext, at: tuple[int, int]
) -> Any | None:
    """A copy of an object shape with its anchored ``angle`` / ``scale`` drawn at one centre.

    Used for shapes drawn one by one (no batch sampler): the drawn values become constants,
    so the shape's own function needs to know nothing about anchors. None when the scale
    cannot be drawn (no object to be relative to).
    """
    where = (np.array([at[0]]), np.array([at[1]]))
    update: dict[str, Any] = {}
    if isinstance(shape.angle, ir.Orientation):
        update["angle"] = ir.Constant(value=float(draw_angles(shape.angle, rng, 1, ctx, where)[0]))
    if isinstance(getattr(shape, "scale", None), ir.RelativeSize):
        scale = float(draw_scales(shape.scale, rng, 1, ctx, where)[0])  # type: ignore[index]
        if not math.isfinite(scale) or scale <= 0:
            return None
        update["scale"] = ir.Constant(value=scale)
    return shape.model_copy(update=update)


def in_layer_area(ctx: RenderContext, cover: ir.InLayer) -> np.ndarray:
    """The pixels of a layer's objects (``in C``), or every other pixel (``not in C``)."""
    pixels = ctx.coverage(cover.category)
    return ~pixels if cover.invert else pixels
