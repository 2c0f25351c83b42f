"""Values drawn where an object is placed (``relative(C, f)``, ``along(C)``) and ``in C``.

Measured on rendered samples: the size of objects relative to their host, centres on (or off)
another layer's objects, orientations of freely placed objects, and the generic (polygon) path.
"""

from __future__ import annotations

import warnings

import numpy as np

from synthlang.engine.anchors import boundary_angles, nearest_radii
from synthlang.engine.base import RenderContext
from synthlang.engine.render import render, render_layer
from synthlang.lang.compile import compile_string

HEAD = """
scene s { size 160 x 160 }
layer bg { fill color rgb(1, 1, 1) }
layer cell {
    ellipse(semi_axes uniform(8, 14)) place count 20, overlap none color rgb(0.8, 0.5, 0.7)
}
"""


def sample(body: str, seed: int = 0, size: str = "160 x 160"):
    scene = compile_string(HEAD.replace("160 x 160", size) + body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return render(scene, seed, keep_layers=True)


def full_areas(s) -> dict[int, int]:
    """Full areas of the cells (records keep the full shape's area)."""
    return {r.id: r.area for r in s.instances if r.category == "cell"}


def test_relative_scale_sizes_objects_by_their_host() -> None:
    """``scale relative(cell, 0.5)`` on a unit disk: radius half the host's sqrt(area / pi)."""
    body = """
    layer nucleus {
        ellipse(semi_axes 1, scale relative(cell, 0.5))
        place inside cell
        color rgb(0.3, 0.1, 0.5)
    }
    """
    ratios = []
    for seed in range(3):
        s = sample(body, seed)
        hosts = full_areas(s)
        touching = set(np.unique(s.instance_map[[0, -1], :])) | set(
            np.unique(s.instance_map[:, [0, -1]])
        )
        for r in s.instances:
            if r.category == "nucleus" and r.parent not in touching:  # hosts cut by the border
                ratios.append(np.sqrt(r.area / hosts[r.parent]))
    ratios_ = np.array(ratios)
    assert ratios_.size >= 30
    # pixelated disks of radius 2..3.5: a few percent either way
    assert np.all((ratios_ > 0.4) & (ratios_ < 0.6)), (ratios_.min(), ratios_.max())
    assert 0.47 <= ratios_.mean() <= 0.53, ratios_.mean()


def rendered(body: str, seed: int) -> RenderContext:
    """The render context after every layer of the scene (full shapes, derived maps)."""
    scene = compile_string(HEAD + body)
    ctx = RenderContext(scene, np.random.default_rng(seed))
    for layer in scene.layers:
        render_layer(layer, ctx, ctx.rng)
    return ctx


def test_relative_scale_follows_the_nearest_object_outside_too() -> None:
    """Dots off the cells: semi-axes (2, 1) times f R, R of the nearest cell, f in [0.2, 0.3]."""
    ctx = rendered(
        """
        layer dot {
            ellipse(semi_axes [2, 1], scale relative(cell, uniform(0.2, 0.3)))
            place count 60, not in cell
            color rgb(0, 0, 0)
        }
        """,
        1,
    )
    dots = ctx.instances_of("dot")
    at = np.array([d.center for d in dots]).astype(int).T
    radius = nearest_radii(ctx, "cell", (at[0], at[1]))
    inner = np.array([d.r0 > 0 and d.c0 > 0 and d.r1 < 160 and d.c1 < 160 for d in dots])
    # area of the ellipse: pi * 2 f R * f R, so area / (2 pi R^2) = f^2 in [0.04, 0.09]
    f2 = np.array([d.area for d in dots]) / (2 * np.pi * radius**2)
    assert len(dots) == 60 and inner.sum() >= 40
    assert np.all((f2[inner] > 0.025) & (f2[inner] < 0.11)), (f2.min(), f2.max())
    assert 0.05 <= np.mean(f2[inner]) <= 0.075, np.mean(f2[inner])


def test_in_layer_restricts_centres_to_its_objects() -> None:
    inside = sample(
        "layer dot { ellipse(semi_axes 1) place count 80, in cell color rgb(0, 0, 0) }", 2
    )
    cover = next(i for i in inside.layers if i.name == "cell").clean[..., 3] > 0.5
    centres = np.array([r.center for r in inside.instances if r.category == "dot"]).astype(int)
    assert len(centres) == 80 and cover[centres[:, 0], centres[:, 1]].all()
    outside = sample(
        "layer dot { ellipse(semi_axes 1) place count 80, not in cell color rgb(0, 0, 0) }", 2
    )
    centres = np.array([r.center for r in outside.instances if r.category == "dot"]).astype(int)
    assert len(centres) == 80 and not cover[centres[:, 0], centres[:, 1]].any()


def test_angles_relative_to_a_layer_for_freely_placed_objects() -> None:
    """``along(cell)`` away from the cells: the tangent of the nearest cell's boundary."""
    ctx = rendered(
        """
        layer fibre {
            ellipse(semi_axes [6, 1.5], angle along(cell))
            place count 30, not near cell within 3
            color rgb(0.5, 0.2, 0.5)
        }
        """,
        4,
    )
    fibres = ctx.instances_of("fibre")
    assert len(fibres) == 30
    at = np.array([f.center for f in fibres]).astype(int).T
    normal = boundary_angles(ctx, "cell", (at[0], at[1]))
    deviation = []
    for f, n in zip(fibres, normal, strict=True):
        pix = np.argwhere(f.mask).astype(float)
        _, vecs = np.linalg.eigh(np.cov((pix - pix.mean(axis=0)).T))
        axis = np.degrees(np.arctan2(-vecs[0, -1], vecs[1, -1]))
        diff = abs((axis - (n + 90) + 90) % 180 - 90)  # axes are undirected
        deviation.append(diff)
    assert np.mean(deviation) < 8, np.mean(deviation)
    radii = nearest_radii(ctx, "cell", (at[0], at[1]))
    assert np.all((radii >= 7) & (radii <= 15))


def test_polygons_take_relative_angles_and_scales_and_stay_deterministic() -> None:
    body = """
    layer crystal {
        polygon(vertices 3, radius 1, irregularity 0, angle across(cell, jitter uniform(-5, 5)),
                scale relative(cell, 0.4))
        place around cell, distance 3, spacing 12, overlap none
        color rgb(0.2, 0.2, 0.2)
    }
    """
    a, b = sample(body, 5), sample(body, 5)
    assert np.array_equal(a.instance_map, b.instance_map) and np.array_equal(a.noisy, b.noisy)
    crystals = [r for r in a.instances if r.category == "crystal"]
    hosts = full_areas(a)
    assert len(crystals) >= 20
    # a triangle of circumradius f R has area 1.299 (f R)^2, 1.299 f^2 / pi = 0.066 of its host
    share = np.array([c.area / hosts[c.parent] for c in crystals])
    assert 0.055 <= np.median(share) <= 0.077, np.median(share)


def test_relative_to_a_layer_without_objects_places_nothing() -> None:
    body = """
    layer none { ellipse(semi_axes 3) place count 0 color rgb(0, 0, 0) }
    layer dot { ellipse(semi_axes 1, scale relative(none, 1)) place count 5 color rgb(0, 0, 0) }
    layer tick { polygon(vertices 4, radius 1, scale relative(none, 1)) place count 5
                 color rgb(0, 0, 0) }
    layer spin { ellipse(semi_axes [3, 1], angle across(none, jitter 30)) place count 5
                 color rgb(0, 0, 0) }
    """
    s = sample(body)
    assert s.counts["dot"] == 0 and s.counts["tick"] == 0 and s.counts["spin"] == 5
    assert {f.layer for f in s.shortfalls} == {"dot", "tick"}
