"""Preview sheets (paper Fig. 2 layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang import ir
from synthlang.engine.preview import (
    checkerboard,
    class_image,
    over_checkerboard,
    preview_sheet,
    preview_tiles,
)
from synthlang.engine.render import render


def scene() -> ir.Scene:
    return ir.Scene(
        name="p",
        size=(32, 40),
        layers=(
            ir.Layer(
                index=0, name="bg", shape=ir.FillShape(), color=ir.MVNColor(mean=(0.9, 0.8, 0.9))
            ),
            ir.Layer(
                index=1,
                name="cell",
                shape=ir.EllipseShape(semi_axes=(ir.Uniform(low=3, high=6),) * 2),
                placement=ir.Placement(mode="count", count=ir.Constant(value=5)),
                color=ir.MVNColor(mean=(0.5, 0.1, 0.6)),
            ),
        ),
        masks=(ir.MaskRule(category="cell"),),
    )


def test_tiles_in_figure_order() -> None:
    s = render(scene(), seed=0, keep_layers=True)
    titles = [t for t, _ in preview_tiles(s)]
    assert titles == [
        "Layer 0: bg",
        "Layer 1: cell",
        "noisy image",
        "ground truth image",
        "ground truth mask",
        "objects the mask selected",
    ]


def test_sheet_written_with_expected_grid(tmp_path: Path) -> None:
    s = render(scene(), seed=0, keep_layers=True)
    out = tmp_path / "p.png"
    sheet = preview_sheet(s, out, columns=3)
    assert out.exists()
    with Image.open(out) as img:
        assert img.size == sheet.size and img.mode == "RGB"
    # 5 tiles in 3 columns: 2 rows; each cell is the tile plus title strip and padding
    assert sheet.size[0] > 3 * 40 and sheet.size[1] > 2 * 32
    wide = preview_sheet(s, None, columns=5, scale=2)
    assert wide.size[0] > 5 * 80 and wide.size[1] > 64


def test_layer_tiles_show_checkerboard_where_transparent() -> None:
    s = render(scene(), seed=0, keep_layers=True)
    cell_tile = dict(preview_tiles(s))["Layer 1: cell"]
    transparent = s.layers[1].noisy[:, :, 3] == 0
    board = checkerboard((32, 40))
    np.testing.assert_allclose(cell_tile[transparent], board[transparent])
    rgba = np.zeros((2, 2, 4), np.float32)
    rgba[0, 0] = [1, 0, 0, 1]
    comp = over_checkerboard(rgba, square=1)
    np.testing.assert_array_equal(comp[0, 0], [1, 0, 0])


def test_sheet_without_layers_and_bad_arguments() -> None:
    s = render(scene(), seed=0)
    assert len(preview_tiles(s)) == 4  # noisy, clean, mask, selected objects
    preview_sheet(s, None)
    with pytest.raises(ValueError):
        preview_sheet(s, None, columns=0)


def test_class_map_tile_for_several_classes() -> None:
    one = render(scene(), seed=0)
    assert "mask classes" not in [t for t, _ in preview_tiles(one)]
    two = scene().model_copy(
        update={
            "masks": (),
            "classes": (
                ir.MaskClass(name="cell", rules=(ir.MaskRule(category="cell"),)),
                ir.MaskClass(name="bg", rules=(ir.MaskRule(category="bg"),)),
            ),
        }
    )
    s = render(two, seed=0)
    image = dict(preview_tiles(s))["mask classes"]
    assert image.shape == s.clean.shape
    cell, bg = image[s.labels == 1], image[s.labels == 2]
    assert len(np.unique(cell, axis=0)) == len(np.unique(bg, axis=0)) == 1
    assert not np.array_equal(cell[0], bg[0])
    assert class_image(np.zeros((2, 2), np.uint8)).max() == 0
    assert class_image(np.full((1, 1), 255, np.uint8)).shape == (1, 1, 3)


def test_selected_objects_are_outlined_and_regions_shown() -> None:
    from synthlang.engine.preview import selected_image

    s = render(scene(), seed=0)
    image = selected_image(s)
    outline = image == np.array([1.0, 0.85, 0.0], np.float32)
    edges = outline.all(axis=2)
    assert edges.any() and np.all(s.label_instances[edges] > 0)  # only on selected objects
    assert not edges[s.label_instances == 0].any()
    regioned = scene().model_copy(update={"regions": ir.VoronoiRegions(count=3)})
    r = render(regioned, seed=1)
    tiles = dict(preview_tiles(r))
    assert "regions" in tiles
    colours = {tuple(c) for c in tiles["regions"].reshape(-1, 3).tolist()}
    assert len(colours) == 3  # one colour per region
    none = scene().model_copy(update={"masks": ()})
    assert "objects the mask selected" not in dict(preview_tiles(render(none, seed=0)))
