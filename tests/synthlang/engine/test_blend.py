"""``blend additive`` and images of C channels, measured on rendered pixels.

Additive layers add their colours to what lies below and saturate at 1, in the clean and
the noisy image; their pixel noise is independent of the noise below (variances add); they
hide nothing (``visible(...)`` of the objects below them is their whole shape); an ``over``
layer above them still covers them.
"""

from __future__ import annotations

import numpy as np
import pytest

import synthlang
from synthlang import ir
from synthlang.engine.composite import composite
from synthlang.engine.preview import preview_sheet


def render(text: str, seed: int = 0, **kw):
    return synthlang.render(synthlang.compile_string(text), seed, **kw)


def square(name: str, colour: str, blend: str = "", extra: str = "") -> str:
    """A layer of one 20 x 20 square centred in a 48 x 48 image."""
    return (
        f"layer {name} {{ polygon(vertices 4, radius 14.2, irregularity 0, angle 45) "
        f"place count 1, in regions(all) {extra} color {colour} {blend} }}"
    )


HEADER = "scene s { size 48 regions voronoi(1) }\n"


def test_additive_layers_add_their_colours_and_saturate() -> None:
    text = HEADER + "\n".join(
        [
            "layer bg { fill color rgb(0.2, 0.1, 0.0) }",
            square("glow", "rgb(0.5, 0.3, 0.95)", "blend additive"),
        ]
    )
    s = render(text)
    inside = s.instance_map == 2
    assert inside.sum() > 300
    # sum where the additive object is, clipped at 1 (0.0 + 0.95 stays, 0.1 + 0.3 = 0.4)
    expected = np.array([0.7, 0.4, 0.95], np.float32)
    np.testing.assert_allclose(s.clean[inside], np.broadcast_to(expected, (inside.sum(), 3)))
    np.testing.assert_allclose(s.clean[~inside][:, 0], 0.2, rtol=1e-6)
    # saturation: 0.2 + 0.95 is clipped to 1
    sat = render(
        HEADER
        + "layer bg { fill color rgb(0.2, 0.1, 0.3) }\n"
        + square("glow", "rgb(0.95, 0.95, 0.95)", "blend additive")
    )
    inside = sat.instance_map == 2
    np.testing.assert_array_equal(sat.clean[inside], 1.0)
    np.testing.assert_array_equal(sat.noisy[inside], 1.0)


