from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import shapely
import tifffile
from PIL import Image

from synthlang.slides.geojson import rasterize, read_annotations
from synthlang.slides.outputs import (
    GeoJSONWriter,
    immune_rich_area_mm2,
    predict_to_folder,
    summary_rows,
)
from synthlang.slides.predict import predict_slide
from synthlang.slides.reader import Slide, open_slide
from tests.synthlang.slides.helpers import (
    LYMPHOCYTE,
    NUCLEUS,
    disk,
    tissue_slide,
    two_class_predictor,
    write_tiff,
)


@pytest.fixture
def slide_path(tmp_path: Path) -> Path:
    img = tissue_slide(320, 400)
    rng = np.random.default_rng(7)
    placed = 0
    while placed < 30:
        x, y = rng.uniform(40, 230), rng.uniform(40, 280)
        if img[int(y), int(x)].tolist() != [225, 160, 205]:
            continue
        disk(img, x, y, 5.0 if placed % 3 else 3.0, NUCLEUS if placed % 3 else LYMPHOCYTE)
        placed += 1
    return write_tiff(tmp_path / "case 1.tif", img, mpp=0.5, levels=2)


def _predict(slide_path: Path, out: Path, **kw: object):  # type: ignore[no-untyped-def]
    with open_slide(slide_path) as s:
        return predict_to_folder(
            s,
            two_class_predictor,
            out,
            class_names=["tumor", "lymphocyte"],
            tile=64,
            overlap=16,
            progress=False,
            label_mask=True,
            **kw,  # type: ignore[arg-type]
        )


