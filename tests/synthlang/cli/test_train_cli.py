"""``synthlang train`` through its argparse parser (no subprocess)."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from synthlang.cli import train as train_cmd
from synthlang.common.errors import DataError, SynthlangError
from tests.vnet.helpers import write_model_checkpoint
from vnet.data import write_toy_dataset
from vnet.train import load_checkpoint


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthlang")
    sub = parser.add_subparsers(dest="command")
    train_cmd.add_parser(sub)
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(["train", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "d", 6, size=40, seed=2)


def test_help_mentions_the_essentials(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for word in ("--data", "--preset", "--resume", "--model", "Eq. (3)", "--device", "--n"):
        assert word in text


def test_train_folder_resume_and_refusals(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ("--data", str(toy), "--out", str(run), "--preset", "smoke", "-q")
    assert _run(*argv, "--predict-normalize", "haematoxylin") == 0
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["step"] == 4 and ckpt["source"]["kind"] == "folder"
    assert ckpt["source"]["normalize"] == "haematoxylin"  # predict's default for this model
    stats = ckpt["source"]["color_stats"]  # colours of the first training inputs
    assert stats["n_images"] == 4 and len(stats["reinhard"]["lab_mean"]) == 3
    assert "haematoxylin_level" in stats  # None for inputs without a stain estimate
    assert ckpt["train_config"]["n_samples"] == 4  # preset's n, within the 6 samples
    assert (run / "curves.png").exists() and (run / "metrics.jsonl").exists()
    with pytest.raises(DataError, match="--resume"):
        _run("--data", str(toy), "--out", str(run), "--preset", "smoke", "-q")
    assert _run("--data", str(toy), "--out", str(run), "--resume", "--iterations", "6") == 0
    assert load_checkpoint(run / "model.pt")["step"] == 6
    assert load_checkpoint(run / "model.pt")["source"]["color_stats"] == stats
    assert load_checkpoint(run / "model.pt")["source"]["normalize"] == "haematoxylin"  # kept
    assert "6 iterations" in capsys.readouterr().out
    with pytest.raises(SynthlangError, match="--lr"):
        _run("--data", str(toy), "--out", str(run), "--resume", "--lr", "0.1")
    assert (
        _run(
            "--data",
            str(toy),
            "--out",
            str(run),
            "--preset",
            "smoke",
            "--overwrite",
            "--model",
            "unet",
            "--iterations",
            "2",
            "--n",
            "6",
            "-q",
        )
        == 0
    )
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["model_kind"] == "unet" and ckpt["train_config"]["n_samples"] == 6


def test_user_errors(toy: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "r")
    with pytest.raises(DataError, match="exactly one"):
        _run("--out", out)
    with pytest.raises(DataError, match="no such dataset"):
        _run("--data", str(tmp_path / "none"), "--out", out)
    with pytest.raises(DataError, match="only 6"):
        _run("--data", str(toy), "--out", out, "--n", "7")
    with pytest.raises(DataError, match="--endless"):
        _run("--data", str(toy), "--out", out, "--endless")
    with pytest.raises(DataError, match="--steps"):
        _run("--data", str(toy), "--out", out, "--model", "unet", "--steps", "3")
    with pytest.raises(DataError, match="no such scene"):
        _run(str(tmp_path / "none.scene"), "--out", out)
    with pytest.raises(DataError, match="crop"):
        _run("--data", str(toy), "--out", out, "--preset", "smoke", "--crop", "64", "-q")
    with pytest.raises(DataError, match="minimum"):
        _run("--data", str(toy), "--out", out, "--preset", "smoke", "--crop", "1", "-q")
    with pytest.raises(SynthlangError, match="checkpoint"):
        _run("--data", str(toy), "--out", str(tmp_path / "fresh"), "--resume")


class _FakeSample:
    def __init__(self, seed: np.random.SeedSequence) -> None:
        value = float(np.random.default_rng(seed).uniform())
        self.noisy = np.full((8, 8, 3), value, np.float32)
        self.clean = np.zeros((8, 8, 3), np.float32)
        self.mask = np.ones((8, 8), np.float32)


def test_scene_source_is_picklable_and_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    import synthlang

    seen: list[tuple[int, ...]] = []

    def fake_render(scene: object, seed: np.random.SeedSequence) -> _FakeSample:
        seen.append(tuple(seed.entropy))
        return _FakeSample(seed)

    monkeypatch.setattr(synthlang, "render", fake_render, raising=False)
    source = pickle.loads(pickle.dumps(train_cmd.SceneSource({"name": "s"}, 7)))
    a = source(3)
    b = source(3)
    assert seen == [(7, 3), (7, 3)]
    assert np.array_equal(a[0], b[0]) and a[0].shape == (8, 8, 3) and a[2].shape == (8, 8)


def test_train_from_scene(tiny_scene_file: Path, tmp_path: Path) -> None:
    """On-the-fly rendering from a scene file (the tiny 48 x 64 test scene)."""
    run = tmp_path / "run"
    code = _run(
        str(tiny_scene_file),
        "--out",
        str(run),
        "--preset",
        "smoke",
        "--n",
        "2",
        "--workers",
        "0",
        "--iterations",
        "2",
        "-q",
    )
    assert code == 0
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["source"]["kind"] == "scene" and ckpt["source"]["scene"] == "tiny"
    assert len(ckpt["source"]["hash"]) == 64
    assert ckpt["source"]["color_stats"]["n_images"] == 2
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["n_samples"] == 2


def test_threads_option(toy: Path, tmp_path: Path) -> None:
    import torch

    old = torch.get_num_threads()
    try:
        assert (
            _run(
                "--data",
                str(toy),
                "--out",
                str(tmp_path / "r"),
                "--preset",
                "smoke",
                "--iterations",
                "1",
                "--threads",
                "1",
                "-q",
            )
            == 0
        )
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(old)


def test_add_color_stats(tiny_scene_file: Path, tmp_path: Path) -> None:
    """Statistics rendered from a scene are added to a checkpoint that has none."""
    from vnet import CoupledVN, VNConfig
    from vnet.checkpoint import color_stats

    cfg = VNConfig(steps=1, n_fu=2, k_u=3, n_fm=1, k_m=3, n_f=2, k=3)
    old = tmp_path / "old.pt"
    net = CoupledVN(cfg)
    weights = net.state_dict()
    write_model_checkpoint(old, net, source={"kind": "folder", "hash": "x"})
    assert color_stats(load_checkpoint(old), old) is None
    new = tmp_path / "new.pt"
    stats = train_cmd.add_color_stats(old, tiny_scene_file, new, n=2, seed=1)
    ckpt = load_checkpoint(new)
    assert ckpt["source"]["color_stats"] == stats.to_dict()
    assert color_stats(ckpt, new) is not None
    assert stats.n_images == 2 and ckpt["source"]["hash"] == "x"
    assert "seed 1" in stats.origin
    for key, value in weights.items():
        assert ckpt["model_state"][key].equal(value)
    with pytest.raises(DataError, match="no such scene"):
        train_cmd.add_color_stats(old, tmp_path / "none.scene", new)


CLASS_SCENE = """
scene twoclass { size 40 x 40 }
layer bg { fill color rgb(0.9, 0.85, 0.88) }
layer red { ellipse(semi_axes [4, 4]) place count 4 color rgb(0.7, 0.2, 0.3) }
layer green { ellipse(semi_axes [3, 3]) place count 4 color rgb(0.3, 0.6, 0.35) }
mask classes {
  tumor: red
  immune: green
}
"""


def test_train_picks_k_from_the_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder whose manifest names classes and a scene with mask classes: K channels."""
    data = write_toy_dataset(tmp_path / "d", 4, size=32, seed=1, classes=True)
    run = tmp_path / "run"
    assert _run("--data", str(data), "--out", str(run), "--preset", "smoke", "--model", "unet") == 0
    assert "classes (one mask channel each): target, other" in capsys.readouterr().out
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["classes"] == ["target", "other"]
    assert ckpt["model_config"]["mask_channels"] == 2
    assert ckpt["train_config"]["unet"]["mask_channels"] == 2
    assert _run("--data", str(data), "--out", str(run), "--resume", "--iterations", "6", "-q") == 0

    scene = tmp_path / "two.scene"
    scene.write_text(CLASS_SCENE, encoding="utf-8")
    argv = ("--out", str(tmp_path / "s"), "--preset", "smoke", "--workers", "0", "-q")
    assert _run(str(scene), *argv, "--n", "2", "--iterations", "2") == 0
    ckpt = load_checkpoint(tmp_path / "s" / "model.pt")
    assert ckpt["classes"] == ["tumor", "immune"] and ckpt["source"]["classes"] == ckpt["classes"]
    assert ckpt["model_state"]["blocks.0.km"].shape[:2] == (2, 2)


