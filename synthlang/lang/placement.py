"""Placement clauses (``count``, ``fill``, ``inside``, ``in``, ``overlap``, ...) and categories."""

from __future__ import annotations

import math
from typing import Any

from synthlang import ir
from synthlang.ir import fmt_number, support
from synthlang.lang.blocks import Param, Signature, show
from synthlang.lang.context import CategoryRef, SourceFile, word_span
from synthlang.lang.grammar import did_you_mean
from synthlang.lang.nodes import (
    Call,
    NamedSelection,
    PlaceAttempts,
    PlaceClusters,
    PlaceCount,
    PlaceDensity,
    PlaceDistance,
    PlaceFailures,
    PlaceFill,
    PlaceIn,
    PlaceInside,
    PlaceItem,
    PlaceNear,
    PlaceOverlap,
    PlaceProbability,
    PlaceRandom,
    PlaceRing,
    PlaceSpacing,
    Selection,
)
from synthlang.lang.regions import RegionCompiler

__all__ = ["PlacementCompiler", "OVERLAP_MODES"]

OVERLAP_MODES = ("none", "moderate", "centers", "allowed")
"""The words allowed after ``overlap``."""

_MODERATE = Signature(
    "moderate",
    "overlap moderate",
    "number",  # the argument list of `overlap moderate(...)`; it makes no value of its own
    (Param("fraction", "number", check="unit", field="fraction"),),
)
_DEFAULT_MODERATE = 0.2

_MODES = ("count", "fill", "inside", "clusters", "around", "along")
"""The place clauses that say how many objects go where (one per layer; `inside` may take
a `count`: objects per host)."""
_DISTANCE = Param("distance", "distribution", check="nonnegative", limit="max_radius")
_SPACING = Param("spacing", "distribution", minimum=1.0, limit="max_radius")


