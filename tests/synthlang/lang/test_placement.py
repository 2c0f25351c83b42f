"""Compiling placement relative to other objects: rings, ``in LAYER``, counts per host and
shape values relative to a layer (``along``, ``across``, ``relative``) into the IR."""

from __future__ import annotations

from synthlang import ir
from synthlang.lang.blocks import SIGNATURES
from synthlang.lang.compile import compile_string

HEAD = """
scene s { size 64 x 64 }
layer bg { fill color rgb(1, 1, 1) }
layer lumen { ellipse(semi_axes 10) place count 2, overlap none color rgb(1, 1, 1) }
"""


def layer(body: str, name: str = "n") -> ir.Layer:
    return compile_string(HEAD + body).layer(name)


def test_around_and_along_compile_to_rings() -> None:
    around = layer(
        "layer n { ellipse(semi_axes 2) place random around lumen, distance uniform(4, 8), "
        "spacing uniform(8, 11), overlap none color rgb(0, 0, 0) }"
    ).placement
    assert around is not None and around.mode == "around"
    assert around.ring == ir.Ring(
        category="lumen",
        distance=ir.Uniform(low=4, high=8),
        spacing=ir.Uniform(low=8, high=11),
    )
    along = layer("layer n { ellipse(semi_axes 2) place along lumen color rgb(0, 0, 0) }")
    assert along.placement is not None and along.placement.mode == "along"
    assert along.placement.ring == ir.Ring(category="lumen")  # distance 0, spacing 10
    assert along.placement.ring.spacing == ir.Constant(value=10)


def test_lengths_of_rings_may_be_written_in_micrometres() -> None:
    scene = compile_string(
        HEAD.replace("size 64 x 64", "size 64 x 64  pixel 0.5 um")
        + "layer n { ellipse(semi_axes 2) place around lumen, distance 3um, spacing 4um "
        "color rgb(0, 0, 0) }"
    )
    ring = scene.layer("n").placement.ring  # type: ignore[union-attr]
    assert ring is not None and (ring.distance, ring.spacing) == (
        ir.Constant(value=6),
        ir.Constant(value=8),
    )


def test_inside_takes_a_count_per_host() -> None:
    placement = layer(
        "layer n { ellipse(semi_axes 1) place inside lumen, count randint(1, 2) "
        "color rgb(0, 0, 0) }"
    ).placement
    assert placement is not None
    assert (placement.mode, placement.inside, placement.count) == (
        "inside",
        "lumen",
        ir.RandInt(low=1, high=2),
    )
    # either order
    again = layer(
        "layer n { ellipse(semi_axes 1) place count randint(1, 2), inside lumen "
        "color rgb(0, 0, 0) }"
    ).placement
    assert again == placement


def test_in_a_layer_restricts_centres_as_clause_or_item() -> None:
    clause = layer("layer n { ellipse(semi_axes 1) place count 5, in lumen color rgb(0, 0, 0) }")
    item = layer("layer n { ellipse(semi_axes 1) place count 5 not in lumen color rgb(0, 0, 0) }")
    assert clause.placement is not None and item.placement is not None
    assert clause.placement.in_layer == ir.InLayer(category="lumen")
    assert item.placement.in_layer == ir.InLayer(category="lumen", invert=True)
    assert clause.placement.regions is None


def test_regions_named_like_nothing_else_still_win_over_layers() -> None:
    scene = compile_string(
        """
        scene s { size 64 x 64  regions voronoi(3) }
        layer bg { fill in regions(1 of 3) as lumen color rgb(1, 1, 1) }
        layer dot { ellipse(semi_axes 1) place count 5, in lumen color rgb(0, 0, 0) }
        """
    )
    placement = scene.layer("dot").placement
    assert placement is not None and placement.regions is not None
    assert placement.in_layer is None


def test_shape_values_relative_to_a_layer() -> None:
    n = layer(
        """
        let nucleus = ellipse(semi_axes [5, 2], angle across(lumen, jitter uniform(-10, 10)),
                              scale relative(lumen, 0.3))
        layer n { nucleus place around lumen, distance 4 color rgb(0, 0, 0) }
        layer p { polygon(vertices 5, radius 1, angle along(n), scale 2) place count 3
                  color rgb(0, 0, 0) }
        """
    )
    assert isinstance(n.shape, ir.EllipseShape)
    assert n.shape.angle == ir.Orientation(
        kind="across", category="lumen", jitter=ir.Uniform(low=-10, high=10)
    )
    assert n.shape.scale == ir.RelativeSize(category="lumen", factor=ir.Constant(value=0.3))
    p = compile_string(
        HEAD
        + "layer n { ellipse(semi_axes 2) place count 2 color rgb(0, 0, 0) }\n"
        + "layer p { polygon(vertices 5, radius 1, angle along(n), scale 2) place count 3 "
        "color rgb(0, 0, 0) }"
    ).layer("p")
    assert isinstance(p.shape, ir.PolygonShape)
    assert p.shape.angle == ir.Orientation(kind="along", category="n")
    assert p.shape.scale == ir.Constant(value=2)


def test_relative_layers_are_dependencies_and_unused_fields_stay_out_of_the_hash() -> None:
    scene = compile_string(
        HEAD + "layer n { ellipse(semi_axes 1, angle across(lumen)) place count 3, not in bg "
        "color rgb(0, 0, 0) }"
    )
    assert ir.layer_dependencies(scene.layer("n")) == ("bg", "lumen")
    plain = compile_string(HEAD)
    dumped = plain.layer("lumen").model_dump(mode="json")
    assert dumped["shape"]["scale"] is None and dumped["placement"]["ring"] is None
    stripped = str(ir.scene._strip_spans(plain.model_dump(mode="json")))
    assert "'scale'" not in stripped and "'ring'" not in stripped and "in_layer" not in stripped


def test_the_new_words_still_name_things_and_blocks_are_documented() -> None:
    scene = compile_string(
        HEAD
        + """
        let distance = 3
        let spacing = 8
        layer along { ellipse(semi_axes 1) place around lumen, distance distance,
                      spacing spacing color rgb(0, 0, 0) }
        """
    )
    assert scene.layer("along").placement.ring.distance == ir.Constant(value=3)  # type: ignore[union-attr]
    assert SIGNATURES["across"].usage() == "across(category, [jitter])"
    assert SIGNATURES["relative"].usage() == "relative(category, factor)"
    assert [p.name for p in SIGNATURES["ellipse"].params] == ["semi_axes", "angle", "scale"]
