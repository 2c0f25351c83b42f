"""Object and area shapes: the ellipse, the ``fill`` area, and shape dispatch.

Object shapes (``ellipse``, ``patch``) make one object in its own local frame
(an :class:`~synthlang.engine.base.ObjectDraw`) that a
:class:`~synthlang.ir.Placement` then puts somewhere; they are registered in
:data:`~synthlang.engine.base.OBJECT_SHAPES`. Area shapes (``fill``,
``grown``, ``ribbon``) make a layer's instances directly and are registered in
:data:`~synthlang.engine.base.AREA_SHAPES`.

For speed, placement asks for shapes in batches through :func:`sample_shapes`:
a :class:`ShapeBatch` holds the parameters of many candidate objects and a few
*probe* pixels per candidate (pixels that are certainly part of the object),
so most proposals can be rejected with one vectorised lookup before any mask
is rasterised. A shape kind can register a batch sampler in
:data:`SHAPE_SAMPLERS`; kinds without one (patches) go through a generic
adapter that calls the registered :data:`OBJECT_SHAPES` function per object.

Rasterisation uses pixel centres: pixel ``(r, c)`` has its centre at the
integer point ``(r, c)`` and belongs to a shape when its centre does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.anchors import anchored, draw_angles, draw_scales, resolve_shape
from synthlang.engine.base import (
    AREA_SHAPES,
    OBJECT_SHAPES,
    Instance,
    ObjectDraw,
    RenderContext,
    register,
)
from synthlang.engine.sampling import draw_array

__all__ = [
    "MIN_SEMI_AXIS",
    "rasterize_ellipse",
    "ellipse_shape",
    "fill_shape",
    "ShapeBatch",
    "EllipseBatch",
    "GenericBatch",
    "SHAPE_SAMPLERS",
    "GENERIC_BATCH",
    "register_sampler",
    "batch_size",
    "anchor_pixel",
    "sample_shapes",
    "instance_from_mask",
    "build_area_instances",
]

MIN_SEMI_AXIS = 0.5
"""Drawn semi-axes are clamped below at this value (pixels)."""

_EPS = 1e-9
_OUTER = np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False)
_INNER = np.linspace(0.0, 2.0 * np.pi, 8, endpoint=False) + np.pi / 8
# probe directions (cos, sin) scaled by the ring: outer ring 1, inner ring 0.5, centre 0
_PROBE_DIRS = np.stack(
    [
        np.concatenate([[0.0], np.cos(_OUTER), 0.5 * np.cos(_INNER)]),
        np.concatenate([[0.0], np.sin(_OUTER), 0.5 * np.sin(_INNER)]),
    ]
)


# --------------------------------------------------------------------------- ellipse


_FEATURE_CACHE: dict[tuple[int, int], np.ndarray] = {}
_FEATURE_CACHE_BYTES = [0]
_FEATURE_CACHE_LIMIT = 16 * 2**20


def _features(rr: int, rc: int) -> np.ndarray:
    """``(2 rr + 1, 2 rc + 1, 3)`` float64 grid of ``(dr^2, dr dc, dc^2)`` (cached up to 16 MiB)."""
    key = (rr, rc)
    f = _FEATURE_CACHE.get(key)
    if f is not None:
        return f
    dr = np.arange(-rr, rr + 1, dtype=np.float64)[:, None]
    dc = np.arange(-rc, rc + 1, dtype=np.float64)[None, :]
    f = np.empty((2 * rr + 1, 2 * rc + 1, 3), dtype=np.float64)
    f[..., 0] = dr * dr
    f[..., 1] = dr * dc
    f[..., 2] = dc * dc
    if _FEATURE_CACHE_BYTES[0] + f.nbytes <= _FEATURE_CACHE_LIMIT:
        f.setflags(write=False)
        _FEATURE_CACHE[key] = f
        _FEATURE_CACHE_BYTES[0] += f.nbytes
    return f


def rasterize_ellipse(
    a: float, b: float, angle: float, *, window: tuple[int, int] | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """Rasterise a filled ellipse centred on a pixel centre.

    Parameters
    ----------
    a, b : float
        Semi-axes in pixels (clamped below at :data:`MIN_SEMI_AXIS`); ``a``
        lies along the inclination.
    angle : float
        Inclination of the ``a`` axis in degrees, counter-clockwise from the
        column axis as displayed (direction ``(-sin, cos)`` in ``(row, col)``).
    window : tuple of int, optional
        Largest half extents ``(rows, cols)`` to rasterise; pixels farther
        from the centre are left out. Placement passes the image size minus
        one: no pixel farther away can land in the image wherever the centre
        is, so the placed object is the same, and an ellipse much larger than
        the image costs no more than the image (memory and time).

    Returns
    -------
    mask : numpy.ndarray
        Boolean ``(2 R_r + 1, 2 R_c + 1)`` array, True where the pixel centre
        lies in the closed ellipse.
    anchor : tuple of int
        ``(R_r, R_c)``: the ellipse centre in the local frame.

    Examples
    --------
    >>> mask, anchor = rasterize_ellipse(2, 1, 0)
    >>> anchor, mask.astype(int).tolist()
    ((1, 2), [[0, 0, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]])
    """
    a = max(float(a), MIN_SEMI_AXIS)
    b = max(float(b), MIN_SEMI_AXIS)
    t = math.radians(float(angle))
    s, c = math.sin(t), math.cos(t)
    ia2, ib2 = 1.0 / (a * a), 1.0 / (b * b)
    form = np.array(
        (s * s * ia2 + c * c * ib2, 2.0 * s * c * (ib2 - ia2), c * c * ia2 + s * s * ib2)
    )
    rr = int(math.sqrt((a * s) ** 2 + (b * c) ** 2) + _EPS)
    rc = int(math.sqrt((a * c) ** 2 + (b * s) ** 2) + _EPS)
    if window is not None:
        rr, rc = min(rr, max(int(window[0]), 0)), min(rc, max(int(window[1]), 0))
    q = _features(rr, rc) @ form
    return q <= 1.0 + _EPS, (rr, rc)


def _draw_ellipse_params(
    shape: ir.EllipseShape,
    rng: np.random.Generator,
    n: int,
    ctx: RenderContext | None = None,
    at: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Draw ``n`` semi-axis pairs, angles and scales (in this order: a, b, angle, scale).

    ``at``: the candidates' centres, for an angle or scale relative to another layer
    (:mod:`synthlang.engine.anchors`). The last item is None without a ``scale``, else
    whether each candidate could be sized (False: no object to be relative to).
    """
    a = draw_array(shape.semi_axes[0], rng, n)
    b = draw_array(shape.semi_axes[1], rng, n)
    angle = draw_angles(shape.angle, rng, n, ctx, at)
    scale = draw_scales(shape.scale, rng, n, ctx, at)
    valid = None
    if scale is not None:
        valid = np.isfinite(scale) & (scale > 0)
        factor = np.where(valid, scale, 1.0)
        a, b = a * factor, b * factor
    return np.maximum(a, MIN_SEMI_AXIS), np.maximum(b, MIN_SEMI_AXIS), angle, valid


