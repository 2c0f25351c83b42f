"""Rings of objects around (``around C``) or along (``along C``) the objects of another layer.

For every object (host) of the ring's category, :func:`ring_sites` finds the centres:

1. the host's signed distance to its boundary, on its bounding box padded by the ring's
   typical distance ``L`` (:func:`synthlang.ir.typical`) and a margin: ``edt(outside) - 1/2``
   outside the host, ``1/2 - edt(inside)`` on it
   (``scipy.ndimage.distance_transform_edt``), so the boundary lies half-way between the
   host's outermost pixel centres and the pixels next to them; sides of the host cut by the
   image border continue outwards (no ring runs along the border);
2. the curves at distance ``L`` (``skimage.measure.find_contours``; ``along``: ``L = 0``, the
   boundary), every closed curve of the host (its outer boundary and any holes);
3. along each curve, centres one after the other at arc-length gaps drawn from ``spacing``,
   starting at a random offset; where the ring closes, the last centre is dropped when the
   closing gap would be shorter than half the next drawn gap, so that gap lies between half
   and one and a half spacings;
4. each centre is moved along the boundary normal (the gradient of the signed distance) from
   ``L`` to its own drawn ``distance``, then rounded to its pixel; centres outside the image
   or outside the placement area (regions, ``near``, ``in C``) are dropped.

:func:`place_rings` keeps each centre with the placement's probability and tries up to
:data:`RING_TRIES` drawn shapes on it (overlap rules apply); the first that fits is placed,
with the host as its parent. Fewer than :data:`RING_MIN_SHARE` of the centres filled is a
shortfall, like a mostly empty ``inside``.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from synthlang import ir
from synthlang.engine.base import Instance, RenderContext
from synthlang.engine.sampling import draw_array
from synthlang.engine.shapes import ShapeBatch, sample_shapes

__all__ = ["RING_TRIES", "RING_MIN_SHARE", "ring_sites", "place_rings"]

RING_TRIES = 4
"""Shapes tried on each ring centre before it is given up."""
RING_MIN_SHARE = 0.5
"""A ring placement that fills fewer than this share of its centres is a shortfall."""
_MARGIN = 3


class _Placer(Protocol):
    """What :func:`place_rings` uses of a layer's placer (:mod:`synthlang.engine.placement`)."""

    layer: ir.Layer
    ctx: RenderContext
    rng: np.random.Generator
    area: np.ndarray
    attempts: int
    own: bool
    placed: list[Any]

    def _filter(
        self,
        dr: np.ndarray,
        dc: np.ndarray,
        valid: np.ndarray,
        cr: np.ndarray,
        cc: np.ndarray,
        fill: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]: ...

    def _still_possible(
        self, i: int, pflat: np.ndarray | None, r: int, c: int, fill: bool
    ) -> bool: ...

    def _try(self, batch: ShapeBatch, i: int, cr: int, cc: int, *, fill: bool) -> Any: ...

    def _accept(self, obj: Any) -> None: ...


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance (px) of pixel centres to the boundary of ``mask`` (negative inside)."""
    from scipy import ndimage

    outside = ndimage.distance_transform_edt(~mask) - 0.5
    inside = 0.5 - ndimage.distance_transform_edt(mask)
    return np.where(mask, inside, outside)


def _padded(host: Instance, pad: int, shape: tuple[int, int]) -> np.ndarray:
    """The host's mask padded by ``pad`` px; sides cut by the image border continue outwards.

    So a host cut by the border has no boundary along the border (its ring leaves the image).
    """
    mask = np.pad(host.mask, pad)
    h, w = host.mask.shape
    if host.r0 == 0:
        mask[:pad, pad : pad + w] = host.mask[0]
    if host.r0 + h == shape[0]:
        mask[pad + h :, pad : pad + w] = host.mask[-1]
    if host.c0 == 0:
        mask[:, :pad] = mask[:, pad : pad + 1]
    if host.c0 + w == shape[1]:
        mask[:, pad + w :] = mask[:, pad + w - 1 : pad + w]
    return mask


def _arc_positions(length: float, spacing: ir.Distribution, rng: np.random.Generator) -> Any:
    """Arc-length positions in ``[0, length)`` of consecutive centres on a closed curve."""
    low = max(ir.support(spacing)[0], 1.0)
    gaps = np.maximum(draw_array(spacing, rng, int(length / low) + 2), 1.0)
    start = rng.uniform(0.0, gaps[0])
    ends = start + np.cumsum(gaps[1:])
    n = 1 + int(np.searchsorted(ends, start + length, side="left"))
    positions = np.concatenate([[start], ends[: n - 1]])
    closing = start + length - positions[-1]
    if n > 1 and closing < 0.5 * gaps[n]:
        positions = positions[:-1]
    return np.mod(positions, length)


def ring_sites(
    host: Instance, ring: ir.Ring, rng: np.random.Generator, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The centre pixels ``(rows, cols)`` of the ring around one host (inside the image).

    See the module docstring for the construction; draws the spacings and the start of
    each curve, then one distance per centre.
    """
    from scipy import ndimage
    from skimage.measure import find_contours

    level = max(ir.typical(ring.distance), 0.0)
    pad = int(math.ceil(level)) + _MARGIN
    signed = _signed_distance(_padded(host, pad, shape))
    points = []
    for curve in find_contours(signed, level):
        seg = np.hypot(*np.diff(curve, axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        if cum[-1] < 1.0:
            continue
        t = _arc_positions(float(cum[-1]), ring.spacing, rng)
        points.append(np.stack([np.interp(t, cum, curve[:, 0]), np.interp(t, cum, curve[:, 1])]))
    if not points:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    rows, cols = np.concatenate(points, axis=1)
    shift = draw_array(ring.distance, rng, rows.size) - level
    if np.any(shift != 0):
        gr, gc = np.gradient(signed)
        nr = ndimage.map_coordinates(gr, [rows, cols], order=1, mode="nearest")
        nc = ndimage.map_coordinates(gc, [rows, cols], order=1, mode="nearest")
        norm = np.maximum(np.hypot(nr, nc), 1e-9)
        rows = rows + shift * nr / norm
        cols = cols + shift * nc / norm
    r = np.floor(rows + 0.5).astype(np.intp) + host.r0 - pad
    c = np.floor(cols + 0.5).astype(np.intp) + host.c0 - pad
    inside = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    return r[inside], c[inside]


def place_rings(placer: _Placer, hosts: list[Instance]) -> tuple[str | None, int]:
    """Place a layer's objects on the rings of its hosts; the shortfall reason and the request.

    Parameters
    ----------
    placer : _Placer
        The layer's placer (placement area, overlap state, attempt budget).
    hosts : list of Instance
        The objects of the ring's category.

    Returns
    -------
    tuple
        A shortfall reason (or None) and the number of centres that were to be filled.
    """
    p = placer.layer.placement
    assert p is not None and p.ring is not None
    rng = placer.rng
    found = [ring_sites(host, p.ring, rng, placer.ctx.shape) for host in hosts]
    rows = np.concatenate([f[0] for f in found] or [np.zeros(0, dtype=np.intp)])
    cols = np.concatenate([f[1] for f in found] or [np.zeros(0, dtype=np.intp)])
    parents = np.repeat([h.id for h in hosts], [f[0].size for f in found]).astype(np.int64)
    keep = placer.area[rows, cols]
    if p.probability < 1.0 and rows.size:
        keep &= rng.random(rows.size) < p.probability
    rows, cols, parents = rows[keep], cols[keep], parents[keep]
    n = int(rows.size)
    if n == 0:
        return None, 0
    cr, cc = np.repeat(rows, RING_TRIES), np.repeat(cols, RING_TRIES)
    batch = sample_shapes(placer.layer.shape, rng, n * RING_TRIES, placer.ctx, at=(cr, cc))
    dr, dc, valid = batch.probes()
    queue, pflat = placer._filter(dr, dc, valid, cr, cc, False)
    possible = np.zeros(n * RING_TRIES, dtype=bool)
    possible[queue] = True
    dirty = False
    for j in range(n):
        for i in range(j * RING_TRIES, (j + 1) * RING_TRIES):
            if placer.attempts >= p.max_attempts:
                return f"attempt limit {p.max_attempts} reached", n
            placer.attempts += 1
            r, c = int(cr[i]), int(cc[i])
            if not possible[i] or (
                dirty and placer.own and not placer._still_possible(i, pflat, r, c, False)
            ):
                continue
            obj = placer._try(batch, i, r, c, fill=False)
            if obj is not None:
                obj.parent = int(parents[j])
                placer._accept(obj)
                dirty = True
                break
    if len(placer.placed) < RING_MIN_SHARE * n:
        return f"{n - len(placer.placed)} of {n} ring positions had no room", n
    return None, n
