"""Malformed scenes: each error has the right class, message and position.

Each case marks the expected error position with ``»`` right before the offending
token; the marker is removed before compiling and its line/column is the expected
location. So every case asserts WHERE the error is, not only that it happened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthlang.common.errors import SceneError, SceneSyntaxError, SynthlangError
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.lang.compile import compile_file, compile_string
from tests.synthlang.common import malformed_anchors, malformed_layers, malformed_values
from tests.synthlang.common.malformed import located, scene


def compile_error(text: str, **kwargs) -> SynthlangError:
    with pytest.raises(SynthlangError) as info:
        compile_string(text, **kwargs)
    return info.value


CASES = [*malformed_values.CASES, *malformed_layers.CASES, *malformed_anchors.CASES]


@pytest.mark.parametrize(
    ("marked", "cls", "fragment"),
    [pytest.param(t, c, f, id=i) for i, t, c, f in CASES],
)
def test_malformed_scene(marked: str, cls: type, fragment: str) -> None:
    text, line, col = located(marked)
    err = compile_error(text)
    assert type(err) is cls, f"{type(err).__name__}: {err}"
    assert fragment in err.message, str(err)
    assert (err.line, err.column) == (line, col), str(err)
    assert (
        err.span is not None
        and err.span.end_column > err.span.column
        or (err.span.end_line > err.span.line)
    )
    # the rendered error shows the location, the source line and a caret
    rendered = str(err)
    assert rendered.startswith(f"<string>:{line}:{col}: ")
    assert "^" in rendered


def test_case_count() -> None:
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def test_limit_error_is_both_scene_and_resource_error() -> None:
    from synthlang.common.errors import ResourceLimitError

    err = compile_error("scene s { size 64 x 20000 }\nlayer bg { fill color rgb(1, 1, 1) }\n")
    assert isinstance(err, SceneError) and isinstance(err, ResourceLimitError)
    assert "SYNTHLANG_MAX_SIDE" in (err.hint or "")


def test_limits_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLANG_MAX_SIDE", "32")
    text, line, col = located("scene s { size »64 x 16 }\nlayer bg { fill color rgb(1, 1, 1) }\n")
    err = compile_error(text)
    assert isinstance(err, SceneLimitError)
    assert (err.line, err.column) == (line, col)
    assert "limit of 32" in err.message


def test_bad_limit_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLANG_MAX_PIXELS", "lots")
    with pytest.raises(
        SynthlangError, match="SYNTHLANG_MAX_PIXELS must be a positive whole number"
    ):
        Limits.from_env()


def test_explicit_limits_argument() -> None:
    text, line, col = located(
        scene("layer a { ellipse(semi_axes 3) place count »40 color rgb(1, 0, 0) }")
    )
    err = compile_error(text, limits=Limits(max_count=10))
    assert isinstance(err, SceneLimitError)
    assert (err.line, err.column) == (line, col)


def test_hint_for_library_compiled_as_scene() -> None:
    err = compile_error("let a = rgb(1, 0, 0)\n")
    assert "library" in (err.hint or "")


def test_error_spans_carry_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.scene"
    text, line, col = located(scene("let a = »uniform(9, 3)"))
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SceneError) as info:
        compile_file(path)
    err = info.value
    assert err.span is not None and err.span.file == str(path)
    assert str(err).startswith(f"{path}:{line}:{col}: error: uniform(low, high) needs low <= high")
    assert "uniform(9, 3)" in str(err).splitlines()[1]


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.scene"
    path.write_bytes(b"scene s { size 8 x 8 }\n# caf\xe9\n")
    with pytest.raises(SceneSyntaxError) as info:
        compile_file(path)
    assert (info.value.line, info.value.column) == (2, 6)


def test_missing_main_file(tmp_path: Path) -> None:
    with pytest.raises(SceneError, match="no such file"):
        compile_file(tmp_path / "absent.scene")


def test_json_index_errors_have_positions(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "index.json").write_text("{not json", encoding="utf-8")
    text, line, col = located(scene('layer a { patch(»"lib") place count 3 }'))
    err = compile_error(text, base_dir=tmp_path)
    assert "not valid JSON" in err.message
    assert (err.line, err.column) == (line, col)
    (lib / "index.json").write_text(json.dumps([1, 2]), encoding="utf-8")
    err = compile_error(text, base_dir=tmp_path)
    assert "not a JSON object" in err.message


def test_cli_answers_every_malformed_scene_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`synthlang check` on each malformed scene: exit 2, file:line:col, no traceback."""
    from synthlang.cli.main import main

    for name, marked, _cls, fragment in CASES:
        text, line, col = located(marked)
        path = tmp_path / f"{name}.scene"
        path.write_text(text, encoding="utf-8")
        assert main(["check", str(path)]) == 2, name
        captured = capsys.readouterr()
        assert captured.out == "", name
        err = captured.err
        assert err.startswith(f"{path}:{line}:{col}: "), (name, err)
        assert fragment.replace("<string>", str(path)) in err, (name, err)
        assert "Traceback" not in err, (name, err)
        # one message: the location line, the source line and the caret (and maybe a hint)
        assert len(err.strip().splitlines()) <= 4, (name, err)
