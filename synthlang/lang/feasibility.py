"""Checks that a scene can do what it says: rules that can be true, objects that can be placed.

A mistake like ``concentration(cell, radius 20) > 20`` (a percent where a fraction is meant)
or a nucleus larger than the cell it is placed inside compiles to a valid IR, but every mask
would be empty or no object placed. These checks find such scenes before anything is rendered:
they reason with the ranges a metric can take and with bounds on objects' areas, so they never
refuse a scene that could work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from synthlang import ir
from synthlang.common.errors import Span
from synthlang.ir import fmt_number
from synthlang.lang.nodes import (
    Comparison,
    CondAnd,
    Condition,
    CondNot,
    CondOr,
    PlaceCount,
    PlaceInside,
    PlaceItem,
)

__all__ = ["Verdict", "Never", "condition_verdict", "metric_range", "placement_problem"]

Verdict = Literal["never", "always", "maybe"]


@dataclass(frozen=True)
class Never:
    """A comparison that can never hold, where it is written and why."""

    span: Span
    message: str
    hint: str | None


def metric_range(metric: object, size: tuple[int, int]) -> tuple[float, float, str]:
    """The values a metric can take for any object, and how messages describe them."""
    if isinstance(metric, ir.Concentration):
        return 0.0, 1.0, "a fraction of the disk, in [0, 1]"
    if isinstance(metric, ir.VisibleFraction):
        return 0.0, 1.0, "a fraction of the object, in [0, 1]"
    if isinstance(metric, ir.Area):
        pixels = size[0] * size[1]
        return 1.0, float(pixels), f"an area in pixels, from 1 to the image's {pixels}"
    return 0.0, math.inf, "a count of objects, at least 0"


def _compare_verdict(op: str, value: float, lo: float, hi: float) -> Verdict:
    if op == ">":
        return "never" if value >= hi else "always" if value < lo else "maybe"
    if op == ">=":
        return "never" if value > hi else "always" if value <= lo else "maybe"
    if op == "<":
        return "never" if value <= lo else "always" if value > hi else "maybe"
    if op == "<=":
        return "never" if value < lo else "always" if value >= hi else "maybe"
    if op == "==":
        if value < lo or value > hi:
            return "never"
        return "always" if lo == hi == value else "maybe"
    if value < lo or value > hi:  # !=
        return "always"
    return "never" if lo == hi == value else "maybe"


def _never(node: Comparison, compare: ir.Compare, size: tuple[int, int]) -> Never:
    lo, hi, what = metric_range(compare.metric, size)
    name = node.metric.block
    message = (
        f"this condition can never hold: `{name}` is {what}, so "
        f"`{name} {compare.op} {fmt_number(compare.value)}` is false for every object"
    )
    hint = None
    if hi == 1.0 and 1.0 < compare.value <= 100.0:
        hint = (
            f"{name} is a fraction, not a percent: write {fmt_number(compare.value / 100)} "
            f"for {fmt_number(compare.value)} %"
        )
    return Never(node.span, message, hint)


def condition_verdict(
    node: Condition, condition: object, size: tuple[int, int]
) -> tuple[Verdict, Never | None]:
    """Whether a compiled condition can hold, and the first comparison that never does.

    ``node`` is the condition as written (its spans), ``condition`` the IR built from it.
    """
    if isinstance(node, Comparison):
        assert isinstance(condition, ir.Compare)
        lo, hi, _ = metric_range(condition.metric, size)
        verdict = _compare_verdict(condition.op, condition.value, lo, hi)
        return verdict, _never(node, condition, size) if verdict == "never" else None
    if isinstance(node, CondNot):
        assert isinstance(condition, ir.Not)
        inner, _ = condition_verdict(node.arg, condition.arg, size)
        if inner == "always":
            message = "this condition can never hold: what follows `not` holds for every object"
            return "never", Never(node.span, message, None)
        return ("always" if inner == "never" else "maybe"), None
    assert isinstance(node, (CondAnd, CondOr)) and isinstance(condition, (ir.And, ir.Or))
    parts = [condition_verdict(n, c, size) for n, c in zip(node.args, condition.args, strict=True)]
    verdicts = [v for v, _ in parts]
    first = next((n for v, n in parts if v == "never" and n is not None), None)
    if isinstance(node, CondAnd):
        if "never" in verdicts:
            return "never", first
        return ("always" if all(v == "always" for v in verdicts) else "maybe"), None
    if all(v == "never" for v in verdicts):
        return "never", first
    return ("always" if "always" in verdicts else "maybe"), None


def placement_problem(
    shape: ir.ShapeModel,
    placement: ir.Placement,
    item: PlaceItem,
    host: ir.Layer | None,
    size: tuple[int, int],
) -> Never | None:
    """Why a layer's objects can never be placed, or None when they may be.

    ``inside``: the smallest object is larger than the largest host. ``count`` with
    ``overlap none``: the fewest objects asked for cannot fit side by side in the image
    (each covers at least a quarter of its area in the image, its centre being inside).
    """
    lo_area = shape.area_bounds()[0]
    if placement.mode == "inside" and host is not None:
        host_hi = host.shape.area_bounds()[1]
        clause = next(c for c in item.clauses if isinstance(c, PlaceInside))
        if lo_area > host_hi:
            return Never(
                clause.host.span,
                f"objects of this layer can never fit inside `{host.name}`: each has at least "
                f"{fmt_number(round(lo_area))} pixels, a `{host.name}` object at most "
                f"{fmt_number(round(host_hi))}",
                "make the objects smaller or the hosts larger; `inside` places an object only "
                "where it lies entirely within its host",
            )
    if placement.mode == "count" and placement.overlap.mode == "none" and placement.count:
        pixels = size[0] * size[1]
        fewest = ir.support(placement.count)[0] * placement.probability
        each = min(lo_area / 4.0, pixels / 4.0)
        clause_c = next(c for c in item.clauses if isinstance(c, PlaceCount))
        if fewest * each > pixels:
            return Never(
                clause_c.value.span,
                f"{fmt_number(round(fewest))} objects without overlap can never fit in the "
                f"{size[0]} x {size[1]} image: each covers at least {fmt_number(round(each))} "
                f"of its pixels",
                "ask for fewer or smaller objects, or allow overlap (`overlap moderate(0.2)`)",
            )
    return None
