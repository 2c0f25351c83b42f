"""Chromatin-like texture: variance, mean, granules, rim, determinism, no extra draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthlang import ir
from synthlang.engine.base import Instance, RenderContext
from synthlang.engine.chromatin import apply_chromatin, chromatin_shade
from synthlang.engine.render import render
from synthlang.engine.soft import border_distance
from synthlang.engine.textures import apply_contour, mvn_texture, texture_layer
from synthlang.lang.compile import compile_string
from tests.synthlang.engine.test_patches import make_nuclei

COLOUR = np.float32([0.3, 0.15, 0.5])

NUCLEI = """
scene s { size 96 x 96 }
layer bg { fill color rgb(0.9, 0.8, 0.9) }
layer n {
    ellipse(semi_axes uniform(8, 12))
    place fill, overlap none
    color rgb(0.3, 0.15, 0.5)
    EXTRA
}
"""


def _objects(sample) -> list[np.ndarray]:
    """Boolean maps of the nuclei (all fully visible: they do not overlap)."""
    ids = [r.id for r in sample.instances if r.category == "n"]
    return [sample.instance_map == i for i in ids]


def _skew(x: np.ndarray) -> float:
    d = x - x.mean()
    return float((d**3).mean() / (d**2).mean() ** 1.5)


def test_chromatin_adds_within_object_variance_and_keeps_the_mean() -> None:
    flat = render(compile_string(NUCLEI.replace("EXTRA", "")), seed=3)
    textured = render(
        compile_string(NUCLEI.replace("EXTRA", "chromatin(amount uniform(0.1, 0.3), rim 0.1)")),
        seed=3,
    )
    objects = _objects(textured)
    assert len(objects) >= 10
    for obj in objects:
        before, after = flat.clean[obj], textured.clean[obj]
        assert np.all(before == COLOUR)  # flat: no variance
        rel_std = after.std(axis=0) / COLOUR
        assert np.all(rel_std > 0.05) and np.all(rel_std < 0.4)
        np.testing.assert_allclose(after.mean(axis=0), COLOUR, rtol=0.02)
    # outside the nuclei nothing changes
    outside = textured.layer_map == 0
    assert np.array_equal(textured.clean[outside], flat.clean[outside])


def test_no_amount_and_no_rim_is_the_flat_colour() -> None:
    flat = render(compile_string(NUCLEI.replace("EXTRA", "")), seed=1)
    same = render(compile_string(NUCLEI.replace("EXTRA", "chromatin(0, rim 0)")), seed=1)
    assert same.clean.tobytes() == flat.clean.tobytes()


@pytest.mark.parametrize("amount", [0.05, 0.2, 0.35])
def test_amount_is_the_relative_standard_deviation(amount: float) -> None:
    mask = np.ones((64, 64), bool)
    noise = np.random.default_rng(0).standard_normal(mask.shape)
    shade = chromatin_shade(mask, noise, amount=amount, scale=2.0, granules=0.5, rim=0.0)
    assert shade.dtype == np.float32
    assert abs(float(shade.mean()) - 1.0) < 1e-5
    assert float(shade.std()) == pytest.approx(amount, rel=0.1)


def test_granules_are_dark_spots() -> None:
    mask = np.ones((96, 96), bool)
    noise = np.random.default_rng(1).standard_normal(mask.shape)
    kw = {"amount": 0.2, "scale": 1.5, "rim": 0.0}
    mottled = chromatin_shade(mask, noise, granules=0.0, **kw)
    granular = chromatin_shade(mask, noise, granules=1.0, **kw)
    assert abs(_skew(mottled)) < 0.3
    assert _skew(granular) < -0.8  # a long dark tail: few, distinctly darker pixels
    # finer scale, finer grain: neighbouring pixels are less alike
    fine = chromatin_shade(mask, noise, granules=0.0, amount=0.2, scale=1.0, rim=0.0)
    coarse = chromatin_shade(mask, noise, granules=0.0, amount=0.2, scale=3.0, rim=0.0)

    def lag1(s: np.ndarray) -> float:
        return float(np.corrcoef(s[:, :-1].ravel(), s[:, 1:].ravel())[0, 1])

    assert lag1(fine) < lag1(coarse)


def test_rim_is_darker_than_the_inside() -> None:
    yy, xx = np.mgrid[-15:16, -15:16]
    mask = yy**2 + xx**2 <= 14**2
    noise = np.zeros(mask.shape)
    shade = chromatin_shade(mask, noise, amount=0.0, scale=1.5, granules=0.0, rim=0.3)
    d = border_distance(mask)
    assert float(shade[d == 1].mean()) < 0.8 * float(shade[d > 4].mean())
    assert float(shade[mask].mean()) == pytest.approx(1.0, abs=1e-5)
    assert np.all(shade[~mask] == 1.0)


def _ctx(layer: ir.Layer, seed: int = 0) -> RenderContext:
    scene = ir.Scene(name="s", size=(40, 40), layers=(layer,))
    return RenderContext(scene, np.random.default_rng(seed))


def _instances() -> list[Instance]:
    out = []
    for k, (r0, c0) in enumerate([(2, 3), (20, 18), (0, 30)], start=1):
        yy, xx = np.mgrid[-5:6, -5:6]
        out.append(
            Instance(id=k, layer=0, category="n", r0=r0, c0=c0, mask=yy**2 + xx**2 <= 25,
                     center=(r0 + 5.0, c0 + 5.0))
        )  # fmt: skip
    return out


def test_no_extra_draws_without_chromatin_or_soft_edges() -> None:
    color = ir.MVNColor(mean=(0.5, 0.4, 0.6), between=((1e-3, 0, 0), (0, 1e-3, 0), (0, 0, 1e-3)))
    contour = ir.Contour(width=1, color=ir.MVNColor(mean=(0.1, 0.1, 0.1)))
    layer = ir.Layer(index=0, name="n", shape=ir.FillShape(), color=color, contour=contour)
    ctx_a, ctx_b = _ctx(layer), _ctx(layer)
    insts = _instances()
    texture_layer(layer, insts, ctx_a, ctx_a.rng)
    mvn_texture(color, layer, _instances(), ctx_b, ctx_b.rng)
    apply_contour(contour, _instances(), ctx_b, ctx_b.rng)
    assert ctx_a.rng.bit_generator.state == ctx_b.rng.bit_generator.state
    assert all(inst.shade is None and inst.soft == 0.0 for inst in insts)


def test_per_object_fields_are_deterministic() -> None:
    spec = ir.Chromatin(amount=ir.Uniform(low=0.1, high=0.3), scale=ir.Uniform(low=1, high=2))
    layer = ir.Layer(index=0, name="n", shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1)))
    shades = []
    for _ in range(2):
        ctx = _ctx(layer, seed=7)
        insts = _instances()
        apply_chromatin(spec, insts, ctx, ctx.rng)
        shades.append([inst.shade for inst in insts])
    for a, b in zip(*shades, strict=True):
        assert a is not None and b is not None and a.tobytes() == b.tobytes()
    assert shades[0][0].tobytes() != shades[0][1].tobytes()


def test_patch_nuclei_are_shaded_in_both_images_and_can_be_soft(tmp_path: Path) -> None:
    make_nuclei(tmp_path / "nuclei", n=4)
    text = """
    scene s { size 64 x 64 }
    layer bg { fill color rgb(0.95, 0.9, 0.95) }
    layer n { patch("nuclei") place count 8, overlap none EXTRA }
    mask n
    """

    def run(extra: str):
        return render(compile_string(text.replace("EXTRA", extra), base_dir=tmp_path), seed=2)

    plain, shaded, soft = run(""), run("chromatin(0.3, rim 0)"), run("chromatin(0.3) soft(2.5)")
    assert shaded.mask.tobytes() == plain.mask.tobytes() == soft.mask.tobytes()
    inside = plain.layer_map == 1
    for a, b in ((plain.clean, shaded.clean), (plain.noisy, shaded.noisy)):
        assert not np.array_equal(a[inside], b[inside])
        assert b.min() >= 0 and b.max() <= 1
        assert abs(float(a[inside].mean()) - float(b[inside].mean())) < 0.03
    assert not np.array_equal(soft.clean, shaded.clean)
