"""Scenes that could never work are refused; scenes that might work are not."""

from __future__ import annotations

import pytest

from synthlang.lang.compile import compile_string

HEAD = (
    "scene s { size 64 x 64 }\n"
    "layer cell { ellipse(semi_axes 5) place count 5 color rgb(1, 0, 0) }\n"
)


@pytest.mark.parametrize(
    "condition",
    [
        "concentration(cell, radius 20) > 0.2",
        "visible < 0 or visible > 0.5",  # one alternative can hold
        "not (concentration(cell, radius 5) > 2)",  # always true: allowed
        "area > 4095",
        "count(cell, radius 10) > 1000",  # counts have no known upper bound
        "concentration(cell, radius 20) >= 1",
    ],
)
def test_conditions_that_can_hold_compile(condition: str) -> None:
    assert compile_string(HEAD + f"mask cell where {condition}\n").masks


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ("not (visible <= 1)", "can never hold"),
        ("concentration(cell, radius 20) > 1", "can never hold"),
        ("area < 1", "can never hold"),
        ("visible == 3", "can never hold"),
    ],
)
def test_conditions_that_never_hold_are_refused(condition: str, fragment: str) -> None:
    from synthlang.common.errors import SceneError

    with pytest.raises(SceneError, match=fragment):
        compile_string(HEAD + f"mask cell where {condition}\n")


def test_objects_that_may_fit_their_hosts_compile() -> None:
    text = HEAD + "layer nucleus { ellipse(semi_axes 3) place inside cell color rgb(0, 0, 1) }\n"
    assert compile_string(text).layer("nucleus").placement is not None
    many = (
        "scene s { size 64 x 64 }\n"
        "layer c { ellipse(semi_axes 3) place count 100, overlap none color rgb(1, 0, 0) }\n"
    )
    assert compile_string(many).layer("c").placement is not None
