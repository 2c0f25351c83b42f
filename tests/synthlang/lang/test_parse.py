"""The grammar and the parser: conflict-free LALR, caching, positions, friendly errors."""

from __future__ import annotations

import inspect
import logging
import random
from pathlib import Path

import pytest
from lark import Lark, Tree, logger

import synthlang.lang.parse
from synthlang.common.errors import SceneError, SceneSyntaxError, SynthlangError
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.blocks import SIGNATURES
from synthlang.lang.compile import compile_string
from synthlang.lang.parse import (
    GRAMMAR_PATH,
    SOFT_KEYWORDS,
    did_you_mean,
    get_parser,
    keywords,
    parse,
    reserved_words,
)

VALID = inspect.cleandoc(
    """
    # a comment
    import "lib/colors.scene"   # trailing comment
    scene demo {
        size 300 x 200
        regions fast_marching(11, speed gaussian_field(mean 1, std 0.4, smoothness 20))
    }
    let big = uniform(low 20, high 35)
    let path = "a \\"quoted\\" name"
    let m = [[1, 0, 0], [0, 1, 0], [0, 0, 1],]
    layer a {
        ellipse(semi_axes [big, 3], angle -15.5)
        place random in regions(5 of 11) as area, count randint(1, 4),
              overlap moderate(0.3) with [a]
        color rgb(1, 0, .5)
        contour(width 1, color rgb(0, 0, 0))
    }
    layer b { shape fill(per_region false) not in area texture patches("t", cohorts 2) }
    degrade { blur gaussian(1e-1) noise gaussian(0.02) noise poisson(peak 200) }
    mask visible(a) where not (area > 3 or visible <= 0.5) and count(a, radius 3) != 2
    """
)


def test_grammar_file_is_the_package_data() -> None:
    assert GRAMMAR_PATH.name == "scene.lark"
    assert GRAMMAR_PATH.parent == Path(synthlang.lang.parse.__file__).parent
    assert "lang/*.lark" in (Path(__file__).parents[3] / "pyproject.toml").read_text()
    assert GRAMMAR_PATH.read_text(encoding="utf-8").startswith("// ====")


def test_parser_is_cached() -> None:
    assert get_parser() is get_parser()
    assert get_parser().options.parser == "lalr"
    assert get_parser().options.propagate_positions


