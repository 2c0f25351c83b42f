"""Building blocks: binding written arguments to a block's signature and checking them.

A block's arguments are declared on its IR model (:mod:`synthlang.lang.blocks`);
:meth:`Binder.bind` matches the written ones (positional, then ``name value``),
one ``coerce_*`` method per parameter type checks each value, and the block's
model is built from them -- or, for the few blocks that need more than their
fields (a patch library to read, weights to normalise), by an adapter in
:mod:`synthlang.lang.adapters`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from synthlang import ir
from synthlang.common.channels import MAX_CHANNELS
from synthlang.common.errors import Span, SynthlangError
from synthlang.ir import fmt_number, support
from synthlang.lang.adapters import ADAPTERS
from synthlang.lang.blocks import ANCHOR_KINDS, PARAM_TYPES, SIGNATURES, Param, Signature, show
from synthlang.lang.context import BoundArg, CategoryRef, SourceFile, Value, article
from synthlang.lang.grammar import call_problem, did_you_mean, value_blocks
from synthlang.lang.names import Evaluator
from synthlang.lang.nodes import Arg, Call, Expr, Ident, Ref, Scoped

__all__ = ["Binder", "Coercer"]

Coercer = Callable[["Binder", Param, Value, str], BoundArg]
"""Checks one evaluated argument of a parameter type: ``(binder, param, value, what)``."""


class Binder(Evaluator):
    """Evaluates building blocks: binds, checks and builds their arguments."""

    def eval_call(self, call: Call, module: SourceFile) -> Value:
        """Evaluate a building block: bind its arguments, check them and build its IR."""
        if call.block not in SIGNATURES:
            return self.derived_call(call, module)
        sig = SIGNATURES[call.block]
        args = self.bind(call, sig, module)
        adapter = ADAPTERS.get(call.block)
        value = adapter(self, call, args) if adapter else self.build_block(sig, call, args)
        refs = tuple(r for a in args.values() for r in a.refs)
        return dataclasses.replace(value, refs=value.refs + refs)

    def derived_call(self, call: Call, module: SourceFile) -> Value:
        """``base(name value, ...)``: definition ``base`` with some of its arguments replaced.

        ``base`` must be defined (possibly in an imported library) as a building block,
        e.g. ``let nuclei = patch("cut_outs", rotate true)``; ``nuclei(scale 0.8)`` is then
        ``patch("cut_outs", rotate true, scale 0.8)``. The definition's own arguments are
        evaluated in its file, the new ones in the calling file.
        """
        name = call.block
        if name not in self.defs:
            problem = call_problem(name)
            assert problem is not None
            message, hint = problem
            guess = did_you_mean(name, [*value_blocks(), *self.visible_names(module)])
            if guess:
                hint = f"did you mean `{guess}`?"
            raise self.error(message + " or a definition", call.keyword, hint=hint)
        base_value = self.resolve(Ref(call.keyword, name), module)
        let, owner = self.defs[name]
        expr: Expr = let.value
        while isinstance(expr, Ref) and expr.name in self.defs:
            let, owner = self.defs[expr.name]
            expr = let.value
        if not isinstance(expr, Call):
            raise self.error(
                f"`{name}` is {article(base_value.kind)}, not a building block: only a name "
                f"defined as a block, e.g. `let nuclei = patch(...)`, can be called with new "
                f"arguments",
                call.keyword,
            )
        sig = SIGNATURES.get(expr.block)
        merged: dict[str, Arg] = {}
        for i, arg in enumerate(expr.args):
            if arg.name is None and sig is not None and i < len(sig.params):
                key = sig.params[i].name
                arg = Arg(arg.span, Ident(arg.span, key), arg.value)
            key = arg.name.name if arg.name is not None else f"#{i}"
            merged[key] = Arg(arg.span, arg.name, Scoped(arg.value.span, arg.value, owner))
        for arg in call.args:
            if arg.name is None:
                raise self.error(
                    f"`{name}(...)` takes named arguments only (they replace those of its "
                    f"definition)",
                    arg.span,
                    hint=f"for example `{name}(scale 0.8)`",
                )
            merged[arg.name.name] = arg
        derived = Call(call.span, expr.block, call.keyword, tuple(merged.values()))
        self.evaluating.append(name)
        try:
            if self.evaluating.count(name) > 1:
                chain = self.evaluating[self.evaluating.index(name) :]
                raise self.error(
                    f"`{name}` is defined in terms of itself: " + " -> ".join(chain), call.span
                )
            return dataclasses.replace(self.eval_call(derived, module), name=name)
        finally:
            self.evaluating.pop()

    def build_block(self, sig: Signature, call: Call, args: dict[str, BoundArg]) -> Value:
        """Build a block's IR model from its given arguments (omitted ones keep the default)."""
        assert sig.model is not None
        kw = {p.field: args[p.name].value for p in sig.params if args[p.name].given}
        return Value(sig.result, self.build(sig.model, call.span, **kw, **sig.fixed), call.span)

    def bind(self, call: Call, sig: Signature, module: SourceFile) -> dict[str, BoundArg]:
        """Match the written arguments of ``call`` to the parameters of ``sig``, checked."""
        given: dict[str, Arg] = {}
        position = 0
        named = False
        usage = f"usage: {sig.usage()}"
        for arg in call.args:
            if arg.name is None:
                if named:
                    raise self.error(
                        f"a positional argument cannot follow a named one in {sig.display}",
                        arg.span,
                        hint=f"write it as `name value`; {usage}",
                    )
                if position >= len(sig.params):
                    if not sig.params:
                        msg = f"{sig.display} takes no arguments"
                    else:
                        msg = (
                            f"{sig.display} takes at most {len(sig.params)} argument"
                            f"{'s' if len(sig.params) > 1 else ''}; this one is too many"
                        )
                    raise self.error(msg, arg.span, hint=usage)
                param = sig.params[position]
                position += 1
            else:
                named = True
                found = sig.param(arg.name.name)
                if found is None:
                    guess = did_you_mean(arg.name.name, [p.name for p in sig.params])
                    msg = f"{sig.display} has no argument '{arg.name.name}'"
                    if guess:
                        msg += f"; did you mean '{guess}'?"
                    raise self.error(msg, arg.name.span, hint=usage)
                param = found
            if param.name in given:
                first = given[param.name].span
                raise self.error(
                    f"argument '{param.name}' of {sig.display} is given twice "
                    f"(first at column {first.column})",
                    arg.span,
                )
            given[param.name] = arg
        for param in sig.params:
            if param.required and param.name not in given:
                raise self.error(
                    f"{sig.display} needs the argument '{param.name}'", call.keyword, hint=usage
                )
        bound: dict[str, BoundArg] = {}
        for param in sig.params:
            if param.name in given:
                bound[param.name] = self.coerce(param, given[param.name].value, module, sig)
            else:
                bound[param.name] = BoundArg(None, None)
        return bound

    def coerce(self, p: Param, expr: Expr, module: SourceFile, sig: Signature) -> BoundArg:
        """Evaluate and check one argument against its parameter."""
        what = f"`{p.name}` of {sig.display}"
        if p.type == "category":
            while isinstance(expr, Scoped):  # layer names are global
                expr = expr.expr
            if not isinstance(expr, Ref):
                raise self.type_error(self.eval(expr, module), PARAM_TYPES[p.type])
            role = f"{sig.display}({p.name} ...)" if p.name == "from" else f"{sig.display}(...)"
            lower = sig.result in ANCHOR_KINDS
            ref = CategoryRef(expr.name, expr.span, role, lower=lower)
            return BoundArg(expr.name, expr.span, (ref,))
        return _COERCERS[p.type](self, p, self.eval(expr, module), what)

    def coerce_number(self, p: Param, v: Value, what: str) -> BoundArg:
        """A number argument, range-checked."""
        x = self.number(v, PARAM_TYPES[p.type])
        self.check_range(p, x, v, what)
        return BoundArg(x, v.span, v.refs)

    def coerce_integer(self, p: Param, v: Value, what: str) -> BoundArg:
        """A whole-number argument, range-checked."""
        n = self.integer(v)
        self.check_int(p, n, v, what)
        return BoundArg(n, v.span)

    def coerce_distribution(self, p: Param, v: Value, what: str) -> BoundArg:
        """A number or distribution argument, checked over every value it can take."""
        d = self.distribution(v, PARAM_TYPES[p.type])
        self.check_dist(p, d, v, what)
        return BoundArg(d, v.span, v.refs)

    def coerce_distributions(self, p: Param, v: Value, what: str) -> BoundArg:
        """One distribution or a list of them (one per stain)."""
        members = v.data if v.kind == "list" else (v,)
        if not members:
            raise self.error(f"{what} needs at least one distribution", v.span)
        dists = []
        for item in members:
            d = self.distribution(item, "a number or a distribution")
            self.check_dist(p, d, item, what)
            dists.append((d, item.span))
        return BoundArg(tuple(dists), v.span)

    def coerce_semi_axes(self, p: Param, v: Value, what: str) -> BoundArg:
        """One distribution or a list of two (the semi-axes of an ellipse)."""
        wanted = PARAM_TYPES[p.type]
        if v.kind == "list":
            if not 1 <= len(v.data) <= 2:
                raise self.error(
                    f"{what} takes one distribution or a list of two, got {len(v.data)} items",
                    v.span,
                )
            items = [(self.distribution(item, wanted), item) for item in v.data]
        else:
            items = [(self.distribution(v, wanted), v)]
        for d, item in items:
            self.check_dist(p, d, item, what)
        return BoundArg((items[0][0], items[-1][0]), v.span)

    def coerce_kind(self, p: Param, v: Value, what: str) -> BoundArg:
        """Arguments that must be a value of one kind (boolean, speed field, colour)."""
        if v.kind != _KIND_OF[p.type]:
            raise self.type_error(v, PARAM_TYPES[p.type])
        return BoundArg(bool(v.data) if p.type == "boolean" else v.data, v.span)

    def coerce_path(self, p: Param, v: Value, what: str) -> BoundArg:
        """A folder path, with the folder of the file that wrote it."""
        if v.kind != "string":
            raise self.type_error(v, PARAM_TYPES[p.type])
        return BoundArg((v.data, v.origin), v.span)

    def coerce_numbers(self, p: Param, v: Value, what: str) -> BoundArg:
        """A list of numbers."""
        if v.kind != "list":
            raise self.type_error(v, PARAM_TYPES[p.type])
        nums = tuple((self.number(item, "a number"), item.span) for item in v.data)
        return BoundArg(nums, v.span)

    def coerce_vector(self, p: Param, v: Value, what: str) -> BoundArg:
        """A list of numbers, one per channel (a colour).

        The channel count is checked where the colour is used, against the scene's channels.
        """
        wanted = PARAM_TYPES[p.type]
        if v.kind != "list":
            raise self.type_error(v, wanted)
        if not 1 <= len(v.data) <= MAX_CHANNELS:
            raise self.error(
                f"{wanted} is expected here, got {len(v.data)} items (at most {MAX_CHANNELS})",
                v.span,
            )
        vec = [(self.number(item, "a number"), item.span) for item in v.data]
        if p.check == "unit":
            for x, span in vec:
                if not 0.0 <= x <= 1.0:
                    raise self.error(
                        f"colour components must be in [0, 1], got {fmt_number(x)}", span
                    )
        return BoundArg(tuple(x for x, _ in vec), v.span)

    def coerce_matrix(self, p: Param, v: Value, what: str) -> BoundArg:
        """A symmetric positive semi-definite square matrix (a covariance)."""
        wanted = PARAM_TYPES[p.type]
        if v.kind != "list":
            raise self.type_error(v, wanted)
        n = len(v.data)
        if not 1 <= n <= MAX_CHANNELS:
            raise self.error(f"{wanted} is expected here, got {n} rows", v.span)
        rows = self.vector(v, n, wanted, numbers=False)
        matrix = tuple(tuple(x for x, _ in self.vector(row, n, wanted)) for row, _ in rows)
        self.check_psd(matrix, v.span, what)
        return BoundArg(matrix, v.span)

    def number(self, v: Value, wanted: str = "a number") -> float:
        """The number a value holds (a constant distribution counts)."""
        if v.kind == "number":
            return float(v.data)
        if v.kind == "distribution" and isinstance(v.data, ir.Constant):
            return float(v.data.value)
        raise self.type_error(v, wanted)

    def integer(self, v: Value) -> int:
        """The whole number a value holds."""
        x = self.number(v, "a whole number")
        if not float(x).is_integer():
            raise self.error(f"a whole number is expected here, got {fmt_number(x)}", v.span)
        return int(x)

    def distribution(self, v: Value, wanted: str = "a number or a distribution") -> Any:
        """A value as a distribution (a number becomes a constant)."""
        if v.kind == "number":
            return ir.Constant(value=float(v.data))
        if v.kind == "distribution":
            return v.data
        if v.kind in ANCHOR_KINDS:
            raise _anchor_misplaced(self, v, wanted)
        raise self.type_error(v, wanted)

    def vector(self, v: Value, n: int, wanted: str, numbers: bool = True) -> list[tuple[Any, Span]]:
        """A list of ``n`` items, as (item, span) pairs."""
        if v.kind != "list":
            raise self.type_error(v, wanted)
        if len(v.data) != n:
            raise self.error(f"{wanted} is expected here, got {len(v.data)} items", v.span)
        if numbers:
            return [(self.number(item, "a number"), item.span) for item in v.data]
        return [(item, item.span) for item in v.data]

    def check_range(self, p: Param, x: float, v: Value, what: str) -> None:
        """Refuse a number outside its parameter's range or limit."""
        shown = f"`{v.name}` = {fmt_number(x)}" if v.name else fmt_number(x)
        if p.check == "positive" and not x > 0:
            raise self.error(f"{what} must be > 0, got {shown}", v.span)
        if p.check == "nonnegative" and not x >= 0:
            raise self.error(f"{what} must be >= 0, got {shown}", v.span)
        if p.check == "unit" and not 0 <= x <= 1:
            raise self.error(f"{what} must be in [0, 1], got {shown}", v.span)
        if p.minimum is not None and x < p.minimum or p.maximum is not None and x > p.maximum:
            raise self.error(
                f"{what} must be between {fmt_number(p.minimum or 0)} and "
                f"{fmt_number(p.maximum or 0)}, got {shown}",
                v.span,
            )
        self.check_limit(p, x, v, what)

    def check_int(self, p: Param, n: int, v: Value, what: str) -> None:
        """Refuse a whole number outside its parameter's bounds."""
        lo = -math.inf if p.minimum is None else p.minimum
        hi = math.inf if p.maximum is None else p.maximum
        if not lo <= n <= hi:
            if p.maximum is None:
                msg = f"{what} must be at least {int(lo)}, got {n}"
            else:
                msg = f"{what} must be between {int(lo)} and {int(hi)}, got {n}"
            raise self.error(msg, v.span)

    def check_limit(self, p: Param, hi: float, v: Value, what: str) -> None:
        """Refuse a value above the resource limit its parameter names."""
        if p.limit is None:
            return
        bound = getattr(self.limits, p.limit)
        if hi > bound:
            var = "SYNTHLANG_" + p.limit.upper()
            raise self.limit_error(
                f"{what} can be as large as {fmt_number(hi)}, more than the limit of "
                f"{fmt_number(bound)}",
                v.span,
                var,
            )

    def check_dist(self, p: Param, d: Any, v: Value, what: str) -> None:
        """Refuse a distribution that can take a value its parameter does not allow."""
        lo, hi = support(d)
        shown = f"`{v.name}` = {show(d)}" if v.name else show(d)
        unbounded = isinstance(d, ir.Normal) and d.std > 0
        if p.check == "positive" and not lo > 0:
            if unbounded:
                raise self.error(
                    f"{what} must be > 0, but {shown} can take any value",
                    v.span,
                    hint="use truncnormal(mean, std, low, high) with low > 0",
                )
            if isinstance(d, ir.Constant):
                raise self.error(f"{what} must be > 0, got {shown}", v.span)
            raise self.error(f"{what} must be > 0, but {shown} can be {fmt_number(lo)}", v.span)
        if p.check == "nonnegative" and not lo >= 0:
            if unbounded:
                raise self.error(
                    f"{what} must be >= 0, but {shown} can take any value",
                    v.span,
                    hint="use truncnormal(mean, std, low, high) with low >= 0",
                )
            if isinstance(d, ir.Constant):
                raise self.error(f"{what} must be >= 0, got {shown}", v.span)
            raise self.error(f"{what} must be >= 0, but {shown} can be {fmt_number(lo)}", v.span)
        if p.check == "unit" and not (lo >= 0 and hi <= 1):
            raise self.error(f"{what} must stay in [0, 1], but {shown} does not", v.span)
        if (p.minimum is not None and not lo >= p.minimum) or (
            p.maximum is not None and not hi <= p.maximum
        ):
            low = "-inf" if p.minimum is None else fmt_number(p.minimum)
            high = "inf" if p.maximum is None else fmt_number(p.maximum)
            if p.minimum is None and p.check in ("positive", "nonnegative"):
                low = "0"
            if unbounded:
                msg = f"{what} must stay in [{low}, {high}], but {shown} can take any value"
            elif isinstance(d, ir.Constant):
                msg = f"{what} must be in [{low}, {high}], got {shown}"
            else:
                msg = f"{what} must stay in [{low}, {high}], but {shown} does not"
            raise self.error(msg, v.span)
        if p.integer and not ir.whole_valued(d):
            raise self.error(
                f"{what} must be a whole number, but {shown} can take other values",
                v.span,
                hint="use a whole number or randint(low, high)",
            )
        self.check_limit(p, hi, v, what)

    def check_psd(self, m: tuple[tuple[float, ...], ...], span: Span, what: str) -> None:
        """Refuse a matrix that is not symmetric positive semi-definite."""
        a = np.asarray(m, dtype=np.float64)
        scale = max(1.0, float(np.abs(a).max()))
        for i in range(len(a)):
            for j in range(i + 1, len(a)):
                if abs(a[i, j] - a[j, i]) > 1e-9 * scale:
                    raise self.error(
                        f"{what} must be symmetric: row {i + 1}, column {j + 1} is "
                        f"{fmt_number(a[i, j])} but row {j + 1}, column {i + 1} is "
                        f"{fmt_number(a[j, i])}",
                        span,
                    )
        smallest = float(np.linalg.eigvalsh((a + a.T) / 2).min())
        if smallest < -1e-12:
            raise self.error(
                f"{what} must be positive semi-definite (a covariance), but its smallest "
                f"eigenvalue is {smallest:.3g}",
                span,
                hint="diagonal entries are variances (>= 0); off-diagonal ones cannot exceed "
                "what the variances allow",
            )


