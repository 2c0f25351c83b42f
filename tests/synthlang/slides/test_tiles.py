from __future__ import annotations

import numpy as np
import pytest

from synthlang.slides.reader import Slide
from synthlang.slides.tiles import iter_batches, plan_tiles, read_tile
from synthlang.slides.tissue import tissue_mask
from tests.synthlang.slides.helpers import TISSUE, tissue_slide


@pytest.fixture
def slide() -> Slide:
    return Slide.from_array(tissue_slide(320, 400), mpp=0.25)


def test_plan_covers_tissue_only(slide: Slide) -> None:
    tissue = tissue_mask(slide, mpp=1.0, min_tissue_um2=10, max_hole_um2=10)
    plan = plan_tiles(slide, model_mpp=0.5, tile=64, overlap=16, tissue=tissue)
    assert plan.factor == 2.0 and plan.core == 48 and plan.margin == 8
    assert plan.model_shape == (160, 200) and plan.grid == (4, 5)
    assert 0 < plan.n_tiles < 20
    for t in plan.tiles():
        assert tissue.touches(*plan.core_box(t.row, t.col))
    # every tissue pixel lies in a planned core
    covered = np.zeros((320, 400), bool)
    for t in plan.tiles():
        x0, y0, x1, y1 = (int(v) for v in plan.core_box(t.row, t.col))
        covered[y0:y1, x0:x1] = True
    truth = (tissue_slide(320, 400) == TISSUE).all(axis=-1)
    assert covered[truth].all()
    assert not covered[:, 300:].any()  # the empty right third is skipped


def test_plan_respects_region(slide: Slide) -> None:
    plan = plan_tiles(slide, model_mpp=0.5, tile=64, overlap=16, region=(100, 60, 150, 97))
    assert plan.region == (100, 60, 150, 97)
    assert plan.model_shape == (49, 75) and plan.grid == (2, 2)
    for t in plan.tiles():
        x0, y0, x1, y1 = plan.core_box(t.row, t.col)
        assert 100 <= x0 < x1 <= 250.0 + 2 and 60 <= y0 < y1 <= 157 + 2
    last = plan.tile_at(plan.n_tiles - 1)
    assert last.core == (8, 8, 8 + 49 - 48, 8 + 75 - 48)
    clipped = plan_tiles(slide, tile=64, overlap=16, region=(350, 300, 500, 500))
    assert clipped.region == (350, 300, 50, 20)
    with pytest.raises(ValueError, match="outside"):
        plan_tiles(slide, region=(1000, 0, 10, 10))
    with pytest.raises(ValueError, match="overlap"):
        plan_tiles(slide, tile=64, overlap=7)


def test_tiles_are_resampled_to_the_model_grid() -> None:
    a = np.zeros((64, 64, 3), np.uint8)
    a[:, 32:] = 200
    s = Slide.from_array(a, mpp=0.25)
    plan = plan_tiles(s, model_mpp=0.5, tile=32, overlap=16)
    t = plan.tile_at(0)
    assert (t.x, t.y) == (-16.0, -16.0)
    arr = read_tile(s, plan, t)
    assert arr.shape == (32, 32, 3)
    assert (arr[:8] == 255).all()  # margin outside the slide: white
    np.testing.assert_array_equal(arr[8:, 8:24], 0)
    np.testing.assert_array_equal(arr[8:, 24:], 200)


def test_batches_and_threads_agree(slide: Slide) -> None:
    plan = plan_tiles(slide, model_mpp=0.5, tile=64, overlap=16)
    one = list(iter_batches(slide, plan, batch=3, workers=1))
    two = list(iter_batches(slide, plan, batch=3, workers=2))
    assert [len(t) for t, _ in one] == [3] * (plan.n_tiles // 3) + (
        [plan.n_tiles % 3] if plan.n_tiles % 3 else []
    )
    for (ta, xa), (tb, xb) in zip(one, two, strict=True):
        assert ta == tb and xa.dtype == np.float32
        np.testing.assert_array_equal(xa, xb)
        assert xa.min() >= 0 and xa.max() <= 1
