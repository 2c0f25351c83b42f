"""Safe image input and output for the whole project.

Every image synthlang reads from the user (slides to fit, reference images,
instance and class label images, predictions to evaluate) goes through this
module, so that a decompression bomb, a truncated file, a grayscale image
where colour is needed or an image with a stray alpha channel is reported as
one clear :class:`~synthlang.common.errors.SynthlangError` naming the file, never as
a traceback or a silently wrong array.

Conventions (see ``DESIGN.md``): colour images are ``float32`` arrays of
shape ``(rows, cols, 3)`` with values in ``[0, 1]``; label images are integer
arrays of shape ``(rows, cols)``.

Files are written atomically (:func:`synthlang.common.fileio.atomic_writer`),
so a reader never sees a half-written PNG. :func:`to_uint8` is the one
conversion of ``[0, 1]`` floats to 8-bit pixels.
"""

from __future__ import annotations

import logging
import os
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.common.fileio import (
    atomic_writer,
    open_regular_file,
    read_error,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "read_image",
    "read_label_image",
    "read_raw_image",
    "image_size",
    "write_png",
    "to_uint8",
    "DECODE_ERRORS",
    "check_image_size",
    # re-exported for their existing importers; they live in synthlang.common.fileio
]

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 64 * 1024 * 1024
"""Largest image (rows x cols) read by default: 67,108,864 pixels (8192 x 8192).

A float32 RGB copy of such an image takes 768 MiB. Crop or tile larger slides
first, or pass a larger ``max_pixels`` explicitly.
"""

DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
)
"""Exceptions Pillow raises for corrupt or truncated files."""


_GRAY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "LA", "La"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


def check_image_size(name: str, rows: int, cols: int, max_pixels: int) -> None:
    """Refuse an image of ``rows x cols`` above ``max_pixels`` or without pixels.

    Raises
    ------
    ResourceLimitError
        More than ``max_pixels`` pixels (``name`` and the limit in the message).
    DataError
        No rows or no columns.
    """
    pixels = int(rows) * int(cols)
    if pixels > max_pixels:
        raise ResourceLimitError(
            f"{name}: image is {rows} x {cols} = {pixels:,} pixels; "
            f"the limit is {max_pixels:,} pixels (max_pixels); crop or tile it first"
        )
    if rows == 0 or cols == 0:
        raise DataError(f"{name}: image is empty ({rows} x {cols})")


def _describe(path: Path) -> str:
    return str(path)


@contextmanager
def _open(path: str | os.PathLike[str], max_pixels: int) -> Iterator[Image.Image]:
    """Open ``path`` with Pillow (header only) and check its size.

    Raises the project's errors for a missing file, a file Pillow cannot
    identify and an image larger than ``max_pixels``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{_describe(p)}: no such file")
    if p.is_dir():
        raise DataError(f"{_describe(p)}: is a folder, expected an image file")
    try:
        fh = open_regular_file(p)
    except OSError as exc:
        raise read_error(_describe(p), exc, "the image") from None
    try:
        im = _open_image(fh, p)
    except BaseException:
        fh.close()
        raise
    try:
        cols, rows = im.size
        check_image_size(_describe(p), rows, cols, max_pixels)
        yield im
    finally:
        im.close()
        fh.close()


def _open_image(fh: BinaryIO, p: Path) -> Image.Image:
    """``Image.open`` (header only), with its failures as the project's errors."""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns above Image.MAX_IMAGE_PIXELS and
            # raises above twice that; our explicit limit in _open replaces the warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fh)
    except Image.DecompressionBombError as exc:
        raise ResourceLimitError(
            f"{_describe(p)}: refused as a possible decompression bomb ({exc}); "
            "crop or tile the image first"
        ) from None
    except UnidentifiedImageError:
        raise DataError(
            f"{_describe(p)}: not an image file Pillow can read "
            "(allowed: PNG, TIFF, JPEG, BMP and other formats Pillow supports)"
        ) from None
    except DECODE_ERRORS as exc:
        raise DataError(f"{_describe(p)}: cannot read image header ({exc})") from None


