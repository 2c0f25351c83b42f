"""Placement: count / fill / inside, overlap rules, regions, probability, shortfalls."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import Instance, RenderContext
from synthlang.engine.placement import PlacementWarning, place_objects
from synthlang.engine.regions import build_regions
from synthlang.engine.render import render_layer

GREY = ir.MVNColor(mean=(0.5, 0.5, 0.5))


def ellipse(low: float, high: float) -> ir.EllipseShape:
    d = ir.Uniform(low=low, high=high)
    return ir.EllipseShape(semi_axes=(d, d))


def layer(index: int, name: str, shape: ir.EllipseShape, **placement) -> ir.Layer:
    return ir.Layer(
        index=index, name=name, shape=shape, placement=ir.Placement(**placement), color=GREY
    )


def run(scene: ir.Scene, seed: int = 0) -> RenderContext:
    ctx = RenderContext(scene, np.random.default_rng(seed))
    build_regions(ctx, ctx.rng)
    for lay in scene.layers:
        render_layer(lay, ctx, ctx.rng)
    return ctx


def full_mask(inst: Instance, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, bool)
    out[inst.slices] = inst.mask
    return out


def overlap(a: Instance, b: Instance) -> int:
    r0, c0 = max(a.r0, b.r0), max(a.c0, b.c0)
    r1, c1 = min(a.r1, b.r1), min(a.c1, b.c1)
    if r0 >= r1 or c0 >= c1:
        return 0
    ma = a.mask[r0 - a.r0 : r1 - a.r0, c0 - a.c0 : c1 - a.c0]
    mb = b.mask[r0 - b.r0 : r1 - b.r0, c0 - b.c0 : c1 - b.c0]
    return int(np.count_nonzero(ma & mb))


@contextmanager
def tolerate_shortfalls() -> Iterator[None]:
    """Allow (but do not require) PlacementWarnings in a crowded random configuration."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlacementWarning)
        yield


def scene_of(*layers: ir.Layer, size=(60, 60), regions=None) -> ir.Scene:
    return ir.Scene(name="t", size=size, regions=regions, layers=layers)


# --------------------------------------------------------------------------- count


def test_count_places_requested_number_inside_image() -> None:
    scene = scene_of(layer(0, "c", ellipse(2, 6), mode="count", count=ir.Constant(value=12)))
    ctx = run(scene)
    insts = ctx.instances_of("c")
    assert len(insts) == 12
    assert [i.id for i in insts] == list(range(1, 13))
    for inst in insts:
        assert 0 <= inst.r0 < inst.r1 <= 60 and 0 <= inst.c0 < inst.c1 <= 60
        assert inst.mask.any() and inst.category == "c" and inst.parent == 0
        r, c = inst.center
        assert r == int(r) and c == int(c), "centres are pixel centres"
        assert inst.mask[int(r) - inst.r0, int(c) - inst.c0]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 25), low=st.floats(1, 6))
def test_overlap_none_never_shares_pixels(seed: int, n: int, low: float) -> None:
    scene = scene_of(
        layer(
            0,
            "c",
            ellipse(low, low + 4),
            mode="count",
            count=ir.Constant(value=n),
            overlap=ir.Overlap(mode="none"),
            max_attempts=2000,
        )
    )
    with tolerate_shortfalls():
        ctx = run(scene, seed)
    insts = ctx.instances_of("c")
    cover = np.zeros((60, 60), np.int32)
    for inst in insts:
        cover[inst.slices] += inst.mask
    assert cover.max() <= 1


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), fraction=st.sampled_from([0.0, 0.1, 0.3, 0.6]))
def test_overlap_moderate_bounds_the_covered_fraction(seed: int, fraction: float) -> None:
    scene = scene_of(
        layer(
            0,
            "c",
            ellipse(3, 8),
            mode="count",
            count=ir.Constant(value=15),
            overlap=ir.Overlap(mode="moderate", fraction=fraction),
            max_attempts=3000,
        )
    )
    with tolerate_shortfalls():
        ctx = run(scene, seed)
    insts = ctx.instances_of("c")
    cover = np.zeros((60, 60), bool)
    for inst in insts:
        covered = np.count_nonzero(cover[inst.slices] & inst.mask)
        assert covered <= fraction * inst.area + 1e-9
        cover[inst.slices] |= inst.mask


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_overlap_centers_rule(seed: int) -> None:
    scene = scene_of(
        layer(
            0,
            "c",
            ellipse(3, 9),
            mode="count",
            count=ir.Constant(value=15),
            overlap=ir.Overlap(mode="centers"),
            max_attempts=3000,
        )
    )
    with tolerate_shortfalls():
        ctx = run(scene, seed)
    insts = ctx.instances_of("c")
    for k, new in enumerate(insts):
        for old in insts[:k]:
            # the new centre is not on an earlier object, no earlier centre is on the new one
            assert not full_mask(old, (60, 60))[int(new.center[0]), int(new.center[1])]
            assert not full_mask(new, (60, 60))[int(old.center[0]), int(old.center[1])]


