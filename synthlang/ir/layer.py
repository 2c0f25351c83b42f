"""Layers of the IR: placement of objects, layer items (contour, soft edges, chromatin)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from synthlang.ir.base import Arg, Block, IRModel, SourceSpan
from synthlang.ir.relative import InLayer, Ring
from synthlang.ir.shapes import Shape
from synthlang.ir.values import (
    ColorModel,
    Constant,
    Distribution,
    MVNColor,
    RegionSelection,
    SpeedField,
)

__all__ = [
    "Overlap",
    "Near",
    "Falloff",
    "Density",
    "Clusters",
    "Placement",
    "Contour",
    "SoftEdge",
    "Chromatin",
    "Layer",
]


class Overlap(IRModel):
    """How much a new object may overlap existing ones.

    ``none``: no shared pixel; ``moderate``: at most ``fraction`` of the new
    object's area; ``centers``: the new object's centre is outside every
    existing object and no existing centre falls inside it; ``allowed``: no
    restriction. Checked against the objects of ``against`` (default: the
    layer itself).
    """

    mode: Literal["none", "moderate", "centers", "allowed"] = Field(
        "allowed", description="Overlap rule."
    )
    fraction: float = Field(
        0.0, ge=0, le=1, description="Largest overlapping fraction for `moderate`."
    )
    against: tuple[str, ...] = Field(
        (), description="Categories to check against; empty means this layer's own objects."
    )


class Near(IRModel):
    """``[not] near CATEGORY within D``: where object centres may lie relative to another layer.

    A centre is allowed when its distance to the nearest pixel of ``category``'s objects (their
    full shapes) is at most ``distance`` pixels, or, with ``invert``, more than that.
    """

    category: str = Field(..., description="The layer whose objects the distance is measured to.")
    distance: float = Field(..., ge=0, description="Distance in pixels (>= 0).")
    invert: bool = Field(False, description="`not near`: centres farther than the distance.")


class Falloff(IRModel):
    """``falloff(from CATEGORY, scale S)``: a density that falls off with distance to a layer.

    The density of centres is ``exp(-d / scale)``, ``d`` the distance (px) of a pixel to the
    nearest pixel of the objects of ``source``; ``scale`` is drawn per sample.
    """

    blocks = (Block("falloff", "density", "centre density falling off with distance to a layer"),)
    kind: Literal["falloff"] = "falloff"
    source: Annotated[str, Arg(name="from", type="category")] = Field(
        ..., description="The layer the distance is measured to."
    )
    scale: Annotated[Distribution, Arg(check="positive", limit="max_radius")] = Field(
        ..., description="Distance (px) over which the density falls by a factor e."
    )


Density = Annotated[SpeedField | Falloff, Field(discriminator="kind")]
"""A density of object centres: a random field (``gaussian_field``) or a falloff."""


class Clusters(IRModel):
    """``clusters(count N, size M, spread S)``: objects in clusters.

    ``count`` cluster centres are drawn uniformly in the placement area, each cluster gets
    ``size`` objects (drawn per cluster) whose centres are drawn around it with a Gaussian
    density of standard deviation ``spread`` px (drawn per cluster). Overlap and other
    clauses apply as for ``count``.
    """

    blocks = (Block("clusters", "clusters", "objects in clusters around random centres"),)
    kind: Literal["clusters"] = "clusters"
    count: Annotated[Distribution, Arg(integer=True, minimum=1, maximum=1000)] = Field(
        ..., description="Number of clusters (whole, 1..1000)."
    )
    size: Annotated[Distribution, Arg(integer=True, minimum=1, maximum=100000)] = Field(
        ..., description="Objects per cluster (whole, 1..100000), drawn per cluster."
    )
    spread: Annotated[Distribution, Arg(check="positive", limit="max_radius")] = Field(
        default_factory=lambda: Constant(value=15.0),
        description="Standard deviation (px) of the object centres around a cluster's centre.",
    )


class Placement(IRModel):
    """Where and how many objects of an object shape are placed.

    ``mode``: ``count`` places ``count`` objects at uniformly random centres in
    the area; ``fill`` places objects until ``max_failures`` consecutive
    proposals fail (the area is full); ``inside`` puts at most one object (``count``
    objects, drawn per host, when given) inside each object of ``inside`` (its mask
    entirely within the host's mask); ``around`` / ``along`` put objects on rings around
    each object of ``ring.category`` (:class:`~synthlang.ir.relative.Ring`).
    ``probability`` keeps each placed object with that probability (Table 1's
    "only 60% visible"). Proposals are bounded by ``max_attempts``; a shortfall
    is reported, never looped on.
    """

    mode: Literal["count", "fill", "inside", "clusters", "around", "along"] = Field(
        ..., description="Placement mode."
    )
    count: Distribution | None = Field(
        None,
        description="Number of objects for mode `count`, or per host for mode `inside` "
        "(drawn per host; None: one), rounded, >= 0.",
    )
    inside: str | None = Field(None, description="Host category for mode `inside`.")
    regions: RegionSelection | None = Field(
        None, description="Restrict centres/objects to these regions (None: whole image)."
    )
    clusters: Clusters | None = Field(None, description="The clusters of mode `clusters`.")
    ring: Ring | None = Field(
        None, description="The hosts, distance and spacing of modes `around` and `along`."
    )
    in_layer: InLayer | None = Field(
        None, description="Centres on (or off) the pixels of another layer's objects."
    )
    density: Density | None = Field(
        None, description="Density of the object centres (uniform when None)."
    )
    near: Near | None = Field(
        None, description="Centres near (or not near) the objects of another layer."
    )
    overlap: Overlap = Field(default_factory=Overlap, description="Overlap rule.")
    probability: float = Field(1.0, ge=0, le=1, description="Presence probability per object.")
    max_attempts: int = Field(
        10000, ge=1, le=10_000_000, description="Upper bound on proposals for this layer."
    )
    max_failures: int = Field(
        200, ge=1, le=1_000_000, description="Consecutive failed proposals that end a `fill`."
    )

    @model_validator(mode="after")
    def _mode_fields(self) -> Placement:
        if self.mode == "count" and self.count is None:
            raise ValueError("placement mode 'count' needs a count")
        if self.mode == "inside" and not self.inside:
            raise ValueError("placement mode 'inside' needs a host category")
        if self.mode == "clusters" and self.clusters is None:
            raise ValueError("placement mode 'clusters' needs its clusters")
        if self.mode in ("around", "along") and self.ring is None:
            raise ValueError(f"placement mode {self.mode!r} needs its ring")
        return self


class Contour(IRModel):
    """``contour(width 1, color C)``: draw each object's boundary in its own colour."""

    blocks = (Block("contour", "contour", "object boundaries in their own colour"),)
    width: int = Field(1, ge=1, le=50, description="Contour width in pixels (inside the object).")
    color: MVNColor = Field(..., description="Contour colour model.")


class SoftEdge(IRModel):
    """``soft(width W)``: objects blend into what lies below them at their border.

    Each object's opacity (alpha) falls linearly from 1 to 0 across a band of
    ``width`` pixels centred on its border, ``alpha = clip(0.5 - d / width, 0, 1)``
    with ``d`` the signed distance (px) of a pixel centre from the border
    (negative inside). The clean and noisy images blend the object over the
    layers and objects below it with that alpha; the mask, the instance map and
    every object statistic keep the object's exact shape, the pixels where
    ``alpha >= 0.5``. A width of at most 1 px is the hard edge.
    """

    blocks = (
        Block(
            "soft",
            "soft edge",
            "soft object edges: alpha falls from 1 to 0 over `width` pixels",
        ),
    )
    width: Annotated[Distribution, Arg(check="positive", maximum=50)] = Field(
        ..., description="Width (px, > 0, <= 50) of the alpha falloff, drawn per object."
    )


class Chromatin(IRModel):
    """``chromatin(amount A, scale S, granules G, rim R)``: chromatin-like texture.

    Each object's colour is multiplied by a shading field drawn for that
    object: band-passed Gaussian noise (a difference of Gaussians at ``scale``
    and twice it) mixed with dark granules (where that noise is high), with a
    relative standard deviation ``amount``, times a darker rim (``1 - rim`` at
    the border, fading inwards over ``scale`` px). The field is divided by its
    mean over the object, so the object's mean colour is kept (up to clipping).
    The clean and the noisy image both show it.
    """

    blocks = (
        Block(
            "chromatin",
            "chromatin",
            "chromatin-like texture: band-passed noise, dark granules, darker rim",
        ),
    )
    amount: Annotated[Distribution, Arg(check="unit")] = Field(
        ..., description="Relative standard deviation of the shading, in [0, 1], per object."
    )
    scale: Annotated[Distribution, Arg(check="positive", maximum=50)] = Field(
        default_factory=lambda: Constant(value=1.5),
        description="Granule size: the band-pass sigma in px (> 0, <= 50), per object.",
    )
    granules: Annotated[Distribution, Arg(check="unit")] = Field(
        default_factory=lambda: Constant(value=0.5),
        description="Share of distinct dark granules (1) versus smooth mottling (0), in [0, 1].",
    )
    rim: Annotated[Distribution, Arg(check="unit")] = Field(
        default_factory=lambda: Constant(value=0.1),
        description="Darkening at the object's border, in [0, 1], per object.",
    )


class Layer(IRModel):
    """One layer: exactly one object category with its shape, placement and colour.

    Layers are listed bottom (index 0) to top; an upper layer replaces what
    it overlaps, or with ``blend additive`` adds its colours to it.
    """

    index: int = Field(..., ge=0, description="Position from the bottom (0 = lowest).")
    name: str = Field(..., description="Category name (unique in the scene).")
    shape: Shape = Field(..., description="How each object's geometry is made.")
    placement: Placement | None = Field(
        None, description="Placement for object shapes (ellipse, patch); None for area shapes."
    )
    regions: RegionSelection | None = Field(
        None, description="Area restriction for area shapes (fill, grown, ribbon)."
    )
    color: ColorModel | None = Field(
        None, description="Colour or texture model (None only for patch shapes)."
    )
    contour: Contour | None = Field(None, description="Optional object contour.")
    soft: SoftEdge | None = Field(None, description="Optional soft object edges (object shapes).")
    chromatin: Chromatin | None = Field(None, description="Optional chromatin-like texture.")
    blend: Literal["over", "additive"] | None = Field(
        None,
        description="How the layer meets what lies below: `over` (None: replaces it) or "
        "`additive` (adds its colours, clipped to [0, 1]; hides nothing).",
    )
    span: SourceSpan | None = Field(None, description="Source position of the layer.")

    @property
    def additive(self) -> bool:
        """Whether the layer adds its colours to what lies below (``blend additive``)."""
        return self.blend == "additive"