@register(OBJECT_SHAPES, "ellipse")
def ellipse_shape(shape: ir.EllipseShape, rng: np.random.Generator, ctx: Any = None) -> ObjectDraw:
    """Draw one ellipse object (semi-axes and inclination from the IR distributions).

    Parameters
    ----------
    shape : synthlang.ir.EllipseShape
        The shape IR.
    rng : numpy.random.Generator
        Source of randomness.
    ctx : RenderContext, optional
        The render state; with it, pixels that can never land in the image are
        not rasterised (see :func:`rasterize_ellipse`).

    Returns
    -------
    ObjectDraw
        The mask with its centre as integer anchor.

    Examples
    --------
    >>> s = ir.EllipseShape(semi_axes=(ir.Constant(value=3), ir.Constant(value=3)))
    >>> int(ellipse_shape(s, np.random.default_rng(0)).mask.sum())
    29
    """
    a, b, angle, _ = _draw_ellipse_params(shape, rng, 1, ctx)
    mask, anchor = rasterize_ellipse(a[0], b[0], angle[0], window=_window(ctx))
    return ObjectDraw(mask=mask, anchor=(float(anchor[0]), float(anchor[1])))


@register(OBJECT_SHAPES, "polygon")
def polygon_shape(shape: ir.PolygonShape, rng: np.random.Generator, ctx: Any = None) -> ObjectDraw:
    """Draw one random star-shaped polygon (see :class:`synthlang.ir.PolygonShape`).

    Examples
    --------
    >>> s = ir.PolygonShape(vertices=ir.Constant(value=4), radius=ir.Constant(value=5),
    ...                     irregularity=ir.Constant(value=0), angle=ir.Constant(value=45))
    >>> int(polygon_shape(s, np.random.default_rng(0)).mask.sum())
    49
    """
    from skimage.draw import polygon

    n = round(draw_array(shape.vertices, rng, 1)[0])
    radius = max(draw_array(shape.radius, rng, 1)[0], MIN_SEMI_AXIS)
    spread = draw_array(shape.irregularity, rng, 1)[0]
    start = math.radians(draw_array(shape.angle, rng, 1)[0])  # type: ignore[arg-type]
    if shape.scale is not None:  # a relative scale is resolved by placement (resolve_shape)
        radius = max(radius * draw_array(shape.scale, rng, 1)[0], MIN_SEMI_AXIS)  # type: ignore[arg-type]
    r = radius * (1.0 + spread * rng.uniform(-1.0, 1.0, n))
    t = start + 2.0 * np.pi * np.arange(n) / n
    rows, cols = -r * np.sin(t), r * np.cos(t)
    half = math.ceil(max(np.abs(rows).max(), np.abs(cols).max()))
    mask = np.zeros((2 * half + 1, 2 * half + 1), dtype=bool)
    mask[polygon(rows + half, cols + half, shape=mask.shape)] = True
    mask[half, half] = True  # a sliver still has its centre pixel
    return ObjectDraw(mask=mask, anchor=(float(half), float(half)))


