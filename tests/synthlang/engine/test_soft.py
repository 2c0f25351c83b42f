"""Soft object edges: the alpha falloff, exact masks, blending and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from synthlang import ir
from synthlang.engine.render import render
from synthlang.engine.soft import border_distance, pad_mask, soft_alpha
from synthlang.lang.compile import compile_string

FLAT = """
scene s { size 64 x 64 }
layer bg { fill color rgb(0.9, 0.8, 0.9) }
layer n {
    ellipse(semi_axes uniform(4, 8))
    place count 12
    color rgb(0.3, 0.1, 0.5)
    EXTRA
}
mask n
"""


def _image_alpha(obj: np.ndarray, width: float) -> np.ndarray:
    """An object's alpha over the whole image, from its image-sized mask."""
    rows, cols = np.nonzero(obj)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    h, w = obj.shape
    sa = soft_alpha(obj[r0:r1, c0:c1], width, (r0 == 0, r1 == h, c0 == 0, c1 == w))
    p = sa.pad
    big = np.zeros(
        (h + 2 * p + 2 * sa.alpha.shape[0], w + 2 * p + 2 * sa.alpha.shape[1]), np.float32
    )
    off = sa.alpha.shape[0], sa.alpha.shape[1]
    big[
        off[0] + r0 : off[0] + r0 + sa.alpha.shape[0], off[1] + c0 : off[1] + c0 + sa.alpha.shape[1]
    ] = sa.alpha
    return big[off[0] + p : off[0] + p + h, off[1] + p : off[1] + p + w]


def _scene(extra: str, text: str = FLAT) -> ir.Scene:
    return compile_string(text.replace("EXTRA", extra))


@pytest.mark.parametrize("width", [1.5, 2.0, 3.0, 4.7, 8.0])
def test_straight_edge_falls_off_linearly_over_the_width(width: float) -> None:
    mask = np.zeros((40, 40), bool)
    mask[:, :20] = True  # border between columns 19 and 20, at x = 19.5
    sa = soft_alpha(mask, width, (True, True, True, False))
    row = sa.alpha[sa.pad + 20].astype(np.float64)
    x = np.arange(row.size) - sa.pad - 19.5  # signed distance of each pixel centre
    expected = np.clip(0.5 - x / width, 0.0, 1.0)
    np.testing.assert_allclose(row, expected, atol=1e-6)
    partial = (row > 0) & (row < 1)
    # pixels strictly inside the band |x| < width / 2
    assert partial.sum() == np.count_nonzero(np.abs(x) < width / 2 - 1e-9)


@pytest.mark.parametrize("width", [0.3, 1.0, 2.0, 5.5, 50.0])
def test_the_object_is_exactly_where_alpha_is_at_least_one_half(width: float) -> None:
    rng = np.random.default_rng(3)
    mask = rng.random((15, 11)) < 0.6
    sa = soft_alpha(mask, width)
    p = sa.pad
    support = sa.alpha >= 0.5
    assert np.array_equal(support[p : p + 15, p : p + 11], mask)
    assert not support[:p].any() and not support[p + 15 :].any()
    assert np.all((sa.alpha >= 0) & (sa.alpha <= 1))
    if width <= 1:
        assert p == 0 and set(np.unique(sa.alpha)) <= {0.0, 1.0}


def test_nearest_object_pixel_indices() -> None:
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    sa = soft_alpha(mask, 4.0)
    assert (sa.rows == 2).all() and (sa.cols == 2).all()


def test_image_border_is_not_an_edge() -> None:
    mask = np.ones((6, 6), bool)
    cut = soft_alpha(mask, 3.0, (True, False, True, False))
    p = cut.pad
    inner = cut.alpha[p : p + 6, p : p + 6]
    assert inner[0, 2] == 1.0 and inner[2, 0] == 1.0  # no falloff towards the cut sides
    assert inner[5, 2] < 1.0 and inner[2, 5] < 1.0  # falloff towards the free sides
    assert border_distance(mask, (True, False, True, False))[0, 0] == 6.0
    assert pad_mask(mask, 2, (True, False, True, False))[0, 0]


