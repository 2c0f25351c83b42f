"""Malformed scenes: placement relative to other objects (rings, ``in LAYER``, anchored values).

Each case marks the expected error position with ``»`` right before the offending token
(:func:`located`); ``tests/synthlang/common/test_errors.py`` compiles every case.
"""

from __future__ import annotations

from tests.synthlang.common.malformed import E, scene

LUMEN = "layer lumen { ellipse(semi_axes 10) place count 2 color rgb(1, 1, 1) }\n"
RED = "color rgb(1, 0, 0) }"

CASES = [
    (
        "around-a-later-layer",
        scene(f"layer n {{ ellipse(semi_axes 2) place around »lumen, distance 5 {RED}\n" + LUMEN),
        E,
        "`around` must name a lower layer, but `lumen` is above this one",
    ),
    (
        "around-an-unknown-layer",
        scene(LUMEN + f"layer n {{ ellipse(semi_axes 2) place around »lumn, distance 5 {RED}"),
        E,
        "unknown category `lumn` in `around`; did you mean `lumen`?",
    ),
    (
        "around-itself",
        scene(f"layer n {{ ellipse(semi_axes 2) place around »n, distance 5 {RED}"),
        E,
        "`around` must name a lower layer, not the layer itself",
    ),
    (
        "around-a-negative-distance",
        scene(LUMEN + f"layer n {{ ellipse(semi_axes 2) place around lumen, distance »-3 {RED}"),
        E,
        "the distance of `around` must be >= 0, got -3",
    ),
    (
        "around-a-distance-that-can-be-negative",
        scene(
            LUMEN
            + f"layer n {{ ellipse(semi_axes 2) place around lumen, distance »uniform(-2, 4) {RED}"
        ),
        E,
        "the distance of `around` must be >= 0, but uniform(-2, 4) can be -2",
    ),
    (
        "around-without-distance",
        scene(LUMEN + f"layer n {{ ellipse(semi_axes 2) place »around lumen, spacing 8 {RED}"),
        E,
        "`around` needs `distance D`",
    ),
    (
        "distance-with-along",
        scene(LUMEN + f"layer n {{ ellipse(semi_axes 2) place along lumen, »distance 3 {RED}"),
        E,
        "`distance` is the distance of `around` from its layer's boundary",
    ),
    (
        "spacing-with-count",
        scene(f"layer n {{ ellipse(semi_axes 2) place count 3, »spacing 4 {RED}"),
        E,
        "`spacing` is the arc length between the objects of `around` or `along`",
    ),
    (
        "spacing-below-one-pixel",
        scene(LUMEN + f"layer n {{ ellipse(semi_axes 2) place along lumen, spacing »0.5 {RED}"),
        E,
        "the spacing of `along` must be in [1, inf], got 0.5",
    ),
    (
        "around-and-count",
        scene(
            LUMEN
            + f"layer n {{ ellipse(semi_axes 2) place around lumen, distance 3, »count 4 {RED}"
        ),
        E,
        "`count` cannot be combined with `around`",
    ),
    (
        "inside-count-and-fill",
        scene(LUMEN + f"layer n {{ ellipse(semi_axes 2) place inside lumen, count 2, »fill {RED}"),
        E,
        "`fill` cannot be combined with `inside`",
    ),
    (
        "in-neither-region-nor-layer",
        scene(LUMEN + f"layer n {{ ellipse(semi_axes 2) place count 3, in »lumn {RED}"),
        E,
        "`lumn` in `in` is neither a region selection nor a layer; did you mean `lumen`?",
    ),
    (
        "in-a-later-layer",
        scene(f"layer n {{ ellipse(semi_axes 2) place count 3, not in »lumen {RED}\n" + LUMEN),
        E,
        "`not in` must name a lower layer, but `lumen` is above this one",
    ),
    (
        "in-a-layer-twice",
        scene(LUMEN + f"layer n {{ ellipse(semi_axes 2) place count 3, in lumen »in bg {RED}"),
        E,
        "layer `n` restricts its centres to a layer twice",
    ),
    (
        "angle-along-not-a-layer",
        scene(f"layer n {{ ellipse(semi_axes 2, angle along(»lumn)) place count 3 {RED}"),
        E,
        "unknown category `lumn` in along(...)",
    ),
    (
        "angle-across-a-later-layer",
        scene(
            f"layer n {{ ellipse(semi_axes 2, angle across(»lumen)) place count 3 {RED}\n" + LUMEN
        ),
        E,
        "across(...) must name a lower layer, but `lumen` is above this one",
    ),
    (
        "scale-relative-on-a-fill-shape",
        scene(f"layer n {{ fill(»scale relative(bg, 0.3)) {RED}"),
        E,
        "fill has no argument 'scale'",
    ),
    (
        "relative-as-an-angle",
        scene(f"layer n {{ ellipse(semi_axes 2, angle »relative(bg, 0.3)) place count 3 {RED}"),
        E,
        "`angle` of ellipse is an angle, but relative(...) is a size",
    ),
    (
        "across-as-a-scale",
        scene(f"layer n {{ polygon(vertices 5, radius 3, scale »across(bg)) place count 3 {RED}"),
        E,
        "`scale` of polygon is a size, but across(...) is an angle",
    ),
    (
        "across-as-a-count",
        scene(f"layer n {{ ellipse(semi_axes 2) place count »across(bg) {RED}"),
        E,
        "found across(...), which is drawn where an object is placed",
    ),
    (
        "relative-in-semi-axes",
        scene(f"layer n {{ ellipse(semi_axes »relative(bg, 0.5)) place count 3 {RED}"),
        E,
        "found relative(...), which is drawn where an object is placed",
    ),
    (
        "relative-factor-too-large",
        scene(f"layer n {{ ellipse(semi_axes 1, scale relative(bg, »20)) place count 3 {RED}"),
        E,
        "`factor` of relative must be in [0, 10], got 20",
    ),
    (
        "scale-not-positive",
        scene(f"layer n {{ ellipse(semi_axes 1, scale »0) place count 3 {RED}"),
        E,
        "`scale` of ellipse must be > 0, got 0",
    ),
]
