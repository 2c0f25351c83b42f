"""Loading scene files: reading them safely, imports (relative, cycles, depth), definitions."""

from __future__ import annotations

import os
from pathlib import Path

from synthlang.common.errors import SceneError, SceneSyntaxError, Span
from synthlang.common.fileio import FileTooLargeError, NotARegularFileError, read_regular_file
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.context import STATEMENT_WORDS, CompilerBase, SourceFile, word_span
from synthlang.lang.lower import Import, Let, lower
from synthlang.lang.parse import parse

__all__ = ["Loader", "resolve_path", "read_scene_text"]


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
        if not raw.endswith(".scene"):
            raise self.error(f'cannot import "{raw}": only `.scene` files can be imported', span)
        target = Path(raw)
        resolved = resolve_path(target if target.is_absolute() else importer.folder / target)
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

    def display_for(self, raw: str, importer: SourceFile) -> str:
        """How messages name an imported file."""
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
