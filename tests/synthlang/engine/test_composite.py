"""Top-down compositing: replacement, transparency, alpha, id maps, noise, textures, contours."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlang import ir
from synthlang.engine.base import Instance, LayerResult
from synthlang.engine.composite import composite, paint_ids
from synthlang.engine.textures import psd_factor

SHAPE = (12, 16)
COV = ((4e-3, 1e-3, 5e-4), (1e-3, 3e-3, 2e-4), (5e-4, 2e-4, 2e-3))


def lay(index: int, name: str) -> ir.Layer:
    return ir.Layer(index=index, name=name, shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1)))


def inst(id: int, layer: int, box: tuple[int, int, int, int], color, **kw) -> Instance:
    r0, c0, r1, c1 = box
    return Instance(
        id=id,
        layer=layer,
        category=f"l{layer}",
        r0=r0,
        c0=c0,
        mask=kw.pop("mask", np.ones((r1 - r0, c1 - c0), bool)),
        center=((r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2),
        mean=np.asarray(color, np.float32),
        **kw,
    )


def result(index: int, instances: list[Instance], chol=None) -> LayerResult:
    cov = np.zeros(SHAPE, bool)
    for i in instances:
        cov[i.slices] |= i.mask
    return LayerResult(lay(index, f"l{index}"), instances, cov, chol)


def test_upper_layer_replaces_lower_and_transparency_stays() -> None:
    low = result(0, [inst(1, 0, (0, 0, 6, 8), (1, 0, 0))])
    high = result(1, [inst(2, 1, (3, 4, 9, 12), (0, 0, 1))])
    out = composite([low, high], SHAPE, np.random.default_rng(0), keep_layers=True)
    assert out.instance_map[4, 5] == 2 and out.layer_map[4, 5] == 1
    np.testing.assert_array_equal(out.clean[4, 5], [0, 0, 1])
    assert out.instance_map[1, 1] == 1 and out.layer_map[1, 1] == 0
    np.testing.assert_array_equal(out.clean[1, 1], [1, 0, 0])
    # pixels no layer covers: transparent everywhere
    assert out.instance_map[11, 15] == 0 and out.layer_map[11, 15] == -1
    np.testing.assert_array_equal(out.clean[11, 15], [0, 0, 0])
    np.testing.assert_array_equal(out.noisy[11, 15], [0, 0, 0])
    assert out.clean.dtype == np.float32 and out.noisy.dtype == np.float32
    assert out.instance_map.dtype == np.int32 and out.layer_map.dtype == np.int16


def test_later_objects_cover_earlier_ones_within_a_layer() -> None:
    a = inst(1, 0, (0, 0, 5, 5), (1, 0, 0))
    b = inst(2, 0, (2, 2, 7, 7), (0, 1, 0))
    out = composite([result(0, [a, b])], SHAPE, np.random.default_rng(0))
    assert out.instance_map[3, 3] == 2 and out.instance_map[0, 0] == 1


def test_layer_images_have_alpha_exactly_one_on_object_pixels() -> None:
    mask = np.zeros((6, 6), bool)
    mask[1:5, 2:4] = True
    low = result(0, [inst(1, 0, (0, 0, 6, 6), (1, 0, 0), mask=mask)], psd_factor(COV))
    high = result(1, [inst(2, 1, (2, 2, 4, 10), (0, 0, 1))])
    out = composite([low, high], SHAPE, np.random.default_rng(0), keep_layers=True)
    assert out.layers is not None and [li.name for li in out.layers] == ["l0", "l1"]
    for li, res in zip(out.layers, [low, high], strict=True):
        for img in (li.noisy, li.clean):
            assert img.shape == SHAPE + (4,) and img.dtype == np.float32
            alpha = img[:, :, 3]
            assert set(np.unique(alpha).tolist()) <= {0.0, 1.0}
            np.testing.assert_array_equal(alpha == 1.0, res.coverage)
            assert np.all(img[:, :, :3][alpha == 0] == 0)
    # the layer alone shows its hidden part
    np.testing.assert_array_equal(out.layers[0].clean[3, 3, :3], [1, 0, 0])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(1, 8))
def test_maps_consistent_with_instances(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    results = []
    next_id = 1
    for layer in range(3):
        insts = []
        for _ in range(n):
            r0, c0 = rng.integers(0, 10), rng.integers(0, 14)
            r1, c1 = r0 + rng.integers(1, 4), c0 + rng.integers(1, 4)
            r1, c1 = min(r1, SHAPE[0]), min(c1, SHAPE[1])
            mask = rng.random((r1 - r0, c1 - c0)) < 0.7
            insts.append(inst(next_id, layer, (r0, c0, r1, c1), rng.random(3), mask=mask))
            next_id += 1
        results.append(result(layer, insts))
    out = composite(results, SHAPE, np.random.default_rng(0))
    # brute force top-down merge
    expect = np.zeros(SHAPE, np.int32)
    for res in results:
        for i in res.instances:
            expect[i.slices][i.mask] = i.id
    np.testing.assert_array_equal(out.instance_map, expect)
    by_id = {i.id: i for r in results for i in r.instances}
    for (y, x), iid in np.ndenumerate(out.instance_map):
        if iid == 0:
            assert out.layer_map[y, x] == -1
        else:
            assert out.layer_map[y, x] == by_id[iid].layer
            np.testing.assert_array_equal(out.clean[y, x], by_id[iid].mean)


def test_noise_is_correlated_per_layer_and_clipped() -> None:
    shape = (200, 200)
    chol = psd_factor(COV)
    big = Instance(
        id=1,
        layer=0,
        category="l0",
        r0=0,
        c0=0,
        mask=np.ones(shape, bool),
        center=(0.0, 0.0),
        mean=np.array([0.5, 0.5, 0.5], np.float32),
    )
    res = LayerResult(lay(0, "l0"), [big], np.ones(shape, bool), chol)
    out = composite([res], shape, np.random.default_rng(3))
    noise = (out.noisy - out.clean).reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(np.cov(noise.T), COV, atol=2e-4)
    np.testing.assert_allclose(noise.mean(axis=0), 0, atol=1e-3)
    assert out.noisy.min() >= 0 and out.noisy.max() <= 1


def test_no_noise_draws_nothing_and_noisy_equals_clean() -> None:
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = composite([result(0, [inst(1, 0, (0, 0, 4, 4), (0.2, 0.4, 0.6))])], SHAPE, rng)
    np.testing.assert_array_equal(out.noisy, out.clean)
    assert rng.bit_generator.state == state


def test_textured_instances_use_their_own_pixels() -> None:
    tex_clean = np.full((3, 3, 3), 0.25, np.float32)
    tex_noisy = np.full((3, 3, 3), 0.75, np.float32)
    t = inst(1, 0, (1, 1, 4, 4), (0.5, 0.5, 0.5), clean=tex_clean, noisy=tex_noisy)
    out = composite([result(0, [t], psd_factor(COV))], SHAPE, np.random.default_rng(0))
    np.testing.assert_allclose(out.clean[1:4, 1:4], 0.25)
    np.testing.assert_allclose(out.noisy[1:4, 1:4], 0.75)


def test_contours_are_painted_with_contour_colour() -> None:
    mask = np.ones((5, 5), bool)
    contour = mask.copy()
    contour[1:4, 1:4] = False
    c = inst(
        1,
        0,
        (0, 0, 5, 5),
        (1, 1, 1),
        contour=contour,
        contour_mean=np.array([0, 0, 0], np.float32),
    )
    res = LayerResult(lay(0, "l0"), [c], mask, None, None)
    out = composite([res], SHAPE, np.random.default_rng(0))
    np.testing.assert_array_equal(out.clean[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(out.clean[2, 2], [1, 1, 1])


def test_paint_ids_empty() -> None:
    assert paint_ids([], (2, 2)).tolist() == [[0, 0], [0, 0]]
