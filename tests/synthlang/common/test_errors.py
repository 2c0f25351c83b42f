"""Malformed scenes: each error has the right class, message and position.

Each case marks the expected error position with ``»`` right before the offending
token; the marker is removed before compiling and its line/column is the expected
location. So every case asserts WHERE the error is, not only that it happened.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from synthlang.common.errors import SceneError, SceneSyntaxError, SynthlangError
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.compile import compile_file, compile_string

MARK = "»"

HEAD = """\
scene s {
    size 64 x 64
    regions voronoi(7)
}
layer bg { fill color rgb(1, 1, 1) }
"""


def located(text: str) -> tuple[str, int, int]:
    """Remove the marker; return the text and the marker's 1-based line and column."""
    idx = text.index(MARK)
    before = text[:idx]
    line = before.count("\n") + 1
    col = idx - (before.rfind("\n") + 1) + 1
    return text.replace(MARK, "", 1), line, col


def scene(body: str, head: str = HEAD) -> str:
    return head + inspect.cleandoc(body) + "\n"


def compile_error(text: str, **kwargs) -> SynthlangError:
    with pytest.raises(SynthlangError) as info:
        compile_string(text, **kwargs)
    return info.value


S, E, L = SceneSyntaxError, SceneError, SceneLimitError

# (id, scene with marker, error class, message fragment)
CASES = [
    # --- syntax
    (
        "missing-closing-brace",
        scene("""
            layer a { fill color rgb(1, 0, 0)
            »layer b { fill color rgb(0, 0, 1) }
        """),
        S,
        "missing `}` before `layer`: layer `a`",
    ),
    (
        "unclosed-brace-at-eof",
        scene("layer a »{ fill color rgb(1, 0, 0)"),
        S,
        "never closed (missing `}`)",
    ),
    (
        "missing-comma-between-arguments",
        scene("layer a { ellipse(semi_axes 3 »angle 40) place count 3 color rgb(1, 0, 0) }"),
        S,
        "missing comma before name `angle`",
    ),
    (
        "missing-comma-in-list",
        scene("let c = mvn(mean [0.5, 0.5 »0.5])"),
        S,
        "separate list items with commas",
    ),
    (
        "equals-in-place-clause",
        scene("layer a { ellipse(semi_axes 3) place count »= 3 color rgb(1, 0, 0) }"),
        S,
        "`=` is not used in a place clause",
    ),
    (
        "equals-in-arguments",
        scene("let a = uniform(low»=1, high 2)"),
        S,
        "`=` is not used in the arguments of `uniform(`",
    ),
    (
        "equals-in-comparison",
        scene("mask bg where area »= 3"),
        S,
        "use `==`",
    ),
    ("unknown-top-level-word", scene("»lyer a { fill }"), S, "at the top level"),
    ("unterminated-string", scene('import »"lib/colors.scene'), S, "unterminated string"),
    (
        "stray-character",
        scene("layer a { fill »@ color rgb(1, 0, 0) }"),
        S,
        "unexpected character `@`",
    ),
    ("unexpected-eof", scene("let a =»"), S, "unexpected end of file"),
    ("unknown-block", scene("let a = »unifrom(1, 2)"), S, "`unifrom` is not a building block"),
    (
        "metric-outside-mask",
        scene("let a = »concentration(bg, radius 3)"),
        S,
        "is a mask metric",
    ),
    (
        "unknown-noise-kind",
        scene("degrade { noise »gausian(0.1) }"),
        S,
        "write `gaussian(std)` or `poisson(peak)`",
    ),
    ("unknown-header-item", "scene s { »sise 3 x 3 }\n", S, "in the header `scene s`"),
    ("missing-paren", scene("layer a { ellipse(semi_axes 3 »} }"), S, "missing `)` before `}`"),
    ("unmatched-brace", scene("layer a { fill color rgb(1, 0, 0) } »}"), S, "unmatched `}`"),
    (
        "overlap-without-mode",
        scene("layer a { ellipse(semi_axes 3) place count 3, overlap »}"),
        S,
        "`overlap` needs a mode",
    ),
    (
        "random-without-clause",
        scene("layer a { ellipse(semi_axes 3) place count 3, random »}"),
        S,
        "`random` must be followed by a place clause",
    ),
    (
        "unknown-place-clause",
        scene("layer a { ellipse(semi_axes 3) place »cont 3 color rgb(1, 0, 0) }"),
        S,
        "a place clause is",
    ),
    (
        "too-deep-nesting",
        scene("let a = " + "[" * 64 + "»[" + "]" * 65),
        S,
        "too deeply nested",
    ),
    # --- names and types
    (
        "unknown-argument",
        scene("layer a { ellipse(»semi_axis 3) place count 3 color rgb(1, 0, 0) }"),
        E,
        "ellipse has no argument 'semi_axis'; did you mean 'semi_axes'?",
    ),
    (
        "unknown-name",
        scene("""
            let big = uniform(20, 35)
            layer a { ellipse(semi_axes »bigg) place count 3 color rgb(1, 0, 0) }
        """),
        E,
        "unknown name `bigg`; did you mean `big`?",
    ),
    (
        "unknown-layer-word",
        scene("layer a { fill »colr rgb(1, 0, 0) }"),
        E,
        "did you mean `color`?",
    ),
    (
        "type-error-named",
        scene("""
            let big = uniform(20, 35)
            layer a { ellipse(semi_axes big) place count 3 color »big }
        """),
        E,
        "`big` is a distribution; a colour or texture is expected here",
    ),
    (
        "type-error-literal",
        scene(
            "layer a { ellipse(semi_axes 3, angle »rgb(1, 0, 0)) place count 3 color rgb(1, 0, 0) }"
        ),
        E,
        "a number or a distribution is expected here, found a colour",
    ),
    ("reserved-word-let", scene("let »fill = 3"), E, "`fill` is a reserved word"),
    ("reserved-word-layer", scene("layer »place { fill color rgb(1, 0, 0) }"), E, "reserved word"),
    (
        "duplicate-let",
        scene("""
            let a = 3
            let »a = 4
        """),
        E,
        "`a` is defined twice: here and at <string>:6:5",
    ),
    (
        "self-reference",
        scene("""
            let a = b
            let b = »a
        """),
        E,
        "`a` is defined in terms of itself: a -> b -> a",
    ),
    (
        "layer-used-as-value",
        scene("layer a { ellipse(semi_axes 3) place count 3 color »bg }"),
        E,
        "`bg` is a layer (a category), not a definition",
    ),
    (
        "positional-after-named",
        scene("let a = uniform(low 1, »2)"),
        E,
        "a positional argument cannot follow a named one",
    ),
    ("too-many-arguments", scene("let a = uniform(1, 2, »3)"), E, "uniform takes at most 2"),
    (
        "argument-twice",
        scene("let a = uniform(1, »low 2)"),
        E,
        "argument 'low' of uniform is given twice",
    ),
    ("missing-argument", scene("let a = »uniform(1)"), E, "uniform needs the argument 'high'"),
    ("not-whole-number", scene("let a = randint(1, »2.5)"), E, "a whole number is expected here"),
    # --- distributions
    (
        "uniform-a-gt-b",
        scene("let a = »uniform(9, 3)"),
        E,
        "uniform(low, high) needs low <= high, got uniform(9, 3)",
    ),
    ("randint-a-gt-b", scene("let a = »randint(5, 2)"), E, "randint(low, high) needs low <= high"),
    ("truncnormal-low-high", scene("let a = »truncnormal(1, 1, 3, 3)"), E, "needs low < high"),
    (
        "truncnormal-std",
        scene("let a = truncnormal(1, »0, 0, 3)"),
        E,
        "`std` of truncnormal must be > 0",
    ),
    ("normal-negative-std", scene("let a = normal(1, »-0.5)"), E, "`std` of normal must be >= 0"),
    (
        "choice-weights-length",
        scene("let a = choice([1, 2, 3], weights »[1, 2])"),
        E,
        "choice has 3 values but 2 weights",
    ),
    (
        "choice-negative-weight",
        scene("let a = choice([1, 2], weights [1, »-2])"),
        E,
        "weights must be >= 0",
    ),
    ("choice-zero-weights", scene("let a = choice([1, 2], weights »[0, 0])"), E, "all zero"),
    ("choice-empty", scene("let a = choice(»[])"), E, "at least one value"),
    (
        "normal-where-positive",
        scene("""
            let big = normal(3, 1)
            layer a { ellipse(semi_axes »big) place count 3 color rgb(1, 0, 0) }
        """),
        E,
        "`semi_axes` of ellipse must be > 0, but `big` = normal(3, 1) can take any value",
    ),
    (
        "semi-axes-zero",
        scene("layer a { ellipse(semi_axes »uniform(0, 5)) place count 3 color rgb(1, 0, 0) }"),
        E,
        "can be 0",
    ),
    (
        "blur-sigma-positive",
        scene("degrade { blur gaussian(»uniform(0, 1)) }"),
        E,
        "`sigma` of blur gaussian must be > 0",
    ),
    (
        "poisson-peak-positive",
        scene("degrade { noise poisson(»0) }"),
        E,
        "`peak` of noise poisson must be > 0",
    ),
    ("noise-std-nonnegative", scene("degrade { noise gaussian(»-0.1) }"), E, "must be >= 0"),
    (
        "grown-time-positive",
        scene("layer a { grown(from bg, time »normal(3, 1)) color rgb(1, 0, 0) }"),
        E,
        "`time` of grown must be > 0",
    ),
    (
        "ribbon-width-positive",
        scene("layer a { ribbon(width »0) color rgb(1, 0, 0) }"),
        E,
        "`width` of ribbon must be > 0",
    ),
    (
        "patch-scale-positive",
        scene('layer a { patch("nowhere", scale »-1) place count 3 }'),
        E,
        "`scale` of patch must be > 0",
    ),
    (
        "speed-mean-positive",
        scene("let s = gaussian_field(mean »0)"),
        E,
        "`mean` of gaussian_field must be > 0",
    ),
    # --- colours
    (
        "rgb-out-of-range",
        scene("let c = rgb(»1.2, 0, 0)"),
        E,
        "`r` of rgb must be in [0, 1], got 1.2",
    ),
    (
        "mvn-mean-out-of-range",
        scene("let c = mvn(mean [0.5, »-0.1, 0.5])"),
        E,
        "colour components must be in [0, 1]",
    ),
    (
        "cov-not-3x3",
        scene("let c = mvn(mean [0.5, 0.5, 0.5], cov »[[1, 0], [0, 1]])"),
        E,
        "3x3 matrix",
    ),
    (
        "cov-not-symmetric",
        scene("let c = mvn(mean [0.5, 0.5, 0.5], cov »[[1, 0.1, 0], [0, 1, 0], [0, 0, 1]])"),
        E,
        "must be symmetric",
    ),
    (
        "cov-not-psd",
        scene("let c = mvn(mean [0.5, 0.5, 0.5], between »[[1, 2, 0], [2, 1, 0], [0, 0, 1]])"),
        E,
        "`between` of mvn must be positive semi-definite",
    ),
    (
        "contour-needs-rgb-or-mvn",
        scene("layer a { fill color rgb(1, 0, 0) contour(color »uniform(0, 1)) }"),
        E,
        "a colour (rgb(...) or mvn(...)) is expected here",
    ),
    # --- counts and sizes
    (
        "count-negative-range",
        scene("layer a { ellipse(semi_axes 3) place count »uniform(-1, 3) color rgb(1, 0, 0) }"),
        E,
        "the object count cannot be negative",
    ),
    (
        "count-unbounded",
        scene("layer a { ellipse(semi_axes 3) place count »normal(3, 1) color rgb(1, 0, 0) }"),
        E,
        "must be bounded",
    ),
    (
        "count-over-limit",
        scene(
            "layer a { ellipse(semi_axes 3) place count »randint(0, 200000) color rgb(1, 0, 0) }"
        ),
        L,
        "more than the limit of 100000",
    ),
    (
        "size-zero",
        "scene s { size »0 x 64 }\nlayer bg { fill color rgb(1, 1, 1) }\n",
        E,
        "at least 1 pixel",
    ),
    (
        "size-too-large",
        "scene s { size 64 x »20000 }\nlayer bg { fill color rgb(1, 1, 1) }\n",
        L,
        "larger than the limit of 16384",
    ),
    (
        "too-many-pixels",
        "scene s { »size 10000 x 10000 }\nlayer bg { fill color rgb(1, 1, 1) }\n",
        L,
        "more than the limit of 50000000",
    ),
    (
        "size-not-whole",
        "scene s { size »6.5 x 64 }\nlayer bg { fill color rgb(1, 1, 1) }\n",
        E,
        "a whole number",
    ),
    (
        "semi-axes-over-radius-limit",
        scene("layer a { ellipse(semi_axes »uniform(1, 20000)) place count 3 color rgb(1, 0, 0) }"),
        L,
        "more than the limit of 10000",
    ),
    (
        "metric-radius-over-limit",
        scene("mask bg where concentration(bg, radius »1e5) > 0.1"),
        L,
        "limit of 10000",
    ),
    (
        "ribbon-maps-range",
        scene("layer a { ribbon(width 3, maps »100) color rgb(1, 0, 0) }"),
        E,
        "between 1 and 64",
    ),
    (
        "probability-range",
        scene(
            "layer a { ellipse(semi_axes 3) place count 3, probability »1.5 color rgb(1, 0, 0) }"
        ),
        E,
        "probability must be in [0, 1]",
    ),
    (
        "attempts-range",
        scene("layer a { ellipse(semi_axes 3) place count 3, attempts »0 color rgb(1, 0, 0) }"),
        E,
        "`attempts` must be between 1",
    ),
    (
        "voronoi-count",
        "scene s { size 64 x 64 regions voronoi(»0) }\nlayer bg { fill color rgb(1, 1, 1) }\n",
        E,
        "`count` of voronoi must be between 1 and 10000",
    ),
    (
        "header-regions-call",
        "scene s { size 64 x 64 regions »uniform(1, 2) }\nlayer bg { fill color rgb(1, 1, 1) }\n",
        S,
        "write `voronoi(N)`",
    ),
    (
        "header-regions-type",
        "let r = uniform(1, 2)\n"
        "scene s { size 64 x 64 regions »r }\n"
        "layer bg { fill color rgb(1, 1, 1) }\n",
        E,
        "`r` is a distribution; a region decomposition",
    ),
    # --- layers and placement
    (
        "duplicate-layer",
        scene("layer »bg { fill color rgb(1, 1, 1) }"),
        E,
        "layer `bg` is defined twice: here and at <string>:5:7",
    ),
    ("missing-shape", scene("layer »a { color rgb(1, 0, 0) }"), E, "layer `a` has no shape"),
    ("missing-colour", scene("layer »a { fill }"), E, "layer `a` has no colour"),
    ("two-shapes", scene("layer a { fill »fill color rgb(1, 0, 0) }"), E, "has two shapes"),
    (
        "colour-twice",
        scene("layer a { fill color rgb(1, 0, 0) »color rgb(0, 1, 0) }"),
        E,
        "`color` is given twice in layer `a`",
    ),
    (
        "colour-and-texture",
        scene("layer a { fill color rgb(1, 0, 0) »texture rgb(0, 1, 0) }"),
        E,
        "both `color` and `texture`",
    ),
    (
        "place-twice",
        scene("layer a { ellipse(semi_axes 3) place count 3 »place fill color rgb(1, 0, 0) }"),
        E,
        "`place` is given twice",
    ),
    (
        "place-on-area-shape",
        scene("layer a { fill »place count 3 color rgb(1, 0, 0) }"),
        E,
        "`place` is for object shapes",
    ),
    (
        "object-without-place",
        scene("layer »a { ellipse(semi_axes 3) color rgb(1, 0, 0) }"),
        E,
        "has no `place`",
    ),
    (
        "no-placement-mode",
        scene("layer a { ellipse(semi_axes 3) »place overlap none color rgb(1, 0, 0) }"),
        E,
        "`place` needs one of",
    ),
    (
        "two-placement-modes",
        scene("layer a { ellipse(semi_axes 3) place count 3, »fill color rgb(1, 0, 0) }"),
        E,
        "`fill` cannot be combined with `count`",
    ),
    (
        "clause-twice",
        scene("""
            layer a {
                ellipse(semi_axes 3)
                place count 3, overlap none, »overlap allowed
                color rgb(1, 0, 0)
            }
        """),
        E,
        "`overlap` is given twice in `place`",
    ),
    (
        "missing-comma-in-place",
        scene("layer a { ellipse(semi_axes 3) place count 3 »overlap none color rgb(1, 0, 0) }"),
        E,
        "missing comma before `overlap`",
    ),
    (
        "unknown-overlap-mode",
        scene("layer a { ellipse(semi_axes 3) place count 3, overlap »nnoe color rgb(1, 0, 0) }"),
        E,
        "did you mean `none`?",
    ),
    (
        "overlap-args-on-none",
        scene(
            "layer a { ellipse(semi_axes 3) place count 3, overlap »none(0.2) color rgb(1, 0, 0) }"
        ),
        E,
        "takes no arguments",
    ),
    (
        "moderate-fraction-range",
        scene("""
            layer a { ellipse(semi_axes 3) place count 3, overlap moderate(»2) color rgb(1, 0, 0) }
        """),
        E,
        "must be in [0, 1]",
    ),
    ("patch-library-missing", scene('layer b { patch(»"nowhere") place count 3 }'), E, "not found"),
    # --- categories
    (
        "inside-unknown",
        scene("layer a { ellipse(semi_axes 3) place inside »bgg color rgb(1, 0, 0) }"),
        E,
        "unknown category `bgg` in `inside`; did you mean `bg`?",
    ),
    (
        "inside-upper-layer",
        scene("""
            layer a { ellipse(semi_axes 3) place inside »b color rgb(1, 0, 0) }
            layer b { ellipse(semi_axes 3) place count 3 color rgb(1, 0, 0) }
        """),
        E,
        "`inside` must name a lower layer, but `b` is above this one",
    ),
    (
        "inside-itself",
        scene("layer a { ellipse(semi_axes 3) place inside »a color rgb(1, 0, 0) }"),
        E,
        "not the layer itself",
    ),
    (
        "grown-from-itself",
        scene("layer a { grown(from »a, time 3) color rgb(1, 0, 0) }"),
        E,
        "grown(from ...) must name another layer, not the layer itself",
    ),
    (
        "grown-dependency-cycle",
        scene("""
            layer a { grown(from »b, time 3) color rgb(1, 0, 0) }
            layer b { ellipse(semi_axes 3) place inside a color rgb(1, 0, 0) }
        """),
        E,
        "layers depend on each other in a cycle: a -> b -> a",
    ),
    (
        "grown-from-unknown-via-let",
        scene("""
            let g = grown(from »tumour, time 3)
            layer tumor { ellipse(semi_axes 3) place count 3 color rgb(1, 0, 0) }
            layer a { g color rgb(1, 0, 0) }
        """),
        E,
        "unknown category `tumour` in grown(from ...); did you mean `tumor`?",
    ),
    (
        "overlap-with-upper",
        scene("""
            layer a { ellipse(semi_axes 3) place count 3, overlap none with »b color rgb(1, 0, 0) }
            layer b { ellipse(semi_axes 3) place count 3 color rgb(1, 0, 0) }
        """),
        E,
        "must name a lower layer",
    ),
    (
        "mask-unknown-category",
        scene("mask »bgg where area > 3"),
        E,
        "unknown category `bgg` in `mask`; did you mean `bg`?",
    ),
    (
        "metric-unknown-category",
        scene("mask bg where count(»cel, radius 3) > 1"),
        E,
        "unknown category `cel` in count(...)",
    ),
    ("mask-threshold-call", scene("mask bg where area > »uniform(1, 2)"), S, "needs a number"),
    (
        "mask-threshold-type",
        scene("""
            let t = uniform(1, 2)
            mask bg where area > »t
        """),
        E,
        "`t` is a distribution; a number is expected here",
    ),
    # --- regions
    (
        "regions-n-mismatch",
        scene(
            "layer a { ellipse(semi_axes 3) place count 3, in regions(2 of »6) color rgb(1, 0, 0) }"
        ),
        E,
        "the scene has 7 regions",
    ),
    (
        "regions-k-too-large",
        scene(
            "layer a { ellipse(semi_axes 3) place count 3, in regions(»8 of 7) color rgb(1, 0, 0) }"
        ),
        E,
        "needs 1 <= k <= 7",
    ),
    (
        "regions-over-allocated",
        scene("""
            layer a { ellipse(semi_axes 3) place count 3, in regions(5 of 7) color rgb(1, 0, 0) }
            layer b { ellipse(semi_axes 3) place count 3, in »regions(3 of 7) color rgb(1, 0, 0) }
        """),
        E,
        "region selections take 8 regions in total, but the scene has only 7",
    ),
    (
        "regions-without-header",
        "scene s { size 64 x 64 }\nlayer a { fill in »regions(1 of 3) color rgb(1, 0, 0) }\n",
        E,
        "this scene has no regions",
    ),
    (
        "unknown-selection-name",
        scene("layer a { fill in »tumour_area color rgb(1, 0, 0) }"),
        E,
        "unknown region selection `tumour_area`",
    ),
    (
        "selection-named-twice",
        scene("""
            layer a { fill in regions(1 of 7) as t color rgb(1, 0, 0) }
            layer b { fill in regions(1 of 7) as »t color rgb(1, 0, 0) }
        """),
        E,
        "region selection `t` is named twice",
    ),
    (
        "regions-twice-in-layer",
        scene("""
            layer a {
                ellipse(semi_axes 3)
                place count 3, in regions(1 of 7)
                »in regions(1 of 7)
                color rgb(1, 0, 0)
            }
        """),
        E,
        "restricts its regions twice",
    ),
    (
        "ribbon-without-regions",
        "scene s { size 64 x 64 }\nlayer a { »ribbon(width 3) color rgb(1, 0, 0) }\n",
        E,
        "the scene has no regions",
    ),
    # --- file structure
    ("no-header", "»layer a { fill color rgb(1, 0, 0) }\n", E, "the scene has no header"),
    ("two-headers", scene("»scene t { size 8 x 8 }"), E, "exactly one header"),
    (
        "size-missing",
        "scene »s { regions voronoi(3) }\nlayer a { fill color rgb(1, 0, 0) }\n",
        E,
        "needs the image size",
    ),
    (
        "size-twice",
        "scene s { size 8 x 8 »size 9 x 9 }\nlayer a { fill color rgb(1, 0, 0) }\n",
        E,
        "`size` is given twice",
    ),
    ("no-layers", "scene »s { size 8 x 8 }\n", E, "no layers"),
    (
        "degrade-twice",
        scene("degrade { blur gaussian(1) }\n»degrade { noise gaussian(0.1) }"),
        E,
        "`degrade` is given twice",
    ),
    ("number-too-large", scene("let a = »1e999"), E, "too large"),
    # --- stain and scanner passes
    (
        "stain-unknown-kind",
        scene("degrade { stain »hematoxylin(alpha 1) }"),
        S,
        "unknown stain `hematoxylin`: write `he(...)` (haematoxylin and eosin) or `hed(...)`",
    ),
    (
        "stain-kind-missing",
        scene("degrade { stain »(alpha 1) }"),
        S,
        "write `he(...)` (haematoxylin and eosin) or `hed(...)` (and DAB) after `stain`",
    ),
    (
        "keyword-glued-to-word",
        scene("degrade { noise »gaussianx(0.1) }"),
        S,
        "unexpected word `gaussianx`; expected `gaussian`",
    ),
    (
        "stain-alpha-nonnegative",
        scene("degrade { stain he(alpha »uniform(-0.1, 1.1)) }"),
        E,
        "`alpha` of stain he must be >= 0",
    ),
    (
        "stain-beta-list-length",
        scene("degrade { stain he(beta »[0, 0.01, 0.02]) }"),
        E,
        "takes one distribution or a list of 2 (H, E), got 3 items",
    ),
    (
        "stain-hed-list-length",
        scene("degrade { stain hed(alpha »[1, 1]) }"),
        E,
        "a list of 3 (H, E, DAB)",
    ),
    (
        "stain-angle-range",
        scene("degrade { stain he(angle »uniform(-100, 5)) }"),
        E,
        "`angle` of stain he must stay in [-90, 90]",
    ),
    (
        "stain-unknown-argument",
        scene("degrade { stain hed(»aplha 1) }"),
        E,
        "did you mean 'alpha'?",
    ),
    (
        "brightness-nonnegative",
        scene("degrade { brightness(»normal(1, 0.1)) }"),
        E,
        "`factor` of brightness must be >= 0, but normal(1, 0.1) can take any value",
    ),
    (
        "contrast-needs-factor",
        scene("degrade { »contrast() }"),
        E,
        "contrast needs the argument 'factor'",
    ),
    ("gamma-positive", scene("degrade { gamma(»0) }"), E, "`exponent` of gamma must be > 0"),
    (
        "saturation-not-a-colour",
        scene("degrade { saturation(»rgb(1, 1, 1)) }"),
        E,
        "a number or a distribution is expected here",
    ),
    (
        "jpeg-quality-range",
        scene("degrade { jpeg(quality »randint(50, 120)) }"),
        E,
        "`quality` of jpeg must stay in [1, 100]",
    ),
    ("jpeg-quality-zero", scene("degrade { jpeg(»0) }"), E, "must be in [1, 100], got 0"),
    (
        "scale-range",
        scene("degrade { scale(»uniform(0.05, 2)) }"),
        E,
        "`factor` of scale must stay in [0.1, 10]",
    ),
    (
        "scale-twice",
        scene("degrade { scale(0.9) noise gaussian(0.01) »scale(1.1) }"),
        E,
        "`scale` is given twice in `degrade`",
    ),
    (
        "unknown-degrade-pass",
        scene("degrade { »sharpen(1) }"),
        S,
        "`jpeg(quality)`, `scale(factor)` or `}`",
    ),
    # --- soft edges and chromatin
    (
        "soft-on-area-shape",
        scene("layer a { fill color rgb(1, 0, 0) »soft(2) }"),
        E,
        "`soft` edges are for object shapes (ellipse, patch",
    ),
    (
        "soft-width-positive",
        scene(
            "layer a { ellipse(semi_axes 3) place count 2 color rgb(1, 0, 0) "
            "soft(width »uniform(0, 2)) }"
        ),
        E,
        "`width` of soft must be > 0, but uniform(0, 2) can be 0",
    ),
    (
        "soft-width-too-wide",
        scene("layer a { ellipse(semi_axes 3) place count 2 color rgb(1, 0, 0) soft(»60) }"),
        E,
        "`width` of soft must be in [0, 50], got 60",
    ),
    (
        "soft-width-unbounded",
        scene(
            "layer a { ellipse(semi_axes 3) place count 2 color rgb(1, 0, 0) soft(»normal(2, 1)) }"
        ),
        E,
        "`width` of soft must be > 0, but normal(2, 1) can take any value",
    ),
    (
        "soft-twice",
        scene("layer a { ellipse(semi_axes 3) place count 2 color rgb(1, 0, 0) soft(2) »soft(3) }"),
        E,
        "`soft` is given twice in layer `a`",
    ),
    (
        "soft-is-not-a-value",
        scene("let edge = »soft(2)"),
        S,
        "`soft(...)` is a layer item, not a value",
    ),
    (
        "chromatin-amount-range",
        scene(
            "layer a { ellipse(semi_axes 3) place count 2 color rgb(1, 0, 0) "
            "chromatin(amount »uniform(0.1, 1.5)) }"
        ),
        E,
        "`amount` of chromatin must stay in [0, 1], but uniform(0.1, 1.5) does not",
    ),
    (
        "chromatin-needs-amount",
        scene(
            "layer a { ellipse(semi_axes 3) place count 2 color rgb(1, 0, 0) »chromatin(scale 2) }"
        ),
        E,
        "chromatin needs the argument 'amount'",
    ),
    (
        "chromatin-scale-positive",
        scene("layer a { fill color rgb(1, 0, 0) chromatin(0.2, scale »0) }"),
        E,
        "`scale` of chromatin must be > 0, got 0",
    ),
    (
        "chromatin-unknown-argument",
        scene("layer a { fill color rgb(1, 0, 0) chromatin(0.2, »granule 0.5) }"),
        E,
        "chromatin has no argument 'granule'; did you mean 'granules'?",
    ),
    (
        "chromatin-rim-range",
        scene("layer a { fill color rgb(1, 0, 0) chromatin(0.2, rim »-0.1) }"),
        E,
        "`rim` of chromatin must stay in [0, 1], but -0.1 does not",
    ),
]


