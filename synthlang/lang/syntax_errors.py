"""Friendly syntax errors: what was found, what is allowed, and where, from the parser state.

Lark's ``UnexpectedToken`` carries the token that was found, the set of terminals the
LALR parser would have accepted, and the parser's value stack (the brackets still open,
the words before the error). :func:`friendly` turns it into a
:class:`~synthlang.common.errors.SceneSyntaxError`: the :data:`RULES` are asked in
order, each a small function of that state that either words the error or passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from synthlang.common.errors import SceneSyntaxError, Span
from synthlang.lang.blocks import SIGNATURES, join_or
from synthlang.lang.grammar import (
    PLACE_CLAUSES,
    STATEMENTS,
    WORD,
    call_problem,
    did_you_mean,
    get_parser,
)

__all__ = ["friendly", "RULES", "token_span"]

_STATEMENTS = STATEMENTS
_WORD = WORD
_PLACE_CLAUSES = PLACE_CLAUSES
_LAYER_ITEMS = {"SHAPE", "PLACE", "IN", "NOT", "COLOR", "TEXTURE", "CONTOUR", "SOFT", "CHROMATIN"}
_VALUE_STARTS = {"NUMBER", "MINUS", "STRING", "TRUE", "FALSE", "NAME", "LSQB"}
_CLOSERS = {"LPAR": "RPAR", "LBRACE": "RBRACE", "LSQB": "RSQB"}
_CLOSER_TEXT = {"RPAR": ")", "RBRACE": "}", "RSQB": "]"}
_PLACE_WORDS = {"COUNT", "INSIDE", "OVERLAP", "PROBABILITY", "ATTEMPTS", "FAILURES"}

_UNITS = {"µm", "nm", "mm", "px", "pixel", "pixels", "micron", "microns"}
"""Units someone may write after a number."""

_Message = tuple[str, "str | None", Span]
"""An error's message, hint and span."""


@dataclass(frozen=True)
class _Context:
    """The parser state at an unexpected token, and what the rules derive from it."""

    tok: Token
    expected: set[str]
    stack: list[Any]
    text: str
    filename: str | None
    span: Span
    found: str
    opened: list[int]
    inner: Any
    owner: str
    allowed: str


def token_span(tok: Token, filename: str | None) -> Span:
    """The span of a token (one line; at least one column)."""
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
    return join_or(parts)


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
        if _is_tok(prev, "CLASSES"):
            return "`mask classes`"
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


def friendly(e: UnexpectedInput, text: str, filename: str | None) -> SceneSyntaxError:
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
) -> _Message:
    span = token_span(tok, filename) if tok.type != "$END" else _eof_span(text, filename)
    opened = _open_brackets(stack)
    c = _Context(
        tok=tok,
        expected=expected,
        stack=stack,
        text=text,
        filename=filename,
        span=span,
        found=_found(tok),
        opened=opened,
        inner=stack[opened[-1]] if opened else None,
        owner=_owner(stack, opened[-1]) if opened else "",
        allowed=_expected(expected),
    )
    for rule in RULES:
        message = rule(c)
        if message is not None:
            return message
    return f"unexpected {c.found}; expected {c.allowed}", None, span


def _end_of_file(c: _Context) -> _Message | None:
    """End of file inside a bracket: point at the bracket that is never closed."""
    tok = c.tok
    filename = c.filename
    span = c.span
    inner = c.inner
    owner = c.owner
    allowed = c.allowed
    if tok.type == "$END":
        if inner is not None:
            close = _CLOSER_TEXT[_CLOSERS[inner.type]]
            return (
                f"unexpected end of file: {owner} opened here is never closed (missing `{close}`)",
                None,
                token_span(inner, filename),
            )
        return f"unexpected end of file; expected {allowed}", None, span
    return None


def _glued_keyword(c: _Context) -> _Message | None:
    """A keyword run together with the letters after it (`stain hematoxylin`, `gaussianx`).

    The contextual lexer matched the keyword as a prefix of the word.
    """
    tok = c.tok
    stack = c.stack
    filename = c.filename
    prev = stack[-1] if stack else None
    if (
        isinstance(prev, Token)
        and prev.type != "NAME"
        and _WORD.match(str(prev))
        and _WORD.match(str(tok))
        and prev.end_pos == tok.start_pos
    ):
        word = f"{prev}{tok}"
        start = token_span(prev, filename)
        end = token_span(tok, filename)
        glued = Span(filename, start.line, start.column, end.end_line, end.end_column)
        if _is_tok(prev, "HE", "HED"):
            return (
                f"unknown stain `{word}`: write `he(...)` (haematoxylin and eosin) or "
                f"`hed(...)` (and DAB) after `stain`",
                None,
                glued,
            )
        return f"unexpected word `{word}`; expected `{prev}`", None, glued
    return None