def test_overlap_against_other_category_only() -> None:
    big = layer(0, "big", ellipse(8, 12), mode="count", count=ir.Constant(value=6))
    small = layer(
        1,
        "small",
        ellipse(2, 3),
        mode="count",
        count=ir.Constant(value=30),
        overlap=ir.Overlap(mode="none", against=("big",)),
    )
    ctx = run(scene_of(big, small), 3)
    big_cov = ctx.coverage("big")
    for inst in ctx.instances_of("small"):
        assert not np.any(big_cov[inst.slices] & inst.mask)


def test_overlap_against_unknown_category_is_a_render_error() -> None:
    bad = layer(
        0,
        "c",
        ellipse(2, 3),
        mode="count",
        count=ir.Constant(value=3),
        overlap=ir.Overlap(mode="none", against=("nope",)),
    )
    with pytest.raises(RenderError, match="nope"):
        run(scene_of(bad))


def test_count_with_probability_zero_places_nothing() -> None:
    scene = scene_of(
        layer(0, "c", ellipse(2, 3), mode="count", count=ir.Constant(value=50), probability=0.0)
    )
    assert run(scene).instances_of("c") == []


def test_count_with_probability_thins_on_average() -> None:
    counts = []
    for seed in range(20):
        scene = scene_of(
            layer(0, "c", ellipse(1, 2), mode="count", count=ir.Constant(value=40), probability=0.5)
        )
        counts.append(len(run(scene, seed).instances_of("c")))
    assert 14 < np.mean(counts) < 26


# --------------------------------------------------------------------------- fill


def test_fill_covers_area_without_overlap_and_terminates() -> None:
    scene = scene_of(
        layer(0, "c", ellipse(3, 5), mode="fill", overlap=ir.Overlap(mode="none")), size=(80, 80)
    )
    ctx = run(scene, 1)
    insts = ctx.instances_of("c")
    cover = np.zeros((80, 80), np.int32)
    for inst in insts:
        cover[inst.slices] += inst.mask
    assert cover.max() == 1
    assert cover.mean() > 0.45, "a fill packs the area densely"
    assert ctx.shortfalls == []


def test_fill_with_probability_keeps_a_fraction() -> None:
    full = scene_of(layer(0, "c", ellipse(2, 3), mode="fill", overlap=ir.Overlap(mode="none")))
    thin = scene_of(
        layer(0, "c", ellipse(2, 3), mode="fill", overlap=ir.Overlap(mode="none"), probability=0.5)
    )
    n_full = len(run(full, 4).instances_of("c"))
    n_thin = len(run(thin, 4).instances_of("c"))
    assert 0.3 * n_full < n_thin < 0.7 * n_full


def test_fill_with_overlap_allowed_covers_the_area() -> None:
    scene = scene_of(layer(0, "c", ellipse(3, 4), mode="fill"), size=(40, 40))
    ctx = run(scene, 0)
    assert ctx.coverage("c").all()


def test_fill_hitting_max_attempts_is_a_shortfall() -> None:
    scene = scene_of(
        layer(0, "c", ellipse(1, 2), mode="fill", overlap=ir.Overlap(mode="none"), max_attempts=20),
        size=(100, 100),
    )
    with pytest.warns(PlacementWarning, match="attempt limit 20"):
        ctx = run(scene)
    (sf,) = ctx.shortfalls
    assert sf.layer == "c" and sf.requested is None and sf.attempts <= 20


