"""The pretrained models in ``models/`` load safely and run through ``synthlang predict``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthlang.cli.main import main
from synthlang.colornorm import ColorStats

MODELS = Path(__file__).resolve().parents[1] / "models"
SHIPPED = [MODELS / f"scenario{k}.pt" for k in (1, 2, 3)] + [
    MODELS / "he_tumor_nuclei.pt",
    MODELS / "he_tumor_nuclei_vn.pt",
    MODELS / "he_nuclei_classes_vn.pt",
]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_checkpoint_is_small_safe_and_complete(path: Path) -> None:
    assert path.is_file(), f"{path} is missing (experiments/shipped_models.py --stage export)"
    assert path.stat().st_size < 4 * 2**20
    ckpt = torch.load(path, weights_only=True)  # no pickled code
    # the tumour-nucleus model is the U-Net: it is ahead of the VN (models/he_tumor_nuclei.md)
    assert ckpt["model_kind"] == ("unet" if path.stem == "he_tumor_nuclei" else "vn")
    assert "optimizer_state" not in ckpt
    n_params = sum(v.numel() for v in ckpt["model_state"].values())
    assert 10_000 < n_params < 1_000_000
    assert (MODELS / f"{path.stem}.md").is_file(), "every shipped model has a model card"


def test_tumor_nucleus_model_stores_its_input_handling() -> None:
    """Predict needs no option: the checkpoint names its normalisation and training colours."""
    path = MODELS / "he_tumor_nuclei.pt"
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["source"]["normalize"] == "haematoxylin"  # measured best on the fit splits
    stats = ColorStats.from_dict(ckpt["source"]["color_stats"])
    assert stats.haematoxylin_level is not None and stats.n_images == 32
    # filled regions, whole and neighbour nuclei: each measured better on the fit splits
    assert ckpt["source"]["fill_holes"] is True and ckpt["source"]["whole_nuclei"] is True
    assert ckpt["source"]["neighbour_nuclei"] is True


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_model_predicts_odd_sized_image(path: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = (rng.random((37, 53, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "slide.png")
    out = tmp_path / "pred"
    assert main(["predict", str(path), str(tmp_path / "slide.png"), "--out", str(out), "-q"]) == 0
    for suffix in ("mask", "prob", "denoised", "overlay"):
        with Image.open(out / f"slide_{suffix}.png") as written:
            assert written.size == (53, 37)
    with Image.open(out / "slide_mask.png") as img:
        mask = np.asarray(img)
    assert set(np.unique(mask)) <= {0, 255}
