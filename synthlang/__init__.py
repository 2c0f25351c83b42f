"""synthlang: a scene language and renderer for synthetic histology training data.

Write a ``.scene`` file that describes the tissue, compile it, and render as
many training samples (noisy image, clean image, mask) as you need::

    import synthlang
    scene = synthlang.compile_file("scenes/scenario2.scene")
    sample = synthlang.render(scene, seed=1)
    sample.noisy, sample.clean, sample.mask
    synthlang.render_dataset(scene, 800, "data/s2", seed=1, workers=2)

The public names are imported lazily, so ``import synthlang`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from synthlang.common.version import __version__

__all__ = [
    "__version__",
    "compile_file",
    "compile_string",
    "render",
    "render_dataset",
    "Scene",
    "Sample",
    "SynthlangError",
    "SceneSyntaxError",
    "SceneError",
    "RenderError",
    "DataError",
]

_LAZY = {
    "compile_file": "synthlang.lang.compile",
    "compile_string": "synthlang.lang.compile",
    "render": "synthlang.engine.render",
    "render_dataset": "synthlang.data.dataset",
    "Scene": "synthlang.ir",
    "Sample": "synthlang.engine.base",
    "SynthlangError": "synthlang.common.errors",
    "SceneSyntaxError": "synthlang.common.errors",
    "SceneError": "synthlang.common.errors",
    "RenderError": "synthlang.common.errors",
    "DataError": "synthlang.common.errors",
}

if TYPE_CHECKING:  # pragma: no cover
    from synthlang.common.errors import (
        DataError,
        RenderError,
        SceneError,
        SceneSyntaxError,
        SynthlangError,
    )
    from synthlang.data.dataset import render_dataset
    from synthlang.engine.base import Sample
    from synthlang.engine.render import render
    from synthlang.ir import Scene
    from synthlang.lang.compile import compile_file, compile_string


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synthlang' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