def test_grammar_has_no_lalr_conflicts() -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        Lark.open(str(GRAMMAR_PATH), parser="lalr", propagate_positions=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert not [r for r in records if "conflict" in r.lower()]


def test_every_building_block_can_be_written() -> None:
    """A block has a rule of its own, or is a value block written through the generic rule."""
    rules = {str(r.origin.name) for r in get_parser().rules}
    assert "call" in rules
    for name, sig in SIGNATURES.items():
        assert name in rules or sig.result not in ("degradation", "metric"), name


def test_parse_valid_scene() -> None:
    tree = parse(VALID)
    assert isinstance(tree, Tree)
    kinds = [child.data for child in tree.children]
    assert kinds == [
        "import_stmt",
        "scene_header",
        "let_stmt",
        "let_stmt",
        "let_stmt",
        "layer",
        "layer",
        "degrade",
        "mask_rule",
    ]


def test_positions_are_kept() -> None:
    tree = parse("\n\n   let   big = uniform(1, 2)")
    let = tree.children[0]
    assert (let.meta.line, let.meta.column) == (3, 4)


def test_keywords() -> None:
    words = keywords()
    assert {"scene", "layer", "place", "fill", "where", "and", "not", "x", "of", "as"} <= words
    assert "semi_axes" not in words  # argument names are not keywords
    assert "from" not in words


def test_keywords_are_contextual_argument_names() -> None:
    # `color`, `size`, `overlap`, `count` are keywords elsewhere but argument names here
    parse("layer a { fill color rgb(1, 0, 0) contour(color rgb(1, 0, 0), width 2) }")
    parse('let t = patches("x", size 8, overlap 2)')
    with pytest.raises(SceneSyntaxError, match="is a layer item, not a value"):
        parse("let c = contour(color rgb(1, 0, 0))")


@pytest.mark.parametrize("word", sorted(SOFT_KEYWORDS))
def test_soft_keywords_can_name_things(word: str) -> None:
    """Words that are keywords only in other places work as definition and layer names."""
    text = inspect.cleandoc(
        f"""
        scene s {{ size 64 x 64 regions voronoi(3) }}
        let {word} = uniform(2, 3)
        let c_{word} = rgb(0, 0, 0)
        layer bg {{ fill color c_{word} }}
        layer {word} {{
            ellipse(semi_axes {word}, angle {word})
            place count {word}, in regions(1 of 3) as {word}
            color c_{word}
        }}
        layer n {{
            ellipse(semi_axes {word}) place inside {word}, overlap none with {word} color c_{word}
        }}
        layer m {{ fill in {word} color c_{word} }}
        mask {word} where concentration({word}, radius 3) > 0 and count({word}, radius 2) < 9
        """
    )
    scene = compile_string(text)
    assert word in scene.categories


def test_reserved_words() -> None:
    assert {"fill", "layer", "uniform", "color", "in", "not", "with", "as"} <= reserved_words()
    assert not SOFT_KEYWORDS & reserved_words()
    assert SOFT_KEYWORDS <= keywords()


def test_mask_classes_parse() -> None:
    tree = parse(
        """
        mask classes {
            tumor:  visible(tumor_nucleus), visible(tumor_nucleus_nucls)
            immune: immune_cell where concentration(immune_cell, radius 40) > 0.2
            other:  visible(stroma_nucleus) where area > 3 and not visible < 0.5, stroma
        }
        """
    )
    (block,) = tree.children
    assert block.data == "mask_classes"
    entries = [c for c in block.children if isinstance(c, Tree)]
    assert [str(e.children[0]) for e in entries] == ["tumor", "immune", "other"]
    assert [len(e.children) - 1 for e in entries] == [2, 1, 2]
    assert [t.data for t in entries[2].children[1].children[:1]] == ["mask_visible"]
    assert parse("mask classes { }").children[0].data == "mask_classes"


def test_classes_is_a_keyword_only_before_a_block() -> None:
    """`mask classes` without `{` is the rule of a layer called `classes`."""
    rule = parse("mask classes where area > 3").children[0]
    assert rule.data == "mask_rule" and str(rule.children[0].children[0]) == "classes"
    assert parse("mask classes").children[0].data == "mask_rule"
    block = parse("mask classes { classes: classes, visible(classes) }").children[0]
    assert block.data == "mask_classes"
    assert "classes" in SOFT_KEYWORDS and "classes" not in reserved_words()


def test_did_you_mean() -> None:
    assert did_you_mean("semi_axis", ["semi_axes", "angle"]) == "semi_axes"
    assert did_you_mean("zzz", ["semi_axes", "angle"]) is None


SYNTAX_CASES = [
    # (source, line, column, fragment)
    ("layer a {\n  fill color rgb(1,0,0)\nlayer b { fill }", 3, 1, "missing `}` before `layer`"),
    ("layer a { ellipse(semi_axes 3 angle 40) }", 1, 31, "missing comma before name `angle`"),
    ("let a = [1 2]", 1, 12, "missing comma before number `2`"),
    ("layer a { place count = 3 }", 1, 23, "`=` is not used in a place clause"),
    ("lyer a { }", 1, 1, "top level"),
    ('import "abc\n', 1, 8, "unterminated string"),
    ("layer a { @ }", 1, 11, "unexpected character `@`"),
    ("let a =", 1, 8, "unexpected end of file"),
    ("scene s { sise 3 x 3 }", 1, 11, "header"),
    ("let a = 3;", 1, 10, "unexpected character `;`"),
    ("let café = 3", 1, 8, "unexpected character `é`"),
    ("mask a where area = 3", 1, 19, "use `==`"),
    ("layer a { fill } }", 1, 18, "unmatched `}`"),
    ("layer a { ellipse(semi_axes 3 }", 1, 31, "missing `)`"),
    ("let a = [1, 2)", 1, 14, "missing `]` before `)`"),
    ("degrade { blur 3 }", 1, 16, "write `gaussian(sigma)`"),
    ("degrade { sharpen }", 1, 11, "in `degrade`"),
    ("scene s { size 3 x }", 1, 20, "unexpected `}`"),
    ("layer a { fill\n\ncolor rgb(1, 0, 0) place fill, }", 3, 32, "a place clause is"),
    # mask classes
    ("mask classes { a: x, y,\n  b: z }", 1, 23, "this comma continues the targets of class `a`"),
    ("mask classes { a: x, }", 1, 20, "the targets of class `a` end with a comma"),
    ("mask classes { a visible(x) }", 1, 18, "write `:` after the class name `a`"),
    ("mask classes { visible(x) }", 1, 16, "a class entry starts with the class name"),
    ("mask classes { a: }", 1, 19, "unexpected `}` in `mask classes`"),
    ("mask classes { a: x", 1, 14, "`mask classes` opened here is never closed"),
    ("layer a { ellipse(semi_axes: 3) }", 1, 28, "`:` is only used after a class name"),
    ("let a: 3", 1, 6, "`:` is only used after a class name"),
]


@pytest.mark.parametrize(("source", "line", "col", "fragment"), SYNTAX_CASES)
def test_syntax_errors(source: str, line: int, col: int, fragment: str) -> None:
    with pytest.raises(SceneSyntaxError) as info:
        parse(source, "f.scene")
    err = info.value
    assert fragment in err.message, str(err)
    assert (err.line, err.column) == (line, col), str(err)
    assert err.span is not None and err.span.file == "f.scene"
    text = str(err)
    assert text.startswith(f"f.scene:{line}:{col}: syntax error: ")
    assert "^" in text


def test_unknown_block_hint_names_the_closest() -> None:
    # `NAME(...)` may be a definition called with new arguments: the compiler decides
    parse("let a = elipse(semi_axes 3)")
    with pytest.raises(SceneError) as info:
        compile_string("scene s { size 8 x 8 }\nlet a = elipse(semi_axes 3)")
    assert info.value.hint == "did you mean `ellipse`?"
    with pytest.raises(SceneSyntaxError, match="is a mask metric"):
        parse("let a = concentration(b, radius 3)")


def test_unclosed_bracket_at_eof_points_at_the_opener() -> None:
    with pytest.raises(SceneSyntaxError) as info:
        parse("layer a {\n  ellipse(semi_axes 3\n")
    assert (info.value.line, info.value.column) == (2, 10)
    assert "`ellipse(` opened here is never closed (missing `)`)" in info.value.message


def test_nesting_limit() -> None:
    deep = "mask a where " + "not " * 65 + "area > 1"
    with pytest.raises(SceneSyntaxError, match="too deeply nested"):
        parse(deep)
    parse("mask a where " + "not " * 60 + "area > 1")
    with pytest.raises(SceneSyntaxError, match="more than 5 levels"):
        parse("let a = [[[[[[1]]]]]]", limits=Limits(max_nesting=5))


def test_very_deep_brackets_do_not_crash() -> None:
    # far beyond Python's recursion limit: refused cleanly, no RecursionError
    with pytest.raises(SceneSyntaxError, match="too deeply nested"):
        parse("let a = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(SceneSyntaxError, match="too deeply nested"):
        parse(
            "mask a where "
            + "(" * 5000
            + "area > 1"
            + ")" * 5000
            + " and "
            + "not " * 5000
            + "area > 1"
        )


def test_long_flat_inputs_are_fine() -> None:
    parse("mask a where " + " and ".join(["area > 1"] * 3000))
    parse("let a = choice([" + ", ".join(["1"] * 20000) + "])")


def test_source_size_limit() -> None:
    with pytest.raises(SceneLimitError, match="more than the limit"):
        parse("# " + "x" * 100, limits=Limits(max_source_bytes=50))


def test_byte_order_mark_is_ignored() -> None:
    parse("\ufefflet a = 3")


def _mutations(text: str, rng: random.Random) -> str:
    tokens = '{ } ( ) [ ] , = " x of layer place - 1e9 not # where fill uniform( 0 @'.split()
    tokens += ["\n", "regions(1 of 3)"]
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        pos = rng.randrange(len(chars) + 1)
        if op < 0.4 and chars:
            del chars[pos : pos + rng.randint(1, 8)]
        elif op < 0.8:
            chars[pos:pos] = list(rng.choice(tokens))
        else:
            end = min(len(chars), pos + rng.randint(1, 20))
            chars[pos:pos] = chars[pos:end]
    return "".join(chars)


def test_fuzzed_scenes_only_raise_synthlang_errors() -> None:
    """Random edits of a valid scene never produce a traceback or an error without a position."""
    from tests.conftest import TINY_SCENE

    rng = random.Random(1234)
    n_lines = TINY_SCENE.count("\n") + 30
    errors = 0
    for _ in range(400):
        text = _mutations(TINY_SCENE, rng)
        try:
            compile_string(text)
        except SynthlangError as e:
            errors += 1
            assert e.span is not None, (text, str(e))
            assert 1 <= e.span.line <= n_lines + text.count("\n"), (text, str(e))
            str(e)
    assert errors > 100