def _coerce_angle(binder: Binder, p: Param, v: Value, what: str) -> BoundArg:
    """An angle: a distribution, or ``along(C)`` / ``across(C)`` (drawn where placed)."""
    if v.kind == "orientation":
        return BoundArg(v.data, v.span, v.refs)
    if v.kind == "relative size":
        raise binder.error(
            f"{what} is an angle, but relative(...) is a size",
            v.span,
            hint="write the size as `scale relative(CATEGORY, f)`; angles relative to a "
            "layer are along(CATEGORY) or across(CATEGORY)",
        )
    return binder.coerce_distribution(p, v, what)


def _coerce_size(binder: Binder, p: Param, v: Value, what: str) -> BoundArg:
    """A size factor: a distribution, or ``relative(C, f)`` (drawn where placed)."""
    if v.kind == "relative size":
        return BoundArg(v.data, v.span, v.refs)
    if v.kind == "orientation":
        raise binder.error(
            f"{what} is a size, but {v.data.kind}(...) is an angle",
            v.span,
            hint=f"write it as `angle {v.data.kind}(CATEGORY)`; sizes relative to a layer are "
            "relative(CATEGORY, f)",
        )
    return binder.coerce_distribution(p, v, what)


def _anchor_misplaced(binder: Binder, v: Value, wanted: str) -> SynthlangError:
    """The error for ``along(...)`` / ``across(...)`` / ``relative(...)`` where a number goes."""
    return binder.error(
        f"{wanted} is expected here, found {v.data.kind}(...), which is drawn where an object "
        f"is placed",
        v.span,
        hint="along(...) and across(...) are the `angle`, relative(...) the `scale` of an "
        "ellipse or polygon",
    )


_KIND_OF = {"boolean": "boolean", "speed": "speed field", "colour": "colour"}

_COERCERS: dict[str, Coercer] = {
    "number": Binder.coerce_number,
    "integer": Binder.coerce_integer,
    "distribution": Binder.coerce_distribution,
    "distributions": Binder.coerce_distributions,
    "semi_axes": Binder.coerce_semi_axes,
    "angle": _coerce_angle,
    "size": _coerce_size,
    "boolean": Binder.coerce_kind,
    "speed": Binder.coerce_kind,
    "colour": Binder.coerce_kind,
    "path": Binder.coerce_path,
    "numbers": Binder.coerce_numbers,
    "vector": Binder.coerce_vector,
    "matrix": Binder.coerce_matrix,
}
"""How each parameter type of :data:`~synthlang.lang.blocks.PARAM_TYPES` is checked
(``category`` arguments are names, not values: :meth:`Binder.coerce`)."""
