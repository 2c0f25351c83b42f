"""Small synthetic slides for the slide tests (tifffile pyramids written in tmp_path)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tifffile

BACKGROUND = (240, 238, 242)
TISSUE = (225, 160, 205)
NUCLEUS = (70, 40, 120)
LYMPHOCYTE = (40, 30, 40)


def pyramid(img: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """Level 0 and ``n_levels - 1`` halvings (2 x 2 means)."""
    out = [img]
    for _ in range(n_levels - 1):
        a = out[-1]
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        a = a[:h, :w].astype(np.float32)
        a = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4.0
        out.append((a + 0.5).astype(np.uint8))
    return out


def write_tiff(
    path: Path,
    img: np.ndarray,
    *,
    mpp: float | None = 0.25,
    levels: int = 3,
    ome: bool = False,
    tile: int = 64,
) -> Path:
    """A tiled pyramidal (OME-)TIFF; the pixel size in resolution tags or OME metadata."""
    lv = pyramid(img, levels)
    with tifffile.TiffWriter(path, bigtiff=ome, ome=ome) as tif:
        for k, a in enumerate(lv):
            kw: dict[str, object] = {
                "tile": (tile, tile),
                "photometric": "rgb",
                "compression": "zlib",
            }
            if mpp is not None and not ome:
                res = 1e4 / (mpp * img.shape[1] / a.shape[1])
                kw.update(resolution=(res, res), resolutionunit="CENTIMETER")
            if k == 0:
                kw["subifds"] = len(lv) - 1
                if ome:
                    meta: dict[str, object] = {"axes": "YXS"}
                    if mpp is not None:
                        meta.update(PhysicalSizeX=mpp, PhysicalSizeY=mpp)
                        meta.update(PhysicalSizeXUnit="µm", PhysicalSizeYUnit="µm")
                    kw["metadata"] = meta
            else:
                kw["subfiletype"] = 1
            tif.write(a, **kw)  # type: ignore[arg-type]
    return path


def disk(img: np.ndarray, x: float, y: float, r: float, color: Sequence[int]) -> None:
    """Paint pixels whose centre lies within ``r`` of level-0 point ``(x, y)``."""
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    img[(xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r * r] = color


def tissue_slide(h: int = 320, w: int = 400) -> np.ndarray:
    """White glass with one elliptical tissue piece in the left two thirds."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = BACKGROUND
    yy, xx = np.mgrid[:h, :w]
    inside = ((yy - h / 2) / (0.4 * h)) ** 2 + ((xx - w / 3) / (0.28 * w)) ** 2 <= 1
    img[inside] = TISSUE
    return img


def dark_predictor(x: np.ndarray) -> np.ndarray:
    """One class: probability 0.9 where the pixel is dark, 0.05 elsewhere."""
    dark = x.mean(axis=-1) < 0.5
    return np.where(dark, 0.9, 0.05).astype(np.float32)[:, None]


def two_class_predictor(x: np.ndarray) -> np.ndarray:
    """``tumor`` for dark purple pixels, ``lymphocyte`` for nearly black ones."""
    g = x.mean(axis=-1)
    black = g < 0.25
    dark = (g < 0.5) & ~black
    out = np.full((x.shape[0], 2, *x.shape[1:3]), 0.05, np.float32)
    out[:, 0][dark] = 0.9
    out[:, 1][black] = 0.9
    return out
