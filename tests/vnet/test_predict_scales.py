"""Scale test-time augmentation in image prediction (``scales``, ``--scales``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from synthlang.common.errors import DataError
from tests.vnet.helpers import write_model_checkpoint
from vnet import CoupledVN, UNet, UNetConfig, VNConfig
from vnet.predict import PredictOptions, predict_array, predict_files
from vnet.train import save_checkpoint

SMALL = VNConfig(steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3, seed=2)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (h, w, 3)).astype(np.float32)


def _small_net(kind: str, k: int = 1) -> CoupledVN | UNet:
    if kind == "vn":
        return CoupledVN(SMALL.replace(mask_channels=k))
    return UNet(UNetConfig(channels=8, mask_channels=k))


def _checkpoint(path: Path) -> Path:
    return write_model_checkpoint(path, _small_net("vn"))


def _save(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
    return path


class _Rows(torch.nn.Module):
    """``u`` = the input, ``m`` = the patch's number of rows / 100 at every pixel."""

    mask_channels = 1

    def forward(self, u0: torch.Tensor, m0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return u0, torch.full_like(m0, u0.shape[-2] / 100)


def test_scales_average_the_mask_over_resampled_patches() -> None:
    img = _image(40, 30)
    u, m = predict_array(_Rows(), img, scales=(1.0, 0.5))
    np.testing.assert_allclose(m, np.full((40, 30), (0.40 + 0.20) / 2), atol=1e-6)
    np.testing.assert_array_equal(u, img)  # u_T: the pass at the scale 1
    # with TTA on a square image (turned patches have as many rows)
    _, three = predict_array(_Rows(), _image(40, 40), scales=(1.0, 0.5, 1.25), tta=True)
    np.testing.assert_allclose(three, np.full((40, 40), (0.40 + 0.20 + 0.50) / 3), atol=1e-6)
    # tiled: every tile with its margin (16 + 2 * 4 rows inside the image) is resampled
    _, tiled = predict_array(_Rows(), img, tile=16, overlap=0, margin=4, scales=(1.0, 0.5))
    assert tiled.shape == (40, 30) and np.isclose(tiled[20, 15], (0.24 + 0.12) / 2)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("kind", ["vn", "unet"])
def test_scales_run_real_networks(kind: str, k: int) -> None:
    model = _small_net(kind, k)
    img = _image(30, 45, 7)
    u, m = predict_array(model, img)
    u2, m2 = predict_array(model, img, scales=(1.0, 0.9))
    assert m2.shape == m.shape == ((30, 45) if k == 1 else (30, 45, k))
    assert m2.dtype == np.float32 and 0 <= m2.min() <= m2.max() <= 1
    np.testing.assert_array_equal(u2, u)
    assert not np.array_equal(m2, m)
    _, small = predict_array(model, _image(3, 4), scales=(1.0, 0.5))  # below the min size
    assert small.shape[:2] == (3, 4)


def test_checkpoint_chooses_scales_and_options_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``source.scales`` (train --predict-scales) is predict's default; the options win."""
    import json

    import vnet.predict as vp
    from synthlang.cli.train import set_predict_scales

    asked: list[tuple[float, ...]] = []
    real = vp.predict_array

    def spy(model: torch.nn.Module, image: np.ndarray, **kw: Any) -> Any:
        asked.append(tuple(kw["scales"]))
        return real(model, image, **kw)

    monkeypatch.setattr(vp, "predict_array", spy)
    ckpt = _checkpoint(tmp_path / "model.pt")
    img = _save(tmp_path / "a.png", _image(20, 24))

    def run(out: str, **kw: Any) -> tuple[float, ...]:
        (rec,) = predict_files(ckpt, [img], tmp_path / out, PredictOptions(**kw))
        summary = json.loads((tmp_path / out / "predict.json").read_text())
        assert tuple(summary["scales"]) == tuple(rec["scales"]) == asked[-1]
        return asked[-1]

    assert run("o1") == (1.0,)
    assert run("o2", scales=(1, 0.9)) == (1.0, 0.9)
    set_predict_scales(ckpt, [1, 0.8], ckpt)
    assert run("o3") == (1.0, 0.8)
    assert run("o4", scales=(1.0,)) == (1.0,)
    with pytest.raises(DataError, match="--predict-scales: the scales must include 1"):
        set_predict_scales(ckpt, [0.8], ckpt)
    with pytest.raises(ValueError, match="outside"):
        PredictOptions(scales=(1.0, 5.0))


@pytest.mark.parametrize(
    ("stored", "message"),
    [("0.9", "must be a list of numbers, got '0.9'"), ([1.0, 3.0], "scale 3 is outside")],
)
def test_invalid_stored_scales_are_refused(tmp_path: Path, stored: Any, message: str) -> None:
    from vnet.train import load_checkpoint

    ckpt = _checkpoint(tmp_path / "m.pt")
    data = load_checkpoint(ckpt)
    data["source"] = {"kind": "folder", "scales": stored}
    save_checkpoint(ckpt, data)
    img = _save(tmp_path / "a.png", _image(8, 8))
    with pytest.raises(DataError, match=f"source.scales.*{message}"):
        predict_files(ckpt, [img], tmp_path / "o")