# --------------------------------------------------------------------------- regions


def test_centres_lie_in_the_selected_regions_and_selections_are_disjoint() -> None:
    a = layer(
        0,
        "a",
        ellipse(2, 3),
        mode="fill",
        regions=ir.RegionSelection(start=0, count=3),
        overlap=ir.Overlap(mode="none"),
    )
    b = layer(
        1,
        "b",
        ellipse(1, 2),
        mode="count",
        count=ir.Constant(value=40),
        regions=ir.RegionSelection(start=3, count=2),
    )
    scene = scene_of(a, b, size=(70, 90), regions=ir.VoronoiRegions(count=5))
    for seed in range(3):
        ctx = run(scene, seed)
        perm = ctx.region_perm
        for name, labels in (("a", perm[0:3]), ("b", perm[3:5])):
            for inst in ctx.instances_of(name):
                assert ctx.regions[int(inst.center[0]), int(inst.center[1])] in labels
        assert len(ctx.instances_of("a")) > 0 and len(ctx.instances_of("b")) == 40


# --------------------------------------------------------------------------- inside


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), probability=st.sampled_from([1.0, 0.6]))
def test_inside_objects_lie_within_their_hosts(seed: int, probability: float) -> None:
    host = layer(0, "cell", ellipse(6, 12), mode="count", count=ir.Constant(value=10))
    nucleus = layer(
        1, "nucleus", ellipse(2, 5), mode="inside", inside="cell", probability=probability
    )
    ctx = run(scene_of(host, nucleus), seed)
    hosts = {h.id: h for h in ctx.instances_of("cell")}
    parents = [n.parent for n in ctx.instances_of("nucleus")]
    assert len(parents) == len(set(parents)), "at most one object per host"
    for nuc in ctx.instances_of("nucleus"):
        h = hosts[nuc.parent]
        assert not np.any(full_mask(nuc, (60, 60)) & ~full_mask(h, (60, 60)))
    if probability == 1.0:
        assert len(parents) >= 8  # nuclei 2-5 fit almost always into cells 6-12


def test_inside_probability_zero_and_missing_host() -> None:
    host = layer(0, "cell", ellipse(6, 12), mode="count", count=ir.Constant(value=5))
    nucleus = layer(1, "nucleus", ellipse(2, 5), mode="inside", inside="cell", probability=0.0)
    assert run(scene_of(host, nucleus)).instances_of("nucleus") == []
    orphan = layer(0, "nucleus", ellipse(2, 5), mode="inside", inside="cell")
    with pytest.raises(RenderError, match="cell"):
        run(scene_of(orphan))


def test_inside_too_big_for_host_is_a_shortfall() -> None:
    host = layer(0, "cell", ellipse(2, 3), mode="count", count=ir.Constant(value=5))
    nucleus = layer(1, "nucleus", ellipse(8, 9), mode="inside", inside="cell")
    with pytest.warns(PlacementWarning, match="5 of 5 hosts had no room"):
        ctx = run(scene_of(host, nucleus))
    assert ctx.instances_of("nucleus") == []
    (short,) = ctx.shortfalls
    assert (short.layer, short.requested, short.placed) == ("nucleus", 5, 0)


def test_inside_that_fills_most_hosts_is_no_shortfall() -> None:
    host = layer(0, "cell", ellipse(8, 14), mode="count", count=ir.Constant(value=6))
    nucleus = layer(1, "nucleus", ellipse(3, 5), mode="inside", inside="cell")
    ctx = run(scene_of(host, nucleus), 3)
    assert len(ctx.instances_of("nucleus")) >= 3 and ctx.shortfalls == []


def test_inside_with_overlap_none_between_nuclei() -> None:
    host = layer(0, "cell", ellipse(8, 14), mode="count", count=ir.Constant(value=12))
    nucleus = layer(
        1, "nucleus", ellipse(3, 6), mode="inside", inside="cell", overlap=ir.Overlap(mode="none")
    )
    ctx = run(scene_of(host, nucleus), 9)
    cover = np.zeros((60, 60), np.int32)
    for inst in ctx.instances_of("nucleus"):
        cover[inst.slices] += inst.mask
    assert cover.max() <= 1


