"""The Scene IR: frozen, validated pydantic models produced by the compiler.

The IR is the contract between the language front end (``parse`` -> ``lower``
-> ``compile``) and the engine. It contains no names to resolve and no
imports: every definition is inlined, every region selection is allocated,
every path is absolute. The engine reads only these models.

Conventions
-----------
* Sizes are ``(rows, cols)``; positions are ``(row, col)``; angles in degrees,
  counter-clockwise from the column axis.
* Colours are RGB floats in ``[0, 1]``.
* Every model is ``frozen=True, extra="forbid"`` and every field has a
  description. Unions are discriminated on ``kind``.
* ``span`` fields point back into the scene source for runtime messages; they
  are excluded from :func:`scene_hash` so that moving text around without
  changing meaning does not change the hash.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synthlang.common.errors import Span

__all__ = [
    "IRModel",
    "SourceSpan",
    "Constant",
    "Uniform",
    "RandInt",
    "Normal",
    "TruncNormal",
    "Choice",
    "Distribution",
    "SpeedField",
    "VoronoiRegions",
    "FastMarchingRegions",
    "RegionSpec",
    "RegionSelection",
    "EllipseShape",
    "PatchShape",
    "GrownShape",
    "RibbonShape",
    "FillShape",
    "Shape",
    "Overlap",
    "Placement",
    "MVNColor",
    "PatchTexture",
    "ColorModel",
    "Contour",
    "SoftEdge",
    "Chromatin",
    "Layer",
    "GaussianBlur",
    "GaussianNoise",
    "PoissonNoise",
    "StainJitter",
    "Brightness",
    "Contrast",
    "Gamma",
    "Saturation",
    "JPEGCompression",
    "ScaleJitter",
    "APPEARANCE_PASSES",
    "DegradePass",
    "Concentration",
    "CountWithin",
    "VisibleFraction",
    "Area",
    "Compare",
    "And",
    "Or",
    "Not",
    "Condition",
    "MaskRule",
    "Scene",
    "scene_hash",
]


class IRModel(BaseModel):
    """Base of all IR models: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSpan(IRModel):
    """Where an IR node came from in the scene source (for runtime messages)."""

    file: str | None = Field(None, description="Scene file path, or None for a string source.")
    line: int = Field(..., ge=1, description="1-based start line.")
    column: int = Field(..., ge=1, description="1-based start column.")
    end_line: int = Field(..., ge=1, description="1-based end line.")
    end_column: int = Field(..., ge=1, description="1-based end column (exclusive).")

    def to_span(self) -> Span:
        """Convert to the :class:`synthlang.common.errors.Span` used by errors."""
        return Span(self.file, self.line, self.column, self.end_line, self.end_column)

    @classmethod
    def from_span(cls, span: Span) -> SourceSpan:
        """Build from an error-family :class:`~synthlang.common.errors.Span`."""
        return cls(
            file=span.file,
            line=span.line,
            column=span.column,
            end_line=span.end_line,
            end_column=span.end_column,
        )


# --------------------------------------------------------------------------- distributions


class Constant(IRModel):
    """A fixed number. ``3`` in a scene compiles to ``Constant(value=3)``."""

    kind: Literal["constant"] = "constant"
    value: float = Field(..., description="The value.")


class Uniform(IRModel):
    """Continuous uniform on ``[low, high]``: ``uniform(low, high)``."""

    kind: Literal["uniform"] = "uniform"
    low: float = Field(..., description="Lower bound (inclusive).")
    high: float = Field(..., description="Upper bound; must be >= low.")


class RandInt(IRModel):
    """Integer uniform on ``{low, ..., high}`` (both inclusive): ``randint(low, high)``."""

    kind: Literal["randint"] = "randint"
    low: int = Field(..., description="Smallest value (inclusive).")
    high: int = Field(..., description="Largest value (inclusive); must be >= low.")


class Normal(IRModel):
    """Gaussian ``normal(mean, std)``."""

    kind: Literal["normal"] = "normal"
    mean: float = Field(..., description="Mean.")
    std: float = Field(..., ge=0, description="Standard deviation (>= 0).")


class TruncNormal(IRModel):
    """Gaussian restricted to ``[low, high]``: ``truncnormal(mean, std, low, high)``.

    Drawn by inverse-CDF sampling (no rejection loop).
    """

    kind: Literal["truncnormal"] = "truncnormal"
    mean: float = Field(..., description="Mean of the untruncated Gaussian.")
    std: float = Field(..., gt=0, description="Standard deviation of the untruncated Gaussian.")
    low: float = Field(..., description="Lower bound.")
    high: float = Field(..., description="Upper bound; must be > low.")


