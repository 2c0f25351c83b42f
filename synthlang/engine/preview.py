"""Preview sheets in the style of the paper's Fig. 2.

:func:`preview_sheet` lays out every layer of a sample rendered with
``keep_layers=True`` as RGBA over a checkerboard (the checkerboard shows the
transparent pixels), followed by the noisy image, the ground-truth image and
the ground-truth mask (and, for a scene with several mask classes, the class
map in distinct colours), the objects the mask rules selected and the regions,
each under a title. Only Pillow is used; titles
are drawn with Pillow's default font. Images that are not RGB (a scene with
``channels [...]``) are shown in false colour
(:func:`synthlang.common.channelio.false_colour`: channel 1 blue, 2 red, 3 green,
4 magenta, ...), followed by one gray tile per channel of the noisy image.

Example
-------
>>> from synthlang import ir
>>> from synthlang.engine.render import render
>>> scene = ir.Scene(name="s", size=(24, 32), layers=(
...     ir.Layer(index=0, name="bg", shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1))),))
>>> sheet = preview_sheet(render(scene, seed=0, keep_layers=True), None, columns=2)
>>> sheet.mode
'RGB'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from synthlang.common.channelio import false_colour
from synthlang.engine.base import Sample

__all__ = [
    "checkerboard",
    "over_checkerboard",
    "class_image",
    "selected_image",
    "preview_tiles",
    "preview_sheet",
]

_TITLE_HEIGHT = 16
_PAD = 6
_PALETTE = np.array(
    [
        (0.12, 0.47, 0.71), (1.00, 0.50, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16),
        (0.58, 0.40, 0.74), (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.74, 0.74, 0.13),
        (0.09, 0.75, 0.81), (0.50, 0.50, 0.50),
    ],
    dtype=np.float32,
)  # fmt: skip
"""Colours of class ids 1, 2, ... (repeating); the background is black."""


def class_image(labels: np.ndarray) -> np.ndarray:
    """Colour a ``(H, W)`` class map: black background, one palette colour per class id.

    Examples
    --------
    >>> (class_image(np.array([[0, 1, 2]], np.uint8))[0, :, 0] * 100).round().tolist()
    [0.0, 12.0, 100.0]
    """
    lut = np.zeros((256, 3), dtype=np.float32)
    lut[1:] = np.resize(_PALETTE, (255, 3))
    return lut[np.asarray(labels, dtype=np.uint8)]


def checkerboard(shape: tuple[int, int], square: int = 8) -> np.ndarray:
    """Return an ``(H, W, 3)`` float32 light-grey/white checkerboard.

    Examples
    --------
    >>> (checkerboard((2, 3), square=1)[:, :, 0] * 10).round().astype(int).tolist()
    [[10, 8, 10], [8, 10, 8]]
    """
    rows = (np.arange(shape[0]) // square)[:, None]
    cols = (np.arange(shape[1]) // square)[None, :]
    light = ((rows + cols) % 2 == 0).astype(np.float32)
    board = 0.8 + 0.2 * light
    return np.repeat(board[:, :, None], 3, axis=2).astype(np.float32)


def over_checkerboard(rgba: np.ndarray, square: int = 8) -> np.ndarray:
    """Composite an ``(H, W, C + 1)`` image with alpha over a checkerboard; ``(H, W, 3)`` float32.

    ``C = 3`` is RGBA; other channel counts are shown in false colour.
    """
    alpha = rgba[:, :, -1:]
    board = checkerboard(rgba.shape[:2], square)
    return (false_colour(rgba[:, :, :-1]) * alpha + board * (1.0 - alpha)).astype(np.float32)


def _to_pil(image: np.ndarray) -> Image.Image:
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    data = np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(data[:, :, :3]))


def preview_tiles(sample: Sample) -> list[tuple[str, np.ndarray]]:
    """Return the ``(title, (H, W, 3) image)`` tiles of a preview, in sheet order.

    Layers (when the sample kept them) over a checkerboard, then the noisy
    image, the ground-truth image and the ground-truth mask; with more than one
    mask class also the class map (:func:`class_image`); the objects the mask rules
    selected, outlined (:func:`selected_image`); and the regions of the header's
    decomposition, one colour each.
    """
    tiles: list[tuple[str, np.ndarray]] = []
    for i, layer in enumerate(sample.layers or []):
        tiles.append((f"Layer {i}: {layer.name}", over_checkerboard(layer.noisy)))
    rgb = np.shape(sample.noisy)[2] == 3
    suffix = "" if rgb else " (false colour)"
    tiles.append(("noisy image" + suffix, false_colour(sample.noisy)))
    tiles.append(("ground truth image" + suffix, false_colour(sample.clean)))
    tiles.append(("ground truth mask", sample.mask))
    if len(sample.classes) > 1:
        tiles.append(("mask classes", class_image(sample.labels)))
    if sample.label_instances.any():
        tiles.append(("objects the mask selected", selected_image(sample)))
    if sample.regions is not None:
        tiles.append(("regions", class_image(np.asarray(sample.regions) % 255 + 1)))
    if not rgb:
        for k, name in enumerate(sample.channels):
            tiles.append((f"noisy: {name}", np.asarray(sample.noisy)[:, :, k]))
    return tiles


def selected_image(sample: Sample) -> np.ndarray:
    """The clean image, faded, with the outline of every object a mask rule selected.

    Outlines are the pixels of a labelled object with a 4-neighbour of another id, in the
    colour of the object's class.
    """
    ids = np.asarray(sample.label_instances)
    edge = np.zeros(ids.shape, dtype=bool)
    edge[1:, :] |= ids[1:, :] != ids[:-1, :]
    edge[:-1, :] |= ids[:-1, :] != ids[1:, :]
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    edge[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    edge &= ids > 0
    out = 0.35 + 0.65 * false_colour(sample.clean)
    colours = class_image(sample.labels)
    if len(sample.classes) <= 1:
        colours[:] = (1.0, 0.85, 0.0)  # one class: yellow
    out[edge] = colours[edge]
    return out


def preview_sheet(
    sample: Sample,
    path: str | Path | None,
    columns: int = 5,
    *,
    scale: int = 1,
) -> Image.Image:
    """Lay out a sample's layers, noisy image, clean image and mask as one picture (Fig. 2).

    Parameters
    ----------
    sample : Sample
        A rendered sample; render with ``keep_layers=True`` to include the
        layers (otherwise only the three images are shown).
    path : str or Path or None
        Where to save the sheet (format from the suffix, e.g. ``.png``);
        None to only return it.
    columns : int
        Tiles per row (the paper uses 5).
    scale : int
        Integer magnification of every tile (nearest neighbour).

    Returns
    -------
    PIL.Image.Image
        The RGB sheet.

    Raises
    ------
    ValueError
        If ``columns`` or ``scale`` is smaller than 1.
    """
    if columns < 1 or scale < 1:
        raise ValueError("columns and scale must be >= 1")
    tiles = preview_tiles(sample)
    h, w = sample.clean.shape[:2]
    th, tw = h * scale, w * scale
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    cell_w = tw + _PAD
    cell_h = th + _TITLE_HEIGHT + _PAD
    sheet = Image.new("RGB", (cols * cell_w + _PAD, rows * cell_h + _PAD), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k, (title, image) in enumerate(tiles):
        r, c = divmod(k, cols)
        x = _PAD + c * cell_w
        y = _PAD + r * cell_h
        draw.text((x, y + 2), title, fill=(0, 0, 0), font=font)
        tile = _to_pil(image)
        if scale != 1:
            tile = tile.resize((tw, th), Image.Resampling.NEAREST)
        sheet.paste(tile, (x, y + _TITLE_HEIGHT))
    if path is not None:
        sheet.save(Path(path))
    return sheet
