"""Base of the IR: frozen models, source spans and the declaration of building blocks.

A building block of the language (a shape, distribution, colour, degradation, ...)
is declared once, on its IR model: the model names the block (:class:`Block`), its
fields in order are the block's arguments in positional order, and each field's
constraints (pydantic's ``ge``/``gt``/``le`` and an :class:`Arg` in ``Annotated``
metadata) say what values are allowed. The compiler derives its argument binding,
its messages and the reference tables of the docs from these declarations
(:mod:`synthlang.lang.blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthlang.common.errors import Span

__all__ = ["IRModel", "SourceSpan", "Arg", "Block", "BlockResult", "BLOCKS", "fmt_number"]

Check = Literal["positive", "nonnegative", "unit"]

BlockResult = Literal[
    "distribution",
    "colour",
    "texture",
    "shape",
    "speed field",
    "region decomposition",
    "contour",
    "soft edge",
    "chromatin",
    "degradation",
    "metric",
    "density",
    "clusters",
    "orientation",
    "relative size",
]
"""The kinds of value a building block makes."""


@dataclass(frozen=True)
class Arg:
    """How a field of a building block is written and checked (``Annotated`` metadata).

    Parameters
    ----------
    name : str, optional
        The argument's name in a scene when it differs from the field's (``from``).
    type : str, optional
        The argument type (a key of :data:`synthlang.lang.blocks.PARAM_TYPES`) when the
        field's annotation does not say it: ``"path"``, ``"category"``, ``"semi_axes"``.
    check : {"positive", "nonnegative", "unit"}, optional
        Range rule for a value, or for every value a distribution can take.
    minimum, maximum : float, optional
        Inclusive bounds (for a distribution: of every value it can take).
    limit : str, optional
        A :class:`synthlang.common.limits.Limits` field that bounds the value.
    integer : bool
        Every value a distribution can take must be a whole number.
    optional : bool
        The argument may be omitted although the IR field is required (the compiler
        fills it in: equal weights of ``choice``).
    doc : str
        One line for the reference.
    """

    name: str | None = None
    type: str | None = None
    check: Check | None = None
    minimum: float | None = None
    maximum: float | None = None
    limit: str | None = None
    integer: bool = False
    optional: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Block:
    """The language's name for an IR model: how a building block is written.

    Parameters
    ----------
    name : str
        The name in a scene (``ellipse``), or the grammar rule of a two-word block
        (``gaussian_blur`` for ``blur gaussian``).
    result : str
        The kind of value it makes (``shape``, ``distribution``, ``degradation``, ...).
    doc : str
        One line for the reference.
    display : str, optional
        How a user writes the name when it is not ``name`` (``blur gaussian``).
    fixed : dict, optional
        Fields the block sets itself (``stain he`` sets ``stains="he"``).
    internal : tuple of str
        Fields the compiler fills in (a library's digest): not arguments.
    """

    name: str
    result: BlockResult
    doc: str = ""
    display: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    internal: tuple[str, ...] = ()


BLOCKS: dict[str, tuple[Block, type[IRModel]]] = {}
"""Every building block declared by an IR model, by name, in declaration order."""


class IRModel(BaseModel):
    """Base of all IR models: immutable, no unknown fields.

    A model that is a building block sets ``blocks`` to its :class:`Block` (or several,
    when one model is written in several ways); it is registered in :data:`BLOCKS`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    blocks: ClassVar[tuple[Block, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for block in cls.__dict__.get("blocks", ()):
            if block.name in BLOCKS:
                raise ValueError(f"building block {block.name!r} is declared twice")
            BLOCKS[block.name] = (block, cls)


def fmt_number(x: float) -> str:
    """Format a number compactly for messages (``3`` not ``3.0``).

    Examples
    --------
    >>> fmt_number(3.0), fmt_number(0.25)
    ('3', '0.25')
    """
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


class SourceSpan(IRModel):
    """Where an IR node came from in the scene source (for runtime messages)."""

    file: str | None = Field(None, description="Scene file path, or None for a string source.")
    line: int = Field(..., ge=1, description="1-based start line.")
    column: int = Field(..., ge=1, description="1-based start column.")
    end_line: int = Field(..., ge=1, description="1-based end line.")
    end_column: int = Field(..., ge=1, description="1-based end column (exclusive).")

    def to_span(self) -> Span:
        """Convert to the :class:`synthlang.common.errors.Span` used by errors."""
        return Span(self.file, self.line, self.column, self.end_line, self.end_column)

    @classmethod
    def from_span(cls, span: Span) -> SourceSpan:
        """Build from an error-family :class:`~synthlang.common.errors.Span`."""
        return cls(
            file=span.file,
            line=span.line,
            column=span.column,
            end_line=span.end_line,
            end_column=span.end_column,
        )
