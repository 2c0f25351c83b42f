"""Names and expressions: resolving ``let`` definitions across imports and evaluating values."""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Iterable

from synthlang.common.errors import Span, SynthlangError
from synthlang.lang.context import MAX_NUMBER, SourceFile, Value, article
from synthlang.lang.grammar import did_you_mean
from synthlang.lang.loader import Loader
from synthlang.lang.nodes import Bool, Call, Expr, Length, ListExpr, Number, Ref, Scoped, String

__all__ = ["Evaluator"]


class Evaluator(Loader):
    """Evaluates expressions: numbers, strings, lists, names and building blocks."""

    def visible_names(self, module: SourceFile) -> list[str]:
        """The definitions a file can see (its own and its imports')."""
        reach = self.reach.get(module.key, {module.key})
        return [n for n, (_, m) in self.defs.items() if m.key in reach]

    def resolve(self, ref: Ref, module: SourceFile, extra: Iterable[str] = ()) -> Value:
        """The value of a name used in ``module`` (with did-you-mean for unknown names)."""
        name = ref.name
        if name not in self.defs:
            if name in self.layer_index:
                raise self.error(
                    f"`{name}` is a layer (a category), not a definition; "
                    f"categories are only used by `inside`, `with`, `from`, mask rules and metrics",
                    ref.span,
                )
            candidates = [*self.visible_names(module), *extra]
            guess = did_you_mean(name, candidates)
            raise self.error(
                f"unknown name `{name}`" + (f"; did you mean `{guess}`?" if guess else ""),
                ref.span,
                hint=None if guess else "define it with `let " + name + " = ...` or import it",
            )
        let, owner = self.defs[name]
        if owner.key not in self.reach.get(module.key, {module.key}):
            raise self.error(
                f"`{name}` is defined in {owner.display or '<string>'}, which this file does not "
                f"import",
                ref.span,
                hint=f'add `import "{owner.display}"`' if owner.display else None,
            )
        value = self.definition(name, ref.span)
        return dataclasses.replace(value, span=ref.span, name=name)

    def definition(self, name: str, use: Span | None) -> Value:
        """The value of definition ``name``, evaluated once (refusing self-reference)."""
        if name in self.memo:
            return self.memo[name]
        if name in self.evaluating:
            chain = self.evaluating[self.evaluating.index(name) :] + [name]
            raise self.error(
                f"`{name}` is defined in terms of itself: " + " -> ".join(chain),
                use,
            )
        let, module = self.defs[name]
        self.evaluating.append(name)
        try:
            value = self.eval(let.value, module)
        finally:
            self.evaluating.pop()
        self.memo[name] = value
        return value

    def eval(self, expr: Expr, module: SourceFile) -> Value:
        """Evaluate an expression (bounded nesting)."""
        self.depth += 1
        try:
            if self.depth > 2 * self.limits.max_nesting:
                raise self.limit_error(
                    f"definitions nest more than {2 * self.limits.max_nesting} levels deep",
                    expr.span,
                    "SYNTHLANG_MAX_NESTING",
                )
            return self._eval(expr, module)
        finally:
            self.depth -= 1

    def _eval(self, expr: Expr, module: SourceFile) -> Value:
        if isinstance(expr, Number):
            if not abs(expr.value) <= MAX_NUMBER:
                raise self.error(
                    f"the number {expr.text} is too large: numbers in a scene are at most "
                    f"{MAX_NUMBER:g} in magnitude",
                    expr.span,
                )
            # -0 is 0 (a range like uniform(0, -0) must not have low > high bitwise)
            return Value("number", expr.value + 0.0, expr.span, text=expr.text)
        if isinstance(expr, Length):
            if self.pixel_um is None:
                raise self.error(
                    f"`{expr.text}` is a length in micrometres, but the scene does not say how "
                    f"large a pixel is",
                    expr.span,
                    hint="add `pixel 0.5 um` (20x) to the header, or write the length in pixels",
                )
            if not abs(expr.value) <= MAX_NUMBER:
                raise self.error(f"the length {expr.text} is too large", expr.span)
            px = expr.value / self.pixel_um + 0.0
            return Value("number", px, expr.span, text=expr.text)
        if isinstance(expr, String):
            return Value("string", expr.value, expr.span, origin=module.folder)
        if isinstance(expr, Bool):
            return Value("boolean", expr.value, expr.span)
        if isinstance(expr, Ref):
            return self.resolve(expr, module)
        if isinstance(expr, ListExpr):
            items = tuple(self.eval(item, module) for item in expr.items)
            refs = tuple(r for item in items for r in item.refs)
            return Value("list", items, expr.span, refs=refs)
        if isinstance(expr, Call):
            return self.eval_call(expr, module)
        if isinstance(expr, Scoped):
            assert isinstance(expr.module, SourceFile)
            return self.eval(expr.expr, expr.module)
        raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover

    def type_error(self, value: Value, wanted: str) -> SynthlangError:
        """The error for a value of the wrong kind."""
        found = article(value.kind)
        if value.kind == "number" and value.text:
            found = f"the number {value.text}"
        if value.name:
            msg = f"`{value.name}` is {article(value.kind)}; {wanted} is expected here"
        else:
            msg = f"{wanted} is expected here, found {found}"
        return self.error(msg, value.span)

    @abstractmethod
    def eval_call(self, call: Call, module: SourceFile) -> Value:
        """Evaluate a building block (:class:`~synthlang.lang.bind.Binder`)."""
