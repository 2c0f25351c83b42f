"""Mask and image scores against hand computation; folder evaluation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang.common.errors import DataError
from vnet.metrics import (
    evaluate_folder,
    format_image_table,
    format_table,
    object_scores,
    pixel_scores,
    psnr,
)


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
    table = format_image_table(report)
    assert "img1" in table and "total (2)" in table
    rows = [line.split()[0] for line in format_table(report).splitlines()[3:]]
    assert rows[0] == "mask" and rows[-1] == "all"  # the one class, then the baseline


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


# ------------------------------------------------------------------ classes


def _square(a: np.ndarray, value: int, r: int, c: int, side: int = 5) -> None:
    a[r : r + side, c : c + side] = value


def _class_dataset(root: Path) -> Path:
    """A format-2 dataset of one 30 x 40 sample: class a has objects 1, 2; class b has 3."""
    for sub in ("labels", "instances", "mask", "clean"):
        (root / sub).mkdir(parents=True)
    inst = np.zeros((30, 40), np.uint16)
    _square(inst, 1, 2, 2)
    _square(inst, 2, 2, 20)
    _square(inst, 3, 20, 10)
    labels = np.select([inst == 3, inst > 0], [2, 1], 0).astype(np.uint8)
    Image.fromarray(labels).save(root / "labels" / "000000.png")
    Image.fromarray(inst).save(root / "instances" / "000000.png")
    _write_mask(root / "mask" / "000000.png", labels > 0)
    manifest = {
        "format": "synthlang-dataset",
        "format_version": 2,
        "n": 1,
        "classes": ["a", "b"],
        "complete": True,
        "samples": [{"index": 0, "name": "000000"}],
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def _prediction(folder: Path, labels: np.ndarray, inst: np.ndarray, classes: list[str]) -> Path:
    folder.mkdir(exist_ok=True)
    Image.fromarray(labels.astype(np.uint8)).save(folder / "000000_labels.png")
    Image.fromarray(inst.astype(np.uint16)).save(folder / "000000_instances.png")
    _write_mask(folder / "000000_mask.png", labels > 0)
    (folder / "predict.json").write_text(json.dumps({"classes": classes}), encoding="utf-8")
    return folder


def _truth_arrays(root: Path) -> tuple[np.ndarray, np.ndarray]:
    with (
        Image.open(root / "labels" / "000000.png") as a,
        Image.open(root / "instances" / "000000.png") as b,
    ):
        return np.asarray(a).astype(np.int64), np.asarray(b).astype(np.int64)


def test_perfect_prediction_per_class(tmp_path: Path) -> None:
    truth = _class_dataset(tmp_path / "truth")
    labels, inst = _truth_arrays(truth)
    report = evaluate_folder(_prediction(tmp_path / "pred", labels, inst, ["a", "b"]), truth)
    assert list(report.classes) == ["a", "b"]
    for scores in report.classes.values():
        for key in ("dice", "iou", "precision", "recall", "f1", "pq", "sq", "rq", "aji"):
            assert scores[key] == 1.0, key
    assert report.classes["a"]["truth_objects"] == 2 and report.classes["b"]["tp"] == 1
    base = report.baseline
    assert base["dice"] == 0.0 and base["precision"] is None and base["recall"] == 0.0
    assert base["truth_objects"] == 3 and base["pq"] == 0.0 and base["aji"] == 0.0
    # the same classes in another order in the prediction: matched by name
    swapped = np.select([labels == 1, labels == 2], [2, 1], 0)
    again = evaluate_folder(_prediction(tmp_path / "p2", swapped, inst, ["b", "a"]), truth)
    assert again.classes == report.classes


def test_empty_prediction_has_no_precision(tmp_path: Path) -> None:
    truth = _class_dataset(tmp_path / "truth")
    zeros = np.zeros((30, 40), np.int64)
    report = evaluate_folder(_prediction(tmp_path / "pred", zeros, zeros, ["a", "b"]), truth)
    for scores in report.classes.values():
        assert scores["precision"] is None and scores["recall"] == 0.0 and scores["f1"] == 0.0
        assert scores["pq"] == 0.0 and scores["sq"] is None and scores["aji"] == 0.0
    assert report.total["precision"] is None  # the binary scores say so too
    data = report.to_dict()
    assert data["classes"]["a"]["precision"] is None and data["baseline"]["precision"] is None
    table = format_table(report)
    row = next(line for line in table.splitlines() if line.startswith("a "))
    assert row.split()[6] == "-" and "1.000" not in row  # prec column


def test_one_missed_object_pq_and_aji(tmp_path: Path) -> None:
    truth = _class_dataset(tmp_path / "truth")
    labels, inst = _truth_arrays(truth)
    labels[inst == 2], inst[inst == 2] = 0, 0  # object 2 (class a) is missed
    inst[inst == 3] = 0
    inst[20:25, 10:13] = 7  # object 3 (class b) found as two halves: 15 and 10 px of 25
    inst[20:25, 13:15] = 8
    report = evaluate_folder(_prediction(tmp_path / "pred", labels, inst, ["a", "b"]), truth)
    a, b = report.classes["a"], report.classes["b"]
    assert (a["tp"], a["fp"], a["fn"]) == (1, 0, 1)
    assert a["precision"] == 1.0 and a["recall"] == 0.5 and a["f1"] == pytest.approx(2 / 3)
    assert a["sq"] == 1.0 and a["rq"] == pytest.approx(2 / 3) and a["pq"] == pytest.approx(2 / 3)
    assert a["aji"] == pytest.approx(25 / 50) and a["dice"] == pytest.approx(2 * 25 / 75)
    # b: the larger half matches at IoU 15/25 > 1/2, the other is a false positive
    assert (b["pq"], b["sq"], b["rq"]) == pytest.approx((0.6 * 2 / 3, 0.6, 2 / 3))
    assert b["aji"] == pytest.approx(15 / (25 + 10)) and b["dice"] == 1.0
    assert b["tp"] == 1 and b["fp"] == 1  # centres: the larger half is 1 px away


def test_binary_prediction_scores_all_classes_as_one(tmp_path: Path) -> None:
    truth = _class_dataset(tmp_path / "truth")
    labels, _ = _truth_arrays(truth)
    pred = tmp_path / "pred"
    pred.mkdir()
    _write_mask(pred / "000000_mask.png", labels > 0)  # no class map, no instances
    report = evaluate_folder(pred, truth)
    assert list(report.classes) == ["a+b"]
    scores = report.classes["a+b"]
    assert scores["dice"] == 1.0 and scores["f1"] == 1.0 and scores["pq"] == 1.0


def test_annotation_class_maps_and_class_errors(tmp_path: Path) -> None:
    truth = _class_dataset(tmp_path / "data")
    labels, inst = _truth_arrays(truth)
    ann = tmp_path / "ann"
    ann.mkdir()
    Image.fromarray(labels.astype(np.uint8)).save(ann / "000000_labels.png")
    Image.fromarray(inst.astype(np.uint16)).save(ann / "000000_instances.png")
    pred = _prediction(tmp_path / "pred", labels, inst, ["a", "b"])
    report = evaluate_folder(pred, ann)  # names from the prediction
    assert list(report.classes) == ["a", "b"] and report.classes["b"]["pq"] == 1.0
    named = evaluate_folder(pred, ann, classes=["b", "a"])  # the truth's ids say otherwise
    assert named.classes["a"]["dice"] == 0.0
    (ann / "000000_instances.png").unlink()
    assert evaluate_folder(pred, ann).classes["a"]["pq"] is None  # no true instances
    (pred / "predict.json").write_text(json.dumps({"classes": ["x", "y"]}), encoding="utf-8")
    with pytest.raises(DataError, match="not the true classes"):
        evaluate_folder(pred, truth)
    (pred / "predict.json").unlink()
    labels[0, 0] = 5
    Image.fromarray(labels.astype(np.uint8)).save(pred / "000000_labels.png")
    with pytest.raises(DataError, match="class id 5"):
        evaluate_folder(pred, truth)


def test_unreadable_prediction_summary(tmp_path: Path) -> None:
    truth = _class_dataset(tmp_path / "truth")
    labels, inst = _truth_arrays(truth)
    pred = _prediction(tmp_path / "pred", labels, inst, ["a", "b"])
    (pred / "predict.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="predict.json: not readable JSON"):
        evaluate_folder(pred, truth)
    (pred / "predict.json").write_text(json.dumps({"classes": "a,b"}), encoding="utf-8")
    with pytest.raises(DataError, match="'classes' must be a list"):
        evaluate_folder(pred, truth)
