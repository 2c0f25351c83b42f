"""Placement of object shapes: ``count``, ``fill``, ``inside``, rings, with overlap rules.

:func:`place_objects` turns a layer with an object shape (ellipse, patch) and
a :class:`~synthlang.ir.Placement` into instances. Every loop is bounded by
the placement's ``max_attempts``; a placement that cannot be met places what
it can, appends a :class:`~synthlang.engine.base.Shortfall` to
``ctx.shortfalls`` and warns with a :class:`PlacementWarning`.

Semantics
---------
Centres
    Centres are pixel centres, uniformly distributed over the allowed pixels:
    the placement's region area (``in SELECTION``; the image when absent),
    and for ``inside`` the pixels of the host object in that area. An
    object's anchor (the ellipse centre) is put on the chosen pixel.
``count N``
    ``N`` objects (drawn, rounded, at least 0), each kept with
    ``probability`` (so ``Binomial(N, p)`` objects are requested). Centres are
    proposed until all are placed or the attempt budget is spent (shortfall).
``fill``
    Objects are proposed at centres that no object (of this layer or of the
    ``against`` categories) covers yet, until ``max_failures`` consecutive
    proposals fail or no uncovered pixel is left: the area is full. Hitting
    ``max_attempts`` first is a shortfall. Afterwards each object is kept with
    ``probability`` (removed objects leave gaps).
``inside HOST``
    Every object of the host category (a lower layer) is kept with
    ``probability``; for each kept host up to :data:`INSIDE_TRIES` proposals
    are made with centres on the host's pixels, and the first whose whole
    mask (inside the image) lies within the host's mask is placed. So there
    is at most one object per host; a host too small for the object gets
    none. Running out of ``max_attempts``, or leaving more than half of the
    kept hosts empty (:data:`INSIDE_MIN_SHARE`), is a shortfall. With a
    ``count`` (drawn per kept host), up to that many objects are placed in each
    host with :data:`INSIDE_TRIES` proposals per object; fewer than half of all
    requested objects is a shortfall.
``around HOST`` / ``along HOST``
    Centres on rings around (on the boundary of) each host, placed by
    :func:`synthlang.engine.rings.place_rings`.
``in CATEGORY``
    Centres on (``not in``: off) the pixels of another layer's objects, like a
    region selection (:func:`synthlang.engine.anchors.in_layer_area`).
Shapes relative to another layer
    A shape with ``along(C)`` / ``across(C)`` / ``relative(C, f)`` values
    (:mod:`synthlang.engine.anchors`) is drawn after its candidates' centres.
Overlap (checked against ``against``, default the layer itself)
    ``none``: no shared pixel. ``moderate(f)``: at most ``f`` of the new
    object's pixels are covered. ``centers``: the new centre is not covered
    and no existing centre lies on the new object. ``allowed``: no check.

Speed
-----
Candidates are drawn in batches (:func:`synthlang.engine.shapes.sample_shapes`);
a few probe pixels per candidate that surely belong to the object are looked
up in a padded occupancy map at once, and only candidates that survive this
exact but partial test are rasterised and checked in full; after an object is
placed, the remaining candidates of the batch are re-tested by their probes
first. Centre proposals come from the currently free pixels (the list is
refreshed once enough has been covered since), so a fill does not waste its
proposals on covered ground, and a batch in which nothing fits doubles the
next batch (up to 8 times), so the final run of ``max_failures`` failures of
a fill is cheap. Proposals rejected by these tests are counted as failed
attempts, exactly as if they had been checked in full.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.anchors import anchored, in_layer_area
from synthlang.engine.base import Instance, RenderContext, Shortfall
from synthlang.engine.rings import place_rings
from synthlang.engine.sampling import draw, draw_array
from synthlang.engine.scratch import scratch
from synthlang.engine.shapes import ShapeBatch, anchor_pixel, batch_size, sample_shapes

__all__ = [
    "PlacementWarning",
    "INSIDE_TRIES",
    "INSIDE_MIN_SHARE",
    "place_objects",
    "report_shortfall",
]

INSIDE_TRIES = 20
"""Proposals per host for ``inside``."""
INSIDE_MIN_SHARE = 0.5
"""An ``inside`` placement that fills fewer than this share of its hosts is a shortfall."""
"""Proposals per host object for ``inside`` placement."""

_REFRESH_FRACTION = 0.3


class PlacementWarning(UserWarning):
    """A placement placed fewer objects than requested (see :class:`Shortfall`)."""


@dataclass
class _Placed:
    r0: int
    c0: int
    mask: np.ndarray
    center: tuple[float, float]
    parent: int = 0
    clean: np.ndarray | None = None
    noisy: np.ndarray | None = None


def report_shortfall(ctx: RenderContext, shortfall: Shortfall) -> None:
    """Record a shortfall on the context and emit a :class:`PlacementWarning`."""
    ctx.shortfalls.append(shortfall)
    warnings.warn(shortfall.message(), PlacementWarning, stacklevel=3)


_MARGIN = 64


def _probe_index(
    wp: int, margin: int, dr: np.ndarray, dc: np.ndarray, cr: np.ndarray, cc: np.ndarray
) -> np.ndarray:
    """Flat indices into a map padded by ``margin`` (row length ``wp``) of probe pixels.

    Probes farther than ``margin`` px from their centre are replaced by the
    centre pixel, so no index falls outside the padded map.
    """
    if dr.size and max(int(np.abs(dr).max()), int(np.abs(dc).max())) > margin:
        far = (np.abs(dr) > margin) | (np.abs(dc) > margin)
        dr = np.where(far, 0, dr)
        dc = np.where(far, 0, dc)
    flat = dr * wp
    flat += dc
    flat += ((cr + margin) * wp + (cc + margin))[:, None]
    return flat


def _probes_outside_hosts(
    hosts: list[Instance],
    which: np.ndarray,
    shape: tuple[int, int],
    dr: np.ndarray,
    dc: np.ndarray,
    cr: np.ndarray,
    cc: np.ndarray,
) -> np.ndarray:
    """For each candidate, whether an in-image probe pixel is not a pixel of its host.

    Candidate ``j`` belongs to host ``hosts[which[j]]``. The host masks are
    looked up in one concatenated flat array, so all hosts are tested at once.
    """
    h, w = shape
    sizes = np.array([hh.mask.size for hh in hosts], dtype=np.intp)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat_masks = np.concatenate([hh.mask.ravel() for hh in hosts])
    r0 = np.array([hh.r0 for hh in hosts], dtype=np.intp)[which][:, None]
    c0 = np.array([hh.c0 for hh in hosts], dtype=np.intp)[which][:, None]
    hh_ = np.array([hh.mask.shape[0] for hh in hosts], dtype=np.intp)[which][:, None]
    hw_ = np.array([hh.mask.shape[1] for hh in hosts], dtype=np.intp)[which][:, None]
    pr = cr[:, None] + dr
    pc = cc[:, None] + dc
    inimg = (pr >= 0) & (pr < h) & (pc >= 0) & (pc < w)
    lr = pr - r0
    lc = pc - c0
    inbox = (lr >= 0) & (lr < hh_) & (lc >= 0) & (lc < hw_)
    flat = np.where(inbox, offsets[which][:, None] + lr * hw_ + lc, 0)
    in_host = flat_masks[flat] & inbox
    return (inimg & ~in_host).any(axis=1)


class _Placer:
    """State of one layer's placement: occupancy, own coverage, centres, budget."""

    def __init__(self, layer: ir.Layer, ctx: RenderContext, rng: np.random.Generator) -> None:
        assert layer.placement is not None
        self.layer = layer
        self.ctx = ctx
        self.rng = rng
        self.p = layer.placement
        self.shape = ctx.shape
        self.mode = self.p.overlap.mode
        self.batch = batch_size(layer.shape.kind)
        self.area = ctx.area(self.p.regions)
        if self.p.near is not None:
            self.area = self.area & _near_area(ctx, self.p.near)
        if self.p.in_layer is not None:
            self.area = self.area & in_layer_area(ctx, self.p.in_layer)
        self.anchored = anchored(layer.shape)  # its shapes are drawn after their centres
        self.weights: np.ndarray | None = None
        if self.p.density is not None:
            self.weights = _density(ctx, self.p.density, rng)
        self._cumulative: tuple[np.ndarray, np.ndarray] | None = None
        self.cov = scratch("placement.cov", ctx.shape, bool)
        self.cov.fill(False)
        self.placed: list[_Placed] = []
        self.attempts = 0
        # what new objects are checked against
        self.check: np.ndarray | None = None
        self.check_pad: np.ndarray | None = None
        self.own = False
        against: tuple[str, ...] = ()
        centers: list[tuple[float, float]] = []
        if self.mode != "allowed":
            against = self.p.overlap.against or (layer.name,)
            h, w = ctx.shape
            self.check_pad = scratch("placement.check", (h + 2 * _MARGIN, w + 2 * _MARGIN), bool)
            self.check_pad.fill(False)
            self.check = self.check_pad[_MARGIN : _MARGIN + h, _MARGIN : _MARGIN + w]
            for cat in against:
                if cat == layer.name:
                    self.own = True
                    continue
                if cat not in ctx.layers:
                    raise RenderError(
                        f"layer {layer.name!r}: overlap is checked against {cat!r}, "
                        "which is not a lower layer",
                        layer.span.to_span() if layer.span else None,
                    )
                self.check |= ctx.coverage(cat)
                centers.extend(inst.center for inst in ctx.instances_of(cat))
        self.centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
        self._center_list: list[tuple[float, float]] = []
        # checked only against itself: the occupancy map is the layer's own coverage
        self.alias = self.own and self.check is not None and set(against) == {layer.name}
        if self.alias and self.check is not None:
            self.cov = self.check

    # ------------------------------------------------------------------ checks

    def _filter(
        self,
        dr: np.ndarray,
        dc: np.ndarray,
        valid: np.ndarray,
        cr: np.ndarray,
        cc: np.ndarray,
        fill: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Vectorised exact-but-partial test of a batch of candidates.

        A candidate is dropped when one of its probe pixels (pixels that surely
        belong to it) is covered where overlap is forbidden, or its centre is
        covered where that is forbidden; such a candidate would fail the full
        test. Returns the indices of the remaining candidates and the flat
        probe indices into ``check_pad`` (mode ``none``, else None), kept for
        quick re-tests after objects were added.
        """
        keep = valid.copy()
        pflat = None
        if self.check is not None:
            if self.mode == "none":
                assert self.check_pad is not None
                pflat = _probe_index(self.check_pad.shape[1], _MARGIN, dr, dc, cr, cc)
                keep &= ~self.check_pad.ravel().take(pflat).any(axis=1)
            elif self.mode == "centers":
                keep &= ~self.check[cr, cc]
        if fill:
            keep &= ~self.cov[cr, cc]
        return np.flatnonzero(keep), pflat

    def _still_possible(self, i: int, pflat: np.ndarray | None, r: int, c: int, fill: bool) -> bool:
        """Re-test candidate ``i`` (centre pixel ``(r, c)``) after objects were added."""
        if pflat is not None and self.check_pad is not None:
            if np.count_nonzero(self.check_pad.ravel().take(pflat[i])):
                return False
        elif self.mode == "centers" and self.check is not None:
            if self.check[r, c]:
                return False
        return not (fill and self.cov[r, c])

    def _try(
        self,
        batch: ShapeBatch,
        i: int,
        cr: int,
        cc: int,
        *,
        fill: bool,
        host: Instance | None = None,
    ) -> _Placed | None:
        """Full test of candidate ``i`` at centre pixel ``(cr, cc)``; the placed object or None."""
        d = batch.draw(i)
        h, w = self.shape
        ar, ac = anchor_pixel(d)
        r0, c0 = cr - ar, cc - ac
        mh, mw = d.mask.shape
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + mh, h), min(c0 + mw, w)
        if rr0 >= rr1 or cc0 >= cc1:
            return None
        m = d.mask[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0]
        n = int(np.count_nonzero(m))
        if n == 0:
            return None
        box = (slice(rr0, rr1), slice(cc0, cc1))
        if fill and (self.cov[cr, cc] or (self.check is not None and self.check[cr, cc])):
            return None
        if host is not None and not _within(m, rr0, cc0, host, n):
            return None
        if self.check is not None:
            sub = self.check[box]
            if self.mode == "none":
                if np.count_nonzero(sub[m]):
                    return None
            elif self.mode == "moderate":
                if np.count_nonzero(sub[m]) > self.p.overlap.fraction * n:
                    return None
            elif self.mode == "centers":
                if self.check[cr, cc] or self._centre_inside(m, rr0, cc0):
                    return None
        center = (r0 + d.anchor[0], c0 + d.anchor[1])
        obj = _Placed(rr0, cc0, m, center, 0 if host is None else host.id)
        local = (slice(rr0 - r0, rr1 - r0), slice(cc0 - c0, cc1 - c0))
        if d.clean is not None:
            obj.clean = d.clean[local]
        if d.noisy is not None:
            obj.noisy = d.noisy[local]
        return obj

    def _centre_inside(self, m: np.ndarray, r0: int, c0: int) -> bool:
        if self._center_list:
            self.centers = np.concatenate(
                [self.centers, np.asarray(self._center_list, dtype=np.float64)]
            )
            self._center_list = []
        if self.centers.shape[0] == 0:
            return False
        pr = np.floor(self.centers[:, 0] + 0.5).astype(np.intp) - r0
        pc = np.floor(self.centers[:, 1] + 0.5).astype(np.intp) - c0
        inb = (pr >= 0) & (pr < m.shape[0]) & (pc >= 0) & (pc < m.shape[1])
        return bool(np.any(m[pr[inb], pc[inb]]))

    def _accept(self, obj: _Placed) -> None:
        box = (slice(obj.r0, obj.r0 + obj.mask.shape[0]), slice(obj.c0, obj.c0 + obj.mask.shape[1]))
        np.copyto(self.cov[box], True, where=obj.mask)
        if self.own and self.check is not None:
            if not self.alias:
                np.copyto(self.check[box], True, where=obj.mask)
            if self.mode == "centers":
                self._center_list.append(obj.center)
        self.placed.append(obj)

    # ------------------------------------------------------------------ modes

    def _free_pixels(self, fill: bool) -> np.ndarray:
        block: np.ndarray | None
        if fill:
            block = self.cov if (self.check is None or self.alias) else (self.cov | self.check)
        elif self.mode in ("none", "centers"):
            block = self.check
        else:
            block = None
        if block is None:
            return np.flatnonzero(self.area)
        return np.flatnonzero(self.area & ~block)

    def _pick(self, free: np.ndarray, n: int) -> np.ndarray:
        """``n`` centres among the free pixels: uniform, or by the density weights."""
        if self.weights is None:
            return free[self.rng.integers(0, free.size, n)]
        if self._cumulative is None or self._cumulative[0] is not free:
            self._cumulative = (free, np.cumsum(self.weights.ravel()[free], dtype=np.float64))
        cw = self._cumulative[1]
        if not cw[-1] > 0:
            return free[self.rng.integers(0, free.size, n)]
        idx = np.searchsorted(cw, self.rng.random(n) * cw[-1], side="right")
        return free[np.minimum(idx, free.size - 1)]

    def propose(self, target: int | None) -> str | None:
        """Place ``target`` objects (``None``: fill); return a shortfall reason or None."""
        fill = target is None
        static_free = not fill and self.mode in ("moderate", "allowed")
        p = self.p
        shape_ir = self.layer.shape
        _, w = self.shape
        free = self._free_pixels(fill)
        fresh = True
        since_refresh = 0
        streak = 0
        size = self.batch
        recheck = fill or (self.own and self.check is not None)
        while True:
            if target is not None and len(self.placed) >= target:
                return None
            if self.attempts >= p.max_attempts:
                if fill:
                    return f"attempt limit {p.max_attempts} reached before the area was full"
                return f"attempt limit {p.max_attempts} reached"
            if not static_free and not fresh and since_refresh > _REFRESH_FRACTION * free.size:
                free = self._free_pixels(fill)
                fresh, since_refresh = True, 0
            if free.size == 0:
                if fresh:
                    if fill:
                        return None
                    return "no free space left in the placement area"
                free = self._free_pixels(fill)
                fresh, since_refresh = True, 0
                continue
            n = min(size, p.max_attempts - self.attempts)
            if target is not None and self.mode == "allowed":
                n = min(n, target - len(self.placed))
            batch = None if self.anchored else sample_shapes(shape_ir, self.rng, n, self.ctx)
            cr, cc = np.divmod(self._pick(free, n), w)
            if batch is None:
                batch = sample_shapes(shape_ir, self.rng, n, self.ctx, at=(cr, cc))
            dr, dc, valid = batch.probes()
            queue, pflat = self._filter(dr, dc, valid, cr, cc, fill)
            prev = -1
            placed_any = False
            dirty = False
            for i in queue.tolist():
                gap = i - prev - 1
                if fill and streak + gap >= p.max_failures:
                    self.attempts += p.max_failures - streak
                    return None
                streak += gap
                self.attempts += gap + 1
                prev = i
                r, c = int(cr[i]), int(cc[i])
                if dirty and recheck and not self._still_possible(i, pflat, r, c, fill):
                    obj = None
                else:
                    obj = self._try(batch, i, r, c, fill=fill)
                if obj is None:
                    streak += 1
                    if fill and streak >= p.max_failures:
                        return None
                    continue
                self._accept(obj)
                placed_any = True
                dirty = True
                since_refresh += obj.mask.size
                streak = 0
                fresh = False
                if target is not None and len(self.placed) >= target:
                    return None
            tail = n - 1 - prev
            if fill and streak + tail >= p.max_failures:
                self.attempts += p.max_failures - streak
                return None
            streak += tail
            self.attempts += tail
            if placed_any:
                size = self.batch
            else:
                size = min(2 * size, 8 * self.batch)
                if not fresh and not static_free:
                    # a whole batch failed on a stale free list: refresh it
                    free = self._free_pixels(fill)
                    fresh, since_refresh = True, 0

    def inside(self, hosts: list[Instance], wanted: list[int] | None = None) -> str | None:
        """Place objects inside each host (``wanted[k]``, default one); a shortfall reason or None.

        The :data:`INSIDE_TRIES` candidates per wanted object of every host are drawn at
        once (shapes, then centres on the host pixels; for a shape relative to another
        layer the centres first) and pre-tested together.
        """
        p = self.p
        pixels = []
        for host in hosts:
            restricted = p.regions is not None or p.near is not None or p.in_layer is not None
            local = host.mask & self.area[host.slices] if restricted else host.mask
            pixels.append(np.flatnonzero(local))
        usable = [k for k, px in enumerate(pixels) if px.size]
        want = [1 if wanted is None else wanted[k] for k in usable]
        tries = [INSIDE_TRIES * m for m in want]
        starts = np.concatenate([[0], np.cumsum(tries, dtype=np.intp)])
        n = int(starts[-1])
        if n == 0:
            return None
        batch = None if self.anchored else sample_shapes(self.layer.shape, self.rng, n, self.ctx)
        counts = np.repeat([pixels[k].size for k in usable], tries)
        pick = self.rng.integers(0, counts)
        which = np.repeat(np.arange(len(usable)), tries)
        cr = np.empty(n, dtype=np.intp)
        cc = np.empty(n, dtype=np.intp)
        for j, k in enumerate(usable):
            host = hosts[k]
            part = slice(starts[j], starts[j + 1])
            lr, lc = np.divmod(pixels[k][pick[part]], host.mask.shape[1])
            cr[part] = lr + host.r0
            cc[part] = lc + host.c0
        if batch is None:
            batch = sample_shapes(self.layer.shape, self.rng, n, self.ctx, at=(cr, cc))
        dr, dc, ok = batch.probes()
        used_hosts = [hosts[k] for k in usable]
        ok = ok & ~_probes_outside_hosts(used_hosts, which, self.shape, dr, dc, cr, cc)
        pflat = None
        if self.check_pad is not None and self.mode == "none":
            pflat = _probe_index(self.check_pad.shape[1], _MARGIN, dr, dc, cr, cc)
            ok &= ~self.check_pad.ravel().take(pflat).any(axis=1)
        dirty = False
        for j, host in enumerate(used_hosts):
            if self.attempts >= p.max_attempts:
                return f"attempt limit {p.max_attempts} reached"
            budget = min(tries[j], p.max_attempts - self.attempts)
            used, got = budget, 0
            for i in range(starts[j], starts[j] + budget):
                if not ok[i]:
                    continue
                r, c = int(cr[i]), int(cc[i])
                if dirty and self.own and not self._still_possible(i, pflat, r, c, False):
                    continue
                obj = self._try(batch, i, r, c, fill=False, host=host)
                if obj is not None:
                    self._accept(obj)
                    dirty = True
                    got += 1
                    if got == want[j]:
                        used = i - starts[j] + 1
                        break
            self.attempts += used
        return None


def _density(ctx: RenderContext, density: Any, rng: np.random.Generator) -> np.ndarray:
    """Relative density of object centres per pixel (float64, >= 0)."""
    if isinstance(density, ir.SpeedField):
        from synthlang.engine.fields import gaussian_field

        return np.asarray(gaussian_field(density, ctx.shape, rng), dtype=np.float64)
    from scipy import ndimage

    scale = max(draw(density.scale, rng), 1e-6)
    cover = ctx.coverage(density.source)
    if not cover.any():
        return np.ones(ctx.shape, dtype=np.float64)
    return np.exp(-ndimage.distance_transform_edt(~cover) / scale)


def _cluster_weights(
    clusters: ir.Clusters, area: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Gaussian bumps around random cluster centres in the area, and the objects asked for."""
    k = max(1, round(draw(clusters.count, rng)))
    free = np.flatnonzero(area)
    shape = area.shape
    weights = np.zeros(shape, dtype=np.float64)
    if free.size == 0:
        return weights, 0
    centres = free[rng.integers(0, free.size, k)]
    sizes = np.maximum(1, np.rint(draw_array(clusters.size, rng, k))).astype(int)
    spreads = np.maximum(draw_array(clusters.spread, rng, k), 0.5)
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    cols = np.arange(shape[1], dtype=np.float64)[None, :]
    for centre, size, spread in zip(
        centres.tolist(), sizes.tolist(), spreads.tolist(), strict=True
    ):
        r, c = divmod(centre, shape[1])
        bump = np.exp(-((rows - r) ** 2) / (2 * spread**2)) * np.exp(
            -((cols - c) ** 2) / (2 * spread**2)
        )
        weights += size * bump / bump.sum()
    return weights, int(sizes.sum())


def _near_area(ctx: RenderContext, near: ir.Near) -> np.ndarray:
    """Pixels within ``near.distance`` of the objects of ``near.category`` (or beyond it)."""
    from scipy import ndimage

    cover = ctx.coverage(near.category)
    if not cover.any():
        return np.full(ctx.shape, near.invert, dtype=bool)
    distance = ndimage.distance_transform_edt(~cover)
    inside = distance <= near.distance
    return ~inside if near.invert else inside


def _within(m: np.ndarray, r0: int, c0: int, host: Instance, n: int) -> bool:
    """Whether all ``n`` pixels of mask ``m`` (top-left at ``(r0, c0)``) are host pixels."""
    hr0, hc0, hr1, hc1 = host.bbox
    ir0, ic0 = max(r0, hr0), max(c0, hc0)
    ir1, ic1 = min(r0 + m.shape[0], hr1), min(c0 + m.shape[1], hc1)
    if ir0 >= ir1 or ic0 >= ic1:
        return False
    sub = m[ir0 - r0 : ir1 - r0, ic0 - c0 : ic1 - c0]
    hsub = host.mask[ir0 - hr0 : ir1 - hr0, ic0 - hc0 : ic1 - hc0]
    return int(np.count_nonzero(sub & hsub)) == n


def place_objects(layer: ir.Layer, ctx: RenderContext, rng: np.random.Generator) -> list[Instance]:
    """Place the objects of a layer with an object shape.

    Parameters
    ----------
    layer : synthlang.ir.Layer
        A layer whose shape is an object shape and whose ``placement`` is set.
    ctx : RenderContext
        The sample's context: regions and finished lower layers; shortfalls
        are appended to ``ctx.shortfalls``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    list of Instance
        The placed objects in placement order, with fresh ids.

    Raises
    ------
    RenderError
        If the placement is missing or refers to a category that is not a
        finished lower layer.

    Warns
    -----
    PlacementWarning
        When fewer objects than requested could be placed.

    Examples
    --------
    >>> scene = ir.Scene(name="s", size=(40, 40), layers=(ir.Layer(index=0, name="c",
    ...     shape=ir.EllipseShape(semi_axes=(ir.Constant(value=3), ir.Constant(value=3))),
    ...     placement=ir.Placement(mode="count", count=ir.Constant(value=5),
    ...                            overlap=ir.Overlap(mode="none")),
    ...     color=ir.MVNColor(mean=(1, 0, 0))),))
    >>> ctx = RenderContext(scene, np.random.default_rng(0))
    >>> len(place_objects(scene.layers[0], ctx, ctx.rng))
    5
    """
    p = layer.placement
    if p is None:
        raise RenderError(
            f"layer {layer.name!r}: an object shape needs a placement",
            layer.span.to_span() if layer.span else None,
        )
    placer = _Placer(layer, ctx, rng)
    requested: int | None = None
    if p.mode == "count":
        assert p.count is not None
        value = draw(p.count, rng)
        requested = max(0, int(math.floor(value + 0.5))) if math.isfinite(value) else 0
        if p.probability < 1.0:
            requested = int(rng.binomial(requested, p.probability))
        reason = placer.propose(requested) if requested > 0 else None
        if reason is None and len(placer.placed) < requested:
            reason = "could not place all objects"
    elif p.mode == "clusters":
        assert p.clusters is not None
        bumps, requested = _cluster_weights(p.clusters, placer.area, rng)
        placer.weights = bumps if placer.weights is None else placer.weights * bumps
        if p.probability < 1.0:
            requested = int(rng.binomial(requested, p.probability))
        reason = placer.propose(requested) if requested > 0 else None
        if reason is None and len(placer.placed) < requested:
            reason = "could not place all objects"
    elif p.mode in ("around", "along"):
        assert p.ring is not None
        if p.ring.category not in ctx.layers:
            raise RenderError(
                f"layer {layer.name!r}: ring category {p.ring.category!r} is not a lower layer",
                layer.span.to_span() if layer.span else None,
            )
        reason, sites = place_rings(placer, ctx.instances_of(p.ring.category))
        requested = sites if reason is not None else None
    elif p.mode == "fill":
        reason = placer.propose(None)
        if p.probability < 1.0 and placer.placed:
            keep = rng.random(len(placer.placed)) < p.probability
            placer.placed = [obj for obj, k in zip(placer.placed, keep, strict=True) if k]
    else:
        assert p.inside is not None
        if p.inside not in ctx.layers:
            raise RenderError(
                f"layer {layer.name!r}: host category {p.inside!r} is not a lower layer",
                layer.span.to_span() if layer.span else None,
            )
        hosts = ctx.instances_of(p.inside)
        if p.probability < 1.0 and hosts:
            keep = rng.random(len(hosts)) < p.probability
            hosts = [hh for hh, k in zip(hosts, keep, strict=True) if k]
        wanted = None
        if p.count is not None:  # objects per host, drawn per kept host
            drawn = draw_array(p.count, rng, len(hosts))
            wanted = np.maximum(np.floor(drawn + 0.5), 0).astype(int).tolist()
        reason = placer.inside(hosts, wanted)
        total = len(hosts) if wanted is None else sum(wanted)
        if reason is None and len(placer.placed) < INSIDE_MIN_SHARE * total:
            # most hosts too small for the objects: a shortfall, not a quiet empty layer
            requested = total
            missing = total - len(placer.placed)
            reason = f"{missing} of {total} hosts had no room"
            if wanted is not None:
                reason = f"{missing} of {total} objects found no room in their hosts"
    if reason is not None:
        report_shortfall(
            ctx,
            Shortfall(
                layer=layer.name,
                requested=requested,
                placed=len(placer.placed),
                attempts=placer.attempts,
                reason=reason,
            ),
        )
    out = []
    for obj in placer.placed:
        inst = Instance(
            id=ctx.new_id(),
            layer=layer.index,
            category=layer.name,
            r0=obj.r0,
            c0=obj.c0,
            mask=obj.mask,
            center=obj.center,
            parent=obj.parent,
            clean=obj.clean,
            noisy=obj.noisy,
        )
        out.append(inst)
    return out
