"""The scene AST: plain frozen dataclasses with spans, as written (:mod:`synthlang.lang.lower`).

The AST mirrors the source closely and resolves nothing: names stay names, imports stay
imports, building blocks stay calls with their written arguments. Every node carries a
:class:`~synthlang.common.errors.Span` so that the compiler can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthlang.common.errors import Span

__all__ = [
    "Node",
    "Ident",
    "Number",
    "Length",
    "String",
    "Bool",
    "Ref",
    "ListExpr",
    "Arg",
    "Call",
    "Scoped",
    "Expr",
    "RegionsSelection",
    "NamedSelection",
    "Selection",
    "PlaceCount",
    "PlaceFill",
    "PlaceInside",
    "PlaceRandom",
    "PlaceIn",
    "PlaceNear",
    "PlaceDensity",
    "PlaceClusters",
    "PlaceOverlap",
    "PlaceProbability",
    "PlaceAttempts",
    "PlaceFailures",
    "PlaceRing",
    "PlaceDistance",
    "PlaceSpacing",
    "PlaceClause",
    "ShapeItem",
    "BlendItem",
    "ChannelsItem",
    "BitsItem",
    "HeaderItem",
    "PlaceItem",
    "InItem",
    "ColorItem",
    "ContourItem",
    "ModifierItem",
    "LayerItem",
    "SizeItem",
    "RegionsItem",
    "PixelItem",
    "SceneHeader",
    "Import",
    "Let",
    "LayerDecl",
    "Degrade",
    "Comparison",
    "CondAnd",
    "CondOr",
    "CondNot",
    "Condition",
    "MaskDecl",
    "MaskClassDecl",
    "MaskClasses",
    "Statement",
    "Module",
]


@dataclass(frozen=True)
class Node:
    """Base of all AST nodes.

    Attributes
    ----------
    span : Span
        Where the node is written.
    """

    span: Span


@dataclass(frozen=True)
class Ident(Node):
    """A name as written: a definition, layer, argument or selection name."""

    name: str


@dataclass(frozen=True)
class Number(Node):
    """A number literal, sign included (``-2``, ``0.5``, ``1e-3``)."""

    value: float
    text: str


@dataclass(frozen=True)
class Length(Node):
    """A length in micrometres (``5um``, ``-2um``); the scene's pixel size makes it pixels."""

    value: float
    text: str


@dataclass(frozen=True)
class String(Node):
    """A string literal with escapes resolved."""

    value: str


@dataclass(frozen=True)
class Bool(Node):
    """``true`` or ``false``."""

    value: bool


@dataclass(frozen=True)
class Ref(Node):
    """A use of a name in value position (a ``let`` definition)."""

    name: str