@pytest.mark.parametrize(
    ("marked", "cls", "fragment"),
    [pytest.param(t, c, f, id=i) for i, t, c, f in CASES],
)
def test_malformed_scene(marked: str, cls: type, fragment: str) -> None:
    text, line, col = located(marked)
    err = compile_error(text)
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    assert fragment in err.message, str(err)
    assert (err.line, err.column) == (line, col), str(err)
    assert (
        err.span is not None
        and err.span.end_column > err.span.column
        or (err.span.end_line > err.span.line)
    )
    # the rendered error shows the location, the source line and a caret
    rendered = str(err)
    assert rendered.startswith(f"<string>:{line}:{col}: ")
    assert "^" in rendered


def test_case_count() -> None:
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def test_limit_error_is_both_scene_and_resource_error() -> None:
    from synthlang.common.errors import ResourceLimitError

    err = compile_error("scene s { size 64 x 20000 }\nlayer bg { fill color rgb(1, 1, 1) }\n")
    assert isinstance(err, SceneError) and isinstance(err, ResourceLimitError)
    assert "SYNTHLANG_MAX_SIDE" in (err.hint or "")


def test_limits_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLANG_MAX_SIDE", "32")
    text, line, col = located("scene s { size »64 x 16 }\nlayer bg { fill color rgb(1, 1, 1) }\n")
    err = compile_error(text)
    assert isinstance(err, SceneLimitError)
    assert (err.line, err.column) == (line, col)
    assert "limit of 32" in err.message


