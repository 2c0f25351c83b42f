"""Values of the IR: distributions, speed fields, region decompositions, colours, textures."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from synthlang.common.channels import MAX_CHANNELS
from synthlang.ir.base import Arg, Block, IRModel, fmt_number

__all__ = [
    "Constant",
    "Uniform",
    "RandInt",
    "Normal",
    "TruncNormal",
    "Choice",
    "Distribution",
    "support",
    "whole_valued",
    "SpeedField",
    "VoronoiRegions",
    "FastMarchingRegions",
    "RegionSpec",
    "RegionSelection",
    "MVNColor",
    "PatchTexture",
    "ColorModel",
]


# --------------------------------------------------------------------------- distributions


class Constant(IRModel):
    """A fixed number. ``3`` in a scene compiles to ``Constant(value=3)``."""

    kind: Literal["constant"] = "constant"
    value: float = Field(..., description="The value.")


class Uniform(IRModel):
    """Continuous uniform on ``[low, high]``: ``uniform(low, high)``."""

    blocks = (Block("uniform", "distribution", "continuous uniform on [low, high]"),)
    kind: Literal["uniform"] = "uniform"
    low: float = Field(..., description="Lower bound (inclusive).")
    high: float = Field(..., description="Upper bound; must be >= low.")

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low > self.high:
            raise ValueError(
                f"uniform(low, high) needs low <= high, got "
                f"uniform({fmt_number(self.low)}, {fmt_number(self.high)})"
            )
        return self


class RandInt(IRModel):
    """Integer uniform on ``{low, ..., high}`` (both inclusive): ``randint(low, high)``."""

    blocks = (Block("randint", "distribution", "whole numbers low..high, both included"),)
    kind: Literal["randint"] = "randint"
    low: int = Field(..., description="Smallest value (inclusive).")
    high: int = Field(..., description="Largest value (inclusive); must be >= low.")

    @model_validator(mode="after")
    def _ordered(self) -> RandInt:
        if self.low > self.high:
            raise ValueError(
                f"randint(low, high) needs low <= high, got randint({self.low}, {self.high})"
            )
        return self


class Normal(IRModel):
    """Gaussian ``normal(mean, std)``."""

    blocks = (Block("normal", "distribution", "Gaussian"),)
    kind: Literal["normal"] = "normal"
    mean: float = Field(..., description="Mean.")
    std: float = Field(..., ge=0, description="Standard deviation (>= 0).")


class TruncNormal(IRModel):
    """Gaussian restricted to ``[low, high]``: ``truncnormal(mean, std, low, high)``.

    Drawn by inverse-CDF sampling (no rejection loop).
    """

    blocks = (Block("truncnormal", "distribution", "Gaussian restricted to [low, high]"),)
    kind: Literal["truncnormal"] = "truncnormal"
    mean: float = Field(..., description="Mean of the untruncated Gaussian.")
    std: float = Field(..., gt=0, description="Standard deviation of the untruncated Gaussian.")
    low: float = Field(..., description="Lower bound.")
    high: float = Field(..., description="Upper bound; must be > low.")

    @model_validator(mode="after")
    def _ordered(self) -> TruncNormal:
        if not self.low < self.high:
            raise ValueError(
                f"truncnormal(mean, std, low, high) needs low < high, got low "
                f"{fmt_number(self.low)} and high {fmt_number(self.high)}"
            )
        return self


class Choice(IRModel):
    """A finite choice ``choice([v1, v2, ...], weights [w1, w2, ...])``.

    Weights are normalised by the compiler to sum to 1; equal when omitted.
    """

    blocks = (
        Block(
            "choice",
            "distribution",
            "one of the values, with the given weights (equal when omitted)",
        ),
    )
    kind: Literal["choice"] = "choice"
    values: tuple[float, ...] = Field(..., min_length=1, description="The values to choose from.")
    weights: Annotated[tuple[float, ...], Arg(optional=True)] = Field(
        ..., min_length=1, description="Probabilities, same length as values, summing to 1."
    )


Distribution = Annotated[
    Constant | Uniform | RandInt | Normal | TruncNormal | Choice,
    Field(discriminator="kind"),
]


def support(dist: Distribution) -> tuple[float, float]:
    """Return the (possibly infinite) closed range of values ``dist`` can produce.

    Examples
    --------
    >>> support(Uniform(low=1, high=2))
    (1.0, 2.0)
    >>> support(Normal(mean=0, std=1))
    (-inf, inf)
    """
    if isinstance(dist, Constant):
        return (dist.value, dist.value)
    if isinstance(dist, (Uniform, TruncNormal, RandInt)):
        return (float(dist.low), float(dist.high))
    if isinstance(dist, Normal):
        if dist.std == 0:
            return (dist.mean, dist.mean)
        return (-math.inf, math.inf)
    if isinstance(dist, Choice):
        return (min(dist.values), max(dist.values))
    raise TypeError(f"not a distribution: {dist!r}")


def whole_valued(dist: Distribution) -> bool:
    """Whether every value ``dist`` can take is a whole number.

    Examples
    --------
    >>> whole_valued(RandInt(low=5, high=9)), whole_valued(Uniform(low=5, high=9))
    (True, False)
    """
    if isinstance(dist, RandInt):
        return True
    if isinstance(dist, Constant):
        return float(dist.value).is_integer()
    if isinstance(dist, Choice):
        return all(float(v).is_integer() for v in dist.values)
    if isinstance(dist, Normal):
        return dist.std == 0 and float(dist.mean).is_integer()
    return (
        isinstance(dist, (Uniform, TruncNormal))
        and dist.low == dist.high
        and float(dist.low).is_integer()
    )


class SpeedField(IRModel):
    """A random positive speed field for fast marching.

    A Gaussian random field with the given mean and standard deviation and a
    Gaussian correlation length of ``smoothness`` pixels, clipped below at
    ``minimum`` so that the speed stays positive. Written
    ``gaussian_field(mean 1, std 0.3, smoothness 10)`` in a scene.
    """

    blocks = (Block("gaussian_field", "speed field", "smooth random positive speed field"),)
    kind: Literal["gaussian_field"] = "gaussian_field"
    mean: float = Field(1.0, gt=0, description="Mean speed (pixels per unit time).")
    std: float = Field(0.3, ge=0, description="Standard deviation of the speed.")
    smoothness: Annotated[float, Arg(limit="max_radius")] = Field(
        10.0, gt=0, description="Correlation length in pixels."
    )
    minimum: float = Field(0.05, gt=0, description="Speeds are clipped below at this value.")


# --------------------------------------------------------------------------- regions


class VoronoiRegions(IRModel):
    """``regions voronoi(n)``: a Voronoi tessellation of ``n`` random control points."""

    blocks = (Block("voronoi", "region decomposition", "Voronoi cells of random control points"),)
    kind: Literal["voronoi"] = "voronoi"
    count: int = Field(..., ge=1, le=10000, description="Number of regions (control points).")


class FastMarchingRegions(IRModel):
    """``regions fast_marching(n, speed ...)``: first-arrival regions under a random speed.

    Each pixel belongs to the control point whose fast-marching front
    reaches it first.
    """

    blocks = (
        Block(
            "fast_marching",
            "region decomposition",
            "first-arrival regions of fast marching from random control points",
        ),
    )
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


# --------------------------------------------------------------------------- colour


class MVNColor(IRModel):
    """``mvn(mean [c1, ..., cC], cov [[...]], between [[...]])``.

    One value per channel of the scene (``r, g, b`` by default; ``channels [...]`` in the
    header names others). Each object draws its mean colour from ``N(mean, between)``
    (``between`` zero means every object has exactly ``mean``); the clean image shows that
    mean, the noisy image adds per-pixel noise ``N(0, cov)``. ``rgb(r, g, b)`` is the same
    with both covariances zero. Values are clipped to [0, 1]. ``cov`` and ``between`` are
    ``C x C`` (zero when omitted).
    """

    blocks = (
        Block(
            "mvn",
            "colour",
            "mean colour with correlated per-pixel noise (cov) and per-object spread (between)",
        ),
    )
    kind: Literal["mvn"] = "mvn"
    mean: Annotated[tuple[float, ...], Arg(check="unit", type="vector")] = Field(
        ..., description="Mean colour, one value in [0, 1] per channel (RGB: three)."
    )
    cov: Annotated[tuple[tuple[float, ...], ...], Arg(type="matrix")] = Field(
        ((0.0,) * 3,) * 3,
        description="Per-pixel noise covariance, one row and column per channel (symmetric PSD).",
    )
    between: Annotated[tuple[tuple[float, ...], ...], Arg(type="matrix")] = Field(
        ((0.0,) * 3,) * 3,
        description="Covariance of the object mean colours, channels x channels (symmetric PSD).",
    )

    @model_validator(mode="before")
    @classmethod
    def _zero_defaults(cls, data: Any) -> Any:
        """Omitted covariances are zero matrices of the mean's size."""
        if isinstance(data, dict) and isinstance(data.get("mean"), (tuple, list)):
            n = len(data["mean"])
            zero = ((0.0,) * n,) * n
            data = {**data, "cov": data.get("cov", zero), "between": data.get("between", zero)}
        return data

    @model_validator(mode="after")
    def _square(self) -> MVNColor:
        n = len(self.mean)
        if not 1 <= n <= MAX_CHANNELS:
            raise ValueError(f"mvn mean has {n} values; a colour has 1 to {MAX_CHANNELS}")
        for name in ("cov", "between"):
            m = getattr(self, name)
            if len(m) != n or any(len(row) != n for row in m):
                raise ValueError(f"{name} must be a {n}x{n} matrix (one row per mean value)")
        return self

    @property
    def channels(self) -> int:
        """The number of channels of the colour (values of ``mean``)."""
        return len(self.mean)


class PatchTexture(IRModel):
    """``patches("dir", cohorts 3, size 8, overlap 2)``: a patch-lattice texture.

    Each object picks one cohort at random and covers its bounding box with
    a lattice of square patches of side ``size`` drawn from that cohort, with
    neighbours overlapping by ``overlap`` pixels and linearly blended there.
    """

    blocks = (
        Block(
            "patches",
            "texture",
            "patch-lattice texture from a texture library",
            internal=("digest",),
        ),
    )
    kind: Literal["patches"] = "patches"
    library: Annotated[str, Arg(type="path")] = Field(
        ..., description="Absolute path of the texture library folder."
    )
    cohorts: int = Field(3, ge=1, le=64, description="Number of colour cohorts used.")
    size: int = Field(8, ge=2, le=256, description="Patch side in pixels.")
    overlap: int = Field(
        2, ge=0, le=255, description="Overlap of neighbouring patches in pixels (< size)."
    )
    smooth: Annotated[float, Arg(limit="max_radius")] = Field(
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
