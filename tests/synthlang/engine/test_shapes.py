"""Ellipse rasterisation, polygons, shape batches and the fill area shape."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlang import ir
from synthlang.common.errors import RenderError, SceneError
from synthlang.engine.base import AREA_SHAPES, OBJECT_SHAPES, ObjectDraw, RenderContext
from synthlang.engine.regions import build_regions
from synthlang.engine.shapes import (
    MIN_SEMI_AXIS,
    EllipseBatch,
    GenericBatch,
    build_area_instances,
    ellipse_shape,
    fill_shape,
    polygon_shape,
    rasterize_ellipse,
    sample_shapes,
)

axes = st.floats(0.3, 15.0, allow_nan=False)
angles = st.floats(-360.0, 360.0, allow_nan=False)


def _brute_force(a: float, b: float, angle: float, rr: int, rc: int) -> np.ndarray:
    a, b = max(a, MIN_SEMI_AXIS), max(b, MIN_SEMI_AXIS)
    t = math.radians(angle)
    u = np.array([-math.sin(t), math.cos(t)])  # direction of a in (row, col)
    v = np.array([math.cos(t), math.sin(t)])
    dr, dc = np.mgrid[-rr : rr + 1, -rc : rc + 1].astype(float)
    xu = dr * u[0] + dc * u[1]
    xv = dr * v[0] + dc * v[1]
    return (xu / a) ** 2 + (xv / b) ** 2 <= 1 + 1e-9


@settings(max_examples=60, deadline=None)
@given(a=axes, b=axes, angle=angles)
def test_ellipse_matches_pixel_centre_rule(a: float, b: float, angle: float) -> None:
    mask, (rr, rc) = rasterize_ellipse(a, b, angle)
    assert mask.shape == (2 * rr + 1, 2 * rc + 1)
    assert mask[rr, rc], "the centre pixel is always inside"
    expected = _brute_force(a, b, angle, rr + 2, rc + 2)
    # nothing outside the returned box is inside the ellipse
    assert expected.sum() == mask.sum()
    np.testing.assert_array_equal(expected[2:-2, 2:-2], mask)


@settings(max_examples=30, deadline=None)
@given(a=axes, b=axes, angle=angles)
def test_ellipse_is_point_symmetric(a: float, b: float, angle: float) -> None:
    mask, _ = rasterize_ellipse(a, b, angle)
    np.testing.assert_array_equal(mask, mask[::-1, ::-1])


def test_angle_convention_rows_and_cols() -> None:
    # angle 0: first semi-axis along the columns; angle 90: along the rows
    m0, a0 = rasterize_ellipse(5, 1, 0)
    m90, a90 = rasterize_ellipse(5, 1, 90)
    assert a0 == (1, 5) and a90 == (5, 1)
    np.testing.assert_array_equal(m0, m90.T)
    # angle 45 (counter-clockwise as displayed): the long axis runs up-right
    m45, (r, c) = rasterize_ellipse(6, 1, 45)
    assert m45[r - 3, c + 3] and not m45[r - 3, c - 3]


def test_area_approaches_pi_ab() -> None:
    mask, _ = rasterize_ellipse(30, 18, 33)
    assert abs(mask.sum() / (math.pi * 30 * 18) - 1) < 0.01


def test_tiny_semi_axes_are_clamped() -> None:
    mask, anchor = rasterize_ellipse(0.0, -3.0, 10)
    assert anchor == (0, 0) and mask.tolist() == [[True]]


@settings(max_examples=40, deadline=None)
@given(
    a=st.lists(axes, min_size=1, max_size=8),
    b=st.lists(axes, min_size=8, max_size=8),
    angle=st.lists(angles, min_size=8, max_size=8),
)
def test_ellipse_probes_are_object_pixels(a: list, b: list, angle: list) -> None:
    n = len(a)
    batch = EllipseBatch(
        np.maximum(np.array(a), MIN_SEMI_AXIS),
        np.maximum(np.array(b[:n]), MIN_SEMI_AXIS),
        np.array(angle[:n]),
    )
    dr, dc, valid = batch.probes()
    assert valid.all() and dr.shape == dc.shape and dr.shape[0] == n
    for i in range(n):
        d = batch.draw(i)
        ar, ac = int(d.anchor[0]), int(d.anchor[1])
        assert d.mask[dr[i] + ar, dc[i] + ac].all()


def test_ellipse_shape_registered_and_draws_from_distributions() -> None:
    assert OBJECT_SHAPES["ellipse"] is ellipse_shape
    shape = ir.EllipseShape(
        semi_axes=(ir.Constant(value=4), ir.Constant(value=2)), angle=ir.Constant(value=0)
    )
    d = ellipse_shape(shape, np.random.default_rng(0), None)
    assert isinstance(d, ObjectDraw)
    assert d.mask.shape == (5, 9) and d.anchor == (2.0, 4.0)


def test_sample_shapes_same_stream_for_same_seed() -> None:
    shape = ir.EllipseShape(semi_axes=(ir.Uniform(low=2, high=9),) * 2)
    b1 = sample_shapes(shape, np.random.default_rng(7), 10, None)
    b2 = sample_shapes(shape, np.random.default_rng(7), 10, None)
    np.testing.assert_array_equal(b1.a, b2.a)
    np.testing.assert_array_equal(b1.angle, b2.angle)


def test_generic_batch_probes_and_empty_masks() -> None:
    ring = np.zeros((5, 5), bool)
    ring[0, :] = True
    draws = [ObjectDraw(mask=ring, anchor=(2.0, 2.0)), ObjectDraw(np.zeros((3, 3), bool), (1, 1))]
    dr, dc, valid = GenericBatch(draws).probes()
    assert valid.tolist() == [True, False]
    assert ring[dr[0] + 2, dc[0] + 2].all()


def test_unknown_object_shape_is_a_render_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(OBJECT_SHAPES, "patch", raising=False)
    with pytest.raises(RenderError, match="patch"):
        sample_shapes(ir.PatchShape(library="/nowhere"), np.random.default_rng(0), 2, None)


def _fill_scene(regions: ir.RegionSelection | None, per_region: bool = True) -> ir.Scene:
    layer = ir.Layer(
        index=0,
        name="bg",
        shape=ir.FillShape(per_region=per_region),
        regions=regions,
        color=ir.MVNColor(mean=(1, 1, 1)),
    )
    return ir.Scene(name="s", size=(30, 40), regions=ir.VoronoiRegions(count=4), layers=(layer,))


def test_fill_without_selection_is_one_whole_image_object() -> None:
    scene = _fill_scene(None)
    ctx = RenderContext(scene, np.random.default_rng(0))
    build_regions(ctx, ctx.rng)
    (inst,) = fill_shape(scene.layers[0], ctx, ctx.rng)
    assert inst.area == 1200 and inst.bbox == (0, 0, 30, 40)
    assert inst.center == pytest.approx((14.5, 19.5))
    assert inst.id == 1 and inst.category == "bg" and inst.layer == 0


def test_fill_per_region_makes_one_object_per_selected_region() -> None:
    sel = ir.RegionSelection(start=0, count=3)
    scene = _fill_scene(sel)
    ctx = RenderContext(scene, np.random.default_rng(2))
    build_regions(ctx, ctx.rng)
    insts = build_area_instances(scene.layers[0], ctx, ctx.rng)
    assert AREA_SHAPES["fill"] is fill_shape
    assert 1 <= len(insts) <= 3
    union = np.zeros((30, 40), bool)
    for inst in insts:
        labels = np.unique(ctx.regions[inst.slices][inst.mask])
        assert len(labels) == 1  # each object is exactly one region
        assert not np.any(union[inst.slices] & inst.mask)
        union[inst.slices] |= inst.mask
        rows, cols = np.nonzero(inst.mask)
        assert inst.center == pytest.approx((rows.mean() + inst.r0, cols.mean() + inst.c0))
    np.testing.assert_array_equal(union, ctx.area(sel))


def test_fill_union_when_not_per_region() -> None:
    sel = ir.RegionSelection(start=1, count=2)
    scene = _fill_scene(sel, per_region=False)
    ctx = RenderContext(scene, np.random.default_rng(2))
    build_regions(ctx, ctx.rng)
    (inst,) = fill_shape(scene.layers[0], ctx, ctx.rng)
    full = np.zeros((30, 40), bool)
    full[inst.slices] = inst.mask
    np.testing.assert_array_equal(full, ctx.area(sel))


def test_unknown_area_shape_is_a_render_error(monkeypatch: pytest.MonkeyPatch) -> None:
    scene = _fill_scene(None)
    monkeypatch.delitem(AREA_SHAPES, "fill")
    ctx = RenderContext(scene, np.random.default_rng(0))
    with pytest.raises(RenderError, match="fill"):
        build_area_instances(scene.layers[0], ctx, ctx.rng)


# --------------------------------------------------------------------------- polygon


POLYGON_SCENE = """
scene p {{ size {size} x {size} }}
layer background {{ fill color rgb(0.9, 0.9, 0.9) }}
layer nucleus {{ polygon({args}) place count {count}, overlap none color rgb(0.3, 0.1, 0.5) }}
mask nucleus
"""


def polygon_scene(args: str, size: int = 96, count: int = 12) -> ir.Scene:
    from synthlang import compile_string

    return compile_string(POLYGON_SCENE.format(args=args, size=size, count=count))


def test_polygon_renders_its_objects() -> None:
    from synthlang import render

    scene = polygon_scene("vertices randint(5, 9), radius uniform(5, 10)")
    shape = scene.layer("nucleus").shape
    assert isinstance(shape, ir.PolygonShape)
    assert shape.vertices == ir.RandInt(low=5, high=9)
    sample = render(scene, 3)
    assert sample.counts["nucleus"] > 0 and sample.mask.any()
    again = render(scene, 3)
    assert np.array_equal(sample.noisy, again.noisy)


def test_polygon_corners_and_size() -> None:
    square = ir.PolygonShape(
        vertices=ir.Constant(value=4),
        radius=ir.Constant(value=5),
        irregularity=ir.Constant(value=0),
        angle=ir.Constant(value=45),
    )
    mask = polygon_shape(square, np.random.default_rng(0)).mask
    rows = np.flatnonzero(mask.any(axis=1))
    assert mask.sum() == 49 and len(rows) == 7  # corners at (+-3.54, +-3.54)
    rough = square.model_copy(
        update={"irregularity": ir.Constant(value=1), "vertices": ir.Constant(value=9)}
    )
    for seed in range(20):
        draw = polygon_shape(rough, np.random.default_rng(seed))
        assert draw.mask.shape[0] <= rough.object_side()
        assert draw.mask[int(draw.anchor[0]), int(draw.anchor[1])]


def test_polygon_vertex_count_must_be_whole() -> None:
    with pytest.raises(SceneError) as info:
        polygon_scene("vertices uniform(5, 9), radius 5")
    assert "`vertices` of polygon must be a whole number, but uniform(5, 9)" in info.value.message
    with pytest.raises(SceneError, match=r"`vertices` of polygon must be in \[3, 64\], got 2"):
        polygon_scene("vertices 2, radius 5")
    with pytest.raises(SceneError, match="polygon needs the argument 'radius'"):
        polygon_scene("vertices 5")
    with pytest.raises(SceneError, match="did you mean 'vertices'"):
        polygon_scene("vertex 5, radius 5")


def test_polygon_memory_is_its_objects_not_the_image() -> None:
    from synthlang.ir.budget import estimate_render_bytes

    big = estimate_render_bytes(polygon_scene("vertices 6, radius 8", size=1000, count=10))
    # 10 objects of at most 2 * 8 * 1.3 + 3 = 24 px square, far from the 1 Mpx image
    assert big.layers["nucleus"] < 10 * 25 * 25 * 100
    wider = estimate_render_bytes(polygon_scene("vertices 6, radius 40", size=1000, count=10))
    assert wider.layers["nucleus"] > big.layers["nucleus"]