def test_bad_limit_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLANG_MAX_PIXELS", "lots")
    with pytest.raises(
        SynthlangError, match="SYNTHLANG_MAX_PIXELS must be a positive whole number"
    ):
        Limits.from_env()


def test_explicit_limits_argument() -> None:
    text, line, col = located(
        scene("layer a { ellipse(semi_axes 3) place count »40 color rgb(1, 0, 0) }")
    )
    err = compile_error(text, limits=Limits(max_count=10))
    assert isinstance(err, SceneLimitError)
    assert (err.line, err.column) == (line, col)


def test_hint_for_library_compiled_as_scene() -> None:
    err = compile_error("let a = rgb(1, 0, 0)\n")
    assert "library" in (err.hint or "")


def test_error_spans_carry_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.scene"
    text, line, col = located(scene("let a = »uniform(9, 3)"))
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SceneError) as info:
        compile_file(path)
    err = info.value
    assert err.span is not None and err.span.file == str(path)
    assert str(err).startswith(f"{path}:{line}:{col}: error: uniform(low, high) needs low <= high")
    assert "uniform(9, 3)" in str(err).splitlines()[1]


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.scene"
    path.write_bytes(b"scene s { size 8 x 8 }\n# caf\xe9\n")
    with pytest.raises(SceneSyntaxError) as info:
        compile_file(path)
    assert (info.value.line, info.value.column) == (2, 6)


