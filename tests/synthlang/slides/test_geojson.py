from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.slides.geojson import rasterize, read_annotations

SQUARE = [[[10, 10], [30, 10], [30, 30], [10, 30], [10, 10]]]
HOLE = [[15, 15], [25, 15], [25, 25], [15, 25], [15, 15]]


def _feature(geometry: dict, props: dict | None = None) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props or {}}


def test_qupath_list_export_with_multipolygons_holes_and_points(tmp_path: Path) -> None:
    feats = [
        _feature(
            {"type": "Polygon", "coordinates": [SQUARE[0], HOLE]},
            {"objectType": "annotation", "classification": {"name": "Tumor", "color": [200, 0, 0]}},
        ),
        _feature(
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [[[40, 40], [44, 40], [44, 44], [40, 44], [40, 40]]],
                    [[[50, 50], [54, 50], [54, 54], [50, 54], [50, 50]]],
                ],
            },
            {"classification": "Lymphocyte"},
        ),
        _feature({"type": "Point", "coordinates": [5, 5]}, {"class": "Tumor"}),
        _feature({"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]]}),
    ]
    path = tmp_path / "export.geojson"
    path.write_text(json.dumps(feats))  # QuPath's plain-list export
    notes: list[str] = []
    anns = read_annotations(path, notes=notes)
    assert [a.class_name for a in anns] == ["Tumor", "Lymphocyte", None]
    assert anns[0].object_type == "annotation" and anns[1].object_type is None
    assert notes and "Point" in notes[0]
    labels, inst = rasterize(anns, (0, 0, 60, 60), ["Tumor", "Lymphocyte"])
    assert labels[12, 12] == 1 and labels[20, 20] == 0  # the hole
    assert labels[42, 42] == 2 and labels[52, 52] == 2 and inst[42, 42] == inst[52, 52] == 2
    assert labels[2, 2] == 0  # unclassified: not drawn by default
    labels, inst = rasterize(anns, (0, 0, 60, 60), {"Tumor": 3}, unclassified=7)
    assert labels[2, 2] == 7 and labels[42, 42] == 0 and inst.max() == 2
    # pixel centres: (10, 10)-(30, 30) covers pixels 10..29
    full, _ = rasterize(anns[:1], (0, 0, 60, 60), ["Tumor"])
    assert int((full == 1).sum()) == 20 * 20 - 10 * 10


def test_region_offset_and_downsample(tmp_path: Path) -> None:
    path = tmp_path / "a.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    _feature(
                        {"type": "Polygon", "coordinates": SQUARE},
                        {"classification": {"name": "x"}},
                    ),
                ],
            }
        )
    )
    anns = read_annotations(path)
    labels, _ = rasterize(anns, (10, 10, 40, 40), ["x"], downsample=4)
    assert labels.shape == (10, 10)
    assert np.array_equal(np.nonzero(labels.any(axis=0))[0], np.arange(0, 5))
    empty, inst = rasterize(anns, (100, 100, 10, 10), ["x"])
    assert not empty.any() and not inst.any()


def test_self_intersecting_polygon_repaired(tmp_path: Path) -> None:
    bowtie = [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]
    path = tmp_path / "b.geojson"
    path.write_text(
        json.dumps([_feature({"type": "Polygon", "coordinates": bowtie}, {"class": "a"})])
    )
    (a,) = read_annotations(path)
    assert a.geometry.is_valid and a.geometry.area == pytest.approx(50)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "not valid JSON"),
        ('{"type": "Topology"}', "FeatureCollection"),
        (
            '[{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[1, 2]]}}]',
            "malformed",
        ),
        ('[{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": "x"}}]', "malformed"),
        ("[3]", "not a JSON object"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        read_annotations(path)
    with pytest.raises(DataError, match="no such file|not found|does not exist"):
        read_annotations(tmp_path / "absent.geojson")
