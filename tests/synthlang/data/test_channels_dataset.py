"""Datasets of images that are not 8-bit RGB (format version 3): 16 bit, C channels.

A four-channel scene renders to TIFFs that the readers (``load_sample``,
``SynthlangDataset``) give back as ``C``-channel arrays; 16-bit values come back within
0.5 / 65535; the manifest records the channel names and the bit depth; the bytes do not
depend on the worker count; 8-bit RGB datasets are written as before (version 2).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

import synthlang
from synthlang.common.errors import DataError
from synthlang.data.dataset import render_dataset
from synthlang.data.formats import write_exports
from synthlang.data.sampleio import iter_samples, load_sample, read_manifest, read_raw_sample
from synthlang.data.stream import SceneSource
from synthlang.data.torch import SynthlangDataset
from synthlang.lang.compile import compile_string

FOUR = inspect.cleandoc(
    """
    scene four {
        size 40 x 56
        channels [dapi, cd45, gp100, ki67]
        bits 16
    }
    layer background {
        fill color mvn(mean [0.02, 0.03, 0.02, 0.01],
                       cov [[1e-4, 0, 0, 0], [0, 1e-4, 0, 0], [0, 0, 1e-4, 0], [0, 0, 0, 1e-4]])
    }
    layer cell {
        ellipse(semi_axes uniform(5, 8)) place count 4, overlap none
        color mvn(mean [0, 0.05, 0.5, 0]) contour(width 1, color mvn(mean [0, 0.7, 0, 0]))
        blend additive
    }
    layer nucleus {
        ellipse(semi_axes uniform(2, 3)) place inside cell
        color mvn(mean [0.6, 0, 0, 0.3], cov [[1e-3, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0],
                                              [0, 0, 0, 1e-3]])
        blend additive
    }
    degrade { blur gaussian(0.5) noise gaussian(0.01) }
    mask classes { cell: cell  nucleus: visible(nucleus) }
    """
)
NAMES = ["dapi", "cd45", "gp100", "ki67"]


@pytest.fixture(scope="module")
def four_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("four") / "ds"
    render_dataset(compile_string(FOUR), 3, out, seed=4, formats=("coco", "geojson"))
    return out


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_manifest_and_files(four_dataset: Path) -> None:
    manifest = read_manifest(four_dataset)
    assert manifest["format_version"] == 3
    assert manifest["channels"] == NAMES and manifest["bit_depth"] == 16
    stored = json.loads((four_dataset / "manifest.json").read_text())
    assert stored["channels"] == NAMES and stored["bit_depth"] == 16
    assert sorted(p.name for p in (four_dataset / "noisy").iterdir()) == [
        "000000.tif",
        "000001.tif",
        "000002.tif",
    ]
    meta = json.loads((four_dataset / "instances" / "000001.json").read_text())
    assert meta["channels"] == NAMES and meta["bit_depth"] == 16
    coco = json.loads((four_dataset / "annotations" / "coco.json").read_text())
    assert coco["images"][0]["file_name"] == "noisy/000000.tif"
    assert (four_dataset / "geojson" / "000002.geojson").is_file()


def test_values_come_back_to_within_half_a_16_bit_step(four_dataset: Path) -> None:
    scene = compile_string(FOUR)
    for index in range(3):
        stored = load_sample(four_dataset, f"{index:06d}")
        sample = synthlang.render(scene, np.random.SeedSequence([4, index]))
        assert stored["noisy"].shape == (40, 56, 4) and stored["channels"] == tuple(NAMES)
        for key in ("noisy", "clean"):
            err = np.abs(stored[key].astype(np.float64) - getattr(sample, key)).max()
            assert err <= 0.5 / 65535 + 1e-9, (key, err)
        np.testing.assert_array_equal(stored["labels"], sample.labels)
    raw = read_raw_sample(four_dataset, "000000", keys=("noisy",))
    assert raw["noisy"].dtype == np.uint16 and raw["bit_depth"] == 16
    assert len(list(iter_samples(four_dataset))) == 3


def test_synthlang_dataset_shapes(four_dataset: Path) -> None:
    ds = SynthlangDataset(four_dataset, outputs=("noisy", "clean", "mask", "labels"))
    assert ds.channels == tuple(NAMES) and ds.num_channels == 4 and ds.bit_depth == 16
    assert ds.classes == ("cell", "nucleus") and len(ds) == 3
    item = ds[1]
    assert item["noisy"].shape == item["clean"].shape == (4, 40, 56)
    assert item["mask"].shape == item["labels"].shape == (40, 56)
    stored = load_sample(four_dataset, "000001")
    np.testing.assert_array_equal(item["noisy"].numpy(), stored["noisy"].transpose(2, 0, 1))


def test_bytes_do_not_depend_on_the_worker_count(four_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    render_dataset(compile_string(FOUR), 3, out, seed=4, workers=2, formats=("coco", "geojson"))
    assert digest(out) == digest(four_dataset)


def test_sixteen_bit_rgb_is_a_16_bit_png(tmp_path: Path) -> None:
    text = (
        "scene s { size 24 bits 16 }\nlayer a { fill color mvn(mean [0.3, 0.5, 0.7], "
        "cov [[1e-3, 0, 0], [0, 1e-3, 0], [0, 0, 1e-3]]) }\n"
    )
    render_dataset(compile_string(text), 1, tmp_path / "ds", seed=1)
    manifest = read_manifest(tmp_path / "ds")
    assert manifest["format_version"] == 3 and manifest["channels"] == ["r", "g", "b"]
    png = tmp_path / "ds" / "noisy" / "000000.png"
    assert png.read_bytes()[24] == 16  # the PNG header's bit depth
    stored = load_sample(tmp_path / "ds", "000000")
    sample = synthlang.render(compile_string(text), np.random.SeedSequence([1, 0]))
    assert np.abs(stored["noisy"].astype(np.float64) - sample.noisy).max() <= 0.5 / 65535 + 1e-9
    assert len(np.unique(stored["noisy"])) > 256  # more levels than 8 bits hold


def test_rgb_8_bit_datasets_are_version_2_without_new_fields(tmp_path: Path) -> None:
    render_dataset(
        compile_string("scene s { size 8 }\nlayer a { fill color rgb(1, 0, 0) }"),
        1,
        tmp_path / "ds",
    )
    stored = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert stored["format_version"] == 2 and "channels" not in stored and "bit_depth" not in stored
    manifest = read_manifest(tmp_path / "ds")
    assert manifest["channels"] == ["r", "g", "b"] and manifest["bit_depth"] == 8


def test_resume_with_another_bit_depth_is_refused(tmp_path: Path) -> None:
    scene = compile_string(FOUR)
    out = tmp_path / "ds"
    render_dataset(scene, 2, out, seed=1, shard=(1, 2))
    eight = scene.model_copy(update={"bits": None})
    with pytest.raises(DataError, match="rendered with 16-bit images, this render writes 8-bit"):
        render_dataset(eight, 2, out, seed=1, resume=True)
    with pytest.raises(DataError, match=r"--bit-depth 16 --resume"):
        read_manifest(out)


def test_hovernet_needs_8_bit_rgb(four_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="hovernet stores 8-bit RGB images"):
        render_dataset(compile_string(FOUR), 1, tmp_path / "ds", formats=("hovernet",))
    assert not (tmp_path / "ds").exists()  # refused before anything is rendered
    with pytest.raises(DataError, match="4 channels \\(dapi, cd45, gp100, ki67\\) of 16 bits"):
        write_exports(four_dataset, ["hovernet"])


def test_damaged_files_are_refused(four_dataset: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(four_dataset, out)
    from synthlang.common.channelio import encode_image

    (out / "noisy" / "000001.tif").write_bytes(encode_image(np.zeros((40, 56, 5), np.uint16)))
    with pytest.raises(DataError, match="5 channels of uint16, the dataset has 4 channels"):
        load_sample(out, "000001")
    (out / "clean" / "000002.tif").write_bytes(encode_image(np.zeros((40, 56, 4), np.uint8)))
    with pytest.raises(DataError, match="of uint8, the dataset has 4 channels of 16 bits"):
        load_sample(out, "000002")


def test_scene_source_streams_c_channels() -> None:
    noisy, clean, mask = SceneSource.with_classes(compile_string(FOUR), seed=2)(0)
    assert noisy.shape == clean.shape == (40, 56, 4) and mask.shape == (40, 56, 2)
