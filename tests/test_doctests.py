"""The examples in the docstrings run (numpydoc ``Examples`` sections)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import synthlang
import vnet


def _modules() -> list[str]:
    names = []
    for package in (synthlang, vnet):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
