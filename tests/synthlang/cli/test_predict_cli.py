"""``synthlang predict`` through its argparse parser (no subprocess)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthlang.cli import predict as predict_cmd
from synthlang.common.errors import DataError
from tests.vnet.helpers import write_model_checkpoint
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
    return write_model_checkpoint(tmp_path / "model.pt", CoupledVN(CFG))


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


def _stats_checkpoint(checkpoint: Path, tmp_path: Path) -> Path:
    from synthlang.colornorm import color_stats
    from vnet.train import load_checkpoint

    rng = np.random.default_rng(1)
    ckpt = load_checkpoint(checkpoint)
    ckpt["source"] = {"color_stats": color_stats([rng.uniform(0.3, 0.8, (16, 16, 3))]).to_dict()}
    path = tmp_path / "with_stats.pt"
    save_checkpoint(path, ckpt)
    return path


def test_predict_normalisation_flags(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from synthlang.cli.main import main

    rng = np.random.default_rng(0)
    imgs = []
    for name in ("a", "b"):
        imgs.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(rng.integers(40, 220, (12, 12, 3), dtype=np.uint8)).save(imgs[-1])
    out = str(tmp_path / "o")
    with_stats = str(_stats_checkpoint(checkpoint, tmp_path))

    assert _run(with_stats, *imgs, "--out", out) == 0
    got = capsys.readouterr()
    assert got.out.count("colours macenko to checkpoint training inputs") == 2 and not got.err
    assert _run(with_stats, imgs[0], "--out", out, "--normalize", "reinhard") == 0
    assert "colours reinhard to checkpoint training inputs" in capsys.readouterr().out
    assert _run(with_stats, imgs[0], "--out", out, "--normalize", "haematoxylin") == 0
    assert "colours haematoxylin to checkpoint training inputs" in capsys.readouterr().out
    assert _run(with_stats, imgs[0], "--out", out, "--no-normalize") == 0
    assert "colours as given" in capsys.readouterr().out
    assert _run(with_stats, imgs[0], "--out", out, "--reference", imgs[1]) == 0
    assert f"to reference {imgs[1]}" in capsys.readouterr().out

    # an old checkpoint without statistics: not normalised, said once
    assert _run(str(checkpoint), *imgs, "--out", out) == 0
    got = capsys.readouterr()
    assert got.out.count("colours as given") == 2
    assert got.err.count("stores no colour statistics") == 1

    # user errors: one message, exit status 2
    for argv, message in [
        (["--reference", str(tmp_path / "none.png")], "no such reference image"),
        (["--no-normalize", "--reference", imgs[1]], "--no-normalize contradicts --reference"),
        (["--no-normalize", "--normalize", "reinhard"], "--no-normalize contradicts"),
    ]:
        assert main(["predict", with_stats, imgs[0], "--out", out, *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_predict_classes_instances_and_geojson(tmp_path: Path) -> None:
    import json

    from vnet import UNet, UNetConfig

    cfg = UNetConfig(channels=4, mask_channels=3)
    net = UNet(cfg)
    with torch.no_grad():  # every pixel: class 2 with probability sigmoid(2)
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([0.0, 0.0, 0.0, -2.0, 2.0, -2.0]))  # type: ignore[union-attr]
    path = write_model_checkpoint(tmp_path / "k3.pt", net, classes=["tumor", "immune", "other"])
    img = tmp_path / "x.png"
    Image.fromarray(np.full((20, 30, 3), 128, np.uint8)).save(img)
    out = tmp_path / "o"
    assert _run(str(path), str(img), "--out", str(out), "--geojson", "--min-distance", "4") == 0
    with Image.open(out / "x_labels.png") as im:
        assert im.mode == "L" and set(np.unique(np.asarray(im)).tolist()) == {2}
    with Image.open(out / "x_instances.png") as im:
        assert int(np.asarray(im).max()) >= 1
    for k in (1, 2, 3):
        assert (out / f"x_prob_{k}.png").is_file()
    features = json.loads((out / "x.geojson").read_text())["features"]
    assert features and {f["properties"]["classification"]["name"] for f in features} == {"immune"}
    assert features[0]["properties"]["probability"] == pytest.approx(0.8808, abs=1e-3)
    assert json.loads((out / "predict.json").read_text())["classes"] == ["tumor", "immune", "other"]
    with pytest.raises(DataError, match="--min-distance"):
        _run(str(path), str(img), "--out", str(out), "--min-distance", "5000")
    with pytest.raises(DataError, match="--min-area"):
        _run(str(path), str(img), "--out", str(out), "--min-area", "20000")
    for bad in ("-1", "nan", "x"):
        with pytest.raises(SystemExit):
            _run(str(path), str(img), "--out", str(out), "--min-area", bad)
    assert _run(str(path), str(img), "--out", str(out), "--min-area", "0") == 0
    assert json.loads((out / "predict.json").read_text())["min_area_um2"] == 0.0


def test_predict_tta_flags_and_checkpoint_default(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--tta / --no-tta; a checkpoint's ``source.tta`` is the default; a bad one exits 2."""
    import json

    from synthlang.cli.main import main
    from synthlang.cli.train import set_predict_flag
    from vnet.train import load_checkpoint

    with pytest.raises(SystemExit):
        _run("--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--tta, --no-tta" in text and "8x slower" in text and "--predict-tta" in text
    assert "--fill-holes, --no-fill-holes" in text and "--predict-fill-holes" in text
    assert "--whole-nuclei, --no-whole-nuclei" in text and "--predict-whole-nuclei" in text
    assert "--neighbour-nuclei, --no-neighbour-nuclei" in text

    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), np.uint8)).save(img)
    out = tmp_path / "o"
    said = "test-time augmentation (8 passes)"

    def run(ckpt: Path, *flags: str) -> bool:
        status = _run(
            str(ckpt), str(img), "--out", str(out), "--tile", "16", "--overlap", "4", *flags
        )
        assert status == 0
        used = json.loads((out / "predict.json").read_text())["tta"]
        assert (said in capsys.readouterr().out) is used
        return bool(used)

    assert run(checkpoint) is False  # no stored choice: off
    assert run(checkpoint, "--tta") is True  # tiled (40 x 30 > --tile 16) with TTA
    with Image.open(out / "a_prob.png") as im:
        assert im.size == (30, 40)
    default_on = tmp_path / "tta.pt"
    set_predict_flag(checkpoint, "tta", True, default_on)
    assert run(default_on) is True
    assert run(default_on, "--no-tta") is False
    assert run(default_on, "--tta") is True
    assert "regions filled" not in capsys.readouterr().out
    assert _run(str(checkpoint), str(img), "--out", str(out), "--fill-holes") == 0
    assert "regions filled" in capsys.readouterr().out
    assert json.loads((out / "predict.json").read_text())["fill_holes"] is True
    assert _run(str(checkpoint), str(img), "--out", str(out), "--whole-nuclei") == 0
    assert "whole nuclei" in capsys.readouterr().out
    assert json.loads((out / "predict.json").read_text())["whole_nuclei"] is True
    assert _run(str(checkpoint), str(img), "--out", str(out), "--neighbour-nuclei") == 0
    assert "neighbour nuclei" in capsys.readouterr().out
    assert json.loads((out / "predict.json").read_text())["neighbour_nuclei"] is True

    bad = load_checkpoint(checkpoint)
    bad["source"] = {"tta": "often"}
    save_checkpoint(tmp_path / "bad.pt", bad)
    assert main(["predict", str(tmp_path / "bad.pt"), str(img), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.pt: source.tta must be true or false, got 'often'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_predict_scales_flag_and_checkpoint_default(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scales; a checkpoint's ``source.scales`` is the default; bad factors exit 2."""
    import json

    from synthlang.cli.main import main
    from synthlang.cli.train import set_predict_scales

    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (40, 30, 3), np.uint8)).save(img)
    out = tmp_path / "o"

    def run(ckpt: Path, *flags: str) -> list[float]:
        assert _run(str(ckpt), str(img), "--out", str(out), *flags) == 0
        used = json.loads((out / "predict.json").read_text())["scales"]
        said = "scales 1, 0.9, " in capsys.readouterr().out
        assert said is (used == [1.0, 0.9])
        return list(used)

    assert run(checkpoint) == [1.0]
    assert run(checkpoint, "--scales", "1", "0.9") == [1.0, 0.9]
    stored = tmp_path / "scales.pt"
    set_predict_scales(checkpoint, [1, 0.9], stored)
    assert run(stored) == [1.0, 0.9]
    assert run(stored, "--scales", "1") == [1.0]
    for bad, message in ((["0.9"], "must include 1"), (["1", "7"], "scale 7 is outside")):
        assert (
            main(["predict", str(checkpoint), str(img), "--out", str(out), "--scales", *bad]) == 2
        )
        err = capsys.readouterr().err
        assert "--scales: " in err and message in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_predict_mpp_for_images(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--mpp resamples an image onto the model's grid; its outputs keep the image's size."""
    p = tmp_path / "x40.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (60, 44, 3), np.uint8)).save(p)
    out = tmp_path / "pred"
    assert _run(str(checkpoint), str(p), "--out", str(out), "--mpp", "0.25") == 0
    for kind in ("denoised", "prob", "mask", "labels", "instances", "overlay"):
        with Image.open(out / f"x40_{kind}.png") as im:
            assert im.size == (44, 60), kind
    assert "x40.png: 44x60, " in (text := capsys.readouterr().out)
    assert "resampled 0.25 -> 0.5 um/px" in text
    assert _run(str(checkpoint), str(p), "--out", str(out), "--mpp", "0.5") == 0
    assert "resampled" not in capsys.readouterr().out
    with pytest.raises(DataError, match="--mpp: the input's pixel size .* differ by more"):
        _run(str(checkpoint), str(p), "--out", str(out), "--mpp", "0.01")
