from __future__ import annotations

import math

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.slides.predict import SinkBase, predict_slide, segment_tile
from synthlang.slides.reader import Slide
from synthlang.slides.tiles import plan_tiles
from tests.synthlang.slides.helpers import (
    LYMPHOCYTE,
    NUCLEUS,
    TISSUE,
    dark_predictor,
    disk,
    two_class_predictor,
)


def _field(h: int, w: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = TISSUE
    return img


def test_nuclei_on_tile_borders_are_reported_once() -> None:
    # model grid = level 0 (mpp 0.5), tile 64, overlap 16 -> cores of 48 px
    img = _field(200, 200)
    centres = [(48.0, 30.0), (96.3, 96.0), (47.5, 120.0), (144.0, 47.6), (20.0, 20.0), (170, 150)]
    for x, y in centres:
        disk(img, x, y, 6.0, NUCLEUS)
    slide = Slide.from_array(img, mpp=0.5)
    plan = plan_tiles(slide, tile=64, overlap=16)
    assert plan.n_tiles == 25  # nuclei sit on core borders, inside several tiles
    r = predict_slide(
        slide, dark_predictor, tile=64, overlap=16, progress=False, keep_nuclei=True, tissue=False
    )
    assert r.nuclei is not None and r.counts == {"nucleus": len(centres)}
    found = sorted((round(n.x), round(n.y)) for n in r.nuclei)
    assert found == sorted((round(x), round(y)) for x, y in centres)
    assert [n.id for n in r.nuclei] == list(range(1, len(centres) + 1))


def test_level0_coordinates_under_a_2x_scale() -> None:
    img = _field(300, 360)  # 0.25 um/px; model at 0.5 um/px: factor 2
    disk(img, 201.0, 133.0, 16.0, NUCLEUS)
    slide = Slide.from_array(img, mpp=0.25)
    r = predict_slide(
        slide, dark_predictor, tile=64, overlap=16, progress=False, keep_nuclei=True, tissue=False
    )
    assert r.nuclei is not None and len(r.nuclei) == 1
    n = r.nuclei[0]
    assert n.x == pytest.approx(201.0, abs=1.0) and n.y == pytest.approx(133.0, abs=1.0)
    x0, y0 = n.polygon.min(axis=0)
    x1, y1 = n.polygon.max(axis=0)
    assert x0 == pytest.approx(185, abs=2.5) and x1 == pytest.approx(217, abs=2.5)
    assert y0 == pytest.approx(117, abs=2.5) and y1 == pytest.approx(149, abs=2.5)
    assert n.area_um2 == pytest.approx(math.pi * (16 * 0.25) ** 2, rel=0.1)
    assert n.probability == pytest.approx(0.9)


def test_region_keeps_only_its_nuclei() -> None:
    img = _field(160, 160)
    for x in (20.0, 60.0, 100.0, 140.0):
        disk(img, x, 80.0, 5.0, NUCLEUS)
    slide = Slide.from_array(img, mpp=0.5)
    r = predict_slide(
        slide,
        dark_predictor,
        tile=64,
        overlap=16,
        progress=False,
        keep_nuclei=True,
        region=(40, 0, 80, 160),
        tissue=False,
    )
    assert r.nuclei is not None
    assert sorted(round(n.x) for n in r.nuclei) == [60, 100]
    assert r.region == (40, 0, 80, 160)


def test_touching_nuclei_are_split_and_classes_kept() -> None:
    img = _field(120, 160)
    disk(img, 40.0, 60.0, 8.0, NUCLEUS)
    disk(img, 54.0, 60.0, 8.0, NUCLEUS)  # touches the first
    disk(img, 110.0, 60.0, 4.0, LYMPHOCYTE)
    slide = Slide.from_array(img, mpp=0.5)
    r = predict_slide(
        slide,
        two_class_predictor,
        class_names=["tumor", "lymphocyte"],
        tile=64,
        overlap=16,
        progress=False,
        keep_nuclei=True,
        tissue=False,
    )
    assert r.counts == {"tumor": 2, "lymphocyte": 1}
    assert r.density.shape[0] == 2 and int(r.density.sum()) == 3
    assert r.total == 3 and r.density_per_mm2()["tumor"] == pytest.approx(2 / r.tissue_area_mm2)


class _Collect(SinkBase):
    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()
        self.tiles: list[tuple[int, int, tuple[int, int]]] = []
        self.nuclei = 0

    def begin(self, plan, class_names):  # type: ignore[no-untyped-def]
        self.names = tuple(class_names)

    def add_labels(self, tile, labels):  # type: ignore[no-untyped-def]
        self.tiles.append((tile.row, tile.col, labels.shape))

    def add_nucleus(self, nucleus):  # type: ignore[no-untyped-def]
        self.nuclei += 1


def test_sinks_and_tissue_only_tiles() -> None:
    img = np.full((200, 300, 3), 240, np.uint8)
    img[40:160, 20:140] = TISSUE
    for x, y in ((50, 60), (100, 120)):
        disk(img, x, y, 5.0, NUCLEUS)
    slide = Slide.from_array(img, mpp=0.5)
    sink = _Collect()
    r = predict_slide(slide, dark_predictor, tile=64, overlap=16, progress=False, sinks=[sink])
    assert r.nuclei is None and r.total == 2 and sink.nuclei == 2
    assert sink.names == ("nucleus",)
    assert r.n_tiles == len(sink.tiles) < r.n_cores
    assert all(col < 3 for _, col, _ in sink.tiles)
    assert r.tissue_area_mm2 == pytest.approx(120 * 120 * 0.25 / 1e6, rel=0.1)


def test_bad_predictor_output() -> None:
    slide = Slide.from_array(_field(64, 64), mpp=0.5)
    with pytest.raises(DataError, match="shape"):
        predict_slide(slide, lambda x: x, tile=32, overlap=0, progress=False, tissue=False)
    with pytest.raises(DataError, match="NaN"):
        predict_slide(
            slide,
            lambda x: np.full((len(x), 1, 32, 32), np.nan),
            tile=32,
            overlap=0,
            progress=False,
            tissue=False,
        )
    with pytest.raises(DataError, match="class names"):
        predict_slide(
            slide, dark_predictor, class_names=["a", "b"], tile=32, overlap=0, progress=False
        )


def test_progress_bar_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    slide = Slide.from_array(_field(64, 64), mpp=0.5)
    predict_slide(slide, dark_predictor, tile=32, overlap=0, progress=True, tissue=False)
    assert "tile" in capsys.readouterr().err
    predict_slide(slide, dark_predictor, tile=32, overlap=0, progress=False, tissue=False)
    assert capsys.readouterr().err == ""


def test_segment_tile_background_only() -> None:
    s = segment_tile(np.zeros((2, 16, 16), np.float32))
    assert s.instances.max() == 0 and s.labels.max() == 0


def test_segment_tile_fills_a_ring_when_asked() -> None:
    yy, xx = np.mgrid[:32, :32]
    d = np.hypot(yy - 16, xx - 16)
    p = ((d >= 3) & (d <= 8)).astype(np.float32)[None]
    ring = segment_tile(p, split_distance=3)
    filled = segment_tile(p, split_distance=3, fill_holes=True)
    assert ring.labels[16, 16] == 0 and filled.labels[16, 16] == 1
    assert ring.instances.max() > 1 and filled.instances.max() == 1


def test_segment_tile_completes_half_marked_nuclei() -> None:
    yy, _ = np.mgrid[:32, :32]
    nuclei = np.zeros((32, 32), np.int32)
    nuclei[8:24, 8:24] = 1
    p = ((nuclei == 1) & (yy < 16)).astype(np.float32)[None]  # its upper half
    plain = segment_tile(p, split_distance=3)
    whole = segment_tile(p, split_distance=3, nuclei=nuclei)
    assert plain.labels[20, 16] == 0 and (whole.labels[nuclei == 1] == 1).all()


def test_threads_give_the_same_nuclei() -> None:
    img = _field(150, 180)
    for x, y in ((30, 30), (90, 47), (150, 120), (47.5, 96)):
        disk(img, x, y, 6.0, NUCLEUS)
    slide = Slide.from_array(img, mpp=0.5)
    runs = [
        predict_slide(
            slide,
            dark_predictor,
            tile=64,
            overlap=16,
            batch=2,
            workers=w,
            progress=False,
            keep_nuclei=True,
            tissue=False,
        )
        for w in (1, 3)
    ]
    a, b = (r.nuclei for r in runs)
    assert a is not None and b is not None and len(a) == len(b) == 4
    for n, m in zip(a, b, strict=True):
        assert (n.id, n.x, n.y) == (m.id, m.x, m.y)
        np.testing.assert_array_equal(n.polygon, m.polygon)
