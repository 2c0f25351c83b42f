"""Lower a Lark parse tree to the scene AST: plain frozen dataclasses with spans.

The AST mirrors the source closely and resolves nothing: names stay names,
imports stay imports, building blocks stay calls with their written
arguments. :mod:`synthlang.lang.compile` gives it meaning. Every node carries a
:class:`~synthlang.common.errors.Span` so that the compiler can point at it.

One :class:`Lower` transformer does the whole job; its method names are the
grammar's rule names (``synthlang/lang/scene.lark``). It is non-recursive, so a
deep tree cannot overflow the Python stack (the parser bounds nesting
anyway).

Examples
--------
>>> from synthlang.lang.parse import parse
>>> module = lower(parse("let big = uniform(20, 35)"))
>>> let = module.statements[0]
>>> let.name.name, let.value.block, let.value.span.column
('big', 'uniform', 11)
"""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer_NonRecursive, Tree, v_args
from lark.tree import Meta

from synthlang.common.errors import Span
from synthlang.lang.nodes import (
    Arg,
    BitsItem,
    BlendItem,
    Bool,
    Call,
    ChannelsItem,
    ColorItem,
    Comparison,
    CondAnd,
    CondNot,
    CondOr,
    ContourItem,
    Degrade,
    Expr,
    Ident,
    Import,
    InItem,
    LayerDecl,
    Length,
    Let,
    ListExpr,
    MaskClassDecl,
    MaskClasses,
    MaskDecl,
    ModifierItem,
    Module,
    NamedSelection,
    Number,
    PixelItem,
    PlaceAttempts,
    PlaceClause,
    PlaceClusters,
    PlaceCount,
    PlaceDensity,
    PlaceDistance,
    PlaceFailures,
    PlaceFill,
    PlaceIn,
    PlaceInside,
    PlaceItem,
    PlaceNear,
    PlaceOverlap,
    PlaceProbability,
    PlaceRandom,
    PlaceRing,
    PlaceSpacing,
    Ref,
    RegionsItem,
    RegionsSelection,
    SceneHeader,
    ShapeItem,
    SizeItem,
    String,
)

__all__ = ["Lower", "lower"]


