"""Parse scene text with the cached Lark LALR parser.

Lark's errors become :class:`~synthlang.common.errors.SceneSyntaxError` with
``file:line:col``, the source line and a caret, and a message that says what
was found and what is allowed there (:mod:`synthlang.lang.syntax_errors`)::

    scenes/bad.scene:3:27: syntax error: missing comma before `angle`: \
separate the arguments of `ellipse(` with commas
        ellipse(semi_axes 3 angle 40)
                            ^^^^^

After parsing, the nesting depth is bounded and every ``NAME(...)`` value is checked
to name a value block.

Examples
--------
>>> tree = parse("let big = uniform(20, 35)")
>>> str(tree.data)
'start'
>>> "layer" in keywords()
True
"""

from __future__ import annotations

from typing import Any

from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from synthlang.common.errors import SceneSyntaxError, Span
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.blocks import SIGNATURES
from synthlang.lang.grammar import (
    GRAMMAR_PATH,
    SOFT_KEYWORDS,
    call_problem,
    did_you_mean,
    get_parser,
    keywords,
    reserved_words,
    unknown_block,
)
from synthlang.lang.syntax_errors import friendly, token_span

__all__ = [
    "GRAMMAR_PATH",
    "SOFT_KEYWORDS",
    "get_parser",
    "parse",
    "keywords",
    "reserved_words",
    "did_you_mean",
]

_NESTING_RULES = frozenset(SIGNATURES) | {
    "call",
    "list",
    "cond_and",
    "cond_or",
    "cond_not",
    "overlap_args",
}


def parse(
    text: str,
    filename: str | None = None,
    *,
    limits: Limits | None = None,
) -> Tree:
    """Parse scene text into a Lark tree.

    Parameters
    ----------
    text : str
        The scene source.
    filename : str, optional
        Name used in error messages (``None``: ``<string>``).
    limits : Limits, optional
        Resource limits (source size, nesting depth); from the environment
        when omitted.

    Returns
    -------
    lark.Tree
        The parse tree, rule ``start``.

    Raises
    ------
    SceneSyntaxError
        If the text does not follow the grammar or nests too deeply.
    SceneLimitError
        If the text is larger than ``limits.max_source_bytes``.

    Examples
    --------
    >>> str(parse("scene s { size 8 x 8 }").children[0].data)
    'scene_header'
    """
    limits = limits or Limits.from_env()
    if len(text) > limits.max_source_bytes:
        raise SceneLimitError(
            f"the scene source has {len(text)} characters, more than the limit of "
            f"{limits.max_source_bytes} (SYNTHLANG_MAX_SOURCE_BYTES)",
            Span(filename, 1, 1, 1, 1),
            source=text,
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        tree = get_parser().parse(text)
    except UnexpectedInput as e:
        raise friendly(e, text, filename) from None
    except LarkError as e:  # pragma: no cover - defensive: any other parser failure
        raise SceneSyntaxError(
            f"cannot parse: {e}", Span(filename, 1, 1, 1, 1), source=text
        ) from None
    _check_nesting(tree, text, filename, limits.max_nesting)
    _check_calls(tree, text, filename)
    return tree


# --------------------------------------------------------------------------- nesting


def _check_nesting(tree: Tree, text: str, filename: str | None, limit: int) -> None:
    """Refuse trees nested deeper than ``limit`` brackets / conditions (iteratively)."""
    stack: list[tuple[Any, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data in _NESTING_RULES:
            depth += 1
            if depth > limit:
                meta = node.meta
                span = Span(filename, meta.line, meta.column, meta.line, meta.column + 1)
                raise SceneSyntaxError(
                    f"too deeply nested: more than {limit} levels of brackets or conditions",
                    span,
                    source=text,
                    hint="split the expression with `let` definitions, or raise "
                    "SYNTHLANG_MAX_NESTING",
                )
        stack.extend((c, depth) for c in node.children)


def _check_calls(tree: Tree, text: str, filename: str | None) -> None:
    """Refuse ``NAME(...)`` values whose name is not a value block (generic ``call`` rule)."""
    for node in tree.iter_subtrees():
        if node.data == "call":
            name = node.children[0]
            assert isinstance(name, Token)
            problem = call_problem(str(name))
            # an unknown name may be a definition called with new arguments (`base(scale 2)`,
            # possibly imported): the compiler decides, where the definitions are known
            if problem is not None and not unknown_block(str(name)):
                message, hint = problem
                span = token_span(name, filename)
                raise SceneSyntaxError(message, span, source=text, hint=hint)