def _window(ctx: Any) -> tuple[int, int] | None:
    """Half extents beyond which no pixel of an object centred in the image is in the image."""
    if ctx is None:
        return None
    rows, cols = ctx.shape
    return (rows - 1, cols - 1)


# --------------------------------------------------------------------------- batches


class ShapeBatch(Protocol):
    """Candidate objects of one shape kind, drawn together for placement."""

    @property
    def size(self) -> int:
        """Number of candidates."""
        ...

    def probes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(dr, dc, valid)``.

        ``dr, dc`` are ``(size, K)`` integer offsets, relative to the pixel the
        object's anchor is placed on, of pixels that certainly belong to the
        object; ``valid`` is ``(size,)`` bool, False for candidates that can
        never be placed (empty masks).
        """
        ...

    def draw(self, i: int) -> ObjectDraw:
        """Return candidate ``i`` rasterised in its local frame."""
        ...


@dataclass
class EllipseBatch:
    """A batch of ellipse candidates: semi-axes ``a``, ``b`` and inclinations ``angle``."""

    a: np.ndarray
    b: np.ndarray
    angle: np.ndarray
    window: tuple[int, int] | None = None
    valid: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of candidates."""
        return int(self.a.shape[0])

    def probes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the centre and points on two inner rings of each ellipse.

        The outer ring lies at ``rho = 1 - 0.75 / min(a, b)`` of the ellipse
        (at most 0.97) and the inner one at half that; a point there is more
        than ``sqrt(2) / 2`` px inside the boundary, so its nearest pixel centre
        (the probe) is an object pixel.
        """
        n = self.size
        t = np.deg2rad(self.angle)
        s, c = np.sin(t), np.cos(t)
        rho = np.clip(1.0 - 0.75 / np.minimum(self.a, self.b), 0.0, 0.97)
        ra = rho * self.a
        rb = rho * self.b
        # rows 0..n-1: dr = -ra s cos(phi) + rb c sin(phi); rows n..2n-1: dc = ra c cos + rb s sin
        coef = np.empty((2 * n, 2))
        coef[:n, 0] = -ra * s
        coef[:n, 1] = rb * c
        coef[n:, 0] = ra * c
        coef[n:, 1] = rb * s
        off = np.rint(coef @ _PROBE_DIRS).astype(np.intp)
        valid = np.ones(n, dtype=bool) if self.valid is None else self.valid.copy()
        return off[:n], off[n:], valid

    def draw(self, i: int) -> ObjectDraw:
        """Rasterise candidate ``i``."""
        mask, anchor = rasterize_ellipse(self.a[i], self.b[i], self.angle[i], window=self.window)
        return ObjectDraw(mask=mask, anchor=(float(anchor[0]), float(anchor[1])))


def anchor_pixel(draw: ObjectDraw) -> tuple[int, int]:
    """Return the local pixel the anchor is rounded to (half up)."""
    return (int(math.floor(draw.anchor[0] + 0.5)), int(math.floor(draw.anchor[1] + 0.5)))


@dataclass
class GenericBatch:
    """Candidates made one by one by a registered object-shape function."""

    draws: list[ObjectDraw]
    n_probes: int = 25

    @property
    def size(self) -> int:
        """Number of candidates."""
        return len(self.draws)

    def probes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return up to ``n_probes`` evenly spaced mask pixels per candidate."""
        n = self.size
        dr = np.zeros((n, self.n_probes), dtype=np.intp)
        dc = np.zeros((n, self.n_probes), dtype=np.intp)
        valid = np.ones(n, dtype=bool)
        for i, d in enumerate(self.draws):
            rows, cols = np.nonzero(d.mask)
            if rows.size == 0:
                valid[i] = False
                continue
            pick = np.linspace(0, rows.size - 1, self.n_probes).astype(np.intp)
            ar, ac = anchor_pixel(d)
            dr[i] = rows[pick] - ar
            dc[i] = cols[pick] - ac
        return dr, dc, valid

    def draw(self, i: int) -> ObjectDraw:
        """Return candidate ``i``."""
        return self.draws[i]