def test_init_starts_a_new_run_from_a_checkpoints_weights(toy: Path, tmp_path: Path) -> None:
    import torch

    base = tmp_path / "base"
    assert _run("--data", str(toy), "--out", str(base), "--preset", "smoke", "--lr", "0.05",
                "--iterations", "6", "-q") == 0  # fmt: skip
    start = tmp_path / "start"
    # the network comes from the checkpoint, whatever the preset says; Adam starts afresh
    assert _run("--data", str(toy), "--out", str(start), "--init", str(base / "model.pt"),
                "--preset", "default", "--iterations", "0", "-q") == 0  # fmt: skip
    a, b = load_checkpoint(base / "model.pt"), load_checkpoint(start / "model.pt")
    assert b["step"] == 0 and b["model_config"] == a["model_config"]
    assert all(torch.equal(a["model_state"][k], v) for k, v in b["model_state"].items())
    assert b["source"]["init"]["path"] == str(base / "model.pt")
    assert len(b["source"]["init"]["sha256"]) == 64
    tuned = tmp_path / "tuned"
    assert _run("--data", str(toy), "--out", str(tuned), "--init", str(base / "model.pt"),
                "--preset", "smoke", "-q") == 0  # fmt: skip
    c = load_checkpoint(tuned / "model.pt")
    assert c["step"] == 4
    assert not all(torch.equal(a["model_state"][k], v) for k, v in c["model_state"].items())