def test_folder_outputs_are_consistent(slide_path: Path, tmp_path: Path) -> None:
    result, paths = _predict(slide_path, tmp_path / "out")
    assert sorted(paths) == ["geojson", "labels", "overlay", "summary"]
    assert paths["geojson"].name == "case 1_nuclei.geojson"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths.values()
    )  # no temporary files left
    data = json.loads(paths["geojson"].read_text())
    assert data["type"] == "FeatureCollection"
    feats = data["features"]
    assert len(feats) == result.total > 20
    per_class: dict[str, int] = {}
    for f in feats:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Polygon"
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        assert shapely.Polygon(ring).is_valid
        props = f["properties"]
        assert props["objectType"] == "detection"
        name = props["classification"]["name"]
        assert len(props["classification"]["color"]) == 3
        assert set(props["measurements"]) == {"probability", "area_um2"}
        per_class[name] = per_class.get(name, 0) + 1
    assert per_class == {k: v for k, v in result.counts.items() if v}
    with open(paths["summary"], newline="") as fh:
        rows = {r["class"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"tumor", "lymphocyte", "all"}
    for name in ("tumor", "lymphocyte"):
        assert int(rows[name]["count"]) == per_class.get(name, 0)
        assert float(rows[name]["density_per_mm2"]) == pytest.approx(
            per_class.get(name, 0) / result.tissue_area_mm2, rel=1e-4
        )
    assert int(rows["all"]["count"]) == len(feats)
    assert rows["lymphocyte"]["immune_rich_area_mm2"] != ""
    assert rows["tumor"]["immune_rich_area_mm2"] == ""
    with Image.open(paths["overlay"]) as overlay:
        assert overlay.size == (400, 320)
    with tifffile.TiffFile(paths["labels"]) as tif:
        assert tif.is_ome
        labels = tif.series[0].asarray()
        assert labels.shape == (320, 400) and labels.dtype == np.uint8
        assert set(np.unique(labels)) <= {0, 1, 2}
        assert 'PhysicalSizeX="0.5"' in tif.ome_metadata
    for f in feats:
        cx, cy = np.mean(f["geometry"]["coordinates"][0][:-1], axis=0)
        want = 1 if f["properties"]["classification"]["name"] == "tumor" else 2
        assert labels[int(cy), int(cx)] == want


def test_label_mask_pyramid_and_scale(tmp_path: Path) -> None:
    img = np.zeros((700, 600, 3), np.uint8)
    img[:] = (225, 160, 205)
    disk(img, 300, 350, 8, NUCLEUS)
    s = Slide.from_array(img, mpp=0.25)
    result, paths = predict_to_folder(
        s,
        two_class_predictor,
        tmp_path,
        class_names=["tumor", "lymphocyte"],
        tile=64,
        overlap=16,
        progress=False,
        label_mask=True,
        overlay=False,
        tissue=False,
    )
    with tifffile.TiffFile(paths["labels"]) as tif:
        levels = tif.series[0].levels
        assert [lv.shape for lv in levels] == [(350, 300), (88, 75)]
        a = levels[0].asarray()
    assert a[175, 150] == 1 and a[0, 0] == 0
    assert result.counts == {"tumor": 1, "lymphocyte": 0}


def test_geojson_round_trip(slide_path: Path, tmp_path: Path) -> None:
    with open_slide(slide_path) as s:
        result = predict_slide(
            s,
            two_class_predictor,
            class_names=["tumor", "lymphocyte"],
            tile=64,
            overlap=16,
            progress=False,
            keep_nuclei=True,
        )
    assert result.nuclei
    path = tmp_path / "n.geojson"
    with GeoJSONWriter(path) as w:
        for n in result.nuclei:
            w.add_nucleus(n)
    anns = read_annotations(path)
    assert len(anns) == len(result.nuclei)
    for a, n in zip(anns, result.nuclei, strict=True):
        assert a.class_name == n.class_name and a.object_type == "detection"
        assert a.geometry.is_valid
        assert a.geometry.centroid.distance(shapely.Point(n.x, n.y)) < 1.0
    labels, inst = rasterize(anns, (0, 0, 400, 320), ["tumor", "lymphocyte"])
    assert inst.max() == len(anns)
    for k, n in enumerate(result.nuclei, start=1):
        assert inst[int(n.y), int(n.x)] == k
        assert labels[int(n.y), int(n.x)] == n.class_id
    # the instance area matches the reported area (level-0 pixels of 0.25 um²)
    areas = np.bincount(inst.ravel())[1:] * 0.5**2
    reported = np.array([n.area_um2 for n in result.nuclei])
    assert np.median(np.abs(areas - reported) / reported) < 0.25
    # a region at the model grid's scale
    sub_labels, sub_inst = rasterize(
        anns, (100, 100, 80, 60), ["tumor", "lymphocyte"], downsample=2
    )
    assert sub_labels.shape == (30, 40)


def test_aborted_writer_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.geojson"
    with pytest.raises(RuntimeError):
        with GeoJSONWriter(path):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_immune_rich_area_and_summary() -> None:
    img = np.zeros((400, 400, 3), np.uint8)
    img[:] = (225, 160, 205)
    for y in range(10, 200, 12):  # a dense lymphocyte field in the top half
        for x in range(10, 400, 12):
            disk(img, x, y, 3, LYMPHOCYTE)
    s = Slide.from_array(img, mpp=0.5)
    r = predict_slide(
        s,
        two_class_predictor,
        class_names=["tumor", "lymphocyte"],
        tile=64,
        overlap=16,
        progress=False,
        tissue=False,
    )
    area = immune_rich_area_mm2(r, "lymphocyte", radius_um=20, min_density=2000)
    assert r.tissue_area_mm2 == pytest.approx(0.04)
    assert 0.015 < area < 0.025  # about the top half
    rows = summary_rows(r, immune_classes=["lymphocyte"], radius_um=20, min_density=2000)
    assert float(rows[1]["immune_rich_area_mm2"]) == pytest.approx(area)
    with pytest.raises(ValueError, match="unknown"):
        summary_rows(r, immune_classes=["TIL"])


def test_aborted_label_mask_and_overlay_colours(tmp_path: Path) -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    img[:] = (225, 160, 205)
    disk(img, 100, 100, 8, NUCLEUS)
    s = Slide.from_array(img, mpp=0.5)

    def failing(x: np.ndarray) -> np.ndarray:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        predict_to_folder(
            s, failing, tmp_path, tile=64, overlap=16, progress=False, label_mask=True
        )
    assert list(tmp_path.iterdir()) == []
    _, paths = predict_to_folder(
        s,
        two_class_predictor,
        tmp_path,
        class_names=["tumor", "lymphocyte"],
        colors={"tumor": (0, 255, 0)},
        tile=64,
        overlap=16,
        progress=False,
        tissue=False,
    )
    with Image.open(paths["overlay"]) as im:
        assert im.getpixel((100, 100)) == (0, 255, 0)
