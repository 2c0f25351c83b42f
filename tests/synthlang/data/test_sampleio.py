"""The sample format: names, encoding, storing, and readers that refuse what is not a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.data import sampleio
from synthlang.data.dataset import render_dataset
from synthlang.data.sampleio import (
    MANIFEST,
    PARTIAL,
    encode_sample,
    iter_samples,
    load_sample,
    read_manifest,
    sample_complete,
    sample_name,
    sample_paths,
    store_sample,
)
from synthlang.engine.render import render
from synthlang.engine.sampling import sample_seed
from synthlang.lang.compile import compile_file


def test_sample_name_width() -> None:
    assert sample_name(3, 10) == "000003"
    assert sample_name(1234567, 2_000_000) == "1234567"


def test_encode_is_deterministic_and_store_marks_complete(
    tiny_scene_file: Path, tmp_path: Path
) -> None:
    scene = compile_file(tiny_scene_file)
    a = encode_sample(scene, index=2, seed=5, n=10)
    b = encode_sample(scene, index=2, seed=5, n=10)
    assert a == b and a.name == "000002" and a.entry["seed"] == [5, 2]
    assert set(a.files) == {"noisy", "clean", "mask", "labels", "instances", "objects", "json"}
    for sub in sampleio.SUBDIRS:
        (tmp_path / sub).mkdir()
    assert not sample_complete(tmp_path, a.name)
    assert store_sample(tmp_path, a) == a.entry
    assert sample_complete(tmp_path, a.name)
    paths = sample_paths(tmp_path, a.name)
    assert all(paths[k].read_bytes() == a.files[k] for k in a.files)
    assert not list(tmp_path.rglob("*.tmp"))


def test_images_are_rounded_in_float32(tiny_scene_file: Path, tmp_path: Path) -> None:
    """The stored 8-bit pixels are rint(x * 255) of the float32 render (the byte format)."""
    scene = compile_file(tiny_scene_file)
    render_dataset(scene, 1, tmp_path / "ds", seed=4)
    sample = render(scene, seed=sample_seed(4, 0))
    back = load_sample(tmp_path / "ds", "000000")
    for key in ("noisy", "clean", "mask"):
        image = getattr(sample, key)
        assert image.dtype == np.float32
        want = np.clip(np.rint(image * np.float32(255.0)), 0, 255).astype(np.uint8)
        assert np.array_equal(np.rint(back[key] * 255.0).astype(np.uint8), want)
    assert np.array_equal(back["instance_map"], sample.instance_map)
    assert np.array_equal(back["objects"], sample.instance_map)
    assert np.array_equal(back["labels"], sample.labels)
    assert np.array_equal(back["label_instances"], sample.label_instances)
    assert back["classes"] == sample.classes and back["format_version"] == 2


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such dataset folder"):
        read_manifest(tmp_path / "missing")
    with pytest.raises(DataError, match="not a synthlang dataset"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(DataError, match="cannot read the manifest: not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text("[1, 2]")
    with pytest.raises(DataError, match="cannot read the manifest: not a JSON object"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).unlink()
    (tmp_path / MANIFEST).mkdir()
    with pytest.raises(DataError, match="cannot read the manifest: it is a folder"):
        read_manifest(tmp_path)


def test_oversized_manifest_is_a_resource_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"format": sampleio.FORMAT, "pad": "x" * 100}))
    monkeypatch.setattr(sampleio, "MAX_JSON_BYTES", 50)
    with pytest.raises(ResourceLimitError, match="cannot read the manifest: it has 1.. bytes"):
        read_manifest(tmp_path)


def test_malformed_manifests_are_refused(tiny_scene_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    render_dataset(compile_file(tiny_scene_file), 2, out, seed=1)
    manifest = json.loads((out / MANIFEST).read_text())
    for change, message in [
        ({"n": 0}, "'n' must be a positive integer"),
        ({"samples": manifest["samples"][:1]}, "'samples' must list the 2 samples"),
        ({"samples": [{"name": "../../etc"}, {"name": "000001"}]}, "has no valid 'name'"),
        ({"complete": False}, "marked incomplete"),
    ]:
        (out / MANIFEST).write_text(json.dumps({**manifest, **change}))
        with pytest.raises(DataError, match=message):
            read_manifest(out)


def test_partial_dataset_names_the_resume_command(tiny_scene_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    scene = compile_file(tiny_scene_file)
    render_dataset(scene, 3, out, seed=2, shard=(1, 3), scene_file="tiny.scene")
    assert (out / PARTIAL).exists() and not (out / MANIFEST).exists()
    with pytest.raises(DataError, match=r"\(1 of 3 samples\).*render tiny\.scene --n 3"):
        read_manifest(out)


def test_load_sample_refuses_damaged_files(tiny_scene_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    render_dataset(compile_file(tiny_scene_file), 2, out, seed=1)
    assert [s["meta"]["index"] for s in iter_samples(out)] == [0, 1]
    with pytest.raises(DataError, match="is not a sample name"):
        load_sample(out, "../x")
    (out / "mask" / "000001.png").write_bytes((out / "noisy" / "000001.png").read_bytes())
    with pytest.raises(DataError, match="sample 000001 is unreadable: .*image mode RGB"):
        load_sample(out, "000001")
    (out / "instances" / "000000.json").unlink()
    with pytest.raises(DataError, match="cannot read the metadata of sample 000000: no such file"):
        load_sample(out, "000000")
