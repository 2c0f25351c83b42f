"""MVN colours, noise factors, contours and texture dispatch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import TEXTURES, Instance, RenderContext
from synthlang.engine.textures import (
    apply_contour,
    contour_mask,
    mvn_texture,
    object_means,
    psd_factor,
    texture_layer,
)

COV = ((4e-3, 1e-3, 5e-4), (1e-3, 3e-3, 2e-4), (5e-4, 2e-4, 2e-3))


def test_psd_factor_positive_definite_is_cholesky() -> None:
    f = psd_factor(COV)
    assert f is not None
    np.testing.assert_allclose(f @ f.T, COV, atol=1e-12)
    assert np.allclose(f, np.tril(f))


@settings(max_examples=30, deadline=None)
@given(
    v=st.lists(st.floats(-1, 1), min_size=3, max_size=3),
    w=st.lists(st.floats(-1, 1), min_size=3, max_size=3),
)
def test_psd_factor_singular_matrices(v: list, w: list) -> None:
    m = np.outer(v, v) + 0.5 * np.outer(w, w)  # rank <= 2: singular
    f = psd_factor(m)
    if not np.any(m):
        assert f is None
        return
    assert f is not None and np.all(np.isfinite(f))
    np.testing.assert_allclose(f @ f.T, m, atol=1e-9)


def test_psd_factor_zero_is_none() -> None:
    assert psd_factor(((0.0,) * 3,) * 3) is None


def test_object_means_without_between_are_the_mean() -> None:
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    means = object_means(ir.MVNColor(mean=(0.2, 0.3, 0.4)), 5, rng)
    assert means.dtype == np.float32 and means.shape == (5, 3)
    np.testing.assert_allclose(means, [[0.2, 0.3, 0.4]] * 5, atol=1e-7)
    assert rng.bit_generator.state == state, "nothing drawn when between is zero"


def test_object_means_follow_between_covariance_and_are_clipped() -> None:
    color = ir.MVNColor(mean=(0.5, 0.5, 0.5), between=COV)
    means = object_means(color, 20000, np.random.default_rng(1)).astype(np.float64)
    np.testing.assert_allclose(means.mean(axis=0), 0.5, atol=3e-3)
    np.testing.assert_allclose(np.cov(means.T), COV, atol=3e-4)
    wide = ir.MVNColor(mean=(0.95, 0.05, 0.5), between=((0.1, 0, 0), (0, 0.1, 0), (0, 0, 0.1)))
    clipped = object_means(wide, 1000, np.random.default_rng(2))
    assert clipped.min() >= 0 and clipped.max() <= 1


def _inst(mask: np.ndarray, r0: int = 0, c0: int = 0, id: int = 1) -> Instance:
    return Instance(id=id, layer=0, category="c", r0=r0, c0=c0, mask=mask, center=(0.0, 0.0))


def _ctx(size=(20, 20)) -> RenderContext:
    bg = ir.Layer(index=0, name="c", shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1)))
    return RenderContext(ir.Scene(name="s", size=size, layers=(bg,)), np.random.default_rng(0))


def test_mvn_texture_sets_means_and_returns_noise_factor() -> None:
    assert TEXTURES["mvn"] is mvn_texture
    ctx = _ctx()
    insts = [_inst(np.ones((2, 2), bool), id=i) for i in (1, 2, 3)]
    color = ir.MVNColor(mean=(0.1, 0.2, 0.3), cov=COV, between=COV)
    chol = mvn_texture(color, ctx.scene.layers[0], insts, ctx, ctx.rng)
    np.testing.assert_allclose(chol @ chol.T, COV, atol=1e-12)
    for inst in insts:
        assert inst.mean is not None and inst.mean.dtype == np.float32 and inst.mean.shape == (3,)
    assert not np.allclose(insts[0].mean, insts[1].mean)


def test_contour_of_a_disk_is_its_rim() -> None:
    r = np.arange(-6, 7)
    disk = (r[:, None] ** 2 + r[None, :] ** 2) <= 36
    c1 = contour_mask(disk, 1)
    c2 = contour_mask(disk, 2)
    assert not np.any(c1 & ~disk) and not np.any(c2 & ~disk)
    assert np.all(c2[c1]), "a wider contour contains the narrower one"
    assert not c1[6, 6] and c1[0, 6] and c1[6, 0]
    # every contour pixel has a non-object pixel within `width`
    padded = np.pad(disk, 3)
    for width, cont in ((1, c1), (2, c2)):
        for y, x in zip(*np.nonzero(cont), strict=True):
            win = padded[y + 3 - width : y + 4 + width, x + 3 - width : x + 4 + width]
            yy, xx = np.mgrid[-width : width + 1, -width : width + 1]
            assert np.any(~win & (yy**2 + xx**2 <= width**2))
    interior = disk & ~c2
    assert interior.sum() > 0


def test_contour_open_sides_are_not_boundaries() -> None:
    block = np.ones((4, 6), bool)
    closed = contour_mask(block, 1)
    open_top = contour_mask(block, 1, (True, False, False, False))
    assert closed[0].all() and not open_top[0, 1:-1].any()
    assert open_top[-1].all() and open_top[:, 0].all()


def test_apply_contour_sets_instance_fields() -> None:
    ctx = _ctx()
    insts = [_inst(np.ones((5, 5), bool), r0=3, c0=3)]
    contour = ir.Contour(width=1, color=ir.MVNColor(mean=(0.0, 0.0, 0.0), cov=COV))
    chol = apply_contour(contour, insts, ctx, ctx.rng)
    assert chol is not None
    assert insts[0].contour is not None and insts[0].contour.sum() == 16
    np.testing.assert_array_equal(insts[0].contour_mean, [0, 0, 0])


def test_texture_layer_dispatch_and_unknown_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _ctx()
    lay = ir.Layer(
        index=0,
        name="c",
        shape=ir.FillShape(),
        color=ir.MVNColor(mean=(0.3, 0.3, 0.3), cov=COV),
        contour=ir.Contour(width=1, color=ir.MVNColor(mean=(0.0, 0.0, 0.0))),
    )
    insts = [_inst(np.ones((3, 3), bool))]
    chol, contour_chol = texture_layer(lay, insts, ctx, ctx.rng)
    assert chol is not None and contour_chol is None
    assert insts[0].contour is not None
    monkeypatch.delitem(TEXTURES, "mvn")
    with pytest.raises(RenderError, match="mvn"):
        texture_layer(lay, insts, ctx, ctx.rng)


@pytest.mark.parametrize("width", [1, 2, 3])
def test_tiling_contours_equal_per_object_contours(width: int) -> None:
    """The one-pass contours of a tiling equal the per-object erosion, borders included."""
    from scipy import ndimage

    from synthlang.engine.base import Instance
    from synthlang.engine.textures import _tiling_contours, contour_mask

    rng = np.random.default_rng(width)
    labels, n = ndimage.label(rng.random((40, 50)) < 0.55)  # irregular non-overlapping blobs
    shape = labels.shape
    instances = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[sl] == k
        instances.append(Instance(k, 0, "cell", sl[0].start, sl[1].start, mask, (0.0, 0.0)))
    assert n >= 8
    fast = _tiling_contours(instances, shape, width)
    assert fast is not None
    for inst, got in zip(instances, fast, strict=True):
        sides = (inst.r0 == 0, inst.r1 == shape[0], inst.c0 == 0, inst.c1 == shape[1])
        np.testing.assert_array_equal(got, contour_mask(inst.mask, width, sides))


def test_tiling_contours_refuse_overlapping_objects() -> None:
    from synthlang.engine.base import Instance
    from synthlang.engine.textures import _tiling_contours

    mask = np.ones((4, 4), bool)
    instances = [Instance(k, 0, "c", k % 3, k % 5, mask, (0.0, 0.0)) for k in range(1, 10)]
    assert _tiling_contours(instances, (20, 20), 1) is None
