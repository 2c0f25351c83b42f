"""Colour models (textures) and contours of a layer's instances.

A texture function is registered in :data:`~synthlang.engine.base.TEXTURES`
under the colour model's ``kind`` with the signature
``fn(color_ir, layer_ir, instances, ctx, rng) -> chol or None``. It sets each
instance's clean colour (``Instance.mean``, or its own ``clean``/``noisy``
arrays for textured objects) and returns the ``(3, 3)`` factor ``L`` of the
layer's per-pixel noise covariance (``L @ L.T == cov``), or None when the
layer has no pixel noise. The compositor adds ``L @ z`` with one standard
normal triple ``z`` per pixel to the clean colour to make the noisy image.

The ``mvn`` model draws each object's mean colour from ``N(mean, between)``,
clipped to [0, 1]. Contours (:class:`synthlang.ir.Contour`) are the object
pixels within ``width`` pixels of the object's boundary, painted with their
own ``mvn`` colour. After the colours and contours, :func:`texture_layer` applies
the layer's ``chromatin`` (:mod:`synthlang.engine.chromatin`) and draws its
``soft`` edge widths (:mod:`synthlang.engine.soft`), only when the layer has them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import TEXTURES, Instance, RenderContext, register
from synthlang.engine.chromatin import apply_chromatin
from synthlang.engine.soft import draw_soft_widths

__all__ = [
    "psd_factor",
    "object_means",
    "mvn_texture",
    "contour_mask",
    "apply_contour",
    "texture_layer",
]


@lru_cache(maxsize=256)
def _factor(matrix: tuple[tuple[float, ...], ...]) -> np.ndarray | None:
    m = np.asarray(matrix, dtype=np.float64)
    if not np.any(m):
        return None
    m = 0.5 * (m + m.T)
    try:
        f = np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(m)
        f = vecs * np.sqrt(np.clip(vals, 0.0, None))[None, :]
    f.setflags(write=False)
    return f


def psd_factor(matrix: tuple[tuple[float, ...], ...] | np.ndarray) -> np.ndarray | None:
    """Return ``F`` with ``F @ F.T == matrix`` for a symmetric PSD matrix, None for zero.

    The Cholesky factor when the matrix is positive definite, otherwise the
    eigen-decomposition factor ``V sqrt(max(w, 0))`` (PSD-singular matrices).
    Results are cached and read-only.

    Examples
    --------
    >>> f = psd_factor(((1.0, 1.0, 0.0), (1.0, 1.0, 0.0), (0.0, 0.0, 4.0)))
    >>> np.allclose(f @ f.T, [[1, 1, 0], [1, 1, 0], [0, 0, 4]])
    True
    >>> psd_factor(((0.0,) * 3,) * 3) is None
    True
    """
    key = tuple(tuple(float(v) for v in row) for row in np.asarray(matrix).tolist())
    return _factor(key)


def object_means(color: ir.MVNColor, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` object mean colours from ``N(mean, between)``, clipped to [0, 1].

    Draws ``n`` standard normal vectors (one value per channel) when ``between`` is
    non-zero, nothing otherwise.

    Returns
    -------
    numpy.ndarray
        ``(n, C)`` float32, ``C`` the colour's channels (3 for RGB).

    Examples
    --------
    >>> m = object_means(ir.MVNColor(mean=(0.25, 0.5, 1.5)), 2, np.random.default_rng(0))
    >>> m.dtype.name, m.tolist()
    ('float32', [[0.25, 0.5, 1.0], [0.25, 0.5, 1.0]])
    """
    mean = np.asarray(color.mean, dtype=np.float64)
    c = mean.shape[0]
    f = psd_factor(color.between)
    if f is None or n == 0:
        out = np.broadcast_to(mean, (n, c)).copy()
    else:
        out = mean + rng.standard_normal((n, c)) @ f.T
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@register(TEXTURES, "mvn")
def mvn_texture(
    color: ir.MVNColor,
    layer: ir.Layer,
    instances: list[Instance],
    ctx: RenderContext,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """Give every instance a mean colour; return the layer's pixel-noise factor.

    Instances that carry their own texture (``clean`` set, e.g. patches)
    still get a mean (used by previews and statistics) but keep their pixels.
    """
    means = object_means(color, len(instances), rng)
    for inst, m in zip(instances, means, strict=True):
        inst.mean = m
    return psd_factor(color.cov)


def contour_mask(mask: np.ndarray, width: int, open_sides: tuple[bool, ...] = ()) -> np.ndarray:
    """Pixels of ``mask`` within ``width`` pixels (Euclidean) of its boundary.

    A pixel is a contour pixel when some non-object pixel lies within
    distance ``width`` of it (binary erosion with a disk of that radius).

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean ``(h, w)`` object mask.
    width : int
        Contour width in pixels (>= 1).
    open_sides : tuple of bool, optional
        ``(top, bottom, left, right)``: sides where the mask was cut by the
        image border; the object is taken to continue there, so the border
        is not a boundary.

    Examples
    --------
    >>> contour_mask(np.ones((4, 5), bool), 1).astype(int).tolist()
    [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [1, 1, 1, 1, 1]]
    """
    top, bottom, left, right = open_sides or (False, False, False, False)
    padded = np.pad(
        mask,
        ((width, width), (width, width)),
        mode="constant",
        constant_values=((top, bottom), (left, right)),
    )
    # corners next to two open sides count as open
    if top and left:
        padded[:width, :width] = True
    if top and right:
        padded[:width, -width:] = True
    if bottom and left:
        padded[-width:, :width] = True
    if bottom and right:
        padded[-width:, -width:] = True
    r = np.arange(-width, width + 1)
    disk = (r[:, None] ** 2 + r[None, :] ** 2) <= width * width
    eroded = ndimage.binary_erosion(padded, structure=disk)
    return mask & ~eroded[width:-width, width:-width]


def apply_contour(
    contour: ir.Contour,
    instances: list[Instance],
    ctx: RenderContext,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """Set ``contour`` and ``contour_mean`` of every instance; return the contour noise factor."""
    h, w = ctx.shape
    means = object_means(contour.color, len(instances), rng)
    tiled = _tiling_contours(instances, ctx.shape, contour.width)
    for k, (inst, m) in enumerate(zip(instances, means, strict=True)):
        if tiled is not None:
            inst.contour = tiled[k]
        else:
            sides = (inst.r0 == 0, inst.r1 == h, inst.c0 == 0, inst.c1 == w)
            inst.contour = contour_mask(inst.mask, contour.width, sides)
        inst.contour_mean = m
    return psd_factor(contour.color.cov)


def _tiling_contours(
    instances: list[Instance], shape: tuple[int, int], width: int
) -> list[np.ndarray] | None:
    """Contours of non-overlapping instances from one label image, or None if they overlap.

    For objects that do not overlap (grown cells always tile), a pixel of an
    object is within ``width`` of its boundary exactly when some pixel in the
    disk of radius ``width`` around it has another label; pixels beyond the
    image border count as the same label (the object continues there), as in
    :func:`contour_mask`. One minimum and one maximum filter of the label image
    then give every contour at once, instead of one erosion per object.
    """
    if len(instances) < 8:
        return None
    labels = np.zeros(shape, dtype=np.int32)
    total = 0
    for k, inst in enumerate(instances, start=1):
        np.copyto(labels[inst.slices], k, where=inst.mask)
        total += inst.area
    if int(np.count_nonzero(labels)) != total:
        return None  # overlapping objects: contours are per object (contour_mask)
    r = np.arange(-width, width + 1)
    disk = (r[:, None] ** 2 + r[None, :] ** 2) <= width * width
    low = ndimage.minimum_filter(labels, footprint=disk, mode="nearest")
    high = ndimage.maximum_filter(labels, footprint=disk, mode="nearest")
    edge = (low != labels) | (high != labels)
    return [edge[inst.slices] & inst.mask for inst in instances]


def texture_layer(
    layer: ir.Layer, instances: list[Instance], ctx: RenderContext, rng: np.random.Generator
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Colour a layer's instances through :data:`~synthlang.engine.base.TEXTURES` and contour them.

    Then, when the layer has them, its chromatin shading and its soft-edge
    widths (drawn in this order, after the colours and contours).

    Returns
    -------
    chol, contour_chol : numpy.ndarray or None
        Pixel-noise factors of the layer's objects and of their contours.

    Raises
    ------
    RenderError
        If the colour model kind is not registered.
    """
    chol = None
    if layer.color is not None:
        fn = TEXTURES.get(layer.color.kind)
        if fn is None:
            raise RenderError(
                f"layer {layer.name!r}: no texture {layer.color.kind!r} is registered",
                layer.span.to_span() if layer.span else None,
            )
        chol = fn(layer.color, layer, instances, ctx, rng)
    contour_chol = None
    if layer.contour is not None:
        contour_chol = apply_contour(layer.contour, instances, ctx, rng)
    if layer.chromatin is not None:
        apply_chromatin(layer.chromatin, instances, ctx, rng)
    if layer.soft is not None:
        draw_soft_widths(layer.soft, instances, rng)
    return chol, contour_chol
