"""The patch-library format: the one place that reads and writes it (``docs/patches.md``).

A patch library is a folder holding ``index.json`` and one PNG per patch:
RGBA nucleus cut-outs (kind ``"nuclei"``, used by ``patch(...)``) or RGB
squares of side ``patch_size`` (kind ``"texture"``, used by ``patches(...)``).

* :class:`PatchIndex` -- the pydantic model of ``index.json`` as
  ``synthlang fit`` writes it (:class:`PatchItem`, :class:`Provenance`).
* :func:`read_index_file` -- read and parse ``index.json`` within a size
  bound and return it with the SHA-256 of its bytes; problems raise
  :class:`IndexFileError`, whose ``reason`` lets a caller word its own
  message (the compiler does).
* :func:`read_patch_folder` -- the strict reader of the renderer: every
  field the renderer relies on is checked and every patch decoded; a
  problem raises :class:`~synthlang.common.errors.RenderError` (or
  :class:`~synthlang.common.errors.ResourceLimitError` for a limit) naming
  the offending file. The informative fields (``mean``, ``class``,
  ``provenance``, ...) are not checked: readers ignore them.
* :func:`write_patch_folder` -- the writer of ``synthlang fit``: the PNGs
  and the index into a temporary folder, then swapped in.

This module depends only on :mod:`synthlang.common` and third-party
packages, so that the fitting code, the compiler and the renderer can all
use it.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp())
>>> rgba = np.zeros((6, 6, 4), np.uint8)
>>> rgba[1:5, 1:5] = (90, 40, 120, 255)
>>> index = PatchIndex.model_validate(
...     {"format": FORMAT, "version": VERSION, "kind": "nuclei", "cohorts": 1,
...      "items": [{"file": "000000.png", "cohort": 0}]}
... )
>>> folder = write_patch_folder(out, "tumor_nuclei", index, [rgba])
>>> lib = read_patch_folder(folder)
>>> lib.kind, lib.files, int(lib.alpha[0].sum())
('nuclei', ('000000.png',), 16)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthlang.common.errors import DataError, RenderError, ResourceLimitError
from synthlang.common.fileio import FileTooLargeError, atomic_write_text, read_regular_file
from synthlang.common.imageio import DECODE_ERRORS, write_png
from synthlang.common.limits import INDEX_BYTES_PER_PATCH, Limits

__all__ = [
    "FORMAT",
    "VERSION",
    "KINDS",
    "INDEX_NAME",
    "SourceImage",
    "Provenance",
    "PatchItem",
    "PatchIndex",
    "index_text",
    "IndexFileError",
    "read_index_file",
    "library_error",
    "is_plain_name",
    "PatchFolder",
    "read_patch_folder",
    "is_patch_library",
    "write_patch_folder",
]

FORMAT = "synthlang-patches"
"""Value of ``index.json``'s ``format``."""

VERSION = 1
"""The format version this module reads and writes."""

KINDS = ("nuclei", "texture")
"""Library kinds: RGBA nucleus cut-outs or RGB texture squares."""

INDEX_NAME = "index.json"
"""Name of the index file inside a library folder."""

# --------------------------------------------------------------------------- the model

_MODEL = ConfigDict(strict=True, extra="allow", populate_by_name=True)


def is_plain_name(name: object) -> bool:
    """Whether ``name`` is a file name inside the library folder (no path, no ``..``).

    Examples
    --------
    >>> is_plain_name("000001.png"), is_plain_name("../x.png"), is_plain_name("")
    (True, False, False)
    """
    if not isinstance(name, str) or not name:
        return False
    parts = PurePosixPath(name).parts
    return not (name.startswith(("/", "\\")) or ".." in parts or "\\" in name or ":" in name)


class SourceImage(BaseModel):
    """An image the patches were cut from (provenance)."""

    model_config = _MODEL

    file: str
    sha256: str


class Provenance(BaseModel):
    """Where the patches come from (informative)."""

    model_config = _MODEL

    images: list[SourceImage] = Field(default_factory=list)
    licence: str | None = None
    command: str | None = None
    normalization: dict[str, Any] | None = None


