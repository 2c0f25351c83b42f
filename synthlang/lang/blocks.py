"""Signatures of the language's building blocks, derived from their IR models.

A building block (a shape, distribution, colour, region decomposition, speed
field, degradation pass, layer item or mask metric) is declared once, on its IR
model (:mod:`synthlang.ir.base`): the model's :class:`~synthlang.ir.base.Block`
names it, its fields in order are the arguments in positional order, and the
fields' constraints say what values are allowed. This module reads those
declarations into :class:`Signature` objects, which the compiler binds written
arguments against (positional or ``name value``), so a wrong argument gets a
precise message::

    ellipse has no argument 'semi_axis'; did you mean 'semi_axes'?

and ``synthlang blocks`` prints as the reference. :data:`SUGAR` holds the one
block that is only a way of writing another (``rgb(r, g, b)`` is an ``mvn``).

Examples
--------
>>> SIGNATURES["uniform"].usage()
'uniform(low, high)'
>>> [p.name for p in SIGNATURES["ellipse"].params]
['semi_axes', 'angle', 'scale']
>>> SIGNATURES["grown"].param("from").field
'source'
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from synthlang import ir
from synthlang.ir.base import Arg, Block, BlockResult

__all__ = [
    "Param",
    "Signature",
    "SIGNATURES",
    "SUGAR",
    "VALUE_KINDS",
    "ValueKind",
    "LAYER_ITEM_KINDS",
    "ANCHOR_KINDS",
    "PARAM_TYPES",
    "signature_of",
    "reference",
    "show",
    "shape_list",
    "join_or",
    "object_shape_list",
]

ValueKind = Literal[BlockResult, "number", "list", "string", "boolean"]
"""The kind of value an expression has: a block's result, or a literal's."""

VALUE_KINDS: tuple[ValueKind, ...] = typing.get_args(ValueKind)
"""The kinds of value an expression can have (used in type-error messages)."""

LAYER_ITEM_KINDS = ("contour", "soft edge", "chromatin")
"""Results of blocks that are layer items (``contour(...)``, ``soft(...)``, ``chromatin(...)``),
never values: they cannot be bound by ``let``."""

ANCHOR_KINDS = ("orientation", "relative size")
"""Results of blocks drawn where an object is placed (``along``, ``across``, ``relative``):
values of a shape's ``angle`` or ``scale`` only, naming a lower layer."""

PARAM_TYPES = {
    "number": "a number",
    "integer": "a whole number",
    "distribution": "a number or a distribution",
    "distributions": "a distribution or a list of distributions",
    "semi_axes": "a distribution or a list of two distributions",
    "angle": "a number, a distribution, along(CATEGORY) or across(CATEGORY)",
    "size": "a number, a distribution or relative(CATEGORY, f)",
    "boolean": "true or false",
    "path": "a folder path in double quotes",
    "speed": "a speed field (gaussian_field(...))",
    "colour": "a colour (rgb(...) or mvn(...))",
    "category": "a category (a layer name)",
    "numbers": "a list of numbers",
    "vector": "a list of numbers, one per channel ([r, g, b] in an RGB scene)",
    "matrix": "a square matrix, one row per channel ([[a, b, c], [d, e, f], [g, h, i]] for RGB)",
}
"""Parameter types the compiler knows how to check, with how messages call them."""


@dataclass(frozen=True)
class Param:
    """One argument of a building block.

    Parameters
    ----------
    name : str
        Keyword used in ``name value`` form.
    type : str
        One of :data:`PARAM_TYPES`.
    required : bool
        Whether the argument must be given.
    check : str, optional
        Range rule on the value, or on every value a distribution can take:
        ``"positive"`` (> 0), ``"nonnegative"`` (>= 0) or ``"unit"`` (in [0, 1]).
    minimum, maximum : float, optional
        Inclusive bounds for numbers, whole numbers and distributions.
    limit : str, optional
        Name of a :class:`synthlang.common.limits.Limits` field that bounds the value
        (for a distribution: its largest possible value).
    integer : bool
        Every value of a distribution must be a whole number.
    field : str
        The IR field the argument fills (``name`` unless the written name differs).
    default : Any
        The IR default (None when required), for the reference.
    doc : str
        One line for the reference.
    """

    name: str
    type: str
    required: bool = False
    check: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    limit: str | None = None
    integer: bool = False
    field: str = ""
    default: Any = None
    doc: str = ""