class Choice(IRModel):
    """A finite choice ``choice([v1, v2, ...], weights [w1, w2, ...])``.

    Weights are normalised by the compiler to sum to 1; equal when omitted.
    """

    kind: Literal["choice"] = "choice"
    values: tuple[float, ...] = Field(..., min_length=1, description="The values to choose from.")
    weights: tuple[float, ...] = Field(
        ..., min_length=1, description="Probabilities, same length as values, summing to 1."
    )


Distribution = Annotated[
    Constant | Uniform | RandInt | Normal | TruncNormal | Choice,
    Field(discriminator="kind"),
]


class SpeedField(IRModel):
    """A random positive speed field for fast marching.

    A Gaussian random field with the given mean and standard deviation and a
    Gaussian correlation length of ``smoothness`` pixels, clipped below at
    ``minimum`` so that the speed stays positive. Written
    ``gaussian_field(mean 1, std 0.3, smoothness 10)`` in a scene.
    """

    kind: Literal["gaussian_field"] = "gaussian_field"
    mean: float = Field(1.0, gt=0, description="Mean speed (pixels per unit time).")
    std: float = Field(0.3, ge=0, description="Standard deviation of the speed.")
    smoothness: float = Field(10.0, gt=0, description="Correlation length in pixels.")
    minimum: float = Field(0.05, gt=0, description="Speeds are clipped below at this value.")


# --------------------------------------------------------------------------- regions


class VoronoiRegions(IRModel):
    """``regions voronoi(n)``: a Voronoi tessellation of ``n`` random control points."""

    kind: Literal["voronoi"] = "voronoi"
    count: int = Field(..., ge=1, le=10000, description="Number of regions (control points).")


class FastMarchingRegions(IRModel):
    """``regions fast_marching(n, speed ...)``: first-arrival regions under a random speed.

    Each pixel belongs to the control point whose fast-marching front
    reaches it first.
    """

    kind: Literal["fast_marching"] = "fast_marching"
    count: int = Field(..., ge=1, le=10000, description="Number of regions (control points).")
    speed: SpeedField = Field(default_factory=SpeedField, description="The random speed field.")


RegionSpec = Annotated[VoronoiRegions | FastMarchingRegions, Field(discriminator="kind")]


class RegionSelection(IRModel):
    """A set of regions chosen per sample: ``regions(k of n)``.

    Per sample the engine draws one random permutation ``perm`` of the region
    labels ``0..n-1``. A selection takes ``perm[start:start + count]``. The
    compiler allocates ``start`` so that selections are disjoint, in the order
    they first appear in the scene; a selection given a name
    (``regions(5 of 7) as tumor_area``) can be reused by name and then refers
    to the same regions. ``all`` selects every region (``start=0, count=n``).
    """

    start: int = Field(..., ge=0, description="Offset into the per-sample region permutation.")
    count: int = Field(..., ge=1, description="Number of regions selected (k).")
    name: str | None = Field(None, description="Name given with `as NAME`, if any.")
    invert: bool = Field(False, description="Select the complement (`not in ...`).")


# --------------------------------------------------------------------------- shapes


class EllipseShape(IRModel):
    """``ellipse(semi_axes D [, D2], angle D)``: a filled ellipse.

    The two semi-axes are drawn independently from ``semi_axes[0]`` and
    ``semi_axes[1]`` (the same distribution twice when one is given); the
    inclination from ``angle`` in degrees.
    """

    kind: Literal["ellipse"] = "ellipse"
    semi_axes: tuple[Distribution, Distribution] = Field(
        ..., description="Distributions of the two semi-axes in pixels (drawn values must be > 0)."
    )
    angle: Distribution = Field(
        default_factory=lambda: Uniform(low=0.0, high=180.0),
        description="Distribution of the inclination in degrees.",
    )


class PatchShape(IRModel):
    """``patch("dir", scale D, rotate true)``: real nucleus cut-outs.

    Each object is a random RGBA patch of the library (alpha from the
    annotation), rotated by a uniform random angle when ``rotate`` and scaled
    by a factor drawn from ``scale``. The patch's own pixels are its texture;
    the layer's colour model is not used for it.
    """

    kind: Literal["patch"] = "patch"
    library: str = Field(..., description="Absolute path of the patch library folder (index.json).")
    scale: Distribution = Field(
        default_factory=lambda: Constant(value=1.0), description="Scale factor distribution (> 0)."
    )
    rotate: bool = Field(True, description="Rotate each patch by a uniform random angle.")
    smooth: float = Field(
        1.0, ge=0, description="Gaussian sigma (px) that turns the patch into its clean version."
    )
    digest: str = Field(
        "", description="SHA-256 of the library's index.json (set by the compiler)."
    )


