"""Checkpoints of networks with K mask channels: classes stored, validated and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from synthlang.common.errors import DataError
from vnet.checkpoint import load_checkpoint, save_checkpoint, stored_classes
from vnet.config import BINARY_CLASS, TrainConfig, UNetConfig, VNConfig
from vnet.data import TOY_CLASSES, FolderSource, write_toy_dataset
from vnet.errors import ConfigError
from vnet.networks import build_model
from vnet.predict import load_model
from vnet.train import train

TINY = VNConfig(steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3, seed=1)


@pytest.fixture(scope="module")
def classes_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-sample format-2 toy folder with two classes."""
    return write_toy_dataset(
        tmp_path_factory.mktemp("toy2") / "d", 4, size=32, seed=1, classes=True
    )


def _config(k: int, model: str = "vn") -> TrainConfig:
    return TrainConfig(
        model=model,  # type: ignore[arg-type]
        vn=TINY.replace(mask_channels=k),
        unet=UNetConfig(channels=4, mask_channels=k),
        iterations=2,
        batch_size=2,
        crop=24,
        lr=1e-3,
        n_samples=4,
        checkpoint_every=2,
    )


@pytest.mark.parametrize("model", ["vn", "unet"])
def test_round_trip_with_classes(classes_dataset: Path, tmp_path: Path, model: str) -> None:
    src = FolderSource(classes_dataset)
    assert src.classes == TOY_CLASSES and src(0)[2].shape == (32, 32, 2)
    train(_config(2, model), src, tmp_path, source_info=src.info(), progress=False)
    ckpt = load_checkpoint(tmp_path / "model.pt")
    assert ckpt["classes"] == list(TOY_CLASSES)
    assert ckpt["model_config"]["mask_channels"] == 2
    assert stored_classes(ckpt, tmp_path / "model.pt") == TOY_CLASSES
    net, _ = load_model(tmp_path / "model.pt")
    with torch.no_grad():
        _, m = net(torch.rand(1, 3, 24, 24))
    assert m.shape == (1, 2, 24, 24)
    # resuming with other class names is refused
    with pytest.raises(DataError, match="classes"):
        train(
            _config(2, model).replace(iterations=4),
            src,
            tmp_path,
            source_info=src.info(),
            resume=True,
            progress=False,
            classes=["red", "green"],
        )


def test_binary_run_names_its_class(toy_dataset: Path, tmp_path: Path) -> None:
    src = FolderSource(toy_dataset)
    assert src.classes == () and src(0)[2].shape == (48, 48)
    train(_config(1), src, tmp_path, source_info=src.info(), progress=False)
    ckpt = load_checkpoint(tmp_path / "model.pt")
    assert ckpt["classes"] == [BINARY_CLASS] and "mask_channels" not in ckpt["model_config"]


def test_data_and_network_must_agree(classes_dataset: Path, tmp_path: Path) -> None:
    src = FolderSource(classes_dataset)
    with pytest.raises(DataError, match="2 channels .* 1 mask channels"):
        train(_config(1), src, tmp_path / "a", source_info=src.info(), progress=False, classes=[])
    with pytest.raises(ConfigError, match="names 2 classes for a network with 3"):
        train(_config(3), src, tmp_path / "b", source_info=src.info(), progress=False)


def _payload(k: int, **extra: Any) -> dict[str, Any]:
    cfg = TINY.replace(mask_channels=k)
    return {
        "format": "vnet-checkpoint",
        "version": 1,
        "model_kind": "vn",
        "model_config": cfg.model_dump(mode="json"),
        "model_state": build_model("vn", cfg).state_dict(),
        **extra,
    }


@pytest.mark.parametrize(
    ("k", "classes", "message"),
    [
        (3, None, "must name its 'classes'"),
        (3, ["a", "b"], "names 2 classes for a network with 3"),
        (2, ["a", "a"], "names a class twice"),
        (2, ["a", 7], r"classes\[1\] is invalid"),
        (2, "ab", "must be a list of names"),
        (2, ["a", "b\n"], "printable"),
        (1, ["x" * 65], "at most 64 characters"),
    ],
)
def test_invalid_classes_are_refused(tmp_path: Path, k: int, classes: object, message: str) -> None:
    extra = {} if classes is None else {"classes": classes}
    save_checkpoint(tmp_path / "m.pt", _payload(k, **extra))
    with pytest.raises(DataError, match=message):
        load_checkpoint(tmp_path / "m.pt")


def test_old_binary_checkpoint_has_the_binary_class(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "old.pt", _payload(1))  # written before classes existed
    ckpt = load_checkpoint(tmp_path / "old.pt")
    assert stored_classes(ckpt, tmp_path / "old.pt") == (BINARY_CLASS,)
    save_checkpoint(tmp_path / "k3.pt", _payload(3, classes=["a", "b", "c"]))
    net, ckpt = load_model(tmp_path / "k3.pt")
    assert tuple(net.state_dict()["blocks.0.km"].shape) == (2, 3, 3, 3)
    assert np.array_equal(np.array(ckpt["classes"]), np.array(["a", "b", "c"]))


@pytest.mark.parametrize("stored", [True, False])
def test_default_tta_is_read_from_the_source(tmp_path: Path, stored: bool) -> None:
    from vnet.checkpoint import default_tta

    save_checkpoint(tmp_path / "m.pt", _payload(1, source={"kind": "folder", "tta": stored}))
    assert default_tta(load_checkpoint(tmp_path / "m.pt"), tmp_path / "m.pt") is stored
    save_checkpoint(tmp_path / "old.pt", _payload(1, source={"kind": "folder"}))
    assert default_tta(load_checkpoint(tmp_path / "old.pt"), tmp_path / "old.pt") is None
    assert default_tta({}, "x.pt") is None


@pytest.mark.parametrize("bad", ["yes", 1, 0.0, [True]])
def test_a_stored_tta_that_is_not_a_bool_is_refused(tmp_path: Path, bad: object) -> None:
    save_checkpoint(tmp_path / "m.pt", _payload(1, source={"tta": bad}))
    with pytest.raises(DataError, match=r"m\.pt: source\.tta must be true or false, got"):
        load_checkpoint(tmp_path / "m.pt")
