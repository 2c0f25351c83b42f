"""Whole-slide images: pyramid levels, the pixel size, regions.

:func:`open_slide` opens SVS, NDPI, pyramidal TIFF and OME-TIFF files through
`tiffslide <https://github.com/Bayer-Group/tiffslide>`_ (pure Python over tifffile,
no system libraries), other formats through OpenSlide when ``openslide`` is
importable, and ordinary PNG / JPEG images (one level, read whole). The level-0
pixel size comes from an explicit ``mpp`` argument, else from the file's metadata
(tiffslide's ``tiffslide.mpp-x``: SVS ``MPP``, NDPI and TIFF resolution tags; OME
``PhysicalSizeX``). Every failure is a :class:`~synthlang.common.errors.DataError`
that names the file.

Coordinates: ``x`` is the column, ``y`` the row; level ``L`` pixel ``(x, y)`` covers the
level-0 rectangle ``[x d, (x + 1) d)`` with ``d`` the level's downsample (per axis,
from the level's size). Regions outside the image read as white.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np
from PIL import Image

from synthlang.common.errors import DataError

__all__ = [
    "MPP_RANGE",
    "IMAGE_SUFFIXES",
    "Slide",
    "open_slide",
]

MPP_RANGE = (0.01, 1000.0)
"""Accepted level-0 pixel sizes in micrometres (outside: a unit mistake)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""Ordinary images, read whole into memory (one level)."""

MPP_HINT = "give the level-0 pixel size with --mpp (micrometres per pixel; 0.25 at 40x, 0.5 at 20x)"

_OME_UNITS_UM = {
    "m": 1e6,
    "cm": 1e4,
    "mm": 1e3,
    "µm": 1.0,
    "um": 1.0,
    "\u03bcm": 1.0,
    "micron": 1.0,
    "nm": 1e-3,
}


class _Backend(Protocol):
    """What a file reader provides: level sizes, in-bounds reads, metadata."""

    level_dimensions: tuple[tuple[int, int], ...]
    properties: dict[str, Any]

    def read(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray: ...

    def close(self) -> None: ...


def _to_rgb8(arr: np.ndarray) -> np.ndarray:
    """Any reader's pixels as ``(h, w, 3)`` uint8 (gray replicated, alpha on white)."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[..., None]
    if a.dtype != np.uint8:
        if a.dtype == np.uint16:
            a = (a >> 8).astype(np.uint8)
        elif np.issubdtype(a.dtype, np.floating):
            a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        else:
            a = np.clip(a, 0, 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 2:
        a = np.repeat(a[..., :1], 3, axis=2)
    elif a.shape[2] >= 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a[..., :3])


