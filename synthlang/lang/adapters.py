"""Blocks that need more than their declared fields to be built.

Most building blocks are built straight from their checked arguments
(:meth:`synthlang.lang.bind.Binder.build_block`). These few also read a patch
library (``patch``, ``patches``), normalise weights (``choice``), broadcast one
value to every stain (``stain he``/``stain hed``) or are another way of writing
a model (``rgb``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthlang import ir
from synthlang.common.limits import INDEX_BYTES_PER_PATCH
from synthlang.ir import fmt_number
from synthlang.lang.context import BoundArg, CompilerBase, Value
from synthlang.lang.loader import resolve_path
from synthlang.lang.nodes import Call
from synthlang.patchlib import IndexFileError, read_index_file

__all__ = ["ADAPTERS", "Adapter", "library"]

Adapter = Callable[[CompilerBase, Call, dict[str, BoundArg]], Value]
"""Builds a block's value from its checked arguments."""


def _given(args: dict[str, BoundArg], *names: str) -> dict[str, Any]:
    """The given arguments among ``names`` (absent ones keep the IR default)."""
    return {n: args[n].value for n in names if args[n].given}


def library(
    c: CompilerBase, arg: BoundArg, kind: str, block: str
) -> tuple[str, str, dict[str, Any]]:
    """Read a patch library's index.json (cached per folder and kind): folder, digest, index."""
    raw, origin = arg.value
    span = arg.span
    p = Path(raw)
    folder = resolve_path(p if p.is_absolute() else (origin or Path.cwd()) / p)
    cached = c.libraries.get((folder, kind))
    if cached is not None:
        return cached
    if not folder.is_dir():
        raise c.error(
            f'patch library "{raw}" not found: {folder} is not a folder',
            span,
            hint="library paths are relative to the scene file that names them",
        )
    max_bytes = INDEX_BYTES_PER_PATCH * c.limits.max_patches
    try:
        meta, digest = read_index_file(folder, max_bytes)
    except IndexFileError as e:
        if e.reason == "too_large":
            raise c.limit_error(
                f'index.json of patch library "{raw}" has {e.size} bytes, more than '
                f"{INDEX_BYTES_PER_PATCH} per allowed patch ({e.limit} bytes)",
                span,
                "SYNTHLANG_MAX_PATCHES",
            ) from None
        if e.reason == "invalid_json":
            raise c.error(
                f'index.json of patch library "{raw}" is not valid JSON: {e.detail}', span
            ) from None
        if e.reason == "not_object":
            raise c.error(
                f'index.json of patch library "{raw}" is not a JSON object', span
            ) from None
        raise c.error(
            f'patch library "{raw}" has no readable index.json ({e.detail})', span
        ) from None
    found = meta.get("kind")
    if found != kind:
        other = "patches" if kind == "nuclei" else "patch"
        raise c.error(
            f'{block}(...) needs a "{kind}" library, but "{raw}" has kind {json.dumps(found)}',
            span,
            hint=f'"nuclei" libraries are used by patch(...), "texture" libraries by '
            f"patches(...); did you mean {other}(...)?",
        )
    items = meta.get("items")
    if isinstance(items, list) and len(items) > c.limits.max_patches:
        raise c.limit_error(
            f'patch library "{raw}" has {len(items)} patches, more than the limit of '
            f"{c.limits.max_patches}",
            span,
            "SYNTHLANG_MAX_PATCHES",
        )
    result = (str(folder), digest, meta)
    c.libraries[(folder, kind)] = result
    return result


def _choice(c: CompilerBase, call: Call, a: dict[str, BoundArg]) -> Value:
    values = a["values"].value
    if not values:
        raise c.error("choice needs at least one value", a["values"].span)
    if a["weights"].given:
        weights = a["weights"].value
        if len(weights) != len(values):
            raise c.error(
                f"choice has {len(values)} value{'s' if len(values) != 1 else ''} but "
                f"{len(weights)} weight{'s' if len(weights) != 1 else ''}; "
                f"give one weight per value",
                a["weights"].span,
            )
        for w, span in weights:
            if w < 0:
                raise c.error(f"choice weights must be >= 0, got {fmt_number(w)}", span)
        total = sum(w for w, _ in weights)
        if total <= 0:
            raise c.error(
                "choice weights are all zero; at least one must be > 0", a["weights"].span
            )
        probs = tuple(w / total for w, _ in weights)
    else:
        probs = tuple(1.0 / len(values) for _ in values)
    d = ir.Choice(values=tuple(v for v, _ in values), weights=probs)
    return Value("distribution", d, call.span)