def _load(im: Image.Image, path: Path) -> None:
    """Decode all pixels, turning decoder failures into :class:`DataError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except Image.DecompressionBombError as exc:
        raise ResourceLimitError(
            f"{path}: refused as a possible decompression bomb ({exc})"
        ) from None
    except DECODE_ERRORS as exc:
        raise DataError(
            f"{path}: image data is truncated or corrupt ({exc}); re-export the file"
        ) from None


def image_size(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[int, int]:
    """Return ``(rows, cols)`` of an image file without decoding its pixels.

    Parameters
    ----------
    path : path-like
        Image file.
    max_pixels : int, optional
        Refuse images with more pixels than this.

    Returns
    -------
    tuple of int
        ``(rows, cols)``.
    """
    with _open(path, max_pixels) as im:
        cols, rows = im.size
        return int(rows), int(cols)


def _note(notes: list[str] | None, message: str) -> None:
    log.info(message)
    if notes is not None:
        notes.append(message)


def _gray_to_float(arr: np.ndarray, mode: str) -> np.ndarray:
    if mode == "1" or arr.dtype == bool:
        return arr.astype(np.float32)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16 or mode.startswith("I;16"):
        return arr.astype(np.float32) / 65535.0
    if np.issubdtype(arr.dtype, np.integer):
        # 32-bit integer gray: scale by the largest value that fits the data.
        top = 65535.0 if arr.max(initial=0) <= 65535 else float(np.iinfo(np.int32).max)
        return np.clip(arr.astype(np.float64) / top, 0.0, 1.0).astype(np.float32)
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def read_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_gray: bool = False,
    notes: list[str] | None = None,
) -> np.ndarray:
    """Read a colour image as ``float32`` RGB in ``[0, 1]``.

    Parameters
    ----------
    path : path-like
        PNG, TIFF, JPEG or any other format Pillow reads. Multi-page TIFFs
        use the first page.
    max_pixels : int, optional
        Refuse images with more than this many pixels (default
        :data:`DEFAULT_MAX_PIXELS`) before decoding them.
    allow_gray : bool, optional
        Accept single-channel images and replicate them to three channels.
        By default a grayscale image is an error, since colour statistics of
        a gray image are meaningless.
    notes : list of str, optional
        Receives one line per silent conversion (alpha dropped, palette
        expanded, first TIFF page used), for the caller to show the user.

    Returns
    -------
    numpy.ndarray
        Shape ``(rows, cols, 3)``, dtype float32, values in ``[0, 1]``.
        16-bit colour images are read at 8-bit precision (Pillow's decoder);
        16-bit gray images keep their precision.

    Raises
    ------
    DataError
        Missing, unreadable, truncated or corrupt file; grayscale image
        without ``allow_gray``.
    ResourceLimitError
        The image has more than ``max_pixels`` pixels.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> write_png(os.path.join(d, "a.png"), np.full((2, 3, 3), 0.5, np.float32))
    >>> read_image(os.path.join(d, "a.png")).shape
    (2, 3, 3)
    """
    p = Path(path)
    with _open(p, max_pixels) as im:
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            _note(notes, f"{p}: has {frames} pages/frames; using the first")
        _load(im, p)
        mode = im.mode
        if mode == "P":
            has_alpha = "transparency" in im.info
            im = im.convert("RGBA" if has_alpha else "RGB")
            _note(notes, f"{p}: palette image expanded to RGB")
            mode = im.mode
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
            im = im.convert("RGB")
            _note(notes, f"{p}: {mode} image converted to RGB")
            mode = "RGB"
        if mode in _GRAY_MODES:
            if not allow_gray:
                raise DataError(
                    f"{p}: is a single-channel (grayscale, mode {mode}) image; "
                    "an RGB colour image (3 channels, H&E) is required"
                )
            arr = np.asarray(im)
            if mode in ("LA", "La"):
                _note(notes, f"{p}: alpha channel dropped")
                arr = arr[..., 0]
            gray = _gray_to_float(arr, mode)
            return np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
        if mode in _ALPHA_MODES:
            alpha = np.asarray(im.getchannel("A"))
            if alpha.min(initial=255) < 255:
                _note(notes, f"{p}: alpha channel dropped (the image has transparent pixels)")
            else:
                _note(notes, f"{p}: alpha channel dropped")
            im = im.convert("RGB")
            mode = "RGB"
        if mode != "RGB":
            raise DataError(
                f"{p}: unsupported image mode {mode!r}; "
                "allowed: RGB or RGBA, 8 or 16 bit (grayscale only where stated)"
            )
        arr = np.asarray(im)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataError(f"{p}: expected 3 colour channels, found shape {arr.shape}")
    return arr.astype(np.float32) / np.float32(255.0)


def read_raw_image(
    path: str | os.PathLike[str],
    *,
    modes: tuple[str, ...],
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Read an image of one of the given Pillow modes as its raw array (no conversion).

    For files whose format is fixed, such as the PNGs of a dataset folder.

    Parameters
    ----------
    path : path-like
        The image file.
    modes : tuple of str
        Accepted Pillow modes (``"RGB"``, ``"L"``, ``"I;16"``, ...).
    max_pixels : int, optional
        Refuse images with more pixels than this, before decoding them.

    Returns
    -------
    numpy.ndarray
        ``(rows, cols)`` or ``(rows, cols, channels)``, the mode's dtype.

    Raises
    ------
    DataError
        Missing, unreadable, truncated or corrupt file, or another mode.
    ResourceLimitError
        Too many pixels.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.png")
    >>> write_png(p, np.zeros((2, 3), bool))
    >>> read_raw_image(p, modes=("L",)).dtype.name
    'uint8'
    """
    p = Path(path)
    with _open(p, max_pixels) as im:
        if im.mode not in modes:
            raise DataError(f"{p}: image mode {im.mode}, expected {' or '.join(modes)}")
        _load(im, p)
        return np.array(im)


def read_label_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    notes: list[str] | None = None,
) -> np.ndarray:
    """Read an instance or class label image as an integer array.

    Parameters
    ----------
    path : path-like
        A label image: 8 or 16 bit gray (``L``, ``I;16``), 32-bit integer
        (``I``), palette (``P``: the palette index is the label), 1-bit, or
        RGB(A). In an RGB image whose three channels agree the label is the
        channel value; otherwise each colour is one label
        ``(r << 16) | (g << 8) | b`` and black is 0 (alpha is ignored).
    max_pixels : int, optional
        Refuse images with more pixels than this.
    notes : list of str, optional
        Receives one line per conversion.

    Returns
    -------
    numpy.ndarray
        Shape ``(rows, cols)``, dtype int32 (0 is background by convention).

    Raises
    ------
    DataError
        Missing, unreadable or corrupt file; negative or non-integer labels.
    ResourceLimitError
        Too many pixels.
    """
    p = Path(path)
    with _open(p, max_pixels) as im:
        _load(im, p)
        mode = im.mode
        if mode == "P":
            arr = np.asarray(im)  # palette indices
        elif mode in ("RGB", "RGBA", "RGBX", "RGBa"):
            rgb = np.asarray(im.convert("RGB")).astype(np.int64)
            if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(
                rgb[..., 0], rgb[..., 2]
            ):
                arr = rgb[..., 0]
            else:
                _note(notes, f"{p}: RGB label image; each colour is one label, black is 0")
                arr = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        elif mode in ("LA", "La", "PA"):
            arr = np.asarray(im)[..., 0]
        elif mode in ("1", "L", "I", "F") or mode.startswith("I;16"):
            arr = np.asarray(im)
        else:
            raise DataError(
                f"{p}: unsupported label image mode {mode!r}; "
                "allowed: 8/16/32-bit single channel, palette or RGB"
            )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise DataError(f"{p}: label image has non-integer values; labels must be integers")
    if arr.dtype == bool:
        arr = arr.astype(np.int32)
    if arr.size and arr.min() < 0:
        raise DataError(f"{p}: label image has negative values; labels must be >= 0")
    if arr.size and int(arr.max()) > np.iinfo(np.int32).max:
        raise DataError(f"{p}: label values exceed the int32 range")
    return np.ascontiguousarray(arr.astype(np.int32))


