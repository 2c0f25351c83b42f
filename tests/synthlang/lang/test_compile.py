"""The compiler: imports, names, defaults, region allocation, libraries, golden IR."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from synthlang import ir
from synthlang.common.errors import SceneError, SynthlangError
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.adapters import ADAPTERS
from synthlang.lang.blocks import SIGNATURES, SUGAR
from synthlang.lang.compile import compile_file, compile_string
from tests.conftest import TINY_SCENE

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
GOLDEN = HERE / "golden"
REGENERATE = os.environ.get("SYNTHLANG_UPDATE_GOLDEN") == "1"

HEAD = "scene s { size 64 x 64 regions voronoi(7) }\nlayer bg { fill color rgb(1, 1, 1) }\n"


def src(text: str) -> str:
    return inspect.cleandoc(text) + "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def make_library(folder: Path, kind: str, cohorts: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    index = {
        "format": "synthlang-patches",
        "version": 1,
        "kind": kind,
        "patch_size": 8 if kind == "texture" else None,
        "cohorts": cohorts,
        "items": [],
    }
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- basics


def test_every_block_is_built_from_its_model_or_an_adapter() -> None:
    for name, sig in SIGNATURES.items():
        assert sig.model is not None or name in ADAPTERS, name
    assert set(SUGAR) <= set(ADAPTERS)


def test_tiny_scene() -> None:
    scene = compile_string(TINY_SCENE)
    assert scene.name == "tiny" and scene.size == (48, 64)
    assert scene.regions == ir.VoronoiRegions(count=3)
    assert scene.categories == ("background", "cell", "nucleus", "immune")
    cell = scene.layer("cell")
    assert isinstance(cell.shape, ir.EllipseShape)
    assert cell.shape.semi_axes == (ir.Uniform(low=4, high=7), ir.Uniform(low=4, high=7))
    assert cell.placement is not None and cell.placement.mode == "count"
    assert cell.placement.count == ir.Constant(value=6)
    assert cell.placement.overlap.mode == "none"
    nucleus = scene.layer("nucleus")
    assert nucleus.placement is not None
    assert nucleus.placement.inside == "cell" and nucleus.placement.probability == 0.6
    assert [type(p) for p in scene.degrade] == [ir.GaussianBlur, ir.GaussianNoise]
    (rule,) = scene.masks
    assert rule.category == "immune" and isinstance(rule.condition, ir.Compare)
    mask_line = 1 + TINY_SCENE.splitlines().index(
        next(ln for ln in TINY_SCENE.splitlines() if ln.startswith("mask "))
    )
    assert rule.span is not None and rule.span.line == mask_line


def test_defaults() -> None:
    scene = compile_string(
        HEAD
        + src(
            """
            layer a { ellipse(semi_axes 3) place count 2 color rgb(0, 0, 0) }
            layer b { grown(from a, time 2) color mvn(mean [0.5, 0.5, 0.5]) }
            layer c { ribbon(width 2) color rgb(0, 0, 0) }
            layer d { ellipse(semi_axes 3) place count 2, overlap moderate color rgb(0, 0, 0) }
            """
        )
    )
    a = scene.layer("a")
    assert a.shape.angle == ir.Uniform(low=0, high=180)
    assert a.placement.overlap == ir.Overlap()
    assert a.placement.max_attempts == 10000 and a.placement.max_failures == 200
    assert scene.layer("b").shape.speed == ir.SpeedField()
    assert scene.layer("b").color.cov == ((0.0,) * 3,) * 3
    ribbon = scene.layer("c").shape
    assert ribbon.maps == 3 and ribbon.offset == ir.Constant(value=0)
    assert scene.layer("d").placement.overlap.fraction == 0.2


def test_layer_spans() -> None:
    scene = compile_string(HEAD + "layer a {\n fill color rgb(0, 0, 0) }\n", filename="x.scene")
    span = scene.layer("a").span
    assert span == ir.SourceSpan(file="x.scene", line=3, column=1, end_line=3, end_column=8)


def test_positional_and_named_arguments_agree() -> None:
    a = compile_string(HEAD + "layer a { fill color rgb(0.1, 0.2, 0.3) }\n")
    b = compile_string(HEAD + "layer a { fill color rgb(b 0.3, r 0.1, g 0.2) }\n")
    assert a.layer("a").color == b.layer("a").color


def test_distributions() -> None:
    scene = compile_string(
        HEAD
        + src(
            """
            let n = normal(mean 5, std 0)
            layer a {
                ellipse(semi_axes [truncnormal(6, 2, 3, 10), choice([2, 4], weights [1, 3])],
                        angle n)
                place count randint(0, 5)
                color rgb(0, 0, 0)
            }
            """
        )
    )
    shape = scene.layer("a").shape
    assert shape.semi_axes[0] == ir.TruncNormal(mean=6, std=2, low=3, high=10)
    assert shape.semi_axes[1] == ir.Choice(values=(2, 4), weights=(0.25, 0.75))
    assert shape.angle == ir.Normal(mean=5, std=0)
    assert scene.layer("a").placement.count == ir.RandInt(low=0, high=5)


def test_choice_equal_weights_by_default() -> None:
    scene = compile_string(
        HEAD + "layer a { ellipse(semi_axes choice([1, 2, 4])) place count 1 color rgb(0, 0, 0) }"
    )
    assert scene.layer("a").shape.semi_axes[0].weights == pytest.approx((1 / 3,) * 3)


def test_names_can_be_used_before_definition_and_are_inlined() -> None:
    scene = compile_string(
        HEAD
        + src(
            """
            layer a { cell place count 3 color purple }
            let cell = ellipse(semi_axes size)
            let size = uniform(2, 4)
            let purple = rgb(0.5, 0.2, 0.6)
            """
        )
    )
    assert scene.layer("a").shape.semi_axes[0] == ir.Uniform(low=2, high=4)
    assert scene.layer("a").color == ir.MVNColor(mean=(0.5, 0.2, 0.6))


def test_unused_definitions_are_still_checked() -> None:
    with pytest.raises(SceneError, match="needs low <= high"):
        compile_string(HEAD + "let unused = uniform(3, 1)\n")


def test_patch_layer_has_no_colour(tmp_path: Path) -> None:
    make_library(tmp_path / "nuclei", "nuclei")
    scene = compile_string(HEAD + 'layer n { patch("nuclei") place count 3 }', base_dir=tmp_path)
    assert scene.layer("n").color is None
    with pytest.raises(SceneError, match="takes its colours from the patch library") as info:
        compile_string(
            HEAD + 'layer n { patch("nuclei") place count 3 color rgb(1, 0, 0) }',
            base_dir=tmp_path,
        )
    assert (info.value.line, info.value.column) == (3, 41)


def test_object_layer_region_restriction_at_layer_level() -> None:
    a = compile_string(
        HEAD
        + "layer a { ellipse(semi_axes 3) place count 2 in regions(2 of 7) color rgb(0, 0, 0) }"
    )
    b = compile_string(
        HEAD
        + "layer a { ellipse(semi_axes 3) place count 2, in regions(2 of 7) color rgb(0, 0, 0) }"
    )
    assert a.layer("a").placement == b.layer("a").placement
    assert a.layer("a").placement.regions == ir.RegionSelection(start=0, count=2)


def test_random_is_only_a_word() -> None:
    a = compile_string(
        HEAD + "layer a { ellipse(semi_axes 3) place random, count 2 color rgb(0, 0, 0) }"
    )
    b = compile_string(HEAD + "layer a { ellipse(semi_axes 3) place count 2 color rgb(0, 0, 0) }")
    assert a.layer("a") == b.layer("a")


def test_metrics_and_conditions() -> None:
    scene = compile_string(
        HEAD
        + src(
            """
            let threshold = 0.3
            layer a { ellipse(semi_axes 3) place count 2 color rgb(0, 0, 0) }
            mask visible(a)
            mask a where not (area >= 10 or visible < threshold) and count(a, radius 5) == 0
            """
        )
    )
    first, second = scene.masks
    assert first.visible_only and first.condition is None
    cond = second.condition
    assert isinstance(cond, ir.And)
    assert isinstance(cond.args[0], ir.Not) and isinstance(cond.args[0].arg, ir.Or)
    assert cond.args[0].arg.args[1] == ir.Compare(metric=ir.VisibleFraction(), op="<", value=0.3)
    assert cond.args[1].metric == ir.CountWithin(category="a", radius=5)


def test_mask_classes() -> None:
    scene = compile_string(
        HEAD
        + src(
            """
            let t = 0.2
            layer a { ellipse(semi_axes 3) place count 2 color rgb(0, 0, 0) }
            layer b { ellipse(semi_axes 3) place count 2 color rgb(0, 0, 0) }
            mask classes {
                tumor: visible(a), b where concentration(b, radius 40) > t
                other: bg
            }
            """
        )
    )
    assert scene.masks == () and scene.class_names() == ("tumor", "other")
    assert scene.classes is not None and scene.mask_classes() == scene.classes
    tumor, other = scene.classes
    assert [(r.category, r.visible_only) for r in tumor.rules] == [("a", True), ("b", False)]
    assert tumor.rules[1].condition == ir.Compare(
        metric=ir.Concentration(category="b", radius=40), op=">", value=0.2
    )
    assert tumor.span is not None and (tumor.span.line, tumor.span.column) == (7, 5)
    assert other.rules == (ir.MaskRule(category="bg", span=other.rules[0].span),)
    assert [r.category for r in scene.mask_rules()] == ["a", "b", "bg"]
    again = ir.Scene.model_validate_json(scene.model_dump_json())
    assert again == scene and ir.scene_hash(again) == ir.scene_hash(scene)


@pytest.mark.parametrize(
    ("rules", "names"),
    [
        ("mask a\nmask visible(a) where area > 3", ("a",)),
        ("mask a\nmask bg", ("mask",)),
        ("mask background", ("mask",)),
        ("", ()),
    ],
)
def test_plain_rules_are_one_class(rules: str, names: tuple[str, ...]) -> None:
    layers = "layer a { ellipse(semi_axes 3) place count 2 color rgb(0, 0, 0) }\n"
    layers += "layer background { ellipse(semi_axes 3) place count 2 color rgb(0, 0, 0) }\n"
    scene = compile_string(HEAD + layers + rules)
    assert scene.classes is None and scene.class_names() == names
    if names:
        (one,) = scene.mask_classes()
        assert one.rules == scene.masks == scene.mask_rules()


def test_classes_leave_the_hash_of_plain_scenes_alone() -> None:
    """`classes` is left out of the hash while unset; setting it changes the hash."""
    plain = compile_string(HEAD + "mask bg")
    data = plain.model_dump(mode="json")
    assert data["classes"] is None
    from synthlang.ir.scene import _strip_spans

    assert "classes" not in _strip_spans(data)  # type: ignore[operator]
    labelled = compile_string(HEAD + "mask classes { bg: bg }")
    assert ir.scene_hash(labelled) != ir.scene_hash(plain)


def test_scene_model_checks_its_classes() -> None:
    bg = ir.Layer(index=0, name="bg", shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1)))
    rule = ir.MaskRule(category="bg")
    one = ir.MaskClass(name="x", rules=(rule,))

    def scene(**kw: object) -> ir.Scene:
        return ir.Scene(name="s", size=(8, 8), layers=(bg,), **kw)  # type: ignore[arg-type]

    assert scene(classes=(one,)).class_names() == ("x",)
    for kw, match in [
        ({"classes": (one,), "masks": (rule,)}, "not both"),
        ({"classes": ()}, "1 to 255"),
        ({"classes": (one,) * 2}, "unique"),
        ({"classes": (ir.MaskClass(name="background", rules=(rule,)),)}, "reserved"),
        ({"classes": tuple(ir.MaskClass(name=f"c{i}", rules=(rule,)) for i in range(256))}, "255"),
    ]:
        with pytest.raises(ValueError, match=match):
            scene(**kw)
    with pytest.raises(ValueError):
        ir.MaskClass(name="x", rules=())


def test_too_many_classes() -> None:
    entries = "\n".join(f"c{i}: bg" for i in range(256))
    with pytest.raises(SceneError) as info:
        compile_string(HEAD + "mask classes {\n" + entries + "\n}")
    err = info.value
    assert "declares 256 classes, more than 255" in err.message
    assert (err.line, err.column) == (3 + 255 + 1, 1)
    assert compile_string(HEAD + "mask classes {\n" + entries.rsplit("\n", 1)[0] + "\n}")


# --------------------------------------------------------------------------- regions


def test_region_selections_are_disjoint_in_order_of_appearance() -> None:
    scene = compile_string(
        src(
            """
            scene s { size 64 x 64 regions voronoi(7) }
            layer bg { fill color rgb(1, 1, 1) }
            layer a { ellipse(semi_axes 3) place fill, in regions(5 of 7) color rgb(1, 0, 0) }
            layer b { ellipse(semi_axes 3) place fill, in regions(2 of 7) color rgb(0, 0, 1) }
            """
        )
    )
    assert scene.layer("a").placement.regions == ir.RegionSelection(start=0, count=5)
    assert scene.layer("b").placement.regions == ir.RegionSelection(start=5, count=2)


def test_named_selection_reused_and_inverted() -> None:
    scene = compile_string(
        src(
            """
            scene s { size 64 x 64 regions fast_marching(11) }
            layer bg { fill color rgb(1, 1, 1) }
            layer early { fill in vessel color rgb(1, 0, 0) }
            layer a { ellipse(semi_axes 3) place count 3, in regions(4 of 11) color rgb(0, 0, 0) }
            layer vessel { fill in regions(1 of 11) as vessel color rgb(1, 0, 0) }
            layer rest { ribbon(width 2) not in vessel color rgb(0, 1, 0) }
            layer whole { fill in regions(all) as everything color rgb(0, 1, 0) }
            """
        )
    )
    # the named selection is allocated where it is first mentioned (layer `early`)
    vessel = ir.RegionSelection(start=0, count=1, name="vessel")
    assert scene.layer("early").regions == vessel
    assert scene.layer("a").placement.regions == ir.RegionSelection(start=1, count=4)
    assert scene.layer("vessel").regions == vessel
    assert scene.layer("rest").regions == vessel.model_copy(update={"invert": True})
    assert scene.layer("whole").regions == ir.RegionSelection(start=0, count=11, name="everything")


def test_fill_per_region_flag() -> None:
    scene = compile_string(
        HEAD + "layer a { fill(per_region false) in regions(3 of 7) color rgb(0, 0, 0) }"
    )
    assert scene.layer("a").shape == ir.FillShape(per_region=False)


# --------------------------------------------------------------------------- imports


def test_imports_relative_paths_and_sources() -> None:
    scene = compile_file(DATA / "main.scene")
    assert scene.categories == ("background", "cell")
    assert scene.layer("cell").shape.semi_axes[0] == ir.Uniform(low=4, high=7)
    assert scene.sources == (
        str(DATA / "main.scene"),
        str(DATA / "lib" / "colors.scene"),
        str(DATA / "lib" / "shapes.scene"),
    )
    assert scene.source == str(DATA / "main.scene")
    assert all(Path(p).is_absolute() for p in scene.sources)


def test_compile_string_resolves_imports_against_base_dir() -> None:
    text = (DATA / "main.scene").read_text(encoding="utf-8")
    a = compile_string(text, base_dir=DATA)
    b = compile_file(DATA / "main.scene")
    assert ir.scene_hash(a) == ir.scene_hash(b)
    assert a.sources == b.sources[1:]  # no main file


def test_import_cycle_reports_the_chain(tmp_path: Path) -> None:
    write(
        tmp_path / "main.scene",
        'import "a.scene"\nscene s { size 8 x 8 }\nlayer x { fill color c }',
    )
    write(tmp_path / "a.scene", 'import "sub/b.scene"\nlet c = rgb(0, 0, 0)')
    write(tmp_path / "sub" / "b.scene", 'let d = 1\nimport "../a.scene"')
    with pytest.raises(SceneError) as info:
        compile_file(tmp_path / "main.scene")
    err = info.value
    assert "import cycle: " in err.message
    assert err.message.endswith(
        f"{tmp_path / 'a.scene'} -> {tmp_path / 'sub' / 'b.scene'} -> {tmp_path / 'a.scene'}"
    )
    assert err.span is not None and err.span.file == str(tmp_path / "sub" / "b.scene")
    assert (err.line, err.column) == (2, 8)


def test_self_import_is_a_cycle(tmp_path: Path) -> None:
    write(tmp_path / "main.scene", 'import "main.scene"\nscene s { size 8 x 8 }')
    with pytest.raises(SceneError, match="import cycle") as info:
        compile_file(tmp_path / "main.scene")
    assert (info.value.line, info.value.column) == (1, 8)


def test_missing_import(tmp_path: Path) -> None:
    write(tmp_path / "main.scene", 'scene s { size 8 x 8 }\n\nimport "colours/none.scene"')
    with pytest.raises(SceneError) as info:
        compile_file(tmp_path / "main.scene")
    err = info.value
    assert 'cannot import "colours/none.scene": no such file' in err.message
    assert (err.line, err.column) == (3, 8)
    assert str(tmp_path / "colours" / "none.scene") in (err.hint or "")


def test_import_must_be_a_scene_file(tmp_path: Path) -> None:
    write(tmp_path / "main.scene", 'scene s { size 8 x 8 }\nimport "colors.txt"')
    with pytest.raises(SceneError, match="only `.scene` files") as info:
        compile_file(tmp_path / "main.scene")
    assert (info.value.line, info.value.column) == (2, 8)


def test_imported_file_with_a_layer(tmp_path: Path) -> None:
    write(
        tmp_path / "main.scene",
        'scene s { size 8 x 8 }\nimport "lib.scene"\nlayer x { fill color c }',
    )
    write(tmp_path / "lib.scene", "let c = rgb(0, 0, 0)\n\n  layer y { fill color c }")
    with pytest.raises(SceneError) as info:
        compile_file(tmp_path / "main.scene")
    err = info.value
    assert "an imported file may only contain `import` and `let`; found `layer`" in err.message
    assert err.span is not None and err.span.file == str(tmp_path / "lib.scene")
    assert (err.line, err.column) == (3, 3)
    assert f"{tmp_path / 'main.scene'}:2:8" in (err.hint or "")


def test_imported_file_with_mask_classes(tmp_path: Path) -> None:
    write(
        tmp_path / "main.scene",
        'scene s { size 8 x 8 }\nimport "lib.scene"\nlayer x { fill color c }',
    )
    write(tmp_path / "lib.scene", "let c = rgb(0, 0, 0)\n mask classes { a: x }")
    with pytest.raises(SceneError, match="found `mask`") as info:
        compile_file(tmp_path / "main.scene")
    assert (info.value.line, info.value.column) == (2, 2)


def test_imported_file_with_a_header(tmp_path: Path) -> None:
    write(tmp_path / "main.scene", 'import "lib.scene"\nscene s { size 8 x 8 }')
    write(tmp_path / "lib.scene", "scene t { size 8 x 8 }")
    with pytest.raises(SceneError, match="found `scene`"):
        compile_file(tmp_path / "main.scene")


def test_name_defined_in_two_files(tmp_path: Path) -> None:
    write(tmp_path / "main.scene", 'import "lib.scene"\nscene s { size 8 x 8 }\nlet  c = 3')
    write(tmp_path / "lib.scene", "\nlet c = rgb(0, 0, 0)")
    with pytest.raises(SceneError) as info:
        compile_file(tmp_path / "main.scene")
    err = info.value
    assert (err.line, err.column) == (3, 6)
    assert err.span.file == str(tmp_path / "main.scene")
    assert f"`c` is defined twice: here and at {tmp_path / 'lib.scene'}:2:5" in err.message


def test_names_need_an_import_to_be_visible(tmp_path: Path) -> None:
    write(
        tmp_path / "main.scene",
        'import "a.scene"\nimport "b.scene"\nscene s { size 8 x 8 }\nlayer x { fill color c }',
    )
    write(tmp_path / "a.scene", "let c = dark")
    write(tmp_path / "b.scene", "let dark = rgb(0, 0, 0)")
    with pytest.raises(SceneError) as info:
        compile_file(tmp_path / "main.scene")
    err = info.value
    assert (
        "`dark` is defined in" in err.message and "which this file does not import" in err.message
    )
    assert (err.line, err.column) == (1, 9)


def test_import_depth_limit(tmp_path: Path) -> None:
    for i in range(6):
        write(tmp_path / f"l{i}.scene", f'import "l{i + 1}.scene"')
    write(tmp_path / "l6.scene", "let z = 1")
    write(
        tmp_path / "main.scene",
        'import "l0.scene"\nscene s { size 8 x 8 }\nlayer a { fill color rgb(0, 0, 0) }',
    )
    assert compile_file(tmp_path / "main.scene").name == "s"
    with pytest.raises(SceneLimitError, match="imports nest deeper than 3") as info:
        compile_file(tmp_path / "main.scene", limits=Limits(max_import_depth=3))
    assert info.value.span is not None and info.value.span.file == str(tmp_path / "l2.scene")


def test_error_in_imported_file_shows_its_source(tmp_path: Path) -> None:
    write(tmp_path / "main.scene", 'import "lib/c.scene"\nscene s { size 8 x 8 }')
    write(tmp_path / "lib" / "c.scene", "let c = rgb(2, 0, 0)")
    with pytest.raises(SceneError) as info:
        compile_file(tmp_path / "main.scene")
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'lib' / 'c.scene'}:1:13: error:")
    assert "let c = rgb(2, 0, 0)" in text


def test_display_paths_follow_the_user_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "scenes" / "main.scene", 'import "lib/c.scene"\nscene s { size 8 x 8 }')
    write(tmp_path / "scenes" / "lib" / "c.scene", "let c = rgb(2, 0, 0)")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SceneError) as info:
        compile_file("scenes/main.scene")
    assert str(info.value).startswith("scenes/lib/c.scene:1:13: error:")


# --------------------------------------------------------------------------- patch libraries


def test_patch_libraries_resolve_relative_to_the_writing_file(tmp_path: Path) -> None:
    nuclei = make_library(tmp_path / "lib" / "nuclei", "nuclei")
    texture = make_library(tmp_path / "lib" / "texture", "texture", cohorts=3)
    write(
        tmp_path / "lib" / "he.scene",
        'let nucleus = patch("nuclei", scale uniform(0.8, 1.2), rotate false)\n'
        'let cyto = patches("texture", cohorts 2, size 6, overlap 1, smooth 0.5)',
    )
    write(
        tmp_path / "main.scene",
        src(
            """
            import "lib/he.scene"
            scene s { size 64 x 64 }
            layer n { nucleus place count 3 }
            layer c { grown(from n, time 3) texture cyto }
            layer d { ellipse(semi_axes 3) place count 1 texture patches("lib/texture") }
            """
        ),
    )
    scene = compile_file(tmp_path / "main.scene")
    shape = scene.layer("n").shape
    assert isinstance(shape, ir.PatchShape)
    assert shape.library == str(nuclei.resolve()) and shape.rotate is False
    assert shape.digest == hashlib.sha256((nuclei / "index.json").read_bytes()).hexdigest()
    tex = scene.layer("c").color
    assert isinstance(tex, ir.PatchTexture)
    assert tex.library == str(texture.resolve())
    assert (tex.cohorts, tex.size, tex.overlap, tex.smooth) == (2, 6, 1, 0.5)
    assert tex.digest == hashlib.sha256((texture / "index.json").read_bytes()).hexdigest()
    assert scene.layer("d").color.cohorts == 3


def test_texture_cohorts_default_to_the_library(tmp_path: Path) -> None:
    make_library(tmp_path / "t", "texture", cohorts=2)
    scene = compile_string(HEAD + 'layer a { fill texture patches("t") }', base_dir=tmp_path)
    assert scene.layer("a").color.cohorts == 2


@pytest.mark.parametrize(
    ("setup", "text", "fragment", "col"),
    [
        ("none", 'layer a { patch("lib") place count 1 }', "not found", 17),
        ("texture", 'layer a { patch("lib") place count 1 }', 'needs a "nuclei" library', 17),
        ("nuclei", 'layer a { fill texture patches("lib") }', 'needs a "texture" library', 32),
        ("noindex", 'layer a { patch("lib") place count 1 }', "no readable index.json", 17),
        ("texture", 'layer a { fill texture patches("lib", cohorts 4) }', "the library has 3", 47),
        (
            "texture",
            'layer a { fill texture patches("lib", size 4, overlap 4) }',
            "smaller than",
            55,
        ),
    ],
)
def test_patch_library_errors(
    tmp_path: Path, setup: str, text: str, fragment: str, col: int
) -> None:
    lib = tmp_path / "lib"
    if setup in ("nuclei", "texture"):
        make_library(lib, setup)
    elif setup == "noindex":
        lib.mkdir()
    with pytest.raises(SceneError) as info:
        compile_string(HEAD + text, base_dir=tmp_path)
    assert fragment in info.value.message, str(info.value)
    assert (info.value.line, info.value.column) == (3, col), str(info.value)


# --------------------------------------------------------------------------- robustness


def test_long_definition_chains_are_bounded() -> None:
    # written top-down, so evaluating the first definition walks the whole chain
    lines = [f"let a{i} = a{i - 1}" for i in range(300, 0, -1)] + ["let a0 = 1"]
    with pytest.raises(SceneLimitError, match="nest more than"):
        compile_string(HEAD + "\n".join(lines))
    short = [f"let a{i} = a{i - 1}" for i in range(40, 0, -1)] + ["let a0 = 1"]
    compile_string(HEAD + "\n".join(short))


def test_shared_definitions_do_not_blow_up() -> None:
    # each level doubles the written size of the value; evaluation is memoised
    lines = ["let v0 = [1, 1]"] + [f"let v{i} = [v{i - 1}, v{i - 1}]" for i in range(1, 60)]
    compile_string(HEAD + "\n".join(lines))


def test_only_synthlang_errors_escape() -> None:
    for text in ["", "scene", "}", "let", "layer a {", "\x00", "mask", "scene s { size -3 x 2 }"]:
        with pytest.raises(SynthlangError):
            compile_string(text)


# --------------------------------------------------------------------------- golden files


def _normalised_json(scene: ir.Scene) -> str:
    text = json.dumps(scene.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    return text.replace(str(GOLDEN), "<golden>")


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.scene")))
def test_golden(name: str) -> None:
    """Scene -> IR JSON, compared to the checked-in file.

    Regenerate with ``SYNTHLANG_UPDATE_GOLDEN=1 pytest tests/synthlang/lang/test_compile.py``.
    """
    scene = compile_file(GOLDEN / f"{name}.scene")
    actual = _normalised_json(scene)
    expected_path = GOLDEN / f"{name}.json"
    if REGENERATE:
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), (
        f"no golden file {expected_path}; run with SYNTHLANG_UPDATE_GOLDEN=1"
    )
    assert actual == expected_path.read_text(encoding="utf-8")


def test_golden_set_is_complete() -> None:
    assert {p.stem for p in GOLDEN.glob("*.scene")} >= {"tiny", "scenario2", "everything"}
    assert {p.stem for p in GOLDEN.glob("*.json")} == {p.stem for p in GOLDEN.glob("*.scene")}


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.scene")) + [DATA / "main.scene"])
def test_round_trip_through_json(path: Path) -> None:
    scene = compile_file(path)
    again = ir.Scene.model_validate_json(scene.model_dump_json())
    assert again == scene
    assert ir.scene_hash(again) == ir.scene_hash(scene)


def test_scene_hash_ignores_layout_and_comments() -> None:
    a = compile_string(TINY_SCENE)
    b = compile_string(
        "# moved around\n\n" + TINY_SCENE.replace("    ", "  "), filename="other.scene"
    )
    assert ir.scene_hash(a) == ir.scene_hash(b)


def test_scene_hash_of_scenes_without_new_layer_items_is_stable() -> None:
    """Unset optional layer fields (soft, chromatin) stay out of the hash: datasets resume."""
    tiny = compile_file(GOLDEN / "tiny.scene")
    assert ir.scene_hash(tiny) == (
        "dbf5cfc2ff5fcc4117fec44d423ddd4f6cafccac927319922763fd476084ce39"
    )
    soft = tiny.model_copy(
        update={
            "layers": (
                tiny.layers[0].model_copy(
                    update={"chromatin": ir.Chromatin(amount=ir.Constant(value=0.2))}
                ),
            )
        }
    )
    assert ir.scene_hash(soft) != ir.scene_hash(tiny)


def test_soft_edges_and_chromatin_compile_to_the_layer() -> None:
    scene = compile_string(
        """
        scene s { size 32 x 32 }
        layer bg { fill color rgb(1, 1, 1) chromatin(0.1) }
        layer n {
            ellipse(semi_axes uniform(3, 5))
            place count 4
            color rgb(0.3, 0.1, 0.5)
            soft(uniform(0.5, 2))
            chromatin(amount uniform(0.1, 0.3), scale uniform(1, 2.5), granules 0.3, rim 0.2)
        }
        """
    )
    bg, n = scene.layers
    assert bg.soft is None and bg.chromatin == ir.Chromatin(amount=ir.Constant(value=0.1))
    assert n.soft == ir.SoftEdge(width=ir.Uniform(low=0.5, high=2))
    assert n.chromatin == ir.Chromatin(
        amount=ir.Uniform(low=0.1, high=0.3),
        scale=ir.Uniform(low=1, high=2.5),
        granules=ir.Constant(value=0.3),
        rim=ir.Constant(value=0.2),
    )


# --------------------------------------------------------------------------- the reference


DOCS = HERE.parents[2] / "docs" / "language.md"
HE_STUB = """
let he_background = rgb(0.9, 0.85, 0.9)
let he_tumor_cytoplasm = rgb(0.6, 0.3, 0.6)
let he_tumor_nucleus = rgb(0.4, 0.2, 0.55)
let he_lymphocyte = rgb(0.16, 0.07, 0.41)
"""


def _doc_examples() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    return re.findall(r"```scene\n(.*?)```", text, flags=re.S)


def test_reference_has_examples() -> None:
    assert len(_doc_examples()) >= 10


@pytest.mark.parametrize("index", range(len(_doc_examples())))
def test_reference_examples_compile(index: int, tmp_path: Path) -> None:
    """Every ```scene block of docs/language.md compiles (definition-only blocks get a header)."""
    shutil.copytree(DATA / "lib", tmp_path / "lib")
    (tmp_path / "lib" / "he.scene").write_text(HE_STUB, encoding="utf-8")
    text = _doc_examples()[index]
    if "scene " not in text:
        text += "\nscene doc { size 32 x 32 }\nlayer bg { fill color rgb(1, 1, 1) }\n"
    compile_string(text, filename=str(tmp_path / "doc.scene"))


# --------------------------------------------------------------------------- stain and scanner


def test_stain_and_scanner_passes_compile_in_order() -> None:
    scene = compile_string(
        HEAD
        + """
        degrade {
            scale(uniform(0.9, 1.1))
            stain he(alpha uniform(0.9, 1.1), beta [uniform(-0.05, 0.05), 0], angle 3)
            stain hed(alpha [1, 1.1, 0.9])
            brightness(uniform(0.9, 1.1)) contrast(factor 1.2) gamma(0.9) saturation(1.1)
            blur gaussian(0.5)
            jpeg(quality randint(60, 95))
        }
        """
    )
    kinds = [p.kind for p in scene.degrade]
    assert kinds == [
        "scale", "stain", "stain", "brightness", "contrast", "gamma", "saturation", "blur", "jpeg"
    ]  # fmt: skip
    he, hed = scene.degrade[1], scene.degrade[2]
    assert isinstance(he, ir.StainJitter) and isinstance(hed, ir.StainJitter)
    assert he.stains == "he" and he.alpha == (ir.Uniform(low=0.9, high=1.1),) * 2
    assert he.beta == (ir.Uniform(low=-0.05, high=0.05), ir.Constant(value=0.0))
    assert he.angle == ir.Constant(value=3.0)
    assert hed.stains == "hed" and [a.value for a in hed.alpha] == [1.0, 1.1, 0.9]
    assert hed.beta == (ir.Constant(value=0.0),) * 3
    assert scene.degrade[-1] == ir.JPEGCompression(quality=ir.RandInt(low=60, high=95))
    again = ir.Scene.model_validate_json(scene.model_dump_json())
    assert again == scene


def test_stain_pass_words_stay_usable_as_names() -> None:
    text = HEAD + (
        "let scale = 2\nlet stain = uniform(0.9, 1.1)\nlet gamma = 0.8\n"
        "layer c { ellipse(semi_axes scale) place count 3 color rgb(0, 0, 0) }\n"
        "degrade { stain he(alpha stain) gamma(gamma) scale(1) }\n"
    )
    scene = compile_string(text)
    assert scene.layers[1].shape.semi_axes[0] == ir.Constant(value=2.0)