def test_mask_instances_and_records_do_not_change_with_softness() -> None:
    hard = render(_scene(""), seed=5)
    soft = render(_scene("soft(width uniform(1.5, 4))"), seed=5)
    assert soft.mask.tobytes() == hard.mask.tobytes()
    assert soft.instance_map.tobytes() == hard.instance_map.tobytes()
    assert soft.layer_map.tobytes() == hard.layer_map.tobytes()
    assert soft.instances == hard.instances
    assert not np.array_equal(soft.clean, hard.clean)


def test_soft_objects_blend_with_their_alpha() -> None:
    text = """
    scene s { size 48 x 48 }
    layer bg { fill color rgb(0.9, 0.8, 0.7) }
    layer n { ellipse(semi_axes [9, 5], angle 30) place count 1 color rgb(0.2, 0.1, 0.4) soft(3) }
    """
    sample = render(compile_string(text), seed=2, keep_layers=True)
    alpha = _image_alpha(sample.instance_map == sample.instance_map.max(), 3.0)
    a = alpha[:, :, None]
    expected = a * np.float32([0.2, 0.1, 0.4]) + (1 - a) * np.float32([0.9, 0.8, 0.7])
    np.testing.assert_allclose(sample.clean, expected, atol=1e-6)
    np.testing.assert_allclose(sample.noisy, expected, atol=1e-6)  # no pixel noise here
    assert ((alpha > 0) & (alpha < 1)).sum() > (alpha >= 0.5).sum() // 4  # a visible band
    # the layer alone: its accumulated alpha, colours not premultiplied
    layer = sample.layers[1].clean
    np.testing.assert_allclose(layer[:, :, 3], alpha, atol=1e-6)
    seen = alpha > 0
    np.testing.assert_allclose(
        layer[seen][:, :3], np.tile([0.2, 0.1, 0.4], (seen.sum(), 1)), atol=1e-5
    )


def test_soft_layer_under_a_hard_layer_is_covered() -> None:
    text = """
    scene s { size 40 x 40 }
    layer bg { fill color rgb(1, 1, 1) }
    layer n { ellipse(semi_axes 8) place count 3 color rgb(0, 0, 1) soft(4) }
    layer top { ellipse(semi_axes 6) place count 3 color rgb(1, 0, 0) }
    """
    sample = render(compile_string(text), seed=1)
    top = sample.layer_map == 2
    assert top.any()
    assert np.all(sample.clean[top] == np.float32([1, 0, 0]))


def test_same_seed_same_bytes_and_widths_are_drawn_per_object() -> None:
    scene = _scene("soft(width uniform(1, 6)) chromatin(amount 0.2)")
    a, b = render(scene, seed=11), render(scene, seed=11)
    for x, y in ((a.clean, b.clean), (a.noisy, b.noisy), (a.mask, b.mask)):
        assert x.tobytes() == y.tobytes()
    assert render(scene, seed=12).clean.tobytes() != a.clean.tobytes()


def test_soft_edges_with_textured_objects_and_contours() -> None:
    text = """
    scene s { size 64 x 64 }
    let noise = [[1e-3, 0, 0], [0, 1e-3, 0], [0, 0, 1e-3]]
    layer bg { fill color mvn(mean [0.9, 0.85, 0.9], cov noise) }
    layer n {
        ellipse(semi_axes uniform(5, 9))
        place count 10
        color mvn(mean [0.3, 0.1, 0.5], cov noise)
        contour(width 1, color rgb(0.1, 0.05, 0.2))
        soft(2.5)
    }
    degrade { scale(0.8) blur gaussian(0.7) }
    mask n
    """
    sample = render(compile_string(text), seed=4, keep_layers=True)
    for image in (sample.clean, sample.noisy):
        assert image.dtype == np.float32 and image.min() >= 0 and image.max() <= 1
    assert sample.mask.any()


def test_memory_estimate_counts_soft_edges_and_chromatin() -> None:
    import tracemalloc

    from synthlang.ir.budget import estimate_render_bytes

    plain = _scene("")
    both = _scene("soft(uniform(1, 4)) chromatin(0.2)")
    assert estimate_render_bytes(both).total > estimate_render_bytes(plain).total
    render(both, seed=0)  # warm caches
    tracemalloc.start()
    try:
        render(both, seed=1, keep_layers=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < estimate_render_bytes(both, keep_layers=True).total