# --------------------------------------------------------------------------- transformer

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def _unescape(body: str) -> str:
    r"""Resolve ``\"``, ``\\``, ``\n`` and ``\t``; other escapes keep the backslash."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


Children = list[Any]
"""The transformed children of a parse-tree node."""


def _is_token(x: object, *types: str) -> bool:
    return isinstance(x, Token) and (not types or x.type in types)


@v_args(meta=True)
class Lower(Transformer_NonRecursive):
    """Turn a ``synthlang/lang/scene.lark`` parse tree into a :class:`Module`.

    Parameters
    ----------
    file : str or None
        File name recorded in every span (``None`` for a string source).
    source : str or None
        The parsed text; used to find the exact extent of block keywords.
    """

    def __init__(self, file: str | None = None, source: str | None = None) -> None:
        super().__init__(visit_tokens=False)
        self.file = file
        self.source = source

    # -- spans
    def _span(self, meta: Meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> Span:
        line = tok.line or 1
        col = tok.column or 1
        end_line = tok.end_line or line
        end_col = tok.end_column or col + len(tok)
        return Span(self.file, line, col, end_line, end_col)

    def _ident(self, tok: Token) -> Ident:
        return Ident(self._tspan(tok), str(tok))

    def _args(self, children: Children) -> tuple[Arg, ...]:
        return tuple(c for c in children if isinstance(c, Arg))

    def _keyword(self, meta: Meta, span: Span, default: str) -> Span:
        """Span of the word(s) that open a construct (up to the first ``(``)."""
        text = default
        if self.source is not None and not getattr(meta, "empty", True):
            chunk = self.source[meta.start_pos : meta.end_pos]
            text = chunk.split("(", 1)[0].rstrip()
            if "\n" in text:  # a block keyword split over lines: underline the first word
                text = text.split()[0]
        return Span(self.file, span.line, span.column, span.line, span.column + max(len(text), 1))

    def _call(self, block: str, meta: Meta, children: Children) -> Call:
        span = self._span(meta)
        return Call(span, block, self._keyword(meta, span, block), self._args(children))

    # -- file
    def start(self, meta: Meta, children: Children) -> Module:
        """A whole file."""
        return Module(self._span(meta), tuple(children))

    # -- header
    def scene_header(self, meta: Meta, children: Children) -> SceneHeader:
        """``scene NAME { ITEMS }``."""
        name, *items = children
        return SceneHeader(self._span(meta), self._ident(name), tuple(items))

    def size_item(self, meta: Meta, children: Children) -> SizeItem:
        """``size ROWS x COLS [px]`` or ``size N``."""
        rows, cols = children[0], children[1]
        return SizeItem(self._span(meta), rows, cols)

    def pixel_item(self, meta: Meta, children: Children) -> PixelItem:
        """``pixel N um``."""
        tok = children[0]
        return PixelItem(self._span(meta), Number(self._tspan(tok), float(tok), str(tok)))

    def channels_item(self, meta: Meta, children: Children) -> ChannelsItem:
        """``channels [NAME, ...]``."""
        names = tuple(self._ident(t) for t in children if t is not None)
        return ChannelsItem(self._span(meta), names)

    def bits_item(self, meta: Meta, children: Children) -> BitsItem:
        """``bits N``."""
        tok = children[0]
        return BitsItem(self._span(meta), Number(self._tspan(tok), float(tok), str(tok)))

    def regions_item(self, meta: Meta, children: Children) -> RegionsItem:
        """``regions voronoi(N)`` / ``regions fast_marching(N, ...)`` / ``regions NAME``."""
        return RegionsItem(self._span(meta), children[0])

    # -- statements
    def import_stmt(self, meta: Meta, children: Children) -> Import:
        """``import "path.scene"``."""
        return Import(self._span(meta), self.string(meta, children))

    def let_stmt(self, meta: Meta, children: Children) -> Let:
        """``let NAME = VALUE``."""
        name, value = children
        return Let(self._span(meta), self._ident(name), value)

    def layer(self, meta: Meta, children: Children) -> LayerDecl:
        """``layer NAME { ITEMS }``."""
        name, *items = children
        return LayerDecl(self._span(meta), self._ident(name), tuple(items))

    def degrade(self, meta: Meta, children: Children) -> Degrade:
        """``degrade { PASSES }``."""
        return Degrade(self._span(meta), tuple(children))

    def mask_rule(self, meta: Meta, children: Children) -> MaskDecl:
        """``mask TARGET [where CONDITION]``."""
        (target, visible), condition = children
        return MaskDecl(self._span(meta), target, visible, condition)

    def mask_classes(self, meta: Meta, children: Children) -> MaskClasses:
        """``mask classes { CLASSES }``."""
        span, word = self._span(meta), self._tspan(children[0])
        end = word.end_column if word.line == span.line else span.column + len("mask")
        keyword = Span(self.file, span.line, span.column, span.line, end)
        return MaskClasses(span, keyword, tuple(children[1:]))

    def mask_class(self, meta: Meta, children: Children) -> MaskClassDecl:
        """``NAME: TARGET [where C], ...``."""
        return MaskClassDecl(self._span(meta), self._ident(children[0]), tuple(children[1:]))

    def class_target(self, meta: Meta, children: Children) -> MaskDecl:
        """``TARGET [where CONDITION]`` of a class."""
        (target, visible), condition = children
        return MaskDecl(self._span(meta), target, visible, condition)

    def mask_category(self, meta: Meta, children: Children) -> tuple[Ident, bool]:
        """``mask CATEGORY``."""
        return self._ident(children[0]), False

    def mask_visible(self, meta: Meta, children: Children) -> tuple[Ident, bool]:
        """``mask visible(CATEGORY)``."""
        return self._ident(children[0]), True

    # -- layer items
    def shape_item(self, meta: Meta, children: Children) -> ShapeItem:
        """A shape written as a layer item, or ``shape VALUE``."""
        value = children[-1]
        span = self._span(meta)
        explicit = (span.line, span.column) != (value.span.line, value.span.column)
        return ShapeItem(span, value, explicit=explicit)

    def in_item(self, meta: Meta, children: Children) -> InItem:
        """``[not] in SELECTION`` at layer level."""
        invert, selection = children[0] is not None, children[-1]
        return InItem(self._span(meta), selection, invert)

    def color_item(self, meta: Meta, children: Children) -> ColorItem:
        """``color VALUE``."""
        return ColorItem(self._span(meta), "color", children[-1])

    def texture_item(self, meta: Meta, children: Children) -> ColorItem:
        """``texture VALUE``."""
        return ColorItem(self._span(meta), "texture", children[-1])

    def contour(self, meta: Meta, children: Children) -> ContourItem:
        """``contour(ARGS)``."""
        return ContourItem(self._span(meta), self._call("contour", meta, children))

    def soft(self, meta: Meta, children: Children) -> ModifierItem:
        """``soft(ARGS)``."""
        return ModifierItem(self._span(meta), self._call("soft", meta, children))

    def blend_item(self, meta: Meta, children: Children) -> BlendItem:
        """``blend MODE``."""
        return BlendItem(self._span(meta), self._ident(children[0]))

    def chromatin(self, meta: Meta, children: Children) -> ModifierItem:
        """``chromatin(ARGS)``."""
        return ModifierItem(self._span(meta), self._call("chromatin", meta, children))

    def place_item(self, meta: Meta, children: Children) -> PlaceItem:
        """``place CLAUSE, CLAUSE, ...``."""
        span = self._span(meta)
        keyword = Span(self.file, span.line, span.column, span.line, span.column + len("place"))
        clauses: list[PlaceClause] = []
        for c in children:
            if isinstance(c, tuple):
                clauses.extend(c)
            elif c is not None:
                clauses.append(c)
        return PlaceItem(span, keyword, tuple(clauses))

    def place_random(self, meta: Meta, children: Children) -> tuple[PlaceClause, ...]:
        """``random [,] CLAUSE``: the word and the clause it introduces."""
        span = self._span(meta)
        word = Span(self.file, span.line, span.column, span.line, span.column + len("random"))
        return (PlaceRandom(word), children[-1])

    def place_count(self, meta: Meta, children: Children) -> PlaceCount:
        """``count VALUE``."""
        return PlaceCount(self._span(meta), children[0])

    def place_fill(self, meta: Meta, children: Children) -> PlaceFill:
        """``fill`` (as a place clause)."""
        return PlaceFill(self._span(meta))

    def place_inside(self, meta: Meta, children: Children) -> PlaceInside:
        """``inside CATEGORY``."""
        return PlaceInside(self._span(meta), self._ident(children[0]))

    def place_in(self, meta: Meta, children: Children) -> PlaceIn:
        """``[not] in SELECTION`` (as a place clause)."""
        return PlaceIn(self._span(meta), children[-1], children[0] is not None)

    def place_near(self, meta: Meta, children: Children) -> PlaceNear:
        """``[not] near CATEGORY within D``."""
        invert, name, distance = children
        return PlaceNear(self._span(meta), self._ident(name), distance, invert is not None)

    def place_density(self, meta: Meta, children: Children) -> PlaceDensity:
        """``density VALUE``."""
        return PlaceDensity(self._span(meta), children[-1])

    def place_clusters(self, meta: Meta, children: Children) -> PlaceClusters:
        """``clusters(ARGS)``."""
        return PlaceClusters(self._span(meta), self._call("clusters", meta, children))

    def place_overlap(self, meta: Meta, children: Children) -> PlaceOverlap:
        """``overlap MODE [(ARGS)] [with CATEGORIES]``."""
        mode, args, against = children
        return PlaceOverlap(self._span(meta), self._ident(mode), args, against or ())

    def overlap_args(self, meta: Meta, children: Children) -> tuple[Arg, ...]:
        """The ``(ARGS)`` after an overlap mode."""
        return self._args(children)

    def overlap_with(self, meta: Meta, children: Children) -> tuple[Ident, ...]:
        """``with C`` or ``with [C1, C2]``."""
        return tuple(self._ident(c) for c in children if _is_token(c, "NAME"))

    def place_probability(self, meta: Meta, children: Children) -> PlaceProbability:
        """``probability VALUE``."""
        return PlaceProbability(self._span(meta), children[0])

    def place_attempts(self, meta: Meta, children: Children) -> PlaceAttempts:
        """``attempts VALUE``."""
        return PlaceAttempts(self._span(meta), children[0])

    def place_failures(self, meta: Meta, children: Children) -> PlaceFailures:
        """``failures VALUE``."""
        return PlaceFailures(self._span(meta), children[0])

    def place_around(self, meta: Meta, children: Children) -> PlaceRing:
        """``around CATEGORY``."""
        return PlaceRing(self._span(meta), "around", self._ident(children[0]))

    def place_along(self, meta: Meta, children: Children) -> PlaceRing:
        """``along CATEGORY``."""
        return PlaceRing(self._span(meta), "along", self._ident(children[0]))

    def place_distance(self, meta: Meta, children: Children) -> PlaceDistance:
        """``distance VALUE``."""
        return PlaceDistance(self._span(meta), children[0])

    def place_spacing(self, meta: Meta, children: Children) -> PlaceSpacing:
        """``spacing VALUE``."""
        return PlaceSpacing(self._span(meta), children[0])

    # -- selections
    def select_regions(self, meta: Meta, children: Children) -> RegionsSelection:
        """``regions(k of n) [as NAME]`` or ``regions(all) [as NAME]``."""
        (count, total), alias = children
        return RegionsSelection(
            self._span(meta), count, total, self._ident(alias) if alias is not None else None
        )

    def region_count(self, meta: Meta, children: Children) -> tuple[Expr | None, Expr | None]:
        """``k of n`` or ``all``."""
        if len(children) == 1:  # ALL
            return None, None
        return children[0], children[1]

    def select_named(self, meta: Meta, children: Children) -> NamedSelection:
        """A selection by name."""
        return NamedSelection(self._span(meta), str(children[0]))

    # -- conditions
    def cond_or(self, meta: Meta, children: Children) -> CondOr:
        """``A or B ...``."""
        return CondOr(self._span(meta), tuple(children))

    def cond_and(self, meta: Meta, children: Children) -> CondAnd:
        """``A and B ...``."""
        return CondAnd(self._span(meta), tuple(children))

    def cond_not(self, meta: Meta, children: Children) -> CondNot:
        """``not A``."""
        return CondNot(self._span(meta), children[-1])

    def compare(self, meta: Meta, children: Children) -> Comparison:
        """``METRIC OP THRESHOLD``."""
        metric, op, value = children
        return Comparison(self._span(meta), metric, str(op), self._tspan(op), value)

    # -- values
    def number(self, meta: Meta, children: Children) -> Number:
        """A number literal."""
        tok = children[0]
        return Number(self._span(meta), float(tok), str(tok))

    def length(self, meta: Meta, children: Children) -> Length:
        """A length in micrometres, ``5um``."""
        tok = str(children[0])
        return Length(self._span(meta), float(tok[:-2]), tok)

    def negative_length(self, meta: Meta, children: Children) -> Length:
        """``- LENGTH``."""
        tok = str(children[-1])
        return Length(self._span(meta), -float(tok[:-2]), "-" + tok)

    def negative(self, meta: Meta, children: Children) -> Number:
        """``- NUMBER``."""
        tok = children[-1]
        return Number(self._span(meta), -float(tok), "-" + str(tok))

    def string(self, meta: Meta, children: Children) -> String:
        """A string literal."""
        tok = children[0]
        return String(self._tspan(tok), _unescape(str(tok)[1:-1]))

    def true(self, meta: Meta, children: Children) -> Bool:
        """``true``."""
        return Bool(self._span(meta), True)

    def false(self, meta: Meta, children: Children) -> Bool:
        """``false``."""
        return Bool(self._span(meta), False)

    def ref(self, meta: Meta, children: Children) -> Ref:
        """A name in value position."""
        return Ref(self._span(meta), str(children[0]))

    def list(self, meta: Meta, children: Children) -> ListExpr:
        """``[VALUE, ...]``."""
        return ListExpr(self._span(meta), tuple(c for c in children if c is not None))

    def positional(self, meta: Meta, children: Children) -> Arg:
        """A positional argument."""
        return Arg(self._span(meta), None, children[0])

    def keyword(self, meta: Meta, children: Children) -> Arg:
        """A ``name value`` argument."""
        name, value = children
        return Arg(self._span(meta), self._ident(name), value)

    def call(self, meta: Meta, children: Children) -> Call:
        """``NAME(ARGS)``: a value block without a rule of its own."""
        name = children[0]
        span = self._span(meta)
        return Call(span, str(name), self._tspan(name), self._args(children[1:]))

    def __default__(self, data: str, children: Children, meta: Meta) -> Any:
        # Every other building-block rule (ellipse, blur gaussian, count, ...) is a Call.
        return self._call(str(data), meta, children)


def lower(tree: Tree, file: str | None = None, source: str | None = None) -> Module:
    """Lower a parse tree from :func:`synthlang.lang.parse.parse` to a :class:`Module`.

    Parameters
    ----------
    tree : lark.Tree
        The parse tree (rule ``start``).
    file : str, optional
        File name recorded in the spans.
    source : str, optional
        The text that was parsed (gives exact keyword spans).

    Returns
    -------
    Module
        The AST of the file.
    """
    return Lower(file, source).transform(tree)
