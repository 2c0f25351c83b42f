"""Fast-marching building blocks: region decomposition, grown cells, connective-tissue ribbons.

These implement the paper's "Domain decomposition", the growth of the
Scenario 3 tumour cells from their nuclei ("a fast marching method with a
fixed number of iterations, which is governed by an underlying stochastic
velocity field and incorporates the patches as the initial mask") and the
"Connective tissue" ribbons ("the overlap of the preimage set of random
intervals of several distance maps induced by a fast marching algorithm with
different stochastic velocity fields, where the complement set of the region
considered is the initial mask"), Effland et al., section "Stochastic
generation of training data".

Registered kinds
----------------
* ``REGION_BUILDERS["fast_marching"]`` -- :func:`fast_marching_regions`
* ``AREA_SHAPES["grown"]`` -- :func:`grown_shapes`
* ``AREA_SHAPES["ribbon"]`` -- :func:`ribbon_shapes`

Algorithm (shared by all three)
-------------------------------
Arrival times solve the eikonal equation ``|grad T| * speed = 1`` with
``T = 0`` on an initial front, by scikit-fmm's first-order fast marching
(``skfmm.travel_time``). Fast marching is the expensive part, so it runs on a
working grid
:data:`WORK_FACTOR` times coarser than the image (a quarter of the pixels;
images smaller than :data:`MIN_COARSE_SIDE` pixels on a side use the full
grid). The initial front is given to the coarse grid as the block-averaged
occupancy ``phi = mean(medium) - 1/2`` so that its zero contour keeps
sub-pixel position; the speed field is drawn directly on the coarse grid
(with the correlation length rescaled) and the coarse times (signed:
negative inside the front) are brought back to the image grid by linear
interpolation. Everything that must be exact at the pixel level -- seeds,
nucleus masks, region/area masks -- stays at full resolution:

* **Labels** come from the full-resolution arrival time of one solve from
  all markers at once (seed pixels, nucleus pixels) by steepest descent:
  every pixel follows the fastest decrease of ``T`` to the marker that
  reached it first (:func:`first_arrival_labels`). Along the fastest path
  from a marker ``T`` increases monotonically and that path never leaves the
  marker's first-arrival region, so this is the first-arrival partition up
  to ties on boundary pixels, at the price of a single fast-marching solve
  instead of one per marker. (``scipy.ndimage.watershed_ift`` is not a
  priority flood on levels and gives wrong partitions here;
  ``skimage.segmentation.watershed`` gives the same partition as the
  descent, several times slower.)
"""

from __future__ import annotations

import numpy as np
import skfmm
from scipy import ndimage as ndi

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import AREA_SHAPES, REGION_BUILDERS, Instance, RenderContext, register
from synthlang.engine.fields import gaussian_field, upsample_linear
from synthlang.engine.sampling import draw

__all__ = [
    "WORK_FACTOR",
    "MIN_COARSE_SIDE",
    "RIBBON_REGION_SIDE",
    "work_factor",
    "arrival_time",
    "first_arrival_labels",
    "fast_marching_regions",
    "grown_shapes",
    "ribbon_shapes",
]

WORK_FACTOR = 2
"""Image pixels per working-grid pixel for fast marching (per axis)."""

MIN_COARSE_SIDE = 64
"""Images with a side shorter than this are marched at full resolution."""

RIBBON_REGION_SIDE = 96.0
"""Without scene regions, ribbons follow a private decomposition with one region per
``RIBBON_REGION_SIDE**2`` pixels (at least 2)."""

_BIG = np.float32(1e6)
"""Arrival time given to pixels the front does not reach (within the narrow band)."""


def work_factor(shape: tuple[int, int]) -> int:
    """Return the coarsening factor of the fast-marching working grid for an image ``shape``.

    Examples
    --------
    >>> work_factor((300, 300)), work_factor((40, 300))
    (2, 1)
    """
    return WORK_FACTOR if min(shape) >= MIN_COARSE_SIDE else 1


