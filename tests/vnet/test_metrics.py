"""Mask and image scores against hand computation; folder evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang.common.errors import DataError
from vnet.metrics import evaluate_folder, format_table, object_scores, pixel_scores, psnr


def test_pixel_scores_by_hand() -> None:
    t = np.zeros((4, 5), bool)
    t[0:2, 0:2] = True  # 4 truth pixels
    p = np.zeros((4, 5), bool)
    p[1:3, 1:3] = True  # 4 predicted, 1 overlapping
    s = pixel_scores(p, t)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (1, 3, 3, 13)
    assert s["accuracy"] == pytest.approx(14 / 20)
    assert s["dice"] == pytest.approx(2 / 8)
    assert s["iou"] == pytest.approx(1 / 7)
    empty = pixel_scores(np.zeros((2, 2), bool), np.zeros((2, 2), bool))
    assert empty["dice"] == empty["iou"] == empty["accuracy"] == 1.0


def test_psnr_by_hand() -> None:
    a = np.zeros((2, 2, 3))
    b = np.full((2, 2, 3), 0.01)
    assert psnr(b, a) == pytest.approx(40.0)
    assert psnr(a, a) == math.inf


def test_object_scores_by_hand() -> None:
    t = np.zeros((10, 12), bool)
    t[0:2, 0:5] = True  # object A: 10 px
    t[5:9, 0:2] = True  # object B: 8 px
    t[6:8, 8:10] = True  # object C: 4 px
    p = np.zeros_like(t)
    p[0:2, 0:3] = True  # 6 of A's 10 -> hit
    p[5:6, 0:2] = True  # 2 of B's 8 -> missed (25 %)
    p[8:10, 6:7] = True  # touches nothing -> false
    s = object_scores(p, t)
    assert (s["truth_objects"], s["hit"], s["pred_objects"], s["false_objects"]) == (3, 1, 3, 1)
    assert s["recall"] == pytest.approx(1 / 3)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 * (2 / 3) * (1 / 3) / (1 / 3 + 2 / 3))
    assert object_scores(p, t, hit_fraction=0.25)["hit"] == 2
    # with instances, touching truth objects stay separate
    inst = np.zeros(t.shape, np.int32)
    inst[0:2, 0:2], inst[0:2, 2:5] = 7, 9  # A split into two instances (4 px and 6 px)
    inst[5:9, 0:2], inst[6:8, 8:10] = 3, 4
    s2 = object_scores(p, t, inst)
    assert (s2["truth_objects"], s2["hit"]) == (4, 1)  # 7: 4/4 hit, 9: 2/6, 3: 2/8, 4: 0/4
    # pixels of an instance outside the truth mask do not count
    inst[9, 11] = 5
    assert object_scores(p, t, inst)["truth_objects"] == 4


def _write_mask(path: Path, mask: np.ndarray) -> None:
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def test_evaluate_plain_mask_folder(tmp_path: Path) -> None:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    t = np.zeros((6, 6), bool)
    t[1:3, 1:3] = True
    p = np.zeros((6, 6), bool)
    p[1:3, 1:2] = True
    _write_mask(pred / "img1_mask.png", p)
    _write_mask(truth / "img1.png", t)
    _write_mask(pred / "img2_mask.png", t)
    _write_mask(truth / "img2_mask.png", t)
    report = evaluate_folder(pred, truth)
    assert [s.name for s in report.images] == ["img1", "img2"]
    assert report.images[0].dice == pytest.approx(2 * 2 / (2 + 4))
    assert report.images[1].dice == 1.0 and report.images[1].psnr is None
    assert report.total["dice"] == pytest.approx(2 * 6 / (6 + 8))  # pooled pixels
    assert report.total["truth_objects"] == 2 and report.total["hit"] == 2
    json.dumps(report.to_dict())
    table = format_table(report)
    assert "img1" in table and "total (2)" in table


def test_evaluate_dataset_folder(tmp_path: Path, toy_dataset: Path) -> None:
    """Predict = truth for two dataset samples: perfect scores, PSNR from clean/."""
    pred = tmp_path / "pred"
    pred.mkdir()
    for name in ("000000", "000001"):
        with Image.open(toy_dataset / "mask" / f"{name}.png") as im:
            im.save(pred / f"{name}_mask.png")
        with Image.open(toy_dataset / "noisy" / f"{name}.png") as im:
            im.save(pred / f"{name}_denoised.png")
    report = evaluate_folder(pred, toy_dataset)
    assert report.total["accuracy"] == 1.0 and report.total["dice"] == 1.0
    assert report.total["recall"] == 1.0 and report.total["false_objects"] == 0
    assert report.total["truth_objects"] > 0
    assert 10 < report.total["psnr"] < 40  # noisy vs clean


def test_evaluate_errors(tmp_path: Path) -> None:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    with pytest.raises(DataError, match="no NAME_mask"):
        evaluate_folder(pred, truth)
    _write_mask(pred / "a_mask.png", np.ones((3, 3), bool))
    _write_mask(truth / "b.png", np.ones((3, 3), bool))
    with pytest.raises(DataError, match="no truth mask.*a.*b"):
        evaluate_folder(pred, truth)
    _write_mask(truth / "a.png", np.ones((4, 3), bool))
    with pytest.raises(DataError, match="differs"):
        evaluate_folder(pred, truth)
    with pytest.raises(DataError, match="no such"):
        evaluate_folder(tmp_path / "nope", truth)
