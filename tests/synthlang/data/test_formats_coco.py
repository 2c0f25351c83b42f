"""The COCO export: loadable by pycocotools, each annotation exactly its stored instance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from synthlang.common.errors import DataError
from synthlang.data.dataset import render_dataset
from synthlang.data.formats import FORMAT_NAMES, parse_formats, write_exports
from synthlang.data.formats.base import instance_classes
from synthlang.data.formats.coco import COCO_FILE, coco_categories, instance_annotations
from synthlang.data.sampleio import read_raw_sample
from synthlang.lang.compile import compile_string
from tests.synthlang.data.conftest import CLASSES, CLASSES_SCENE

# pycocotools 2.0.11 decodes through a numpy-1 style __array__ (numpy 2 warns; the result is right)
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn.t accept a copy keyword:DeprecationWarning"
)


def test_pycocotools_reads_it_and_masks_equal_the_instances(classes_dataset: Path) -> None:
    coco = COCO(str(classes_dataset / COCO_FILE))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    assert coco.getCatIds() == [1, 2, 3]
    images = coco.loadImgs(coco.getImgIds())
    assert [im["file_name"] for im in images] == [f"noisy/{i:06d}.png" for i in range(4)]
    total = 0
    for image in images:
        assert (classes_dataset / image["file_name"]).is_file()
        name = Path(image["file_name"]).stem
        inst = np.array(Image.open(classes_dataset / "instances" / f"{name}.png")).astype(int)
        labels = np.array(Image.open(classes_dataset / "labels" / f"{name}.png"))
        assert (image["height"], image["width"]) == inst.shape
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        assert sorted(a["instance_id"] for a in anns) == sorted(set(np.unique(inst)) - {0})
        for ann in anns:
            decoded = coco.annToMask(ann).astype(bool)
            want = inst == ann["instance_id"]
            assert np.array_equal(decoded, want)  # IoU 1
            assert ann["area"] == want.sum() == mask_util.area(ann["segmentation"])
            rows, cols = np.nonzero(want)
            x, y = cols.min(), rows.min()
            assert ann["bbox"] == [x, y, cols.max() - x + 1, rows.max() - y + 1]
            assert ann["iscrowd"] == 0
            assert set(np.unique(labels[want]).tolist()) == {ann["category_id"]}
            assert isinstance(ann["segmentation"]["counts"], str)
        total += len(anns)
    assert total > 20 and sorted(coco.getAnnIds()) == list(range(1, total + 1))


def test_instance_annotations_of_small_maps() -> None:
    inst = np.zeros((6, 7), np.int32)
    inst[0:2, 0:2] = 3  # two pieces: one annotation
    inst[4:6, 5:7] = 3
    inst[3, 1:4] = 5  # no class: no annotation
    labels = np.where(inst == 3, 2, 0).astype(np.uint8)
    [ann] = instance_annotations(inst, labels)
    assert ann["instance_id"] == 3 and ann["category_id"] == 2 and ann["area"] == 8
    assert ann["bbox"] == [0, 0, 7, 6]
    assert np.array_equal(mask_util.decode(ann["segmentation"]).astype(bool), inst == 3)
    assert instance_annotations(np.zeros((3, 3), np.int32), np.zeros((3, 3), np.uint8)) == []
    with pytest.raises(ValueError, match=r"must be \(H, W\)"):
        instance_annotations(np.zeros((2, 2, 2), np.int32), np.zeros((2, 2, 2), np.uint8))


def test_batches_of_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    from synthlang.data.formats import coco

    inst = np.arange(1, 13, dtype=np.int32).reshape(3, 4)
    labels = np.ones((3, 4), np.uint8)
    whole = instance_annotations(inst, labels)
    monkeypatch.setattr(coco, "_BATCH_BYTES", 25)  # two masks per batch
    assert instance_annotations(inst, labels) == whole and len(whole) == 12


def test_instance_classes_majority_and_ties() -> None:
    inst = np.array([[1, 1, 1, 2, 2], [3, 3, 0, 4, 0]])
    labels = np.array([[2, 2, 1, 3, 1], [0, 0, 0, 0, 0]])
    assert instance_classes(inst, labels) == {1: 2, 2: 1, 3: 0, 4: 0}
    with pytest.raises(ValueError, match="differ"):
        instance_classes(inst, labels[:1])


def test_categories() -> None:
    assert coco_categories(["a", "b"]) == [
        {"id": 1, "name": "a", "supercategory": "object"},
        {"id": 2, "name": "b", "supercategory": "object"},
    ]


def test_parse_formats() -> None:
    assert parse_formats("geojson,coco") == ("coco", "geojson")
    assert parse_formats([" HoverNet "]) == ("hovernet",)
    for bad in ("coco,pascal", "", "coco,,geojson"):
        with pytest.raises(ValueError, match="choose from coco, geojson, hovernet"):
            parse_formats(bad)
    assert FORMAT_NAMES == ("coco", "geojson", "hovernet")


def test_resume_of_a_complete_dataset_writes_the_exports(
    classes_dataset: Path, tmp_path: Path
) -> None:
    scene = compile_string(CLASSES_SCENE)
    out = tmp_path / "ds"
    render_dataset(scene, 4, out, seed=3)
    assert not (out / "annotations").exists()
    report = render_dataset(scene, 4, out, seed=3, resume=True, formats=["coco"])
    assert report.complete and report.rendered == 0 and report.exported == ("coco",)
    assert (out / COCO_FILE).read_bytes() == (classes_dataset / COCO_FILE).read_bytes()
    # a shard that finds the dataset complete writes nothing
    (out / COCO_FILE).unlink()
    report = render_dataset(scene, 4, out, seed=3, shard=(1, 2), formats=["coco"])
    assert report.complete and report.exported == () and not (out / COCO_FILE).exists()
    with pytest.raises(DataError, match="unknown export format 'voc'"):
        render_dataset(scene, 4, out, seed=3, resume=True, formats=["voc"])


def test_a_failed_export_leaves_no_partial_file(classes_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    shutil.copytree(classes_dataset, out)
    shutil.rmtree(out / "annotations")
    (out / "labels" / "000003.png").unlink()
    with pytest.raises(DataError, match="sample 000003 is unreadable"):
        write_exports(out, ["coco", "geojson"])
    assert list((out / "annotations").iterdir()) == []
    assert write_exports(out, []) == []


def test_exports_read_only_what_they_need(classes_dataset: Path) -> None:
    raw = read_raw_sample(classes_dataset, "000000", keys=("instances", "labels"))
    coco = json.loads((classes_dataset / COCO_FILE).read_text())
    anns = [a for a in coco["annotations"] if a["image_id"] == 1]
    assert [a["instance_id"] for a in anns] == sorted(set(np.unique(raw["instances"])) - {0})
    assert coco["info"]["description"] == "synthlang dataset of scene classes"
