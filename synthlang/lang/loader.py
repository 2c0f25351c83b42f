"""Loading scene files: reading them safely, imports (relative, cycles, depth), definitions."""

from __future__ import annotations

import os
from pathlib import Path

from synthlang.common.errors import SceneError, SceneSyntaxError, Span
from synthlang.common.fileio import FileTooLargeError, NotARegularFileError, read_regular_file
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.context import STATEMENT_WORDS, CompilerBase, SourceFile, word_span
from synthlang.lang.lower import lower
from synthlang.lang.nodes import Import, Let
from synthlang.lang.parse import parse

__all__ = [
    "Loader",
    "resolve_path",
    "read_scene_text",
    "search_path",
    "SHIPPED_LIBRARIES",
    "SHIPPED_PREFIX",
]

SHIPPED_PREFIX = "synthlang:"
"""``import "synthlang:NAME"`` names a library that ships with synthlang."""

SHIPPED_LIBRARIES = Path(__file__).resolve().parents[2] / "scenes" / "lib"
"""Where the shipped libraries are: ``scenes/lib`` of the source checkout synthlang runs from."""


def search_path(extra: object = ()) -> tuple[Path, ...]:
    """The folders searched for imports after the importing file's own folder.

    ``extra`` (``--lib DIR`` on the command line, ``search_path=`` in Python) first, then
    the folders of the environment variable ``SYNTHLANG_PATH`` (separated like ``PATH``).
    """
    folders = [Path(p) for p in extra] if isinstance(extra, (list, tuple)) else []
    folders += [Path(p) for p in os.environ.get("SYNTHLANG_PATH", "").split(os.pathsep) if p]
    return tuple(resolve_path(f) for f in folders)


def resolve_path(path: Path) -> Path:
    """``path.resolve()``, or the absolute path when it cannot be resolved (symlink loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return Path(os.path.abspath(path))


def read_scene_text(path: Path, span: Span | None, source: str | None, limits: Limits) -> str:
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


def _shipped_hint() -> str:
    names = (
        sorted(
            p.stem if p.suffix == ".scene" else p.name
            for p in SHIPPED_LIBRARIES.iterdir()
            if p.suffix == ".scene" or (p / f"{p.name}.scene").is_file()
        )
        if SHIPPED_LIBRARIES.is_dir()
        else []
    )
    if not names:
        return "this copy of synthlang has no shipped libraries (they come with its source)"
    return "shipped libraries: " + ", ".join(names)


class Loader(CompilerBase):
    """Reads the main file and its imports, and registers their definitions."""

    def load(
        self,
        text: str,
        *,
        display: str | None,
        key: Path | None,
        folder: Path,
        chain: list[tuple[str, Path | None]],
    ) -> SourceFile:
        """Parse and lower one file, then load its imports."""
        self.sources[display] = text
        tree = parse(text, display, limits=self.limits)
        ast = lower(tree, display, text)
        module = SourceFile(key, display, text, ast, folder)
        self.modules[key] = module
        self.order.append(module)
        here = [*chain, (display or "<string>", key)]
        for stmt in ast.statements:
            if isinstance(stmt, Import):
                module.imports.append(self.load_import(stmt, module, here))
        return module

    def load_import(
        self, stmt: Import, importer: SourceFile, chain: list[tuple[str, Path | None]]
    ) -> Path:
        """Load the file an ``import`` names (relative to the importer), refusing cycles."""
        raw = stmt.path.value
        span = stmt.path.span
        resolved, looked = self.find_import(raw, importer, span)
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
            if raw.startswith(SHIPPED_PREFIX):
                raise self.error(
                    f'cannot import "{raw}": there is no shipped library of that name',
                    span,
                    hint=_shipped_hint(),
                )
            raise self.error(
                f'cannot import "{raw}": no such file',
                span,
                hint="looked for "
                + ", ".join(str(p) for p in looked)
                + "; add folders with --lib DIR or SYNTHLANG_PATH; shipped libraries are "
                'imported as "synthlang:NAME"',
            )
        if resolved.is_dir():
            raise self.error(f'cannot import "{raw}": it is a folder', span)
        text = read_scene_text(resolved, span, self.sources.get(span.file), self.limits)
        display = self.display_for(raw, importer)
        child = self.load(text, display=display, key=resolved, folder=resolved.parent, chain=chain)
        for st in child.ast.statements:
            if not isinstance(st, (Import, Let)):
                word = STATEMENT_WORDS[type(st)]
                where = f"{span.location()}"
                raise self.error(
                    f"an imported file may only contain `import` and `let`; found `{word}`",
                    word_span(st.span, word),
                    hint=f"this file is imported at {where}; move the `{word}` to the main scene",
                )
        return resolved

    def find_import(self, raw: str, importer: SourceFile, span: Span) -> tuple[Path, list[Path]]:
        """The file an import names, and every place looked at.

        A relative name is looked for next to the importing file, then in the search path
        (:func:`search_path`); ``synthlang:NAME`` names a shipped library
        (``scenes/lib/NAME.scene`` or ``scenes/lib/NAME/NAME.scene``).
        """
        if raw.startswith(SHIPPED_PREFIX):
            name = raw[len(SHIPPED_PREFIX) :].removesuffix(".scene")
            if not name or not all(part.isidentifier() for part in name.split("/")):
                raise self.error(
                    f'cannot import "{raw}": write "synthlang:NAME" with the name of a shipped '
                    f"library",
                    span,
                    hint=_shipped_hint(),
                )
            looked = [SHIPPED_LIBRARIES / f"{name}.scene"]
            looked.append(SHIPPED_LIBRARIES / name / f"{Path(name).name}.scene")
        else:
            if not raw.endswith(".scene"):
                raise self.error(
                    f'cannot import "{raw}": only `.scene` files can be imported', span
                )
            target = Path(raw)
            if target.is_absolute():
                return resolve_path(target), [target]
            looked = [importer.folder / target, *(folder / target for folder in self.search)]
        for k, candidate in enumerate(looked):
            if candidate.exists() or candidate.is_symlink():
                if k > 0 or raw.startswith(SHIPPED_PREFIX):
                    self.found[(importer.key, raw)] = resolve_path(candidate)
                return resolve_path(candidate), looked
        return resolve_path(looked[0]), looked

    def display_for(self, raw: str, importer: SourceFile) -> str:
        """How messages name an imported file."""
        found = self.found.get((importer.key, raw))
        if found is not None:  # from the search path or the shipped libraries
            return str(found)
        if Path(raw).is_absolute():
            return os.path.normpath(raw)
        if importer.display is None:
            return str(resolve_path(importer.folder / raw))
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
        """Register every ``let`` of every file, refusing duplicates."""
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
        """Refuse a reserved word as the name of a definition, layer or selection."""
        if name in self.keywords:
            raise self.error(
                f"`{name}` is a reserved word and cannot name {what}",
                span,
                hint="choose another name, e.g. `" + name + "_1`",
            )