def test_inside_with_a_count_places_that_many_objects_per_host() -> None:
    """``place inside cell, count randint(1, 2)``: the count is drawn per host."""
    host = layer(
        0, "cell", ellipse(10, 12), mode="count", count=ir.Constant(value=20),
        overlap=ir.Overlap(mode="none"),
    )  # fmt: skip
    nucleus = layer(
        1, "nucleus", ellipse(2, 2.5), mode="inside", inside="cell",
        count=ir.RandInt(low=1, high=2), overlap=ir.Overlap(mode="none"),
    )  # fmt: skip
    per_host = []
    for seed in range(3):
        ctx = run(scene_of(host, nucleus, size=(120, 120)), seed)
        assert ctx.shortfalls == []
        hosts = {h.id: h for h in ctx.instances_of("cell")}
        children = [n.parent for n in ctx.instances_of("nucleus")]
        for nuc in ctx.instances_of("nucleus"):
            h = hosts[nuc.parent]
            assert not np.any(full_mask(nuc, (120, 120)) & ~full_mask(h, (120, 120)))
        per_host.extend(children.count(h) for h in hosts)
    counts = np.array(per_host)
    assert counts.size >= 45 and set(counts) <= {1, 2}, counts
    assert 1.3 <= counts.mean() <= 1.7, counts.mean()


def test_inside_with_a_count_too_large_for_the_hosts_is_a_shortfall() -> None:
    host = layer(0, "cell", ellipse(5, 6), mode="count", count=ir.Constant(value=5))
    nucleus = layer(
        1, "nucleus", ellipse(3, 3), mode="inside", inside="cell",
        count=ir.Constant(value=6), overlap=ir.Overlap(mode="none"),
    )  # fmt: skip
    with pytest.warns(PlacementWarning, match="of 30 objects found no room in their hosts"):
        ctx = run(scene_of(host, nucleus))
    assert 0 < len(ctx.instances_of("nucleus")) < 15


# --------------------------------------------------------------------------- bounds


def test_impossible_placement_reports_a_shortfall_quickly() -> None:
    scene = scene_of(
        layer(
            0,
            "c",
            ellipse(20, 30),
            mode="count",
            count=ir.Constant(value=1000),
            overlap=ir.Overlap(mode="none"),
        ),
        size=(50, 50),
    )
    start = time.perf_counter()
    with pytest.warns(PlacementWarning, match="placed .* of 1000"):
        ctx = run(scene)
    assert time.perf_counter() - start < 5.0
    (sf,) = ctx.shortfalls
    assert sf.requested == 1000 and sf.placed == len(ctx.instances_of("c")) < 1000
    assert sf.attempts <= 10_000
    assert "c" in sf.message()


def test_empty_region_area_is_a_shortfall_for_count() -> None:
    lay = layer(
        0,
        "c",
        ellipse(2, 3),
        mode="count",
        count=ir.Constant(value=3),
        regions=ir.RegionSelection(start=0, count=2, invert=True),
    )
    scene = scene_of(lay, regions=None)
    with pytest.warns(PlacementWarning, match="no free space"):
        ctx = run(scene)
    assert ctx.instances_of("c") == []


def test_placement_is_deterministic() -> None:
    scene = scene_of(
        layer(0, "a", ellipse(3, 6), mode="fill", overlap=ir.Overlap(mode="none")),
        layer(1, "b", ellipse(1, 2), mode="inside", inside="a", probability=0.6),
    )
    one = [(i.id, i.bbox, i.center, i.parent) for i in run(scene, 11).instances]
    two = [(i.id, i.bbox, i.center, i.parent) for i in run(scene, 11).instances]
    other = [(i.id, i.bbox, i.center, i.parent) for i in run(scene, 12).instances]
    assert one == two and one != other