def _rgb(c: CompilerBase, call: Call, a: dict[str, BoundArg]) -> Value:
    mean = (a["r"].value, a["g"].value, a["b"].value)
    colour = c.build(ir.MVNColor, call.span, mean=mean)
    c.colour_spans[id(colour)] = (colour, call.span, "rgb(...)")
    return Value("colour", colour, call.span)


def _mvn(c: CompilerBase, call: Call, a: dict[str, BoundArg]) -> Value:
    """``mvn(mean, cov, between)``: the covariances have one row and column per mean value."""
    mean = a["mean"].value
    n = len(mean)
    for name in ("cov", "between"):
        arg = a[name]
        if arg.given and len(arg.value) != n:
            m = len(arg.value)
            raise c.error(
                f"`{name}` of mvn must be a {n}x{n} matrix, one row and column per value of "
                f"`mean` (it has {n}), got {m}x{m}",
                arg.span,
            )
    colour = c.build(ir.MVNColor, call.span, mean=mean, **_given(a, "cov", "between"))
    c.colour_spans[id(colour)] = (colour, a["mean"].span or call.span, "mvn mean")
    return Value("colour", colour, call.span)


def _patches(c: CompilerBase, call: Call, a: dict[str, BoundArg]) -> Value:
    folder, digest, meta = library(c, a["library"], "texture", "patches")
    available = meta.get("cohorts")
    if not isinstance(available, int) or isinstance(available, bool) or available < 1:
        raise c.error(
            f"index.json of texture library {a['library'].value[0]!r} needs a positive whole "
            f'"cohorts" count, got {json.dumps(available)}',
            a["library"].span,
        )
    kw = _given(a, "cohorts", "size", "overlap", "smooth")
    if a["cohorts"].given:
        if kw["cohorts"] > available:
            raise c.error(
                f"patches(cohorts {kw['cohorts']}) needs at least {kw['cohorts']} cohorts, but "
                f"the library has {available}",
                a["cohorts"].span,
            )
    else:
        kw["cohorts"] = min(3, available)
    size = kw.get("size", 8)
    overlap = kw.get("overlap", 2)
    if overlap >= size:
        where = a["overlap"].span or a["size"].span or call.keyword
        raise c.error(
            f"patch overlap ({overlap}) must be smaller than the patch size ({size})", where
        )
    texture = c.build(ir.PatchTexture, call.span, library=folder, digest=digest, **kw)
    return Value("texture", texture, call.span)


def _patch(c: CompilerBase, call: Call, a: dict[str, BoundArg]) -> Value:
    folder, digest, _ = library(c, a["library"], "nuclei", "patch")
    kw = _given(a, "scale", "rotate", "smooth")
    shape = c.build(ir.PatchShape, call.span, library=folder, digest=digest, **kw)
    return Value("shape", shape, call.span)


def _per_stain(
    c: CompilerBase, call: Call, a: BoundArg, name: str, n: int, default: float
) -> tuple:
    """One distribution per perturbed stain: a single one is used for every stain."""
    if not a.given:
        return (ir.Constant(value=default),) * n
    items = a.value
    if len(items) == 1:
        return (items[0][0],) * n
    if len(items) != n:
        stains = "H, E" if n == 2 else "H, E, DAB"
        raise c.error(
            f"`{name}` of {call.block.replace('_', ' ')} takes one distribution or a list of "
            f"{n} ({stains}), got {len(items)} items",
            a.span,
        )
    return tuple(d for d, _ in items)


def _stain(stains: str) -> Adapter:
    def build(c: CompilerBase, call: Call, a: dict[str, BoundArg]) -> Value:
        n = len(stains)
        kw: dict[str, Any] = {
            "stains": stains,
            "alpha": _per_stain(c, call, a["alpha"], "alpha", n, 1.0),
            "beta": _per_stain(c, call, a["beta"], "beta", n, 0.0),
        }
        kw.update(_given(a, "angle"))
        return Value("degradation", c.build(ir.StainJitter, call.span, **kw), call.span)

    return build


ADAPTERS: dict[str, Adapter] = {
    "choice": _choice,
    "rgb": _rgb,
    "mvn": _mvn,
    "patches": _patches,
    "patch": _patch,
    "stain_he": _stain("he"),
    "stain_hed": _stain("hed"),
}
"""The blocks built by an adapter rather than from their fields alone."""