def test_missing_main_file(tmp_path: Path) -> None:
    with pytest.raises(SceneError, match="no such file"):
        compile_file(tmp_path / "absent.scene")


def test_json_index_errors_have_positions(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "index.json").write_text("{not json", encoding="utf-8")
    text, line, col = located(scene('layer a { patch(»"lib") place count 3 }'))
    err = compile_error(text, base_dir=tmp_path)
    assert "not valid JSON" in err.message
    assert (err.line, err.column) == (line, col)
    (lib / "index.json").write_text(json.dumps([1, 2]), encoding="utf-8")
    err = compile_error(text, base_dir=tmp_path)
    assert "not a JSON object" in err.message


def test_cli_answers_every_malformed_scene_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`synthlang check` on each malformed scene: exit 2, file:line:col, no traceback."""
    from synthlang.cli.main import main

    for name, marked, _cls, fragment in CASES:
        text, line, col = located(marked)
        path = tmp_path / f"{name}.scene"
        path.write_text(text, encoding="utf-8")
        assert main(["check", str(path)]) == 2, name
        captured = capsys.readouterr()
        assert captured.out == "", name
        err = captured.err
        assert err.startswith(f"{path}:{line}:{col}: "), (name, err)
        assert fragment.replace("<string>", str(path)) in err, (name, err)
        assert "Traceback" not in err, (name, err)
        # one message: the location line, the source line and the caret (and maybe a hint)
        assert len(err.strip().splitlines()) <= 4, (name, err)
