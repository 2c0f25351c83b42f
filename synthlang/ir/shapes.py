"""Shapes of the IR: how each object's geometry is made.

Every shape model derives from :class:`ShapeModel` (area shapes: one layer covers an
area) or :class:`ObjectShapeModel` (objects placed one by one by a
:class:`~synthlang.ir.layer.Placement`); :data:`Shape`, the discriminated union a
layer's ``shape`` field accepts, is built from the subclasses defined here. A shape
model also states the memory one of its objects needs (:meth:`ShapeModel.object_side`,
:meth:`ShapeModel.draw_bytes`), which :mod:`synthlang.ir.budget` adds up.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import Field

from synthlang.ir.base import Arg, Block, IRModel
from synthlang.ir.footprint import (
    NOMINAL_PATCH_SIDE,
    RASTER_BYTES_PER_PIXEL,
    TEXTURED_BYTES_PER_PIXEL,
    box_pixels,
)
from synthlang.ir.relative import AngleValue, RelativeSize, SizeValue
from synthlang.ir.values import Constant, Distribution, SpeedField, Uniform, support

__all__ = [
    "ShapeModel",
    "ObjectShapeModel",
    "EllipseShape",
    "PatchShape",
    "GrownShape",
    "RibbonShape",
    "FillShape",
    "PolygonShape",
    "Shape",
    "OBJECT_SHAPES",
]


class ShapeModel(IRModel):
    """Base of the shapes: an area shape (the layer's objects cover an area)."""

    kind: str
    placed: ClassVar[bool] = False
    """Whether objects are placed one by one (`place ...`) rather than covering an area."""
    textured: ClassVar[bool] = False
    """Whether each object carries its own RGB texture (a cut-out), not a colour model."""
    needs_regions: ClassVar[bool] = False
    """Whether the shape follows region boundaries (the scene must declare regions)."""

    def object_side(self) -> float:
        """Largest bounding-box side of one object in pixels (inf: up to the image)."""
        return math.inf

    def draw_bytes(self, side: float, rows: int, cols: int) -> float:
        """Bytes to make one object before it is placed (0 for area shapes)."""
        return 0.0

    def area_bounds(self) -> tuple[float, float]:
        """Bounds on one object's pixel area (0 and inf where unknown).

        Loose on purpose: the compiler refuses a scene only when its objects certainly
        cannot fit (a nucleus larger than every cell it is placed inside).
        """
        return 0.0, math.inf


class ObjectShapeModel(ShapeModel):
    """Base of the object shapes: objects of bounded size, placed one by one.

    A subclass states :meth:`object_side`, the largest bounding-box side of one object.
    """

    placed = True

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "object_side" not in cls.__dict__:
            raise TypeError(f"{cls.__name__} must define object_side() (its memory footprint)")

    def object_side(self) -> float:
        """Largest bounding-box side of one object in pixels."""
        raise NotImplementedError

    def draw_bytes(self, side: float, rows: int, cols: int) -> float:
        """One object is rasterised in its bounding box."""
        return box_pixels(side, rows, cols) * RASTER_BYTES_PER_PIXEL


class EllipseShape(ObjectShapeModel):
    """``ellipse(semi_axes D [, D2], angle D)``: a filled ellipse.

    The two semi-axes are drawn independently from ``semi_axes[0]`` and
    ``semi_axes[1]`` (the same distribution twice when one is given); the
    inclination from ``angle`` in degrees.
    """

    blocks = (Block("ellipse", "shape", "filled ellipse"),)
    kind: Literal["ellipse"] = "ellipse"
    semi_axes: Annotated[
        tuple[Distribution, Distribution],
        Arg(type="semi_axes", check="positive", limit="max_radius"),
    ] = Field(
        ..., description="Distributions of the two semi-axes in pixels (drawn values must be > 0)."
    )
    angle: Annotated[AngleValue, Arg(type="angle")] = Field(
        default_factory=lambda: Uniform(low=0.0, high=180.0),
        description="Inclination in degrees: a distribution, or along(C) / across(C) (the "
        "nearest boundary of a lower layer's objects).",
    )
    scale: Annotated[SizeValue | None, Arg(type="size", check="positive", limit="max_scale")] = (
        Field(
            None,
            description="Factor on both semi-axes (> 0): a distribution, or relative(C, f) "
            "(f times the equivalent radius of the nearest object of a lower layer). None: 1.",
        )
    )

    def object_side(self) -> float:
        """Largest bounding-box side of one ellipse (px; inf with a relative scale)."""
        return 2 * max(support(d)[1] for d in self.semi_axes) * _scale_range(self.scale)[1] + 3

    def draw_bytes(self, side: float, rows: int, cols: int) -> float:
        """An ellipse is rasterised in a window of up to twice the image (``rasterize_ellipse``)."""
        return box_pixels(side, 2 * rows - 1, 2 * cols - 1) * RASTER_BYTES_PER_PIXEL

    def area_bounds(self) -> tuple[float, float]:
        """A pixelated ellipse of semi-axes a, b has between pi (a-1)(b-1) and pi (a+1)(b+1) px."""
        (alo, ahi), (blo, bhi) = (support(d) for d in self.semi_axes)
        slo, shi = _scale_range(self.scale)
        alo, ahi, blo, bhi = alo * slo, ahi * shi, blo * slo, bhi * shi
        lo = math.pi * max(alo - 1.0, 0.0) * max(blo - 1.0, 0.0)
        return lo, math.pi * (ahi + 1.0) * (bhi + 1.0)


def _scale_range(scale: Any) -> tuple[float, float]:
    """The factors a ``scale`` argument can take (a relative size: any positive factor)."""
    if scale is None:
        return 1.0, 1.0
    if isinstance(scale, RelativeSize):
        return 0.0, math.inf
    return support(scale)


class PatchShape(ObjectShapeModel):
    """``patch("dir", scale D, rotate true)``: real nucleus cut-outs.

    Each object is a random RGBA patch of the library (alpha from the
    annotation), rotated by a uniform random angle when ``rotate`` and scaled
    by a factor drawn from ``scale``. The patch's own pixels are its texture;
    the layer's colour model is not used for it.
    """

    blocks = (
        Block("patch", "shape", "real nucleus cut-outs from a patch library", internal=("digest",)),
    )
    textured = True
    kind: Literal["patch"] = "patch"
    library: Annotated[str, Arg(type="path")] = Field(
        ..., description="Absolute path of the patch library folder (index.json)."
    )
    scale: Annotated[Distribution, Arg(check="positive", limit="max_scale")] = Field(
        default_factory=lambda: Constant(value=1.0), description="Scale factor distribution (> 0)."
    )
    rotate: bool = Field(True, description="Rotate each patch by a uniform random angle.")
    smooth: Annotated[float, Arg(limit="max_radius")] = Field(
        1.0, ge=0, description="Gaussian sigma (px) that turns the patch into its clean version."
    )
    digest: str = Field(
        "", description="SHA-256 of the library's index.json (set by the compiler)."
    )

    def object_side(self) -> float:
        """Bounding-box side of a cut-out of nominal size at the largest scale, rotated (px)."""
        return NOMINAL_PATCH_SIDE * 1.5 * support(self.scale)[1] + 3

    def draw_bytes(self, side: float, rows: int, cols: int) -> float:
        """A cut-out is transformed at full size (RGBA float32 and its clean version)."""
        return side * side * TEXTURED_BYTES_PER_PIXEL if math.isfinite(side) else math.inf


class GrownShape(ShapeModel):
    """``grown(from CATEGORY, time D, speed ...)``: stochastic fast-marching growth.

    One object per instance of the source category: the front starts at the
    source object's mask and moves with a random speed field for ``time``;
    each pixel goes to the source whose front arrives first (so grown objects
    tile the tissue and never overlap each other). Restricted to the
    placement's regions when the layer has them.
    """

    blocks = (Block("grown", "shape", "fast-marching growth from the objects of a lower layer"),)
    kind: Literal["grown"] = "grown"
    source: Annotated[str, Arg(name="from", type="category")] = Field(
        ..., description="Category whose objects seed the growth."
    )
    time: Annotated[Distribution, Arg(check="positive", limit="max_radius")] = Field(
        ..., description="Marching time (arrival-time threshold), per sample."
    )
    speed: SpeedField = Field(default_factory=SpeedField, description="Random speed field.")


class RibbonShape(ShapeModel):
    """``ribbon(maps 3, width D, speed ...)``: connective-tissue ribbons.

    For each of ``maps`` random speed fields, the fast-marching arrival time
    from the complement of the considered regions (the region boundaries) is
    computed; the ribbon is the union over maps of the preimage of a random
    interval ``[t0, t0 + width]`` with ``t0`` drawn from ``offset``. Thickness
    grows with the interval size.
    """

    blocks = (Block("ribbon", "shape", "connective-tissue ribbons along region boundaries"),)
    needs_regions = True
    kind: Literal["ribbon"] = "ribbon"
    width: Annotated[Distribution, Arg(check="positive", limit="max_radius")] = Field(
        ..., description="Interval length (ribbon thickness, px)."
    )
    maps: int = Field(3, ge=1, le=64, description="Number of distance maps (speed fields).")
    offset: Annotated[Distribution, Arg(check="nonnegative", limit="max_radius")] = Field(
        default_factory=lambda: Constant(value=0.0),
        description="Start of the interval (distance from the region boundary, px).",
    )
    speed: SpeedField = Field(default_factory=SpeedField, description="Random speed fields.")


class FillShape(ShapeModel):
    """``fill``: the whole placement area (the image, or each selected region) is one object."""

    blocks = (Block("fill", "shape", "the whole image, or one object per selected region"),)
    kind: Literal["fill"] = "fill"
    per_region: bool = Field(
        True, description="One object per selected region (else one object for the union)."
    )


class PolygonShape(ObjectShapeModel):
    """``polygon(vertices D, radius D, irregularity D, angle D)``: a random star-shaped polygon.

    ``vertices`` corners at equal angular steps from ``angle`` (degrees), each at
    ``radius * (1 + irregularity * u)`` from the centre with ``u`` uniform in [-1, 1]:
    irregular nuclei, crystals, debris. Everything is drawn per object.
    """

    blocks = (Block("polygon", "shape", "random star-shaped polygon"),)
    kind: Literal["polygon"] = "polygon"
    vertices: Annotated[Distribution, Arg(integer=True, minimum=3, maximum=64)] = Field(
        ..., description="Number of corners (a whole number, 3..64)."
    )
    radius: Annotated[Distribution, Arg(check="positive", limit="max_radius")] = Field(
        ..., description="Mean distance of the corners from the centre in pixels (> 0)."
    )
    irregularity: Annotated[Distribution, Arg(check="unit")] = Field(
        default_factory=lambda: Constant(value=0.3),
        description="Relative spread of the corner distances, in [0, 1].",
    )
    angle: Annotated[AngleValue, Arg(type="angle")] = Field(
        default_factory=lambda: Uniform(low=0.0, high=360.0),
        description="Direction of the first corner in degrees: a distribution, or along(C) / "
        "across(C).",
    )
    scale: Annotated[SizeValue | None, Arg(type="size", check="positive", limit="max_scale")] = (
        Field(
            None,
            description="Factor on the radius (> 0): a distribution, or relative(C, f). None: 1.",
        )
    )

    def object_side(self) -> float:
        """Bounding-box side of the largest polygon (px; inf with a relative scale)."""
        top = 2 * support(self.radius)[1] * (1 + support(self.irregularity)[1])
        return top * _scale_range(self.scale)[1] + 3

    def area_bounds(self) -> tuple[float, float]:
        """At most the disk around the farthest corner."""
        outer = support(self.radius)[1] * (1 + support(self.irregularity)[1])
        outer = outer * _scale_range(self.scale)[1] + 1
        return 0.0, math.pi * outer * outer


def _shape_union() -> Any:
    """The discriminated union of every shape model defined in this module."""
    leaves = [
        cls
        for base in (ShapeModel, ObjectShapeModel)
        for cls in base.__subclasses__()
        if cls is not ObjectShapeModel
    ]
    return Annotated[Union[tuple(leaves)], Field(discriminator="kind")]  # noqa: UP007


if TYPE_CHECKING:
    Shape = ShapeModel
else:
    Shape = _shape_union()

OBJECT_SHAPES = tuple(cls.model_fields["kind"].default for cls in ObjectShapeModel.__subclasses__())
"""Shape kinds that are placed object by object by a :class:`Placement`."""
