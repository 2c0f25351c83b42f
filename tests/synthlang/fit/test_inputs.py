"""Annotation sources of ``synthlang fit`` (synthlang.fit.inputs, synthlang.fit.annotations)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.common.imageio import write_png
from synthlang.fit import FitOptions, fit_files
from tests.synthlang.fit.helpers import fit_synthetic, lets_of, mvn_of

# --------------------------------------------------------------------------- other inputs


def test_geojson_and_npz_annotations_give_the_same_library(synthetic: dict, tmp_path: Path) -> None:
    from skimage.measure import find_contours

    inst = synthetic["inst_arr"]
    cls = synthetic["cls_arr"]
    names = {1: "tumor", 2: "lymphocyte"}
    features: list[dict[str, Any]] = []
    for ident in range(1, int(inst.max()) + 1):
        m = np.pad(inst == ident, 1)
        if not m.any():
            features.append({"type": "Feature", "geometry": None, "properties": {}})
            continue
        contour = max(find_contours(m.astype(float), 0.5), key=len) - 1
        code = int(np.bincount(cls[inst == ident]).argmax())
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [contour[:, ::-1].tolist()]},
                "properties": {"classification": {"name": names[code]}},
            }
        )
    gj = tmp_path / "img.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    fit_files([synthetic["image"]], tmp_path / "g" / "he.scene", FitOptions(), geojson=[gj])
    class4 = np.full(int(inst.max()) + 1, -1, np.int16)
    for ident in range(1, int(inst.max()) + 1):
        if (inst == ident).any():
            class4[ident] = {1: 0, 2: 2}[int(np.bincount(cls[inst == ident]).argmax())]
    npz = tmp_path / "img_labels.npz"
    np.savez(npz, inst_map=inst, inst_class4=class4)
    fit_files([synthetic["image"]], tmp_path / "n" / "he.scene", FitOptions(), npz=[npz])
    ref, _ = fit_synthetic(synthetic, tmp_path / "l" / "he.scene")
    for folder in ("g", "n"):
        lets = lets_of((tmp_path / folder / "he.scene").read_text())
        ref_lets = lets_of(ref)
        for name in ("he_tumor", "he_lymphocyte"):
            assert mvn_of(lets[name])[0] == pytest.approx(mvn_of(ref_lets[name])[0], abs=3e-3)


def test_instance_class_table(synthetic: dict, tmp_path: Path) -> None:
    inst = synthetic["inst_arr"]
    cls = synthetic["cls_arr"]
    table = tmp_path / "classes.csv"
    rows = ["id,class"] + [
        f"{i},{'tumor' if np.bincount(cls[inst == i]).argmax() == 1 else 'lymphocyte'}"
        for i in np.unique(inst)
        if i > 0
    ]
    table.write_text("\n".join(rows) + "\n")
    r = fit_files(
        [synthetic["image"]],
        tmp_path / "t" / "he.scene",
        FitOptions(patches=False),
        labels=[synthetic["inst"]],
        instance_classes=[table],
    )
    assert sorted(c.name for c in r.classes) == ["lymphocyte", "tumor"]


def test_single_class_without_class_information(synthetic: dict, tmp_path: Path) -> None:
    r = fit_files(
        [synthetic["image"]],
        tmp_path / "he.scene",
        FitOptions(patches=False),
        labels=[synthetic["inst"]],
    )
    assert [c.name for c in r.classes] == ["nucleus"]


def test_sparse_instance_ids_are_compacted(synthetic: dict, tmp_path: Path) -> None:
    sparse = tmp_path / "sparse_inst.png"
    write_png(sparse, synthetic["inst_arr"] * 3000)  # ids up to 63000, gaps between them
    r = fit_files(
        [synthetic["image"]],
        tmp_path / "s" / "he.scene",
        FitOptions(),
        labels=[sparse],
        class_labels=[synthetic["cls"]],
        classes_json=synthetic["map"],
    )
    assert {c.name: c.n_objects for c in r.classes} == {"tumor": 9, "lymphocyte": 12}
    index = json.loads((tmp_path / "s" / "tumor_nuclei" / "index.json").read_text())
    assert len(index["items"]) == 9


# --------------------------------------------------------------------------- user errors


def test_size_mismatch_is_a_data_error(synthetic: dict, tmp_path: Path) -> None:
    write_png(tmp_path / "small_inst.png", np.zeros((10, 10), np.int32))
    with pytest.raises(DataError, match=r"small_inst\.png: annotation is 10 x 10 px but image"):
        fit_files(
            [synthetic["image"]],
            tmp_path / "x.scene",
            FitOptions(),
            labels=[tmp_path / "small_inst.png"],
        )


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_nucls_train_npz(realdata: Path, tmp_path: Path) -> None:
    train = sorted((realdata / "nucls" / "square256" / "train").glob("*_labels.npz"))
    images = [p.with_name(p.name.replace("_labels.npz", ".png")) for p in train]
    result = fit_files(images, tmp_path / "nucls.scene", FitOptions(max_patches=10), npz=train)
    names = {c.name for c in result.classes}
    assert {"tumor", "lymphocyte", "stroma"} <= names
    lets = lets_of((tmp_path / "nucls.scene").read_text())
    lymph, _, _ = mvn_of(lets["he_lymphocyte"])
    assert lymph[2] > lymph[1]
