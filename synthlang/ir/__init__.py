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

from synthlang.ir.base import BLOCKS, Arg, Block, IRModel, SourceSpan, fmt_number
from synthlang.ir.budget import RenderEstimate, check_render_bytes, estimate_render_bytes
from synthlang.ir.degrade import (
    APPEARANCE_PASSES,
    Brightness,
    Contrast,
    DegradePass,
    Gamma,
    GaussianBlur,
    GaussianNoise,
    JPEGCompression,
    PoissonNoise,
    Saturation,
    ScaleJitter,
    StainJitter,
)
from synthlang.ir.layer import Chromatin, Contour, Layer, Overlap, Placement, SoftEdge
from synthlang.ir.masks import (
    And,
    Area,
    Compare,
    Concentration,
    Condition,
    CountWithin,
    MaskRule,
    Metric,
    Not,
    Or,
    VisibleFraction,
)
from synthlang.ir.scene import Scene, layer_dependencies, scene_hash
from synthlang.ir.shapes import (
    OBJECT_SHAPES,
    EllipseShape,
    FillShape,
    GrownShape,
    ObjectShapeModel,
    PatchShape,
    RibbonShape,
    Shape,
    ShapeModel,
)
from synthlang.ir.values import (
    Choice,
    ColorModel,
    Constant,
    Distribution,
    FastMarchingRegions,
    MVNColor,
    Normal,
    PatchTexture,
    RandInt,
    RegionSelection,
    RegionSpec,
    SpeedField,
    TruncNormal,
    Uniform,
    VoronoiRegions,
    support,
    whole_valued,
)

__all__ = [
    "IRModel", "SourceSpan", "Arg", "Block", "BLOCKS", "fmt_number",
    "Constant", "Uniform", "RandInt", "Normal", "TruncNormal", "Choice", "Distribution",
    "support", "whole_valued", "SpeedField",
    "VoronoiRegions", "FastMarchingRegions", "RegionSpec", "RegionSelection",
    "ShapeModel", "ObjectShapeModel", "EllipseShape", "PatchShape", "GrownShape", "RibbonShape",
    "FillShape", "Shape", "OBJECT_SHAPES",
    "Overlap", "Placement", "MVNColor", "PatchTexture", "ColorModel",
    "Contour", "SoftEdge", "Chromatin", "Layer",
    "GaussianBlur", "GaussianNoise", "PoissonNoise", "StainJitter", "Brightness", "Contrast",
    "Gamma", "Saturation", "JPEGCompression", "ScaleJitter", "APPEARANCE_PASSES", "DegradePass",
    "Concentration", "CountWithin", "VisibleFraction", "Area", "Metric",
    "Compare", "And", "Or", "Not", "Condition", "MaskRule",
    "Scene", "layer_dependencies", "scene_hash",
    "RenderEstimate", "estimate_render_bytes", "check_render_bytes",
]  # fmt: skip