@dataclass(frozen=True)
class ListExpr(Node):
    """``[a, b, c]``."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Arg(Node):
    """One argument of a call: ``name value`` (keyword) or ``value`` (positional)."""

    name: Ident | None
    value: Expr


@dataclass(frozen=True)
class Call(Node):
    """A building block with its arguments, e.g. ``uniform(2, 5)``.

    Attributes
    ----------
    block : str
        The grammar rule name (``"ellipse"``, ``"gaussian_blur"``, ...).
    keyword : Span
        Span of the block's keyword(s), e.g. ``ellipse`` or ``noise gaussian``.
    args : tuple of Arg
        The arguments in written order.
    """

    block: str
    keyword: Span
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Scoped(Node):
    """An expression evaluated in another file's names (never parsed).

    The compiler makes it for an argument of a definition called with new arguments
    (``base(scale 2)``, :meth:`synthlang.lang.bind.Binder.derived_call`): the definition's own
    arguments keep the names of the file that wrote them. ``module`` is that file's
    :class:`~synthlang.lang.context.SourceFile`.
    """

    expr: Expr
    module: object


Expr = Number | Length | String | Bool | Ref | ListExpr | Call | Scoped


@dataclass(frozen=True)
class RegionsSelection(Node):
    """``regions(k of n) [as NAME]`` or ``regions(all) [as NAME]`` (``count`` None)."""

    count: Expr | None
    total: Expr | None
    alias: Ident | None


@dataclass(frozen=True)
class NamedSelection(Node):
    """A selection named earlier or later with ``as NAME``."""

    name: str


Selection = RegionsSelection | NamedSelection


@dataclass(frozen=True)
class PlaceCount(Node):
    """``count D``."""

    value: Expr


@dataclass(frozen=True)
class PlaceFill(Node):
    """``fill``."""


@dataclass(frozen=True)
class PlaceInside(Node):
    """``inside CATEGORY``."""

    host: Ident


@dataclass(frozen=True)
class PlaceRandom(Node):
    """The optional word ``random`` (its clause follows it in the clause list)."""


@dataclass(frozen=True)
class PlaceIn(Node):
    """``in SELECTION`` or ``not in SELECTION``."""

    selection: Selection
    invert: bool


@dataclass(frozen=True)
class PlaceNear(Node):
    """``[not] near CATEGORY within D``: object centres near (or not near) another layer."""

    host: Ident
    distance: Expr
    invert: bool


@dataclass(frozen=True)
class PlaceDensity(Node):
    """``density VALUE``: where object centres are likely (a field or a falloff)."""

    value: Expr


@dataclass(frozen=True)
class PlaceClusters(Node):
    """``clusters(ARGS)``: objects in clusters (a placement mode)."""

    call: Call


@dataclass(frozen=True)
class PlaceOverlap(Node):
    """``overlap MODE[(args)] [with C | with [C1, C2]]``."""

    mode: Ident
    args: tuple[Arg, ...] | None
    against: tuple[Ident, ...]


@dataclass(frozen=True)
class PlaceProbability(Node):
    """``probability p``."""

    value: Expr


@dataclass(frozen=True)
class PlaceAttempts(Node):
    """``attempts N``."""

    value: Expr


@dataclass(frozen=True)
class PlaceFailures(Node):
    """``failures N``."""

    value: Expr


@dataclass(frozen=True)
class PlaceRing(Node):
    """``around CATEGORY`` or ``along CATEGORY`` (``word``): rings of objects on another layer."""

    word: str
    host: Ident


@dataclass(frozen=True)
class PlaceDistance(Node):
    """``distance D`` (of ``around``)."""

    value: Expr


@dataclass(frozen=True)
class PlaceSpacing(Node):
    """``spacing D`` (of ``around`` / ``along``)."""

    value: Expr


PlaceClause = (
    PlaceCount
    | PlaceFill
    | PlaceInside
    | PlaceRandom
    | PlaceIn
    | PlaceNear
    | PlaceDensity
    | PlaceClusters
    | PlaceOverlap
    | PlaceProbability
    | PlaceAttempts
    | PlaceFailures
    | PlaceRing
    | PlaceDistance
    | PlaceSpacing
)


@dataclass(frozen=True)
class ShapeItem(Node):
    """The shape of a layer (``explicit`` when written ``shape VALUE``)."""

    value: Expr
    explicit: bool


@dataclass(frozen=True)
class PlaceItem(Node):
    """``place CLAUSE, CLAUSE, ...`` (``keyword`` is the span of ``place``)."""

    keyword: Span
    clauses: tuple[PlaceClause, ...]


@dataclass(frozen=True)
class InItem(Node):
    """``in SELECTION`` / ``not in SELECTION`` at layer level."""

    selection: Selection
    invert: bool


@dataclass(frozen=True)
class ColorItem(Node):
    """``color VALUE`` or ``texture VALUE`` (``keyword`` says which was written)."""

    keyword: str
    value: Expr


@dataclass(frozen=True)
class ContourItem(Node):
    """``contour(width 1, color C)``."""

    call: Call


@dataclass(frozen=True)
class ModifierItem(Node):
    """``soft(width W)`` or ``chromatin(amount A, ...)``: how a layer's objects look.

    ``call.block`` says which modifier it is.
    """

    call: Call


@dataclass(frozen=True)
class BlendItem(Node):
    """``blend MODE`` (``over`` or ``additive``): how a layer meets what lies below."""

    mode: Ident


LayerItem = ShapeItem | PlaceItem | InItem | ColorItem | ContourItem | ModifierItem | BlendItem


@dataclass(frozen=True)
class SizeItem(Node):
    """``size ROWS x COLS`` (``cols`` None for ``size N``, a square)."""

    rows: Expr
    cols: Expr | None


@dataclass(frozen=True)
class PixelItem(Node):
    """``pixel N um`` in the header: the size of a pixel in micrometres."""

    value: Number


@dataclass(frozen=True)
class RegionsItem(Node):
    """``regions VALUE`` in the header."""

    value: Expr


@dataclass(frozen=True)
class ChannelsItem(Node):
    """``channels [NAME, ...]`` in the header: one name per image channel."""

    names: tuple[Ident, ...]


@dataclass(frozen=True)
class BitsItem(Node):
    """``bits N`` in the header: the bit depth of the image files."""

    value: Number


HeaderItem = SizeItem | RegionsItem | PixelItem | ChannelsItem | BitsItem


@dataclass(frozen=True)
class SceneHeader(Node):
    """``scene NAME { ... }``."""

    name: Ident
    items: tuple[HeaderItem, ...]


@dataclass(frozen=True)
class Import(Node):
    """``import "path.scene"``."""

    path: String


@dataclass(frozen=True)
class Let(Node):
    """``let NAME = VALUE``."""

    name: Ident
    value: Expr


@dataclass(frozen=True)
class LayerDecl(Node):
    """``layer NAME { ITEMS }``."""

    name: Ident
    items: tuple[LayerItem, ...]


@dataclass(frozen=True)
class Degrade(Node):
    """``degrade { PASSES }``; each pass is a :class:`Call` (``gaussian_blur``, ...)."""

    passes: tuple[Call, ...]


@dataclass(frozen=True)
class Comparison(Node):
    """``METRIC OP VALUE``; the metric is a :class:`Call` (``concentration``, ``area``, ...)."""

    metric: Call
    op: str
    op_span: Span
    value: Expr


@dataclass(frozen=True)
class CondAnd(Node):
    """``A and B [and ...]``."""

    args: tuple[Condition, ...]


@dataclass(frozen=True)
class CondOr(Node):
    """``A or B [or ...]``."""

    args: tuple[Condition, ...]


@dataclass(frozen=True)
class CondNot(Node):
    """``not A``."""

    arg: Condition


Condition = Comparison | CondAnd | CondOr | CondNot


@dataclass(frozen=True)
class MaskDecl(Node):
    """``mask CATEGORY [where C]`` or ``mask visible(CATEGORY) [where C]``."""

    category: Ident
    visible: bool
    condition: Condition | None


@dataclass(frozen=True)
class MaskClassDecl(Node):
    """``NAME: TARGET [where C], ...`` in ``mask classes { }``; each target a :class:`MaskDecl`."""

    name: Ident
    targets: tuple[MaskDecl, ...]


@dataclass(frozen=True)
class MaskClasses(Node):
    """``mask classes { CLASSES }``; ``keyword`` is the span of the words ``mask classes``."""

    keyword: Span
    classes: tuple[MaskClassDecl, ...]


Statement = SceneHeader | Import | Let | LayerDecl | Degrade | MaskDecl | MaskClasses


@dataclass(frozen=True)
class Module(Node):
    """A whole file: its statements in written order."""

    statements: tuple[Statement, ...]
