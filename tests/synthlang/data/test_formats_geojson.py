"""The GeoJSON export: valid polygons along the pixel edges of each instance, QuPath's keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from PIL import Image
from shapely.geometry import MultiPolygon, Polygon, shape

from synthlang.data.formats.geojson import (
    PALETTE,
    class_color,
    feature_collection_bytes,
    instance_features,
    mask_geometry,
    write_feature_collection,
)
from tests.synthlang.data.conftest import CLASSES


def _raster(geom: object, shape_rc: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre (c + 0.5, r + 0.5) lies inside the geometry."""
    rows, cols = np.mgrid[0 : shape_rc[0], 0 : shape_rc[1]]
    return shapely.contains_xy(geom, cols + 0.5, rows + 0.5)


@pytest.mark.parametrize("index", range(4))
def test_every_instance_is_one_valid_feature(classes_dataset: Path, index: int) -> None:
    name = f"{index:06d}"
    doc = json.loads((classes_dataset / "geojson" / f"{name}.geojson").read_text())
    assert doc["type"] == "FeatureCollection"
    inst = np.array(Image.open(classes_dataset / "instances" / f"{name}.png")).astype(int)
    labels = np.array(Image.open(classes_dataset / "labels" / f"{name}.png"))
    ids = sorted(set(np.unique(inst).tolist()) - {0})
    assert [f["properties"]["id"] for f in doc["features"]] == ids
    kinds = set()
    for feature in doc["features"]:
        props = feature["properties"]
        i = props["id"]
        want = inst == i
        assert feature["type"] == "Feature" and props["objectType"] == "annotation"
        k = int(labels[want][0])
        assert props["classification"] == {"name": CLASSES[k - 1], "color": list(PALETTE[k - 1])}
        geom = shape(feature["geometry"])
        kinds.add(feature["geometry"]["type"])
        assert geom.is_valid, shapely.is_valid_reason(geom)
        assert geom.area == pytest.approx(want.sum(), rel=1e-9)  # exact: pixel edges
        assert np.array_equal(_raster(geom, inst.shape), want)
    assert "Polygon" in kinds


def test_holes_pieces_and_corners() -> None:
    ring = np.zeros((5, 5), bool)
    ring[1:4, 1:4] = True
    ring[2, 2] = False
    geom = mask_geometry(ring)
    assert isinstance(geom, Polygon) and len(geom.interiors) == 1 and geom.area == 8
    assert geom.exterior.is_ccw and len(geom.exterior.coords) == 5  # collinear points removed
    outer = mask_geometry(ring, holes=False)
    assert isinstance(outer, Polygon) and not outer.interiors and outer.area == 9
    diagonal = np.eye(3, dtype=bool)
    pieces = mask_geometry(diagonal)
    assert isinstance(pieces, MultiPolygon) and len(pieces.geoms) == 3 and pieces.is_valid
    assert mask_geometry(np.zeros((2, 2), bool)).is_empty
    with pytest.raises(ValueError, match=r"must be \(H, W\)"):
        mask_geometry(np.zeros(3, bool))


def test_instance_features_options() -> None:
    inst = np.zeros((4, 6), np.int32)
    inst[1, 1:3] = 2
    inst[3, 4:] = 7
    inst[0, 5] = 7
    features = instance_features(
        inst,
        {2: "tumor"},
        properties={7: {"measurements": {"score": 0.5}}},
        offset=(100, 200),
        scale=2.0,
        object_type="detection",
    )
    a, b = features
    assert a["geometry"] == {
        "type": "Polygon",
        "coordinates": [[[102, 202], [106, 202], [106, 204], [102, 204], [102, 202]]],
    }
    assert a["properties"] == {
        "objectType": "detection",
        "classification": {"name": "tumor", "color": class_color("tumor")},
        "id": 2,
    }
    assert b["geometry"]["type"] == "MultiPolygon"
    starts = [part[0][0] for part in b["geometry"]["coordinates"]]
    assert starts == [[110, 200], [108, 206]]  # parts in top-left order, rings from top-left
    assert b["properties"] == {"objectType": "detection", "id": 7, "measurements": {"score": 0.5}}
    assert shape(b["geometry"]).area == 3 * 4.0
    half = instance_features(inst, {}, offset=(0.5, 0), scale=0.25)
    assert half[0]["geometry"]["coordinates"][0][:2] == [[0.75, 0.25], [1.25, 0.25]]
    with pytest.raises(ValueError, match=r"must be \(H, W\)"):
        instance_features(np.zeros((2, 2, 2), np.int32), {})


def test_colors_and_files(tmp_path: Path) -> None:
    assert class_color("x", 11) == list(PALETTE[1])
    assert class_color("immune") == class_color("immune") and len(class_color("a")) == 3
    inst = np.zeros((3, 3), np.int32)
    inst[1, 1] = 1
    features = instance_features(inst, {1: "a"}, colors={"a": (1, 2, 3)})
    path = tmp_path / "x.geojson"
    write_feature_collection(path, features)
    assert path.read_bytes() == feature_collection_bytes(features)
    assert json.loads(path.read_text()) == {"type": "FeatureCollection", "features": features}
    assert features[0]["properties"]["classification"]["color"] == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["x.geojson"]


def test_the_scene_has_pieces_and_holes(classes_dataset: Path) -> None:
    kinds, holes = set(), 0
    for path in sorted((classes_dataset / "geojson").glob("*.geojson")):
        for feature in json.loads(path.read_text())["features"]:
            geom = shape(feature["geometry"])
            kinds.add(geom.geom_type)
            parts = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
            holes += sum(len(p.interiors) for p in parts)
    assert kinds == {"Polygon", "MultiPolygon"} and holes > 0
