"""Layers: items, shape, placement, colour and layer items, checked and built into the IR."""

from __future__ import annotations

from typing import Any

from synthlang import ir
from synthlang.common.errors import Span, SynthlangError
from synthlang.lang.blocks import object_shape_list, shape_list
from synthlang.lang.channels import blend_mode, check_colour, check_contour, check_shape
from synthlang.lang.context import SourceFile, Value, word_span
from synthlang.lang.feasibility import placement_problem
from synthlang.lang.nodes import (
    BlendItem,
    ColorItem,
    ContourItem,
    InItem,
    LayerDecl,
    ModifierItem,
    PlaceItem,
    Ref,
    ShapeItem,
)
from synthlang.lang.placement import PlacementCompiler

__all__ = ["LayerCompiler", "PLACE_WORDS", "LAYER_WORDS"]

PLACE_WORDS = (
    *("count", "fill", "inside", "overlap", "probability", "attempts", "failures"),
    *("around", "along", "distance", "spacing"),
)
"""The words that start a place clause."""
LAYER_WORDS = (
    *("shape", "place", "in", "color", "texture", "contour", "soft", "chromatin"),
    "blend",
)
"""The words that start a layer item."""


class LayerCompiler(PlacementCompiler):
    """Compiles layers: their items, shape, placement, colour, contour, soft edges, chromatin."""

    def layer(self, decl: LayerDecl, index: int, module: SourceFile) -> ir.Layer:
        """Compile one layer declaration."""
        name = decl.name.name
        slots = self.layer_items(decl, module)
        shape_item: ShapeItem | None = slots.get("shape")
        if shape_item is None:
            raise self.error(
                f"layer `{name}` has no shape: add one of {shape_list(True)}",
                decl.name.span,
            )
        sv = self.eval_shape(shape_item, module)
        check_shape(self, sv)
        shape = sv.data
        for category in sv.refs:
            if category.lower:  # along(C), across(C), relative(C, f): drawn from finished objects
                self.check_category(category, below=index)
                continue
            # a grown shape may start from an upper layer (cells under their nuclei);
            # cycles are checked once all layers are known
            self.check_category(category)
            if self.layer_index[category.name] == index:
                raise self.error(
                    f"{category.role} must name another layer, not the layer itself",
                    category.span,
                )
            self.shape_refs.setdefault(name, category)
        placement, regions = self.layer_area(decl, index, sv, slots, module)
        self.compiled[name] = self.build(
            ir.Layer,
            decl.name.span,
            index=index,
            name=name,
            shape=shape,
            placement=placement,
            regions=regions,
            color=self.layer_colour(decl, shape, slots.get("color"), module),
            contour=self.layer_contour(slots.get("contour"), name, module),
            soft=self.layer_soft(shape, slots.get("soft"), module),
            chromatin=self.layer_item_value(slots.get("chromatin"), module),
            blend=blend_mode(self, slots.get("blend")),
            span=ir.SourceSpan.from_span(
                Span(
                    decl.span.file,
                    decl.span.line,
                    decl.span.column,
                    decl.name.span.end_line,
                    decl.name.span.end_column,
                )
            ),
        )
        return self.compiled[name]

    def layer_items(self, decl: LayerDecl, module: SourceFile) -> dict[str, Any]:
        """The layer's items by slot (shape, place, in, color, contour, soft, chromatin)."""
        name = decl.name.name
        slots: dict[str, Any] = {}
        starts: dict[str, Span] = {}
        previous: Any = None
        for item in decl.items:
            slot, word, start = self.item_slot(item, previous, module)
            if slot in slots:
                raise self.twice_error(name, slot, word, starts[slot], slots[slot], item, start)
            slots[slot] = item
            starts[slot] = start
            previous = item
        return slots

    def item_slot(self, item: Any, previous: Any, module: SourceFile) -> tuple[str, str, Span]:
        """The slot an item fills, how messages call it and where it starts."""
        if isinstance(item, ShapeItem):
            start = item.value.span if not item.explicit else word_span(item.span, "shape")
            ref = item.value
            if isinstance(ref, Ref) and ref.name not in self.defs:
                if isinstance(previous, PlaceItem) and ref.name in PLACE_WORDS:
                    raise self.error(
                        f"missing comma before `{ref.name}`: separate place clauses with commas",
                        ref.span,
                        hint=f"for example `place count 30, {ref.name} ...`",
                    )
                self.resolve(ref, module, extra=(*LAYER_WORDS, "fill"))
            return "shape", "a shape", start
        if isinstance(item, PlaceItem):
            return "place", "`place`", item.keyword
        if isinstance(item, InItem):
            return "in", "`in`", item.span
        if isinstance(item, ColorItem):
            return "color", f"`{item.keyword}`", word_span(item.span, item.keyword)
        if isinstance(item, ModifierItem):
            return item.call.block, f"`{item.call.block}`", item.call.keyword
        if isinstance(item, BlendItem):
            return "blend", "`blend`", word_span(item.span, "blend")
        assert isinstance(item, ContourItem)
        return "contour", "`contour`", item.call.keyword

    def twice_error(
        self, name: str, slot: str, word: str, first: Span, earlier: Any, item: Any, start: Span
    ) -> SynthlangError:
        """The error for an item given twice in a layer."""
        hint = None
        if slot == "shape":
            msg = f"layer `{name}` has two shapes (the first at {first.line}:{first.column})"
            hint = "a layer is one category with one shape; use another layer"
        elif slot == "color" and earlier.keyword != getattr(item, "keyword", None):
            msg = (
                f"layer `{name}` has both `color` and `texture` (the first at "
                f"{first.line}:{first.column}); give one of them"
            )
        else:
            at = f"{first.line}:{first.column}"
            msg = f"{word} is given twice in layer `{name}` (the first at {at})"
            if slot == "place":
                hint = "merge the clauses: `place count 30, overlap none`"
        return self.error(msg, start, hint=hint)

    def layer_area(
        self, decl: LayerDecl, index: int, sv: Value, slots: dict[str, Any], module: SourceFile
    ) -> tuple[ir.Placement | None, ir.RegionSelection | None]:
        """Where the layer's objects go: a placement (object shapes) or regions (area shapes)."""
        name, shape = decl.name.name, sv.data
        place_item: PlaceItem | None = slots.get("place")
        in_item: InItem | None = slots.get("in")
        if not shape.placed:
            if place_item is not None:
                raise self.error(
                    f"`place` is for object shapes ({object_shape_list()}); a {shape.kind} layer "
                    f"covers an area",
                    place_item.keyword,
                    hint="restrict an area shape to regions with `in regions(k of n)`",
                )
            if shape.needs_regions and self.region_total is None:
                raise self.error(
                    f"{shape.kind}(...) follows region boundaries, but the scene has no regions",
                    sv.span,
                    hint="add `regions voronoi(N)` or `regions fast_marching(N)` to the header",
                )
            if in_item is None:
                return None, None
            return None, self.selection(in_item.selection, in_item.invert, module)
        if place_item is None:
            raise self.error(
                f"layer `{name}` places {shape.kind} objects but has no `place`",
                decl.name.span,
                hint="add `place count N`, `place fill` or `place inside CATEGORY`",
            )
        placement = self.placement(place_item, index, module)
        host = self.compiled.get(placement.inside) if placement.inside else None
        problem = placement_problem(shape, placement, place_item, host, self.image_size)
        if problem is not None:
            raise self.error(problem.message, problem.span, hint=problem.hint)
        if in_item is not None and self.names_layer(in_item.selection, "`in`"):
            if placement.in_layer is not None:
                raise self.error(
                    f"layer `{name}` restricts its centres to a layer twice: here and in `place`",
                    in_item.span,
                )
            cover = self.in_layer(in_item.selection, in_item.invert, index)
            return placement.model_copy(update={"in_layer": cover}), None
        if in_item is not None:
            if placement.regions is not None:
                raise self.error(
                    f"layer `{name}` restricts its regions twice: here and in `place`",
                    in_item.span,
                )
            regions = self.selection(in_item.selection, in_item.invert, module)
            placement = placement.model_copy(update={"regions": regions})
        return placement, None

    def layer_colour(
        self, decl: LayerDecl, shape: Any, color_item: ColorItem | None, module: SourceFile
    ) -> Any:
        """The layer's colour or texture model (None for shapes that bring their own pixels)."""
        if shape.textured:
            if color_item is not None:
                raise self.error(
                    f"a {shape.kind} layer takes its colours from the patch library; remove "
                    f"`{color_item.keyword}`",
                    word_span(color_item.span, color_item.keyword),
                )
            return None
        if color_item is None:
            raise self.error(
                f"layer `{decl.name.name}` has no colour: add `color rgb(...)`, `color mvn(...)` "
                f"or `texture patches(...)`",
                decl.name.span,
            )
        cv = self.eval(color_item.value, module)
        if cv.kind not in ("colour", "texture"):
            raise self.type_error(cv, "a colour or texture")
        return check_colour(self, cv, decl.name.name)

    def layer_soft(self, shape: Any, item: ModifierItem | None, module: SourceFile) -> Any:
        """The layer's soft edges (object shapes only)."""
        if item is not None and not shape.placed:
            raise self.error(
                f"`soft` edges are for object shapes ({object_shape_list()}); a {shape.kind} "
                f"layer covers an area",
                item.call.keyword,
                hint="area objects tile the image: give the objects placed on them soft edges",
            )
        return self.layer_item_value(item, module)

    def layer_contour(self, item: ContourItem | None, name: str, module: SourceFile) -> Any:
        """The layer's contour (its colour has one value per channel)."""
        return check_contour(self, self.layer_item_value(item, module), item, name)

    def layer_item_value(self, item: ModifierItem | ContourItem | None, module: SourceFile) -> Any:
        """The IR of a layer item written as a block call (contour, soft, chromatin)."""
        return None if item is None else self.eval(item.call, module).data

    def eval_shape(self, item: ShapeItem, module: SourceFile) -> Value:
        """Evaluate a layer's shape item."""
        v = self.eval(item.value, module)
        if v.kind != "shape":
            raise self.type_error(v, f"a shape ({shape_list(False)})")
        return v