# --------------------------------------------------------------------------- writing


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert an image with values in ``[0, 1]`` to 8-bit pixels.

    The rule: ``clip(rint(image * 255), 0, 255)``, computed in the dtype of
    ``image`` (float32 stays float32), rounding halves to even. The dtype
    matters at exact halves: for 128 float32 values in ``[0, 1]`` the float32
    product rounds to ``k + 0.5`` where the exact (float64) one is just above,
    so pass ``image.astype(np.float64)`` for the exact rounding. Both rules
    are in use and fixed by the bytes of existing files.

    Parameters
    ----------
    image : numpy.ndarray
        Float array of any shape; values outside ``[0, 1]`` are clipped. It is
        not checked for NaN.

    Returns
    -------
    numpy.ndarray
        Same shape, dtype uint8.

    Examples
    --------
    >>> to_uint8(np.array([0.0, 0.5, 1.0, 1.7, -0.2])).tolist()
    [0, 128, 255, 255, 0]
    >>> x = np.array([0.5 / 255], np.float32)
    >>> to_uint8(x).tolist(), to_uint8(x.astype(np.float64)).tolist()
    ([0], [1])
    """
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def _to_pil(array: np.ndarray) -> Image.Image:
    a = np.asarray(array)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ValueError(f"write_png: expected (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.dtype == bool:
        return Image.fromarray(a.astype(np.uint8) * 255)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise ValueError("write_png: array has NaN or infinite values")
        return Image.fromarray(to_uint8(a.astype(np.float64)))
    if a.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(a))
    if a.dtype.kind in "iu":
        if a.ndim != 2:
            raise ValueError("write_png: integer arrays wider than 8 bit must be (H, W) labels")
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(
                "write_png: label values must be in 0..65535 for a 16-bit PNG, "
                f"got {a.min()}..{a.max()}"
            )
        return Image.fromarray(np.ascontiguousarray(a.astype(np.uint16)))
    raise ValueError(f"write_png: unsupported dtype {a.dtype}")


def write_png(path: str | os.PathLike[str], array: np.ndarray, *, atomic: bool = True) -> None:
    """Write an array as a PNG, atomically.

    Parameters
    ----------
    path : path-like
        Target file (its folder must exist).
    array : numpy.ndarray
        * float ``(H, W, 3)`` / ``(H, W, 4)`` in ``[0, 1]``: 8-bit RGB / RGBA
          (values are clipped and rounded);
        * float or bool ``(H, W)``: 8-bit gray mask;
        * uint8 ``(H, W[, 3|4])``: written as is;
        * other integers ``(H, W)`` in ``0..65535``: 16-bit gray labels.

    atomic : bool, optional
        Write through a temporary file and :func:`os.replace` (default). Pass
        False for files inside a folder that is itself moved into place
        atomically (patch libraries).

    Raises
    ------
    ValueError
        For an array of unsupported shape, dtype or value range.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "labels.png")
    >>> write_png(p, np.array([[0, 1], [2, 300]], dtype=np.int32))
    >>> read_label_image(p).tolist()
    [[0, 1], [2, 300]]
    """
    im = _to_pil(array)
    target = Path(path)
    if not atomic:
        with open(target, "wb") as fh:
            _save(im, fh)
        return
    with atomic_writer(target) as fh:
        _save(im, fh)


def _save(im: Image.Image, fh: BinaryIO) -> None:
    im.save(fh, format="PNG", optimize=False, compress_level=9)
