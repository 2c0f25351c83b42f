"""The patch-library format (synthlang.patchlib): model, index reader, strict reader, writer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from synthlang.common.errors import DataError, RenderError, ResourceLimitError
from synthlang.common.limits import Limits
from synthlang.patchlib import (
    FORMAT,
    VERSION,
    IndexFileError,
    PatchIndex,
    index_text,
    is_patch_library,
    read_index_file,
    read_patch_folder,
    write_patch_folder,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenes" / "lib").glob("*/*/index.json"))


def _index(kind: str, n: int, cohorts: int = 2, **extra: Any) -> PatchIndex:
    items = []
    for i in range(n):
        item: dict[str, Any] = {"file": f"{i:06d}.png", "cohort": i % cohorts}
        item.update({"mean": [0.5, 0.25, 0.75], "class": "tumor", "source": "a.png"})
        if kind == "nuclei":
            item["area"] = 16
        items.append(item)
    data = {"format": FORMAT, "version": VERSION, "kind": kind, "cohorts": cohorts}
    data.update(extra)
    data["items"] = items
    return PatchIndex.model_validate(data)


def _nuclei_pixels(n: int) -> list[np.ndarray]:
    out = []
    for i in range(n):
        rgba = np.zeros((6, 7, 4), np.uint8)
        rgba[..., :3] = 240  # background outside the nucleus
        rgba[1:5, 2:6] = (40 + 20 * i, 30, 120, 255)
        out.append(rgba)
    return out


# --------------------------------------------------------------------------- writer -> reader


def test_nuclei_round_trip(tmp_path: Path) -> None:
    index = _index("nuclei", 3, patch_size=None)
    folder = write_patch_folder(tmp_path, "tumor_nuclei", index, _nuclei_pixels(3))
    assert folder == tmp_path / "tumor_nuclei"
    lib = read_patch_folder(folder)
    assert lib.kind == "nuclei" and lib.cohorts == 2 and lib.patch_size is None
    assert lib.files == ("000000.png", "000001.png", "000002.png")
    assert lib.cohort.tolist() == [0, 1, 0] and not lib.cohort.flags.writeable
    assert lib.sha256 == hashlib.sha256((folder / "index.json").read_bytes()).hexdigest()
    for i, (rgb, alpha) in enumerate(zip(lib.rgb, lib.alpha, strict=True)):
        assert alpha.sum() == 16 and alpha[1:5, 2:6].all()
        assert (rgb[~alpha] == 0).all()  # the background is not kept
        assert rgb[2, 3] == pytest.approx(np.array([40 + 20 * i, 30, 120]) / 255)
    # the index reads back as the same model, and only the keys given were written
    again = PatchIndex.model_validate_json((folder / "index.json").read_text())
    assert again == index
    assert index_text(again) == (folder / "index.json").read_text()
    item = json.loads((folder / "index.json").read_text())["items"][0]
    assert list(item) == ["file", "cohort", "mean", "class", "source", "area"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_texture_round_trip_and_replacement(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 256, (5, 5, 3), dtype=np.uint8) for _ in range(4)]
    folder = write_patch_folder(tmp_path, "tex", _index("texture", 4, patch_size=5), pixels)
    lib = read_patch_folder(folder)
    assert lib.kind == "texture" and lib.patch_size == 5 and lib.alpha == ()
    for got, want in zip(lib.rgb, pixels, strict=True):
        assert np.array_equal(np.rint(got * 255).astype(np.uint8), want)
    # writing again replaces the library as a whole
    write_patch_folder(tmp_path, "tex", _index("texture", 2, patch_size=5), pixels[:2])
    assert sorted(p.name for p in folder.iterdir()) == ["000000.png", "000001.png", "index.json"]
    assert len(read_patch_folder(folder).files) == 2


def test_writer_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.json").write_text('{"format": "something else"}')
    assert not is_patch_library(tmp_path / "mine")
    with pytest.raises(DataError, match="mine: exists and is not a synthlang patch library"):
        write_patch_folder(tmp_path, "mine", _index("nuclei", 1), _nuclei_pixels(1))
    assert (tmp_path / "mine" / "index.json").read_text() == '{"format": "something else"}'


@pytest.mark.skipif(not SHIPPED, reason="no shipped libraries")
def test_shipped_indexes_follow_the_model_byte_for_byte() -> None:
    for path in SHIPPED:
        text = path.read_text(encoding="utf-8")
        index = PatchIndex.model_validate_json(text)
        assert index_text(index) == text, path


# --------------------------------------------------------------------------- model


def test_model_rejects_what_the_renderer_rejects() -> None:
    good = json.loads(index_text(_index("nuclei", 2)))
    bad_cases: list[tuple[dict[str, Any], str]] = [
        ({"format": "other"}, "format"),
        ({"version": 2}, "version"),
        ({"kind": "cells"}, "kind"),
        ({"cohorts": 0}, "cohorts"),
        ({"cohorts": True}, "cohorts"),
        ({"items": []}, "items"),
        ({"items": [{"file": "../x.png", "cohort": 0}]}, "must be a name inside the library"),
        ({"items": [{"file": "a.png", "cohort": 5}]}, "cohort 5 not in 0..1"),
    ]
    for change, message in bad_cases:
        with pytest.raises(ValidationError, match=message):
            PatchIndex.model_validate({**good, **change})
    # informative and unknown keys are kept
    kept = PatchIndex.model_validate({**good, "note": "hand-made"})
    assert json.loads(index_text(kept))["note"] == "hand-made"


# --------------------------------------------------------------------------- index.json


def test_read_index_file_reasons(tmp_path: Path) -> None:
    def reason(folder: Path, max_bytes: int = 1000, **kw: Any) -> IndexFileError:
        with pytest.raises(IndexFileError) as info:
            read_index_file(folder, max_bytes, **kw)
        return info.value

    assert reason(tmp_path / "nowhere").reason == "not_found"
    (tmp_path / "dir" / "index.json").mkdir(parents=True)
    err = reason(tmp_path / "dir")
    assert err.reason == "unreadable" and "a folder" in err.detail
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "index.json").write_text("{not json")
    err = reason(folder)
    assert err.reason == "invalid_json" and "Expecting property name" in err.detail
    (folder / "index.json").write_text("[1, 2]")
    assert reason(folder).reason == "not_object"
    (folder / "index.json").write_text('{"kind": "nuclei"}' + " " * 100)
    err = reason(folder, 50)
    assert (err.reason, err.size, err.limit) == ("too_large", 118, 50)
    data, digest = read_index_file(folder, 1000)
    assert data == {"kind": "nuclei"}
    assert digest == hashlib.sha256((folder / "index.json").read_bytes()).hexdigest()
    assert read_index_file(folder, 1000, expect_sha256=digest)[1] == digest
    assert reason(folder, expect_sha256="0" * 64).reason == "changed"


# --------------------------------------------------------------------------- strict reader


def test_corrupt_index_is_rejected_with_the_renderer_message(tmp_path: Path) -> None:
    folder = write_patch_folder(tmp_path, "nuc", _index("nuclei", 2), _nuclei_pixels(2))
    data = json.loads((folder / "index.json").read_text())
    data["items"][1]["cohort"] = 5
    (folder / "index.json").write_text(json.dumps(data))
    with pytest.raises(RenderError) as info:
        read_patch_folder(folder)
    assert info.value.message == (
        f"patch library: {folder / 'index.json'}: item 1 (000001.png): cohort 5 not in 0..1"
    )
    (folder / "index.json").write_text("{not json")
    with pytest.raises(RenderError, match=r"nuc/index.json: not valid JSON \(Expecting"):
        read_patch_folder(folder)
    with pytest.raises(RenderError, match=r"nowhere: folder not found"):
        read_patch_folder(tmp_path / "nowhere")


def test_strict_reader_limits(tmp_path: Path) -> None:
    folder = write_patch_folder(tmp_path, "nuc", _index("nuclei", 3), _nuclei_pixels(3))
    with pytest.raises(ResourceLimitError, match="3 patches, more than the limit of 2"):
        read_patch_folder(folder, limits=Limits(max_patches=2))
    with pytest.raises(ResourceLimitError, match="more than 50 pixels in all") as info:
        read_patch_folder(folder, limits=Limits(max_library_pixels=50))
    assert "000001.png" in info.value.message  # 42 pixels each: the second one is too many
