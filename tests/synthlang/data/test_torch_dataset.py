"""SynthlangDataset: dicts of tensors from a dataset folder (version 1 or 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synthlang.common.errors import DataError
from synthlang.data.sampleio import load_sample
from synthlang.data.torch import OUTPUTS, SynthlangDataset
from tests.synthlang.data.conftest import CLASSES, downgrade_to_v1


def test_items_have_the_documented_shapes_and_dtypes(classes_dataset: Path) -> None:
    ds = SynthlangDataset(classes_dataset, outputs=OUTPUTS)
    assert len(ds) == 4 and ds.classes == CLASSES and ds.num_classes == 4
    item = ds[1]
    assert set(item) == set(OUTPUTS)
    for key in ("noisy", "clean"):
        assert item[key].dtype == torch.float32 and item[key].shape == (3, 64, 80)
        assert 0.0 <= float(item[key].min()) and float(item[key].max()) <= 1.0
    assert item["mask"].dtype == torch.float32 and item["mask"].shape == (64, 80)
    for key in ("labels", "instances", "objects"):
        assert item[key].dtype == torch.int64 and item[key].shape == (64, 80)
    stored = load_sample(classes_dataset, "000001")
    assert np.allclose(item["noisy"].permute(1, 2, 0).numpy(), stored["noisy"])
    assert np.array_equal(item["mask"].numpy(), stored["mask"])
    assert np.array_equal(item["labels"].numpy(), stored["labels"])
    assert np.array_equal(item["instances"].numpy(), stored["label_instances"])
    assert np.array_equal(item["objects"].numpy(), stored["objects"])
    assert set(ds[-1]) == set(ds[0]) == set(OUTPUTS)
    assert "4 samples" in repr(ds)


def test_default_outputs_transform_and_loader(classes_dataset: Path) -> None:
    ds = SynthlangDataset(classes_dataset)
    assert set(ds[0]) == {"noisy", "labels"}

    def flip(item: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.flip(-1) for k, v in item.items()}

    flipped = SynthlangDataset(classes_dataset, transform=flip)
    assert torch.equal(flipped[2]["labels"], ds[2]["labels"].flip(-1))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["noisy"].shape == (3, 3, 64, 80) and batch["labels"].shape == (3, 64, 80)
    single = SynthlangDataset(classes_dataset, outputs="mask")
    assert set(single[0]) == {"mask"}


def test_version_1_folder(classes_dataset: Path, tmp_path: Path) -> None:
    v1 = downgrade_to_v1(classes_dataset, tmp_path / "v1")
    ds = SynthlangDataset(v1, outputs=("labels", "instances", "mask"))
    assert ds.classes == ("mask",) and ds.num_classes == 2
    item = ds[0]
    assert torch.equal(item["labels"], (item["mask"] > 0.5).to(torch.int64))
    assert bool((item["instances"][item["labels"] == 0] == 0).all())


def test_errors(classes_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown outputs \\['rgb'\\]; choose from noisy"):
        SynthlangDataset(classes_dataset, outputs=("noisy", "rgb"))
    with pytest.raises(ValueError, match="none given"):
        SynthlangDataset(classes_dataset, outputs=())
    with pytest.raises(DataError, match="no such dataset folder"):
        SynthlangDataset(tmp_path / "missing")
    with pytest.raises(IndexError):
        SynthlangDataset(classes_dataset)[4]


def test_importing_synthlang_does_not_import_torch() -> None:
    code = "import sys, synthlang, synthlang.data.sampleio; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