class PlacementCompiler(RegionCompiler):
    """Compiles a layer's ``place`` clauses into an :class:`~synthlang.ir.Placement`."""

    def check_category(
        self, ref: CategoryRef, *, below: int | None = None, allow_self: bool = False
    ) -> None:
        """Check a category name; with ``below`` it must name a layer under that index."""
        name = ref.name
        if name not in self.layer_index:
            guess = did_you_mean(name, self.layer_index)
            raise self.error(
                f"unknown category `{name}` in {ref.role}"
                + (f"; did you mean `{guess}`?" if guess else ""),
                ref.span,
                hint="categories are layer names: " + ", ".join(self.layer_index),
            )
        if below is None:
            return
        index = self.layer_index[name]
        if index == below and allow_self:
            return
        if index == below:
            raise self.error(f"{ref.role} must name a lower layer, not the layer itself", ref.span)
        if index > below:
            raise self.error(
                f"{ref.role} must name a lower layer, but `{name}` is above this one "
                f"(layers are listed bottom to top)",
                ref.span,
                hint=f"move layer `{name}` (line {self.layer_spans[name].line}) above this layer "
                f"in the file",
            )

    def placement(self, item: PlaceItem, index: int, module: SourceFile) -> ir.Placement:
        """Compile a layer's ``place`` clauses."""
        seen: dict[str, Any] = {}
        words = {
            PlaceCount: "count",
            PlaceFill: "fill",
            PlaceInside: "inside",
            PlaceIn: "in",
            PlaceNear: "near",
            PlaceDensity: "density",
            PlaceClusters: "clusters",
            PlaceOverlap: "overlap",
            PlaceProbability: "probability",
            PlaceAttempts: "attempts",
            PlaceFailures: "failures",
            PlaceDistance: "distance",
            PlaceSpacing: "spacing",
        }
        modes: list[Any] = []
        for clause in item.clauses:
            if isinstance(clause, PlaceRandom):
                continue
            word = clause.word if isinstance(clause, PlaceRing) else words[type(clause)]
            if word in seen:
                raise self.error(
                    f"`{word}` is given twice in `place` (the first at column "
                    f"{seen[word].span.column})",
                    clause.span,
                )
            seen[word] = clause
            if word in _MODES:
                if modes and {word, _mode_word(modes[0])} != {"count", "inside"}:
                    raise self.error(
                        f"`{word}` cannot be combined with `{_mode_word(modes[0])}`: a layer "
                        f"places a count of objects, fills its area, puts objects inside each "
                        f"object of another layer (`inside C, count N`: N per host), places "
                        f"rings `around` or `along` them, or places clusters",
                        word_span(clause.span, word),
                    )
                modes.append(clause)
        if not modes:
            raise self.error(
                "`place` needs one of `count N`, `fill`, `inside CATEGORY`, `around CATEGORY`, "
                "`along CATEGORY` or `clusters(...)`",
                item.keyword,
            )
        self.check_ring_clauses(seen, modes)
        kw: dict[str, Any] = {}
        mode = next((m for m in modes if isinstance(m, PlaceInside)), modes[0])
        if isinstance(mode, PlaceRing):
            kw["mode"] = mode.word
            kw["ring"] = self.ring(mode, seen, index, module)
        elif isinstance(mode, PlaceCount):
            kw["mode"] = "count"
            kw["count"] = self.count(mode, module)
        elif isinstance(mode, PlaceFill):
            kw["mode"] = "fill"
        elif isinstance(mode, PlaceClusters):
            kw["mode"] = "clusters"
            kw["clusters"] = self.eval(mode.call, module).data
        else:
            kw["mode"] = "inside"
            ref = CategoryRef(mode.host.name, mode.host.span, "`inside`")
            self.check_category(ref, below=index)
            kw["inside"] = mode.host.name
            if "count" in seen:  # objects per host
                kw["count"] = self.count(seen["count"], module)
        if "in" in seen:
            clause = seen["in"]
            if self.names_layer(clause.selection, "`in`"):
                kw["in_layer"] = self.in_layer(clause.selection, clause.invert, index)
            else:
                kw["regions"] = self.selection(clause.selection, clause.invert, module)
        if "near" in seen:
            kw["near"] = self.near(seen["near"], index, module)
        if "density" in seen:
            kw["density"] = self.density(seen["density"], index, module)
        if "overlap" in seen:
            kw["overlap"] = self.overlap(seen["overlap"], index, module)
        if "probability" in seen:
            v = self.eval(seen["probability"].value, module)
            p = self.number(v)
            if not 0 <= p <= 1:
                raise self.error(f"probability must be in [0, 1], got {fmt_number(p)}", v.span)
            kw["probability"] = p
        for word, top in (("attempts", 10_000_000), ("failures", 1_000_000)):
            if word in seen:
                v = self.eval(seen[word].value, module)
                n = self.integer(v)
                if not 1 <= n <= top:
                    raise self.error(f"`{word}` must be between 1 and {top}, got {n}", v.span)
                kw["max_" + word] = n
        return self.build(ir.Placement, item.keyword, **kw)

    def check_ring_clauses(self, seen: dict[str, Any], modes: list[Any]) -> None:
        """``distance`` only with ``around`` (which needs it), ``spacing`` with around/along."""
        mode = _mode_word(modes[0])
        if mode == "around" and "distance" not in seen:
            raise self.error(
                "`around` needs `distance D`: how far outside the boundary the centres lie",
                word_span(modes[0].span, "around"),
                hint="for example `place around lumen, distance uniform(4, 8), spacing 10`; "
                "`along lumen` puts the centres on the boundary itself",
            )
        if "distance" in seen and mode != "around":
            raise self.error(
                f"`distance` is the distance of `around` from its layer's boundary; this layer "
                f"places with `{mode}`",
                word_span(seen["distance"].span, "distance"),
                hint="`along` puts the centres on the boundary (distance 0)"
                if mode == "along"
                else None,
            )
        if "spacing" in seen and mode not in ("around", "along"):
            raise self.error(
                f"`spacing` is the arc length between the objects of `around` or `along`; this "
                f"layer places with `{mode}`",
                word_span(seen["spacing"].span, "spacing"),
            )

    def ring(self, clause: PlaceRing, seen: dict[str, Any], index: int, module: SourceFile) -> Any:
        """Compile ``around C, distance D [, spacing S]`` / ``along C [, spacing S]``."""
        word = f"`{clause.word}`"
        self.check_category(CategoryRef(clause.host.name, clause.host.span, word), below=index)
        kw: dict[str, Any] = {"category": clause.host.name}
        for name, param in (("distance", _DISTANCE), ("spacing", _SPACING)):
            if name in seen:
                v = self.eval(seen[name].value, module)
                d = self.distribution(v, f"a {name} (a number of pixels or a distribution)")
                self.check_dist(param, d, v, f"the {name} of {word}")
                kw[name] = d
        return self.build(ir.Ring, clause.span, **kw)

    def names_layer(self, sel: Selection, role: str) -> bool:
        """Whether a selection written ``in NAME`` names a layer (it is not a region selection).

        A name that is neither a region selection nor a layer is refused here.
        """
        if not isinstance(sel, NamedSelection):
            return False
        if sel.name in self.selection_defs or sel.name in self.selections:
            return False
        if sel.name in self.layer_index:
            return True
        guess = did_you_mean(sel.name, [*self.selection_defs, *self.layer_index])
        raise self.error(
            f"`{sel.name}` in {role} is neither a region selection nor a layer"
            + (f"; did you mean `{guess}`?" if guess else ""),
            sel.span,
            hint="`in` takes regions (`in regions(k of n) [as NAME]`, a name given with `as`) "
            "or a lower layer (centres on its objects)",
        )

    def in_layer(self, sel: Selection, invert: bool, index: int) -> ir.InLayer:
        """Compile ``[not] in CATEGORY``: centres on (or off) a lower layer's objects."""
        assert isinstance(sel, NamedSelection)
        word = "`not in`" if invert else "`in`"
        self.check_category(CategoryRef(sel.name, sel.span, word), below=index)
        return ir.InLayer(category=sel.name, invert=invert)

    def near(self, clause: PlaceNear, index: int, module: SourceFile) -> ir.Near:
        """Compile ``[not] near CATEGORY within D`` (a lower layer, a distance >= 0)."""
        word = "`not near`" if clause.invert else "`near`"
        self.check_category(CategoryRef(clause.host.name, clause.host.span, word), below=index)
        v = self.eval(clause.distance, module)
        d = self.number(v, "a distance (a number of pixels, or micrometres as `5um`)")
        if not 0 <= d <= self.limits.max_radius:
            raise self.error(
                f"the distance of {word} must be between 0 and "
                f"{fmt_number(self.limits.max_radius)} pixels, got {fmt_number(d)}",
                v.span,
            )
        return ir.Near(category=clause.host.name, distance=d, invert=clause.invert)

    def density(self, clause: PlaceDensity, index: int, module: SourceFile) -> Any:
        """Compile ``density VALUE``: a ``gaussian_field(...)`` or ``falloff(from C, scale S)``."""
        v = self.eval(clause.value, module)
        if v.kind not in ("density", "speed field"):
            raise self.type_error(
                v, "a density (gaussian_field(...) or falloff(from CATEGORY, scale S))"
            )
        for ref in v.refs:
            self.check_category(ref, below=index)
        return v.data

    def count(self, clause: PlaceCount, module: SourceFile) -> Any:
        """Check the object count of ``place count``: bounded, non-negative, within the limit."""
        v = self.eval(clause.value, module)
        d = self.distribution(v, "a count (a number or a distribution)")
        lo, hi = support(d)
        shown = f"`{v.name}` = {show(d)}" if v.name else show(d)
        if not math.isfinite(hi):
            raise self.error(
                f"the object count must be bounded, but {shown} can be arbitrarily large",
                v.span,
                hint="use randint(low, high) or truncnormal(mean, std, low, high)",
            )
        if lo < 0:
            raise self.error(
                f"the object count cannot be negative, but {shown} can be {fmt_number(lo)}", v.span
            )
        if hi > self.limits.max_count:
            raise self.limit_error(
                f"the object count can be as large as {fmt_number(hi)}, more than the limit of "
                f"{self.limits.max_count}",
                v.span,
                "SYNTHLANG_MAX_COUNT",
            )
        return d

    def overlap(self, clause: PlaceOverlap, index: int, module: SourceFile) -> ir.Overlap:
        """Compile ``overlap MODE [with ...]``."""
        mode = clause.mode.name
        if mode not in OVERLAP_MODES:
            guess = did_you_mean(mode, OVERLAP_MODES)
            raise self.error(
                f"unknown overlap mode `{mode}`"
                + (f"; did you mean `{guess}`?" if guess else "")
                + " (modes: none, moderate, centers, allowed)",
                clause.mode.span,
            )
        kw: dict[str, Any] = {"mode": mode}
        if clause.args is not None:
            if mode != "moderate":
                raise self.error(f"`overlap {mode}` takes no arguments", clause.mode.span)
            call = Call(clause.span, "moderate", clause.mode.span, clause.args)
            args = self.bind(call, _MODERATE, module)
            kw["fraction"] = args["fraction"].value if args["fraction"].given else _DEFAULT_MODERATE
        elif mode == "moderate":
            kw["fraction"] = _DEFAULT_MODERATE
        for ident in clause.against:
            ref = CategoryRef(ident.name, ident.span, "`overlap ... with`")
            self.check_category(ref, below=index, allow_self=True)
        kw["against"] = tuple(dict.fromkeys(i.name for i in clause.against))
        return self.build(ir.Overlap, clause.span, **kw)


def _mode_word(clause: Any) -> str:
    """The word of a placement-mode clause (``count``, ``inside``, ``around``, ...)."""
    if isinstance(clause, PlaceRing):
        return clause.word
    return {
        PlaceCount: "count",
        PlaceFill: "fill",
        PlaceInside: "inside",
        PlaceClusters: "clusters",
    }[type(clause)]
