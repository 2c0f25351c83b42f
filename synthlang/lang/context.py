"""State shared by the compiler's parts: evaluated values, loaded files, errors.

The compiler (:mod:`synthlang.lang.compile`) is one object assembled from layers,
each in its own module and each a subclass of the one below:
:class:`CompilerBase` (state, errors) -> :class:`~synthlang.lang.loader.Loader`
(files and imports) -> :class:`~synthlang.lang.names.Evaluator` (``let`` names and
expressions) -> :class:`~synthlang.lang.bind.Binder` (building-block arguments) ->
:class:`~synthlang.lang.regions.RegionCompiler` (region selections) ->
:class:`~synthlang.lang.placement.PlacementCompiler` (place clauses, categories) ->
:class:`~synthlang.lang.layers.LayerCompiler` (layers) ->
:class:`~synthlang.lang.scene.SceneCompiler` (header, regions, masks, the Scene).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synthlang import ir
from synthlang.common.channels import RGB_CHANNELS
from synthlang.common.errors import SceneError, Span, SynthlangError
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.blocks import ValueKind
from synthlang.lang.grammar import reserved_words
from synthlang.lang.nodes import (
    Degrade,
    Import,
    LayerDecl,
    Let,
    MaskClasses,
    MaskDecl,
    Module,
    RegionsSelection,
    SceneHeader,
)

__all__ = [
    "CategoryRef",
    "Value",
    "BoundArg",
    "SourceFile",
    "CompilerBase",
    "MAX_NUMBER",
    "STATEMENT_WORDS",
    "article",
    "word_span",
]

MAX_NUMBER = 1e12
"""Largest magnitude of a number in a scene: far beyond any meaningful value, and small
enough that no sum, difference or float32 conversion of such numbers overflows."""

STATEMENT_WORDS = {
    SceneHeader: "scene",
    Import: "import",
    Let: "let",
    LayerDecl: "layer",
    Degrade: "degrade",
    MaskDecl: "mask",
    MaskClasses: "mask",
}
"""The word that starts each kind of statement."""


@dataclass(frozen=True)
class CategoryRef:
    """A category named inside a value (``grown(from C)``, ``concentration(C, ...)``).

    ``lower``: the category must name a layer below the one that uses the value
    (``along(C)``, ``relative(C, f)``: drawn from objects that exist when it is placed).
    """

    name: str
    span: Span
    role: str
    lower: bool = False


@dataclass(frozen=True)
class Value:
    """An evaluated expression: its kind, payload and where it was written."""

    kind: ValueKind
    data: Any
    span: Span
    name: str | None = None
    refs: tuple[CategoryRef, ...] = ()
    origin: Path | None = None
    text: str | None = None


@dataclass(frozen=True)
class BoundArg:
    """A bound, checked argument (``span`` None when the default applies)."""

    value: Any
    span: Span | None
    refs: tuple[CategoryRef, ...] = ()

    @property
    def given(self) -> bool:
        """Whether the argument was written (else its default applies)."""
        return self.span is not None


@dataclass
class SourceFile:
    """One loaded file."""

    key: Path | None
    display: str | None
    source: str
    ast: Module
    folder: Path
    imports: list[Path | None] = field(default_factory=list)


def article(kind: str) -> str:
    """``a shape``, ``an ellipse``."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def word_span(span: Span, word: str) -> Span:
    """The span of ``word`` written at the start of ``span``."""
    return Span(span.file, span.line, span.column, span.line, span.column + len(word))


class CompilerBase:
    """State of one compilation (nothing outlives it) and how errors are made."""

    def __init__(self, limits: Limits, search: tuple[Path, ...] = ()) -> None:
        self.limits = limits
        self.search = search
        self.found: dict[tuple[Path | None, str], Path] = {}
        self.compiled: dict[str, ir.Layer] = {}
        self.image_size: tuple[int, int] = (1, 1)
        self.pixel_um: float | None = None
        self.modules: dict[Path | None, SourceFile] = {}
        self.order: list[SourceFile] = []
        self.sources: dict[str | None, str] = {}
        self.defs: dict[str, tuple[Let, SourceFile]] = {}
        self.memo: dict[str, Value] = {}
        self.evaluating: list[str] = []
        self.reach: dict[Path | None, set[Path | None]] = {}
        self.depth = 0
        self.libraries: dict[tuple[Path, str], tuple[str, str, dict[str, Any]]] = {}
        self.layer_index: dict[str, int] = {}
        self.layer_spans: dict[str, Span] = {}
        self.shape_refs: dict[str, CategoryRef] = {}
        self.region_total: int | None = None
        self.region_span: Span | None = None
        self.size_span: Span | None = None
        self.cursor = 0
        self.taken: list[tuple[str, Span]] = []
        self.selection_defs: dict[str, RegionsSelection] = {}
        self.selections: dict[str, ir.RegionSelection] = {}
        self.keywords = reserved_words()
        self.channels: tuple[str, ...] = RGB_CHANNELS
        self.colour_spans: dict[int, tuple[Any, Span, str]] = {}

    def error(
        self,
        message: str,
        span: Span | None,
        *,
        hint: str | None = None,
        cls: type[SynthlangError] = SceneError,
    ) -> SynthlangError:
        """Make a positioned error (with the source line) for ``span``."""
        source = self.sources.get(span.file) if span is not None else None
        return cls(message, span, source=source, hint=hint)

    def limit_error(self, message: str, span: Span | None, var: str) -> SynthlangError:
        """Make a resource-limit error naming the variable that raises the limit."""
        return self.error(
            message,
            span,
            hint=f"raise the limit with the environment variable {var}",
            cls=SceneLimitError,
        )

    def build(self, cls: Callable[..., Any], at: Span, /, **kwargs: Any) -> Any:
        """Construct an IR model; a validation failure becomes a SceneError at ``at``."""
        try:
            return cls(**kwargs)
        except ValidationError as e:
            first = e.errors()[0]
            loc = first.get("loc", ())
            error = first.get("ctx", {}).get("error")
            if not loc and first.get("type") == "value_error" and error is not None:
                # a model's own rule (uniform needs low <= high): its message is for users
                raise self.error(str(error), at) from None
            where = ".".join(str(x) for x in loc)
            msg = first.get("msg", "invalid value")
            raise self.error(f"invalid {where or 'value'}: {msg}", at) from None
