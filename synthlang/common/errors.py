"""The synthlang error family.

Every mistake a user can make (a malformed scene, an impossible placement, a
corrupt image, a wrong path) is reported as a :class:`SynthlangError`. Errors
that belong to a place in a scene file carry a :class:`Span` and render as::

    scenes/bad.scene:4:23: error: uniform(a, b) needs a <= b, got uniform(9, 3)
        ellipse(semi_axes uniform(9, 3))
                          ^^^^^^^^^^^^^

The command-line interface prints ``str(error)`` and exits with status 2; it
never shows a traceback for these errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Span",
    "SynthlangError",
    "SceneSyntaxError",
    "SceneError",
    "RenderError",
    "DataError",
    "ResourceLimitError",
]


@dataclass(frozen=True)
class Span:
    """A region of a source file, 1-based lines and columns, end exclusive.

    Parameters
    ----------
    file : str or None
        Path of the file as the user named it, or ``None`` for a string source.
    line, column : int
        Start position (1-based).
    end_line, end_column : int
        End position (1-based, ``end_column`` exclusive).
    """

    file: str | None
    line: int
    column: int
    end_line: int
    end_column: int

    def location(self) -> str:
        """Return ``file:line:col`` (``<string>`` when there is no file)."""
        return f"{self.file or '<string>'}:{self.line}:{self.column}"


def _source_line(span: Span, source: str | None) -> str | None:
    """Fetch the text of ``span.line`` from ``source`` or from the file."""
    text = source
    if text is None and span.file is not None:
        try:
            text = Path(span.file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    if text is None:
        return None
    lines = text.splitlines()
    if 1 <= span.line <= len(lines):
        return lines[span.line - 1]
    return None


def format_snippet(span: Span, source: str | None = None) -> str:
    """Render the source line of ``span`` with a caret underline.

    Parameters
    ----------
    span : Span
        Where the problem is.
    source : str, optional
        The full source text; read from ``span.file`` when omitted.

    Returns
    -------
    str
        Two indented lines (source line, carets), or ``""`` if the line is
        unavailable.

    Examples
    --------
    >>> print(format_snippet(Span(None, 1, 5, 1, 8), "let abc = 1"))
        let abc = 1
            ^^^
    """
    line = _source_line(span, source)
    if line is None:
        return ""
    line = line.expandtabs(4).rstrip("\n")
    start = max(span.column - 1, 0)
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    else:
        width = max(len(line) - start, 1)
    width = max(1, min(width, max(len(line) - start, 1)))
    return f"    {line}\n    {' ' * start}{'^' * width}"


class SynthlangError(Exception):
    """Base class of every error caused by user input.

    Parameters
    ----------
    message : str
        What is wrong and what is allowed.
    span : Span, optional
        Where in a scene file the problem is.
    source : str, optional
        Source text used to show the offending line (read from the file when
        omitted).
    hint : str, optional
        An extra line of advice (for example "did you mean ...?").
    """

    kind = "error"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        *,
        source: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.source = source
        self.hint = hint

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep span, source and hint when the error crosses a process boundary
        # (a worker of a process pool or a Dask cluster).
        return (
            _rebuild,
            (type(self), self.message, self.span, self.source, self.hint),
        )

    @property
    def line(self) -> int | None:
        """1-based line of the error, if it has a position."""
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        """1-based column of the error, if it has a position."""
        return self.span.column if self.span else None

    def __str__(self) -> str:
        head = f"{self.kind}: {self.message}"
        if self.span is not None:
            head = f"{self.span.location()}: {head}"
        parts = [head]
        if self.span is not None:
            snippet = format_snippet(self.span, self.source)
            if snippet:
                parts.append(snippet)
        if self.hint:
            parts.append(f"  hint: {self.hint}")
        return "\n".join(parts)


def _rebuild(
    cls: type[SynthlangError],
    message: str,
    span: Span | None,
    source: str | None,
    hint: str | None,
) -> SynthlangError:
    """Unpickle a :class:`SynthlangError` (see ``SynthlangError.__reduce__``)."""
    return cls(message, span, source=source, hint=hint)


class SceneSyntaxError(SynthlangError):
    """The scene text does not follow the grammar."""

    kind = "syntax error"


class SceneError(SynthlangError):
    """The scene parses but is invalid (unknown name, bad range, import cycle, ...)."""


class RenderError(SynthlangError):
    """A valid scene cannot be rendered (for example a missing patch library)."""


class DataError(SynthlangError):
    """An input file (image, annotation, checkpoint, dataset folder) is unusable."""


class ResourceLimitError(SynthlangError):
    """A request would exceed a configured resource limit (size, count, memory)."""
