"""Binding arguments to blocks: definitions called with new arguments (``base(scale 0.5)``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthlang import ir
from synthlang.common.errors import SceneError
from synthlang.engine.render import render
from synthlang.lang.compile import compile_file, compile_string

HEAD = "scene s { size 64 x 64 }\nlayer bg { fill color rgb(1, 1, 1) }\n"


def test_a_definition_called_with_new_arguments_replaces_them() -> None:
    scene = compile_string(
        HEAD
        + "let blob = ellipse(uniform(3, 5), angle 30)\n"
        + "layer a { blob(angle 90) place count 2 color rgb(1, 0, 0) }\n"
        + "layer b { blob place count 2 color rgb(0, 1, 0) }\n"
    )
    a, b = scene.layer("a").shape, scene.layer("b").shape
    assert isinstance(a, ir.EllipseShape) and isinstance(b, ir.EllipseShape)
    assert a.angle == ir.Constant(value=90) and b.angle == ir.Constant(value=30)
    # the positional argument of the definition is kept
    assert a.semi_axes == b.semi_axes


def test_derived_definitions_chain() -> None:
    scene = compile_string(
        HEAD
        + "let blob = ellipse(semi_axes 4)\nlet tilted = blob(angle 45)\n"
        + "let big = tilted(semi_axes 8)\n"
        + "layer a { big place count 1 color rgb(1, 0, 0) }\n"
    )
    shape = scene.layer("a").shape
    assert isinstance(shape, ir.EllipseShape)
    assert shape.angle == ir.Constant(value=45)
    assert shape.semi_axes[0] == ir.Constant(value=8)


def _mean_area(scene: ir.Scene, layer: str) -> float:
    sample = render(scene, 3)
    areas = [r.area for r in sample.instances if r.category == layer]
    assert areas
    return float(np.mean(areas))


def test_a_shipped_patch_library_is_scaled_from_a_scene_in_another_folder(tmp_path: Path) -> None:
    text = (
        'import "synthlang:he_stardist"\n'
        "scene s {{ size 96 x 96 }}\n"
        "layer bg {{ fill color stardist_background }}\n"
        "layer n {{ {shape} place count 12, overlap none }}\n"
        "mask visible(n)\n"
    )
    (tmp_path / "plain.scene").write_text(text.format(shape="stardist_tumor_nuclei"))
    (tmp_path / "half.scene").write_text(text.format(shape="stardist_tumor_nuclei(scale 0.5)"))
    plain = compile_file(tmp_path / "plain.scene")
    half = compile_file(tmp_path / "half.scene")
    p, h = plain.layer("n").shape, half.layer("n").shape
    assert isinstance(p, ir.PatchShape) and isinstance(h, ir.PatchShape)
    # the library path is the definition's (relative to the library file), not the scene's
    assert h.library == p.library and h.digest == p.digest
    assert h.scale == ir.Constant(value=0.5)
    ratio = _mean_area(half, "n") / _mean_area(plain, "n")
    assert 0.15 < ratio < 0.4  # area scales with the square of 0.5


@pytest.mark.parametrize(
    ("body", "position", "fragment"),
    [
        (
            "let blob = ellipse(semi_axes 4)\nlayer a { blb(angle 3) place count 1 "
            "color rgb(1, 0, 0) }",
            (4, 11),
            "`blb` is not a building block or a definition",
        ),
        (
            "let blob = ellipse(semi_axes 4)\nlayer a { blob(5) place count 1 color rgb(1, 0, 0) }",
            (4, 16),
            "takes named arguments only",
        ),
        (
            "let blob = ellipse(semi_axes 4)\nlayer a { blob(rotate 2) place count 1 "
            "color rgb(1, 0, 0) }",
            (4, 16),
            "ellipse has no argument 'rotate'",
        ),
        (
            "let three = 3\nlayer a { three(angle 2) place count 1 color rgb(1, 0, 0) }",
            (4, 11),
            "`three` is a number, not a building block",
        ),
        (
            "let blob = ellipse(semi_axes 4)\nlayer a { blob(semi_axes -1) place count 1 "
            "color rgb(1, 0, 0) }",
            (4, 26),
            "semi_axes",
        ),
        ("let a = unifrom(1, 2)", (3, 9), "`unifrom` is not a building block"),
        ("let a = b(x 1)\nlet b = a(x 2)", (4, 9), "in terms of itself"),
    ],
)
def test_derived_call_errors(body: str, position: tuple[int, int], fragment: str) -> None:
    with pytest.raises(SceneError) as info:
        compile_string(HEAD + body + "\n")
    assert fragment in info.value.message, info.value.message
    assert (info.value.line, info.value.column) == position, str(info.value)
