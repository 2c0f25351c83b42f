"""The rules that word syntax errors: each one answers for some mistake, in its place in order."""

from __future__ import annotations

import pytest

from synthlang.common.errors import SceneSyntaxError
from synthlang.lang import syntax_errors
from synthlang.lang.parse import parse

# (source, the rule expected to answer, a fragment of its message)
CASES = [
    ("layer a { fill", "_end_of_file", "is never closed"),
    ("degrade { stain hematoxylin(1) }", "_glued_keyword", "unknown stain"),
    ("let a = [1, 2)", "_wrong_closer", "missing `]` before `)`"),
    ("mask classes { a: x, y,\n b: z }", "_in_classes", "this comma continues the targets"),
    ("layer a { ellipse(semi_axes: 3) }", "_stray_colon", "`:` is only used after a class name"),
    ("layer a { place count = 3 }", "_stray_equals", "`=` is not used in a place clause"),
    ("scene s { regions uniform(1, 2) }", "_name_before_paren", "cannot be used here"),
    ("let a = [1 2]", "_missing_comma", "missing comma before number `2`"),
    ("lyer a { }", "_top_level", "at the top level"),
    ("degrade { blur 3 }", "_after_blur_or_noise", "write `gaussian(sigma)`"),
    ("degrade { stain xyz(1) }", "_after_stain", "after `stain`"),
    ("layer a { fill place overlap 3 }", "_unfinished_clause", "`overlap` needs a mode"),
    ("degrade { sharpen }", "_inside_blocks", "in `degrade`"),
]


@pytest.mark.parametrize(("source", "rule", "fragment"), CASES, ids=[c[1] for c in CASES])
def test_each_rule_answers_its_mistake(
    source: str, rule: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[str] = []

    def spy(fn):  # type: ignore[no-untyped-def]
        def wrapped(c):  # type: ignore[no-untyped-def]
            out = fn(c)
            if out is not None and not answered:
                answered.append(fn.__name__)
            return out

        return wrapped

    monkeypatch.setattr(syntax_errors, "RULES", tuple(spy(r) for r in syntax_errors.RULES))
    with pytest.raises(SceneSyntaxError) as info:
        parse(source)
    assert fragment in info.value.message
    assert answered == [rule]


def test_every_rule_is_exercised() -> None:
    assert {c[1] for c in CASES} == {r.__name__ for r in syntax_errors.RULES}
