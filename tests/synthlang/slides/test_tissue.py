from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthlang.slides.reader import Slide, open_slide
from synthlang.slides.tissue import thumbnail, tissue_mask
from tests.synthlang.slides.helpers import BACKGROUND, TISSUE, tissue_slide, write_tiff


def test_blob_on_white_background(tmp_path: Path) -> None:
    img = tissue_slide(320, 400)
    truth = (img == TISSUE).all(axis=-1)
    img[truth & (np.arange(400)[None, :] % 37 == 5)] = (200, 120, 190)  # texture
    img[10:12, 380:382] = TISSUE  # a speck on the glass
    img[150:153, 120:123] = BACKGROUND  # a small hole in the tissue
    path = write_tiff(tmp_path / "blob.tif", img, mpp=0.5, levels=3)
    with open_slide(path) as s:
        t = tissue_mask(s, mpp=2.0, min_tissue_um2=200, max_hole_um2=200)
    assert t.scale == pytest.approx(4.0) and t.mpp == pytest.approx(2.0)
    assert t.mask.shape == (80, 100)
    coarse = truth.reshape(80, 4, 100, 4).mean(axis=(1, 3)) > 0.5
    iou = (t.mask & coarse).sum() / (t.mask | coarse).sum()
    assert iou > 0.95
    assert not t.mask[:5, 90:].any()  # speck removed
    assert t.mask[37:39, 30:31].all()  # hole filled
    expected = truth.sum() * 0.5**2 / 1e6
    assert t.area_mm2() == pytest.approx(expected, rel=0.05)
    # region restriction and box queries
    assert t.area_mm2((0, 0, 200, 320)) < t.area_mm2()
    assert t.touches(100, 100, 110, 110) and not t.touches(380, 0, 400, 20)


def test_white_glass_has_no_tissue() -> None:
    img = np.empty((64, 64, 3), np.uint8)
    img[:] = BACKGROUND
    t = tissue_mask(Slide.from_array(img, mpp=1.0))
    assert not t.mask.any() and t.area_mm2() == 0.0


def test_gray_channel_and_thumbnail_scale() -> None:
    img = tissue_slide(64, 96)
    s = Slide.from_array(img, mpp=0.5)
    thumb, scale = thumbnail(s, 2.0)
    assert scale == 4.0 and thumb.shape == (16, 24, 3)
    t = tissue_mask(s, mpp=1.0, channel="gray", min_tissue_um2=4, max_hole_um2=4)
    assert t.mask.any() and not t.mask[:, -2:].any()
    with pytest.raises(ValueError):
        tissue_mask(s, channel="hue")