def test_missing_placement_is_a_render_error() -> None:
    lay = ir.Layer(index=0, name="c", shape=ellipse(2, 3), color=GREY)
    ctx = RenderContext(scene_of(lay), np.random.default_rng(0))
    with pytest.raises(RenderError, match="placement"):
        place_objects(lay, ctx, ctx.rng)


def test_near_and_not_near_another_layer() -> None:
    from scipy import ndimage

    from synthlang import compile_string, render

    scene = compile_string(
        "scene s { size 96 x 96 }\n"
        "layer bg { fill color rgb(0.9, 0.9, 0.9) }\n"
        "layer gland { ellipse(semi_axes 10) place count 3, overlap none "
        "color rgb(0.9, 0.7, 0.8) }\n"
        "layer lymph { ellipse(semi_axes 2) place count 30, near gland within 8, overlap none "
        "color rgb(0.1, 0.1, 0.4) }\n"
        "layer far { ellipse(semi_axes 2) place count 20, not near gland within 15 "
        "color rgb(0.1, 0.4, 0.1) }\n"
    )
    assert scene.layer("lymph").placement.near == ir.Near(category="gland", distance=8)
    for seed in range(3):
        s = render(scene, seed)
        glands = np.zeros((96, 96), bool)
        for r in s.instances:
            if r.category == "gland":
                glands |= s.instance_map == r.id  # visible pixels: a lower bound of the shape
        dist = ndimage.distance_transform_edt(~glands)
        near = [r.center for r in s.instances if r.category == "lymph"]
        far = [r.center for r in s.instances if r.category == "far"]
        assert near and far
        for rr, cc in far:  # the visible gland is within the full shape: > 15 stays > 15
            assert dist[round(rr), round(cc)] > 15
        assert s.counts["lymph"] > 0


def _compiled(text: str) -> ir.Scene:
    from synthlang import compile_string

    return compile_string(
        "scene s { size 128 x 128 }\nlayer bg { fill color rgb(0.9, 0.9, 0.9) }\n" + text
    )


def test_clusters_place_their_objects_around_few_centres() -> None:
    from synthlang import render

    scene = _compiled(
        "layer c { ellipse(semi_axes 1.5) place clusters(count 1, size 25, spread 5), "
        "overlap none color rgb(0.1, 0.1, 0.4) }\n"
    )
    for seed in range(4):
        s = render(scene, seed)
        centres = np.array([r.center for r in s.instances if r.category == "c"])
        assert 20 <= len(centres) <= 25  # 25 asked; a few may not fit without overlap
        spread = np.sqrt(((centres - centres.mean(axis=0)) ** 2).sum(axis=1).mean())
        assert spread < 15  # uniform over 128 x 128 would be about 52


def test_a_falloff_density_brings_objects_near_its_layer() -> None:
    from scipy import ndimage

    from synthlang import render

    text = (
        "layer gland { ellipse(semi_axes 10) place count 2, overlap none "
        "color rgb(0.9, 0.7, 0.8) }\n"
        "layer dot { ellipse(semi_axes 1) place count 80{density} color rgb(0.4, 0.1, 0.1) }\n"
    )
    near = _compiled(text.replace("{density}", ", density falloff(from gland, scale 6)"))
    flat = _compiled(text.replace("{density}", ""))
    means = []
    for scene in (near, flat):
        d = []
        for seed in range(3):
            s = render(scene, seed)
            gland = np.zeros((128, 128), bool)
            for r in s.instances:
                if r.category == "gland":
                    gland |= s.instance_map == r.id
            dist = ndimage.distance_transform_edt(~gland)
            d += [
                dist[round(r.center[0]), round(r.center[1])]
                for r in s.instances
                if r.category == "dot"
            ]
        means.append(float(np.mean(d)))
    assert means[0] < 0.5 * means[1]  # the density gradient, measured


def test_density_from_a_gaussian_field_compiles_and_renders() -> None:
    from synthlang import render

    scene = _compiled(
        "layer c { ellipse(semi_axes 2) place count 30, "
        "density gaussian_field(mean 1, std 0.8, smoothness 20) color rgb(0.1, 0.1, 0.4) }\n"
    )
    assert isinstance(scene.layer("c").placement.density, ir.SpeedField)
    assert render(scene, 0).counts["c"] == 30
