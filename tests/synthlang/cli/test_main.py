from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from synthlang import __version__
from synthlang.cli.main import COMMANDS, build_parser, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"synthlang {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: synthlang" in capsys.readouterr().out


def test_parser_lists_all_commands() -> None:
    helptext = build_parser().format_help()
    for command in COMMANDS:
        assert command in helptext


def test_check_ok(tiny_scene_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tiny_scene_file)]) == 0
    out = capsys.readouterr().out
    assert "ok (scene tiny, 48 x 64, regions voronoi(3), 4 layers" in out


def test_check_ir_json(tiny_scene_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--ir", str(tiny_scene_file)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "tiny" and len(data["layers"]) == 4


def test_check_error_is_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.scene"
    bad.write_text(
        inspect.cleandoc(
            """
            scene s { size 10 x 10 }
            layer a {
                ellipse(semi_axes uniform(9, 3))
                place count 3
                color rgb(0.1, 0.2, 0.3)
            }
            """
        )
    )
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:3:23: error:")
    assert "Traceback" not in err
    assert "^" in err


def test_missing_file_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", "no/such.scene"])
    assert exc.value.code == 2
    assert "no such file" in capsys.readouterr().err


def test_render_and_preview(tiny_scene_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    code = main(
        ["render", str(tiny_scene_file), "--n", "3", "--out", str(out), "--workers", "1", "-q"]
    )
    assert code == 0
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    sheet = tmp_path / "p" / "sheet.png"
    assert main(["preview", str(tiny_scene_file), "-o", str(sheet)]) == 0
    from PIL import Image

    with Image.open(sheet) as img:
        assert img.width > 64 and img.height > 48


def test_render_into_foreign_folder_exit_2(
    tiny_scene_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    (out / "x").write_text("x")
    assert main(["render", str(tiny_scene_file), "--n", "2", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err


@pytest.mark.parametrize("shard", ["0/2", "3/2", "a/b", "1"])
def test_bad_shard_exit_2(tiny_scene_file: Path, shard: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["render", str(tiny_scene_file), "--n", "2", "--shard", shard])
    assert exc.value.code == 2


@pytest.mark.parametrize("formats", ["coco,pascal", "", "coco,,hovernet"])
def test_unknown_export_format_exit_2(
    tiny_scene_file: Path, tmp_path: Path, formats: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    with pytest.raises(SystemExit) as exc:
        main(["render", str(tiny_scene_file), "--n", "2", "--out", str(out), "--format", formats])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "choose from coco, geojson, hovernet" in err and "Traceback" not in err
    assert not out.exists()  # refused before rendering anything


def test_render_writes_export_formats(
    tiny_scene_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    argv = ["render", str(tiny_scene_file), "--n", "2", "--out", str(out), "--workers", "1"]
    assert main([*argv, "--shard", "1/2", "--format", "hovernet"]) == 0
    assert "will be written by the run that completes the dataset" in capsys.readouterr().out
    assert main([*argv, "--shard", "2/2", "--format", "geojson,hovernet,coco"]) == 0
    assert "wrote coco, geojson, hovernet" in capsys.readouterr().out
    assert (out / "annotations" / "coco.json").is_file()
    assert sorted(p.name for p in (out / "geojson").iterdir()) == [
        "000000.geojson",
        "000001.geojson",
    ]
    assert len(list((out / "hovernet").glob("*.npy"))) == 2
    assert main([*argv, "--resume", "--format", "coco", "-q"]) == 0


def test_console_script_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "synthlang", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and __version__ in proc.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["render", "s.scene", "--num", "5"], "unknown option --num; did you mean --n?"),
        (
            ["render", "s.scene", "--n", "2", "--sed", "3"],
            "unknown option --sed; did you mean --seed?",
        ),
        (["check", "s.scene", "--irr"], "unknown option --irr; did you mean --ir?"),
        (["render", "s.scene", "--n", "2", "--zzzzzz"], "unknown option --zzzzzz"),
    ],
)
def test_unknown_options_are_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"synthlang {argv[0]}: error: {message}" in err
    assert "required" not in err


def test_known_abbreviations_and_negative_values_pass() -> None:
    from synthlang.cli.main import unknown_option

    parser = build_parser()
    assert unknown_option(parser, ["render", "s.scene", "--se", "3", "--n", "1"]) is None
    assert unknown_option(parser, ["predict", "m.pt", "x.png", "--threshold", "-0.5"]) is None