class _ArrayBackend:
    """One in-memory level (tests, ordinary images)."""

    def __init__(self, array: np.ndarray) -> None:
        self._a = _to_rgb8(array)
        h, w = self._a.shape[:2]
        self.level_dimensions: tuple[tuple[int, int], ...] = ((int(w), int(h)),)
        self.properties: dict[str, Any] = {}

    def read(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        return self._a[y : y + h, x : x + w]

    def close(self) -> None:
        pass


def _tiffslide_class() -> Any:
    try:
        import tiffslide
    except ImportError:  # pragma: no cover - a declared dependency
        return None

    class LevelTiffSlide(tiffslide.TiffSlide):  # type: ignore[misc]
        """``read_region`` locations in the level's own pixels (tiffslide's documented hook)."""

        def _read_region_loc_transform(
            self, location: tuple[int, int], level: int
        ) -> tuple[int, int]:
            return int(location[0]), int(location[1])

    return LevelTiffSlide


class _TiffSlideBackend:
    """SVS, NDPI, (OME-)TIFF through tiffslide (tifffile + zarr)."""

    def __init__(self, path: Path, cls: Any) -> None:
        self._ts = cls(os.fspath(path))
        try:
            self.level_dimensions = tuple((int(w), int(h)) for w, h in self._ts.level_dimensions)
            self.properties = dict(self._ts.properties)
            self.tifffile = self._ts.ts_tifffile
        except BaseException:
            self._ts.close()
            raise

    def read(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        arr = self._ts.read_region((x, y), level, (w, h), as_array=True, padding=False)
        return np.asarray(arr)

    def close(self) -> None:
        self._ts.close()


class _OpenSlideBackend:  # pragma: no cover - only where OpenSlide is installed
    """Other vendor formats (MRXS, VMS, ...) through OpenSlide, when importable."""

    def __init__(self, path: Path, module: Any) -> None:
        self._os = module.OpenSlide(os.fspath(path))
        self.level_dimensions = tuple((int(w), int(h)) for w, h in self._os.level_dimensions)
        self.properties = {
            "tiffslide.mpp-x": _float_or_none(self._os.properties.get("openslide.mpp-x")),
            "tiffslide.mpp-y": _float_or_none(self._os.properties.get("openslide.mpp-y")),
        }
        self._ds = tuple(float(d) for d in self._os.level_downsamples)

    def read(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        d = self._ds[level]
        im = self._os.read_region((int(round(x * d)), int(round(y * d))), level, (w, h))
        return np.asarray(im.convert("RGBA"))

    def close(self) -> None:
        self._os.close()


def _float_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def _ome_mpp(tif: Any) -> float | None:
    """``PhysicalSizeX`` of the first OME image, in micrometres."""
    xml = getattr(tif, "ome_metadata", None)
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.endswith("Pixels") and "PhysicalSizeX" in el.attrib:
            size = _float_or_none(el.attrib["PhysicalSizeX"])
            unit = el.attrib.get("PhysicalSizeXUnit", "µm")
            factor = _OME_UNITS_UM.get(unit)
            if size is None or factor is None:
                return None
            return size * factor
    return None


def _check_tiff_complete(path: Path, tif: Any) -> None:
    """Refuse a file whose pixel data or pyramid directories lie past its end."""
    size = path.stat().st_size
    try:
        series = tif.series[0]
        for lvl, level in enumerate(series.levels):
            for page in level.pages:
                if page is None:
                    continue
                if not page.dataoffsets or not page.databytecounts:
                    raise DataError(
                        f"{path}: the file is truncated or damaged (level {lvl} has no readable "
                        f"pixel data locations); copy it again"
                    )
                ends = [
                    o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False) if c
                ]
                if ends and max(ends) > size:
                    raise DataError(
                        f"{path}: the file is truncated (pixel data of level {lvl} ends at "
                        f"byte {max(ends)}, the file has {size} bytes); copy it again"
                    )
                for off in getattr(page, "subifds", None) or ():
                    if off >= size:
                        raise DataError(
                            f"{path}: the file is truncated (a pyramid level starts at byte "
                            f"{off}, the file has {size} bytes); copy it again"
                        )
    except DataError:
        raise
    except Exception:  # an unusual layout: leave the verdict to the reads
        return


class Slide:
    """An open whole-slide image (use as a context manager, or call :meth:`close`).

    Attributes
    ----------
    name : str
        The file's name (or a given name for arrays).
    path : Path or None
        The file.
    mpp : float
        Level-0 pixel size in micrometres.
    mpp_source : str
        Where ``mpp`` came from (``"argument"``, ``"metadata"``, ``"OME PhysicalSizeX"``).
    level_dimensions : tuple of (int, int)
        ``(width, height)`` of every level, level 0 first.
    level_downsamples : tuple of float
        Level-0 pixels per level pixel (mean of the two axes).
    """

    def __init__(
        self, backend: _Backend, *, name: str, path: Path | None, mpp: float, mpp_source: str
    ) -> None:
        self._backend = backend
        self.name = name
        self.path = path
        self.mpp = float(mpp)
        self.mpp_source = mpp_source
        dims = backend.level_dimensions
        if not dims or dims[0][0] < 1 or dims[0][1] < 1:
            raise DataError(f"{self._label}: the image has no pixels")
        self.level_dimensions = dims
        w0, h0 = dims[0]
        self._ds_xy = tuple((w0 / max(w, 1), h0 / max(h, 1)) for w, h in dims)
        self.level_downsamples = tuple((dx + dy) / 2.0 for dx, dy in self._ds_xy)
        self.properties = backend.properties
        self._closed = False

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_array(cls, array: np.ndarray, mpp: float, *, name: str = "array") -> Slide:
        """A one-level slide over an ``(h, w, 3)`` array (uint8, or float in ``[0, 1]``).

        Examples
        --------
        >>> s = Slide.from_array(np.zeros((4, 6, 3), np.uint8), mpp=0.5)
        >>> s.dimensions, s.read_region(4, 2, 4, 4).shape
        ((6, 4), (4, 4, 3))
        """
        return cls(
            _ArrayBackend(array),
            name=name,
            path=None,
            mpp=_check_mpp(mpp, name),
            mpp_source="argument",
        )

    # ------------------------------------------------------------------ geometry

    @property
    def _label(self) -> str:
        return str(self.path) if self.path is not None else self.name

    @property
    def dimensions(self) -> tuple[int, int]:
        """``(width, height)`` of level 0."""
        return self.level_dimensions[0]

    @property
    def level_count(self) -> int:
        """Number of pyramid levels."""
        return len(self.level_dimensions)

    def level_downsample_xy(self, level: int) -> tuple[float, float]:
        """Level-0 pixels per level pixel along x and y (from the level's size)."""
        return self._ds_xy[level]

    def level_mpp(self, level: int) -> float:
        """Pixel size of ``level`` in micrometres."""
        return self.mpp * self.level_downsamples[level]

    def best_level(self, downsample: float) -> int:
        """The coarsest level not coarser than ``downsample`` (level 0 if none is finer)."""
        best = 0
        for i, d in enumerate(self.level_downsamples):
            if d <= downsample * (1.0 + 1e-3) and d >= self.level_downsamples[best]:
                best = i
        return best

    # ------------------------------------------------------------------ pixels

    def read_level(self, level: int, x: int, y: int, w: int, h: int) -> np.ndarray:
        """Pixels of ``level`` in that level's coordinates, as ``(h, w, 3)`` uint8.

        Parts outside the image are white.

        Raises
        ------
        DataError
            The file's pixel data cannot be decoded (damaged, truncated).
        """
        if self._closed:
            raise ValueError(f"{self._label}: the slide is closed")
        if not 0 <= level < self.level_count:
            raise ValueError(f"level must be in [0, {self.level_count}), got {level}")
        if w < 0 or h < 0:
            raise ValueError(f"region size must be non-negative, got {w} x {h}")
        out = np.full((h, w, 3), 255, np.uint8)
        lw, lh = self.level_dimensions[level]
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, lw), min(y + h, lh)
        if x1 <= x0 or y1 <= y0:
            return out
        try:
            arr = self._backend.read(level, x0, y0, x1 - x0, y1 - y0)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"{self._label}: cannot read the pixels of level {level} at "
                f"({x0}, {y0}, {x1 - x0} x {y1 - y0}): the file is damaged or truncated "
                f"({type(exc).__name__}: {exc})"
            ) from None
        rgb = _to_rgb8(arr)
        if rgb.shape[:2] != (y1 - y0, x1 - x0):
            raise DataError(
                f"{self._label}: level {level} returned {rgb.shape[1]} x {rgb.shape[0]} pixels "
                f"for a {x1 - x0} x {y1 - y0} request; the file is damaged"
            )
        out[y0 - y : y1 - y, x0 - x : x1 - x] = rgb
        return out

    def read_region(self, x: int, y: int, w: int, h: int, level: int = 0) -> np.ndarray:
        """``w x h`` pixels of ``level`` whose top-left lies at level-0 ``(x, y)`` (OpenSlide).

        Returns
        -------
        numpy.ndarray
            ``(h, w, 3)`` uint8 RGB; outside the image white.
        """
        dx, dy = self._ds_xy[level]
        return self.read_level(level, int(math.floor(x / dx)), int(math.floor(y / dy)), w, h)

    def read_scaled(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        out_size: tuple[int, int],
        *,
        level: int | None = None,
    ) -> np.ndarray:
        """The level-0 rectangle ``[x, x + w) x [y, y + h)`` resampled to ``out_size``.

        Read from ``level`` (default: the coarsest level not coarser than the output)
        with two pixels of context, then area-averaged (shrinking) or bilinearly
        interpolated (enlarging) by Pillow; an integer-aligned 1:1 request is a copy.

        Returns
        -------
        numpy.ndarray
            ``(rows, cols, 3)`` uint8.
        """
        ow, oh = int(out_size[0]), int(out_size[1])
        if level is None:
            level = self.best_level(min(w / max(ow, 1), h / max(oh, 1)))
        dx, dy = self._ds_xy[level]
        fx0, fy0, fx1, fy1 = x / dx, y / dy, (x + w) / dx, (y + h) / dy
        if (
            abs(fx1 - fx0 - ow) < 1e-6
            and abs(fy1 - fy0 - oh) < 1e-6
            and abs(fx0 - round(fx0)) < 1e-6
            and abs(fy0 - round(fy0)) < 1e-6
        ):
            return self.read_level(level, int(round(fx0)), int(round(fy0)), ow, oh)
        pad = 2
        ix0, iy0 = int(math.floor(fx0)) - pad, int(math.floor(fy0)) - pad
        ix1, iy1 = int(math.ceil(fx1)) + pad, int(math.ceil(fy1)) + pad
        src = self.read_level(level, ix0, iy0, ix1 - ix0, iy1 - iy0)
        shrink = (fx1 - fx0) >= ow and (fy1 - fy0) >= oh
        resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
        im = Image.fromarray(src).resize(
            (ow, oh), resample, box=(fx0 - ix0, fy0 - iy0, fx1 - ix0, fy1 - iy0)
        )
        return np.asarray(im)

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Release the file."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    def __enter__(self) -> Slide:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.dimensions
        return f"Slide({self.name!r}, {w} x {h} px, {self.mpp:g} um/px, {self.level_count} levels)"


