"""``synthlang evaluate`` through its argparse parser (no subprocess)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang.cli import evaluate as evaluate_cmd
from synthlang.common.errors import DataError


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="synthlang")
    sub = parser.add_subparsers(dest="command")
    evaluate_cmd.add_parser(sub)
    args = parser.parse_args(["evaluate", *argv])
    return args.func(args)


def _mask(path: Path, mask: np.ndarray) -> None:
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def test_evaluate_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    t = np.zeros((8, 8), bool)
    t[1:4, 1:4] = True
    t[6:8, 6:8] = True
    p = np.zeros((8, 8), bool)
    p[1:4, 1:3] = True  # 6 of 9 px of the first object -> hit; second object missed
    _mask(pred / "s1_mask.png", p)
    _mask(truth / "s1.png", t)
    out_json = tmp_path / "scores" / "s.json"
    assert _run(str(pred), "--truth", str(truth), "--json", str(out_json)) == 0
    table = capsys.readouterr().out
    assert "dice" in table and "prec" in table and "s1" not in table
    rows = [line.split()[0] for line in table.splitlines() if line and line[0].isalpha()]
    assert rows == ["class", "mask", "all"]  # the header, the one class, the baseline
    assert _run(str(pred), "--truth", str(truth), "--per-image") == 0
    table = capsys.readouterr().out
    assert "s1" in table and "total (1)" in table and "all background" in table
    data = json.loads(out_json.read_text())
    assert data["classes"]["mask"]["recall"] == 0.5 and data["baseline"]["precision"] is None
    tot = data["total"]
    assert tot["dice"] == pytest.approx(2 * 6 / (6 + 13))
    assert (tot["truth_objects"], tot["hit"], tot["false_objects"]) == (2, 1, 0)
    assert tot["psnr"] is None
    assert (
        _run(
            str(pred), "--truth", str(truth), "--hit-fraction", "0.7", "--json", str(out_json), "-q"
        )
        == 0
    )
    assert json.loads(out_json.read_text())["total"]["hit"] == 0
    assert capsys.readouterr().out == ""


def test_evaluate_mismatched_names(tmp_path: Path) -> None:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    _mask(pred / "x_mask.png", np.ones((4, 4), bool))
    _mask(truth / "y.png", np.ones((4, 4), bool))
    with pytest.raises(DataError, match="x.*y"):
        _run(str(pred), "--truth", str(truth))


def test_evaluate_json_to_a_pipe(tmp_path: Path) -> None:
    import os
    import threading

    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    m = np.zeros((8, 8), bool)
    m[2:5, 2:5] = True
    _mask(pred / "s1_mask.png", m)
    _mask(truth / "s1.png", m)
    fifo = tmp_path / "scores.fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    assert _run(str(pred), "--truth", str(truth), "--json", str(fifo), "-q") == 0
    reader.join(timeout=10)
    assert json.loads(got[0])["total"]["dice"] == pytest.approx(1.0)
    assert fifo.exists() and not fifo.is_file()


def test_evaluate_classes_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Class maps against annotation class maps: one row per class, '-' without predictions."""
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    labels = np.zeros((30, 30), np.uint8)
    labels[2:8, 2:8] = 1
    labels[15:21, 15:21] = 2
    Image.fromarray(labels).save(truth / "s1_labels.png")
    predicted = np.where(labels == 1, 1, 0).astype(np.uint8)  # class b is never predicted
    Image.fromarray(predicted).save(pred / "s1_labels.png")
    out_json = tmp_path / "s.json"
    argv = (str(pred), "--truth", str(truth), "--classes", "a,b", "--radius", "3")
    assert _run(*argv, "--json", str(out_json)) == 0
    table = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[3:] if line[0] != "-"}
    assert list(rows) == ["a", "b", "all"]
    assert rows["a"][:7] == ["1.000", "1.000", "1", "1", "1", "1.000", "1.000"]
    assert rows["b"][5] == "-" and rows["b"][6] == "0.000"  # precision, recall
    baseline = rows["all"][1:]  # the row "all background"
    assert baseline[4:7] == ["0", "-", "0.000"]  # tp, precision, recall
    data = json.loads(out_json.read_text())
    assert data["settings"]["radius"] == 3.0 and data["classes"]["b"]["precision"] is None
    assert data["classes"]["a"]["pq"] is None  # no true instances: no PQ
    with pytest.raises(SystemExit):
        _run(str(pred), "--truth", str(truth), "--radius", "0")
    with pytest.raises(DataError, match="twice"):
        _run(str(pred), "--truth", str(truth), "--classes", "a,a")


def test_evaluate_against_qupath_geojson(tmp_path: Path) -> None:
    """Truth exported from QuPath (GeoJSON per image) is rasterised and scored by class."""
    from synthlang.data.formats.geojson import instance_features, write_feature_collection

    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()
    ids = np.zeros((40, 40), np.uint16)
    ids[5:12, 5:12] = 1
    ids[20:30, 22:30] = 2
    labels = np.where(ids == 1, 1, np.where(ids == 2, 2, 0)).astype(np.uint8)
    Image.fromarray(labels).save(pred / "s1_labels.png")
    Image.fromarray(ids).save(pred / "s1_instances.png")
    _mask(pred / "s1_mask.png", labels > 0)
    (pred / "predict.json").write_text(json.dumps({"classes": ["tumor", "til"]}))
    features = instance_features(ids.astype(np.int32), {1: "tumor", 2: "til"})
    write_feature_collection(truth / "s1.geojson", features)
    out_json = tmp_path / "scores.json"
    assert _run(str(pred), "--truth", str(truth), "--json", str(out_json), "-q") == 0
    data = json.loads(out_json.read_text())
    rows = data["classes"]
    assert rows["tumor"]["dice"] == pytest.approx(1.0) and rows["til"]["f1"] == pytest.approx(1.0)
