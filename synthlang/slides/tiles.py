"""The tiling plan: model-sized tiles at the model's pixel size, tissue only.

The region (the whole slide by default) is resampled, conceptually, onto a *model
grid* with ``model_mpp``-micrometre pixels whose pixel ``(0, 0)`` starts at the
region's top-left corner. That grid is cut into square *cores* of
``tile - overlap`` pixels; each tile is its core plus ``overlap / 2`` pixels of
context on every side (``tile`` pixels square, the model's input). Neighbouring
tiles therefore overlap by ``overlap`` pixels, the cores partition the region,
and an object whose centroid lies in a tile's core belongs to that tile alone.

A tile is read from the coarsest pyramid level not coarser than the model's
pixel (:meth:`~synthlang.slides.reader.Slide.best_level`) and resampled to the
model grid (area averaging when shrinking, bilinear when enlarging). Only cores
that touch tissue (:class:`~synthlang.slides.tissue.TissueMask`) are planned. Tiles
are read batch by batch (:func:`iter_batches`), optionally in threads, with one
batch read ahead: memory is two batches, whatever the slide's size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from synthlang.common.units import DEFAULT_PIXEL_SIZE_UM
from synthlang.slides.reader import Slide
from synthlang.slides.tissue import TissueMask

__all__ = [
    "Region",
    "Tile",
    "TilePlan",
    "check_region",
    "plan_tiles",
    "read_tile",
    "iter_batches",
]

Region = tuple[int, int, int, int]
"""``(x, y, width, height)`` in level-0 pixels."""


@dataclass(frozen=True)
class Tile:
    """One planned tile.

    Attributes
    ----------
    index : int
        Position in the plan.
    row, col : int
        Position of its core on the core grid.
    x, y : float
        Level-0 position of the tile's top-left corner (margin included).
    core : tuple of int
        ``(r0, c0, r1, c1)``: the core's pixels inside the tile (clipped to the region).
    """

    index: int
    row: int
    col: int
    x: float
    y: float
    core: tuple[int, int, int, int]


@dataclass(frozen=True)
class TilePlan:
    """The tiles of one slide region (see the module docstring).

    Attributes
    ----------
    tile, overlap, margin, core : int
        Tile side, overlap of neighbours, context per side (``overlap // 2``), core side.
    model_mpp, slide_mpp : float
        Pixel sizes (micrometres) of the model grid and of level 0.
    factor : float
        Level-0 pixels per model pixel (``model_mpp / slide_mpp``).
    level : int
        Pyramid level read.
    region : Region
        The level-0 region.
    grid : tuple of int
        ``(rows, cols)`` of the core grid over the region.
    model_shape : tuple of int
        ``(rows, cols)`` of the region on the model grid.
    cells : numpy.ndarray
        ``(n, 2)`` int32 ``(row, col)`` of the planned cores, row-major.
    """

    tile: int
    overlap: int
    margin: int
    core: int
    model_mpp: float
    slide_mpp: float
    factor: float
    level: int
    region: Region
    grid: tuple[int, int]
    model_shape: tuple[int, int]
    cells: np.ndarray

    @property
    def n_tiles(self) -> int:
        """Number of planned tiles."""
        return int(self.cells.shape[0])

    def tile_at(self, index: int) -> Tile:
        """The ``index``-th planned tile."""
        row, col = (int(v) for v in self.cells[index])
        return self._tile(index, row, col)

    def _tile(self, index: int, row: int, col: int) -> Tile:
        rx, ry = self.region[0], self.region[1]
        hm, wm = self.model_shape
        m, c = self.margin, self.core
        ch = min(c, hm - row * c)
        cw = min(c, wm - col * c)
        return Tile(
            index=index,
            row=row,
            col=col,
            x=rx + (col * c - m) * self.factor,
            y=ry + (row * c - m) * self.factor,
            core=(m, m, m + ch, m + cw),
        )

    def tiles(self) -> Iterator[Tile]:
        """The planned tiles in order (row-major)."""
        for i in range(self.n_tiles):
            yield self.tile_at(i)

    def core_box(self, row: int, col: int) -> tuple[float, float, float, float]:
        """Level-0 box ``(x0, y0, x1, y1)`` of the core at ``(row, col)``."""
        rx, ry = self.region[0], self.region[1]
        hm, wm = self.model_shape
        c, f = self.core, self.factor
        return (
            rx + col * c * f,
            ry + row * c * f,
            rx + min((col + 1) * c, wm) * f,
            ry + min((row + 1) * c, hm) * f,
        )


def check_region(slide: Slide, region: Region | None) -> Region:
    """``region`` clipped to the slide (the whole slide when ``None``).

    Raises
    ------
    ValueError
        A region of non-positive size or outside the slide.
    """
    w0, h0 = slide.dimensions
    if region is None:
        return (0, 0, w0, h0)
    if len(region) != 4:
        raise ValueError(f"region must be (x, y, width, height), got {region!r}")
    x, y, w, h = (int(v) for v in region)
    if w <= 0 or h <= 0:
        raise ValueError(f"region width and height must be positive, got {w} x {h}")
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, w0), min(y + h, h0)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(
            f"region ({x}, {y}, {w}, {h}) lies outside the slide ({w0} x {h0} level-0 pixels)"
        )
    return (x0, y0, x1 - x0, y1 - y0)


def plan_tiles(
    slide: Slide,
    *,
    model_mpp: float = DEFAULT_PIXEL_SIZE_UM,
    tile: int = 256,
    overlap: int = 64,
    region: Region | None = None,
    tissue: TissueMask | None = None,
) -> TilePlan:
    """Plan the tiles of ``region`` (default the whole slide) that touch tissue.

    Parameters
    ----------
    slide : Slide
        The slide.
    model_mpp : float
        The model's pixel size in micrometres (0.5 at 20x).
    tile : int
        The model's input side in pixels (16 to 8192).
    overlap : int
        Overlap of neighbouring tiles in model pixels: even, ``0 <= overlap <= tile - 16``.
    region : Region, optional
        ``(x, y, width, height)`` in level-0 pixels, clipped to the slide.
    tissue : TissueMask, optional
        Plan only cores touching tissue; ``None`` plans every core.

    Returns
    -------
    TilePlan

    Examples
    --------
    >>> s = Slide.from_array(np.zeros((1000, 800, 3), np.uint8), mpp=0.25)
    >>> p = plan_tiles(s, model_mpp=0.5, tile=256, overlap=64)
    >>> p.factor, p.core, p.grid, p.model_shape, p.n_tiles
    (2.0, 192, (3, 3), (500, 400), 9)
    """
    if not 16 <= tile <= 8192:
        raise ValueError(f"tile must be in [16, 8192], got {tile}")
    if overlap < 0 or overlap % 2 or overlap > tile - 16:
        raise ValueError(f"overlap must be even and in [0, tile - 16], got {overlap}")
    if not (math.isfinite(model_mpp) and model_mpp > 0):
        raise ValueError(f"model_mpp must be positive, got {model_mpp}")
    reg = check_region(slide, region)
    factor = model_mpp / slide.mpp
    core = tile - overlap
    wm = max(1, math.ceil(reg[2] / factor - 1e-9))
    hm = max(1, math.ceil(reg[3] / factor - 1e-9))
    rows, cols = math.ceil(hm / core), math.ceil(wm / core)
    plan = TilePlan(
        tile=tile,
        overlap=overlap,
        margin=overlap // 2,
        core=core,
        model_mpp=float(model_mpp),
        slide_mpp=slide.mpp,
        factor=factor,
        level=slide.best_level(factor),
        region=reg,
        grid=(rows, cols),
        model_shape=(hm, wm),
        cells=np.zeros((0, 2), np.int32),
    )
    rr, cc = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    cells = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int32)
    if tissue is not None:
        keep = np.fromiter(
            (tissue.touches(*plan.core_box(int(r), int(c))) for r, c in cells),
            dtype=bool,
            count=len(cells),
        )
        cells = cells[keep]
    object.__setattr__(plan, "cells", cells)
    return plan


def read_tile(slide: Slide, plan: TilePlan, tile: Tile) -> np.ndarray:
    """The tile on the model grid, ``(tile, tile, 3)`` uint8."""
    side = plan.tile * plan.factor
    return slide.read_scaled(tile.x, tile.y, side, side, (plan.tile, plan.tile), level=plan.level)


def iter_batches(
    slide: Slide, plan: TilePlan, *, batch: int = 8, workers: int = 1
) -> Iterator[tuple[list[Tile], np.ndarray]]:
    """The planned tiles, ``batch`` at a time, as float32 ``(n, tile, tile, 3)`` in ``[0, 1]``.

    With ``workers > 1`` tiles are read in that many threads and the next batch is
    read while the caller works on the current one.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    starts = range(0, plan.n_tiles, batch)

    def tiles_of(start: int) -> list[Tile]:
        return [plan.tile_at(i) for i in range(start, min(start + batch, plan.n_tiles))]

    def stack(tiles: list[Tile], arrays: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(tiles), plan.tile, plan.tile, 3), np.float32)
        for k, a in enumerate(arrays):
            np.multiply(a, np.float32(1.0 / 255.0), out=out[k], casting="unsafe")
        return out

    if workers == 1:
        for start in starts:
            tiles = tiles_of(start)
            yield tiles, stack(tiles, [read_tile(slide, plan, t) for t in tiles])
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slide-read") as pool:

        def submit(start: int) -> tuple[list[Tile], list[Future[np.ndarray]]]:
            tiles = tiles_of(start)
            return tiles, [pool.submit(read_tile, slide, plan, t) for t in tiles]

        pending = submit(starts[0]) if len(starts) else None
        for k in range(len(starts)):
            assert pending is not None
            tiles, futures = pending
            pending = submit(starts[k + 1]) if k + 1 < len(starts) else None
            try:
                arrays = [f.result() for f in futures]
            except BaseException:
                if pending is not None:
                    for f in pending[1]:
                        f.cancel()
                raise
            yield tiles, stack(tiles, arrays)