class GrownShape(IRModel):
    """``grown(from CATEGORY, time D, speed ...)``: stochastic fast-marching growth.

    One object per instance of the source category: the front starts at the
    source object's mask and moves with a random speed field for ``time``;
    each pixel goes to the source whose front arrives first (so grown objects
    tile the tissue and never overlap each other). Restricted to the
    placement's regions when the layer has them.
    """

    kind: Literal["grown"] = "grown"
    source: str = Field(..., description="Category whose objects seed the growth.")
    time: Distribution = Field(
        ..., description="Marching time (arrival-time threshold), per sample."
    )
    speed: SpeedField = Field(default_factory=SpeedField, description="Random speed field.")


class RibbonShape(IRModel):
    """``ribbon(maps 3, width D, speed ...)``: connective-tissue ribbons.

    For each of ``maps`` random speed fields, the fast-marching arrival time
    from the complement of the considered regions (the region boundaries) is
    computed; the ribbon is the union over maps of the preimage of a random
    interval ``[t0, t0 + width]`` with ``t0`` drawn from ``offset``. Thickness
    grows with the interval size.
    """

    kind: Literal["ribbon"] = "ribbon"
    maps: int = Field(3, ge=1, le=64, description="Number of distance maps (speed fields).")
    width: Distribution = Field(..., description="Interval length (ribbon thickness, px).")
    offset: Distribution = Field(
        default_factory=lambda: Constant(value=0.0),
        description="Start of the interval (distance from the region boundary, px).",
    )
    speed: SpeedField = Field(default_factory=SpeedField, description="Random speed fields.")


class FillShape(IRModel):
    """``fill``: the whole placement area (the image, or each selected region) is one object."""

    kind: Literal["fill"] = "fill"
    per_region: bool = Field(
        True, description="One object per selected region (else one object for the union)."
    )


Shape = Annotated[
    EllipseShape | PatchShape | GrownShape | RibbonShape | FillShape,
    Field(discriminator="kind"),
]

OBJECT_SHAPES = ("ellipse", "patch")
"""Shape kinds that are placed object by object by a :class:`Placement`."""


# --------------------------------------------------------------------------- placement


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


