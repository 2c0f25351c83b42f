"""Image files of any channel count and bit depth, and false-colour views.

Images are float32 ``(H, W, C)`` arrays in ``[0, 1]`` (:mod:`synthlang.common.channels`);
files hold ``round(x * 255)`` (8 bit, :func:`~synthlang.common.imageio.to_uint8`) or
``round(x * 65535)`` (16 bit, :func:`quantize`):

* ``C == 3``: PNG, RGB, 8 bit (Pillow) or 16 bit (libpng through ``imagecodecs``; Pillow
  reads 16-bit colour PNGs at 8-bit precision, so :func:`read_raw_channels` decodes them);
* ``C != 3``: TIFF (``tifffile``), one page of shape ``(C, H, W)`` (planar, min-is-black),
  8 or 16 bit, deflate-compressed, with the channel names in its ImageDescription JSON
  (``{"shape": [C, H, W], "axes": "CYX", "channels": [...]}``); ImageJ / Fiji and QuPath
  open it as a C-channel image.

:func:`false_colour` maps any channel count to RGB for looking at an image (previews,
overlays): channel ``k`` is tinted with
:data:`~synthlang.common.channels.FALSE_COLOURS` ``[k % 8]`` and the tints are added, as
a fluorescence viewer does.

Examples
--------
>>> image = np.zeros((2, 2, 4), np.float32); image[..., 1] = 1.0
>>> false_colour(image)[0, 0].tolist()
[1.0, 0.0, 0.0]
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthlang.common.channels import FALSE_COLOURS, MAX_CHANNELS, TIFF_SUFFIXES
from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.common.fileio import open_regular_file, read_error, read_input_file
from synthlang.common.imageio import (
    DEFAULT_MAX_PIXELS,
    check_image_size,
    read_raw_image,
    to_uint8,
)

__all__ = [
    "quantize",
    "encode_image",
    "read_raw_channels",
    "read_channels",
    "image_channels",
    "tiff_channel_names",
    "false_colour",
]

_MAX_FILE_BYTES = 4 * 1024**3
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def quantize(image: np.ndarray, bits: int) -> np.ndarray:
    """``[0, 1]`` floats as 8-bit (:func:`to_uint8`) or 16-bit pixels (``rint(x * 65535)``).

    The 16-bit rule is computed in float64, so every value comes back within 0.5 / 65535.

    Examples
    --------
    >>> quantize(np.array([0.0, 0.5, 1.0, 1.5]), 16).tolist()
    [0, 32768, 65535, 65535]
    """
    if bits == 8:
        return to_uint8(image)
    if bits != 16:
        raise ValueError(f"bit depth must be 8 or 16, got {bits}")
    scaled = np.rint(np.asarray(image, dtype=np.float64) * 65535.0)
    return np.clip(scaled, 0, 65535).astype(np.uint16)


def encode_image(pixels: np.ndarray, names: Sequence[str] | None = None) -> bytes:
    """Encode ``(H, W, C)`` uint8 or uint16 pixels as the bytes of their file.

    RGB (``C == 3``) as PNG, any other channel count as a planar TIFF whose description
    names the channels (``names``, default ``c0, c1, ...``). The same pixels give the
    same bytes wherever the same libraries run.
    """
    a = np.ascontiguousarray(pixels)
    if a.ndim != 3 or a.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected (H, W, C) uint8 or uint16 pixels, got {a.dtype} {a.shape}")
    c = a.shape[2]
    if c == 3:
        if a.dtype == np.uint8:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="PNG", compress_level=1)
            return buf.getvalue()
        import imagecodecs

        return bytes(imagecodecs.png_encode(a, level=1))
    import tifffile

    labels = list(names) if names is not None else [f"c{k}" for k in range(c)]
    if len(labels) != c:
        raise ValueError(f"{len(labels)} channel names for {c} channels")
    buf = io.BytesIO()
    planes = np.ascontiguousarray(a.transpose(2, 0, 1))
    tifffile.imwrite(
        buf,
        planes if c > 1 else planes[0],  # one channel: a plain gray image
        photometric="minisblack",
        planarconfig="separate" if c > 1 else None,
        compression="zlib",
        compressionargs={"level": 1},
        metadata={"axes": "CYX" if c > 1 else "YX", "channels": labels},
    )
    return buf.getvalue()


def _tiff_layout(path: Path, shape: tuple[int, ...], axes: str) -> tuple[int, int, int, bool]:
    """``(rows, cols, channels, channels_last)`` of a TIFF series, or an error."""
    if len(shape) == 2:
        return shape[0], shape[1], 1, True
    if len(shape) == 3 and axes.endswith("S"):
        return shape[0], shape[1], shape[2], True
    if len(shape) == 3:
        return shape[1], shape[2], shape[0], False
    raise DataError(
        f"{path}: a TIFF of shape {tuple(shape)} (axes {axes}); expected one image with "
        "channels: (channels, rows, cols) or (rows, cols, channels)"
    )


def _read_tiff(path: Path, max_pixels: int) -> np.ndarray:
    import tifffile

    try:
        fh = open_regular_file(path)
    except OSError as exc:
        raise read_error(path, exc, "the image") from None
    try:
        with tifffile.TiffFile(fh, name=path.name) as tif:
            series = tif.series[0]
            rows, cols, c, last = _tiff_layout(path, tuple(series.shape), str(series.axes))
            check_image_size(str(path), rows, cols, max_pixels)
            if not 1 <= c <= MAX_CHANNELS:
                raise DataError(f"{path}: {c} channels; at most {MAX_CHANNELS} are read")
            data = np.asarray(series.asarray())
    except (DataError, ResourceLimitError):
        raise
    except (OSError, ValueError, IndexError, KeyError, RuntimeError, tifffile.TiffFileError) as exc:
        raise DataError(f"{path}: cannot read the TIFF ({exc})") from None
    finally:
        fh.close()
    data = data.reshape(rows, cols, 1) if data.ndim == 2 else data
    return np.ascontiguousarray(data if last else data.transpose(1, 2, 0))


def _png_header(path: Path) -> tuple[int, int, int, int] | None:
    """``(rows, cols, bit depth, colour type)`` from a PNG's IHDR, None if not a PNG."""
    try:
        with open_regular_file(path) as fh:
            head = fh.read(29)
    except OSError as exc:
        raise read_error(path, exc, "the image") from None
    if len(head) < 29 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    cols = int.from_bytes(head[16:20], "big")
    rows = int.from_bytes(head[20:24], "big")
    return rows, cols, head[24], head[25]


