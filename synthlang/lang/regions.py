"""Region selections: ``in regions(k of n) [as NAME]``, named selections, their allocation."""

from __future__ import annotations

from synthlang import ir
from synthlang.lang.bind import Binder
from synthlang.lang.context import SourceFile
from synthlang.lang.grammar import did_you_mean
from synthlang.lang.nodes import (
    InItem,
    LayerDecl,
    NamedSelection,
    PlaceIn,
    PlaceItem,
    RegionsSelection,
    Selection,
)

__all__ = ["RegionCompiler"]


class RegionCompiler(Binder):
    """Allocates region selections: disjoint, in the order they first appear, reusable by name."""

    def collect_selection_names(self, layers: list[LayerDecl]) -> None:
        """Register the named region selections (``as NAME``) of every layer."""
        for decl in layers:
            for item in decl.items:
                sels: list[Selection] = []
                if isinstance(item, InItem):
                    sels.append(item.selection)
                elif isinstance(item, PlaceItem):
                    sels.extend(c.selection for c in item.clauses if isinstance(c, PlaceIn))
                for sel in sels:
                    if isinstance(sel, RegionsSelection) and sel.alias is not None:
                        name = sel.alias.name
                        self.check_name(name, sel.alias.span, "a region selection")
                        if name in self.selection_defs:
                            first = self.selection_defs[name].alias
                            assert first is not None
                            raise self.error(
                                f"region selection `{name}` is named twice: here and at "
                                f"{first.span.location()}",
                                sel.alias.span,
                                hint=f"reuse it by writing `in {name}`",
                            )
                        self.selection_defs[name] = sel

    def selection(self, sel: Selection, invert: bool, module: SourceFile) -> ir.RegionSelection:
        """Resolve a region selection (by name or allocated), inverted for ``not in``."""
        if (
            isinstance(sel, NamedSelection)
            and sel.name in self.layer_index
            and sel.name not in self.selection_defs
        ):
            raise self.error(
                f"`{sel.name}` is a layer, not a region selection: an area shape is restricted "
                f"to regions of the header's decomposition (`in regions(k of n)` or a name given "
                f"with `as`)",
                sel.span,
                hint=f"objects placed with `place` can be restricted to the objects of layer "
                f"`{sel.name}` (`place ..., in {sel.name}`) or put inside them "
                f"(`place inside {sel.name}`)",
            )
        if self.region_total is None:
            raise self.error(
                "this scene has no regions: add `regions voronoi(N)` (or fast_marching(N)) "
                "to the scene header to use region selections",
                sel.span,
            )
        if isinstance(sel, NamedSelection):
            if sel.name in self.selections:
                base = self.selections[sel.name]
            elif sel.name in self.selection_defs:
                base = self.allocate(self.selection_defs[sel.name], module)
            else:
                guess = did_you_mean(sel.name, self.selection_defs)
                raise self.error(
                    f"unknown region selection `{sel.name}`"
                    + (f"; did you mean `{guess}`?" if guess else ""),
                    sel.span,
                    hint="name a selection with `in regions(k of n) as NAME`",
                )
        elif sel.alias is not None and sel.alias.name in self.selections:
            base = self.selections[sel.alias.name]
        else:
            base = self.allocate(sel, module)
        return base.model_copy(update={"invert": invert})

    def allocate(self, sel: RegionsSelection, module: SourceFile) -> ir.RegionSelection:
        """Allocate the next regions of the per-sample permutation to a selection."""
        total = self.region_total
        assert total is not None and self.region_span is not None
        alias = sel.alias.name if sel.alias is not None else None
        if sel.count is None:
            result = ir.RegionSelection(start=0, count=total, name=alias, invert=False)
        else:
            assert sel.total is not None
            k_v = self.eval(sel.count, module)
            n_v = self.eval(sel.total, module)
            k, n = self.integer(k_v), self.integer(n_v)
            if n != total:
                raise self.error(
                    f"the scene has {total} regions (header, line {self.region_span.line}), "
                    f"so write `regions(k of {total})`, not `of {n}`",
                    n_v.span,
                )
            if not 1 <= k <= total:
                raise self.error(
                    f"regions(k of {total}) needs 1 <= k <= {total}, got {k}", k_v.span
                )
            if self.cursor + k > total:
                earlier = ", ".join(f"{text} at {s.location()}" for text, s in self.taken)
                raise self.error(
                    f"region selections take {self.cursor + k} regions in total, but the scene "
                    f"has only {total}: selections never share regions",
                    sel.span,
                    hint=f"earlier selections: {earlier}; reuse one by name "
                    f"(`regions(k of n) as NAME`, then `in NAME`)"
                    if earlier
                    else None,
                )
            result = ir.RegionSelection(start=self.cursor, count=k, name=alias, invert=False)
            self.cursor += k
            self.taken.append((f"regions({k} of {n})", sel.span))
        if alias is not None:
            self.selections[alias] = result
        return result
