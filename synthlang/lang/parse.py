"""Parse scene text with the cached Lark LALR parser.

Lark's errors become :class:`~synthlang.common.errors.SceneSyntaxError` with
``file:line:col``, the source line and a caret, and a message that says what
was found and what is allowed there::

    scenes/bad.scene:3:27: syntax error: missing comma before `angle`: \
separate the arguments of `ellipse(` with commas
        ellipse(semi_axes 3 angle 40)
                            ^^^^^

The friendly messages come from the parser state at the error: the set of
tokens it expected and the brackets still open on its stack.

Examples
--------
>>> tree = parse("let big = uniform(20, 35)")
>>> str(tree.data)
'start'
>>> "layer" in keywords()
True
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from synthlang.common.errors import SceneSyntaxError, Span
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.blocks import LAYER_ITEM_KINDS, SIGNATURES

__all__ = [
    "GRAMMAR_PATH",
    "SOFT_KEYWORDS",
    "get_parser",
    "parse",
    "keywords",
    "reserved_words",
    "did_you_mean",
]

GRAMMAR_PATH = Path(__file__).resolve().parent / "scene.lark"
"""The grammar file, shipped inside the package."""

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_STATEMENTS = {
    "SCENE": "scene",
    "IMPORT": "import",
    "LET": "let",
    "LAYER": "layer",
    "DEGRADE": "degrade",
    "MASK": "mask",
}
_LAYER_ITEMS = {"SHAPE", "PLACE", "IN", "NOT", "COLOR", "TEXTURE", "CONTOUR", "SOFT", "CHROMATIN"}
_PLACE_CLAUSES = (
    "count",
    "fill",
    "inside",
    "in",
    "overlap",
    "probability",
    "attempts",
    "failures",
    "random",
)
_VALUE_STARTS = {"NUMBER", "MINUS", "STRING", "TRUE", "FALSE", "NAME", "LSQB"}
_CLOSERS = {"LPAR": "RPAR", "LBRACE": "RBRACE", "LSQB": "RSQB"}
_CLOSER_TEXT = {"RPAR": ")", "RBRACE": "}", "RSQB": "]"}
_VALUE_BLOCKS = tuple(
    name
    for name, sig in SIGNATURES.items()
    if sig.result not in ("degradation", "metric", *LAYER_ITEM_KINDS)
)
_ITEM_EXAMPLES = {
    "contour": "contour(width 1, color rgb(0, 0, 0))",
    "soft": "soft(width uniform(1, 2))",
    "chromatin": "chromatin(amount uniform(0.1, 0.3))",
}
_NESTING_RULES = frozenset(SIGNATURES) | {
    "call",
    "list",
    "cond_and",
    "cond_or",
    "cond_not",
    "overlap_args",
}


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
        if term.pattern.type == "str" and isinstance(value, str) and _WORD.match(value):
            words.add(value)
    return frozenset(words)


SOFT_KEYWORDS = frozenset(
    {
        "x", "of", "size", "where", "and", "or",
        "inside", "count", "overlap", "probability", "attempts", "failures", "random",
        "blur", "noise", "gaussian", "poisson", "concentration", "area",
        "stain", "he", "hed", "brightness", "contrast", "gamma", "saturation", "jpeg", "scale",
    }
)  # fmt: skip
"""Grammar words that are keywords only where a name cannot appear, so they may name things.

`size` in the header, `x` / `of` between numbers, place-clause words after `place` or a
comma, degradation words inside `degrade { }`, metric words inside a `where` condition.
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
        raise _friendly(e, text, filename) from None
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


# --------------------------------------------------------------------------- friendly errors


def _token_span(tok: Token, filename: str | None) -> Span:
    line = tok.line or 1
    col = tok.column or 1
    end_line = tok.end_line or line
    end_col = tok.end_column or col + max(len(tok), 1)
    if end_line != line:
        end_line, end_col = line, col + 1
    return Span(filename, line, col, end_line, max(end_col, col + 1))


def _eof_span(text: str, filename: str | None) -> Span:
    lines = text.rstrip().splitlines() or [""]
    line = len(lines)
    col = len(lines[-1]) + 1
    return Span(filename, line, col, line, col + 1)


def _literal(term: str) -> str | None:
    """The text of a keyword/punctuation terminal, or None for NAME, NUMBER, ..."""
    try:
        pattern = get_parser().get_terminal(term).pattern
    except KeyError:
        return None
    value = getattr(pattern, "value", None)
    return value if pattern.type == "str" and isinstance(value, str) else None