def _read_png16(path: Path, rows: int, cols: int, max_pixels: int) -> np.ndarray:
    import imagecodecs

    check_image_size(str(path), rows, cols, max_pixels)
    data = read_input_file(path, max_bytes=_MAX_FILE_BYTES, what="the image")
    try:
        out = np.asarray(imagecodecs.png_decode(data))
    except Exception as exc:  # imagecodecs raises its own PngError
        raise DataError(f"{path}: image data is truncated or corrupt ({exc})") from None
    return out.reshape(rows, cols, -1)


def read_raw_channels(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Read an image's pixels as stored: ``(H, W, C)`` uint8, uint16 or float.

    TIFF (any channel count; ``(C, H, W)`` or ``(H, W, C)``), PNG (gray, RGB, RGBA; 8 or 16
    bit, 16-bit colour at full precision) and the other formats Pillow reads (as RGB).

    Raises
    ------
    DataError
        Missing, unreadable, truncated or corrupt file, or an unsupported layout.
    ResourceLimitError
        More than ``max_pixels`` pixels.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.suffix.lower() in TIFF_SUFFIXES:
        return _read_tiff(p, max_pixels)
    head = _png_header(p) if not p.is_dir() else None
    if head is not None and head[2] == 16 and head[3] in (2, 6):  # 16-bit RGB(A)
        return _read_png16(p, head[0], head[1], max_pixels)
    modes = ("L", "I;16", "I;16B", "I;16L", "LA", "RGB", "RGBA")
    try:
        raw = read_raw_image(p, modes=modes, max_pixels=max_pixels)
    except DataError:
        from synthlang.common.imageio import read_image

        return to_uint8(read_image(p, max_pixels=max_pixels, allow_gray=True).astype(np.float64))
    return raw.reshape(raw.shape[0], raw.shape[1], -1)


def read_channels(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Read an image as float32 ``(H, W, C)`` in ``[0, 1]`` (8 bit / 255, 16 bit / 65535).

    See :func:`read_raw_channels` for the formats.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.tif"
    >>> _ = p.write_bytes(encode_image(np.full((2, 3, 4), 65535, np.uint16)))
    >>> read_channels(p).shape, float(read_channels(p).max())
    ((2, 3, 4), 1.0)
    """
    raw = read_raw_channels(path, max_pixels=max_pixels)
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) / np.float32(255.0)
    if raw.dtype == np.uint16:
        return (raw.astype(np.float64) / 65535.0).astype(np.float32)
    if raw.dtype.kind == "f":
        if not np.all(np.isfinite(raw)):
            raise DataError(f"{path}: the image has NaN or infinite values")
        return np.clip(raw, 0.0, 1.0).astype(np.float32)
    raise DataError(
        f"{path}: pixels of type {raw.dtype}; expected 8 or 16 bit unsigned integers (or "
        "floats in [0, 1])"
    )


def image_channels(path: str | os.PathLike[str]) -> int | None:
    """The channel count of a TIFF file from its header (None: not a readable TIFF)."""
    p = Path(path)
    if p.suffix.lower() not in TIFF_SUFFIXES or not p.is_file():
        return None
    import tifffile

    try:
        with open_regular_file(p) as fh, tifffile.TiffFile(fh, name=p.name) as tif:
            series = tif.series[0]
            return _tiff_layout(p, tuple(series.shape), str(series.axes))[2]
    except (DataError, OSError, ValueError, IndexError, KeyError, tifffile.TiffFileError):
        return None


def tiff_channel_names(path: str | os.PathLike[str]) -> list[str] | None:
    """Channel names a TIFF written by :func:`encode_image` records (None: none recorded)."""
    import tifffile

    p = Path(path)
    try:
        with open_regular_file(p) as fh, tifffile.TiffFile(fh, name=p.name) as tif:
            meta: Any = tif.shaped_metadata
    except (OSError, ValueError, IndexError, KeyError, tifffile.TiffFileError):
        return None
    names = meta[0].get("channels") if meta else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return [str(n) for n in names]


def false_colour(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` float32 RGB view of an ``(H, W, C)`` image.

    RGB images are returned as they are, one channel as gray; otherwise channel ``k`` is
    tinted with :data:`FALSE_COLOURS` ``[k % 8]`` and the tints are added and clipped.
    """
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    c = a.shape[2]
    if c == 3:
        return a
    if c == 1:
        return np.repeat(a, 3, axis=2)
    tints = np.array([FALSE_COLOURS[k % len(FALSE_COLOURS)] for k in range(c)], np.float32)
    out = np.tensordot(a, tints, axes=([2], [0])).astype(np.float32)
    return np.clip(out, 0.0, 1.0, out=out)