class PatchItem(BaseModel):
    """One patch: its file and cohort (used by the renderer) and informative fields."""

    model_config = _MODEL

    file: str
    cohort: int = Field(default=0, ge=0)
    mean: list[float] | None = None
    """Mean RGB in [0, 1] of the patch's opaque pixels."""
    class_name: str | None = Field(default=None, alias="class")
    source: str | None = None
    area: int | None = Field(default=None, ge=0)
    """Nuclei: number of opaque pixels."""
    position: list[int] | None = None
    """Top-left ``[row, col]`` of the patch in its (cropped, scaled) source image."""

    @field_validator("file")
    @classmethod
    def _plain(cls, value: str) -> str:
        if not is_plain_name(value):
            raise ValueError(f"file {value!r} must be a name inside the library folder")
        return value


class PatchIndex(BaseModel):
    """``index.json`` of a patch library.

    Unset optional fields are left out when written (:func:`index_text`);
    unknown keys are kept (readers ignore them).
    """

    model_config = _MODEL

    format: Literal["synthlang-patches"]
    version: Literal[1]
    kind: Literal["nuclei", "texture"]
    patch_size: int | None = Field(default=None, ge=2)
    """Texture side in pixels (None for nuclei)."""
    cohorts: int = Field(default=1, ge=1)
    pixel_size_um: float | None = None
    pixel_size_assumed: bool | None = None
    region: str | None = None
    cohort_counts: list[int] | None = None
    items: list[PatchItem] = Field(min_length=1)
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _cohorts_in_range(self) -> PatchIndex:
        for i, item in enumerate(self.items):
            if item.cohort >= self.cohorts:
                raise ValueError(
                    f"item {i} ({item.file}): cohort {item.cohort} not in 0..{self.cohorts - 1}"
                )
        return self


def index_text(index: PatchIndex) -> str:
    """Return the text of ``index.json`` for ``index`` (one-space indent, final newline)."""
    data = index.model_dump(mode="python", by_alias=True, exclude_unset=True)
    return json.dumps(data, indent=1) + "\n"


# --------------------------------------------------------------------------- index.json


IndexProblem = Literal[
    "not_found", "unreadable", "too_large", "changed", "invalid_json", "not_object"
]


