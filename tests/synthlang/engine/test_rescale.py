"""Pixel-size jitter: the ``scale`` pass resamples the whole sample consistently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from synthlang import compile_string, ir
from synthlang.engine.base import Instance
from synthlang.engine.render import render
from synthlang.engine.rescale import Resampler, canvas_size
from synthlang.ir.budget import estimate_render_bytes

SCENE = """
scene zoom {{ size 96 x 80  regions voronoi(4) }}
layer bg {{ fill color rgb(0.9, 0.8, 0.9) }}
layer cell {{
    ellipse(semi_axes uniform(6, 9))
    place count 12, overlap none
    color rgb(0.6, 0.3, 0.6)
}}
layer nucleus {{ ellipse(semi_axes 3.5) place inside cell color rgb(0.2, 0.1, 0.5) }}
degrade {{ {passes} }}
mask nucleus
"""


def scene(passes: str) -> ir.Scene:
    return compile_string(SCENE.format(passes=passes))


def test_canvas_size_and_nearest_grid() -> None:
    assert canvas_size((100, 50), 2.0) == (50, 25)
    assert canvas_size((100, 50), 0.5) == (200, 100)
    assert canvas_size((3, 3), 9.0) == (1, 1)
    with pytest.raises(ValueError):
        canvas_size((3, 3), 0)
    rs = Resampler((10, 10), (5, 5))
    assert rs.rows.tolist() == [1, 3, 5, 7, 9]
    assert rs.point(1.0, 9.0) == (0.25, 4.25)


def test_full_area_matches_the_resampled_mask() -> None:
    rs = Resampler((40, 30), (57, 23))
    mask = np.zeros((9, 7), bool)
    mask[1:8, 2:6] = True
    inst = Instance(id=1, layer=0, category="a", r0=11, c0=5, mask=mask, center=(15.0, 8.0))
    full = np.zeros((40, 30), bool)
    full[11:20, 5:12] = mask
    assert rs.full_area(inst) == int(rs.labels(full).sum())


@pytest.mark.parametrize("factor", [0.6, 1.0, 1.7])
def test_scaled_sample_keeps_size_and_ground_truth_aligned(factor: float) -> None:
    s = render(scene(f"scale({factor})"), seed=3)
    assert s.noisy.shape == s.clean.shape == (96, 80, 3)
    assert s.mask.shape == s.instance_map.shape == s.layer_map.shape == (96, 80)
    assert s.regions is not None and s.regions.shape == (96, 80)
    # the mask is exactly the nucleus layer's pixels, as without scaling
    nucleus = s.layer_map == 2
    np.testing.assert_array_equal(s.mask.astype(bool), nucleus)
    # the clean image shows the nucleus colour where a pixel and its 8 neighbours are
    # nucleus (shrinking is anti-aliased, which blends a little across one pixel)
    inner = ndimage.binary_erosion(nucleus, np.ones((3, 3), bool))
    assert inner.any()
    tol = 1e-2 if factor < 1 else 1e-5
    np.testing.assert_allclose(
        s.clean[inner], np.broadcast_to([0.2, 0.1, 0.5], (inner.sum(), 3)), atol=tol
    )
    outside = ~ndimage.binary_dilation(nucleus, np.ones((3, 3), bool))
    assert np.abs(s.clean[outside] - [0.2, 0.1, 0.5]).max(axis=1).min() > 0.1
    # records agree with the maps: visible areas are counted on the output grid
    for rec in s.instances:
        assert rec.visible_area == int((s.instance_map == rec.id).sum())
        assert rec.area >= rec.visible_area


def test_zoom_changes_object_size_by_the_factor() -> None:
    base = render(scene("scale(1)"), seed=5)
    big = render(scene("scale(1.5)"), seed=5)
    small = render(scene("scale(0.75)"), seed=5)

    def mean_area(s):  # full shapes of cells, away from the border
        return np.mean([r.area for r in s.instances if r.category == "cell"])

    assert mean_area(big) == pytest.approx(1.5**2 * mean_area(base), rel=0.25)
    assert mean_area(small) == pytest.approx(0.75**2 * mean_area(base), rel=0.25)


def test_scale_is_deterministic_and_drawn_per_sample() -> None:
    sc = scene("scale(uniform(0.7, 1.4)) noise gaussian(0.01) jpeg(quality randint(60, 90))")
    a, b = render(sc, seed=11), render(sc, seed=11)
    for x, y in zip(
        (a.noisy, a.clean, a.mask, a.instance_map, a.layer_map),
        (b.noisy, b.clean, b.mask, b.instance_map, b.layer_map),
        strict=True,
    ):
        assert x.tobytes() == y.tobytes()
    assert a.instances == b.instances
    c = render(sc, seed=12)
    assert a.clean.tobytes() != c.clean.tobytes()


def test_scale_of_one_renders_like_no_scale_pass_after_the_draw() -> None:
    # a constant factor 1 draws nothing random and resamples nothing
    plain = render(scene("noise gaussian(0.01)"), seed=2)
    unit = render(scene("scale(1) noise gaussian(0.01)"), seed=2)
    assert plain.noisy.tobytes() == unit.noisy.tobytes()
    assert plain.instances == unit.instances


def test_keep_layers_are_resampled() -> None:
    s = render(scene("scale(0.8)"), seed=1, keep_layers=True)
    assert s.layers is not None
    for li in s.layers:
        assert li.clean.shape[:2] == (96, 80)


def test_memory_estimate_grows_with_the_canvas() -> None:
    small = estimate_render_bytes(scene("scale(uniform(1, 2))")).total
    big = estimate_render_bytes(scene("scale(uniform(0.5, 2))")).total
    none = estimate_render_bytes(scene("noise gaussian(0.01)")).total
    assert big > 3 * none
    assert small > none
