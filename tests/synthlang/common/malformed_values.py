"""Malformed scenes and where their errors point (1 of 2).

Syntax, names and types, distributions, colours, counts and sizes.

Each case marks the expected error position with ``»`` right before the offending token
(:func:`located`); ``tests/synthlang/common/test_errors.py`` compiles every case.
"""

from __future__ import annotations

from tests.synthlang.common.malformed import E, L, S, scene

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
    ("unknown-block", scene("let a = »unifrom(1, 2)"), E, "`unifrom` is not a building block"),
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
        "a number, a distribution, along(CATEGORY) or across(CATEGORY) is expected here, "
        "found a colour",
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
]
