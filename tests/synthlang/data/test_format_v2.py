"""Dataset format version 2: class labels, labelled instances, objects; version 1 still read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang.common.errors import DataError
from synthlang.data.dataset import render_dataset
from synthlang.data.formats import write_exports
from synthlang.data.sampleio import (
    FORMAT_VERSION,
    MANIFEST,
    PARTIAL,
    V1_CLASSES,
    iter_samples,
    load_sample,
    read_manifest,
    read_raw_sample,
)
from synthlang.engine.render import render
from synthlang.engine.sampling import sample_seed
from synthlang.lang.compile import compile_string
from tests.synthlang.data.conftest import ALL_FORMATS, CLASSES, CLASSES_SCENE, downgrade_to_v1

NAMES = [f"{i:06d}" for i in range(4)]


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_manifest_and_metadata_name_the_classes(classes_dataset: Path) -> None:
    manifest = json.loads((classes_dataset / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert manifest["classes"] == list(CLASSES)
    meta = json.loads((classes_dataset / "instances" / "000000.json").read_text())
    assert meta["classes"] == list(CLASSES)
    for record in meta["instances"]:
        assert record["label"] in (0, 1, 2, 3)
        assert record["class"] == (CLASSES[record["label"] - 1] if record["label"] else None)
        assert record["classified"] == (record["label"] > 0)


@pytest.mark.parametrize("name", NAMES)
def test_png_files_hold_the_render(classes_dataset: Path, name: str) -> None:
    labels = Image.open(classes_dataset / "labels" / f"{name}.png")
    instances = Image.open(classes_dataset / "instances" / f"{name}.png")
    objects = Image.open(classes_dataset / "objects" / f"{name}.png")
    assert labels.mode == "L" and instances.mode.startswith("I;16")
    assert objects.mode.startswith("I;16")
    scene = compile_string(CLASSES_SCENE)
    sample = render(scene, seed=sample_seed(3, int(name)))
    assert np.array_equal(np.array(labels), sample.labels)
    assert np.array_equal(np.array(instances).astype(np.int32), sample.label_instances)
    assert np.array_equal(np.array(objects).astype(np.int32), sample.instance_map)
    lab = np.array(labels)
    inst = np.array(instances)
    assert set(np.unique(lab).tolist()) <= {0, 1, 2, 3}
    assert np.array_equal(lab > 0, inst > 0)  # every labelled pixel belongs to an instance
    mask = np.array(Image.open(classes_dataset / "mask" / f"{name}.png"))
    assert np.array_equal(mask > 0, lab > 0)
    meta = json.loads((classes_dataset / "instances" / f"{name}.json").read_text())
    label_of = {r["id"]: r["label"] for r in meta["instances"]}
    for i in np.unique(inst[inst > 0]).tolist():
        assert set(np.unique(lab[inst == i]).tolist()) == {label_of[i]}


def test_load_sample_returns_the_class_maps(classes_dataset: Path) -> None:
    s = load_sample(classes_dataset, "000002")
    assert s["format_version"] == 2 and s["classes"] == CLASSES
    assert s["labels"].dtype == np.uint8 and s["labels"].shape == (64, 80)
    assert s["label_instances"].dtype == np.int32 and s["objects"].dtype == np.int32
    assert s["instance_map"] is s["objects"]  # the name it had in version 1
    assert np.array_equal(s["mask"] > 0.5, s["labels"] > 0)
    raw = read_raw_sample(classes_dataset, "000002", keys=("labels",))
    assert set(raw) == {"name", "format_version", "classes", "labels"}
    assert [s["meta"]["index"] for s in iter_samples(classes_dataset)] == [0, 1, 2, 3]


def test_files_are_identical_for_any_workers_and_shards(
    classes_dataset: Path, tmp_path: Path
) -> None:
    scene = compile_string(CLASSES_SCENE)
    render_dataset(scene, 4, tmp_path / "w2", seed=3, workers=2, formats=ALL_FORMATS)
    for k in (2, 1):  # shard 1 completes the dataset and writes the exports
        report = render_dataset(
            scene, 4, tmp_path / "sh", seed=3, shard=(k, 2), formats=ALL_FORMATS
        )
        assert report.exported == (ALL_FORMATS if k == 1 else ())
    want = _tree(classes_dataset)
    assert any(key.startswith("labels/") for key in want)
    assert _tree(tmp_path / "w2") == want
    assert _tree(tmp_path / "sh") == want


def test_version_1_folders_are_still_read(classes_dataset: Path, tmp_path: Path) -> None:
    v1 = downgrade_to_v1(classes_dataset, tmp_path / "v1")
    manifest = read_manifest(v1)
    assert manifest["format_version"] == 1 and manifest["classes"] == list(V1_CLASSES)
    v2 = load_sample(classes_dataset, "000001")
    s = load_sample(v1, "000001")
    assert s["format_version"] == 1 and s["classes"] == ("mask",)
    assert np.array_equal(s["objects"], v2["objects"])  # instances/ held every object
    assert np.array_equal(s["labels"], (v2["mask"] > 0.5).astype(np.uint8))
    assert np.array_equal(s["label_instances"], np.where(v2["mask"] > 0.5, v2["objects"], 0))
    assert len(list(iter_samples(v1))) == 4
    assert read_raw_sample(v1, "000001", keys=("objects",))["objects"].dtype == np.int32
    # exports read it as well: one class, the mask
    write_exports(v1, ["coco"])
    coco = json.loads((v1 / "annotations" / "coco.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["mask"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 4}, "format version 4 cannot be read"),
        ({"format_version": 3, "bit_depth": 12}, "'bit_depth' must be 8 or 16"),
        ({"format_version": 3, "channels": "dapi"}, "'channels' must list channel names"),
        ({"format_version": "2"}, "format version '2' cannot be read"),
        ({"format_version": True}, "cannot be read"),
        ({"classes": "tumor"}, "'classes' must be a list of class names"),
        ({"classes": ["tumor", 7]}, "'classes' must be a list of class names"),
    ],
)
def test_unreadable_manifests(
    classes_dataset: Path, tmp_path: Path, change: dict, message: str
) -> None:
    out = tmp_path / "ds"
    shutil.copytree(classes_dataset, out)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, **change}))
    with pytest.raises(DataError, match=message):
        read_manifest(out)


def test_damaged_class_files_are_data_errors(classes_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    shutil.copytree(classes_dataset, out)
    (out / "labels" / "000000.png").unlink()
    with pytest.raises(DataError, match=r"sample 000000 is unreadable: .*labels/000000.png"):
        load_sample(out, "000000")
    shutil.copy(out / "noisy" / "000001.png", out / "labels" / "000001.png")
    with pytest.raises(DataError, match="image mode RGB, expected L"):
        load_sample(out, "000001")
    Image.fromarray(np.full((64, 80), 9, np.uint8)).save(out / "labels" / "000002.png")
    with pytest.raises(DataError, match="class id 9 in a dataset of 3 classes"):
        load_sample(out, "000002")
    Image.fromarray(np.zeros((5, 5), np.uint16)).save(out / "objects" / "000003.png")
    with pytest.raises(DataError, match="different sizes"):
        load_sample(out, "000003")
    meta_path = out / "instances" / "000003.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "classes": {"a": 1}}))
    with pytest.raises(DataError, match="'classes' must be a list"):
        load_sample(out, "000003")


def test_resume_refuses_a_version_1_render(tmp_path: Path) -> None:
    scene = compile_string(CLASSES_SCENE)
    out = tmp_path / "ds"
    render_dataset(scene, 2, out, seed=1, shard=(1, 2))
    partial = json.loads((out / PARTIAL).read_text())
    (out / PARTIAL).write_text(json.dumps({**partial, "format_version": 1}))
    with pytest.raises(DataError, match="format version 1, this synthlang writes version 2"):
        render_dataset(scene, 2, out, seed=1, resume=True)