def _wrong_closer(c: _Context) -> _Message | None:
    """A closing bracket of the wrong kind, or a statement keyword inside a block."""
    tok = c.tok
    expected = c.expected
    span = c.span
    inner = c.inner
    owner = c.owner
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
    return None


def _stray_equals(c: _Context) -> _Message | None:
    """`=` where it does not belong."""
    tok = c.tok
    expected = c.expected
    stack = c.stack
    span = c.span
    inner = c.inner
    owner = c.owner
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
    return None


_CLASS_ENTRY = (
    "each class is `NAME: TARGET, TARGET, ...` on its own line; a target is `CATEGORY` or "
    "`visible(CATEGORY)`, optionally followed by `where CONDITION`"
)


def _in_classes(c: _Context) -> _Message | None:
    """Inside `mask classes { }`: the class entries `NAME: TARGET, ...`."""
    tok, stack, span = c.tok, c.stack, c.span
    if c.owner != "`mask classes`" or c.inner is None or c.inner.type != "LBRACE":
        return None
    prev = stack[-1]  # the open `{` at least
    colons = [i for i, x in enumerate(stack) if _is_tok(x, "COLON")]
    owner = f"class `{stack[colons[-1] - 1]}`" if colons else "a class"
    if tok.type == "COLON" and _is_tok(prev, "NAME") and _is_tok(stack[-2], "COMMA"):
        return (
            f"this comma continues the targets of {owner}, so `{prev}` (line {prev.line}) is "
            f"read as one more target, not as a new class",
            "remove the comma after the last target of a class",
            token_span(stack[-2], c.filename),
        )
    if tok.type == "RBRACE" and _is_tok(prev, "COMMA"):
        return (
            f"the targets of {owner} end with a comma: remove it or add a target",
            None,
            token_span(prev, c.filename),
        )
    if c.expected == {"COLON"} and tok.type == "LPAR" and _is_tok(prev, "NAME"):
        return (
            f"a class entry starts with the class name: write `NAME: {prev}(...)`",
            _CLASS_ENTRY,
            token_span(prev, c.filename),
        )
    if c.expected == {"COLON"}:
        return (
            f"unexpected {c.found}: write `:` after the class name `{prev}`",
            f"for example `{prev}: CATEGORY`",
            span,
        )
    return f"unexpected {c.found} in `mask classes`; expected {c.allowed}", _CLASS_ENTRY, span


def _stray_colon(c: _Context) -> _Message | None:
    """`:` outside `mask classes { }`."""
    if c.tok.type == "COLON" and "COLON" not in c.expected:
        return (
            "`:` is only used after a class name in `mask classes { NAME: TARGET }`",
            "arguments and items are written `name value`, e.g. `ellipse(semi_axes 4)`",
            c.span,
        )
    return None


def _name_before_paren(c: _Context) -> _Message | None:
    """A name followed by `(` where no value can stand."""
    tok = c.tok
    stack = c.stack
    filename = c.filename
    allowed = c.allowed
    if tok.type == "LPAR" and stack and _is_tok(stack[-1], "NAME"):
        name = str(stack[-1])
        name_span = token_span(stack[-1], filename)
        problem = call_problem(name)
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
    return None


def _last_token(x: Any) -> Token | None:
    """The last token of a parse-stack entry (a token, or a reduced rule's tree)."""
    while isinstance(x, Tree) and x.children:
        x = x.children[-1]
    return x if isinstance(x, Token) else None


