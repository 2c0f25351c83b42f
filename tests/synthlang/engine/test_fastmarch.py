"""Fast-marching regions, grown cells and ribbons (synthlang.engine.fastmarch)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine import base
from synthlang.engine.base import Instance, LayerResult, RenderContext
from synthlang.engine.fastmarch import (
    arrival_time,
    fast_marching_regions,
    first_arrival_labels,
    grown_shapes,
    ribbon_shapes,
)

GREY = ir.MVNColor(mean=(0.5, 0.5, 0.5))
CONSTANT = ir.SpeedField(mean=1.0, std=0.0)


def _seeds(seed: int, shape: tuple[int, int], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The control points fast_marching_regions draws first from a fresh generator."""
    flat = np.random.default_rng(seed).choice(shape[0] * shape[1], size=n, replace=False)
    return np.divmod(flat, shape[1])


# --------------------------------------------------------------------------- regions


def test_registered() -> None:
    assert base.REGION_BUILDERS["fast_marching"] is fast_marching_regions
    assert base.AREA_SHAPES["grown"] is grown_shapes
    assert base.AREA_SHAPES["ribbon"] is ribbon_shapes


@pytest.mark.parametrize(("shape", "n"), [((300, 300), 11), ((40, 50), 6), ((97, 131), 25)])
def test_regions_label_every_pixel_and_keep_seeds(shape: tuple[int, int], n: int) -> None:
    spec = ir.FastMarchingRegions(count=n, speed=ir.SpeedField(std=0.4, smoothness=15))
    for seed in range(3):
        lab = fast_marching_regions(spec, shape, np.random.default_rng(seed))
        assert lab.shape == shape
        assert lab.dtype == np.int32
        assert lab.min() == 0 and lab.max() == n - 1
        assert np.unique(lab).size == n
        sr, sc = _seeds(seed, shape, n)
        assert np.array_equal(lab[sr, sc], np.arange(n))
        for k in range(n):
            _, pieces = ndi.label(lab == k, structure=np.ones((3, 3), dtype=bool))
            assert pieces == 1


def test_regions_many_and_one() -> None:
    lab = fast_marching_regions(
        ir.FastMarchingRegions(count=600), (100, 100), np.random.default_rng(0)
    )
    assert np.unique(lab).size == 600
    one = fast_marching_regions(ir.FastMarchingRegions(count=1), (20, 30), np.random.default_rng(0))
    assert (one == 0).all()


def test_regions_more_than_pixels() -> None:
    with pytest.raises(RenderError, match="needs at least 30 pixels"):
        fast_marching_regions(ir.FastMarchingRegions(count=30), (5, 5), np.random.default_rng(0))


