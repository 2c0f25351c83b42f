"""What a slide prediction writes: GeoJSON nuclei, an overlay, a summary, a label mask.

* :class:`GeoJSONWriter` -- a QuPath-importable GeoJSON ``FeatureCollection``, one
  ``Feature`` per nucleus (``Polygon`` in level-0 pixels, properties ``objectType``
  ``"detection"``, ``classification`` ``{name, color}``, ``measurements``
  ``{probability, area_um2}``), written feature by feature to a temporary file
  renamed into place when complete.
* :class:`OverlayWriter` -- a low-resolution PNG of the slide with the nuclei filled
  in their class colour and the tissue outline.
* :func:`write_summary` -- a CSV with one row per class (count, density per mm² of
  tissue, tissue area) and the immune-rich area of the immune classes
  (:func:`immune_rich_area_mm2`).
* :class:`LabelMaskWriter` -- a pyramidal OME-TIFF of the class labels on the model
  grid, with its pixel size, written tile by tile.

:func:`predict_to_folder` runs :func:`~synthlang.slides.predict.predict_slide` with
these writers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageDraw

from synthlang.common.errors import DataError
from synthlang.common.fileio import atomic_write_text, atomic_writer
from synthlang.slides.predict import (
    Nucleus,
    Predictor,
    SinkBase,
    SlideResult,
    SlideSink,
    predict_slide,
)
from synthlang.slides.reader import Slide
from synthlang.slides.tiles import Tile, TilePlan
from synthlang.slides.tissue import thumbnail

__all__ = [
    "IMMUNE_WORDS",
    "class_colors",
    "is_immune",
    "feature_of",
    "GeoJSONWriter",
    "OverlayWriter",
    "LabelMaskWriter",
    "immune_rich_area_mm2",
    "summary_rows",
    "write_summary",
    "slide_stem",
    "predict_to_folder",
]

IMMUNE_WORDS = ("immune", "lymph", "til", "plasma", "inflam")
"""A class whose lower-case name contains one of these is an immune class."""

_KNOWN_COLORS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("tumo", (200, 0, 0)),
    ("lymph", (0, 80, 255)),
    ("immune", (0, 80, 255)),
    ("til", (0, 80, 255)),
    ("plasma", (110, 0, 220)),
    ("strom", (0, 160, 60)),
    ("fibro", (0, 160, 60)),
    ("endo", (255, 140, 0)),
    ("necro", (90, 90, 90)),
)
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (0, 130, 200),
    (60, 180, 75),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (128, 128, 0),
)


def is_immune(name: str) -> bool:
    """Whether a class name denotes immune cells (see :data:`IMMUNE_WORDS`).

    Examples
    --------
    >>> is_immune("Lymphocyte"), is_immune("TILs"), is_immune("tumor")
    (True, True, False)
    """
    low = name.lower()
    return any(w in low for w in IMMUNE_WORDS)


def class_colors(names: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """An RGB colour per class: conventional ones for known names, a palette otherwise.

    Examples
    --------
    >>> class_colors(["tumor", "lymphocyte", "x"])
    {'tumor': (200, 0, 0), 'lymphocyte': (0, 80, 255), 'x': (60, 180, 75)}
    """
    out: dict[str, tuple[int, int, int]] = {}
    for i, name in enumerate(names):
        low = name.lower()
        color = next((c for key, c in _KNOWN_COLORS if key in low), None)
        out[name] = color if color is not None else _PALETTE[i % len(_PALETTE)]
    return out


def _ring(polygon: np.ndarray) -> list[list[float]]:
    pts = [[round(float(x), 2), round(float(y), 2)] for x, y in polygon]
    if pts and pts[0] != pts[-1]:
        pts.append(pts[0])
    return pts


def feature_of(nucleus: Nucleus, color: tuple[int, int, int]) -> dict[str, Any]:
    """The QuPath GeoJSON ``Feature`` of one nucleus (a detection object)."""
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [_ring(nucleus.polygon)]},
        "properties": {
            "objectType": "detection",
            "classification": {"name": nucleus.class_name, "color": list(color)},
            "measurements": {
                "probability": round(nucleus.probability, 4),
                "area_um2": round(nucleus.area_um2, 3),
            },
        },
    }


class _Closing:
    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:  # pragma: no cover - overridden
        """Finish the file."""

    def abort(self) -> None:
        """Drop the unfinished file (default: finish it anyway)."""
        self.close()


class GeoJSONWriter(SinkBase, _Closing):
    """Stream nuclei into a GeoJSON ``FeatureCollection`` (see the module docstring).

    Use as a context manager: the file appears under its name only once closed
    without an error.
    """

    def __init__(
        self, path: str | os.PathLike[str], colors: Mapping[str, tuple[int, int, int]] | None = None
    ) -> None:
        self.path = Path(path)
        self.colors: dict[str, tuple[int, int, int]] = dict(colors or {})
        self.count = 0
        self._cm = atomic_writer(self.path)
        fh: BinaryIO = self._cm.__enter__()
        self._fh = io.TextIOWrapper(fh, encoding="utf-8", newline="\n", write_through=False)
        self._fh.write('{"type": "FeatureCollection", "features": [')
        self._done = False

    def begin(self, plan: TilePlan, class_names: Sequence[str]) -> None:
        """Pick colours for classes without one."""
        for name, color in class_colors(class_names).items():
            self.colors.setdefault(name, color)

    def add_nucleus(self, nucleus: Nucleus) -> None:
        """Append one feature."""
        color = self.colors.get(nucleus.class_name)
        if color is None:
            color = class_colors([nucleus.class_name])[nucleus.class_name]
            self.colors[nucleus.class_name] = color
        text = json.dumps(feature_of(nucleus, color), separators=(",", ":"))
        self._fh.write(("\n" if self.count == 0 else ",\n") + text)
        self.count += 1

    def close(self) -> None:
        """Finish the collection and rename the file into place."""
        if self._done:
            return
        self._done = True
        self._fh.write("\n]}\n")
        self._fh.flush()
        self._fh.detach()
        self._cm.__exit__(None, None, None)

    def abort(self) -> None:
        """Remove the unfinished file."""
        if self._done:
            return
        self._done = True
        self._fh.detach()
        err = RuntimeError("aborted")
        try:
            self._cm.__exit__(RuntimeError, err, None)
        except RuntimeError:
            pass


class OverlayWriter(SinkBase, _Closing):
    """A low-resolution PNG: the slide with nuclei filled in class colours.

    Parameters
    ----------
    slide : Slide
        Read once, at the overlay's resolution, when the writer is made.
    path : path-like
        The PNG.
    max_side : int
        Longer side of the overlay in pixels.
    tissue_outline : numpy.ndarray, optional
        A boolean mask (any size) whose outline is drawn in black.
    """

    def __init__(
        self,
        slide: Slide,
        path: str | os.PathLike[str],
        *,
        max_side: int = 2048,
        colors: Mapping[str, tuple[int, int, int]] | None = None,
        tissue_outline: np.ndarray | None = None,
    ) -> None:
        self.path = Path(path)
        w0, h0 = slide.dimensions
        scale = max(1.0, max(w0, h0) / max_side)
        thumb, self.scale = thumbnail(slide, scale * slide.mpp)
        if tissue_outline is not None and tissue_outline.any():
            from skimage.segmentation import find_boundaries

            m = np.asarray(
                Image.fromarray(tissue_outline.astype(np.uint8) * 255).resize(
                    (thumb.shape[1], thumb.shape[0]), Image.Resampling.NEAREST
                )
            )
            thumb = thumb.copy()
            thumb[find_boundaries(m > 0, mode="inner")] = 0
        self.image = Image.fromarray(thumb)
        self._draw = ImageDraw.Draw(self.image)
        self.colors: dict[str, tuple[int, int, int]] = dict(colors or {})
        self._done = False

    def begin(self, plan: TilePlan, class_names: Sequence[str]) -> None:
        """Pick colours; outline the region."""
        for name, color in class_colors(class_names).items():
            self.colors.setdefault(name, color)
        x, y, w, h = plan.region
        s = self.scale
        if (w, h) != (0, 0):
            self._draw.rectangle(
                (x / s, y / s, (x + w) / s - 1, (y + h) / s - 1), outline=(255, 200, 0)
            )

    def add_nucleus(self, nucleus: Nucleus) -> None:
        """Fill the nucleus (a dot when it is smaller than an overlay pixel)."""
        color = (
            self.colors.get(nucleus.class_name)
            or class_colors([nucleus.class_name])[nucleus.class_name]
        )
        pts = nucleus.polygon / self.scale
        span = np.ptp(pts, axis=0)
        if span.max() < 2.0:
            self._draw.point((nucleus.x / self.scale, nucleus.y / self.scale), fill=color)
        else:
            self._draw.polygon([tuple(p) for p in pts.tolist()], fill=color)

    def abort(self) -> None:
        """Write nothing."""
        self._done = True

    def close(self) -> None:
        """Write the PNG."""
        if self._done:
            return
        self._done = True
        buf = io.BytesIO()
        self.image.save(buf, format="PNG", compress_level=6)
        with atomic_writer(self.path) as fh:
            fh.write(buf.getvalue())


# --------------------------------------------------------------------------- summary


def immune_rich_area_mm2(
    result: SlideResult,
    class_name: str,
    *,
    radius_um: float = 100.0,
    min_density: float = 1000.0,
) -> float:
    """Tissue area (mm²) where the density of ``class_name`` nuclei is at least ``min_density``.

    The density at a tissue-mask cell is the number of the class's nuclei in the
    square window of side ``2 radius_um`` around it divided by the tissue area in
    that window (per mm² of tissue); cells whose window holds less than a quarter
    tissue are not counted.
    """
    k = result.class_names.index(class_name)
    t = result.tissue
    tissue = t.region_mask(result.region).astype(np.float64)
    if not tissue.any():
        return 0.0
    counts = result.density[k].astype(np.float64)
    from scipy import ndimage as ndi

    size = max(1, int(round(2.0 * radius_um / t.mpp)) | 1)
    n_win = ndi.uniform_filter(counts, size=size, mode="constant") * size * size
    t_win = ndi.uniform_filter(tissue, size=size, mode="constant")
    tissue_mm2 = t_win * size * size * (t.mpp / 1000.0) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = np.where(t_win >= 0.25, n_win / np.maximum(tissue_mm2, 1e-12), 0.0)
    rich = (tissue > 0) & (dens >= min_density)
    return float(np.count_nonzero(rich) * (t.mpp / 1000.0) ** 2)


SUMMARY_COLUMNS = (
    "class",
    "count",
    "density_per_mm2",
    "tissue_area_mm2",
    "immune_rich_area_mm2",
    "immune_rich_min_density_per_mm2",
    "immune_rich_radius_um",
)
"""Columns of the summary CSV (docs/slides.md)."""


def summary_rows(
    result: SlideResult,
    *,
    immune_classes: Sequence[str] | None = None,
    radius_um: float = 100.0,
    min_density: float = 1000.0,
) -> list[dict[str, str]]:
    """One row per class and an ``all`` row (see :data:`SUMMARY_COLUMNS`)."""
    area = result.tissue_area_mm2
    immune = (
        [c for c in result.class_names if is_immune(c)]
        if immune_classes is None
        else list(immune_classes)
    )
    unknown = [c for c in immune if c not in result.class_names]
    if unknown:
        raise ValueError(f"unknown immune classes {unknown}; classes: {list(result.class_names)}")
    rows = []

    def fmt(v: float) -> str:
        return f"{v:.6g}"

    for name in (*result.class_names, "all"):
        n = result.total if name == "all" else result.counts[name]
        rich = ""
        if name in immune:
            rich = fmt(
                immune_rich_area_mm2(result, name, radius_um=radius_um, min_density=min_density)
            )
        rows.append(
            {
                "class": name,
                "count": str(n),
                "density_per_mm2": fmt(n / area) if area > 0 else "0",
                "tissue_area_mm2": fmt(area),
                "immune_rich_area_mm2": rich,
                "immune_rich_min_density_per_mm2": fmt(min_density) if rich else "",
                "immune_rich_radius_um": fmt(radius_um) if rich else "",
            }
        )
    return rows


def write_summary(path: str | os.PathLike[str], result: SlideResult, **kwargs: Any) -> None:
    """Write :func:`summary_rows` as CSV (atomically)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(summary_rows(result, **kwargs))
    atomic_write_text(path, buf.getvalue())