def _missing_comma(c: _Context) -> _Message | None:
    """Missing comma between arguments or list items."""
    tok = c.tok
    expected = c.expected
    span = c.span
    found = c.found
    inner = c.inner
    owner = c.owner
    if "COMMA" in expected and inner is not None and inner.type in ("LPAR", "LSQB"):
        prev = _last_token(c.stack[-1]) if c.stack else None
        glued = prev is not None and prev.end_pos == tok.start_pos
        if tok.type == "NAME" and str(tok).lower() in _UNITS and glued:
            return (
                f"`{prev}{tok}`: lengths are written in pixels, or in micrometres as "
                f"`{prev}um` with the pixel size in the header (`pixel 0.5 um`)",
                "at the paper's 20x (0.5 um per pixel) 10 um are 20 px",
                span,
            )
        if tok.type in _VALUE_STARTS or tok.type.lower() in SIGNATURES:
            what = "list items" if inner.type == "LSQB" else f"the arguments of {owner}"
            return f"missing comma before {found}: separate {what} with commas", None, span
    return None


def _top_level(c: _Context) -> _Message | None:
    """Unknown statement at the top level."""
    tok = c.tok
    expected = c.expected
    span = c.span
    found = c.found
    opened = c.opened
    if expected and expected <= set(_STATEMENTS) | {"$END"} and not opened:
        words = list(_STATEMENTS.values())
        guess = did_you_mean(str(tok), words) if tok.type == "NAME" else None
        return (
            f"unexpected {found} at the top level; a scene file contains only "
            f"`scene`, `import`, `let`, `layer`, `degrade` and `mask` statements",
            f"did you mean `{guess}`?" if guess else None,
            span,
        )
    return None


def _after_blur_or_noise(c: _Context) -> _Message | None:
    """After `blur` / `noise`."""
    tok = c.tok
    expected = c.expected
    span = c.span
    found = c.found
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
    return None


def _after_stain(c: _Context) -> _Message | None:
    """After `stain`."""
    tok = c.tok
    expected = c.expected
    span = c.span
    found = c.found
    if expected and expected <= {"HE", "HED"}:
        guess = did_you_mean(str(tok), ["he", "hed"]) if tok.type == "NAME" else None
        return (
            f"unexpected {found}: write `he(...)` (haematoxylin and eosin) or `hed(...)` "
            f"(and DAB) after `stain`",
            f"did you mean `{guess}`?" if guess else None,
            span,
        )
    return None


def _unfinished_clause(c: _Context) -> _Message | None:
    """`overlap` without a mode, `random` without a clause, `size` without `x`."""
    expected = c.expected
    stack = c.stack
    span = c.span
    found = c.found
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
    return None


def _inside_blocks(c: _Context) -> _Message | None:
    """Inside blocks."""
    tok = c.tok
    expected = c.expected
    span = c.span
    found = c.found
    inner = c.inner
    owner = c.owner
    allowed = c.allowed
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
                    f"`inside CATEGORY`, `around CATEGORY`, `along CATEGORY`, `in SELECTION`, "
                    f"`near CATEGORY within D`, `overlap MODE`, `probability P`, "
                    f"`attempts N` or `failures N`",
                    f"did you mean `{guess}`?" if guess else None,
                    span,
                )
        if owner == "`degrade`":
            return (
                f"unexpected {found} in `degrade`; expected `blur gaussian(sigma)`, "
                f"`noise gaussian(std)`, `noise poisson(peak)`, `stain he(...)`, "
                f"`stain hed(...)`, `brightness(factor)`, `contrast(factor)`, "
                f"`gamma(exponent)`, `saturation(factor)`, `focus(sigma)`, `jpeg(quality)`, "
                f"`scale(factor)` "
                f"or `}}`",
                None,
                span,
            )
        return f"unexpected {found} in {owner}; expected {allowed}", None, span
    return None


RULES: tuple[Callable[[_Context], _Message | None], ...] = (
    _end_of_file,
    _glued_keyword,
    _wrong_closer,
    _in_classes,
    _stray_colon,
    _stray_equals,
    _name_before_paren,
    _missing_comma,
    _top_level,
    _after_blur_or_noise,
    _after_stain,
    _unfinished_clause,
    _inside_blocks,
)
"""The rules that word a syntax error, asked in order; the first that answers wins."""


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
        ":": "`:` only follows a class name in `mask classes { NAME: TARGET }`; "
        "arguments are written `name value`",
        "=": "`=` is only used in `let NAME = VALUE`; compare with `==`",
        "'": 'strings use double quotes: "..."',
        "{": "`{` opens a block only after `scene NAME`, `layer NAME`, `degrade` or `mask classes`",
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