def _check_mpp(mpp: Any, label: str) -> float:
    v = _float_or_none(mpp)
    if v is None or not MPP_RANGE[0] <= v <= MPP_RANGE[1]:
        raise DataError(
            f"{label}: the pixel size must be a number of micrometres per pixel in "
            f"[{MPP_RANGE[0]:g}, {MPP_RANGE[1]:g}], got {mpp!r}"
        )
    return v


def _metadata_mpp(path: Path, backend: Any) -> tuple[float | None, str]:
    props = backend.properties
    mx, my = (
        _float_or_none(props.get("tiffslide.mpp-x")),
        _float_or_none(props.get("tiffslide.mpp-y")),
    )
    if mx is not None:
        return (mx + my) / 2.0 if my is not None else mx, "metadata"
    tif = getattr(backend, "tifffile", None)
    if tif is not None:
        ome = _ome_mpp(tif)
        if ome is not None:
            return ome, "OME PhysicalSizeX"
        desc = str(getattr(tif.pages[0], "description", "") or "")
        m = re.search(r"\bMPP\s*=\s*([0-9.eE+-]+)", desc)
        if m and _float_or_none(m.group(1)) is not None:
            return float(m.group(1)), "ImageDescription MPP"
    return None, ""


def _open_backend(path: Path) -> _Backend:
    errors: list[str] = []
    cls = _tiffslide_class()
    if cls is not None:
        try:
            backend = _TiffSlideBackend(path, cls)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        else:
            try:
                _check_tiff_complete(path, backend.tifffile)
            except BaseException:
                backend.close()
                raise
            return backend
    else:  # pragma: no cover - tiffslide is a declared dependency
        errors.append("tiffslide is not installed (pip install tiffslide)")
    try:
        import openslide  # type: ignore[import-not-found]
    except ImportError:
        openslide = None
    if openslide is not None:  # pragma: no cover - only where OpenSlide is installed
        try:
            return _OpenSlideBackend(path, openslide)
        except Exception as exc:
            errors.append(f"OpenSlide: {type(exc).__name__}: {exc}")
    raise DataError(
        f"{path}: not a whole-slide image this reader understands ({'; '.join(errors)}); "
        "supported: SVS, NDPI, pyramidal TIFF, OME-TIFF (tiffslide), PNG and JPEG; other "
        "vendor formats (MRXS, VMS, ...) need OpenSlide (pip install openslide-python "
        "openslide-bin)"
    )


