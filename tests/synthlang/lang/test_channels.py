"""``channels [...]``, ``bits N`` and ``blend MODE``: compiled, and refused where they disagree.

Every refusal is positioned (the ``»`` marks where the error must point) and the command
line answers it with one message and exit status 2.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from synthlang import ir
from synthlang.cli.main import main
from synthlang.common.errors import SceneError, SynthlangError
from synthlang.ir import scene_hash
from synthlang.lang.compile import compile_string
from synthlang.lang.grammar import SOFT_KEYWORDS, reserved_words
from tests.synthlang.common.malformed import located

FOUR = "scene s {{ size 32 channels [dapi, cd45, gp100, ki67] {extra}}}\n"
ZERO4 = "[[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]"


def four(body: str, extra: str = "") -> str:
    return FOUR.format(extra=extra) + inspect.cleandoc(body) + "\n"


GOOD = four(
    """
    let bg = mvn(mean [0.02, 0.02, 0.02, 0.02], cov [[1e-4, 0, 0, 0], [0, 1e-4, 0, 0],
                 [0, 0, 1e-4, 0], [0, 0, 0, 1e-4]])
    layer bg { fill color bg }
    layer cell { ellipse(semi_axes 4) place count 3 color mvn(mean [0, 0.6, 0, 0])
                 contour(width 1, color mvn(mean [0, 0.9, 0, 0])) blend additive }
    degrade { blur gaussian(0.5) noise gaussian(0.01) brightness(1.1) contrast(0.9) jpeg(80) }
    mask visible(cell)
    """,
    "bits 16 ",
)


def test_channels_bits_and_blend_compile() -> None:
    scene = compile_string(GOOD)
    assert scene.channels == ("dapi", "cd45", "gp100", "ki67") and scene.n_channels == 4
    assert scene.bits == 16 and scene.bit_depth == 16
    assert [layer.blend for layer in scene.layers] == [None, "additive"]
    assert scene.layers[1].additive and not scene.layers[0].additive
    again = ir.Scene.model_validate_json(scene.model_dump_json())
    assert scene_hash(again) == scene_hash(scene)


def test_defaults_are_rgb_8_bit_over_and_keep_the_hash() -> None:
    text = "scene s { size 8 } layer a { fill color rgb(1, 0, 0) }"
    scene = compile_string(text)
    assert scene.channels is None and scene.channel_names() == ("r", "g", "b")
    assert scene.bits is None and scene.bit_depth == 8 and scene.layers[0].blend is None
    # unset, the new fields are not part of the hash: datasets of old scenes stay resumable
    dumped = scene.model_dump(mode="json")
    assert {"channels", "bits"} <= set(dumped) and "blend" in dumped["layers"][0]
    # the defaults written out are the defaults: the same IR and hash
    for written in ("size 8 bits 8", "size 8 channels [r, g, b]"):
        same = compile_string(text.replace("size 8", written))
        assert (same.channels, same.bits, scene_hash(same)) == (None, None, scene_hash(scene))
    over = compile_string(text.replace("0) }", "0) blend over }"))
    assert over.layers[0].blend is None and scene_hash(over) == scene_hash(scene)
    assert scene_hash(compile_string(text.replace("size 8", "size 8 bits 16"))) != scene_hash(scene)


def test_keywords() -> None:
    assert "blend" in reserved_words()
    assert {"channels", "bits"} <= SOFT_KEYWORDS
    scene = compile_string(
        "let channels = 3\nlet bits = 4\nscene s { size 8 channels [size, fill, x] }\n"
        "layer bits { fill color mvn(mean [0, 0, 1]) }"
    )
    assert scene.channel_names() == ("size", "fill", "x") and scene.categories == ("bits",)


CASES = [
    (
        "mean-too-short",
        four("layer a { fill color mvn(mean »[0.5, 0.5, 0.5]) }"),
        "mvn mean has 3 values, the scene has 4 channels (dapi, cd45, gp100, ki67)",
    ),
    (
        "mean-defined-elsewhere",
        four("let c = mvn(mean »[0.5, 0.5])\nlayer a { fill color c }"),
        "mvn mean has 2 values, the scene has 4 channels",
    ),
    (
        "rgb-in-four",
        four("layer a { fill color »rgb(0.5, 0.5, 0.5) }"),
        "rgb(...) has 3 values, the scene has 4 channels",
    ),
    (
        "four-in-rgb",
        "scene s { size 8 }\nlayer a { fill color mvn(mean »[0.1, 0.2, 0.3, 0.4]) }\n",
        "mvn mean has 4 values, the scene has 3 channels (RGB)",
    ),
    (
        "contour-colour",
        four(
            "layer a { fill color mvn(mean [0, 0, 0, 1])\n"
            "          contour(width 1, color mvn(mean »[1, 0, 0])) }"
        ),
        "mvn mean has 3 values, the scene has 4 channels",
    ),
    (
        "cov-size",
        four("layer a { fill color mvn(mean [0, 0, 0, 1], cov »[[1e-4, 0], [0, 1e-4]]) }"),
        "`cov` of mvn must be a 4x4 matrix",
    ),
    (
        "blend-unknown",
        four("layer a { fill color mvn(mean [0, 0, 0, 1]) blend »add }"),
        "unknown blend mode `add`",
    ),
    (
        "blend-twice",
        four("layer a { fill color mvn(mean [0, 0, 0, 1]) blend over »blend additive }"),
        "`blend` is given twice",
    ),
    ("bits", "scene s { size 8 bits »12 }\nlayer a { fill color rgb(0, 0, 0) }\n", "8 or 16 bits"),
    (
        "channel-twice",
        "scene s { size 8 channels [a, b, »a] }\nlayer a { fill color mvn(mean [0, 0, 0]) }\n",
        "channel `a` is named twice",
    ),
    (
        "channels-twice",
        "scene s { size 8 channels [a] »channels [b] }\nlayer l { fill color mvn(mean [0]) }\n",
        "`channels` is given twice",
    ),
    (
        "saturation",
        four("layer a { fill color mvn(mean [0, 0, 0, 1]) }\ndegrade { »saturation(1.2) }"),
        "`saturation` works on RGB images",
    ),
    (
        "stain",
        four("layer a { fill color mvn(mean [0, 0, 0, 1]) }\ndegrade { »stain he(alpha 1.1) }"),
        "`stain` works on RGB images",
    ),
]


@pytest.mark.parametrize(("marked", "fragment"), [pytest.param(t, f, id=i) for i, t, f in CASES])
def test_refusals_are_positioned(marked: str, fragment: str) -> None:
    text, line, col = located(marked)
    with pytest.raises(SceneError) as info:
        compile_string(text)
    err = info.value
    assert fragment in err.message, str(err)
    assert (err.line, err.column) == (line, col), str(err)


def test_cli_exit_status_2_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, line, col = located(CASES[0][1])
    path = tmp_path / "bad.scene"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:{line}:{col}: error: mvn mean has 3 values, the scene has 4")
    assert err.count("error:") == 1


def test_the_hint_names_the_layer_that_uses_a_colour_defined_elsewhere() -> None:
    text = four("let c = mvn(mean [0.5, 0.5])\n\nlayer a { fill color c }")
    with pytest.raises(SceneError) as info:
        compile_string(text)
    assert "used as the colour of layer `a` at <string>:4:22" in str(info.value.hint)


def test_patch_textures_need_rgb() -> None:
    lib = Path(__file__).resolve().parents[3] / "scenes/lib/he_stardist/tumor_texture"
    text = four(f'layer a {{ fill texture »patches("{lib}") }}')
    text, line, col = located(text)
    with pytest.raises(SceneError, match="patch textures are RGB") as info:
        compile_string(text)
    assert (info.value.line, info.value.column) == (line, col)


def test_the_ir_refuses_what_the_compiler_refuses() -> None:
    """Scenes built in Python get the same checks (without positions)."""
    bg = ir.Layer(index=0, name="bg", shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1)))
    with pytest.raises(ValueError, match="mvn mean has 3 values, the scene has 2 channels"):
        ir.Scene(name="s", size=(8, 8), layers=(bg,), channels=("a", "b"))
    with pytest.raises(ValueError, match="channel names must be distinct"):
        ir.Scene(name="s", size=(8, 8), layers=(bg,), channels=("a", "a", "b"))
    with pytest.raises(ValueError, match="cov must be a 2x2 matrix"):
        ir.MVNColor(mean=(1, 1), cov=((1.0, 0.0, 0.0),) * 3)
    assert ir.MVNColor(mean=(0.5,)).cov == ((0.0,),)


def test_only_synthlang_errors_escape() -> None:
    for text in ["scene s { channels [] }", "scene s { bits }", "scene s { size 8 bits 16.5 }"]:
        with pytest.raises(SynthlangError):
            compile_string(text)
