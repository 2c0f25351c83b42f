"""Mask rules of the IR: per-object metrics, conditions and the rules that classify objects."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from synthlang.ir.base import Arg, Block, IRModel, SourceSpan

__all__ = [
    "Concentration",
    "CountWithin",
    "VisibleFraction",
    "Area",
    "Metric",
    "Compare",
    "And",
    "Or",
    "Not",
    "Condition",
    "MaskRule",
    "MaskClass",
    "MAX_CLASSES",
    "BACKGROUND",
]

MAX_CLASSES = 255
"""Most mask classes of a scene: class ids 1..255 are stored in one byte, 0 is the background."""

BACKGROUND = "background"
"""The name of class id 0 (pixels of no class); no declared class may take it."""


class Concentration(IRModel):
    """``concentration(CATEGORY, radius R)``.

    For an object with centre ``c``: the number of pixels ``p`` of the image
    with ``|p - c| <= R`` that are covered by some object of ``category``
    (its full shape, hidden parts included), divided by the number of pixels
    of that disk that lie inside the image.
    """

    blocks = (
        Block("concentration", "metric", "covered fraction of a disk around the object's centre"),
    )
    kind: Literal["concentration"] = "concentration"
    category: Annotated[str, Arg(type="category")] = Field(
        ..., description="Category whose coverage is measured."
    )
    radius: Annotated[float, Arg(limit="max_radius")] = Field(
        ..., gt=0, description="Disk radius in pixels."
    )


class CountWithin(IRModel):
    """``count(CATEGORY, radius R)``: objects of CATEGORY whose centre is within R of this centre.

    The object itself is not counted.
    """

    blocks = (Block("count", "metric", "other objects whose centre is within the radius"),)
    kind: Literal["count"] = "count"
    category: Annotated[str, Arg(type="category")] = Field(..., description="Category counted.")
    radius: Annotated[float, Arg(limit="max_radius")] = Field(
        ..., gt=0, description="Radius in pixels."
    )


class VisibleFraction(IRModel):
    """``visible``: fraction of the object's pixels not covered by upper layers or later objects."""

    blocks = (Block("visible", "metric", "visible fraction of the object"),)
    kind: Literal["visible"] = "visible"


class Area(IRModel):
    """``area``: the object's area in pixels (full shape)."""

    blocks = (Block("area", "metric", "area of the object in pixels"),)
    kind: Literal["area"] = "area"


Metric = Annotated[
    Concentration | CountWithin | VisibleFraction | Area, Field(discriminator="kind")
]


class Compare(IRModel):
    """``METRIC OP VALUE``, e.g. ``concentration(tumor_cell, radius 40) > 0.3``."""

    kind: Literal["compare"] = "compare"
    metric: Metric = Field(..., description="Per-object quantity.")
    op: Literal[">", ">=", "<", "<=", "==", "!="] = Field(..., description="Comparison.")
    value: float = Field(..., description="Threshold.")


class And(IRModel):
    """``A and B``."""

    kind: Literal["and"] = "and"
    args: tuple[Condition, ...] = Field(..., min_length=2, description="Operands.")


class Or(IRModel):
    """``A or B``."""

    kind: Literal["or"] = "or"
    args: tuple[Condition, ...] = Field(..., min_length=2, description="Operands.")


class Not(IRModel):
    """``not A``."""

    kind: Literal["not"] = "not"
    arg: Condition = Field(..., description="Operand.")


Condition = Annotated[Compare | And | Or | Not, Field(discriminator="kind")]
And.model_rebuild()
Or.model_rebuild()
Not.model_rebuild()


class MaskRule(IRModel):
    """``mask CATEGORY [where CONDITION]`` or ``mask visible(CATEGORY) [where ...]``.

    Objects of ``category`` for which ``condition`` holds (all of them when
    it is None) are classified. Their pixels are 1 in the mask: the full
    shape, or only the visible pixels when ``visible_only``. Several rules
    are combined with a pixel-wise maximum (logical or).
    """

    category: str = Field(..., description="Category classified by this rule.")
    condition: Condition | None = Field(None, description="Object-level condition (None: all).")
    visible_only: bool = Field(False, description="Mark only visible pixels of classified objects.")
    span: SourceSpan | None = Field(None, description="Source position of the rule.")


class MaskClass(IRModel):
    """One labelled class of ``mask classes { NAME: TARGET, ... }``.

    Its rules (the targets, or-combined) select objects exactly as plain
    :class:`MaskRule` s do. Class ids are 1, 2, ... in declaration order (0 is
    the background); an object selected by several classes gets the first.
    """

    name: str = Field(..., min_length=1, description="Class name (ids follow declaration order).")
    rules: tuple[MaskRule, ...] = Field(
        ..., min_length=1, description="Targets of the class (or-combined)."
    )
    span: SourceSpan | None = Field(None, description="Source position of the class entry.")