class Placement(IRModel):
    """Where and how many objects of an object shape are placed.

    ``mode``: ``count`` places ``count`` objects at uniformly random centres in
    the area; ``fill`` places objects until ``max_failures`` consecutive
    proposals fail (the area is full); ``inside`` puts at most one object inside
    each object of ``inside`` (its mask entirely within the host's mask).
    ``probability`` keeps each placed object with that probability (Table 1's
    "only 60% visible"). Proposals are bounded by ``max_attempts``; a shortfall
    is reported, never looped on.
    """

    mode: Literal["count", "fill", "inside"] = Field(..., description="Placement mode.")
    count: Distribution | None = Field(
        None, description="Number of objects for mode `count` (rounded, >= 0)."
    )
    inside: str | None = Field(None, description="Host category for mode `inside`.")
    regions: RegionSelection | None = Field(
        None, description="Restrict centres/objects to these regions (None: whole image)."
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
        return self


# --------------------------------------------------------------------------- colour


class MVNColor(IRModel):
    """``mvn(mean [r, g, b], cov [[...]], between [[...]])``.

    Each object draws its mean colour from ``N(mean, between)`` (``between``
    zero means every object has exactly ``mean``); the clean image shows that
    mean, the noisy image adds per-pixel RGB noise ``N(0, cov)``. ``rgb(r, g,
    b)`` is the same with both covariances zero. Values are clipped to [0, 1].
    """

    kind: Literal["mvn"] = "mvn"
    mean: tuple[float, float, float] = Field(..., description="Mean RGB colour in [0, 1].")
    cov: tuple[tuple[float, float, float], ...] = Field(
        ((0.0,) * 3,) * 3, description="3x3 per-pixel noise covariance (symmetric PSD)."
    )
    between: tuple[tuple[float, float, float], ...] = Field(
        ((0.0,) * 3,) * 3, description="3x3 covariance of the object mean colours (symmetric PSD)."
    )

    @model_validator(mode="after")
    def _three_by_three(self) -> MVNColor:
        for name in ("cov", "between"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"{name} must be a 3x3 matrix")
        return self


class PatchTexture(IRModel):
    """``patches("dir", cohorts 3, size 8, overlap 2)``: a patch-lattice texture.

    Each object picks one cohort at random and covers its bounding box with
    a lattice of square patches of side ``size`` drawn from that cohort, with
    neighbours overlapping by ``overlap`` pixels and linearly blended there.
    """

    kind: Literal["patches"] = "patches"
    library: str = Field(..., description="Absolute path of the texture library folder.")
    cohorts: int = Field(3, ge=1, le=64, description="Number of colour cohorts used.")
    size: int = Field(8, ge=2, le=256, description="Patch side in pixels.")
    overlap: int = Field(2, ge=0, description="Overlap of neighbouring patches in pixels (< size).")
    smooth: float = Field(
        1.0, ge=0, description="Gaussian sigma (px) that turns the texture into its clean version."
    )
    digest: str = Field(
        "", description="SHA-256 of the library's index.json (set by the compiler)."
    )

    @model_validator(mode="after")
    def _overlap_lt_size(self) -> PatchTexture:
        if self.overlap >= self.size:
            raise ValueError("patch overlap must be smaller than patch size")
        return self


ColorModel = Annotated[MVNColor | PatchTexture, Field(discriminator="kind")]


class Contour(IRModel):
    """``contour(width 1, color C)``: draw each object's boundary in its own colour."""

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

    width: Distribution = Field(
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

    amount: Distribution = Field(
        ..., description="Relative standard deviation of the shading, in [0, 1], per object."
    )
    scale: Distribution = Field(
        default_factory=lambda: Constant(value=1.5),
        description="Granule size: the band-pass sigma in px (> 0, <= 50), per object.",
    )
    granules: Distribution = Field(
        default_factory=lambda: Constant(value=0.5),
        description="Share of distinct dark granules (1) versus smooth mottling (0), in [0, 1].",
    )
    rim: Distribution = Field(
        default_factory=lambda: Constant(value=0.1),
        description="Darkening at the object's border, in [0, 1], per object.",
    )


# --------------------------------------------------------------------------- layers


class Layer(IRModel):
    """One layer: exactly one object category with its shape, placement and colour.

    Layers are listed bottom (index 0) to top; an upper layer replaces what
    it overlaps.
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
    span: SourceSpan | None = Field(None, description="Source position of the layer.")


# --------------------------------------------------------------------------- degradation


class GaussianBlur(IRModel):
    """``blur gaussian(sigma)``: Gaussian blur of the noisy image, sigma in px."""

    kind: Literal["blur"] = "blur"
    sigma: Distribution = Field(..., description="Blur sigma in pixels (>= 0), drawn per sample.")


class GaussianNoise(IRModel):
    """``noise gaussian(std)``: i.i.d. Gaussian noise added to every channel."""

    kind: Literal["gaussian_noise"] = "gaussian_noise"
    std: Distribution = Field(..., description="Noise standard deviation (>= 0), per sample.")


class PoissonNoise(IRModel):
    """``noise poisson(peak)``: shot noise, ``Poisson(peak * x) / peak`` per channel."""

    kind: Literal["poisson_noise"] = "poisson_noise"
    peak: Distribution = Field(..., description="Photon count at intensity 1 (> 0), per sample.")


class StainJitter(IRModel):
    """``stain he(alpha, beta, angle)`` / ``stain hed(...)``: stain variation in OD space.

    Each pixel's optical density ``-log(rgb)`` is split into haematoxylin, eosin
    and DAB concentrations with scikit-image's HED basis
    (:data:`skimage.color.hed_from_rgb`, the units of :func:`skimage.color.rgb2hed`);
    each perturbed stain ``s`` becomes ``alpha_s * c_s + beta_s`` and the
    concentrations are recombined with stain vectors that are each tilted by a
    random angle. ``he`` perturbs H and E (the DAB / residual part is kept);
    ``hed`` perturbs all three. Applied to the clean and the noisy image alike.
    """

    kind: Literal["stain"] = "stain"
    stains: Literal["he", "hed"] = Field("he", description="Which stains are perturbed.")
    alpha: tuple[Distribution, ...] = Field(
        ..., min_length=2, max_length=3, description="Concentration scale per stain (>= 0)."
    )
    beta: tuple[Distribution, ...] = Field(
        ..., min_length=2, max_length=3, description="Concentration shift per stain (HED units)."
    )
    angle: Distribution = Field(
        default_factory=lambda: Constant(value=0.0),
        description="Tilt of each stain vector in degrees (random direction), per stain.",
    )

    @model_validator(mode="after")
    def _lengths(self) -> StainJitter:
        n = len(self.stains)
        if len(self.alpha) != n or len(self.beta) != n:
            raise ValueError(f"stain {self.stains} needs {n} alpha and beta values")
        return self


class Brightness(IRModel):
    """``brightness(factor)``: multiply every channel by ``factor`` (1 = unchanged)."""

    kind: Literal["brightness"] = "brightness"
    factor: Distribution = Field(..., description="Intensity factor (>= 0), per sample.")


class Contrast(IRModel):
    """``contrast(factor)``: scale deviations from the clean image's mean grey level."""

    kind: Literal["contrast"] = "contrast"
    factor: Distribution = Field(..., description="Contrast factor (>= 0; 1 = unchanged).")


class Gamma(IRModel):
    """``gamma(exponent)``: ``x ** exponent`` per channel (1 = unchanged)."""

    kind: Literal["gamma"] = "gamma"
    exponent: Distribution = Field(..., description="Gamma exponent (> 0), per sample.")


class Saturation(IRModel):
    """``saturation(factor)``: blend each pixel with its grey level (0 = grey, 1 = unchanged)."""

    kind: Literal["saturation"] = "saturation"
    factor: Distribution = Field(..., description="Saturation factor (>= 0), per sample.")


class JPEGCompression(IRModel):
    """``jpeg(quality)``: JPEG encode and decode of the noisy image (Pillow, in memory)."""

    kind: Literal["jpeg"] = "jpeg"
    quality: Distribution = Field(..., description="JPEG quality 1..100 (rounded), per sample.")


class ScaleJitter(IRModel):
    """``scale(factor)``: zoom of the whole sample (pixel-size jitter).

    The scene is rendered on a canvas of ``size / factor`` pixels and every
    output (clean, noisy, mask, id maps, regions) is resampled to ``size``:
    objects look ``factor`` times larger. Images are interpolated linearly
    (anti-aliased when shrinking), labels by nearest neighbour on the same grid.
    """

    kind: Literal["scale"] = "scale"
    factor: Distribution = Field(..., description="Zoom factor (> 0; 1 = unchanged), per sample.")


APPEARANCE_PASSES = ("stain", "brightness", "contrast", "gamma", "saturation")
"""Pass kinds that change the tissue's appearance: applied to the clean and the noisy image."""


DegradePass = Annotated[
    GaussianBlur
    | GaussianNoise
    | PoissonNoise
    | StainJitter
    | Brightness
    | Contrast
    | Gamma
    | Saturation
    | JPEGCompression
    | ScaleJitter,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- mask rules


class Concentration(IRModel):
    """``concentration(CATEGORY, radius R)``.

    For an object with centre ``c``: the number of pixels ``p`` of the image
    with ``|p - c| <= R`` that are covered by some object of ``category``
    (its full shape, hidden parts included), divided by the number of pixels
    of that disk that lie inside the image.
    """

    kind: Literal["concentration"] = "concentration"
    category: str = Field(..., description="Category whose coverage is measured.")
    radius: float = Field(..., gt=0, description="Disk radius in pixels.")


class CountWithin(IRModel):
    """``count(CATEGORY, radius R)``: objects of CATEGORY whose centre is within R of this centre.

    The object itself is not counted.
    """

    kind: Literal["count"] = "count"
    category: str = Field(..., description="Category counted.")
    radius: float = Field(..., gt=0, description="Radius in pixels.")


class VisibleFraction(IRModel):
    """``visible``: fraction of the object's pixels not covered by upper layers or later objects."""

    kind: Literal["visible"] = "visible"


class Area(IRModel):
    """``area``: the object's area in pixels (full shape)."""

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


# --------------------------------------------------------------------------- scene


class Scene(IRModel):
    """A compiled scene: everything the engine needs to render samples."""

    name: str = Field(..., description="Scene name from `scene NAME { ... }`.")
    size: tuple[int, int] = Field(..., description="Image size (rows, cols).")
    regions: RegionSpec | None = Field(None, description="Region decomposition, if any.")
    layers: tuple[Layer, ...] = Field(..., min_length=1, description="Layers, bottom to top.")
    degrade: tuple[DegradePass, ...] = Field((), description="Degradations of the noisy image.")
    masks: tuple[MaskRule, ...] = Field((), description="Mask rules (or-combined).")
    source: str | None = Field(None, description="Path of the main scene file, if any.")
    sources: tuple[str, ...] = Field(
        (), description="All files that contributed (main file first, then imports)."
    )

    def layer(self, name: str) -> Layer:
        """Return the layer of category ``name``.

        Raises
        ------
        KeyError
            If there is no such layer.
        """
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def categories(self) -> tuple[str, ...]:
        """Category names, bottom to top."""
        return tuple(layer.name for layer in self.layers)

    def render_order(self) -> tuple[int, ...]:
        """Layer indices in the order the engine must build them.

        A layer is built after the layers it depends on (:func:`layer_dependencies`):
        its ``inside`` host, its ``overlap ... with`` categories and the source of a
        ``grown`` shape. The source of a grown shape may be an *upper* layer (the
        paper's tumour cells, layer 2, are grown from the tumour nuclei of layer 3),
        so the build order can differ from the compositing order, which is always
        bottom to top. Ties are broken by layer index.

        Raises
        ------
        ValueError
            If the dependencies form a cycle; the message names it.

        Examples
        --------
        >>> scene = Scene(name="s", size=(8, 8), layers=(
        ...     Layer(index=0, name="cell",
        ...           shape=GrownShape(source="nucleus", time=Constant(value=2)),
        ...           color=MVNColor(mean=(1, 0, 0))),
        ...     Layer(index=1, name="nucleus", shape=FillShape(), color=MVNColor(mean=(0, 0, 1)))))
        >>> scene.render_order()
        (1, 0)
        """
        import heapq

        index = {layer.name: layer.index for layer in self.layers}
        deps = {
            layer.index: {index[d] for d in layer_dependencies(layer) if d in index} - {layer.index}
            for layer in self.layers
        }
        users: dict[int, list[int]] = {i: [] for i in deps}
        for i, ds in deps.items():
            for d in ds:
                users[d].append(i)
        waiting = {i: len(ds) for i, ds in deps.items()}
        ready = [i for i, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for u in users[i]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, u)
        if len(order) < len(deps):
            stuck = {i for i in deps if i not in order}
            names = " -> ".join(self.layers[i].name for i in _cycle(deps, stuck, min(stuck)))
            raise ValueError(f"layer dependencies form a cycle: {names}")
        return tuple(order)


def layer_dependencies(layer: Layer) -> tuple[str, ...]:
    """Categories a layer needs before it can be built (host, overlap targets, growth source)."""
    deps: list[str] = []
    if layer.placement is not None:
        if layer.placement.inside:
            deps.append(layer.placement.inside)
        deps.extend(layer.placement.overlap.against)
    if isinstance(layer.shape, GrownShape):
        deps.append(layer.shape.source)
    return tuple(dict.fromkeys(d for d in deps if d != layer.name))


def _cycle(deps: dict[int, set[int]], stuck: set[int], start: int) -> list[int]:
    """Follow dependencies inside ``stuck`` from ``start`` until one repeats; return the cycle.

    Every layer left over by the topological sort waits for another left-over layer,
    so the walk always finds one.
    """
    path = [start]
    seen = {start: 0}
    node = start
    while True:
        node = min(d for d in deps[node] if d in stuck)
        if node in seen:
            return path[seen[node] :] + [node]
        seen[node] = len(path)
        path.append(node)


_UNSET_OPTIONAL = ("soft", "chromatin")
"""Fields added after scene hashes were first recorded: left out of the hash while unset,
so a scene that does not use them keeps its hash (and its datasets stay resumable)."""


def _strip_spans(obj: object) -> object:
    if isinstance(obj, dict):
        return {
            k: _strip_spans(v)
            for k, v in obj.items()
            if k not in ("span", "source", "sources") and not (k in _UNSET_OPTIONAL and v is None)
        }
    if isinstance(obj, list):
        return [_strip_spans(v) for v in obj]
    return obj


def scene_hash(scene: Scene) -> str:
    """Return a SHA-256 hex digest of the scene's meaning.

    Spans and file names are excluded, so reformatting a scene or moving it
    to another folder does not change the hash; any change of a number,
    name or rule does. Patch libraries are identified by path only.

    Examples
    --------
    >>> len(scene_hash(Scene(name="s", size=(8, 8), layers=(
    ...     Layer(index=0, name="bg", shape=FillShape(), color=MVNColor(mean=(1, 1, 1))),))))
    64
    """
    data = _strip_spans(scene.model_dump(mode="json"))
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
