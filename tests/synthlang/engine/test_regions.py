"""Region dispatch and the Voronoi builder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import REGION_BUILDERS, RenderContext
from synthlang.engine.regions import build_regions, random_points, voronoi_labels, voronoi_regions


def _scene(regions: ir.VoronoiRegions | ir.FastMarchingRegions | None, size=(20, 30)) -> ir.Scene:
    bg = ir.Layer(index=0, name="bg", shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1)))
    return ir.Scene(name="s", size=size, regions=regions, layers=(bg,))


def test_voronoi_is_registered() -> None:
    assert REGION_BUILDERS["voronoi"] is voronoi_regions


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    n=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_voronoi_labels_are_nearest_points(h: int, w: int, n: int, seed: int) -> None:
    pts = random_points((h, w), n, np.random.default_rng(seed))
    labels = voronoi_labels((h, w), pts)
    rr, cc = np.mgrid[0:h, 0:w]
    d = (rr[None] - pts[:, 0, None, None]) ** 2 + (cc[None] - pts[:, 1, None, None]) ** 2
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, d.argmin(axis=0))


def test_voronoi_many_points_uses_kdtree_and_agrees() -> None:
    pts = random_points((40, 50), 60, np.random.default_rng(3))
    labels = voronoi_labels((40, 50), pts)
    rr, cc = np.mgrid[0:40, 0:50]
    d = (rr[None] - pts[:, 0, None, None]) ** 2 + (cc[None] - pts[:, 1, None, None]) ** 2
    assert (labels == d.argmin(axis=0)).mean() > 0.999  # ties may break differently


def test_random_points_cover_image_extent() -> None:
    pts = random_points((10, 20), 5000, np.random.default_rng(0))
    assert pts[:, 0].min() >= -0.5 and pts[:, 0].max() < 9.5
    assert pts[:, 1].min() >= -0.5 and pts[:, 1].max() < 19.5


def test_build_regions_sets_labels_and_permutation() -> None:
    scene = _scene(ir.VoronoiRegions(count=5))
    ctx = RenderContext(scene, np.random.default_rng(1))
    build_regions(ctx, ctx.rng)
    assert ctx.regions is not None and ctx.regions.shape == (20, 30)
    assert ctx.regions.min() >= 0 and ctx.regions.max() <= 4
    assert ctx.region_perm is not None
    assert sorted(ctx.region_perm.tolist()) == [0, 1, 2, 3, 4]
    assert not ctx.regions.flags.writeable


def test_build_regions_without_regions_is_a_no_op() -> None:
    ctx = RenderContext(_scene(None), np.random.default_rng(1))
    build_regions(ctx, ctx.rng)
    assert ctx.regions is None and ctx.region_perm is None


def test_build_regions_is_deterministic() -> None:
    scene = _scene(ir.VoronoiRegions(count=7), size=(50, 60))
    out = []
    for _ in range(2):
        ctx = RenderContext(scene, np.random.default_rng(42))
        build_regions(ctx, ctx.rng)
        out.append((ctx.regions.copy(), ctx.region_perm.copy()))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_unregistered_region_kind_is_a_render_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(REGION_BUILDERS, "fast_marching", raising=False)
    ctx = RenderContext(_scene(ir.FastMarchingRegions(count=3)), np.random.default_rng(0))
    with pytest.raises(RenderError, match="fast_marching"):
        build_regions(ctx, ctx.rng)


def test_builder_returning_wrong_shape_is_a_render_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGION_BUILDERS, "voronoi", lambda spec, shape, rng: np.zeros((2, 2)))
    ctx = RenderContext(_scene(ir.VoronoiRegions(count=3)), np.random.default_rng(0))
    with pytest.raises(RenderError, match="shape"):
        build_regions(ctx, ctx.rng)


def test_selections_from_permutation_are_disjoint() -> None:
    scene = _scene(ir.VoronoiRegions(count=7), size=(60, 60))
    ctx = RenderContext(scene, np.random.default_rng(5))
    build_regions(ctx, ctx.rng)
    a = ctx.area(ir.RegionSelection(start=0, count=5))
    b = ctx.area(ir.RegionSelection(start=5, count=2))
    assert not np.any(a & b)
    assert np.all(a | b)
