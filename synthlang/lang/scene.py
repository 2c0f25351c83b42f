"""The scene: header, definitions, layers in order, region selections, degradations, masks.

Masks are plain ``mask`` rules (one class) or one ``mask classes { }`` block (labelled
classes, ids 1.. in order); a scene has one form or the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthlang import ir
from synthlang.common.errors import Span
from synthlang.common.limits import SceneLimitError
from synthlang.ir.budget import RENDER_BYTES_HINT, estimate_render_bytes, render_bytes_message
from synthlang.lang.channels import check_passes, header_bits, header_channels
from synthlang.lang.context import CategoryRef, SourceFile, word_span
from synthlang.lang.feasibility import condition_verdict
from synthlang.lang.layers import LayerCompiler
from synthlang.lang.nodes import (
    BitsItem,
    Call,
    ChannelsItem,
    Comparison,
    CondAnd,
    Condition,
    CondNot,
    CondOr,
    Degrade,
    Import,
    LayerDecl,
    Let,
    MaskClasses,
    MaskDecl,
    PixelItem,
    RegionsItem,
    SceneHeader,
    SizeItem,
)

__all__ = ["SceneCompiler"]


class SceneCompiler(LayerCompiler):
    """Compiles the main file into a :class:`~synthlang.ir.Scene`."""

    def run(self, text: str, *, display: str | None, key: Path | None, folder: Path) -> ir.Scene:
        """Compile ``text`` (the main file) and everything it imports."""
        main = self.load(text, display=display, key=key, folder=folder, chain=[])
        self.compute_reach()
        self.register_definitions()
        return self.compile_scene(main)

    def compile_scene(self, main: SourceFile) -> ir.Scene:
        """Compile the main file's statements into the Scene."""
        headers = [s for s in main.ast.statements if isinstance(s, SceneHeader)]
        layers = [s for s in main.ast.statements if isinstance(s, LayerDecl)]
        degrades = [s for s in main.ast.statements if isinstance(s, Degrade)]
        masks = [s for s in main.ast.statements if isinstance(s, MaskDecl)]
        blocks = [s for s in main.ast.statements if isinstance(s, MaskClasses)]
        if not headers:
            library = all(isinstance(s, (Import, Let)) for s in main.ast.statements)
            raise self.error(
                "the scene has no header: start it with `scene NAME { size ROWS x COLS }`",
                Span(main.display, 1, 1, 1, 2),
                hint="a file with only `import` and `let` is a library: check the scene that "
                "imports it"
                if library and main.ast.statements
                else None,
            )
        if len(headers) > 1:
            raise self.error(
                f"a scene has exactly one header; the first is at {headers[0].span.location()}",
                word_span(headers[1].span, "scene"),
            )
        header = headers[0]
        size, regions = self.header(header, main)
        self.image_size = size
        channels = header_channels(self, [i for i in header.items if isinstance(i, ChannelsItem)])
        bits = header_bits(self, [i for i in header.items if isinstance(i, BitsItem)])
        if len(degrades) > 1:
            raise self.error(
                f"`degrade` is given twice (first at {degrades[0].span.location()}); put all "
                f"passes in one block, they apply in order",
                word_span(degrades[1].span, "degrade"),
            )

        # every definition is checked, used or not
        for name in self.defs:
            self.definition(name, None)

        if not layers:
            raise self.error(
                "the scene has no layers: add at least one `layer NAME { ... }`",
                header.name.span,
            )
        if len(layers) > self.limits.max_layers:
            extra = layers[self.limits.max_layers]
            raise self.limit_error(
                f"the scene has {len(layers)} layers, more than the limit of "
                f"{self.limits.max_layers}",
                extra.name.span,
                "SYNTHLANG_MAX_LAYERS",
            )
        for i, decl in enumerate(layers):
            name = decl.name.name
            self.check_name(name, decl.name.span, "a layer")
            if name in self.layer_index:
                first = self.layer_spans[name]
                raise self.error(
                    f"layer `{name}` is defined twice: here and at {first.location()}",
                    decl.name.span,
                    hint="layer names are categories and must be unique",
                )
            self.layer_index[name] = i
            self.layer_spans[name] = decl.name.span
        self.collect_selection_names(layers)

        ir_layers = tuple(self.layer(decl, i, main) for i, decl in enumerate(layers))
        self.check_render_order(ir_layers, layers)
        passes: tuple[Any, ...] = ()
        if degrades:
            passes = tuple(self.degrade_pass(call, main) for call in degrades[0].passes)
            check_passes(self, degrades[0].passes, passes)
            scales = [call for call in degrades[0].passes if call.block == "scale"]
            if len(scales) > 1:
                raise self.error(
                    f"`scale` is given twice in `degrade` (first at {scales[0].span.location()}); "
                    f"a sample is zoomed once",
                    scales[1].keyword,
                )
        self.check_mask_forms(masks, blocks)
        rules = tuple(self.mask(m, main) for m in masks)
        classes = self.mask_classes(blocks[0], main) if blocks else None
        sources = [str(m.key) for m in self.order if m.key is not None]
        scene = self.build(
            ir.Scene,
            header.name.span,
            name=header.name.name,
            size=size,
            pixel_size_um=self.pixel_um,
            regions=regions,
            layers=ir_layers,
            degrade=passes,
            masks=rules,
            classes=classes,
            channels=channels,
            bits=bits,
            source=main.display,
            sources=tuple(sources),
        )
        self.check_memory(scene, header)
        return scene

    def check_memory(self, scene: ir.Scene, header: SceneHeader) -> None:
        """Refuse a scene whose render would need more than ``max_render_bytes``."""
        estimate = estimate_render_bytes(scene)
        if estimate.total <= self.limits.max_render_bytes:
            return
        largest = estimate.largest_layer()
        span = self.size_span or header.name.span
        if largest is not None and largest[1] > estimate.images:
            span = self.layer_spans[largest[0]]
        raise self.error(
            render_bytes_message(estimate, self.limits),
            span,
            hint=RENDER_BYTES_HINT,
            cls=SceneLimitError,
        )

    def check_render_order(self, ir_layers: tuple[ir.Layer, ...], decls: list[LayerDecl]) -> None:
        """Refuse layers whose dependencies form a cycle (only possible via ``grown``)."""
        # a partial Scene (layers only), enough for render_order(); not validated
        probe = ir.Scene.model_construct(layers=ir_layers)  # type: ignore[call-arg]
        try:
            probe.render_order()
        except ValueError as exc:
            cycle = str(exc).split(": ", 1)[1].split(" -> ")
            ref = next(
                (self.shape_refs[n] for n in cycle if n in self.shape_refs),
                None,
            )
            span = ref.span if ref is not None else decls[self.layer_index[cycle[0]]].name.span
            raise self.error(
                f"layers depend on each other in a cycle: {' -> '.join(cycle)}",
                span,
                hint="a layer is built after its `inside` host, its `overlap ... with` "
                "categories and the source of its grown(...) shape",
            ) from None

    def header(self, header: SceneHeader, module: SourceFile) -> tuple[tuple[int, int], Any]:
        """Compile the header: image size and region decomposition."""
        sizes = [i for i in header.items if isinstance(i, SizeItem)]
        regions = [i for i in header.items if isinstance(i, RegionsItem)]
        pixels = [i for i in header.items if isinstance(i, PixelItem)]
        channels = [i for i in header.items if isinstance(i, ChannelsItem)]
        bits = [i for i in header.items if isinstance(i, BitsItem)]
        repeated = (sizes, "size"), (regions, "regions"), (pixels, "pixel")
        for items, word in (*repeated, (channels, "channels"), (bits, "bits")):
            if len(items) > 1:
                raise self.error(
                    f"`{word}` is given twice in the header (first at line {items[0].span.line})",
                    word_span(items[1].span, word),
                )
        if not sizes:
            raise self.error(
                "the header needs the image size: `size ROWS x COLS`", header.name.span
            )
        if pixels:
            um = pixels[0].value
            if not 0.01 <= um.value <= 100:
                raise self.error(
                    f"a pixel of {um.text} um: the pixel size must be between 0.01 and 100 um "
                    f"(0.5 at 20x, 0.25 at 40x)",
                    um.span,
                )
            self.pixel_um = um.value
        item = sizes[0]
        self.size_span = item.span
        rows_v = self.eval(item.rows, module)
        cols_v = self.eval(item.cols, module) if item.cols is not None else rows_v
        sides = []
        for v in (rows_v, cols_v):
            n = self.integer(v)
            if n < 1:
                raise self.error(f"image sides must be at least 1 pixel, got {n}", v.span)
            if n > self.limits.max_side:
                raise self.limit_error(
                    f"image side {n} is larger than the limit of {self.limits.max_side} pixels",
                    v.span,
                    "SYNTHLANG_MAX_SIDE",
                )
            sides.append(n)
        if sides[0] * sides[1] > self.limits.max_pixels:
            raise self.limit_error(
                f"the image has {sides[0] * sides[1]} pixels, more than the limit of "
                f"{self.limits.max_pixels}",
                item.span,
                "SYNTHLANG_MAX_PIXELS",
            )
        spec = None
        if regions:
            v = self.eval(regions[0].value, module)
            if v.kind != "region decomposition":
                raise self.type_error(
                    v, "a region decomposition (voronoi(N) or fast_marching(N, ...))"
                )
            spec = v.data
            self.region_total = spec.count
            self.region_span = regions[0].span
        return (sides[0], sides[1]), spec

    def degrade_pass(self, call: Call, module: SourceFile) -> Any:
        """Compile one degradation pass."""
        return self.eval(call, module).data

    def check_mask_forms(self, rules: list[MaskDecl], blocks: list[MaskClasses]) -> None:
        """Refuse two ``mask classes`` blocks, and plain ``mask`` rules next to one."""
        if len(blocks) > 1:
            raise self.error(
                f"`mask classes` is given twice (first at {blocks[0].span.location()}); list "
                f"every class in one block",
                blocks[1].keyword,
            )
        if blocks and rules:
            block, rule = blocks[0], rules[0]
            hint = "make each rule a target of a class: `NAME: CATEGORY [where ...]` in the block"
            if (rule.span.line, rule.span.column) > (block.span.line, block.span.column):
                raise self.error(
                    f"a plain `mask` rule cannot be combined with `mask classes` (at "
                    f"{block.span.location()}): the classes block declares every mask class",
                    word_span(rule.span, "mask"),
                    hint=hint,
                )
            raise self.error(
                f"`mask classes` cannot be combined with plain `mask` rules (the first at "
                f"{rule.span.location()}): the classes block declares every mask class",
                block.keyword,
                hint=hint,
            )

    def mask_classes(self, block: MaskClasses, module: SourceFile) -> tuple[ir.MaskClass, ...]:
        """Compile ``mask classes { ... }``: ids 1.. in order, names unique, not `background`."""
        if not block.classes:
            raise self.error(
                "`mask classes { }` declares no class: write at least one `NAME: TARGET`",
                block.keyword,
                hint="for example `mask classes { tumor: visible(tumor_nucleus) }`",
            )
        if len(block.classes) > ir.MAX_CLASSES:
            raise self.error(
                f"`mask classes` declares {len(block.classes)} classes, more than "
                f"{ir.MAX_CLASSES} (class ids are one byte; 0 is the background)",
                block.classes[ir.MAX_CLASSES].name.span,
            )
        seen: dict[str, Span] = {}
        out = []
        for decl in block.classes:
            name = decl.name.name
            if name == ir.BACKGROUND:
                raise self.error(
                    f"the class name `{name}` is reserved for class id 0 (pixels of no class)",
                    decl.name.span,
                    hint="choose another name; unlabelled pixels are the background already",
                )
            if name in seen:
                raise self.error(
                    f"class `{name}` is given twice: here and at {seen[name].location()}",
                    decl.name.span,
                    hint=f"list several targets after one name, separated by commas: "
                    f"`{name}: a, visible(b)`",
                )
            seen[name] = decl.name.span
            rules = tuple(self.mask(t, module, f"class `{name}`") for t in decl.targets)
            span = ir.SourceSpan.from_span(decl.span)
            out.append(self.build(ir.MaskClass, decl.span, name=name, rules=rules, span=span))
        return tuple(out)

    def mask(self, decl: MaskDecl, module: SourceFile, role: str = "`mask`") -> ir.MaskRule:
        """Compile one mask rule (or one target of a class, ``role`` naming it in messages)."""
        ref = CategoryRef(decl.category.name, decl.category.span, role)
        self.check_category(ref)
        condition = None
        if decl.condition is not None:
            condition = self.condition(decl.condition, module)
            verdict, never = condition_verdict(decl.condition, condition, self.image_size)
            if verdict == "never" and never is not None:
                raise self.error(
                    never.message + "; the rule would select no object", never.span, hint=never.hint
                )
        return self.build(
            ir.MaskRule,
            decl.span,
            category=decl.category.name,
            condition=condition,
            visible_only=decl.visible,
            span=ir.SourceSpan.from_span(decl.span),
        )

    def condition(self, cond: Condition, module: SourceFile) -> Any:
        """Compile a mask rule's condition."""
        if isinstance(cond, Comparison):
            mv = self.eval(cond.metric, module)
            for ref in mv.refs:
                self.check_category(ref)
            value = self.number(self.eval(cond.value, module), "a number")
            return self.build(ir.Compare, cond.span, metric=mv.data, op=cond.op, value=value)
        if isinstance(cond, CondAnd):
            return ir.And(args=tuple(self.condition(c, module) for c in cond.args))
        if isinstance(cond, CondOr):
            return ir.Or(args=tuple(self.condition(c, module) for c in cond.args))
        assert isinstance(cond, CondNot)
        return ir.Not(arg=self.condition(cond.arg, module))