ShapeSampler = Callable[..., ShapeBatch]

SHAPE_SAMPLERS: dict[str, tuple[ShapeSampler, int]] = {}
"""Batch samplers by shape kind: ``kind -> (fn(shape_ir, rng, n, ctx) -> ShapeBatch, batch)``.

``batch`` is the number of candidates placement asks for at a time. A sampler of a shape
whose values can be relative to another layer (:mod:`synthlang.engine.anchors`) also takes
``at=(rows, cols)``, the candidates' centres.
"""

GENERIC_BATCH = 4
"""Batch size used for object shapes without a registered batch sampler."""


def register_sampler(kind: str, batch: int) -> Callable[[ShapeSampler], ShapeSampler]:
    """Decorator: register a batch sampler for an object-shape kind."""

    def deco(fn: ShapeSampler) -> ShapeSampler:
        if kind in SHAPE_SAMPLERS:
            raise ValueError(f"{kind!r} already has a sampler")
        SHAPE_SAMPLERS[kind] = (fn, batch)
        return fn

    return deco


@register_sampler("ellipse", 128)
def _ellipse_sampler(
    shape: ir.EllipseShape,
    rng: np.random.Generator,
    n: int,
    ctx: RenderContext,
    at: tuple[np.ndarray, np.ndarray] | None = None,
) -> EllipseBatch:
    a, b, angle, valid = _draw_ellipse_params(shape, rng, n, ctx, at)
    return EllipseBatch(a, b, angle, window=_window(ctx), valid=valid)


def batch_size(kind: str) -> int:
    """Number of candidates placement draws at a time for a shape kind."""
    entry = SHAPE_SAMPLERS.get(kind)
    return entry[1] if entry is not None else GENERIC_BATCH


