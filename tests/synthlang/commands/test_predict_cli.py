"""``synthlang predict`` through its argparse parser (no subprocess)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang.commands import predict as predict_cmd
from synthlang.errors import DataError
from vnet import CoupledVN, VNConfig
from vnet.train import save_checkpoint

CFG = VNConfig(steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3)


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="synthlang")
    sub = parser.add_subparsers(dest="command")
    predict_cmd.add_parser(sub)
    args = parser.parse_args(["predict", *argv])
    return args.func(args)


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    save_checkpoint(
        path,
        {
            "format": "vnet-checkpoint",
            "version": 1,
            "model_kind": "vn",
            "model_config": CFG.to_dict(),
            "model_state": CoupledVN(CFG).state_dict(),
        },
    )
    return path


def test_predict_odd_and_tiled_sizes(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    paths = []
    for name, (h, w) in {"odd": (37, 53), "big": (80, 100)}.items():
        p = tmp_path / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    out = tmp_path / "pred"
    assert (
        _run(
            str(checkpoint),
            *paths,
            "--out",
            str(out),
            "--tile",
            "48",
            "--overlap",
            "8",
            "--threshold",
            "0.4",
        )
        == 0
    )
    for name, (h, w) in {"odd": (37, 53), "big": (80, 100)}.items():
        for kind in ("denoised", "prob", "mask", "overlay"):
            with Image.open(out / f"{name}_{kind}.png") as im:
                assert im.size == (w, h)
    assert "odd.png: 53x37" in capsys.readouterr().out


def test_predict_errors(checkpoint: Path, tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(img)
    with pytest.raises(DataError, match="overlap"):
        _run(
            str(checkpoint),
            str(img),
            "--out",
            str(tmp_path / "o"),
            "--tile",
            "16",
            "--overlap",
            "16",
        )
    with pytest.raises(DataError, match="reference"):
        _run(
            str(checkpoint),
            str(img),
            "--out",
            str(tmp_path / "o"),
            "--reference",
            str(tmp_path / "none.png"),
        )
    with pytest.raises(DataError, match="no such image"):
        _run(str(checkpoint), str(tmp_path / "none.png"), "--out", str(tmp_path / "o"))
    with pytest.raises(SystemExit):
        _run(str(checkpoint), str(img), "--out", str(tmp_path / "o"), "--threshold", "2")
