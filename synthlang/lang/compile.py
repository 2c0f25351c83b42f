"""Compile scene files to the Scene IR.

``compile_file`` / ``compile_string`` run the whole front end::

    text -> parse (Lark tree) -> lower (AST with spans) -> compile (ir.Scene)

The compile step reads imports, resolves ``let`` names, inlines every
definition, binds building-block arguments against
:data:`synthlang.lang.blocks.SIGNATURES`, allocates region selections, checks
every value and builds the frozen IR models of :mod:`synthlang.ir`. Each
mistake is reported as a :class:`~synthlang.common.errors.SceneSyntaxError` or
:class:`~synthlang.common.errors.SceneError` (a :class:`~synthlang.common.limits.SceneLimitError`
for resource limits) that points at the offending text.

Examples
--------
>>> scene = compile_string('''
... scene demo { size 64 x 64 }
... let cell = ellipse(semi_axes uniform(3, 6))
... layer background { fill color rgb(0.9, 0.8, 0.9) }
... layer cell { cell place count 10, overlap none color rgb(0.5, 0.2, 0.6) }
... ''')
>>> scene.size, scene.categories
((64, 64), ('background', 'cell'))
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from synthlang import ir
from synthlang.common.errors import SceneError, SceneSyntaxError, Span, SynthlangError
from synthlang.common.fileio import FileTooLargeError, NotARegularFileError, read_regular_file
from synthlang.common.limits import INDEX_BYTES_PER_PATCH, Limits, SceneLimitError
from synthlang.ir import support
from synthlang.ir.budget import RENDER_BYTES_HINT, estimate_render_bytes, render_bytes_message
from synthlang.lang.blocks import PARAM_TYPES, SIGNATURES, Param, Signature
from synthlang.lang.lower import (
    Arg,
    Bool,
    Call,
    ColorItem,
    Comparison,
    CondAnd,
    Condition,
    CondNot,
    CondOr,
    ContourItem,
    Degrade,
    Expr,
    Import,
    InItem,
    LayerDecl,
    Let,
    ListExpr,
    MaskDecl,
    ModifierItem,
    Module,
    NamedSelection,
    Number,
    PlaceAttempts,
    PlaceCount,
    PlaceFailures,
    PlaceFill,
    PlaceIn,
    PlaceInside,
    PlaceItem,
    PlaceOverlap,
    PlaceProbability,
    PlaceRandom,
    Ref,
    RegionsItem,
    RegionsSelection,
    SceneHeader,
    Selection,
    ShapeItem,
    SizeItem,
    String,
    lower,
)
from synthlang.lang.parse import did_you_mean, parse, reserved_words

__all__ = ["compile_file", "compile_string", "BUILDERS", "OVERLAP_MODES"]

OVERLAP_MODES = ("none", "moderate", "centers", "allowed")
"""The words allowed after ``overlap``."""

_MODERATE = Signature(
    "moderate",
    "overlap moderate",
    "overlap",
    (Param("fraction", "number", check="unit"),),
)
_DEFAULT_MODERATE = 0.2

MAX_NUMBER = 1e12
"""Largest magnitude of a number in a scene: far beyond any meaningful value, and small
enough that no sum, difference or float32 conversion of such numbers overflows."""

_PLACE_WORDS = ("count", "fill", "inside", "overlap", "probability", "attempts", "failures")
_LAYER_WORDS = ("shape", "place", "in", "color", "texture", "contour", "soft", "chromatin")
_STATEMENT_WORDS = {
    SceneHeader: "scene",
    Import: "import",
    Let: "let",
    LayerDecl: "layer",
    Degrade: "degrade",
    MaskDecl: "mask",
}


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class _CategoryRef:
    """A category named inside a value (``grown(from C)``, ``concentration(C, ...)``)."""

    name: str
    span: Span
    role: str


@dataclass(frozen=True)
class _Value:
    """An evaluated expression: its kind, payload and where it was written."""

    kind: str
    data: Any
    span: Span
    name: str | None = None
    refs: tuple[_CategoryRef, ...] = ()
    origin: Path | None = None
    text: str | None = None


@dataclass(frozen=True)
class _Arg:
    """A bound, checked argument (``span`` None when the default applies)."""

    value: Any
    span: Span | None
    refs: tuple[_CategoryRef, ...] = ()

    @property
    def given(self) -> bool:
        return self.span is not None


@dataclass
class _Module:
    """One loaded file."""

    key: Path | None
    display: str | None
    source: str
    ast: Module
    folder: Path
    imports: list[Path | None] = field(default_factory=list)


def _fmt(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


def _show(d: ir.IRModel | float) -> str:
    """Render a distribution as the user would write it."""
    if isinstance(d, (int, float)):
        return _fmt(float(d))
    if isinstance(d, ir.Constant):
        return _fmt(d.value)
    if isinstance(d, ir.Uniform):
        return f"uniform({_fmt(d.low)}, {_fmt(d.high)})"
    if isinstance(d, ir.RandInt):
        return f"randint({d.low}, {d.high})"
    if isinstance(d, ir.Normal):
        return f"normal({_fmt(d.mean)}, {_fmt(d.std)})"
    if isinstance(d, ir.TruncNormal):
        return f"truncnormal({_fmt(d.mean)}, {_fmt(d.std)}, {_fmt(d.low)}, {_fmt(d.high)})"
    if isinstance(d, ir.Choice):
        return "choice([" + ", ".join(_fmt(v) for v in d.values) + "])"
    return type(d).__name__  # pragma: no cover


def _article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _word_span(span: Span, word: str) -> Span:
    """The span of ``word`` written at the start of ``span``."""
    return Span(span.file, span.line, span.column, span.line, span.column + len(word))


# --------------------------------------------------------------------------- public API


def compile_file(path: str | os.PathLike[str], *, limits: Limits | None = None) -> ir.Scene:
    """Compile a ``.scene`` file to the Scene IR.

    Parameters
    ----------
    path : str or path-like
        The scene file. Imports are resolved relative to it.
    limits : Limits, optional
        Resource limits; from the environment (``SYNTHLANG_MAX_*``) when omitted.

    Returns
    -------
    ir.Scene
        The validated, fully inlined scene.

    Raises
    ------
    SceneSyntaxError
        If a file does not follow the grammar.
    SceneError
        If the scene is invalid (with ``file:line:col`` of the mistake), or
        the file cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> text = "scene s { size 8 x 8 } layer bg { fill color rgb(1, 1, 1) }"
    >>> _ = (folder / "s.scene").write_text(text)
    >>> compile_file(folder / "s.scene").name
    's'
    """
    p = Path(path)
    limits = limits or Limits.from_env()
    text = _read_text(p, None, None, limits)
    key = _resolve(p)
    return _Compiler(limits).run(text, display=str(path), key=key, folder=key.parent)


def compile_string(
    text: str,
    *,
    filename: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    limits: Limits | None = None,
) -> ir.Scene:
    """Compile scene text to the Scene IR.

    Parameters
    ----------
    text : str
        The scene source.
    filename : str, optional
        Name shown in error messages; also the default ``base_dir`` (its folder).
    base_dir : str or path-like, optional
        Folder that relative imports and library paths are resolved against
        (default: the folder of ``filename``, else the working directory).
    limits : Limits, optional
        Resource limits; from the environment when omitted.

    Returns
    -------
    ir.Scene
        The validated, fully inlined scene.

    Raises
    ------
    SceneSyntaxError, SceneError
        As :func:`compile_file`.

    Examples
    --------
    >>> compile_string("scene s { size 4 x 6 } layer bg { fill color rgb(0, 0, 0) }").size
    (4, 6)
    """
    if base_dir is not None:
        folder = _resolve(Path(base_dir))
    elif filename is not None:
        folder = _resolve(Path(filename)).parent
    else:
        folder = Path.cwd()
    key = _resolve(Path(filename)) if filename is not None else None
    return _Compiler(limits or Limits.from_env()).run(
        text, display=filename, key=key, folder=folder
    )


def _resolve(path: Path) -> Path:
    """``path.resolve()``, or the absolute path when it cannot be resolved (symlink loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return Path(os.path.abspath(path))


def _read_text(path: Path, span: Span | None, source: str | None, limits: Limits) -> str:
    """Read a scene file as UTF-8, reporting problems as SceneErrors.

    Only regular files are read (a named pipe or a device would block or never
    end), and at most ``limits.max_source_bytes`` bytes of them.
    """
    try:
        data = read_regular_file(path, max_bytes=limits.max_source_bytes)
    except NotARegularFileError as e:
        raise SceneError(
            f"cannot read `{path}`: it is {e.kind}, not a scene file", span, source=source
        ) from None
    except FileTooLargeError as e:
        raise SceneLimitError(
            f"cannot read `{path}`: it has {e.size} bytes, more than the limit of "
            f"{e.limit} for a scene file (SYNTHLANG_MAX_SOURCE_BYTES)",
            span,
            source=source,
            hint="raise the limit with the environment variable SYNTHLANG_MAX_SOURCE_BYTES",
        ) from None
    except IsADirectoryError:
        raise SceneError(f"cannot read `{path}`: it is a folder", span, source=source) from None
    except FileNotFoundError:
        raise SceneError(f"cannot read `{path}`: no such file", span, source=source) from None
    except OSError as e:
        raise SceneError(f"cannot read `{path}`: {e.strerror or e}", span, source=source) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SceneSyntaxError(
            "the file is not UTF-8 text",
            Span(str(path), line, col, line, col + 1),
            source="",
        ) from None


# --------------------------------------------------------------------------- the compiler


class _Compiler:
    """State of one compilation (nothing outlives it)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.modules: dict[Path | None, _Module] = {}
        self.order: list[_Module] = []
        self.sources: dict[str | None, str] = {}
        self.defs: dict[str, tuple[Let, _Module]] = {}
        self.memo: dict[str, _Value] = {}
        self.evaluating: list[str] = []
        self.reach: dict[Path | None, set[Path | None]] = {}
        self.depth = 0
        self.libraries: dict[tuple[Path, str], tuple[str, str, dict[str, Any]]] = {}
        self.layer_index: dict[str, int] = {}
        self.layer_spans: dict[str, Span] = {}
        self.shape_refs: dict[str, _CategoryRef] = {}
        self.region_total: int | None = None
        self.region_span: Span | None = None
        self.size_span: Span | None = None
        self.cursor = 0
        self.taken: list[tuple[str, Span]] = []
        self.selection_defs: dict[str, RegionsSelection] = {}
        self.selections: dict[str, ir.RegionSelection] = {}
        self.keywords = reserved_words()

    # -- errors
    def error(
        self,
        message: str,
        span: Span | None,
        *,
        hint: str | None = None,
        cls: type[SynthlangError] = SceneError,
    ) -> SynthlangError:
        source = self.sources.get(span.file) if span is not None else None
        return cls(message, span, source=source, hint=hint)

    def limit_error(self, message: str, span: Span | None, var: str) -> SynthlangError:
        return self.error(
            message,
            span,
            hint=f"raise the limit with the environment variable {var}",
            cls=SceneLimitError,
        )

    def build(self, cls: Callable[..., Any], at: Span, /, **kwargs: Any) -> Any:
        """Construct an IR model; a validation failure becomes a SceneError at ``at``."""
        try:
            return cls(**kwargs)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ()))
            msg = first.get("msg", "invalid value")
            raise self.error(f"invalid {where or 'value'}: {msg}", at) from None

    # -- loading
    def run(self, text: str, *, display: str | None, key: Path | None, folder: Path) -> ir.Scene:
        main = self.load(text, display=display, key=key, folder=folder, chain=[])
        self.compute_reach()
        self.register_definitions()
        return self.compile_scene(main)

    def load(
        self,
        text: str,
        *,
        display: str | None,
        key: Path | None,
        folder: Path,
        chain: list[tuple[str, Path | None]],
    ) -> _Module:
        self.sources[display] = text
        tree = parse(text, display, limits=self.limits)
        ast = lower(tree, display, text)
        module = _Module(key, display, text, ast, folder)
        self.modules[key] = module
        self.order.append(module)
        here = [*chain, (display or "<string>", key)]
        for stmt in ast.statements:
            if isinstance(stmt, Import):
                module.imports.append(self.load_import(stmt, module, here))
        return module

    def load_import(
        self, stmt: Import, importer: _Module, chain: list[tuple[str, Path | None]]
    ) -> Path:
        raw = stmt.path.value
        span = stmt.path.span
        if not raw.endswith(".scene"):
            raise self.error(f'cannot import "{raw}": only `.scene` files can be imported', span)
        target = Path(raw)
        resolved = _resolve(target if target.is_absolute() else importer.folder / target)
        for i, (_, key) in enumerate(chain):
            if key is not None and key == resolved:
                names = [name for name, _ in chain[i:]] + [self.display_for(raw, importer)]
                raise self.error("import cycle: " + " -> ".join(names), span)
        if len(chain) > self.limits.max_import_depth:
            names = [name for name, _ in chain] + [self.display_for(raw, importer)]
            if len(names) > 8:
                names = [*names[:3], f"... {len(names) - 6} more ...", *names[-3:]]
            raise self.limit_error(
                f"imports nest deeper than {self.limits.max_import_depth} files: "
                + " -> ".join(names),
                span,
                "SYNTHLANG_MAX_IMPORT_DEPTH",
            )
        if resolved in self.modules:
            return resolved
        if not resolved.exists() and not resolved.is_symlink():
            raise self.error(
                f'cannot import "{raw}": no such file', span, hint=f"looked for {resolved}"
            )
        if resolved.is_dir():
            raise self.error(f'cannot import "{raw}": it is a folder', span)
        text = _read_text(resolved, span, self.sources.get(span.file), self.limits)
        display = self.display_for(raw, importer)
        child = self.load(text, display=display, key=resolved, folder=resolved.parent, chain=chain)
        for st in child.ast.statements:
            if not isinstance(st, (Import, Let)):
                word = _STATEMENT_WORDS[type(st)]
                where = f"{span.location()}"
                raise self.error(
                    f"an imported file may only contain `import` and `let`; found `{word}`",
                    _word_span(st.span, word),
                    hint=f"this file is imported at {where}; move the `{word}` to the main scene",
                )
        return resolved

    def display_for(self, raw: str, importer: _Module) -> str:
        if Path(raw).is_absolute():
            return os.path.normpath(raw)
        if importer.display is None:
            return str(_resolve(importer.folder / raw))
        return os.path.normpath(os.path.join(os.path.dirname(importer.display), raw))

    def compute_reach(self) -> None:
        """For each file, the files whose definitions it can see (itself and its imports)."""
        for key in self.modules:
            seen: set[Path | None] = {key}
            todo = [key]
            while todo:
                k = todo.pop()
                for child in self.modules[k].imports:
                    if child not in seen:
                        seen.add(child)
                        todo.append(child)
            self.reach[key] = seen

    def register_definitions(self) -> None:
        # imported files first, so a clash points into the file that imports the other
        for module in reversed(self.order):
            for stmt in module.ast.statements:
                if not isinstance(stmt, Let):
                    continue
                name = stmt.name.name
                self.check_name(stmt.name.name, stmt.name.span, "a definition")
                if name in self.defs:
                    first = self.defs[name][0].name.span
                    raise self.error(
                        f"`{name}` is defined twice: here and at {first.location()}",
                        stmt.name.span,
                        hint="rename one of them",
                    )
                self.defs[name] = (stmt, module)

    def check_name(self, name: str, span: Span, what: str) -> None:
        if name in self.keywords:
            raise self.error(
                f"`{name}` is a reserved word and cannot name {what}",
                span,
                hint="choose another name, e.g. `" + name + "_1`",
            )

    # -- names and values
    def visible_names(self, module: _Module) -> list[str]:
        reach = self.reach.get(module.key, {module.key})
        return [n for n, (_, m) in self.defs.items() if m.key in reach]

    def resolve(self, ref: Ref, module: _Module, extra: Iterable[str] = ()) -> _Value:
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

    def definition(self, name: str, use: Span | None) -> _Value:
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

    def eval(self, expr: Expr, module: _Module) -> _Value:
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

    def _eval(self, expr: Expr, module: _Module) -> _Value:
        if isinstance(expr, Number):
            if not abs(expr.value) <= MAX_NUMBER:
                raise self.error(
                    f"the number {expr.text} is too large: numbers in a scene are at most "
                    f"{MAX_NUMBER:g} in magnitude",
                    expr.span,
                )
            # -0 is 0 (a range like uniform(0, -0) must not have low > high bitwise)
            return _Value("number", expr.value + 0.0, expr.span, text=expr.text)
        if isinstance(expr, String):
            return _Value("string", expr.value, expr.span, origin=module.folder)
        if isinstance(expr, Bool):
            return _Value("boolean", expr.value, expr.span)
        if isinstance(expr, Ref):
            return self.resolve(expr, module)
        if isinstance(expr, ListExpr):
            items = tuple(self.eval(item, module) for item in expr.items)
            refs = tuple(r for item in items for r in item.refs)
            return _Value("list", items, expr.span, refs=refs)
        if isinstance(expr, Call):
            return self.eval_call(expr, module)
        raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover

    def eval_call(self, call: Call, module: _Module) -> _Value:
        sig = SIGNATURES[call.block]
        args = self.bind(call, sig, module)
        value = BUILDERS[call.block](self, call, args)
        refs = tuple(r for a in args.values() for r in a.refs)
        return dataclasses.replace(value, refs=value.refs + refs)

    def type_error(self, value: _Value, wanted: str) -> SynthlangError:
        found = _article(value.kind)
        if value.kind == "number" and value.text:
            found = f"the number {value.text}"
        if value.name:
            msg = f"`{value.name}` is {_article(value.kind)}; {wanted} is expected here"
        else:
            msg = f"{wanted} is expected here, found {found}"
        return self.error(msg, value.span)

    # -- arguments
    def bind(self, call: Call, sig: Signature, module: _Module) -> dict[str, _Arg]:
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
        bound: dict[str, _Arg] = {}
        for param in sig.params:
            if param.name in given:
                bound[param.name] = self.coerce(param, given[param.name].value, module, sig)
            else:
                bound[param.name] = _Arg(None, None)
        return bound

    def coerce(self, p: Param, expr: Expr, module: _Module, sig: Signature) -> _Arg:
        what = f"`{p.name}` of {sig.display}"
        wanted = PARAM_TYPES[p.type]
        if p.type == "category":
            if not isinstance(expr, Ref):
                value = self.eval(expr, module)
                raise self.type_error(value, wanted)
            role = f"{sig.display}({p.name} ...)" if p.name == "from" else f"{sig.display}(...)"
            return _Arg(expr.name, expr.span, (_CategoryRef(expr.name, expr.span, role),))
        v = self.eval(expr, module)
        if p.type == "number":
            x = self.number(v, wanted)
            self.check_range(p, x, v, what)
            return _Arg(x, v.span, v.refs)
        if p.type == "integer":
            n = self.integer(v)
            self.check_int(p, n, v, what)
            return _Arg(n, v.span)
        if p.type == "distribution":
            d = self.distribution(v, wanted)
            self.check_dist(p, d, v, what)
            return _Arg(d, v.span, v.refs)
        if p.type == "distributions":
            members = v.data if v.kind == "list" else (v,)
            if not members:
                raise self.error(f"{what} needs at least one distribution", v.span)
            dists = []
            for item in members:
                d = self.distribution(item, "a number or a distribution")
                self.check_dist(p, d, item, what)
                dists.append((d, item.span))
            return _Arg(tuple(dists), v.span)
        if p.type == "semi_axes":
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
            pair = (items[0][0], items[-1][0])
            return _Arg(pair, v.span)
        if p.type == "boolean":
            if v.kind != "boolean":
                raise self.type_error(v, wanted)
            return _Arg(bool(v.data), v.span)
        if p.type == "path":
            if v.kind != "string":
                raise self.type_error(v, wanted)
            return _Arg((v.data, v.origin), v.span)
        if p.type == "speed":
            if v.kind != "speed field":
                raise self.type_error(v, wanted)
            return _Arg(v.data, v.span)
        if p.type == "colour":
            if v.kind != "colour":
                raise self.type_error(v, wanted)
            return _Arg(v.data, v.span)
        if p.type == "numbers":
            if v.kind != "list":
                raise self.type_error(v, wanted)
            nums = tuple((self.number(item, "a number"), item.span) for item in v.data)
            return _Arg(nums, v.span)
        if p.type == "vector3":
            vec = self.vector(v, 3, wanted)
            if p.check == "unit":
                for x, span in vec:
                    if not 0.0 <= x <= 1.0:
                        raise self.error(
                            f"colour components must be in [0, 1], got {_fmt(x)}", span
                        )
            return _Arg(tuple(x for x, _ in vec), v.span)
        if p.type == "matrix3":
            rows = self.vector(v, 3, wanted, numbers=False)
            matrix = tuple(tuple(x for x, _ in self.vector(row, 3, wanted)) for row, _ in rows)
            self.check_psd(matrix, v.span, what)
            return _Arg(matrix, v.span)
        raise AssertionError(f"unknown parameter type {p.type}")  # pragma: no cover

    def number(self, v: _Value, wanted: str = "a number") -> float:
        if v.kind == "number":
            return float(v.data)
        if v.kind == "distribution" and isinstance(v.data, ir.Constant):
            return float(v.data.value)
        raise self.type_error(v, wanted)

    def integer(self, v: _Value) -> int:
        x = self.number(v, "a whole number")
        if not float(x).is_integer():
            raise self.error(f"a whole number is expected here, got {_fmt(x)}", v.span)
        return int(x)

    def distribution(self, v: _Value, wanted: str = "a number or a distribution") -> Any:
        if v.kind == "number":
            return ir.Constant(value=float(v.data))
        if v.kind == "distribution":
            return v.data
        raise self.type_error(v, wanted)

    def vector(
        self, v: _Value, n: int, wanted: str, numbers: bool = True
    ) -> list[tuple[Any, Span]]:
        if v.kind != "list":
            raise self.type_error(v, wanted)
        if len(v.data) != n:
            raise self.error(f"{wanted} is expected here, got {len(v.data)} items", v.span)
        if numbers:
            return [(self.number(item, "a number"), item.span) for item in v.data]
        return [(item, item.span) for item in v.data]

    def check_range(self, p: Param, x: float, v: _Value, what: str) -> None:
        shown = f"`{v.name}` = {_fmt(x)}" if v.name else _fmt(x)
        if p.check == "positive" and not x > 0:
            raise self.error(f"{what} must be > 0, got {shown}", v.span)
        if p.check == "nonnegative" and not x >= 0:
            raise self.error(f"{what} must be >= 0, got {shown}", v.span)
        if p.check == "unit" and not 0 <= x <= 1:
            raise self.error(f"{what} must be in [0, 1], got {shown}", v.span)
        if p.minimum is not None and x < p.minimum or p.maximum is not None and x > p.maximum:
            raise self.error(
                f"{what} must be between {_fmt(p.minimum or 0)} and {_fmt(p.maximum or 0)}, "
                f"got {shown}",
                v.span,
            )
        self.check_limit(p, x, v, what)

    def check_int(self, p: Param, n: int, v: _Value, what: str) -> None:
        lo = -math.inf if p.minimum is None else p.minimum
        hi = math.inf if p.maximum is None else p.maximum
        if not lo <= n <= hi:
            if p.maximum is None:
                msg = f"{what} must be at least {int(lo)}, got {n}"
            else:
                msg = f"{what} must be between {int(lo)} and {int(hi)}, got {n}"
            raise self.error(msg, v.span)

    def check_limit(self, p: Param, hi: float, v: _Value, what: str) -> None:
        if p.limit is None:
            return
        bound = getattr(self.limits, p.limit)
        if hi > bound:
            var = "SYNTHLANG_" + p.limit.upper()
            raise self.limit_error(
                f"{what} can be as large as {_fmt(hi)}, more than the limit of {_fmt(bound)}",
                v.span,
                var,
            )

    def check_dist(self, p: Param, d: Any, v: _Value, what: str) -> None:
        lo, hi = support(d)
        shown = f"`{v.name}` = {_show(d)}" if v.name else _show(d)
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
            raise self.error(f"{what} must be > 0, but {shown} can be {_fmt(lo)}", v.span)
        if p.check == "nonnegative" and not lo >= 0:
            if unbounded:
                raise self.error(
                    f"{what} must be >= 0, but {shown} can take any value",
                    v.span,
                    hint="use truncnormal(mean, std, low, high) with low >= 0",
                )
            if isinstance(d, ir.Constant):
                raise self.error(f"{what} must be >= 0, got {shown}", v.span)
            raise self.error(f"{what} must be >= 0, but {shown} can be {_fmt(lo)}", v.span)
        if p.check == "unit" and not (lo >= 0 and hi <= 1):
            raise self.error(f"{what} must stay in [0, 1], but {shown} does not", v.span)
        if (p.minimum is not None and not lo >= p.minimum) or (
            p.maximum is not None and not hi <= p.maximum
        ):
            low = "-inf" if p.minimum is None else _fmt(p.minimum)
            high = "inf" if p.maximum is None else _fmt(p.maximum)
            if p.minimum is None and p.check in ("positive", "nonnegative"):
                low = "0"
            if unbounded:
                msg = f"{what} must stay in [{low}, {high}], but {shown} can take any value"
            elif isinstance(d, ir.Constant):
                msg = f"{what} must be in [{low}, {high}], got {shown}"
            else:
                msg = f"{what} must stay in [{low}, {high}], but {shown} does not"
            raise self.error(msg, v.span)
        self.check_limit(p, hi, v, what)

    def check_psd(self, m: tuple[tuple[float, ...], ...], span: Span, what: str) -> None:
        a = np.asarray(m, dtype=np.float64)
        scale = max(1.0, float(np.abs(a).max()))
        for i in range(3):
            for j in range(i + 1, 3):
                if abs(a[i, j] - a[j, i]) > 1e-9 * scale:
                    raise self.error(
                        f"{what} must be symmetric: row {i + 1}, column {j + 1} is "
                        f"{_fmt(a[i, j])} but row {j + 1}, column {i + 1} is {_fmt(a[j, i])}",
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

    # -- libraries
    def library(self, arg: _Arg, kind: str, block: str) -> tuple[str, str, dict[str, Any]]:
        raw, origin = arg.value
        span = arg.span
        p = Path(raw)
        folder = _resolve(p if p.is_absolute() else (origin or Path.cwd()) / p)
        cached = self.libraries.get((folder, kind))
        if cached is not None:
            return cached
        if not folder.is_dir():
            raise self.error(
                f'patch library "{raw}" not found: {folder} is not a folder',
                span,
                hint="library paths are relative to the scene file that names them",
            )
        index = folder / "index.json"
        max_bytes = INDEX_BYTES_PER_PATCH * self.limits.max_patches
        try:
            data = read_regular_file(index, max_bytes=max_bytes)
        except FileTooLargeError as e:
            raise self.limit_error(
                f'index.json of patch library "{raw}" has {e.size} bytes, more than '
                f"{INDEX_BYTES_PER_PATCH} per allowed patch ({e.limit} bytes)",
                span,
                "SYNTHLANG_MAX_PATCHES",
            ) from None
        except OSError as e:
            raise self.error(
                f'patch library "{raw}" has no readable index.json ({e.strerror or e})', span
            ) from None
        try:
            meta = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise self.error(
                f'index.json of patch library "{raw}" is not valid JSON: {e}', span
            ) from None
        if not isinstance(meta, dict):
            raise self.error(f'index.json of patch library "{raw}" is not a JSON object', span)
        found = meta.get("kind")
        if found != kind:
            other = "patches" if kind == "nuclei" else "patch"
            raise self.error(
                f'{block}(...) needs a "{kind}" library, but "{raw}" has kind {json.dumps(found)}',
                span,
                hint=f'"nuclei" libraries are used by patch(...), "texture" libraries by '
                f"patches(...); did you mean {other}(...)?",
            )
        items = meta.get("items")
        if isinstance(items, list) and len(items) > self.limits.max_patches:
            raise self.limit_error(
                f'patch library "{raw}" has {len(items)} patches, more than the limit of '
                f"{self.limits.max_patches}",
                span,
                "SYNTHLANG_MAX_PATCHES",
            )
        result = (str(folder), hashlib.sha256(data).hexdigest(), meta)
        self.libraries[(folder, kind)] = result
        return result

    # -- categories
    def check_category(
        self, ref: _CategoryRef, *, below: int | None = None, allow_self: bool = False
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

    # -- the scene
    def compile_scene(self, main: _Module) -> ir.Scene:
        headers = [s for s in main.ast.statements if isinstance(s, SceneHeader)]
        layers = [s for s in main.ast.statements if isinstance(s, LayerDecl)]
        degrades = [s for s in main.ast.statements if isinstance(s, Degrade)]
        masks = [s for s in main.ast.statements if isinstance(s, MaskDecl)]
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
                _word_span(headers[1].span, "scene"),
            )
        header = headers[0]
        size, regions = self.header(header, main)
        if len(degrades) > 1:
            raise self.error(
                f"`degrade` is given twice (first at {degrades[0].span.location()}); put all "
                f"passes in one block, they apply in order",
                _word_span(degrades[1].span, "degrade"),
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
            scales = [call for call in degrades[0].passes if call.block == "scale"]
            if len(scales) > 1:
                raise self.error(
                    f"`scale` is given twice in `degrade` (first at {scales[0].span.location()}); "
                    f"a sample is zoomed once",
                    scales[1].keyword,
                )
        rules = tuple(self.mask(m, main) for m in masks)
        sources = [str(m.key) for m in self.order if m.key is not None]
        scene = self.build(
            ir.Scene,
            header.name.span,
            name=header.name.name,
            size=size,
            regions=regions,
            layers=ir_layers,
            degrade=passes,
            masks=rules,
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

    def header(self, header: SceneHeader, module: _Module) -> tuple[tuple[int, int], Any]:
        sizes = [i for i in header.items if isinstance(i, SizeItem)]
        regions = [i for i in header.items if isinstance(i, RegionsItem)]
        for items, word in ((sizes, "size"), (regions, "regions")):
            if len(items) > 1:
                raise self.error(
                    f"`{word}` is given twice in the header (first at line {items[0].span.line})",
                    _word_span(items[1].span, word),
                )
        if not sizes:
            raise self.error(
                "the header needs the image size: `size ROWS x COLS`", header.name.span
            )
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

    # -- region selections
    def collect_selection_names(self, layers: list[LayerDecl]) -> None:
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

    def selection(self, sel: Selection, invert: bool, module: _Module) -> ir.RegionSelection:
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

    def allocate(self, sel: RegionsSelection, module: _Module) -> ir.RegionSelection:
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

    # -- layers
    def layer(self, decl: LayerDecl, index: int, module: _Module) -> ir.Layer:
        name = decl.name.name
        slots: dict[str, Any] = {}
        starts: dict[str, Span] = {}
        previous: Any = None
        for item in decl.items:
            if isinstance(item, ShapeItem):
                slot, word = "shape", "a shape"
                start = item.value.span if not item.explicit else _word_span(item.span, "shape")
                ref = item.value
                if isinstance(ref, Ref) and ref.name not in self.defs:
                    if isinstance(previous, PlaceItem) and ref.name in _PLACE_WORDS:
                        raise self.error(
                            f"missing comma before `{ref.name}`: separate place clauses "
                            f"with commas",
                            ref.span,
                            hint=f"for example `place count 30, {ref.name} ...`",
                        )
                    self.resolve(ref, module, extra=(*_LAYER_WORDS, "fill"))
            elif isinstance(item, PlaceItem):
                slot, word, start = "place", "`place`", item.keyword
            elif isinstance(item, InItem):
                slot, word = "in", "`in`"
                start = item.span
            elif isinstance(item, ColorItem):
                slot, word = "color", f"`{item.keyword}`"
                start = _word_span(item.span, item.keyword)
            elif isinstance(item, ModifierItem):
                slot = item.call.block
                word, start = f"`{slot}`", item.call.keyword
            else:
                assert isinstance(item, ContourItem)
                slot, word, start = "contour", "`contour`", item.call.keyword
            if slot in slots:
                first = starts[slot]
                if slot == "shape":
                    msg = (
                        f"layer `{name}` has two shapes (the first at {first.line}:{first.column})"
                    )
                    hint = "a layer is one category with one shape; use another layer"
                elif slot == "color" and slots[slot].keyword != getattr(item, "keyword", None):
                    msg = (
                        f"layer `{name}` has both `color` and `texture` (the first at "
                        f"{first.line}:{first.column}); give one of them"
                    )
                    hint = None
                else:
                    msg = (
                        f"{word} is given twice in layer `{name}` "
                        f"(the first at {first.line}:{first.column})"
                    )
                    hint = (
                        "merge the clauses: `place count 30, overlap none`"
                        if slot == "place"
                        else None
                    )
                raise self.error(msg, start, hint=hint)
            slots[slot] = item
            starts[slot] = start
            previous = item

        shape_item: ShapeItem | None = slots.get("shape")
        if shape_item is None:
            raise self.error(
                f"layer `{name}` has no shape: add one of ellipse(...), patch(...), grown(...), "
                f"ribbon(...) or fill",
                decl.name.span,
            )
        sv = self.eval_shape(shape_item, module)
        shape = sv.data
        for category in sv.refs:
            # a grown shape may start from an upper layer (cells under their nuclei);
            # cycles are checked once all layers are known
            self.check_category(category)
            if self.layer_index[category.name] == index:
                raise self.error(
                    f"{category.role} must name another layer, not the layer itself",
                    category.span,
                )
            self.shape_refs.setdefault(name, category)
        is_object = shape.kind in ir.OBJECT_SHAPES

        place_item: PlaceItem | None = slots.get("place")
        in_item: InItem | None = slots.get("in")
        placement = None
        regions = None
        if is_object:
            if place_item is None:
                raise self.error(
                    f"layer `{name}` places {shape.kind} objects but has no `place`",
                    decl.name.span,
                    hint="add `place count N`, `place fill` or `place inside CATEGORY`",
                )
            placement = self.placement(place_item, index, module)
            if in_item is not None:
                if placement.regions is not None:
                    raise self.error(
                        f"layer `{name}` restricts its regions twice: here and in `place`",
                        in_item.span,
                    )
                placement = placement.model_copy(
                    update={"regions": self.selection(in_item.selection, in_item.invert, module)}
                )
        else:
            if place_item is not None:
                raise self.error(
                    f"`place` is for object shapes (ellipse, patch); a {shape.kind} layer covers "
                    f"an area",
                    place_item.keyword,
                    hint="restrict an area shape to regions with `in regions(k of n)`",
                )
            if in_item is not None:
                regions = self.selection(in_item.selection, in_item.invert, module)
            if shape.kind == "ribbon" and self.region_total is None:
                raise self.error(
                    "ribbon(...) follows region boundaries, but the scene has no regions",
                    sv.span,
                    hint="add `regions voronoi(N)` or `regions fast_marching(N)` to the header",
                )

        color_item: ColorItem | None = slots.get("color")
        color = None
        if shape.kind == "patch":
            if color_item is not None:
                raise self.error(
                    f"a patch layer takes its colours from the patch library; remove "
                    f"`{color_item.keyword}`",
                    _word_span(color_item.span, color_item.keyword),
                )
        else:
            if color_item is None:
                raise self.error(
                    f"layer `{name}` has no colour: add `color rgb(...)`, `color mvn(...)` or "
                    f"`texture patches(...)`",
                    decl.name.span,
                )
            cv = self.eval(color_item.value, module)
            if cv.kind not in ("colour", "texture"):
                raise self.type_error(cv, "a colour or texture")
            color = cv.data

        contour = None
        contour_item: ContourItem | None = slots.get("contour")
        if contour_item is not None:
            contour = self.eval(contour_item.call, module).data

        soft = None
        soft_item: ModifierItem | None = slots.get("soft")
        if soft_item is not None:
            if not is_object:
                raise self.error(
                    f"`soft` edges are for object shapes (ellipse, patch); a {shape.kind} "
                    f"layer covers an area",
                    soft_item.call.keyword,
                    hint="area objects tile the image: give the objects placed on them soft edges",
                )
            soft = self.eval(soft_item.call, module).data
        chromatin = None
        chromatin_item: ModifierItem | None = slots.get("chromatin")
        if chromatin_item is not None:
            chromatin = self.eval(chromatin_item.call, module).data

        return self.build(
            ir.Layer,
            decl.name.span,
            index=index,
            name=name,
            shape=shape,
            placement=placement,
            regions=regions,
            color=color,
            contour=contour,
            soft=soft,
            chromatin=chromatin,
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

    def eval_shape(self, item: ShapeItem, module: _Module) -> _Value:
        v = self.eval(item.value, module)
        if v.kind != "shape":
            raise self.type_error(v, "a shape (ellipse, patch, grown, ribbon or fill)")
        return v

    def placement(self, item: PlaceItem, index: int, module: _Module) -> ir.Placement:
        seen: dict[str, Any] = {}
        words = {
            PlaceCount: "count",
            PlaceFill: "fill",
            PlaceInside: "inside",
            PlaceIn: "in",
            PlaceOverlap: "overlap",
            PlaceProbability: "probability",
            PlaceAttempts: "attempts",
            PlaceFailures: "failures",
        }
        modes: list[Any] = []
        for clause in item.clauses:
            if isinstance(clause, PlaceRandom):
                continue
            word = words[type(clause)]
            if word in seen:
                raise self.error(
                    f"`{word}` is given twice in `place` (the first at column "
                    f"{seen[word].span.column})",
                    clause.span,
                )
            seen[word] = clause
            if word in ("count", "fill", "inside"):
                if modes:
                    raise self.error(
                        f"`{word}` cannot be combined with `{words[type(modes[0])]}`: a layer "
                        f"places a count of objects, fills its area, or puts one object inside "
                        f"each object of another layer",
                        _word_span(clause.span, word),
                    )
                modes.append(clause)
        if not modes:
            raise self.error(
                "`place` needs one of `count N`, `fill` or `inside CATEGORY`", item.keyword
            )
        kw: dict[str, Any] = {}
        mode = modes[0]
        if isinstance(mode, PlaceCount):
            kw["mode"] = "count"
            kw["count"] = self.count(mode, module)
        elif isinstance(mode, PlaceFill):
            kw["mode"] = "fill"
        else:
            kw["mode"] = "inside"
            ref = _CategoryRef(mode.host.name, mode.host.span, "`inside`")
            self.check_category(ref, below=index)
            kw["inside"] = mode.host.name
        if "in" in seen:
            clause = seen["in"]
            kw["regions"] = self.selection(clause.selection, clause.invert, module)
        if "overlap" in seen:
            kw["overlap"] = self.overlap(seen["overlap"], index, module)
        if "probability" in seen:
            v = self.eval(seen["probability"].value, module)
            p = self.number(v)
            if not 0 <= p <= 1:
                raise self.error(f"probability must be in [0, 1], got {_fmt(p)}", v.span)
            kw["probability"] = p
        for word, top in (("attempts", 10_000_000), ("failures", 1_000_000)):
            if word in seen:
                v = self.eval(seen[word].value, module)
                n = self.integer(v)
                if not 1 <= n <= top:
                    raise self.error(f"`{word}` must be between 1 and {top}, got {n}", v.span)
                kw["max_" + word] = n
        return self.build(ir.Placement, item.keyword, **kw)

    def count(self, clause: PlaceCount, module: _Module) -> Any:
        v = self.eval(clause.value, module)
        d = self.distribution(v, "a count (a number or a distribution)")
        lo, hi = support(d)
        shown = f"`{v.name}` = {_show(d)}" if v.name else _show(d)
        if not math.isfinite(hi):
            raise self.error(
                f"the object count must be bounded, but {shown} can be arbitrarily large",
                v.span,
                hint="use randint(low, high) or truncnormal(mean, std, low, high)",
            )
        if lo < 0:
            raise self.error(
                f"the object count cannot be negative, but {shown} can be {_fmt(lo)}", v.span
            )
        if hi > self.limits.max_count:
            raise self.limit_error(
                f"the object count can be as large as {_fmt(hi)}, more than the limit of "
                f"{self.limits.max_count}",
                v.span,
                "SYNTHLANG_MAX_COUNT",
            )
        return d

    def overlap(self, clause: PlaceOverlap, index: int, module: _Module) -> ir.Overlap:
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
            ref = _CategoryRef(ident.name, ident.span, "`overlap ... with`")
            self.check_category(ref, below=index, allow_self=True)
        kw["against"] = tuple(dict.fromkeys(i.name for i in clause.against))
        return self.build(ir.Overlap, clause.span, **kw)

    # -- degradations and masks
    def degrade_pass(self, call: Call, module: _Module) -> Any:
        return self.eval(call, module).data

    def mask(self, decl: MaskDecl, module: _Module) -> ir.MaskRule:
        ref = _CategoryRef(decl.category.name, decl.category.span, "`mask`")
        self.check_category(ref)
        condition = self.condition(decl.condition, module) if decl.condition is not None else None
        return self.build(
            ir.MaskRule,
            decl.span,
            category=decl.category.name,
            condition=condition,
            visible_only=decl.visible,
            span=ir.SourceSpan.from_span(decl.span),
        )

    def condition(self, cond: Condition, module: _Module) -> Any:
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


# --------------------------------------------------------------------------- builders

Builder = Callable[[_Compiler, Call, dict[str, _Arg]], _Value]


def _given(args: dict[str, _Arg], *names: str) -> dict[str, Any]:
    """The given arguments among ``names`` (absent ones keep the IR default)."""
    return {n: args[n].value for n in names if args[n].given}


def _b_uniform(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    low, high = a["low"].value, a["high"].value
    if low > high:
        raise c.error(
            f"uniform(low, high) needs low <= high, got uniform({_fmt(low)}, {_fmt(high)})",
            call.span,
        )
    return _Value("distribution", ir.Uniform(low=low, high=high), call.span)


def _b_randint(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    low, high = a["low"].value, a["high"].value
    if low > high:
        raise c.error(
            f"randint(low, high) needs low <= high, got randint({low}, {high})", call.span
        )
    return _Value("distribution", ir.RandInt(low=low, high=high), call.span)


def _b_normal(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    d = ir.Normal(mean=a["mean"].value, std=a["std"].value)
    return _Value("distribution", d, call.span)


def _b_truncnormal(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    low, high = a["low"].value, a["high"].value
    if not low < high:
        raise c.error(
            f"truncnormal(mean, std, low, high) needs low < high, got low {_fmt(low)} and "
            f"high {_fmt(high)}",
            call.span,
        )
    d = ir.TruncNormal(mean=a["mean"].value, std=a["std"].value, low=low, high=high)
    return _Value("distribution", d, call.span)


def _b_choice(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
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
                raise c.error(f"choice weights must be >= 0, got {_fmt(w)}", span)
        total = sum(w for w, _ in weights)
        if total <= 0:
            raise c.error(
                "choice weights are all zero; at least one must be > 0", a["weights"].span
            )
        probs = tuple(w / total for w, _ in weights)
    else:
        probs = tuple(1.0 / len(values) for _ in values)
    d = ir.Choice(values=tuple(v for v, _ in values), weights=probs)
    return _Value("distribution", d, call.span)


def _b_rgb(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    mean = (a["r"].value, a["g"].value, a["b"].value)
    return _Value("colour", c.build(ir.MVNColor, call.span, mean=mean), call.span)


def _b_mvn(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    color = c.build(ir.MVNColor, call.span, **_given(a, "mean", "cov", "between"))
    return _Value("colour", color, call.span)


def _b_patches(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    folder, digest, meta = c.library(a["library"], "texture", "patches")
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
    return _Value("texture", texture, call.span)


def _b_gaussian_field(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    kw = _given(a, "mean", "std", "smoothness", "minimum")
    return _Value("speed field", c.build(ir.SpeedField, call.span, **kw), call.span)


def _b_voronoi(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    spec = ir.VoronoiRegions(count=a["count"].value)
    return _Value("region decomposition", spec, call.span)


def _b_fast_marching(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    spec = ir.FastMarchingRegions(**_given(a, "count", "speed"))
    return _Value("region decomposition", spec, call.span)


def _b_ellipse(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    shape = ir.EllipseShape(**_given(a, "semi_axes", "angle"))
    return _Value("shape", shape, call.span)


def _b_patch(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    folder, digest, _ = c.library(a["library"], "nuclei", "patch")
    kw = _given(a, "scale", "rotate", "smooth")
    shape = c.build(ir.PatchShape, call.span, library=folder, digest=digest, **kw)
    return _Value("shape", shape, call.span)


def _b_grown(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    kw = _given(a, "time", "speed")
    shape = ir.GrownShape(source=a["from"].value, **kw)
    return _Value("shape", shape, call.span)


def _b_ribbon(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    shape = ir.RibbonShape(**_given(a, "width", "maps", "offset", "speed"))
    return _Value("shape", shape, call.span)


def _b_fill(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("shape", ir.FillShape(**_given(a, "per_region")), call.span)


def _b_contour(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("contour", ir.Contour(**_given(a, "width", "color")), call.span)


def _b_soft(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("soft edge", ir.SoftEdge(width=a["width"].value), call.span)


def _b_chromatin(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    chromatin = ir.Chromatin(**_given(a, "amount", "scale", "granules", "rim"))
    return _Value("chromatin", chromatin, call.span)


def _b_blur(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.GaussianBlur(sigma=a["sigma"].value), call.span)


def _b_gaussian_noise(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.GaussianNoise(std=a["std"].value), call.span)


def _b_poisson_noise(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.PoissonNoise(peak=a["peak"].value), call.span)


def _per_stain(c: _Compiler, call: Call, a: _Arg, name: str, n: int, default: float) -> tuple:
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


def _stain(stains: str) -> Builder:
    def build(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
        n = len(stains)
        kw: dict[str, Any] = {
            "stains": stains,
            "alpha": _per_stain(c, call, a["alpha"], "alpha", n, 1.0),
            "beta": _per_stain(c, call, a["beta"], "beta", n, 0.0),
        }
        kw.update(_given(a, "angle"))
        return _Value("degradation", c.build(ir.StainJitter, call.span, **kw), call.span)

    return build


def _b_brightness(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.Brightness(factor=a["factor"].value), call.span)


def _b_contrast(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.Contrast(factor=a["factor"].value), call.span)


def _b_gamma(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.Gamma(exponent=a["exponent"].value), call.span)


def _b_saturation(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.Saturation(factor=a["factor"].value), call.span)


def _b_jpeg(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.JPEGCompression(quality=a["quality"].value), call.span)


def _b_scale(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("degradation", ir.ScaleJitter(factor=a["factor"].value), call.span)


def _b_concentration(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    m = ir.Concentration(category=a["category"].value, radius=a["radius"].value)
    return _Value("metric", m, call.span)


def _b_count(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    m = ir.CountWithin(category=a["category"].value, radius=a["radius"].value)
    return _Value("metric", m, call.span)


def _b_visible(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("metric", ir.VisibleFraction(), call.span)


def _b_area(c: _Compiler, call: Call, a: dict[str, _Arg]) -> _Value:
    return _Value("metric", ir.Area(), call.span)


BUILDERS: dict[str, Builder] = {
    "uniform": _b_uniform,
    "randint": _b_randint,
    "normal": _b_normal,
    "truncnormal": _b_truncnormal,
    "choice": _b_choice,
    "rgb": _b_rgb,
    "mvn": _b_mvn,
    "patches": _b_patches,
    "gaussian_field": _b_gaussian_field,
    "voronoi": _b_voronoi,
    "fast_marching": _b_fast_marching,
    "ellipse": _b_ellipse,
    "patch": _b_patch,
    "grown": _b_grown,
    "ribbon": _b_ribbon,
    "fill": _b_fill,
    "contour": _b_contour,
    "soft": _b_soft,
    "chromatin": _b_chromatin,
    "gaussian_blur": _b_blur,
    "gaussian_noise": _b_gaussian_noise,
    "poisson_noise": _b_poisson_noise,
    "stain_he": _stain("he"),
    "stain_hed": _stain("hed"),
    "brightness": _b_brightness,
    "contrast": _b_contrast,
    "gamma": _b_gamma,
    "saturation": _b_saturation,
    "jpeg": _b_jpeg,
    "scale": _b_scale,
    "concentration": _b_concentration,
    "count": _b_count,
    "visible": _b_visible,
    "area": _b_area,
}
"""Builder of each building block: checked arguments -> IR value (keyed like SIGNATURES)."""
