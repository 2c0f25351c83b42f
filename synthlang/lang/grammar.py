"""The grammar file, the cached parser built from it, and its vocabulary.

``synthlang/lang/scene.lark`` is loaded once (LALR, positions kept); its keywords,
the words that can still name things (:data:`SOFT_KEYWORDS`), the value blocks a
``NAME(...)`` call may name (:func:`call_problem`) and name suggestions
(:func:`did_you_mean`) are here for the parser, its error messages and the compiler.

Examples
--------
>>> "layer" in keywords()
True
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark

from synthlang.lang.blocks import LAYER_ITEM_KINDS, SIGNATURES

__all__ = [
    "GRAMMAR_PATH",
    "SOFT_KEYWORDS",
    "STATEMENTS",
    "PLACE_CLAUSES",
    "WORD",
    "get_parser",
    "keywords",
    "reserved_words",
    "did_you_mean",
    "call_problem",
    "unknown_block",
    "value_blocks",
]

GRAMMAR_PATH = Path(__file__).resolve().parent / "scene.lark"
"""The grammar file, shipped inside the package."""

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
"""A whole word (name or keyword)."""

STATEMENTS = {
    "SCENE": "scene",
    "IMPORT": "import",
    "LET": "let",
    "LAYER": "layer",
    "DEGRADE": "degrade",
    "MASK": "mask",
}
"""The terminals that start a statement, and their words."""

PLACE_CLAUSES = (
    "count",
    "fill",
    "inside",
    "in",
    "overlap",
    "probability",
    "attempts",
    "failures",
    "random",
    "near",
    "density",
    "clusters",
    "around",
    "along",
    "distance",
    "spacing",
)
"""The words that start a place clause."""

_ITEM_EXAMPLES = {
    "contour": "contour(width 1, color rgb(0, 0, 0))",
    "soft": "soft(width uniform(1, 2))",
    "chromatin": "chromatin(amount uniform(0.1, 0.3))",
}


def value_blocks() -> tuple[str, ...]:
    """The blocks that make values (not degradations, metrics or layer items)."""
    return tuple(
        name
        for name, sig in SIGNATURES.items()
        if sig.result not in ("degradation", "metric", *LAYER_ITEM_KINDS)
    )


@lru_cache(maxsize=1)
def get_parser() -> Lark:
    """Return the scene parser, built once from ``synthlang/lang/scene.lark``.

    Returns
    -------
    lark.Lark
        An LALR parser with positions kept.
    """
    return Lark.open(
        GRAMMAR_PATH.name,
        rel_to=str(GRAMMAR_PATH),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
    )


@lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """Return the reserved words of the language (every word the grammar uses).

    Examples
    --------
    >>> {"fill", "place", "where"} <= keywords()
    True
    """
    words = set()
    for term in get_parser().terminals:
        value = getattr(term.pattern, "value", None)
        if term.pattern.type == "str" and isinstance(value, str) and WORD.match(value):
            words.add(value)
    return frozenset(words)


SOFT_KEYWORDS = frozenset(
    {
        "x", "of", "size", "where", "and", "or",
        "inside", "count", "overlap", "probability", "attempts", "failures", "random",
        "blur", "noise", "gaussian", "poisson", "concentration", "area",
        "stain", "he", "hed", "brightness", "contrast", "gamma", "saturation", "focus", "jpeg",
        "scale",
        "classes", "pixel", "um", "px", "near", "within", "density", "clusters",
        "around", "along", "distance", "spacing",
        "channels", "bits",
    }
)  # fmt: skip
"""Grammar words that are keywords only where a name cannot appear, so they may name things.

`size`, `channels` and `bits` in the header, `x` / `of` between numbers, place-clause words
after `place` or a comma, degradation words inside `degrade { }`, metric words inside a
`where` condition, `classes` after `mask` (where `mask classes` not followed by `{` is still
the rule of a layer named `classes`).
"""


@lru_cache(maxsize=1)
def reserved_words() -> frozenset[str]:
    """Return the words that cannot name a definition, layer or region selection.

    These are the grammar's keywords (:func:`keywords`) except
    :data:`SOFT_KEYWORDS`.

    Examples
    --------
    >>> "fill" in reserved_words(), "size" in reserved_words()
    (True, False)
    """
    return keywords() - SOFT_KEYWORDS


def did_you_mean(name: str, candidates: Any) -> str | None:
    """Return the closest candidate to ``name`` (difflib), or ``None``.

    Examples
    --------
    >>> did_you_mean("semi_axis", ["semi_axes", "angle"])
    'semi_axes'
    """
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_block(name: str) -> bool:
    """Whether ``name(...)`` names no block, metric, degradation or layer item of the language."""
    return name not in SIGNATURES and name not in _ITEM_EXAMPLES


def call_problem(name: str) -> tuple[str, str | None] | None:
    """Why ``name(...)`` cannot be a value (message, hint), or None when it is a value block."""
    sig = SIGNATURES.get(name)
    if sig is not None and sig.result == "metric":
        return (
            f"`{name}(...)` is a mask metric; it can only be used in a `mask ... where` condition",
            None,
        )
    if sig is not None and sig.result == "degradation":
        return (
            f"`{name}(...)` is a degradation; write it inside `degrade {{ ... }}`",
            f"for example `degrade {{ {sig.usage()} }}`",
        )
    if name in value_blocks():
        return None
    if name in _ITEM_EXAMPLES:
        return (
            f"`{name}(...)` is a layer item, not a value: write it inside a layer",
            f"for example `layer cell {{ ... {_ITEM_EXAMPLES[name]} }}`",
        )
    guess = did_you_mean(name, value_blocks())
    return (
        f"`{name}` is not a building block",
        f"did you mean `{guess}`?" if guess else "building blocks: " + ", ".join(value_blocks()),
    )