def sample_shapes(
    shape: Any,
    rng: np.random.Generator,
    n: int,
    ctx: RenderContext,
    at: tuple[np.ndarray, np.ndarray] | None = None,
) -> ShapeBatch:
    """Draw ``n`` candidate objects of an object shape.

    Uses the kind's batch sampler when one is registered, else calls the
    :data:`~synthlang.engine.base.OBJECT_SHAPES` function ``n`` times. ``at`` gives the
    candidates' centres ``(rows, cols)`` for a shape with values relative to another layer
    (``angle across(C)``, ``scale relative(C, f)``); other shapes ignore it.

    Raises
    ------
    RenderError
        If the shape kind is not a registered object shape.
    """
    relative = at is not None and anchored(shape)
    entry = SHAPE_SAMPLERS.get(shape.kind)
    if entry is not None:
        return entry[0](shape, rng, n, ctx, at=at) if relative else entry[0](shape, rng, n, ctx)
    fn = OBJECT_SHAPES.get(shape.kind)
    if fn is None:
        raise RenderError(f"no object shape {shape.kind!r} is registered")
    if not relative:
        return GenericBatch([fn(shape, rng, ctx) for _ in range(n)])
    assert at is not None
    draws = []
    for r, c in zip(at[0].tolist(), at[1].tolist(), strict=True):
        one = resolve_shape(shape, rng, ctx, (r, c))
        draws.append(fn(one, rng, ctx) if one is not None else _NOTHING)
    return GenericBatch(draws)


_NOTHING = ObjectDraw(mask=np.zeros((1, 1), dtype=bool), anchor=(0.0, 0.0))
"""A candidate that cannot be placed (its size was relative to an object that is absent)."""


# --------------------------------------------------------------------------- area shapes


def instance_from_mask(
    mask: np.ndarray, layer: ir.Layer, ctx: RenderContext, *, parent: int = 0
) -> Instance | None:
    """Make an instance from an image-sized mask (cropped to its bounding box).

    The centre is the centroid of the mask. Returns None for an empty mask.
    The mask is not copied when it is all True (a whole-image object shares it).
    """
    row_counts = np.count_nonzero(mask, axis=1)
    total = int(row_counts.sum())
    if total == 0:
        return None
    col_counts = np.count_nonzero(mask, axis=0)
    rows = np.flatnonzero(row_counts)
    cols = np.flatnonzero(col_counts)
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    center = (
        float(row_counts @ np.arange(mask.shape[0])) / total,
        float(col_counts @ np.arange(mask.shape[1])) / total,
    )
    if total == mask.size:
        local = mask
    else:
        local = np.ascontiguousarray(mask[r0:r1, c0:c1])
    inst = Instance(
        id=ctx.new_id(),
        layer=layer.index,
        category=layer.name,
        r0=r0,
        c0=c0,
        mask=local,
        center=center,
        parent=parent,
    )
    inst._area = total
    return inst


@register(AREA_SHAPES, "fill")
def fill_shape(layer: ir.Layer, ctx: RenderContext, rng: np.random.Generator) -> list[Instance]:
    """The whole area of a layer as objects: one per selected region, or one for the union.

    Without regions (or with ``per_region`` false) the object is the layer's
    whole area (the image when the layer has no region selection). Empty
    regions make no object. Draws nothing from ``rng``.

    Examples
    --------
    >>> scene = ir.Scene(name="s", size=(4, 5), layers=(ir.Layer(index=0, name="bg",
    ...     shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1))),))
    >>> ctx = RenderContext(scene, np.random.default_rng(0))
    >>> [i.area for i in fill_shape(scene.layers[0], ctx, ctx.rng)]
    [20]
    """
    assert isinstance(layer.shape, ir.FillShape)
    area = ctx.area(layer.regions)
    if ctx.regions is None or layer.regions is None or not layer.shape.per_region:
        inst = instance_from_mask(area, layer, ctx)
        return [] if inst is None else [inst]
    out = []
    for label in ctx.selected_labels(layer.regions):
        inst = instance_from_mask((ctx.regions == label) & area, layer, ctx)
        if inst is not None:
            out.append(inst)
    return out


def build_area_instances(
    layer: ir.Layer, ctx: RenderContext, rng: np.random.Generator
) -> list[Instance]:
    """Dispatch an area shape through :data:`~synthlang.engine.base.AREA_SHAPES`.

    Raises
    ------
    RenderError
        If no area shape of that kind is registered.
    """
    fn = AREA_SHAPES.get(layer.shape.kind)
    if fn is None:
        raise RenderError(
            f"layer {layer.name!r}: no area shape {layer.shape.kind!r} is registered",
            layer.span.to_span() if layer.span else None,
        )
    return list(fn(layer, ctx, rng))
