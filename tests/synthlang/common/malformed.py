"""The marker convention of the malformed-scene cases (``»`` before the offending token)."""

from __future__ import annotations

import inspect

from synthlang.common.errors import SceneError, SceneSyntaxError
from synthlang.common.limits import SceneLimitError

MARK = "»"

HEAD = """\
scene s {
    size 64 x 64
    regions voronoi(7)
}
layer bg { fill color rgb(1, 1, 1) }
"""


def located(text: str) -> tuple[str, int, int]:
    """Remove the marker; return the text and the marker's 1-based line and column."""
    idx = text.index(MARK)
    before = text[:idx]
    line = before.count("\n") + 1
    col = idx - (before.rfind("\n") + 1) + 1
    return text.replace(MARK, "", 1), line, col


def scene(body: str, head: str = HEAD) -> str:
    return head + inspect.cleandoc(body) + "\n"


S, E, L = SceneSyntaxError, SceneError, SceneLimitError