def open_slide(
    path: str | os.PathLike[str],
    *,
    mpp: float | None = None,
    max_image_pixels: int | None = None,
) -> Slide:
    """Open a whole-slide image (or an ordinary image) for reading.

    Parameters
    ----------
    path : path-like
        SVS, NDPI, TIFF, OME-TIFF (tiffslide); other formats via OpenSlide if
        installed; PNG / JPEG (read whole).
    mpp : float, optional
        Level-0 pixel size in micrometres; overrides the file's metadata and is
        required when the file has none.
    max_image_pixels : int, optional
        Largest PNG / JPEG accepted (default
        :data:`synthlang.common.imageio.DEFAULT_MAX_PIXELS`).

    Returns
    -------
    Slide

    Raises
    ------
    DataError
        Missing, unsupported, damaged or truncated file; no pixel size in the
        metadata and no ``mpp``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if not p.is_file():
        raise DataError(f"{p}: not a regular file")
    given = None if mpp is None else _check_mpp(mpp, str(p))
    if p.suffix.lower() in IMAGE_SUFFIXES:
        from synthlang.common.imageio import DEFAULT_MAX_PIXELS, read_image

        arr = read_image(p, max_pixels=max_image_pixels or DEFAULT_MAX_PIXELS)
        if given is None:
            raise DataError(f"{p}: a PNG / JPEG image has no pixel size; {MPP_HINT}")
        return Slide(_ArrayBackend(arr), name=p.name, path=p, mpp=given, mpp_source="argument")
    backend = _open_backend(p)
    try:
        if given is not None:
            value, source = given, "argument"
        else:
            found, source = _metadata_mpp(p, backend)
            if found is None:
                raise DataError(f"{p}: the file's metadata has no pixel size; {MPP_HINT}")
            value = _check_mpp(found, f"{p} (metadata)")
        return Slide(backend, name=p.name, path=p, mpp=value, mpp_source=source)
    except BaseException:
        backend.close()
        raise