# --------------------------------------------------------------------------- label mask


class LabelMaskWriter(SinkBase, _Closing):
    """A pyramidal OME-TIFF of the class labels (uint8) on the model grid of the region.

    Level 0 is written tile by tile (``tiff_tile`` pixels, zlib) from a tifffile writer
    thread while tiles arrive; it holds one band of core rows (``core x region width``
    pixels). The reduced levels (by 4, 16, ... nearest neighbour, as SubIFDs) are kept
    in memory until the end: 1/16 of the level-0 pixels. Pixel size: ``model_mpp``.
    """

    def __init__(self, path: str | os.PathLike[str], *, tiff_tile: int = 256) -> None:
        if tiff_tile % 16:
            raise ValueError(f"tiff_tile must be a multiple of 16, got {tiff_tile}")
        self.path = Path(path)
        self.tiff_tile = tiff_tile
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=4)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._done = False

    # the band logic -------------------------------------------------------------
    def begin(self, plan: TilePlan, class_names: Sequence[str]) -> None:
        """Start the writer thread for the plan's grid."""
        self.plan = plan
        self.height, self.width = plan.model_shape
        self._band_row = 0  # next core row to finish
        self._band = np.zeros((plan.core, self.width), np.uint8)
        self._pending = np.zeros((0, self.width), np.uint8)
        self._rows_out = 0
        self._reduced = np.zeros((math.ceil(self.height / 4), math.ceil(self.width / 4)), np.uint8)
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        self._eof = False
        self._rows_in = 0
        self._thread = threading.Thread(target=self._write, name="label-mask", daemon=True)
        self._thread.start()

    def add_labels(self, tile: Tile, labels: np.ndarray) -> None:
        """Place one core's labels; finish bands as the rows advance."""
        while tile.row > self._band_row:
            self._flush_band()
        c = self.plan.core
        x0 = tile.col * c
        self._band[: labels.shape[0], x0 : x0 + labels.shape[1]] = labels

    def _flush_band(self) -> None:
        c = self.plan.core
        rows = min(c, self.height - self._band_row * c)
        if rows > 0:
            band = self._band[:rows]
            y0 = self._band_row * c
            sel = np.arange(-y0 % 4, rows, 4)
            self._reduced[(y0 + sel) // 4] = band[sel, ::4]
            self._pending = np.concatenate([self._pending, band])
            t = self.tiff_tile
            while self._pending.shape[0] >= t:
                self._emit(self._pending[:t])
                self._pending = self._pending[t:]
        self._band[:] = 0
        self._band_row += 1

    def _emit(self, strip: np.ndarray) -> None:
        if self._error is not None:
            raise DataError(f"{self.path}: writing the label mask failed ({self._error})")
        self._queue.put(np.ascontiguousarray(strip))
        self._rows_out += strip.shape[0]

    def _next_strip(self) -> np.ndarray | None:
        strip = self._queue.get()
        if strip is None:
            self._eof = True
        return strip

    def _tiles(self) -> Iterator[np.ndarray]:
        t = self.tiff_tile
        while True:
            strip = self._next_strip()
            if strip is None:
                if self._rows_in < self.height:
                    raise RuntimeError("the label mask ended early")
                return
            self._rows_in += strip.shape[0]
            for x in range(0, self.width, t):
                tile = np.zeros((t, t), np.uint8)
                part = strip[:, x : x + t]
                tile[: part.shape[0], : part.shape[1]] = part
                yield tile

    def _levels(self) -> list[np.ndarray]:
        levels = []
        a = self._reduced
        while True:
            levels.append(a)
            if max(a.shape) <= self.tiff_tile:
                break
            a = a[::4, ::4]
        return levels if max(self.height, self.width) > self.tiff_tile else []

    def _write(self) -> None:
        import tifffile

        try:
            self._write_file(tifffile)
        except BaseException as exc:  # reported by add_labels / close
            self._error = exc
            while not self._eof:  # drain so the producer never blocks
                self._next_strip()

    def _write_file(self, tifffile: Any) -> None:
        mpp = self.plan.model_mpp
        res = (1e4 / mpp, 1e4 / mpp)
        common: dict[str, Any] = {
            "tile": (self.tiff_tile, self.tiff_tile),
            "compression": "zlib",
            "resolution": res,
            "resolutionunit": "CENTIMETER",
        }
        with tifffile.TiffWriter(self._tmp, bigtiff=True, ome=True) as tif:
            n_sub = max(0, self._n_sub_levels())
            tif.write(
                self._tiles(),
                shape=(self.height, self.width),
                dtype=np.uint8,
                subifds=n_sub,
                metadata={
                    "axes": "YX",
                    "PhysicalSizeX": mpp,
                    "PhysicalSizeXUnit": "µm",
                    "PhysicalSizeY": mpp,
                    "PhysicalSizeYUnit": "µm",
                },
                **common,
            )
            for k, level in enumerate(self._levels()[:n_sub]):
                f = 4 ** (k + 1)
                tif.write(
                    level,
                    subfiletype=1,
                    **{**common, "resolution": (res[0] / f, res[1] / f)},
                )

    def _n_sub_levels(self) -> int:
        n, side = 0, max(self.height, self.width)
        while side > self.tiff_tile:
            side = math.ceil(side / 4)
            n += 1
        return n

    def close(self) -> None:
        """Finish level 0, write the reduced levels, rename the file into place."""
        if self._done or self._thread is None:
            self._done = True
            return
        self._done = True
        while self._band_row < self.plan.grid[0]:
            self._flush_band()
        if self._pending.shape[0]:
            self._emit(self._pending)
            self._pending = self._pending[:0]
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            self._tmp.unlink(missing_ok=True)
            raise DataError(f"{self.path}: writing the label mask failed ({self._error})")
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Stop the writer and remove the unfinished file."""
        if self._done or self._thread is None:
            self._done = True
            return
        self._done = True
        self._error = self._error or RuntimeError("aborted")
        self._queue.put(None)
        self._thread.join()
        self._tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- one call


def slide_stem(name: str) -> str:
    """A slide's file name without its extension (``.ome.tif`` counts as one).

    Examples
    --------
    >>> slide_stem("case.v2.svs"), slide_stem("a.ome.tiff"), slide_stem("")
    ('case.v2', 'a', 'slide')
    """
    low = name.lower()
    for ext in (".ome.tiff", ".ome.tif"):
        if low.endswith(ext):
            return name[: -len(ext)] or "slide"
    return Path(name).stem or "slide"


def predict_to_folder(
    slide: Slide,
    predictor: Predictor,
    out_dir: str | os.PathLike[str],
    *,
    class_names: Sequence[str] | None = None,
    colors: Mapping[str, tuple[int, int, int]] | None = None,
    overlay: bool = True,
    label_mask: bool = False,
    immune_classes: Sequence[str] | None = None,
    immune_radius_um: float = 100.0,
    immune_min_density: float = 1000.0,
    sinks: Sequence[SlideSink] = (),
    **predict_kwargs: Any,
) -> tuple[SlideResult, dict[str, Path]]:
    """Predict ``slide`` and write its outputs into ``out_dir``.

    The files: ``NAME_nuclei.geojson``, ``NAME_summary.csv``, ``NAME_overlay.png``
    (``overlay``) and ``NAME_labels.ome.tif`` (``label_mask``).

    ``NAME`` is the slide's file name without its extension (:func:`slide_stem`).
    ``sinks`` receive the nuclei too; further keyword arguments go to
    :func:`~synthlang.slides.predict.predict_slide`.

    Returns
    -------
    (SlideResult, dict)
        The result and the written files by kind (``geojson``, ``summary``,
        ``overlay``, ``labels``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = slide_stem(slide.name)
    paths = {"geojson": out / f"{stem}_nuclei.geojson", "summary": out / f"{stem}_summary.csv"}
    tissue = predict_kwargs.pop("tissue", True)
    if tissue is True:
        from synthlang.slides.tissue import tissue_mask

        tissue = tissue_mask(slide)
    writers: list[Any] = [GeoJSONWriter(paths["geojson"], colors)]
    try:
        if overlay:
            paths["overlay"] = out / f"{stem}_overlay.png"
            writers.append(
                OverlayWriter(
                    slide,
                    paths["overlay"],
                    colors=colors,
                    tissue_outline=tissue.mask if tissue is not False else None,
                )
            )
        if label_mask:
            paths["labels"] = out / f"{stem}_labels.ome.tif"
            writers.append(LabelMaskWriter(paths["labels"]))
        result = predict_slide(
            slide,
            predictor,
            class_names=class_names,
            tissue=tissue,
            sinks=[*writers, *sinks],
            **predict_kwargs,
        )
    except BaseException:
        for w in writers:
            w.abort()
        raise
    for w in writers:
        w.close()
    write_summary(
        paths["summary"],
        result,
        immune_classes=immune_classes,
        radius_um=immune_radius_um,
        min_density=immune_min_density,
    )
    return result, paths
