"""Prediction on images of any size, tiling, output files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthlang.errors import DataError
from vnet import CoupledVN, UNet, UNetConfig, VNConfig
from vnet.predict import PredictOptions, overlay, predict_array, predict_files, tile_starts
from vnet.train import save_checkpoint

SMALL = VNConfig(steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3, seed=2)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (h, w, 3)).astype(np.float32)


def _load(path: Path) -> tuple[str, tuple[int, int], np.ndarray]:
    with Image.open(path) as im:
        return im.mode, im.size, np.asarray(im)


def _checkpoint(path: Path, kind: str = "vn") -> Path:
    model = CoupledVN(SMALL) if kind == "vn" else UNet(UNetConfig(channels=8))
    cfg = SMALL if kind == "vn" else UNetConfig(channels=8)
    save_checkpoint(
        path,
        {
            "format": "vnet-checkpoint",
            "version": 1,
            "model_kind": kind,
            "model_config": cfg.to_dict(),
            "model_state": model.state_dict(),
        },
    )
    return path


@pytest.mark.parametrize("size", [(37, 53), (3, 4), (1, 1)])
@pytest.mark.parametrize("kind", ["vn", "unet"])
def test_odd_sizes(size: tuple[int, int], kind: str, device: torch.device) -> None:
    model = (CoupledVN(SMALL) if kind == "vn" else UNet(UNetConfig(channels=8))).to(device)
    u, m = predict_array(model, _image(*size), device=device)
    assert u.shape == (*size, 3) and m.shape == size
    assert u.dtype == np.float32 and m.dtype == np.float32
    assert 0 <= u.min() and u.max() <= 1 and 0 <= m.min() and m.max() <= 1


def test_tiles_cover_and_match_whole_image() -> None:
    """With a margin beyond the receptive field, tiling reproduces the whole-image pass."""
    model = CoupledVN(SMALL)  # receptive radius: 2 + 1 + 1 + 2 = 6 pixels
    img = _image(70, 90, 1)
    whole_u, whole_m = predict_array(model, img, tile=512)
    tiled_u, tiled_m = predict_array(model, img, tile=32, overlap=8, margin=8)
    np.testing.assert_allclose(tiled_u, whole_u, atol=1e-5)
    np.testing.assert_allclose(tiled_m, whole_m, atol=1e-5)
    rough_u, _ = predict_array(model, img, tile=32, overlap=8, margin=0)
    assert np.abs(rough_u - whole_u).max() < 0.5  # blended, still sane without margin


def test_tile_starts() -> None:
    assert tile_starts(100, 512, 32) == [0]
    for n, tile, overlap in [(1000, 512, 32), (70, 32, 8), (33, 32, 0)]:
        starts = tile_starts(n, tile, overlap)
        covered = np.zeros(n, bool)
        for s in starts:
            covered[s : s + tile] = True
            assert 0 <= s <= n - tile
        assert covered.all()
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_predict_files(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "model.pt")
    inputs = []
    for name, (h, w) in {"a": (37, 53), "b": (70, 90)}.items():
        p = tmp_path / f"{name}.png"
        Image.fromarray((_image(h, w) * 255).astype(np.uint8)).save(p)
        inputs.append(p)
    out = tmp_path / "pred"
    records = predict_files(ckpt, inputs, out, PredictOptions(tile=32, overlap=8, threshold=0.5))
    assert [r["name"] for r in records] == ["a", "b"]
    for name, (h, w) in {"a": (37, 53), "b": (70, 90)}.items():
        den = _load(out / f"{name}_denoised.png")
        prob = _load(out / f"{name}_prob.png")
        mask = _load(out / f"{name}_mask.png")
        ov = _load(out / f"{name}_overlay.png")
        assert den[1] == prob[1] == mask[1] == ov[1] == (w, h)
        assert den[0] == "RGB" and ov[0] == "RGB" and mask[0] == "L"
        assert prob[0].startswith("I")  # 16 bit
        assert set(np.unique(mask[2]).tolist()) <= {0, 255}
        p = prob[2].astype(np.float64) / 65535
        assert ((p >= 0.5) == (mask[2] == 255)).mean() > 0.999
    # Reinhard normalisation to a reference image runs and changes the colours
    ref = tmp_path / "ref.png"
    Image.fromarray((_image(20, 20, 5) * 128).astype(np.uint8)).save(ref)
    predict_files(ckpt, inputs[:1], tmp_path / "pred_ref", PredictOptions(reference=ref))
    a = _load(out / "a_overlay.png")[2]
    b = _load(tmp_path / "pred_ref" / "a_overlay.png")[2]
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_predict_errors(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "model.pt", "unet")
    img = tmp_path / "x.png"
    Image.fromarray((_image(8, 8) * 255).astype(np.uint8)).save(img)
    (tmp_path / "sub").mkdir()
    Image.fromarray((_image(8, 8) * 255).astype(np.uint8)).save(tmp_path / "sub" / "x.png")
    with pytest.raises(DataError, match="same outputs"):
        predict_files(ckpt, [img, tmp_path / "sub" / "x.png"], tmp_path / "o")
    with pytest.raises(DataError, match="no such image"):
        predict_files(ckpt, [tmp_path / "nope.png"], tmp_path / "o")
    with pytest.raises(DataError, match="checkpoint"):
        predict_files(tmp_path / "missing.pt", [img], tmp_path / "o")
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="checkpoint"):
        predict_files(bogus, [img], tmp_path / "o")
    with pytest.raises(ValueError):
        PredictOptions(tile=32, overlap=32)


def test_overlay() -> None:
    img = np.zeros((5, 5, 3), np.float32)
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    out = overlay(img, mask)
    assert out[2, 2, 0] > 0.4 and out[2, 2, 1] == 0  # tinted red inside
    assert tuple(out[1, 1]) == (1.0, 1.0, 0.0)  # yellow outline
    assert tuple(out[0, 0]) == (0.0, 0.0, 0.0)