@dataclass(frozen=True)
class Signature:
    """The arguments and result of one building block.

    Parameters
    ----------
    name : str
        The block's name (``"gaussian_blur"``).
    display : str
        How a user writes the block (``"blur gaussian"``).
    result : str
        The kind of value it produces (one of :data:`VALUE_KINDS`).
    params : tuple of Param
        Arguments in positional order.
    doc : str
        One line for the reference.
    model : type, optional
        The IR model the block builds (None for :data:`SUGAR`).
    fixed : dict
        Fields the block sets itself.
    """

    name: str
    display: str
    result: ValueKind
    params: tuple[Param, ...]
    doc: str = ""
    model: type[ir.IRModel] | None = None
    fixed: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param | None:
        """Return the parameter called ``name`` or ``None``."""
        for p in self.params:
            if p.name == name:
                return p
        return None

    def usage(self) -> str:
        """Return a one-line usage, optional arguments in brackets.

        Examples
        --------
        >>> SIGNATURES["normal"].usage()
        'normal(mean, std)'
        >>> SIGNATURES["area"].usage()
        'area'
        """
        parts = [p.name if p.required else f"[{p.name}]" for p in self.params]
        if not self.params and self.result == "metric":
            return self.display
        return f"{self.display}({', '.join(parts)})"


# --------------------------------------------------------------------------- derivation

_DISTRIBUTION = typing.get_args(ir.Distribution)[0]
_BY_ANNOTATION: dict[Any, str] = {
    float: "number",
    int: "integer",
    bool: "boolean",
    _DISTRIBUTION: "distribution",
    ir.SpeedField: "speed",
    ir.MVNColor: "colour",
    tuple[float, ...]: "numbers",
    tuple[tuple[float, ...], ...]: "matrix",
    typing.cast(Any, tuple)[_DISTRIBUTION, ...]: "distributions",
}


def _param(name: str, info: FieldInfo) -> Param:
    """The parameter that IR field ``name`` declares."""
    arg = next((m for m in info.metadata if isinstance(m, Arg)), Arg())
    kind = arg.type or _BY_ANNOTATION.get(info.annotation)
    if kind is None:
        raise TypeError(f"field {name!r}: no argument type for {info.annotation!r}; add Arg(type=)")
    check, minimum, maximum = arg.check, arg.minimum, arg.maximum
    for m in info.metadata:
        bound = getattr(m, "ge", None), getattr(m, "gt", None), getattr(m, "le", None)
        if isinstance(m, (Ge, Gt)) and kind == "number":
            check = check or ("positive" if isinstance(m, Gt) else "nonnegative")
            if isinstance(m, Ge) and bound[0] != 0 or isinstance(m, Gt) and bound[1] != 0:
                raise TypeError(f"field {name!r}: a lower bound other than 0 needs Arg(minimum=)")
        elif isinstance(m, Ge) and kind == "integer":
            minimum = m.ge if minimum is None else minimum  # type: ignore[assignment]
        elif isinstance(m, Le) and kind in ("integer", "number"):
            maximum = m.le if maximum is None else maximum  # type: ignore[assignment]
        elif isinstance(m, Lt):
            raise TypeError(f"field {name!r}: use le= (bounds are inclusive)")
    if check == "nonnegative" and maximum == 1 and kind == "number":
        check, maximum = "unit", None
    required = info.is_required() and not arg.optional
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    return Param(
        name=arg.name or name,
        type=kind,
        required=required,
        check=check,
        minimum=minimum,
        maximum=maximum,
        limit=arg.limit,
        integer=arg.integer,
        field=name,
        default=default,
        doc=arg.doc or (info.description or ""),
    )


def signature_of(block: Block, model: type[ir.IRModel]) -> Signature:
    """Derive the signature of ``block`` from its IR ``model``.

    The fields other than ``kind``, the block's fixed fields and the fields the
    compiler fills in are the arguments, in field order.
    """
    skip = {"kind", *block.fixed, *block.internal}
    params = tuple(
        _param(name, info) for name, info in model.model_fields.items() if name not in skip
    )
    return Signature(
        name=block.name,
        display=block.display or block.name,
        result=block.result,
        params=params,
        doc=block.doc,
        model=model,
        fixed=dict(block.fixed),
    )


SUGAR: dict[str, Signature] = {
    "rgb": Signature(
        "rgb",
        "rgb",
        "colour",
        (
            Param("r", "number", True, check="unit", field="r"),
            Param("g", "number", True, check="unit", field="g"),
            Param("b", "number", True, check="unit", field="b"),
        ),
        doc="a fixed colour: mvn(mean [r, g, b])",
    ),
}
"""Blocks that are another way of writing an IR model (the compiler says how)."""

