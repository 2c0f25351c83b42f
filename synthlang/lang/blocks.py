"""Signatures of the language's building blocks.

Each building block (a shape, distribution, colour, region decomposition,
speed field, degradation pass or mask metric) is a grammar rule with a
generic argument list (``synthlang/lang/scene.lark``). This table says which
arguments each block takes, of what type, with which default and which
range check. :mod:`synthlang.lang.compile` binds the written arguments against it
(positional or ``name value``), so a wrong argument gets a precise message::

    ellipse has no argument 'semi_axis'; did you mean 'semi_axes'?

Adding a building block means adding a grammar rule, a :class:`Signature`
here, a builder in :mod:`synthlang.lang.compile` (``BUILDERS``), an IR model and an
engine function (see ``docs/extending.md``).

Examples
--------
>>> SIGNATURES["uniform"].usage()
'uniform(low, high)'
>>> [p.name for p in SIGNATURES["ellipse"].params]
['semi_axes', 'angle']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Param",
    "Signature",
    "SIGNATURES",
    "VALUE_KINDS",
    "LAYER_ITEM_KINDS",
    "PARAM_TYPES",
    "signature",
]

VALUE_KINDS = (
    "number",
    "distribution",
    "colour",
    "texture",
    "shape",
    "speed field",
    "region decomposition",
    "contour",
    "soft edge",
    "chromatin",
    "degradation",
    "metric",
    "list",
    "string",
    "boolean",
)
"""The kinds of value an expression can have (used in type-error messages)."""

LAYER_ITEM_KINDS = ("contour", "soft edge", "chromatin")
"""Results of blocks that are layer items (``contour(...)``, ``soft(...)``, ``chromatin(...)``),
never values: they cannot be bound by ``let``."""

PARAM_TYPES = {
    "number": "a number",
    "integer": "a whole number",
    "distribution": "a number or a distribution",
    "distributions": "a distribution or a list of distributions",
    "semi_axes": "a distribution or a list of two distributions",
    "boolean": "true or false",
    "path": "a folder path in double quotes",
    "speed": "a speed field (gaussian_field(...))",
    "colour": "a colour (rgb(...) or mvn(...))",
    "category": "a category (a layer name)",
    "numbers": "a list of numbers",
    "vector3": "a list of three numbers [r, g, b]",
    "matrix3": "a 3x3 matrix [[a, b, c], [d, e, f], [g, h, i]]",
}
"""Parameter types the compiler knows how to check, with how messages call them."""


@dataclass(frozen=True)
class Param:
    """One argument of a building block.

    Parameters
    ----------
    name : str
        Keyword used in ``name value`` form.
    type : str
        One of :data:`PARAM_TYPES`.
    required : bool
        Whether the argument must be given.
    check : str, optional
        Range rule on the value, or on every value a distribution can take:
        ``"positive"`` (> 0), ``"nonnegative"`` (>= 0) or ``"unit"`` (in [0, 1]).
    minimum, maximum : float, optional
        Inclusive bounds for numbers and whole numbers.
    limit : str, optional
        Name of a :class:`synthlang.common.limits.Limits` field that bounds the value
        (for a distribution: its largest possible value).
    doc : str
        One line for the reference.
    """

    name: str
    type: str
    required: bool = False
    check: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    limit: str | None = None
    doc: str = ""


@dataclass(frozen=True)
class Signature:
    """The arguments and result of one building block.

    Parameters
    ----------
    name : str
        The grammar rule name (``"gaussian_blur"``).
    display : str
        How a user writes the block (``"blur gaussian"``).
    result : str
        The kind of value it produces (one of :data:`VALUE_KINDS`).
    params : tuple of Param
        Arguments in positional order.
    doc : str
        One line for the reference.
    """

    name: str
    display: str
    result: str
    params: tuple[Param, ...]
    doc: str = ""

    def param(self, name: str) -> Param | None:
        """Return the parameter called ``name`` or ``None``."""
        for p in self.params:
            if p.name == name:
                return p
        return None

    def usage(self) -> str:
        """Return a one-line usage, optional arguments in brackets.

        Examples
        --------
        >>> SIGNATURES["normal"].usage()
        'normal(mean, std)'
        """
        parts = [p.name if p.required else f"[{p.name}]" for p in self.params]
        if not self.params and self.name in ("visible", "area"):
            return self.display
        return f"{self.display}({', '.join(parts)})"


def _sig(
    name: str, result: str, *params: Param, display: str | None = None, doc: str = ""
) -> Signature:
    return Signature(name, display or name, result, tuple(params), doc)


_P = Param

SIGNATURES: dict[str, Signature] = {
    s.name: s
    for s in (
        # distributions
        _sig(
            "uniform",
            "distribution",
            _P("low", "number", True),
            _P("high", "number", True),
            doc="continuous uniform on [low, high]",
        ),
        _sig(
            "randint",
            "distribution",
            _P("low", "integer", True),
            _P("high", "integer", True),
            doc="whole numbers low..high, both included",
        ),
        _sig(
            "normal",
            "distribution",
            _P("mean", "number", True),
            _P("std", "number", True, check="nonnegative"),
            doc="Gaussian",
        ),
        _sig(
            "truncnormal",
            "distribution",
            _P("mean", "number", True),
            _P("std", "number", True, check="positive"),
            _P("low", "number", True),
            _P("high", "number", True),
            doc="Gaussian restricted to [low, high]",
        ),
        _sig(
            "choice",
            "distribution",
            _P("values", "numbers", True),
            _P("weights", "numbers"),
            doc="one of the values, with the given weights (equal when omitted)",
        ),
        # colours and textures
        _sig(
            "rgb",
            "colour",
            _P("r", "number", True, check="unit"),
            _P("g", "number", True, check="unit"),
            _P("b", "number", True, check="unit"),
            doc="a fixed colour",
        ),
        _sig(
            "mvn",
            "colour",
            _P("mean", "vector3", True, check="unit"),
            _P("cov", "matrix3"),
            _P("between", "matrix3"),
            doc="mean colour with correlated per-pixel noise (cov) and per-object spread (between)",
        ),
        _sig(
            "patches",
            "texture",
            _P("library", "path", True),
            _P("cohorts", "integer", minimum=1, maximum=64),
            _P("size", "integer", minimum=2, maximum=256),
            _P("overlap", "integer", minimum=0, maximum=255),
            _P("smooth", "number", check="nonnegative", limit="max_radius"),
            doc="patch-lattice texture from a texture library",
        ),
        # speed fields
        _sig(
            "gaussian_field",
            "speed field",
            _P("mean", "number", check="positive"),
            _P("std", "number", check="nonnegative"),
            _P("smoothness", "number", check="positive", limit="max_radius"),
            _P("minimum", "number", check="positive"),
            doc="smooth random positive speed field",
        ),
        # region decompositions
        _sig(
            "voronoi",
            "region decomposition",
            _P("count", "integer", True, minimum=1, maximum=10000),
            doc="Voronoi cells of random control points",
        ),
        _sig(
            "fast_marching",
            "region decomposition",
            _P("count", "integer", True, minimum=1, maximum=10000),
            _P("speed", "speed"),
            doc="first-arrival regions of fast marching from random control points",
        ),
        # shapes
        _sig(
            "ellipse",
            "shape",
            _P("semi_axes", "semi_axes", True, check="positive", limit="max_radius"),
            _P("angle", "distribution"),
            doc="filled ellipse",
        ),
        _sig(
            "patch",
            "shape",
            _P("library", "path", True),
            _P("scale", "distribution", check="positive", limit="max_scale"),
            _P("rotate", "boolean"),
            _P("smooth", "number", check="nonnegative", limit="max_radius"),
            doc="real nucleus cut-outs from a patch library",
        ),
        _sig(
            "grown",
            "shape",
            _P("from", "category", True),
            _P("time", "distribution", True, check="positive", limit="max_radius"),
            _P("speed", "speed"),
            doc="fast-marching growth from the objects of a lower layer",
        ),
        _sig(
            "ribbon",
            "shape",
            _P("width", "distribution", True, check="positive", limit="max_radius"),
            _P("maps", "integer", minimum=1, maximum=64),
            _P("offset", "distribution", check="nonnegative", limit="max_radius"),
            _P("speed", "speed"),
            doc="connective-tissue ribbons along region boundaries",
        ),
        _sig(
            "fill",
            "shape",
            _P("per_region", "boolean"),
            doc="the whole image, or one object per selected region",
        ),
        # contour
        _sig(
            "contour",
            "contour",
            _P("width", "integer", minimum=1, maximum=50),
            _P("color", "colour", True),
            doc="object boundaries in their own colour",
        ),
        # object modifiers (layer items)
        _sig(
            "soft",
            "soft edge",
            _P("width", "distribution", True, check="positive", maximum=50),
            doc="soft object edges: alpha falls from 1 to 0 over `width` pixels",
        ),
        _sig(
            "chromatin",
            "chromatin",
            _P("amount", "distribution", True, check="unit"),
            _P("scale", "distribution", check="positive", maximum=50),
            _P("granules", "distribution", check="unit"),
            _P("rim", "distribution", check="unit"),
            doc="chromatin-like texture: band-passed noise, dark granules, darker rim",
        ),
        # degradations
        _sig(
            "gaussian_blur",
            "degradation",
            _P("sigma", "distribution", True, check="positive", limit="max_radius"),
            display="blur gaussian",
            doc="Gaussian blur, sigma in pixels",
        ),
        _sig(
            "gaussian_noise",
            "degradation",
            _P("std", "distribution", True, check="nonnegative"),
            display="noise gaussian",
            doc="additive Gaussian noise",
        ),
        _sig(
            "poisson_noise",
            "degradation",
            _P("peak", "distribution", True, check="positive"),
            display="noise poisson",
            doc="shot noise, photons at intensity 1",
        ),
        _sig(
            "stain_he",
            "degradation",
            _P("alpha", "distributions", check="nonnegative"),
            _P("beta", "distributions"),
            _P("angle", "distribution", minimum=-90, maximum=90),
            display="stain he",
            doc="H and E concentration scale (alpha) and shift (beta), stain-vector tilt (deg)",
        ),
        _sig(
            "stain_hed",
            "degradation",
            _P("alpha", "distributions", check="nonnegative"),
            _P("beta", "distributions"),
            _P("angle", "distribution", minimum=-90, maximum=90),
            display="stain hed",
            doc="H, E and DAB concentration scale (alpha) and shift (beta), stain-vector tilt",
        ),
        _sig(
            "brightness",
            "degradation",
            _P("factor", "distribution", True, check="nonnegative", maximum=100),
            doc="multiply the intensities by a factor",
        ),
        _sig(
            "contrast",
            "degradation",
            _P("factor", "distribution", True, check="nonnegative", maximum=100),
            doc="scale deviations from the mean grey level",
        ),
        _sig(
            "gamma",
            "degradation",
            _P("exponent", "distribution", True, check="positive", maximum=100),
            doc="x ** exponent per channel",
        ),
        _sig(
            "saturation",
            "degradation",
            _P("factor", "distribution", True, check="nonnegative", maximum=100),
            doc="blend with the grey level (0 grey, 1 unchanged)",
        ),
        _sig(
            "jpeg",
            "degradation",
            _P("quality", "distribution", True, minimum=1, maximum=100),
            doc="JPEG compression of the noisy image, quality 1..100",
        ),
        _sig(
            "scale",
            "degradation",
            _P("factor", "distribution", True, check="positive", minimum=0.1, maximum=10),
            doc="zoom of the whole sample (images, mask, id maps)",
        ),
        # mask metrics
        _sig(
            "concentration",
            "metric",
            _P("category", "category", True),
            _P("radius", "number", True, check="positive", limit="max_radius"),
            doc="covered fraction of a disk around the object's centre",
        ),
        _sig(
            "count",
            "metric",
            _P("category", "category", True),
            _P("radius", "number", True, check="positive", limit="max_radius"),
            doc="other objects whose centre is within the radius",
        ),
        _sig("visible", "metric", doc="visible fraction of the object"),
        _sig("area", "metric", doc="area of the object in pixels"),
    )
}
"""Every building block by grammar rule name."""


def signature(name: str) -> Signature:
    """Return the signature of building block ``name``.

    Raises
    ------
    KeyError
        If there is no such block.
    """
    return SIGNATURES[name]
