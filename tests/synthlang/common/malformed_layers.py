"""Malformed scenes and where their errors point (2 of 2).

Layers and placement, categories, regions, file structure, stain passes, soft edges, chromatin.

Each case marks the expected error position with ``»`` right before the offending token
(:func:`located`); ``tests/synthlang/common/test_errors.py`` compiles every case.
"""

from __future__ import annotations

from tests.synthlang.common.malformed import E, S, scene

# (id, scene with marker, error class, message fragment)
CASES = [
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
    # --- mask classes
    (
        "class-twice",
        scene("""
            layer a { ellipse(semi_axes 3) place count 3 color rgb(1, 0, 0) }
            mask classes {
                x: a
                »x: bg
            }
        """),
        E,
        "class `x` is given twice: here and at <string>:8:5",
    ),
    (
        "class-background",
        scene("mask classes { »background: bg }"),
        E,
        "the class name `background` is reserved for class id 0",
    ),
    (
        "class-unknown-category",
        scene("mask classes { x: bg, visible(»bgg) }"),
        E,
        "unknown category `bgg` in class `x`; did you mean `bg`?",
    ),
    (
        "class-metric-unknown-category",
        scene("mask classes { x: bg where count(»cel, radius 3) > 1 }"),
        E,
        "unknown category `cel` in count(...)",
    ),
    ("classes-empty", scene("»mask classes { }"), E, "`mask classes { }` declares no class"),
    (
        "classes-too-many",
        scene("mask classes {\n" + "\n".join(f"c{i}: bg" for i in range(255)) + "\n»c: bg\n}"),
        E,
        "`mask classes` declares 256 classes, more than 255",
    ),
    (
        "classes-after-plain-rule",
        scene("mask bg\n»mask classes { x: bg }"),
        E,
        "`mask classes` cannot be combined with plain `mask` rules (the first at <string>:6:1)",
    ),
    (
        "plain-rule-after-classes",
        scene("mask classes { x: bg }\n»mask bg"),
        E,
        "a plain `mask` rule cannot be combined with `mask classes` (at <string>:6:1)",
    ),
    (
        "classes-twice",
        scene("mask classes { x: bg }\n»mask classes { y: bg }"),
        E,
        "`mask classes` is given twice (first at <string>:6:1)",
    ),
    (
        "class-trailing-comma",
        scene("mask classes {\n    x: bg»,\n    y: bg\n}"),
        S,
        "this comma continues the targets of class `x`, so `y` (line 8) is read as one more",
    ),
    ("class-missing-colon", scene("mask classes { x »bg }"), S, "write `:` after the class name"),
    (
        "class-missing-name",
        scene("mask classes { »visible(bg) }"),
        S,
        "a class entry starts with the class name",
    ),
    (
        "colon-outside-classes",
        scene("layer a { ellipse(semi_axes»: 3) place count 3 color rgb(1, 0, 0) }"),
        S,
        "`:` is only used after a class name in `mask classes { NAME: TARGET }`",
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
    # --- scenes that could never work (silent failures before)
    (
        "rule-never-true-percent",
        scene(
            """
            layer cell { ellipse(semi_axes 5) place count 5 color rgb(1, 0, 0) }
            mask cell where »concentration(cell, radius 20) > 20
            """
        ),
        E,
        "this condition can never hold: `concentration` is a fraction of the disk",
    ),
    (
        "rule-never-true-in-and",
        scene(
            """
            layer cell { ellipse(semi_axes 5) place count 5 color rgb(1, 0, 0) }
            mask cell where visible > 0.5 and »area > 100000
            """
        ),
        E,
        "`area` is an area in pixels, from 1 to the image's 4096",
    ),
    (
        "rule-never-true-every-alternative",
        scene(
            """
            layer cell { ellipse(semi_axes 5) place count 5 color rgb(1, 0, 0) }
            mask classes { c: cell where »visible < 0 or visible > 2 }
            """
        ),
        E,
        "`visible` is a fraction of the object, in [0, 1], so `visible < 0`",
    ),
    (
        "inside-never-fits",
        scene(
            """
            layer cell { ellipse(semi_axes 5) place count 5 color rgb(1, 0, 0) }
            layer nucleus { ellipse(semi_axes 9) place inside »cell color rgb(0, 0, 1) }
            """
        ),
        E,
        "objects of this layer can never fit inside `cell`",
    ),
    (
        "count-never-fits",
        scene(
            "layer cell { ellipse(semi_axes 10) place count »500, overlap none color rgb(1, 0, 0) }"
        ),
        E,
        "500 objects without overlap can never fit in the 64 x 64 image",
    ),
    (
        "layer-used-as-region",
        scene(
            """
            layer cell { ellipse(semi_axes 5) place count 5 color rgb(1, 0, 0) }
            layer tissue { fill in »cell color rgb(0, 0, 1) }
            """
        ),
        E,
        "`cell` is a layer, not a region selection: an area shape is restricted to regions",
    ),
    (
        "length-in-um-without-pixel-size",
        scene("layer cell { ellipse(semi_axes »10um) place count 5 color rgb(1, 0, 0) }"),
        E,
        "`10um` is a length in micrometres, but the scene does not say how large a pixel is",
    ),
    (
        "length-with-another-unit",
        scene("layer cell { ellipse(semi_axes 10»nm) place count 5 color rgb(1, 0, 0) }"),
        S,
        "`10nm`: lengths are written in pixels, or in micrometres as `10um`",
    ),
    (
        "pixel-size-out-of-range",
        "scene s { size 64 x 64  pixel »300 um }\nlayer a { fill color rgb(1, 1, 1) }\n",
        E,
        "the pixel size must be between 0.01 and 100 um",
    ),
    (
        "near-an-unknown-layer",
        scene(
            "layer c { ellipse(semi_axes 2) place count 3, near »glnd within 5 color rgb(1, 0, 0) }"
        ),
        E,
        "unknown category `glnd` in `near`",
    ),
    (
        "near-a-negative-distance",
        scene(
            "layer c { ellipse(semi_axes 2) place count 3, near bg within »-5 color rgb(1, 0, 0) }"
        ),
        E,
        "the distance of `near` must be between 0 and",
    ),
    (
        "density-not-a-density",
        scene(
            "layer c { ellipse(semi_axes 2) place count 3, density »rgb(1, 0, 0) "
            "color rgb(1, 0, 0) }"
        ),
        E,
        "a density (gaussian_field(...) or falloff(from CATEGORY, scale S)) is expected here",
    ),
    (
        "clusters-with-count",
        scene(
            "layer c { ellipse(semi_axes 2) place count 3, »clusters(count 2, size 5) "
            "color rgb(1, 0, 0) }"
        ),
        E,
        "`clusters` cannot be combined with `count`",
    ),
    (
        "clusters-count-whole",
        scene(
            "layer c { ellipse(semi_axes 2) place clusters(count »uniform(1, 3), size 5) "
            "color rgb(1, 0, 0) }"
        ),
        E,
        "`count` of clusters must be a whole number",
    ),
]
