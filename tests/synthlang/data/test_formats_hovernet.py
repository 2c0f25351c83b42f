"""The HoVer-Net export: (H, W, 5) int32, RGB + instance map + type map, equal to the PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang.data.formats.hovernet import HOVERNET_DTYPE, hovernet_array, npy_bytes


@pytest.mark.parametrize("index", range(4))
def test_channels_equal_the_pngs(classes_dataset: Path, index: int) -> None:
    name = f"{index:06d}"
    data = np.load(classes_dataset / "hovernet" / f"{name}.npy", allow_pickle=False)
    assert data.shape == (64, 80, 5) and data.dtype == np.int32 == HOVERNET_DTYPE
    noisy = np.array(Image.open(classes_dataset / "noisy" / f"{name}.png"))
    inst = np.array(Image.open(classes_dataset / "instances" / f"{name}.png"))
    labels = np.array(Image.open(classes_dataset / "labels" / f"{name}.png"))
    # what HoVer-Net's training loader does with such a file
    img, ann = data[..., :3].astype("uint8"), data[..., 3:].astype("int32")
    assert np.array_equal(img, noisy)
    assert np.array_equal(ann[..., 0], inst) and np.array_equal(ann[..., 1], labels)
    assert ann[..., 0].max() > 0 and set(np.unique(ann[..., 1])) <= {0, 1, 2, 3}


def test_hovernet_array_checks_its_inputs() -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    ids = np.zeros((2, 3), np.int32)
    assert hovernet_array(rgb, ids, ids).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="uint8"):
        hovernet_array(rgb.astype(np.float32), ids, ids)
    with pytest.raises(ValueError, match="sizes differ"):
        hovernet_array(rgb, ids[:1], ids)
    a = hovernet_array(rgb, ids + 70000, ids)  # ids beyond 16 bits survive
    assert int(a[0, 0, 3]) == 70000
    assert npy_bytes(a) == npy_bytes(a.copy()) and npy_bytes(a).startswith(b"\x93NUMPY")
