"""``synthlang fit`` and ``synthlang normalize`` through their argparse parsers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from skimage.draw import disk

from synthlang.cli import fit as fit_cmd
from synthlang.cli import normalize as norm_cmd
from synthlang.common.errors import DataError
from synthlang.common.imageio import read_image, write_png
from synthlang.stats import reinhard_stats


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthlang")
    sub = parser.add_subparsers(dest="command")
    fit_cmd.add_parser(sub)
    norm_cmd.add_parser(sub)
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def _image_with_nuclei(tmp: Path, name: str = "a", seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    img = np.empty((96, 96, 3))
    img[:] = (0.9, 0.6, 0.8)
    inst = np.zeros((96, 96), np.int32)
    k = 0
    for r in range(16, 96, 32):
        for c in range(16, 96, 32):
            k += 1
            rr, cc = disk((r, c), 6 if k % 2 else 4)
            img[rr, cc] = (0.4, 0.2, 0.55) if k % 2 else (0.2, 0.1, 0.4)
            inst[rr, cc] = k
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)
    write_png(tmp / f"{name}.png", img)
    write_png(tmp / f"{name}_inst.png", inst)
    return tmp / f"{name}.png", tmp / f"{name}_inst.png"


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["fit", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--labels",
        "--npz",
        "--geojson",
        "--auto",
        "--classes",
        "--class-labels",
        "--class-names",
        "--crop",
        "--scale",
        "--reference",
        "--prefix",
        "--texture-size",
        "--cohorts",
        "--max-patches",
        "OUT.scene",
    ):
        assert flag in out
    with pytest.raises(SystemExit):
        _parser().parse_args(["normalize", "--help"])
    assert "Reinhard" in capsys.readouterr().out


def test_fit_cli_writes_library(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, inst = _image_with_nuclei(tmp_path)
    out = tmp_path / "lib" / "he.scene"
    table = tmp_path / "cls.json"
    table.write_text(json.dumps({str(k): "big" if k % 2 else "small" for k in range(1, 10)}))
    code = _run(
        [
            "fit",
            str(img),
            "--labels",
            str(inst),
            "--instance-classes",
            str(table),
            "--max-patches",
            "10",
            "--cohorts",
            "2",
            "--texture-region",
            "small=nucleus",
            "--seed",
            "3",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    text = out.read_text()
    assert "let he_big = mvn(" in text and "let he_small = mvn(" in text
    assert "# command: synthlang fit" in text and "--max-patches 10" in text
    assert "--seed 3" in text and "--prefix" not in text  # defaults are not repeated
    index = json.loads((out.parent / "small_texture" / "index.json").read_text())
    assert index["region"] == "nucleus" and index["cohorts"] <= 2
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "he_big: 5 objects" in printed


def test_fit_cli_command_line_round_trips(tmp_path: Path) -> None:
    img, inst = _image_with_nuclei(tmp_path)
    argv = ["fit", str(img), "--labels", str(inst), "--crop", "0:64,:", "--scale", "0.5"]
    args = _parser().parse_args([*argv, "-o", str(tmp_path / "x.scene")])
    line = fit_cmd.command_line(args)
    assert line.startswith("synthlang fit ")
    again = _parser().parse_args(["fit", *line.split()[2:]])
    assert vars(again) == {**vars(args), "func": again.func}


def test_fit_cli_user_errors_raise_synthlang_errors(tmp_path: Path) -> None:
    img, inst = _image_with_nuclei(tmp_path)
    write_png(tmp_path / "wrong.png", np.zeros((10, 12), np.int32))
    with pytest.raises(DataError, match=r"wrong\.png: annotation is 10 x 12 px"):
        _run(["fit", str(img), "--labels", str(tmp_path / "wrong.png"), "-o", "x.scene"])
    with pytest.raises(DataError, match="--auto-rule"):
        _run(["fit", str(img), "--auto", "--auto-rule", "speed=3", "-o", "x.scene"])
    with pytest.raises(DataError, match="--texture-region"):
        _run(["fit", str(img), "--auto", "--texture-region", "x", "-o", "x.scene"])
    with pytest.raises(SystemExit):  # argparse range checks exit with status 2
        _parser().parse_args(["fit", str(img), "--auto", "--cohorts", "0", "-o", "x.scene"])


def test_fit_cli_standalone_main_prints_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img, _ = _image_with_nuclei(tmp_path)
    code = fit_cmd.main([str(img), "--npz", str(tmp_path / "missing.npz"), "-o", "x.scene"])
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.npz: no such file" in err and "Traceback" not in err


def test_fit_cli_auto(tmp_path: Path) -> None:
    img, _ = _image_with_nuclei(tmp_path)
    out = tmp_path / "auto.scene"
    code = _run(["fit", str(img), "--auto", "--min-objects", "2", "--no-patches", "-o", str(out)])
    assert code == 0
    assert "annotation: auto" in out.read_text()


def test_normalize_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = _image_with_nuclei(tmp_path, "a", 0)
    b, _ = _image_with_nuclei(tmp_path, "b", 1)
    ref = tmp_path / "ref.png"
    write_png(ref, np.clip(read_image(a) * 0.8 + 0.1, 0, 1))
    out = tmp_path / "norm"
    assert _run(["normalize", str(a), str(b), "--reference", str(ref), "--out", str(out)]) == 0
    target = reinhard_stats(read_image(ref))
    for name in ("a.png", "b.png"):
        got = reinhard_stats(read_image(out / name))
        assert np.allclose(got.mean, target.mean, atol=1.0)
    assert "normalised 2 image(s)" in capsys.readouterr().out
    assert (
        _run(["normalize", str(a), "--reference", "mean", "--out", str(out), "--suffix", "_m"]) == 0
    )
    assert (out / "a_m.png").exists()


def test_normalize_cli_refuses_overwriting_inputs(tmp_path: Path) -> None:
    a, _ = _image_with_nuclei(tmp_path, "a")
    with pytest.raises(DataError, match="would overwrite an input image"):
        _run(["normalize", str(a), "--reference", str(a), "--out", str(tmp_path)])
    (tmp_path / "sub").mkdir()
    dup = tmp_path / "sub" / "a.png"
    dup.write_bytes(a.read_bytes())
    with pytest.raises(DataError, match="would both be written"):
        _run(["normalize", str(a), str(dup), "--reference", str(a), "--out", str(tmp_path / "o")])
    with pytest.raises(DataError, match="no such file"):
        _run(["normalize", str(a), "--reference", str(tmp_path / "nope.png"), "--out", "o2"])