def _found(tok: Token) -> str:
    """Describe the token that was found."""
    if tok.type == "$END":
        return "end of file"
    if tok.type == "NAME":
        return f"name `{tok}`"
    if tok.type == "NUMBER":
        return f"number `{tok}`"
    if tok.type == "STRING":
        return f"string {tok}"
    if tok.type == "COMPARE_OP":
        return f"`{tok}`"
    if _WORD.match(str(tok)):
        return f"keyword `{tok}`"
    return f"`{tok}`"


def _join_or(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _expected(names: set[str]) -> str:
    """Describe a set of expected terminals for a human."""
    names = set(names)
    parts: list[str] = []
    block_terms = {b.upper() for b in SIGNATURES}
    if _STATEMENTS.keys() <= names:
        names -= set(_STATEMENTS)
        parts.append("a statement (scene, import, let, layer, degrade, mask)")
    if {"PLACE", "COLOR", "CONTOUR"} <= names:
        names -= _LAYER_ITEMS
        parts.append("a layer item (a shape, place, in, color, texture, contour, soft, chromatin)")
    metric_terms = {"CONCENTRATION", "COUNT", "VISIBLE", "AREA"}
    if metric_terms <= names:
        names -= metric_terms
        parts.append("a metric (concentration(...), count(...), visible, area)")
    if {"NUMBER", "NAME"} <= names and names & (block_terms | {"LSQB"}):
        names -= _VALUE_STARTS | block_terms
        parts.append("a value (a number, name, list or building block)")
    elif {"NUMBER", "NAME"} <= names:
        names -= {"NUMBER", "NAME", "MINUS"}
        parts.append("a number or a name")
    elif names & block_terms and len(names & block_terms) > 2:
        names -= block_terms
        parts.append("a building block")
    for term in sorted(names):
        if term == "$END":
            parts.append("the end of the file")
        elif term == "NAME":
            parts.append("a name")
        elif term == "NUMBER":
            parts.append("a number")
        elif term == "STRING":
            parts.append('a string ("...")')
        elif term == "COMPARE_OP":
            parts.append("a comparison (>, >=, <, <=, ==, !=)")
        else:
            lit = _literal(term)
            parts.append(f"`{lit}`" if lit is not None else term.lower())
    return _join_or(parts)


def _owner(stack: list[Any], i: int) -> str:
    """Describe the construct opened by the bracket token at ``stack[i]``."""
    opener = stack[i]
    before = [x for x in stack[max(0, i - 3) : i]]
    prev = before[-1] if before else None
    prev2 = before[-2] if len(before) >= 2 else None
    if opener.type == "LBRACE":
        if _is_tok(prev, "NAME") and _is_tok(prev2, "LAYER"):
            return f"layer `{prev}`"
        if _is_tok(prev, "NAME") and _is_tok(prev2, "SCENE"):
            return f"the header `scene {prev}`"
        if _is_tok(prev, "DEGRADE"):
            return "`degrade`"
        return "`{`"
    if opener.type == "LSQB":
        return "the list `[`"
    # LPAR
    if _is_tok(prev, "HE", "HED") and _is_tok(prev2, "STAIN"):
        return f"`{prev2} {prev}(`"
    if _is_tok(prev, "GAUSSIAN", "POISSON") and _is_tok(prev2, "BLUR", "NOISE"):
        return f"`{prev2} {prev}(`"
    if _is_tok(prev, "NAME") and _is_tok(prev2, "OVERLAP"):
        return f"`overlap {prev}(`"
    if isinstance(prev, Token) and _WORD.match(str(prev)) and prev.type != "NAME":
        return f"`{prev}(`"
    if prev is None or _is_tok(prev, "WHERE", "AND", "OR", "NOT", "LPAR"):
        return "the condition `(`"
    return "`(`"


def _is_tok(x: Any, *types: str) -> bool:
    return isinstance(x, Token) and x.type in types


def _open_brackets(stack: list[Any]) -> list[int]:
    """Indices of the bracket tokens still open on the parser's value stack."""
    opened: list[int] = []
    for i, x in enumerate(stack):
        if not isinstance(x, Token):
            continue
        if x.type in _CLOSERS:
            opened.append(i)
        elif x.type in _CLOSER_TEXT and opened and _CLOSERS[stack[opened[-1]].type] == x.type:
            opened.pop()
    return opened


def _at(tok: Token) -> str:
    return f"line {tok.line}, column {tok.column}"


def _friendly(e: UnexpectedInput, text: str, filename: str | None) -> SceneSyntaxError:
    """Turn a Lark error into a SceneSyntaxError with a helpful message."""
    if isinstance(e, UnexpectedCharacters):
        return _bad_character(e, text, filename)
    if not isinstance(e, UnexpectedToken):  # pragma: no cover - LALR raises only these two
        line = getattr(e, "line", 1) or 1
        col = getattr(e, "column", 1) or 1
        return SceneSyntaxError(
            "invalid syntax", Span(filename, line, col, line, col + 1), source=text
        )
    tok: Token = e.token
    expected: set[str] = set(e.expected or ())
    try:
        stack = list(e.interactive_parser.parser_state.value_stack)  # type: ignore[union-attr]
    except AttributeError:  # pragma: no cover - older lark
        stack = []
    message, hint, span = _token_message(tok, expected, stack, text, filename)
    return SceneSyntaxError(message, span, source=text, hint=hint)


def _token_message(
    tok: Token, expected: set[str], stack: list[Any], text: str, filename: str | None
) -> tuple[str, str | None, Span]:
    span = _token_span(tok, filename) if tok.type != "$END" else _eof_span(text, filename)
    found = _found(tok)
    opened = _open_brackets(stack)
    inner = stack[opened[-1]] if opened else None
    owner = _owner(stack, opened[-1]) if opened else ""
    allowed = _expected(expected)

    # -- end of file inside a bracket: point at the bracket that is never closed
    if tok.type == "$END":
        if inner is not None:
            close = _CLOSER_TEXT[_CLOSERS[inner.type]]
            return (
                f"unexpected end of file: {owner} opened here is never closed (missing `{close}`)",
                None,
                _token_span(inner, filename),
            )
        return f"unexpected end of file; expected {allowed}", None, span

    # -- a keyword run together with the letters after it (`stain hematoxylin`, `gaussianx`):
    #    the contextual lexer matched the keyword as a prefix of the word
    prev = stack[-1] if stack else None
    if (
        isinstance(prev, Token)
        and prev.type != "NAME"
        and _WORD.match(str(prev))
        and _WORD.match(str(tok))
        and prev.end_pos == tok.start_pos
    ):
        word = f"{prev}{tok}"
        start = _token_span(prev, filename)
        end = _token_span(tok, filename)
        glued = Span(filename, start.line, start.column, end.end_line, end.end_column)
        if _is_tok(prev, "HE", "HED"):
            return (
                f"unknown stain `{word}`: write `he(...)` (haematoxylin and eosin) or "
                f"`hed(...)` (and DAB) after `stain`",
                None,
                glued,
            )
        return f"unexpected word `{word}`; expected `{prev}`", None, glued

    # -- a closing bracket of the wrong kind, or a statement keyword inside a block
    if inner is not None:
        want = _CLOSERS[inner.type]
        if tok.type in _CLOSER_TEXT and tok.type != want and tok.type not in expected:
            return (
                f"missing `{_CLOSER_TEXT[want]}` before `{tok}`: {owner} at {_at(inner)} is "
                f"not closed",
                None,
                span,
            )
        if tok.type in _STATEMENTS and want in expected | {"RBRACE", "RPAR", "RSQB"}:
            return (
                f"missing `{_CLOSER_TEXT[want]}` before `{tok}`: {owner} at {_at(inner)} is "
                f"not closed",
                None,
                span,
            )
    elif tok.type in _CLOSER_TEXT and tok.type not in expected:
        return f"unmatched `{tok}`: there is no open bracket to close here", None, span

    # -- `=` where it does not belong
    if tok.type == "EQUAL":
        if "COMPARE_OP" in expected:
            return "`=` does not compare: use `==` to test equality", None, span
        if inner is not None and inner.type == "LPAR":
            return (
                f"`=` is not used in the arguments of {owner}: write the argument name, "
                f"a space and the value",
                "for example `ellipse(semi_axes uniform(4, 8), angle 30)`",
                span,
            )
        if _inside_place(stack):
            return (
                "`=` is not used in a place clause: write the clause word and its value",
                "for example `place count 30, probability 0.6`",
                span,
            )
        if inner is not None and inner.type == "LBRACE" and owner.startswith("the header"):
            return (
                "`=` is not used in the header: write `size ROWS x COLS` and `regions ...`",
                None,
                span,
            )
        if inner is not None and inner.type == "LBRACE":
            return (
                f"`=` is not used in {owner}: write the item word and its value, "
                f"e.g. `color rgb(1, 0, 0)`",
                None,
                span,
            )

    # -- a name followed by `(` where no value can stand
    if tok.type == "LPAR" and stack and _is_tok(stack[-1], "NAME"):
        name = str(stack[-1])
        name_span = _token_span(stack[-1], filename)
        problem = _call_problem(name)
        if problem is not None:
            return (*problem, name_span)
        before = stack[-2] if len(stack) > 1 else None
        if _is_tok(before, "REGIONS"):
            what = "write `voronoi(N)`, `fast_marching(N, ...)` or a name after `regions`"
        elif _is_tok(before, "COMPARE_OP", "MINUS"):
            what = "a comparison needs a number (or a name bound to one) on its right"
        else:
            what = "expected " + allowed
        return f"`{name}(...)` cannot be used here: {what}", None, name_span

    # -- missing comma between arguments or list items
    if "COMMA" in expected and inner is not None and inner.type in ("LPAR", "LSQB"):
        if tok.type in _VALUE_STARTS or tok.type.lower() in SIGNATURES:
            what = "list items" if inner.type == "LSQB" else f"the arguments of {owner}"
            return f"missing comma before {found}: separate {what} with commas", None, span

    # -- unknown statement at the top level
    if expected and expected <= set(_STATEMENTS) | {"$END"} and not opened:
        words = list(_STATEMENTS.values())
        guess = did_you_mean(str(tok), words) if tok.type == "NAME" else None
        return (
            f"unexpected {found} at the top level; a scene file contains only "
            f"`scene`, `import`, `let`, `layer`, `degrade` and `mask` statements",
            f"did you mean `{guess}`?" if guess else None,
            span,
        )

    # -- after `blur` / `noise`
    if expected and expected <= {"GAUSSIAN", "POISSON"}:
        kinds = (
            "`gaussian(std)` or `poisson(peak)`" if "POISSON" in expected else "`gaussian(sigma)`"
        )
        guess = did_you_mean(str(tok), ["gaussian", "poisson"]) if tok.type == "NAME" else None
        return (
            f"unexpected {found}: write {kinds} here",
            f"did you mean `{guess}`?" if guess else None,
            span,
        )

    # -- after `stain`
    if expected and expected <= {"HE", "HED"}:
        guess = did_you_mean(str(tok), ["he", "hed"]) if tok.type == "NAME" else None
        return (
            f"unexpected {found}: write `he(...)` (haematoxylin and eosin) or `hed(...)` "
            f"(and DAB) after `stain`",
            f"did you mean `{guess}`?" if guess else None,
            span,
        )

    # -- `overlap` without a mode, `random` without a clause, `size` without `x`
    if stack and _is_tok(stack[-1], "OVERLAP"):
        return (
            f"unexpected {found}: `overlap` needs a mode: `none`, `moderate`, `centers` or "
            f"`allowed`",
            None,
            span,
        )
    if stack and (
        _is_tok(stack[-1], "RANDOM")
        or (len(stack) > 1 and _is_tok(stack[-1], "COMMA") and _is_tok(stack[-2], "RANDOM"))
    ):
        return (
            f"unexpected {found}: `random` must be followed by a place clause",
            "for example `place random in regions(2 of 7), fill` or `place random, count 30`",
            span,
        )
    if stack and _is_tok(stack[-1], "MINUS"):
        return (
            f"unexpected {found}: a minus sign can only stand in front of a number",
            "scene files have no arithmetic",
            span,
        )
    if expected == {"OF"}:
        return f"unexpected {found}: write `regions(k of n)` or `regions(all)`", None, span
    if expected == {"X"}:
        return f"unexpected {found}: write the size as `size ROWS x COLS`", None, span

    # -- a keyword where a name is allowed
    if "NAME" in expected and tok.type not in expected and _WORD.match(str(tok)):
        return (
            f"`{tok}` is a reserved word and cannot be used as a name here",
            "choose another name",
            span,
        )

    # -- inside blocks
    if inner is not None and inner.type == "LBRACE":
        if owner.startswith("the header"):
            guess = did_you_mean(str(tok), ["size", "regions"]) if tok.type == "NAME" else None
            return (
                f"unexpected {found} in {owner}; it holds `size ROWS x COLS` and "
                f"`regions voronoi(N)` / `regions fast_marching(N)`",
                f"did you mean `{guess}`?" if guess else None,
                span,
            )
        if "PLACE" in expected or _PLACE_WORDS & expected:
            guess = None
            if tok.type == "NAME":
                guess = did_you_mean(str(tok), _PLACE_CLAUSES)
            if _PLACE_WORDS & expected and "COUNT" in expected:
                return (
                    f"unexpected {found}: a place clause is `count N`, `fill`, "
                    f"`inside CATEGORY`, `in SELECTION`, `overlap MODE`, `probability P`, "
                    f"`attempts N` or `failures N`",
                    f"did you mean `{guess}`?" if guess else None,
                    span,
                )
        if owner == "`degrade`":
            return (
                f"unexpected {found} in `degrade`; expected `blur gaussian(sigma)`, "
                f"`noise gaussian(std)`, `noise poisson(peak)`, `stain he(...)`, "
                f"`stain hed(...)`, `brightness(factor)`, `contrast(factor)`, "
                f"`gamma(exponent)`, `saturation(factor)`, `jpeg(quality)`, `scale(factor)` "
                f"or `}}`",
                None,
                span,
            )
        return f"unexpected {found} in {owner}; expected {allowed}", None, span

    return f"unexpected {found}; expected {allowed}", None, span


_PLACE_WORDS = {"COUNT", "INSIDE", "OVERLAP", "PROBABILITY", "ATTEMPTS", "FAILURES"}


def _call_problem(name: str) -> tuple[str, str | None] | None:
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
    if name in _VALUE_BLOCKS:
        return None
    if name in _ITEM_EXAMPLES:
        return (
            f"`{name}(...)` is a layer item, not a value: write it inside a layer",
            f"for example `layer cell {{ ... {_ITEM_EXAMPLES[name]} }}`",
        )
    guess = did_you_mean(name, _VALUE_BLOCKS)
    return (
        f"`{name}` is not a building block",
        f"did you mean `{guess}`?" if guess else "building blocks: " + ", ".join(_VALUE_BLOCKS),
    )


def _check_calls(tree: Tree, text: str, filename: str | None) -> None:
    """Refuse ``NAME(...)`` values whose name is not a value block (generic ``call`` rule)."""
    for node in tree.iter_subtrees():
        if node.data == "call":
            name = node.children[0]
            assert isinstance(name, Token)
            problem = _call_problem(str(name))
            if problem is not None:
                message, hint = problem
                span = _token_span(name, filename)
                raise SceneSyntaxError(message, span, source=text, hint=hint)


def _inside_place(stack: list[Any]) -> bool:
    """Whether the innermost open layer block has an unfinished `place` item."""
    for x in reversed(stack):
        if _is_tok(x, "PLACE"):
            return True
        if _is_tok(x, "LBRACE"):
            return False
    return False


def _bad_character(e: UnexpectedCharacters, text: str, filename: str | None) -> SceneSyntaxError:
    line, col = e.line, e.column
    char = e.char
    if char == '"':
        lines = text.splitlines()
        end = len(lines[line - 1]) + 1 if 0 < line <= len(lines) else col + 1
        return SceneSyntaxError(
            'unterminated string: a string must end with `"` on the same line',
            Span(filename, line, col, line, max(end, col + 1)),
            source=text,
        )
    span = Span(filename, line, col, line, col + 1)
    hints = {
        ";": "statements need no `;`: put them on separate lines",
        ":": "`:` is not used in scene files; arguments are written `name value`",
        "=": "`=` is only used in `let NAME = VALUE`; compare with `==`",
        "'": 'strings use double quotes: "..."',
        "{": "`{` opens a block only after `scene NAME`, `layer NAME` or `degrade`",
        "*": "scene files have no arithmetic; write the number itself",
        "+": "scene files have no arithmetic; write the number itself",
        "/": "scene files have no arithmetic; comments start with `#`",
    }
    hint: str | None
    if char.isalpha() or char.isdigit():
        hint = "names use only the letters A-Z and a-z, digits and `_`"
    else:
        hint = hints.get(char)
    return SceneSyntaxError(f"unexpected character `{char}`", span, source=text, hint=hint)