def _block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    """Average ``a`` over ``factor x factor`` blocks (edge-padded to a multiple of factor)."""
    if factor == 1:
        return a.astype(np.float32)
    rows, cols = a.shape
    hc, wc = -(-rows // factor), -(-cols // factor)
    pr, pc = hc * factor - rows, wc * factor - cols
    b = a.astype(np.float32)
    if pr or pc:
        b = np.pad(b, ((0, pr), (0, pc)), mode="edge")
    out = np.zeros((hc, wc), dtype=np.float32)
    for dr in range(factor):
        for dc in range(factor):
            out += b[dr::factor, dc::factor]
    out *= np.float32(1.0 / (factor * factor))
    return out


def arrival_time(
    medium: np.ndarray,
    speed: ir.SpeedField,
    rng: np.random.Generator,
    *,
    factor: int = 1,
    narrow: float | None = None,
    obstacles: np.ndarray | None = None,
) -> np.ndarray:
    """Signed fast-marching arrival time from the complement of ``medium``.

    The initial front is the boundary between ``~medium`` (already reached,
    ``T <= 0``) and ``medium`` (to be reached, ``T > 0``); a random speed
    field is drawn from ``speed``.

    Parameters
    ----------
    medium : numpy.ndarray
        Boolean ``(H, W)``: pixels the front has yet to reach.
    speed : synthlang.ir.SpeedField
        Speed field distribution (image-pixel units).
    rng : numpy.random.Generator
        Source of randomness (the speed field).
    factor : int, optional
        Working-grid coarsening (see :func:`work_factor`).
    narrow : float, optional
        Only compute times up to about this value (skfmm narrow band);
        farther pixels get a huge time.
    obstacles : numpy.ndarray, optional
        Boolean ``(H, W)``: medium pixels the front may not enter.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32 arrival time in image pixels per unit speed:
        negative inside the initial front, ``1e6`` where not reached.

    Examples
    --------
    >>> medium = np.ones((9, 9), dtype=bool)
    >>> medium[4, 4] = False
    >>> t = arrival_time(medium, ir.SpeedField(std=0.0), np.random.default_rng(0))
    >>> round(float(t[4, 8]), 1)
    3.5
    """
    rows, cols = medium.shape
    phi = _block_mean(medium, factor) - np.float32(0.5)
    blocked = None
    if obstacles is not None:
        blocked = (_block_mean(obstacles, factor) > 0.5) & (phi > 0)
    return _march(phi, speed, rng, (rows, cols), factor=factor, narrow=narrow, blocked=blocked)


def _march(
    phi: np.ndarray,
    speed: ir.SpeedField,
    rng: np.random.Generator,
    shape: tuple[int, int],
    *,
    factor: int,
    narrow: float | None,
    blocked: np.ndarray | None,
) -> np.ndarray:
    """Solve on the working grid from the zero contour of ``phi``; return image-grid times."""
    rows, cols = shape
    if not (phi < 0).any():
        return np.full((rows, cols), _BIG, dtype=np.float32)
    if not (phi > 0).any():
        return np.full((rows, cols), -np.float32(0.5), dtype=np.float32)
    field = gaussian_field(speed, phi.shape, rng, pixel_size=factor).astype(np.float64)
    phi64: np.ndarray | np.ma.MaskedArray = phi.astype(np.float64)
    if blocked is not None and blocked.any():
        phi64 = np.ma.MaskedArray(phi64, mask=blocked)
    kwargs: dict[str, float] = {}
    if narrow is not None:
        # margin: two working pixels at the mean speed, so that the
        # interpolation just beyond `narrow` sees finite neighbours (where the
        # speed is much slower the threshold may move by up to one working pixel)
        kwargs["narrow"] = float(narrow) + 2.0 * factor / max(speed.mean, speed.minimum)
    t = skfmm.travel_time(phi64, field, dx=float(factor), order=1, **kwargs)
    if isinstance(t, np.ma.MaskedArray):
        t = t.filled(float(_BIG))
    t = np.asarray(t, dtype=np.float32)
    inside = phi < 0
    np.negative(t, out=t, where=inside)
    if narrow is not None:
        # deep inside the front the band leaves _BIG: clamp to a small negative time
        t[inside & (t < -float(kwargs["narrow"]))] = -np.float32(kwargs["narrow"])
    if factor > 1:
        # unreached nodes (obstacles, beyond the band) next to reached ones get
        # "one step later" instead of 1e6, so that interpolation does not leak
        # huge times into image pixels that the front does reach
        far = t >= _BIG
        if far.any():
            step = np.float32(factor / max(speed.mean, speed.minimum))
            near = ndi.minimum_filter(t, size=3, mode="nearest") + step
            t = np.where(far, np.minimum(near, _BIG), t)
        t = upsample_linear(t, (rows, cols), float(factor))
    return np.ascontiguousarray(t)


_NEIGHBOURS = tuple(
    (dr, dc, np.float32(1.0 / np.hypot(dr, dc)))
    for dr in (-1, 0, 1)
    for dc in (-1, 0, 1)
    if (dr, dc) != (0, 0)
)
_HUGE = np.float32(1e30)


def first_arrival_labels(
    time: np.ndarray, markers: np.ndarray, *, where: np.ndarray | None = None
) -> np.ndarray:
    """Hand every pixel to the marker whose front reaches it first.

    Each pixel steps to the 8-neighbour with the steepest descent of
    ``time`` (largest ``(T(p) - T(q)) / |p - q|``); marker pixels are sinks.
    Following these steps (pointer doubling, ``O(log L)`` vectorised passes
    for paths of length ``L``) leads every pixel down its fastest path to
    the marker that reached it first. Along that path ``T`` decreases
    strictly and never crosses into another marker's first-arrival region,
    so this is the first-arrival partition up to ties on boundary pixels.
    A pixel whose descent ends in a local minimum of ``time`` that is not a
    marker (rare: interpolation artefacts next to a front) takes the label
    of the marker pixel nearest to that minimum.

    Parameters
    ----------
    time : numpy.ndarray
        ``(H, W)`` float arrival time (from all markers at once), finite.
    markers : numpy.ndarray
        ``(H, W)`` int, ``k > 0`` on the pixels of marker ``k``, 0 elsewhere;
        at least one marker.
    where : numpy.ndarray, optional
        Boolean ``(H, W)``: the pixels that need a label. Others may stay 0
        (for example pixels on a plateau of "not reached" times).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` int32 labels; marker pixels keep their own label; every
        pixel of ``where`` (all pixels by default) is labelled.

    Examples
    --------
    >>> t = np.array([[0.0, 1.0, 2.0, 3.0, 2.5, 1.5, 0.5, 0.0]])
    >>> m = np.zeros((1, 8), np.int32)
    >>> m[0, 0], m[0, 7] = 1, 2
    >>> first_arrival_labels(t, m)[0].tolist()
    [1, 1, 1, 1, 2, 2, 2, 2]
    """
    rows, cols = time.shape
    mk = markers.ravel()
    t = np.array(time, dtype=np.float32)
    t[markers > 0] = -_HUGE
    pad = np.full((rows + 2, cols + 2), _HUGE, dtype=np.float32)
    pad[1:-1, 1:-1] = t
    best = np.zeros((rows, cols), dtype=np.float32)
    step = np.zeros((rows, cols), dtype=np.intp)
    for dr, dc, inv in _NEIGHBOURS:
        slope = pad[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols] - t
        slope *= inv
        better = slope < best
        np.minimum(best, slope, out=best)
        np.copyto(step, dr * cols + dc, where=better)
    parent = np.arange(rows * cols, dtype=np.intp)
    parent += step.ravel()
    while True:
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    labels = mk[parent].astype(np.int32)
    orphan = labels == 0
    if where is not None:
        orphan &= where.ravel()
    if orphan.any() and mk.any():
        roots, inverse = np.unique(parent[orphan], return_inverse=True)
        root_labels = np.array(
            [_nearest_marker(markers, int(r), cols) for r in roots], dtype=np.int32
        )
        labels[orphan] = root_labels[inverse]
    return labels.reshape(rows, cols)


def _nearest_marker(markers: np.ndarray, flat: int, cols: int) -> int:
    """Label of the marker pixel nearest to pixel ``flat`` (growing windows, then global)."""
    r, c = divmod(flat, cols)
    rows = markers.shape[0]
    radius = 4
    while True:
        r0, r1 = max(r - radius, 0), min(r + radius + 1, rows)
        c0, c1 = max(c - radius, 0), min(c + radius + 1, cols)
        mr, mc = np.nonzero(markers[r0:r1, c0:c1])
        whole = r0 == 0 and c0 == 0 and r1 == rows and c1 == cols
        if mr.size:
            d2 = (mr + r0 - r) ** 2 + (mc + c0 - c) ** 2
            k = int(np.argmin(d2))
            # a marker found within the inscribed disk is the nearest overall
            if d2[k] <= radius * radius or whole:
                return int(markers[mr[k] + r0, mc[k] + c0])
        elif whole:
            return 0
        radius *= 2


# --------------------------------------------------------------------------- regions

_SEED_RADIUS = 0.75
"""Radius (working pixels) of the small disk around each control point that starts its front."""


def _seed_phi(
    seed_r: np.ndarray, seed_c: np.ndarray, shape: tuple[int, int], factor: int
) -> np.ndarray:
    """Working-grid level set whose zero contour is a small disk around each seed.

    Nodes within two working pixels of a seed hold the signed distance to the
    disk of radius :data:`_SEED_RADIUS` centred on the seed's exact position
    (so the seed keeps its sub-cell position on a coarse grid); all other
    nodes hold +1.
    """
    rows, cols = shape
    hc, wc = -(-rows // factor), -(-cols // factor)
    phi = np.ones((hc, wc), dtype=np.float32)
    # seed position in working-grid coordinates (node i sits at image (i + 0.5) f - 0.5)
    pr = (seed_r + 0.5) / factor - 0.5
    pc = (seed_c + 0.5) / factor - 0.5
    off = np.arange(-2, 3)
    nr = np.round(pr).astype(np.intp)[:, None, None] + off[None, :, None]
    nc = np.round(pc).astype(np.intp)[:, None, None] + off[None, None, :]
    nr, nc = np.broadcast_arrays(nr, nc)
    d = np.hypot(nr - pr[:, None, None], nc - pc[:, None, None]) - _SEED_RADIUS
    ok = (nr >= 0) & (nr < hc) & (nc >= 0) & (nc < wc)
    np.minimum.at(phi, (nr[ok], nc[ok]), d[ok].astype(np.float32))
    return phi


@register(REGION_BUILDERS, "fast_marching")
def fast_marching_regions(
    spec: ir.FastMarchingRegions, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """Decompose the image into first-arrival regions of random control points.

    ``spec.count`` distinct control points are drawn uniformly among the
    pixels; one fast-marching solve from all of them under a random speed
    field (``spec.speed``) gives the arrival time, and each pixel goes to
    the point whose front reaches it first (see the module notes).

    Parameters
    ----------
    spec : synthlang.ir.FastMarchingRegions
        Number of regions and speed field.
    shape : tuple of int
        ``(rows, cols)`` of the image.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` int32 labels ``0 .. count-1``; every label is
        present (its control point is its own pixel) and every region is
        4-connected.

    Raises
    ------
    RenderError
        If there are more regions than pixels.

    Examples
    --------
    >>> lab = fast_marching_regions(ir.FastMarchingRegions(count=5), (80, 90),
    ...                             np.random.default_rng(0))
    >>> lab.shape, lab.dtype.name, sorted(np.unique(lab).tolist())
    ((80, 90), 'int32', [0, 1, 2, 3, 4])
    """
    rows, cols = int(shape[0]), int(shape[1])
    n = int(spec.count)
    if n > rows * cols:
        raise RenderError(
            f"fast_marching({n}) needs at least {n} pixels, the image has {rows * cols}"
        )
    flat = rng.choice(rows * cols, size=n, replace=False)
    seed_r, seed_c = np.divmod(flat, cols)
    if n == 1:
        return np.zeros((rows, cols), dtype=np.int32)
    factor = work_factor((rows, cols))
    t = _march(
        _seed_phi(seed_r, seed_c, (rows, cols), factor),
        spec.speed,
        rng,
        (rows, cols),
        factor=factor,
        narrow=None,
        blocked=None,
    )
    markers = np.zeros((rows, cols), dtype=np.int32)
    markers[seed_r, seed_c] = np.arange(1, n + 1, dtype=np.int32)
    labels = first_arrival_labels(t, markers)
    labels -= 1
    return labels


# --------------------------------------------------------------------------- grown cells


@register(AREA_SHAPES, "grown")
def grown_shapes(layer: ir.Layer, ctx: RenderContext, rng: np.random.Generator) -> list[Instance]:
    """Grow one object per source object by stochastic fast marching.

    The union of the source objects' masks (``ctx.instances_of(source)``) is
    the initial front; it moves with a random speed field (``shape.speed``)
    for a marching time ``tau`` drawn once per sample from ``shape.time``. A
    pixel of the layer's area (``ctx.area(layer.regions)``) belongs to the
    grown object of the source whose front reaches it first, if that happens
    by ``tau``. The rest of the image is an obstacle: fronts do not cross it.
    Grown objects therefore tile and never overlap; each contains its
    source's pixels (where two sources overlap, the later one owns the shared
    pixels, as in compositing), also outside the area.

    Parameters
    ----------
    layer : synthlang.ir.Layer
        A layer whose shape is a :class:`synthlang.ir.GrownShape`.
    ctx : synthlang.engine.base.RenderContext
        The render state; the source layer must be finished.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    list of Instance
        In source order; ``parent`` is the source id and ``center`` the
        source centre.
    """
    shape = layer.shape
    assert isinstance(shape, ir.GrownShape)
    rows, cols = ctx.shape
    tau = max(draw(shape.time, rng), 0.0)
    sources = ctx.instances_of(shape.source)
    if not sources:
        return []
    markers = np.zeros((rows, cols), dtype=np.int32)
    for k, inst in enumerate(sources, start=1):
        markers[inst.slices][inst.mask] = k
    src = markers > 0
    area = ctx.area(layer.regions)
    if tau > 0 and area.any():
        factor = work_factor((rows, cols))
        t = arrival_time(~src, shape.speed, rng, factor=factor, narrow=tau, obstacles=~area & ~src)
        reach = ((t <= tau) & area) | src
        labels = first_arrival_labels(np.where(reach, t, _BIG), markers, where=reach)
        labels[~reach] = 0
    else:
        labels = markers
    out: list[Instance] = []
    for k, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        mask = labels[sl] == k
        source = sources[k - 1]
        out.append(
            Instance(
                id=ctx.new_id(),
                layer=layer.index,
                category=layer.name,
                r0=int(sl[0].start),
                c0=int(sl[1].start),
                mask=mask,
                center=(float(source.center[0]), float(source.center[1])),
                parent=source.id,
            )
        )
    return out


# --------------------------------------------------------------------------- ribbons


def _boundary_front(labels: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Pixels already reached by a ribbon front: outside ``area`` or on a region boundary.

    A region-boundary pixel is an area pixel with a 4-neighbour of another
    label. The image border is not a boundary (tissue continues beyond it).
    """
    front = ~area
    edge = np.zeros_like(area)
    dr = labels[1:, :] != labels[:-1, :]
    edge[1:, :] |= dr
    edge[:-1, :] |= dr
    dc = labels[:, 1:] != labels[:, :-1]
    edge[:, 1:] |= dc
    edge[:, :-1] |= dc
    return front | (edge & area)


@register(AREA_SHAPES, "ribbon")
def ribbon_shapes(layer: ir.Layer, ctx: RenderContext, rng: np.random.Generator) -> list[Instance]:
    """Connective-tissue ribbons along the boundaries of the considered regions.

    The considered area is ``ctx.area(layer.regions)``. For each of
    ``shape.maps`` independent random speed fields the arrival time ``T``
    from the complement of each considered region is computed (the front
    starts at every pixel outside the area and at every region-boundary
    pixel inside it; ``T`` is measured from the boundary pixels' centres, so
    they have ``T = 0``). With ``t0`` drawn from ``shape.offset`` and ``w``
    from ``shape.width`` per map, the ribbon is the union over maps of the
    area pixels with ``t0 <= T < t0 + w``; its thickness is about ``w``
    times the local speed. Two selected regions that share a boundary both
    grow a band, so the ribbon is twice as thick there.

    Without scene regions (``ctx.regions is None``) the boundaries are those
    of a private fast-marching decomposition with one region per
    :data:`RIBBON_REGION_SIDE` squared pixels, drawn from the same speed
    distribution.

    Parameters
    ----------
    layer : synthlang.ir.Layer
        A layer whose shape is a :class:`synthlang.ir.RibbonShape`.
    ctx : synthlang.engine.base.RenderContext
        The render state (regions and their per-sample permutation).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    list of Instance
        One instance per 8-connected ribbon piece, in raster order of the
        pieces; ``center`` is the piece's centroid, ``parent`` 0.
    """
    shape = layer.shape
    assert isinstance(shape, ir.RibbonShape)
    rows, cols = ctx.shape
    area = ctx.area(layer.regions)
    if ctx.regions is None:
        n = max(2, int(round(rows * cols / RIBBON_REGION_SIDE**2)))
        n = min(n, rows * cols)
        labels = fast_marching_regions(
            ir.FastMarchingRegions(count=n, speed=shape.speed), (rows, cols), rng
        )
    else:
        labels = ctx.regions
    ribbon = np.zeros((rows, cols), dtype=bool)
    if not area.any():
        return []
    # work on the area's bounding box (plus a margin) only
    rr = np.flatnonzero(area.any(axis=1))
    cc = np.flatnonzero(area.any(axis=0))
    margin = 2 * WORK_FACTOR
    r0, r1 = max(int(rr[0]) - margin, 0), min(int(rr[-1]) + 1 + margin, rows)
    c0, c1 = max(int(cc[0]) - margin, 0), min(int(cc[-1]) + 1 + margin, cols)
    sub_area = area[r0:r1, c0:c1]
    medium = ~_boundary_front(labels[r0:r1, c0:c1], sub_area)
    factor = work_factor((r1 - r0, c1 - c0))
    phi = _block_mean(medium, factor) - np.float32(0.5)
    sub = ribbon[r0:r1, c0:c1]
    for _ in range(shape.maps):
        t0 = draw(shape.offset, rng)
        width = draw(shape.width, rng)
        if width <= 0 or t0 + width <= 0:
            continue
        t = _march(
            phi,
            shape.speed,
            rng,
            medium.shape,
            factor=factor,
            narrow=t0 + width,
            blocked=None,
        )
        t += np.float32(0.5)  # boundary pixel centres at T = 0
        sub |= (t >= np.float32(t0)) & (t < np.float32(t0 + width))
    sub &= sub_area
    pieces, count = ndi.label(ribbon, structure=np.ones((3, 3), dtype=bool))
    out: list[Instance] = []
    for k, sl in enumerate(ndi.find_objects(pieces), start=1):
        if sl is None:
            continue
        mask = pieces[sl] == k
        r, c = np.nonzero(mask)
        out.append(
            Instance(
                id=ctx.new_id(),
                layer=layer.index,
                category=layer.name,
                r0=int(sl[0].start),
                c0=int(sl[1].start),
                mask=mask,
                center=(float(r.mean()) + sl[0].start, float(c.mean()) + sl[1].start),
            )
        )
    return out
