from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.data.dataset import render_dataset
from synthlang.data.sampleio import MANIFEST, PARTIAL, load_sample, read_manifest, sample_name
from synthlang.lang.compile import compile_file


def digest_tree(root: Path) -> dict[str, str]:
    """SHA-256 of every sample file (the manifest is compared separately)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in (MANIFEST, PARTIAL):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_render_writes_complete_dataset(tiny_scene_file: Path, tmp_path: Path) -> None:
    scene = compile_file(tiny_scene_file)
    out = tmp_path / "ds"
    report = render_dataset(scene, 4, out, seed=3)
    assert report.complete and report.rendered == 4
    manifest = read_manifest(out)
    assert manifest["n"] == 4 and manifest["seed"] == 3 and manifest["complete"]
    assert [s["name"] for s in manifest["samples"]] == [sample_name(i, 4) for i in range(4)]
    assert not (out / PARTIAL).exists()
    sample = load_sample(out, "000002")
    assert sample["noisy"].shape == (48, 64, 3) and sample["mask"].shape == (48, 64)
    meta = sample["meta"]
    assert meta["seed"] == [3, 2]
    ids = {inst["id"] for inst in meta["instances"]}
    present = set(np.unique(sample["instance_map"]).tolist()) - {0}
    assert present <= ids
    # mask pixels belong to classified instances only
    classified = {i["id"] for i in meta["instances"] if i["classified"]}
    on = sample["instance_map"][sample["mask"] > 0.5]
    assert set(np.unique(on).tolist()) <= classified


def test_bytes_identical_for_workers_and_shards(tiny_scene_file: Path, tmp_path: Path) -> None:
    scene = compile_file(tiny_scene_file)
    render_dataset(scene, 6, tmp_path / "w1", seed=5, workers=1)
    render_dataset(scene, 6, tmp_path / "w2", seed=5, workers=2)
    render_dataset(scene, 6, tmp_path / "sh", seed=5, shard=(2, 3))
    assert not (tmp_path / "sh" / MANIFEST).exists()
    render_dataset(scene, 6, tmp_path / "sh", seed=5, shard=(1, 3))
    report = render_dataset(scene, 6, tmp_path / "sh", seed=5, shard=(3, 3))
    assert report.complete
    ref = digest_tree(tmp_path / "w1")
    assert ref == digest_tree(tmp_path / "w2") == digest_tree(tmp_path / "sh")
    manifests = [json.loads((tmp_path / d / MANIFEST).read_text()) for d in ("w1", "w2", "sh")]
    assert manifests[0] == manifests[1] == manifests[2]


def test_incomplete_dataset_refused_then_resumed(tiny_scene_file: Path, tmp_path: Path) -> None:
    scene = compile_file(tiny_scene_file)
    out = tmp_path / "ds"
    render_dataset(scene, 4, out, seed=1, shard=(1, 2))  # half of the samples: "interrupted"
    with pytest.raises(DataError, match=r"incomplete dataset \(2 of 4 samples\).*--resume"):
        read_manifest(out)
    with pytest.raises(DataError, match="interrupted render.*--resume"):
        render_dataset(scene, 4, out, seed=1)
    # a half-written file from a killed process does not count
    (out / "noisy" / "000001.png.tmp").write_bytes(b"partial")
    report = render_dataset(scene, 4, out, seed=1, resume=True)
    assert report.complete and report.rendered == 2 and report.skipped == 2
    render_dataset(scene, 4, tmp_path / "ref", seed=1)
    # the stale temporary file was overwritten and renamed: nothing partial is left
    assert digest_tree(out) == digest_tree(tmp_path / "ref")


def test_resume_with_other_seed_refused(tiny_scene_file: Path, tmp_path: Path) -> None:
    scene = compile_file(tiny_scene_file)
    out = tmp_path / "ds"
    render_dataset(scene, 2, out, seed=1, shard=(1, 2))
    with pytest.raises(DataError, match="different render.*seed"):
        render_dataset(scene, 2, out, seed=2, resume=True)


def test_non_empty_folder_refused(tiny_scene_file: Path, tmp_path: Path) -> None:
    scene = compile_file(tiny_scene_file)
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        render_dataset(scene, 2, out)


def test_complete_dataset_not_overwritten(tiny_scene_file: Path, tmp_path: Path) -> None:
    scene = compile_file(tiny_scene_file)
    out = tmp_path / "ds"
    render_dataset(scene, 2, out)
    with pytest.raises(DataError, match="already holds a complete dataset"):
        render_dataset(scene, 2, out)
    assert render_dataset(scene, 2, out, resume=True).complete


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "--n must be at least 1"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"seed": -1}, "--seed must be non-negative"),
        ({"shard": (3, 2)}, "shard 3/2 is invalid"),
    ],
)
def test_bad_arguments(tiny_scene_file: Path, tmp_path: Path, kwargs: dict, message: str) -> None:
    scene = compile_file(tiny_scene_file)
    args = {"n": 2, **kwargs}
    n = args.pop("n")
    with pytest.raises(DataError, match=message):
        render_dataset(scene, n, tmp_path / "ds", **args)


def test_shards_starting_together_do_not_refuse_each_other(
    tiny_scene_file: Path, tmp_path: Path
) -> None:
    scene = compile_file(tiny_scene_file)
    out = tmp_path / "ds"
    # what another shard leaves while it creates the folder: sub-folders, a temporary manifest
    (out / "noisy").mkdir(parents=True)
    (out / "instances").mkdir()
    (out / f"{PARTIAL}.4242.tmp").write_text("{")
    render_dataset(scene, 4, out, seed=1, shard=(1, 2))
    assert render_dataset(scene, 4, out, seed=1, shard=(2, 2)).complete
    other = tmp_path / "other"
    (other / "noisy").mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        render_dataset(scene, 4, other, seed=1, shard=(1, 2))