def test_init_refusals(toy: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    assert _run("--data", str(toy), "--out", str(base), "--preset", "smoke", "-q") == 0
    init = ("--init", str(base / "model.pt"))
    with pytest.raises(DataError, match="is a vn network, but --model is unet"):
        _run("--data", str(toy), "--out", str(tmp_path / "u"), *init, "--model", "unet")
    with pytest.raises(DataError, match="--resume continues"):
        _run("--data", str(toy), "--out", str(base), *init, "--resume")
    with pytest.raises(DataError, match="--steps 3, but --init"):
        _run("--data", str(toy), "--out", str(tmp_path / "s"), *init, "--steps", "3")
    with pytest.raises(DataError, match="no such checkpoint"):
        _run("--data", str(toy), "--out", str(tmp_path / "x"), "--init", str(tmp_path / "no.pt"))


def test_loss_weights_are_stored_and_checked(toy: Path, tmp_path: Path) -> None:
    run = tmp_path / "lw"
    assert _run("--data", str(toy), "--out", str(run), "--preset", "smoke",
                "--loss-weights", "20", "0.5", "-q") == 0  # fmt: skip
    assert load_checkpoint(run / "model.pt")["train_config"]["loss_weights"] == [20.0, 0.5]
    with pytest.raises(SynthlangError, match="--loss-weights"):
        _run("--data", str(toy), "--out", str(run), "--resume", "--loss-weights", "1", "1")
    for bad in (("-1", "0.5"), ("0", "0"), ("inf", "1")):
        with pytest.raises(DataError, match="finite numbers >= 0"):
            _run("--data", str(toy), "--out", str(tmp_path / "x"), "--loss-weights", *bad)


def test_mask_loss_is_stored_and_checked(toy: Path, tmp_path: Path) -> None:
    run = tmp_path / "bce"
    assert _run("--data", str(toy), "--out", str(run), "--preset", "smoke", "--iterations", "3",
                "--mask-loss", "bce", "-q") == 0  # fmt: skip
    assert load_checkpoint(run / "model.pt")["train_config"]["mask_loss"] == "bce"
    assert _run("--data", str(toy), "--out", str(run), "--resume", "--preset", "smoke",
                "--iterations", "4", "--mask-loss", "bce", "-q") == 0  # fmt: skip
    with pytest.raises(SynthlangError, match="--mask-loss cannot be changed.*another mask_loss"):
        _run("--data", str(toy), "--out", str(run), "--resume", "--preset", "smoke",
             "--mask-loss", "l2")  # fmt: skip
    plain = tmp_path / "l2"
    assert _run("--data", str(toy), "--out", str(plain), "--preset", "smoke", "-q") == 0
    assert "mask_loss" not in load_checkpoint(plain / "model.pt")["train_config"]


def test_lr_schedule_is_stored_and_checked(toy: Path, tmp_path: Path) -> None:
    run = tmp_path / "cos"
    assert _run("--data", str(toy), "--out", str(run), "--preset", "smoke", "--iterations", "3",
                "--lr-schedule", "cosine", "-q") == 0  # fmt: skip
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["train_config"]["lr_schedule"] == "cosine"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["lr"] == pytest.approx(ckpt["train_config"]["lr"] / 100)
    with pytest.raises(SynthlangError, match="--lr-schedule"):
        _run("--data", str(toy), "--out", str(run), "--resume", "--iterations", "4",
             "--lr-schedule", "constant")  # fmt: skip
    # the constant default is not written: configurations from before the option are equal
    _run("--data", str(toy), "--out", str(tmp_path / "c"), "--preset", "smoke", "-q")
    assert "lr_schedule" not in load_checkpoint(tmp_path / "c" / "model.pt")["train_config"]


@pytest.mark.parametrize("name", ["tta", "fill_holes", "whole_nuclei", "neighbour_nuclei"])
def test_predict_flag_is_stored_and_kept_on_resume(toy: Path, tmp_path: Path, name: str) -> None:
    """--predict-tta / -fill-holes / -whole-nuclei / -neighbour-nuclei store ``source.NAME``."""
    from vnet import checkpoint as vc

    flag = f"--predict-{name.replace('_', '-')}"
    other = {
        "tta": "fill_holes",
        "fill_holes": "whole_nuclei",
        "whole_nuclei": "neighbour_nuclei",
        "neighbour_nuclei": "tta",
    }
    read = {
        "tta": vc.default_tta,
        "fill_holes": vc.default_fill_holes,
        "whole_nuclei": vc.default_whole_nuclei,
        "neighbour_nuclei": vc.default_neighbour_nuclei,
    }[name]
    run = tmp_path / "run"
    argv = ("--data", str(toy), "--out", str(run), "--preset", "smoke", "-q")
    assert _run(*argv) == 0
    assert name not in load_checkpoint(run / "model.pt")["source"]  # predict's own default
    assert _run(*argv, "--overwrite", flag) == 0
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["source"][name] is True and read(ckpt, run / "model.pt") is True
    assert other[name] not in ckpt["source"]  # the other default is not set with it
    assert _run("--data", str(toy), "--out", str(run), "--resume", "--iterations", "5", "-q") == 0
    assert load_checkpoint(run / "model.pt")["source"][name] is True  # kept
    resume = ("--data", str(toy), "--out", str(run), "--resume", "--iterations", "6", "-q")
    assert _run(*resume, flag.replace("--", "--no-", 1)) == 0
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["step"] == 6 and ckpt["source"][name] is False
    # an already trained checkpoint: the weights are kept, the default changes
    train_cmd.set_predict_flag(run / "model.pt", name, True, tmp_path / "set.pt")
    updated = load_checkpoint(tmp_path / "set.pt")
    assert updated["source"][name] is True
    assert all(torch.equal(updated["model_state"][k], v) for k, v in ckpt["model_state"].items())


def test_predict_scales_are_stored_and_kept_on_resume(toy: Path, tmp_path: Path) -> None:
    from vnet.checkpoint import default_scales

    run = tmp_path / "run"
    argv = ("--data", str(toy), "--out", str(run), "--preset", "smoke", "-q")
    assert _run(*argv) == 0
    assert "scales" not in load_checkpoint(run / "model.pt")["source"]
    assert _run(*argv, "--overwrite", "--predict-scales", "1", "0.9") == 0
    ckpt = load_checkpoint(run / "model.pt")
    assert ckpt["source"]["scales"] == [1.0, 0.9]
    assert default_scales(ckpt, run / "model.pt") == (1.0, 0.9)
    resume = ("--data", str(toy), "--out", str(run), "--resume", "-q")
    assert _run(*resume, "--iterations", "5") == 0
    assert load_checkpoint(run / "model.pt")["source"]["scales"] == [1.0, 0.9]  # kept
    assert _run(*resume, "--iterations", "6", "--predict-scales", "1") == 0
    assert load_checkpoint(run / "model.pt")["source"]["scales"] == [1.0]
    with pytest.raises(DataError, match="--predict-scales: scale 0.1 is outside"):
        _run(*argv, "--overwrite", "--predict-scales", "1", "0.1")


def test_init_keeps_the_checkpoints_predict_choices(toy: Path, tmp_path: Path) -> None:
    """A fine-tune predicts like the model it started from unless a flag says otherwise."""
    base = tmp_path / "base"
    assert _run("--data", str(toy), "--out", str(base), "--preset", "smoke", "--predict-tta",
                "--predict-fill-holes", "--predict-normalize", "none", "--predict-scales", "1",
                "0.9", "-q") == 0  # fmt: skip
    init = ("--data", str(toy), "--preset", "smoke", "--init", str(base / "model.pt"), "-q")
    assert _run(*init, "--out", str(tmp_path / "ft")) == 0
    source = load_checkpoint(tmp_path / "ft" / "model.pt")["source"]
    assert (source["tta"], source["fill_holes"], source["normalize"]) == (True, True, "none")
    assert source["scales"] == [1.0, 0.9] and "whole_nuclei" not in source
    assert source["color_stats"] is not None  # of this run's data
    assert _run(*init, "--out", str(tmp_path / "ft2"), "--no-predict-tta", "--predict-scales",
                "1") == 0  # fmt: skip
    source = load_checkpoint(tmp_path / "ft2" / "model.pt")["source"]
    assert (source["tta"], source["fill_holes"], source["scales"]) == (False, True, [1.0])


def test_unet_architecture_flags(toy: Path, tmp_path: Path) -> None:
    from vnet.errors import ConfigError

    run = tmp_path / "deep"
    flags = ("--data", str(toy), "--out", str(run), "--preset", "smoke", "--model", "unet")
    assert _run(*flags, "--unet-scales", "2", "--unet-channels", "4", "-q") == 0
    ckpt = load_checkpoint(run / "model.pt")
    assert (ckpt["model_config"]["scales"], ckpt["model_config"]["channels"]) == (2, 4)
    convs = [k for k in ckpt["model_state"] if k.startswith("down.") and k.endswith(".0.weight")]
    assert len(convs) == 2 and ckpt["model_state"]["down.0.0.weight"].shape[0] == 4
    # the same command plus --resume continues; another value is refused
    assert _run(*flags, "--unet-scales", "2", "--unet-channels", "4", "--resume",
                "--iterations", "5", "-q") == 0  # fmt: skip
    assert load_checkpoint(run / "model.pt")["step"] == 5
    with pytest.raises(SynthlangError, match="--unet-channels cannot be changed"):
        _run(*flags, "--unet-scales", "2", "--unet-channels", "8", "--resume")
    # fine-tuning keeps the checkpoint's network
    with pytest.raises(DataError, match="--unet-scales 3, but --init .* has 2 scales"):
        _run("--data", str(toy), "--out", str(tmp_path / "i"), "--init", str(run / "model.pt"),
             "--unet-scales", "3")  # fmt: skip
    with pytest.raises(DataError, match="U-Net only"):
        _run("--data", str(toy), "--out", str(tmp_path / "v"), "--unet-scales", "4")
    with pytest.raises(ConfigError, match="scales"):
        _run("--data", str(toy), "--out", str(tmp_path / "x"), "--model", "unet",
             "--unet-scales", "17")  # fmt: skip