def test_regions_deterministic() -> None:
    spec = ir.FastMarchingRegions(count=9)
    a = fast_marching_regions(spec, (120, 150), np.random.default_rng(5))
    b = fast_marching_regions(spec, (120, 150), np.random.default_rng(5))
    c = fast_marching_regions(spec, (120, 150), np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("shape", [(300, 300), (50, 60)])
def test_constant_speed_gives_voronoi(shape: tuple[int, int]) -> None:
    n = 11
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    for seed in range(4):
        lab = fast_marching_regions(
            ir.FastMarchingRegions(count=n, speed=CONSTANT), shape, np.random.default_rng(seed)
        )
        sr, sc = _seeds(seed, shape, n)
        dist, idx = cKDTree(np.column_stack([sr, sc])).query(
            np.column_stack([rows.ravel(), cols.ravel()]), k=2
        )
        voronoi = idx[:, 0].reshape(shape)
        gap = (dist[:, 1] - dist[:, 0]).reshape(shape)  # 2 x distance to the bisector
        wrong = voronoi != lab
        assert wrong.mean() < 0.04
        assert (gap[wrong] <= 5.0).all()  # only within 2.5 px of a Voronoi boundary


def test_random_speed_moves_boundaries() -> None:
    shape = (150, 150)
    const = fast_marching_regions(
        ir.FastMarchingRegions(count=8, speed=CONSTANT), shape, np.random.default_rng(3)
    )
    rand = fast_marching_regions(
        ir.FastMarchingRegions(count=8, speed=ir.SpeedField(std=0.5, smoothness=20)),
        shape,
        np.random.default_rng(3),
    )
    assert (const != rand).mean() > 0.02


@pytest.mark.parametrize("factor", [1, 2])
def test_arrival_time_is_distance_for_unit_speed(factor: int) -> None:
    shape = (120, 140)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    d = np.hypot(rows - 60.3, cols - 70.6)
    medium = d > 10
    t = arrival_time(medium, CONSTANT, np.random.default_rng(0), factor=factor)
    expect = d - 10
    far = medium & (d < 50)
    assert np.abs(t[far] - expect[far]).max() < 2.0
    assert (t[~medium] <= 0.6).all()


def test_first_arrival_labels_follow_the_fastest_path() -> None:
    t = np.array([[0.0, 1.0, 2.0, 3.0, 2.5, 1.5, 0.5, 0.0]] * 3)
    m = np.zeros(t.shape, np.int32)
    m[1, 0], m[1, 7] = 1, 2
    lab = first_arrival_labels(t, m)
    assert lab[:, :4].tolist() == [[1] * 4] * 3
    assert lab[:, 4:].tolist() == [[2] * 4] * 3


# --------------------------------------------------------------------------- grown cells


def _disk_instances(
    shape: tuple[int, int], centres: list[tuple[float, float]], radius: float, layer: int = 0
) -> list[Instance]:
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    out = []
    for k, (r, c) in enumerate(centres, start=1):
        disk = (rows - r) ** 2 + (cols - c) ** 2 <= radius**2
        rr = np.flatnonzero(disk.any(axis=1))
        cc = np.flatnonzero(disk.any(axis=0))
        out.append(
            Instance(
                id=k,
                layer=layer,
                category="nucleus",
                r0=int(rr[0]),
                c0=int(cc[0]),
                mask=disk[rr[0] : rr[-1] + 1, cc[0] : cc[-1] + 1],
                center=(r, c),
            )
        )
    return out


def _grown_ctx(
    shape: tuple[int, int],
    sources: list[Instance],
    grown: ir.GrownShape,
    *,
    regions: np.ndarray | None = None,
    selection: ir.RegionSelection | None = None,
) -> tuple[RenderContext, ir.Layer]:
    src = ir.Layer(
        index=0,
        name="nucleus",
        shape=ir.EllipseShape(semi_axes=(ir.Constant(value=4.0), ir.Constant(value=4.0))),
        placement=ir.Placement(mode="count", count=ir.Constant(value=1.0)),
        color=GREY,
    )
    cell = ir.Layer(index=1, name="cell", shape=grown, regions=selection, color=GREY)
    n = None if regions is None else int(regions.max()) + 1
    scene = ir.Scene(
        name="t",
        size=shape,
        regions=None if n is None else ir.VoronoiRegions(count=n),
        layers=(src, cell),
    )
    ctx = RenderContext(scene, np.random.default_rng(0))
    if regions is not None:
        ctx.regions = regions
        ctx.region_perm = np.arange(n)
    cov = np.zeros(shape, dtype=bool)
    for inst in sources:
        cov[inst.slices] |= inst.mask
    ctx.layers["nucleus"] = LayerResult(layer=src, instances=sources, coverage=cov)
    ctx._next_id = len(sources) + 1
    return ctx, cell


def _paint(instances: list[Instance], shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, dtype=np.int64)
    for inst in instances:
        view = out[inst.slices]
        assert not view[inst.mask].any(), "objects overlap"
        view[inst.mask] = inst.id
    return out


def _grid_centres(shape: tuple[int, int], step: int, rng: np.random.Generator) -> list:
    return [
        (r + rng.uniform(-2, 2), c + rng.uniform(-2, 2))
        for r in range(step // 2, shape[0] - step // 2 + 1, step)
        for c in range(step // 2, shape[1] - step // 2 + 1, step)
    ]


def test_grown_cells_contain_nucleus_and_never_overlap() -> None:
    shape = (160, 180)
    sources = _disk_instances(shape, _grid_centres(shape, 24, np.random.default_rng(0)), 6.0)
    grown = ir.GrownShape(
        source="nucleus", time=ir.Constant(value=9.0), speed=ir.SpeedField(std=0.3, smoothness=8)
    )
    ctx, layer = _grown_ctx(shape, sources, grown)
    cells = grown_shapes(layer, ctx, np.random.default_rng(1))
    assert len(cells) == len(sources)
    painted = _paint(cells, shape)
    for cell, src in zip(cells, sources, strict=True):
        assert cell.parent == src.id
        assert cell.center == src.center
        assert cell.category == "cell" and cell.layer == 1
        assert cell.id > len(sources)
        assert (painted[src.slices][src.mask] == cell.id).all()
        assert cell.area > src.area
    assert len({c.id for c in cells}) == len(cells)


@pytest.mark.parametrize("tau", [0.0, 3.0, 7.0])
def test_grown_extent_bounded_by_speed_times_time(tau: float) -> None:
    shape = (150, 150)
    radius, speed = 5.0, 1.5
    centres = _grid_centres(shape, 40, np.random.default_rng(2))
    sources = _disk_instances(shape, centres, radius)
    grown = ir.GrownShape(
        source="nucleus", time=ir.Constant(value=tau), speed=ir.SpeedField(mean=speed, std=0.0)
    )
    ctx, layer = _grown_ctx(shape, sources, grown)
    cells = grown_shapes(layer, ctx, np.random.default_rng(0))
    for cell, (r, c) in zip(cells, centres, strict=True):
        rr, cc = np.nonzero(cell.mask)
        d = np.hypot(rr + cell.r0 - r, cc + cell.c0 - c)
        assert d.max() <= radius + speed * tau + 1.5
        if tau > 0:  # and it does grow by about that much (free space around each nucleus)
            assert d.max() >= radius + speed * tau - 1.5
        else:
            assert cell.area == sources[cells.index(cell)].area


def test_grown_random_speed_bound() -> None:
    shape = (150, 150)
    spec = ir.SpeedField(mean=1.0, std=0.3, smoothness=10, minimum=0.05)
    centres = _grid_centres(shape, 30, np.random.default_rng(3))
    sources = _disk_instances(shape, centres, 4.0)
    ctx, layer = _grown_ctx(
        shape, sources, ir.GrownShape(source="nucleus", time=ir.Constant(value=6.0), speed=spec)
    )
    for seed in range(3):
        cells = grown_shapes(layer, ctx, np.random.default_rng(seed))
        _paint(cells, shape)
        vmax = spec.mean + 5 * spec.std
        for cell, (r, c) in zip(cells, centres, strict=True):
            rr, cc = np.nonzero(cell.mask)
            assert np.hypot(rr + cell.r0 - r, cc + cell.c0 - c).max() <= 4.0 + vmax * 6.0 + 2.0


def test_grown_cells_tile_the_area_for_long_times() -> None:
    shape = (100, 120)
    sources = _disk_instances(shape, _grid_centres(shape, 25, np.random.default_rng(4)), 3.0)
    grown = ir.GrownShape(source="nucleus", time=ir.Constant(value=200.0))
    ctx, layer = _grown_ctx(shape, sources, grown)
    painted = _paint(grown_shapes(layer, ctx, np.random.default_rng(0)), shape)
    assert (painted > 0).mean() > 0.999


def test_grown_restricted_to_area_and_blocked_by_it() -> None:
    shape = (80, 150)
    regions = np.zeros(shape, dtype=np.int32)
    regions[:, 60:90] = 1  # a strip that is not in the area
    regions[:, 90:] = 2
    sources = _disk_instances(shape, [(40.0, 30.0), (40.0, 75.0)], 5.0)
    grown = ir.GrownShape(source="nucleus", time=ir.Constant(value=500.0))
    # the selection takes regions 0 and 2 (perm = identity): start 0 count 1 -> region 0 ...
    ctx, layer = _grown_ctx(
        shape,
        sources,
        grown,
        regions=regions,
        selection=ir.RegionSelection(start=1, count=1, invert=True),
    )
    area = ctx.area(layer.regions)
    assert area[:, :60].all() and not area[:, 60:90].any() and area[:, 90:].all()
    cells = grown_shapes(layer, ctx, np.random.default_rng(0))
    painted = _paint(cells, shape)
    left, middle = cells
    # the left cell fills region 0 but cannot cross the strip into region 2
    assert (painted[:, :60] == left.id).all()
    assert not (painted[:, 90:] > 0).any()
    # the nucleus in the strip keeps its own pixels only
    assert middle.area == sources[1].area
    outside = (painted > 0) & ~area
    assert outside.sum() == sources[1].area


def test_grown_overlapping_sources_later_wins() -> None:
    shape = (60, 60)
    sources = _disk_instances(shape, [(30.0, 26.0), (30.0, 34.0)], 6.0)
    ctx, layer = _grown_ctx(
        shape, sources, ir.GrownShape(source="nucleus", time=ir.Constant(value=4.0))
    )
    cells = grown_shapes(layer, ctx, np.random.default_rng(0))
    painted = _paint(cells, shape)
    second = sources[1]
    assert (painted[second.slices][second.mask] == cells[1].id).all()


def test_grown_no_sources() -> None:
    ctx, layer = _grown_ctx(
        (30, 30), [], ir.GrownShape(source="nucleus", time=ir.Constant(value=4.0))
    )
    assert grown_shapes(layer, ctx, np.random.default_rng(0)) == []


def test_grown_deterministic() -> None:
    shape = (90, 90)
    sources = _disk_instances(shape, _grid_centres(shape, 20, np.random.default_rng(5)), 4.0)
    grown = ir.GrownShape(source="nucleus", time=ir.Uniform(low=3, high=8))
    ctx, layer = _grown_ctx(shape, sources, grown)
    a = _paint(grown_shapes(layer, ctx, np.random.default_rng(9)), shape) > 0
    b = _paint(grown_shapes(layer, ctx, np.random.default_rng(9)), shape) > 0
    assert np.array_equal(a, b)


# --------------------------------------------------------------------------- ribbons


def _ribbon_ctx(
    shape: tuple[int, int],
    ribbon: ir.RibbonShape,
    regions: np.ndarray | None,
    selection: ir.RegionSelection | None = None,
) -> tuple[RenderContext, ir.Layer]:
    layer = ir.Layer(index=0, name="connective", shape=ribbon, regions=selection, color=GREY)
    n = None if regions is None else int(regions.max()) + 1
    scene = ir.Scene(
        name="t",
        size=shape,
        regions=None if n is None else ir.VoronoiRegions(count=n),
        layers=(layer,),
    )
    ctx = RenderContext(scene, np.random.default_rng(0))
    if regions is not None:
        ctx.regions = regions
        ctx.region_perm = np.arange(n)
    return ctx, layer


def _ribbon_mask(instances: list[Instance], shape: tuple[int, int]) -> np.ndarray:
    return _paint(instances, shape) > 0


def _regions(shape: tuple[int, int], n: int, seed: int) -> np.ndarray:
    return fast_marching_regions(
        ir.FastMarchingRegions(count=n, speed=CONSTANT), shape, np.random.default_rng(seed)
    )


def _boundary_distance(regions: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Euclidean distance from the centres of the front pixels (outside area or region edge)."""
    edge = np.zeros_like(area)
    dr = regions[1:] != regions[:-1]
    edge[1:] |= dr
    edge[:-1] |= dr
    dc = regions[:, 1:] != regions[:, :-1]
    edge[:, 1:] |= dc
    edge[:, :-1] |= dc
    return ndi.distance_transform_edt(area & ~edge)


@pytest.mark.parametrize(("offset", "width"), [(0.0, 3.0), (4.0, 5.0), (10.0, 2.5)])
def test_ribbon_lies_in_the_distance_band(offset: float, width: float) -> None:
    shape = (200, 220)
    regions = _regions(shape, 7, 0)
    ribbon = ir.RibbonShape(
        maps=1,
        width=ir.Constant(value=width),
        offset=ir.Constant(value=offset),
        speed=CONSTANT,
    )
    ctx, layer = _ribbon_ctx(shape, ribbon, regions)
    mask = _ribbon_mask(ribbon_shapes(layer, ctx, np.random.default_rng(0)), shape)
    d = _boundary_distance(regions, np.ones(shape, dtype=bool))
    assert mask.any()
    assert (d[mask] >= offset - 1.6).all()
    assert (d[mask] <= offset + width + 1.6).all()
    core = (d >= offset + 1.0) & (d <= offset + width - 1.0)
    if core.any():
        assert mask[core].mean() > 0.95


def test_ribbon_thickness_grows_with_width() -> None:
    shape = (200, 200)
    regions = _regions(shape, 6, 1)
    areas = []
    for width in (2.0, 4.0, 8.0):
        ribbon = ir.RibbonShape(maps=2, width=ir.Constant(value=width))
        ctx, layer = _ribbon_ctx(shape, ribbon, regions)
        areas.append(_ribbon_mask(ribbon_shapes(layer, ctx, np.random.default_rng(3)), shape).sum())
    assert areas[0] < areas[1] < areas[2]
    assert areas[2] > 2.5 * areas[0]


def test_ribbon_restricted_to_selected_regions() -> None:
    shape = (180, 180)
    regions = _regions(shape, 6, 2)
    selection = ir.RegionSelection(start=0, count=2)
    ribbon = ir.RibbonShape(
        maps=3, width=ir.Uniform(low=2, high=5), offset=ir.Uniform(low=0, high=4)
    )
    ctx, layer = _ribbon_ctx(shape, ribbon, regions, selection)
    area = ctx.area(selection)
    instances = ribbon_shapes(layer, ctx, np.random.default_rng(0))
    mask = _ribbon_mask(instances, shape)
    assert mask.any()
    assert not (mask & ~area).any()
    # distance from the complement of the considered regions bounds every ribbon pixel
    d = _boundary_distance(regions, area)
    assert (d[mask] <= 4 + 5 + 1.6 * 1.5 * 4).all()


def test_ribbon_pieces_are_connected_components() -> None:
    shape = (150, 150)
    regions = _regions(shape, 5, 3)
    ribbon = ir.RibbonShape(
        maps=3, width=ir.Uniform(low=1, high=3), offset=ir.Uniform(low=2, high=12)
    )
    ctx, layer = _ribbon_ctx(shape, ribbon, regions)
    instances = ribbon_shapes(layer, ctx, np.random.default_rng(4))
    mask = _ribbon_mask(instances, shape)
    _, pieces = ndi.label(mask, structure=np.ones((3, 3), dtype=bool))
    assert pieces == len(instances)
    for inst in instances:
        assert inst.category == "connective" and inst.parent == 0
        rr, cc = np.nonzero(inst.mask)
        assert inst.center == pytest.approx((rr.mean() + inst.r0, cc.mean() + inst.c0))


def test_ribbon_without_regions_uses_a_private_decomposition() -> None:
    shape = (200, 200)
    ribbon = ir.RibbonShape(maps=2, width=ir.Constant(value=3.0))
    ctx, layer = _ribbon_ctx(shape, ribbon, None)
    mask = _ribbon_mask(ribbon_shapes(layer, ctx, np.random.default_rng(0)), shape)
    assert 0.02 < mask.mean() < 0.5


def test_ribbon_empty_area() -> None:
    shape = (50, 50)
    regions = np.zeros(shape, dtype=np.int32)
    regions[:, 25:] = 1
    ribbon = ir.RibbonShape(width=ir.Constant(value=3.0))
    ctx, layer = _ribbon_ctx(
        shape, ribbon, regions, ir.RegionSelection(start=0, count=2, invert=True)
    )
    assert ribbon_shapes(layer, ctx, np.random.default_rng(0)) == []


def test_ribbon_deterministic() -> None:
    shape = (120, 120)
    regions = _regions(shape, 5, 4)
    ribbon = ir.RibbonShape(maps=3, width=ir.Uniform(low=2, high=6), speed=ir.SpeedField(std=0.4))
    ctx, layer = _ribbon_ctx(shape, ribbon, regions)
    a = _ribbon_mask(ribbon_shapes(layer, ctx, np.random.default_rng(7)), shape)
    b = _ribbon_mask(ribbon_shapes(layer, ctx, np.random.default_rng(7)), shape)
    c = _ribbon_mask(ribbon_shapes(layer, ctx, np.random.default_rng(8)), shape)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