SIGNATURES: dict[str, Signature] = {
    **{name: signature_of(block, model) for name, (block, model) in ir.BLOCKS.items()},
    **SUGAR,
}
"""Every building block by name."""


def join_or(items: list[str]) -> str:
    """``a, b or c`` (messages).

    Examples
    --------
    >>> join_or(["a", "b", "c"]), join_or(["a"]), join_or([])
    ('a, b or c', 'a', '')
    """
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def shape_list(calls: bool) -> str:
    """The shapes, as messages list them (``ellipse(...), ..., ribbon(...) or fill``).

    Examples
    --------
    >>> shape_list(False).startswith("ellipse, patch, grown, ribbon")
    True
    """
    names = [n for n, s in SIGNATURES.items() if s.result == "shape"]
    if calls:
        names = [n if n == "fill" else f"{n}(...)" for n in names]
    return join_or(names)


def object_shape_list() -> str:
    """The shapes whose objects are placed one by one (``ellipse, patch``)."""
    return ", ".join(ir.OBJECT_SHAPES)


def show(value: Any) -> str:
    """Write a value as a user would in a scene (distributions, numbers, lists).

    Examples
    --------
    >>> show(ir.Uniform(low=0, high=180)), show(ir.Constant(value=1.5)), show(True)
    ('uniform(0, 180)', '1.5', 'true')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return ir.fmt_number(float(value)) if math.isfinite(value) else str(value)
    if isinstance(value, ir.Constant):
        return ir.fmt_number(value.value)
    if isinstance(value, ir.Uniform):
        return f"uniform({ir.fmt_number(value.low)}, {ir.fmt_number(value.high)})"
    if isinstance(value, ir.RandInt):
        return f"randint({value.low}, {value.high})"
    if isinstance(value, ir.Normal):
        return f"normal({ir.fmt_number(value.mean)}, {ir.fmt_number(value.std)})"
    if isinstance(value, ir.TruncNormal):
        parts = (value.mean, value.std, value.low, value.high)
        return "truncnormal(" + ", ".join(ir.fmt_number(x) for x in parts) + ")"
    if isinstance(value, ir.Choice):
        return "choice([" + ", ".join(ir.fmt_number(v) for v in value.values) + "])"
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, ir.IRModel):
        kind = getattr(value, "kind", type(value).__name__)
        return f"{kind}(...)"
    return str(value)


def reference(names: typing.Iterable[str] | None = None) -> str:
    """The reference of building blocks as Markdown, derived from the declarations.

    Parameters
    ----------
    names : iterable of str, optional
        Blocks to describe (all when omitted), in the order given.

    Returns
    -------
    str
        One section per block: usage, what it makes, and a table of its arguments.

    Examples
    --------
    >>> print(reference(["normal"]))  # doctest: +NORMALIZE_WHITESPACE
    ### `normal(mean, std)`
    <BLANKLINE>
    Gaussian. Makes a distribution.
    <BLANKLINE>
    | argument | type | default | allowed | meaning |
    |---|---|---|---|---|
    | `mean` | a number | required |  | Mean. |
    | `std` | a number | required | >= 0 | Standard deviation (>= 0). |
    """
    out: list[str] = []
    for name in names if names is not None else SIGNATURES:
        sig = SIGNATURES[name]
        out.append(f"### `{sig.usage()}`\n\n{sig.doc[:1].upper() + sig.doc[1:]}. ")
        out[-1] += f"Makes {'an' if sig.result[0] in 'aeiou' else 'a'} {sig.result}.\n"
        if sig.params:
            out.append("| argument | type | default | allowed | meaning |\n|---|---|---|---|---|")
            for p in sig.params:
                allowed = [
                    {"positive": "> 0", "nonnegative": ">= 0", "unit": "in [0, 1]"}.get(
                        p.check or "", ""
                    )
                ]
                if p.minimum is not None:
                    allowed.append(f">= {ir.fmt_number(p.minimum)}")
                if p.maximum is not None:
                    allowed.append(f"<= {ir.fmt_number(p.maximum)}")
                if p.integer:
                    allowed.append("whole numbers")
                if p.limit:
                    allowed.append(f"at most SYNTHLANG_{p.limit.upper()}")
                default = "required" if p.required else show(p.default)
                if not p.required and p.default is None:
                    default = "(see meaning)"
                shown = ", ".join(a for a in allowed if a)
                row = f"| `{p.name}` | {PARAM_TYPES[p.type]} | {default} | {shown} | {p.doc} |"
                out.append(row)
        out.append("")
    return "\n".join(out).rstrip() + "\n"
