"""Compile scene files to the Scene IR.

``compile_file`` / ``compile_string`` run the whole front end::

    text -> parse (Lark tree) -> lower (AST with spans) -> compile (ir.Scene)

The compile step reads imports (:mod:`~synthlang.lang.loader`), resolves ``let``
names and inlines every definition (:mod:`~synthlang.lang.names`), binds
building-block arguments against the signatures derived from the IR models
(:mod:`~synthlang.lang.bind`, :mod:`~synthlang.lang.blocks`), compiles layers
(:mod:`~synthlang.lang.layers`) and the scene (:mod:`~synthlang.lang.scene`):
it allocates region selections, checks every value and builds the frozen IR
models of :mod:`synthlang.ir`. Each
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

import os
from collections.abc import Sequence
from pathlib import Path

from synthlang import ir
from synthlang.common.limits import Limits
from synthlang.lang.loader import read_scene_text, resolve_path
from synthlang.lang.loader import search_path as import_folders
from synthlang.lang.scene import SceneCompiler

__all__ = ["compile_file", "compile_string"]


def compile_file(
    path: str | os.PathLike[str],
    *,
    limits: Limits | None = None,
    search_path: Sequence[str | os.PathLike[str]] = (),
) -> ir.Scene:
    """Compile a ``.scene`` file to the Scene IR.

    Parameters
    ----------
    path : str or path-like
        The scene file. Imports are resolved relative to it, then in ``search_path``
        and the folders of ``SYNTHLANG_PATH``; ``import "synthlang:NAME"`` names a
        shipped library.
    limits : Limits, optional
        Resource limits; from the environment (``SYNTHLANG_MAX_*``) when omitted.
    search_path : sequence of path-like, optional
        Folders searched for imports after the importing file's own folder.

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
    text = read_scene_text(p, None, None, limits)
    key = resolve_path(p)
    compiler = SceneCompiler(limits, import_folders(list(search_path)))
    return compiler.run(text, display=str(path), key=key, folder=key.parent)


def compile_string(
    text: str,
    *,
    filename: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    limits: Limits | None = None,
    search_path: Sequence[str | os.PathLike[str]] = (),
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
    search_path : sequence of path-like, optional
        Folders searched for imports after ``base_dir`` (see :func:`compile_file`).

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
        folder = resolve_path(Path(base_dir))
    elif filename is not None:
        folder = resolve_path(Path(filename)).parent
    else:
        folder = Path.cwd()
    key = resolve_path(Path(filename)) if filename is not None else None
    compiler = SceneCompiler(limits or Limits.from_env(), import_folders(list(search_path)))
    return compiler.run(text, display=filename, key=key, folder=folder)
