"""Values relative to other objects: orientations (``along``, ``across``) and sizes (``relative``).

A shape argument is usually a distribution, drawn per object without looking at the scene.
The models here are drawn per object *where the object is placed*: the direction of the
nearest boundary of another layer's objects, or the size of the nearest of those objects.
:data:`AngleValue` (the ``angle`` of ``ellipse`` and ``polygon``) and :data:`SizeValue`
(their ``scale``) are the unions that accept them next to the plain distributions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from synthlang.ir.base import Arg, Block, IRModel
from synthlang.ir.values import (
    Choice,
    Constant,
    Distribution,
    Normal,
    RandInt,
    TruncNormal,
    Uniform,
)

__all__ = [
    "Ring",
    "InLayer",
    "Orientation",
    "RelativeSize",
    "AngleValue",
    "SizeValue",
    "MAX_RELATIVE",
    "typical",
    "shape_anchors",
]

MAX_RELATIVE = 10.0
"""Largest factor of ``relative(CATEGORY, f)``."""


class Ring(IRModel):
    """``around CATEGORY, distance D, spacing S`` / ``along CATEGORY, spacing S``: rings of objects.

    For every object (host) of ``category``, object centres are put on the curve at
    ``distance`` px outside the host's boundary (``along``: distance 0, the boundary itself),
    one after the other at ``spacing`` px of arc length. The boundary lies half-way between
    the host's outermost pixel centres and the pixels outside them. The ring's curve is the
    offset curve at the typical distance (:func:`typical`); each centre is then moved along
    the boundary's normal to its own drawn distance. Spacings are drawn per gap, distances per
    object; the gap where a ring closes lies between half a spacing and one and a half.
    """

    category: str = Field(..., description="The layer whose objects are ringed (a lower layer).")
    distance: Distribution = Field(
        default_factory=lambda: Constant(value=0.0),
        description="Distance (px, >= 0) of the centres outside the boundary, per object.",
    )
    spacing: Distribution = Field(
        default_factory=lambda: Constant(value=10.0),
        description="Arc length (px, >= 1) between consecutive centres, per gap.",
    )


class InLayer(IRModel):
    """``in CATEGORY`` / ``not in CATEGORY``: centres on (or off) a layer's object pixels."""

    category: str = Field(
        ..., description="The layer whose objects' full shapes the centres must lie on."
    )
    invert: bool = Field(False, description="`not in`: centres off those pixels.")


class Orientation(IRModel):
    """``along(CATEGORY [, jitter J])`` / ``across(...)``: an angle from a boundary.

    The direction of the boundary of ``category``'s objects nearest to the object's centre
    (the gradient of the signed distance to their union, smoothed over about a pixel):
    ``along`` puts the object's first axis (an ellipse's first semi-axis, a polygon's first
    corner) on the tangent of that boundary, ``across`` on its normal, pointing at the
    boundary. ``jitter`` (degrees) is drawn per object and added.
    """

    blocks = (
        Block(
            "along",
            "orientation",
            "angle of the tangent of the nearest boundary of a layer's objects",
            fixed={"kind": "along"},
        ),
        Block(
            "across",
            "orientation",
            "angle of the normal of the nearest boundary of a layer's objects",
            fixed={"kind": "across"},
        ),
    )
    kind: Literal["along", "across"] = "along"
    category: Annotated[str, Arg(type="category")] = Field(
        ..., description="The layer whose object boundaries give the direction (a lower layer)."
    )
    jitter: Distribution = Field(
        default_factory=lambda: Constant(value=0.0),
        description="Angle in degrees added to the boundary direction, drawn per object.",
    )


class RelativeSize(IRModel):
    """``relative(CATEGORY, f)``: a size factor proportional to the nearest object of a layer.

    The factor is ``f * R`` with ``R = sqrt(area / pi)`` the equivalent radius (px) of the
    object of ``category`` nearest to the object's centre (the one containing it, if any;
    its full shape). It multiplies the shape's lengths (an ellipse's semi-axes, a polygon's
    radius), so ``ellipse(semi_axes 1, scale relative(cell, 0.5))`` is a disk of half the
    cell's equivalent radius (a quarter of its area). ``f`` is drawn per object.
    """

    blocks = (
        Block(
            "relative",
            "relative size",
            "size factor: f times the equivalent radius of the nearest object of a layer",
        ),
    )
    kind: Literal["relative"] = "relative"
    category: Annotated[str, Arg(type="category")] = Field(
        ..., description="The layer whose nearest object gives the size (a lower layer)."
    )
    factor: Annotated[Distribution, Arg(check="positive", maximum=MAX_RELATIVE)] = Field(
        ...,
        description="Factor of that object's equivalent radius sqrt(area / pi) (> 0, <= 10).",
    )


AngleValue = Annotated[
    Constant | Uniform | RandInt | Normal | TruncNormal | Choice | Orientation,
    Field(discriminator="kind"),
]
"""An angle argument: a distribution (degrees) or ``along(...)`` / ``across(...)``."""

SizeValue = Annotated[
    Constant | Uniform | RandInt | Normal | TruncNormal | Choice | RelativeSize,
    Field(discriminator="kind"),
]
"""A size factor: a distribution or ``relative(...)``."""


def typical(dist: Distribution) -> float:
    """A central value of a distribution: its mean, or the middle of its range when bounded.

    Examples
    --------
    >>> typical(Uniform(low=4, high=8)), typical(Constant(value=3))
    (6.0, 3.0)
    """
    if isinstance(dist, Constant):
        return float(dist.value)
    if isinstance(dist, Normal):
        return float(dist.mean)
    if isinstance(dist, TruncNormal):
        return float(min(max(dist.mean, dist.low), dist.high))
    if isinstance(dist, Choice):
        return float(sum(v * w for v, w in zip(dist.values, dist.weights, strict=True)))
    return (float(dist.low) + float(dist.high)) / 2.0


def shape_anchors(shape: Any) -> tuple[str, ...]:
    """The categories a shape's relative values refer to (in field order, once each).

    Examples
    --------
    >>> from synthlang.ir.shapes import EllipseShape
    >>> one = Constant(value=1.0)
    >>> shape_anchors(EllipseShape(semi_axes=(one, one), angle=Orientation(category="lumen")))
    ('lumen',)
    """
    found = [
        value.category
        for value in (getattr(shape, "angle", None), getattr(shape, "scale", None))
        if isinstance(value, (Orientation, RelativeSize))
    ]
    return tuple(dict.fromkeys(found))
