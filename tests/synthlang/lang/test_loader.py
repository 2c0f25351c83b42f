"""Imports from anywhere: next to the importing file, the search path, the shipped libraries."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthlang.common.errors import SceneError
from synthlang.lang.compile import compile_file, compile_string
from synthlang.lang.loader import SHIPPED_LIBRARIES

SCENE = """
{imports}
scene mine {{ size 32 x 32 }}
layer background {{ fill color puma_background }}
layer nucleus {{ ellipse(semi_axes puma_tumor_semi_axes) place count 3 color my_colour }}
mask nucleus
"""


def _write(folder: Path, imports: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "my.scene"
    path.write_text(SCENE.format(imports=imports))
    return path


@pytest.fixture
def colours(tmp_path: Path) -> Path:
    lib = tmp_path / "mylib"
    lib.mkdir()
    (lib / "colours.scene").write_text("let my_colour = rgb(0.3, 0.1, 0.5)\n")
    return lib


def test_a_scene_anywhere_imports_the_shipped_libraries(tmp_path: Path, colours: Path) -> None:
    imports = 'import "synthlang:puma_melanoma"\nimport "../mylib/colours.scene"'
    scene = compile_file(_write(tmp_path / "elsewhere", imports))
    assert scene.layer("background").color is not None
    assert str(SHIPPED_LIBRARIES) in scene.sources[1]


def test_the_search_path_argument_and_environment(
    tmp_path: Path, colours: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "a", 'import "synthlang:puma_melanoma"\nimport "colours.scene"')
    with pytest.raises(SceneError) as info:
        compile_file(path)
    assert 'cannot import "colours.scene": no such file' in info.value.message
    assert str(tmp_path / "a" / "colours.scene") in (info.value.hint or "")
    assert "--lib DIR or SYNTHLANG_PATH" in (info.value.hint or "")
    assert compile_file(path, search_path=[colours]).name == "mine"
    monkeypatch.setenv("SYNTHLANG_PATH", str(colours))
    assert compile_file(path).name == "mine"


def test_the_importing_folder_comes_first(tmp_path: Path, colours: Path) -> None:
    here = tmp_path / "b"
    here.mkdir()
    (here / "colours.scene").write_text("let my_colour = rgb(1, 0, 0)\n")
    path = _write(here, 'import "synthlang:puma_melanoma"\nimport "colours.scene"')
    scene = compile_file(path, search_path=[colours])
    color = scene.layer("nucleus").color
    assert color is not None and color.mean == (1.0, 0.0, 0.0)  # type: ignore[union-attr]


def test_unknown_shipped_library_lists_them() -> None:
    with pytest.raises(SceneError) as info:
        compile_string(
            'import "synthlang:nope"\nscene s { size 8 }\nlayer a { fill color rgb(0, 0, 0) }'
        )
    assert "there is no shipped library of that name" in info.value.message
    assert "puma_melanoma" in (info.value.hint or "")
    assert (info.value.line, info.value.column) == (1, 8)


def test_shipped_name_must_be_a_name() -> None:
    with pytest.raises(SceneError, match='write "synthlang:NAME"'):
        compile_string(
            'import "synthlang:../x"\nscene s { size 8 }\nlayer a { fill color rgb(0, 0, 0) }'
        )


def test_check_takes_lib_folders(tmp_path: Path, colours: Path) -> None:
    from synthlang.cli.main import main

    path = _write(tmp_path / "c", 'import "synthlang:puma_melanoma"\nimport "colours.scene"')
    assert main(["check", "-q", str(path), "--lib", str(colours)]) == 0
    assert main(["check", "-q", str(path)]) == 2
