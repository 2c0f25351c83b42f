"""Lowering: parse tree -> plain AST dataclasses with spans."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from synthlang.common.errors import Span
from synthlang.lang.blocks import LAYER_ITEM_KINDS, SIGNATURES
from synthlang.lang.lower import lower
from synthlang.lang.nodes import (
    Bool,
    Call,
    ColorItem,
    Comparison,
    CondAnd,
    CondNot,
    CondOr,
    ContourItem,
    Degrade,
    Import,
    InItem,
    LayerDecl,
    Let,
    ListExpr,
    MaskClassDecl,
    MaskClasses,
    MaskDecl,
    Module,
    NamedSelection,
    Number,
    PlaceCount,
    PlaceFill,
    PlaceIn,
    PlaceInside,
    PlaceItem,
    PlaceOverlap,
    PlaceProbability,
    PlaceRandom,
    Ref,
    RegionsItem,
    RegionsSelection,
    SceneHeader,
    ShapeItem,
    SizeItem,
    String,
)
from synthlang.lang.parse import parse


def lowered(text: str, file: str | None = "t.scene") -> Module:
    text = inspect.cleandoc(text)
    return lower(parse(text, file), file, text)


def test_module_and_statements() -> None:
    m = lowered(
        """
        import "lib/a.scene"
        scene s { size 300 x 200  regions voronoi(7) }
        let big = uniform(20, 35)
        layer a { fill color rgb(1, 0, 0) }
        degrade { blur gaussian(1) }
        mask a
        """
    )
    kinds = [type(s) for s in m.statements]
    assert kinds == [Import, SceneHeader, Let, LayerDecl, Degrade, MaskDecl]
    imp = m.statements[0]
    assert isinstance(imp, Import) and imp.path.value == "lib/a.scene"
    assert imp.path.span == Span("t.scene", 1, 8, 1, 21)


def test_nodes_are_frozen() -> None:
    m = lowered("let a = 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.statements[0].name = "b"  # type: ignore[misc]


def test_header() -> None:
    m = lowered("scene s { size 300 x 200 regions voronoi(7) }")
    h = m.statements[0]
    assert isinstance(h, SceneHeader) and h.name.name == "s"
    size, regions = h.items
    assert isinstance(size, SizeItem)
    assert isinstance(size.rows, Number) and size.rows.value == 300
    assert isinstance(size.cols, Number) and size.cols.value == 200
    assert isinstance(regions, RegionsItem) and isinstance(regions.value, Call)
    assert regions.value.block == "voronoi"
    square = lowered("scene s { size 64 }").statements[0]
    assert square.items[0].cols is None


def test_values_and_spans() -> None:
    m = lowered('let v = [1, -2.5, .5, 1e-3, "a\\"b\\\\c", true, false, name]')
    lst = m.statements[0].value
    assert isinstance(lst, ListExpr)
    one, neg, half, tiny, s, t, f, ref = lst.items
    assert isinstance(one, Number) and one.value == 1 and one.text == "1"
    assert isinstance(neg, Number) and neg.value == -2.5 and neg.text == "-2.5"
    assert neg.span == Span("t.scene", 1, 13, 1, 17)
    assert half.value == 0.5 and tiny.value == 1e-3
    assert isinstance(s, String) and s.value == 'a"b\\c'
    assert isinstance(t, Bool) and t.value is True and isinstance(f, Bool) and f.value is False
    assert isinstance(ref, Ref) and ref.name == "name"
    assert ref.span == Span("t.scene", 1, 53, 1, 57)
    assert s.span == Span("t.scene", 1, 29, 1, 38)


def test_call_arguments_and_keyword_span() -> None:
    m = lowered("let e = ellipse(semi_axes uniform(3, 4), 30)")
    call = m.statements[0].value
    assert isinstance(call, Call) and call.block == "ellipse"
    assert call.keyword == Span("t.scene", 1, 9, 1, 16)
    named, positional = call.args
    assert named.name is not None and named.name.name == "semi_axes"
    assert named.name.span == Span("t.scene", 1, 17, 1, 26)
    assert isinstance(named.value, Call) and named.value.block == "uniform"
    assert positional.name is None and isinstance(positional.value, Number)


def test_every_block_lowers_to_a_call() -> None:
    value_blocks = [
        n
        for n, s in SIGNATURES.items()
        if s.result not in ("degradation", "metric", *LAYER_ITEM_KINDS)
    ]
    for name in value_blocks:
        text = f"let v = {name}()" if name != "fill" else "let v = fill"
        call = lowered(text).statements[0].value
        assert isinstance(call, Call) and call.block == name and call.args == ()


def test_layer_items() -> None:
    m = lowered(
        """
        layer a {
            ellipse(semi_axes 3)
            place random in regions(2 of 7) as area, count 5, inside b, fill,
                  overlap moderate(0.3) with [b, c], probability 0.5
            not in area
            color rgb(1, 0, 0)
            contour(width 2, color rgb(0, 0, 0))
        }
        layer b { shape fill texture t }
        """
    )
    a, b = m.statements
    shape, place, in_item, color, contour = a.items
    assert isinstance(shape, ShapeItem) and not shape.explicit
    assert isinstance(place, PlaceItem)
    assert place.keyword == Span("t.scene", 3, 5, 3, 10)
    kinds = [type(c) for c in place.clauses]
    assert kinds == [
        PlaceRandom,
        PlaceIn,
        PlaceCount,
        PlaceInside,
        PlaceFill,
        PlaceOverlap,
        PlaceProbability,
    ]
    sel = place.clauses[1].selection
    assert isinstance(sel, RegionsSelection) and sel.alias is not None and sel.alias.name == "area"
    assert not place.clauses[1].invert
    overlap = place.clauses[5]
    assert overlap.mode.name == "moderate" and overlap.args is not None and len(overlap.args) == 1
    assert [i.name for i in overlap.against] == ["b", "c"]
    assert isinstance(in_item, InItem) and in_item.invert
    assert isinstance(in_item.selection, NamedSelection) and in_item.selection.name == "area"
    assert isinstance(color, ColorItem) and color.keyword == "color"
    assert isinstance(contour, ContourItem) and contour.call.block == "contour"
    bshape, btex = b.items
    assert bshape.explicit and isinstance(bshape.value, Call) and bshape.value.block == "fill"
    assert btex.keyword == "texture"


def test_overlap_without_arguments_or_with() -> None:
    m = lowered("layer a { place count 3, overlap none }")
    overlap = m.statements[0].items[0].clauses[1]
    assert isinstance(overlap, PlaceOverlap)
    assert overlap.args is None and overlap.against == ()
    m = lowered("layer a { place count 3, overlap moderate() with b }")
    overlap = m.statements[0].items[0].clauses[1]
    assert overlap.args == () and [i.name for i in overlap.against] == ["b"]


def test_regions_all() -> None:
    m = lowered("layer a { fill in regions(all) }")
    sel = m.statements[0].items[1].selection
    assert isinstance(sel, RegionsSelection) and sel.count is None and sel.total is None


def test_degrade_passes() -> None:
    m = lowered("degrade { blur gaussian(1)  noise  gaussian(0.1) noise poisson(peak 9) }")
    passes = m.statements[0].passes
    assert [p.block for p in passes] == ["gaussian_blur", "gaussian_noise", "poisson_noise"]
    assert passes[1].keyword == Span("t.scene", 1, 29, 1, 44)


def test_conditions_precedence() -> None:
    m = lowered("mask visible(a) where not area > 3 and visible < 0.5 or count(a, radius 3) >= 2")
    mask = m.statements[0]
    assert mask.visible and mask.category.name == "a"
    cond = mask.condition
    assert isinstance(cond, CondOr)
    left, right = cond.args
    assert isinstance(left, CondAnd)
    assert isinstance(left.args[0], CondNot)
    assert isinstance(right, Comparison) and right.op == ">=" and right.metric.block == "count"
    assert right.op_span == Span("t.scene", 1, 76, 1, 78)


def test_parentheses_group() -> None:
    m = lowered("mask a where (area > 1 or area < 0) and visible == 1")
    cond = m.statements[0].condition
    assert isinstance(cond, CondAnd) and isinstance(cond.args[0], CondOr)


def test_mask_classes() -> None:
    m = lowered(
        """
        mask classes {
            tumor: visible(t), u where area > 3
            immune: classes
        }
        """
    )
    (block,) = m.statements
    assert isinstance(block, MaskClasses)
    assert block.keyword == Span("t.scene", 1, 1, 1, 13)
    tumor, immune = block.classes
    assert isinstance(tumor, MaskClassDecl) and tumor.name.name == "tumor"
    assert tumor.name.span == Span("t.scene", 2, 5, 2, 10)
    first, second = tumor.targets
    assert isinstance(first, MaskDecl) and first.visible and first.category.name == "t"
    assert first.span == Span("t.scene", 2, 12, 2, 22) and first.condition is None
    assert not second.visible and isinstance(second.condition, Comparison)
    assert second.span == Span("t.scene", 2, 24, 2, 40)
    assert immune.targets[0].category.name == "classes"
    assert lowered("mask\nclasses { }").statements[0].keyword == Span("t.scene", 1, 1, 1, 5)


def test_string_source_has_no_file() -> None:
    m = lowered("let a = 1", file=None)
    assert m.statements[0].span.file is None