def test_over_is_the_default_and_replaces() -> None:
    text = HEADER + "layer bg { fill color rgb(0.2, 0.1, 0.0) }\n"
    over = render(text + square("top", "rgb(0.5, 0.3, 0.9)"))
    said = render(text + square("top", "rgb(0.5, 0.3, 0.9)", "blend over"))
    inside = over.instance_map == 2
    np.testing.assert_allclose(over.clean[inside][0], [0.5, 0.3, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(over.noisy, said.noisy)
    assert synthlang.compile_string(text + square("top", "rgb(1, 0, 0)")).layers[1].blend is None


def test_additive_noise_is_independent_of_the_noise_below() -> None:
    """Noise variances add where an additive layer lies on a noisy layer."""
    v1, v2 = 4e-4, 9e-4
    text = (
        "scene s { size 128 }\n"
        f"layer bg {{ fill color mvn(mean [0.3, 0.3, 0.3], cov [[{v1}, 0, 0], [0, {v1}, 0], "
        f"[0, 0, {v1}]]) }}\n"
        f"layer glow {{ fill color mvn(mean [0.2, 0.3, 0.4], cov [[{v2}, 0, 0], [0, {v2}, 0], "
        f"[0, 0, {v2}]]) blend additive }}\n"
    )
    s = render(text, 3)
    np.testing.assert_allclose(s.clean[0, 0], [0.5, 0.6, 0.7], rtol=1e-6)
    noise = (s.noisy - s.clean).reshape(-1, 3).astype(np.float64)
    var = noise.var(axis=0)
    np.testing.assert_allclose(var, v1 + v2, rtol=0.05)  # 16384 pixels: ~1 % std error
    corr = np.corrcoef(noise.T)
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.05  # channels independent
    # the same layers, `over`: only the upper noise is left
    s = render(text.replace(" blend additive", ""), 3)
    np.testing.assert_allclose((s.noisy - s.clean).reshape(-1, 3).var(axis=0), v2, rtol=0.05)


def test_additive_objects_hide_nothing() -> None:
    text = HEADER + "\n".join(
        [
            "layer bg { fill color rgb(0.1, 0.1, 0.1) }",
            square("low", "rgb(0.4, 0.0, 0.0)"),
            "layer glow { fill color rgb(0.0, 0.5, 0.0) blend additive }",
            "mask visible(low)",
        ]
    )
    s = render(text)
    bg, low, glow = s.instances
    assert (low.category, glow.category) == ("low", "glow")
    assert bg.visible_area == 48 * 48 - low.area  # hidden by `low` only, not by the glow
    assert low.visible_area == low.area and glow.visible_area == glow.area
    on_low = s.labels > 0
    assert (s.instance_map[on_low] == glow.id).all()  # the id map shows the topmost object
    # visible(low) is the whole square although the additive layer lies on it
    assert on_low.sum() == low.area
    np.testing.assert_allclose(s.clean[on_low][0], [0.4, 0.5, 0.0], rtol=1e-6)
    # an `over` layer above covers the additive one: nothing below it stays visible
    covered = render(
        text.replace(
            "mask visible(low)", "layer cover { fill color rgb(0, 0, 1) }\nmask visible(glow)"
        )
    )
    assert [r.visible_area for r in covered.instances] == [0, 0, 0, 48 * 48]
    assert covered.mask.sum() == 0


def test_classes_paint_additive_objects_in_z_order() -> None:
    text = HEADER + "\n".join(
        [
            "layer bg { fill color rgb(0.1, 0.1, 0.1) }",
            square("low", "rgb(0.4, 0.0, 0.0)"),
            "layer dot { ellipse(semi_axes 4) place count 1, in regions(all), attempts 1 "
            "color rgb(0, 0.5, 0) blend additive }",
            "mask classes { a: visible(low)  b: visible(dot) }",
        ]
    )
    s = render(text, 1)
    dot = next(r for r in s.instances if r.category == "dot")
    low = next(r for r in s.instances if r.category == "low")
    on_dot = s.instance_map == dot.id
    # visible(low) is the whole square; the dot above it is painted over it (z-order)
    assert low.visible_area == low.area and on_dot.any()
    assert (s.labels[on_dot] == 2).all() and (s.label_instances[on_dot] == dot.id).all()
    assert (s.labels[s.instance_map == low.id] == 1).all()
    assert np.count_nonzero(s.labels) == low.area + np.count_nonzero(on_dot & ~(s.labels == 1))


def test_soft_additive_layers_add_alpha_times_their_colour() -> None:
    text = (
        HEADER
        + "layer bg { fill color rgb(0.1, 0.1, 0.1) }\n"
        + square("glow", "rgb(0.5, 0.5, 0.5)", "blend additive soft(width 6)")
    )
    s = render(text)
    r, c = (round(x) for x in s.instances[1].center)
    np.testing.assert_allclose(s.clean[r, c], 0.6, rtol=1e-6)  # alpha 1 deep inside
    row = s.clean[r, :, 0]  # 0.1 outside, 0.6 inside, a ramp between
    assert row.min() == pytest.approx(0.1) and ((row > 0.11) & (row < 0.59)).sum() >= 3


def test_four_channel_render_and_preview(tmp_path) -> None:
    text = """
    scene s { size 40 channels [dapi, cd45, gp100, ki67] }
    layer bg { fill color mvn(mean [0.02, 0.02, 0.02, 0.02], cov [[1e-4, 0, 0, 0],
                              [0, 1e-4, 0, 0], [0, 0, 1e-4, 0], [0, 0, 0, 1e-4]]) }
    layer cell { ellipse(semi_axes 6) place count 4 color mvn(mean [0, 0.6, 0, 0])
                 contour(width 1, color mvn(mean [0, 0, 0.7, 0])) blend additive }
    layer nucleus { ellipse(semi_axes 3) place inside cell color mvn(mean [0.5, 0, 0, 0.3])
                    blend additive }
    degrade { blur gaussian(0.5) noise gaussian(0.01) contrast(1.1) jpeg(90) }
    mask cell
    """
    scene = synthlang.compile_string(text)
    a = synthlang.render(scene, 2, keep_layers=True)
    b = synthlang.render(scene, 2)
    assert a.noisy.shape == a.clean.shape == (40, 40, 4) and a.channels == scene.channels
    np.testing.assert_array_equal(a.noisy, b.noisy)  # deterministic
    assert a.layers is not None and a.layers[1].clean.shape == (40, 40, 5)  # channels + alpha
    sheet = preview_sheet(a, tmp_path / "p.png")
    assert sheet.mode == "RGB" and (tmp_path / "p.png").is_file()
    # without the passes: the nucleus adds its DAPI and Ki67 to the cell's CD45
    plain = synthlang.render(synthlang.compile_string(text.split("degrade")[0] + "mask cell"), 2)
    nucleus = next(r for r in plain.instances if r.category == "nucleus")
    r, c = (round(x) for x in nucleus.center)
    np.testing.assert_allclose(plain.clean[r, c], [0.52, 0.62, 0.02, 0.32], rtol=1e-5)


def test_composite_rejects_nothing_for_other_channel_counts() -> None:
    """One channel: the compositor takes colours of any length."""
    lay = ir.Layer(index=0, name="a", shape=ir.FillShape(), color=ir.MVNColor(mean=(0.5,)))
    from synthlang.engine.base import Instance, LayerResult

    inst = Instance(
        id=1,
        layer=0,
        category="a",
        r0=0,
        c0=0,
        mask=np.ones((2, 2), bool),
        center=(0.5, 0.5),
        mean=np.array([0.5], np.float32),
    )
    out = composite(
        [LayerResult(lay, [inst], inst.mask)], (2, 3), np.random.default_rng(0), channels=1
    )
    assert out.clean.shape == (2, 3, 1) and out.clean[0, 0, 0] == 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_scenes_without_additive_layers_draw_as_before(seed: int) -> None:
    """The soft path with `blend over` written is the same as without it."""
    cov = "[[1e-3, 0, 0], [0, 1e-3, 0], [0, 0, 1e-3]]"
    text = HEADER + f"layer bg {{ fill color mvn(mean [0.5, 0.5, 0.5], cov {cov}) }}\n"
    body = (
        "layer c { ellipse(semi_axes 5) place count 5 color rgb(0.2, 0.3, 0.4) soft(width 2) %s }"
    )
    a = render(text + body % "", seed)
    b = render(text + body % "blend over", seed)
    np.testing.assert_array_equal(a.noisy, b.noisy)