class IndexFileError(Exception):
    """``index.json`` could not be read or parsed; callers word the message.

    Attributes
    ----------
    reason : str
        ``"not_found"`` (no such file; the folder may be missing too),
        ``"unreadable"`` (another OS error, or not a regular file),
        ``"too_large"`` (more than the size bound), ``"changed"`` (the
        digest differs from the expected one), ``"invalid_json"`` or
        ``"not_object"`` (valid JSON but not an object).
    path : pathlib.Path
        The ``index.json`` path.
    detail : str
        The OS error's text (``strerror`` when set) or the JSON error.
    size, limit : int or None
        For ``too_large``: bytes found and the bound.
    """

    def __init__(
        self,
        reason: IndexProblem,
        path: Path,
        detail: str = "",
        *,
        size: int | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(f"{path}: {reason.replace('_', ' ')}" + (f" ({detail})" if detail else ""))
        self.reason: IndexProblem = reason
        self.path = path
        self.detail = detail
        self.size = size
        self.limit = limit


def read_index_file(
    folder: str | os.PathLike[str], max_bytes: int, *, expect_sha256: str = ""
) -> tuple[dict[str, Any], str]:
    """Read and parse the ``index.json`` of a library folder.

    Parameters
    ----------
    folder : path-like
        The library folder.
    max_bytes : int
        Largest ``index.json`` read (``INDEX_BYTES_PER_PATCH * max_patches``).
    expect_sha256 : str, optional
        When given, an index whose bytes have another SHA-256 is refused
        (``reason="changed"``) before it is parsed.

    Returns
    -------
    data : dict
        The parsed JSON object (not checked against :class:`PatchIndex`).
    sha256 : str
        Hex SHA-256 digest of the file's bytes.

    Raises
    ------
    IndexFileError
        With the ``reason`` of the problem.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "index.json").write_text("[1, 2]")
    >>> try:
    ...     read_index_file(d, 100)
    ... except IndexFileError as e:
    ...     print(e.reason)
    not_object
    """
    index = Path(folder) / INDEX_NAME
    try:
        raw = read_regular_file(index, max_bytes=max_bytes)
    except FileNotFoundError as e:
        raise IndexFileError("not_found", index, str(e.strerror or e)) from None
    except FileTooLargeError as e:
        raise IndexFileError("too_large", index, str(e), size=e.size, limit=e.limit) from None
    except OSError as e:
        raise IndexFileError("unreadable", index, str(e.strerror or e)) from None
    digest = hashlib.sha256(raw).hexdigest()
    if expect_sha256 and digest != expect_sha256:
        raise IndexFileError("changed", index)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise IndexFileError("invalid_json", index, str(e)) from None
    if not isinstance(data, dict):
        raise IndexFileError("not_object", index)
    return data, digest


# --------------------------------------------------------------------------- strict reader


def library_error(where: Path, what: str) -> RenderError:
    """The renderer's error for a bad library: ``patch library: WHERE: WHAT``."""
    return RenderError(f"patch library: {where}: {what}")


@dataclass(frozen=True, eq=False)
class PatchFolder:
    """A checked and decoded patch library (what :func:`read_patch_folder` returns).

    Attributes
    ----------
    path : pathlib.Path
        The library folder.
    kind : str
        ``"nuclei"`` or ``"texture"``.
    cohorts : int
        Number of cohorts.
    patch_size : int or None
        Texture side (from the index or the first patch; None for nuclei).
    files : tuple of str
        Item file names, in index order.
    cohort : numpy.ndarray
        ``(N,)`` int64 cohort of each item (read-only).
    rgb : tuple of numpy.ndarray
        ``(h, w, 3)`` float32 colours in [0, 1]; nuclei: 0 outside the
        alpha and read-only.
    alpha : tuple of numpy.ndarray
        Nuclei: ``(h, w)`` boolean masks (alpha >= 128), read-only; empty
        for textures.
    index : dict
        The parsed ``index.json``.
    sha256 : str
        Hex SHA-256 digest of ``index.json``.
    """

    path: Path
    kind: str
    cohorts: int
    patch_size: int | None
    files: tuple[str, ...]
    cohort: np.ndarray
    rgb: tuple[np.ndarray, ...] = ()
    alpha: tuple[np.ndarray, ...] = ()
    index: dict[str, Any] = field(default_factory=dict, repr=False)
    sha256: str = ""


def _plain_name(name: object, index: Path, i: int) -> str:
    if not isinstance(name, str) or not name:
        raise library_error(index, f"item {i}: 'file' must be a non-empty string")
    if not is_plain_name(name):
        raise library_error(
            index, f"item {i}: file {name!r} must be a name inside the library folder"
        )
    return name


def _int_field(data: dict[str, Any], key: str, index: Path, *, low: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise library_error(index, f"'{key}' must be an integer >= {low}, got {value!r}")
    return value


def _read_png(path: Path, mode: str, budget: list[int], limits: Limits) -> np.ndarray:
    """Read one patch PNG of the given mode; ``budget[0]`` is the library's pixels left.

    The file must be a regular file; its size is checked from the PNG header
    against the remaining pixel budget before any pixel is decoded.
    """
    try:
        data = read_regular_file(path, max_bytes=8 * max(budget[0], 0) + (1 << 20))
    except FileNotFoundError:
        raise library_error(path, "file not found") from None
    except FileTooLargeError as e:
        raise library_error(path, f"file of {e.size} bytes is too large for a patch") from None
    except OSError as e:
        raise library_error(path, f"cannot read ({e.strerror or e})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format != "PNG":
                    raise library_error(path, f"not a PNG image (format {img.format})")
                if img.mode != mode:
                    raise library_error(
                        path, f"image mode {img.mode}, expected {mode} (8 bit per channel)"
                    )
                cols, rows = img.size
                if rows * cols > budget[0]:
                    raise ResourceLimitError(
                        f"patch library: {path}: the library's patches have more than "
                        f"{limits.max_library_pixels} pixels in all "
                        "(SYNTHLANG_MAX_LIBRARY_PIXELS)",
                        hint="use fewer or smaller patches, or raise the limit with the "
                        "environment variable SYNTHLANG_MAX_LIBRARY_PIXELS",
                    )
                budget[0] -= rows * cols
                img.load()
                arr = np.asarray(img, dtype=np.uint8)
    except (RenderError, ResourceLimitError):
        raise
    except (UnidentifiedImageError, *DECODE_ERRORS) as e:
        raise library_error(path, f"unreadable PNG ({e})") from None
    except Image.DecompressionBombError as e:
        raise library_error(path, f"image too large ({e})") from None
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise library_error(path, f"empty or malformed image of shape {arr.shape}")
    return arr


def _read_index(folder: Path, digest: str, limits: Limits) -> tuple[dict[str, Any], str]:
    """:func:`read_index_file` with the renderer's messages."""
    index = folder / INDEX_NAME
    try:
        return read_index_file(
            folder, INDEX_BYTES_PER_PATCH * limits.max_patches, expect_sha256=digest
        )
    except IndexFileError as e:
        if e.reason == "not_found":
            what = "folder not found" if not folder.exists() else "index.json not found"
            raise library_error(index if folder.exists() else folder, what) from None
        if e.reason == "too_large":
            raise ResourceLimitError(
                f"patch library: {index}: {e.size} bytes, more than {INDEX_BYTES_PER_PATCH} per "
                f"allowed patch (SYNTHLANG_MAX_PATCHES is {limits.max_patches})"
            ) from None
        if e.reason == "unreadable":
            raise library_error(index, f"cannot read ({e.detail})") from None
        if e.reason == "changed":
            raise library_error(
                index,
                "changed since the scene was compiled (digest differs); compile the scene again",
            ) from None
        if e.reason == "invalid_json":
            raise library_error(index, f"not valid JSON ({e.detail})") from None
        raise library_error(index, "must contain a JSON object") from None


def read_patch_folder(
    path: str | os.PathLike[str], digest: str = "", *, limits: Limits | None = None
) -> PatchFolder:
    """Read, check and decode the patch library in folder ``path`` (the strict reader).

    Parameters
    ----------
    path : path-like
        Library folder containing ``index.json``.
    digest : str, optional
        SHA-256 hex digest of ``index.json`` recorded by the compiler; when
        given, a library whose index no longer matches is refused.
    limits : Limits, optional
        ``max_patches`` and ``max_library_pixels`` (default: from the
        environment, :meth:`Limits.from_env`).

    Returns
    -------
    PatchFolder

    Raises
    ------
    RenderError
        For a missing or corrupt library (missing folder or index, bad JSON,
        wrong format, version or kind, empty item list, a bad file name or
        cohort, an unreadable PNG, a wrong mode or size, an empty alpha),
        naming the offending file.
    ResourceLimitError
        For an index, a number of patches or a number of pixels over the limits.
    """
    folder = Path(path)
    index = folder / INDEX_NAME
    limits = limits or Limits.from_env()
    data, sha = _read_index(folder, digest, limits)
    if data.get("format") != FORMAT:
        raise library_error(index, f"'format' must be {FORMAT!r}, got {data.get('format')!r}")
    if data.get("version") != VERSION:
        raise library_error(
            index, f"unsupported 'version' {data.get('version')!r} (this reader: {VERSION})"
        )
    kind = data.get("kind")
    if kind not in KINDS:
        raise library_error(index, f"'kind' must be 'nuclei' or 'texture', got {kind!r}")
    cohorts = _int_field(data, "cohorts", index, low=1) if "cohorts" in data else 1
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise library_error(index, "'items' must be a non-empty list (the library is empty)")
    if len(items) > limits.max_patches:
        raise ResourceLimitError(
            f"patch library: {index}: {len(items)} patches, more than the limit of "
            f"{limits.max_patches} (SYNTHLANG_MAX_PATCHES)"
        )
    budget = [limits.max_library_pixels]
    patch_size: int | None = None
    if kind == "texture" and data.get("patch_size") is not None:
        patch_size = _int_field(data, "patch_size", index, low=2)
    files: list[str] = []
    cohort = np.zeros(len(items), dtype=np.int64)
    rgbs: list[np.ndarray] = []
    alphas: list[np.ndarray] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise library_error(index, f"item {i} must be an object")
        name = _plain_name(item.get("file"), index, i)
        c = item.get("cohort", 0)
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < cohorts:
            raise library_error(index, f"item {i} ({name}): cohort {c!r} not in 0..{cohorts - 1}")
        cohort[i] = c
        files.append(name)
        file = folder / name
        if kind == "nuclei":
            arr = _read_png(file, "RGBA", budget, limits)
            alpha = arr[..., 3] >= 128
            if not alpha.any():
                raise library_error(file, "alpha is empty (no nucleus pixel)")
            rgb = arr[..., :3].astype(np.float32) / np.float32(255.0)
            rgb[~alpha] = 0.0
            rgb.setflags(write=False)
            alpha.setflags(write=False)
            rgbs.append(rgb)
            alphas.append(alpha)
        else:
            arr = _read_png(file, "RGB", budget, limits)
            h, w = arr.shape[:2]
            if patch_size is None:
                patch_size = h
            if (h, w) != (patch_size, patch_size):
                raise library_error(
                    file, f"size {h}x{w}, expected {patch_size}x{patch_size} (patch_size)"
                )
            rgbs.append(arr.astype(np.float32) / np.float32(255.0))
    cohort.setflags(write=False)
    return PatchFolder(
        path=folder,
        kind=kind,
        cohorts=cohorts,
        patch_size=patch_size,
        files=tuple(files),
        cohort=cohort,
        rgb=tuple(rgbs),
        alpha=tuple(alphas),
        index=data,
        sha256=sha,
    )


# --------------------------------------------------------------------------- writer


def is_patch_library(folder: Path) -> bool:
    """Whether ``folder`` is a folder whose ``index.json`` says it is a patch library."""
    index_path = folder / INDEX_NAME
    if not (folder.is_dir() and index_path.exists()):
        return False
    try:
        return bool(json.loads(index_path.read_text(encoding="utf-8")).get("format") == FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


def write_patch_folder(
    out_dir: Path, name: str, index: PatchIndex, images: Sequence[np.ndarray]
) -> Path:
    """Write a patch library folder ``out_dir / name``, replacing an older library.

    The PNGs (``images[i]`` to ``index.items[i].file``) and ``index.json``
    are written into a temporary folder next to the target, which then
    replaces it, so that a reader never sees a half-written library.

    Parameters
    ----------
    out_dir : pathlib.Path
        Existing folder that receives the library.
    name : str
        Name of the library folder.
    index : PatchIndex
        The index; its items name the files.
    images : sequence of numpy.ndarray
        Pixels of each item: uint8 RGBA (nuclei) or RGB (texture).

    Returns
    -------
    pathlib.Path
        The library folder.

    Raises
    ------
    DataError
        If the target exists and is not a patch library.
    """
    target = out_dir / name
    if target.exists() and not is_patch_library(target):
        raise DataError(
            f"{target}: exists and is not a synthlang patch library; refusing to overwrite it "
            "(move it away or choose another output folder)"
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir))
    try:
        for item, pixels in zip(index.items, images, strict=True):
            write_png(tmp / item.file, pixels, atomic=False)
        atomic_write_text(tmp / INDEX_NAME, index_text(index))
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=out_dir))
            os.replace(target, old / name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
