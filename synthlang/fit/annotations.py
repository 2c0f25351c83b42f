"""Annotation files of ``synthlang fit``: class maps, instance tables, GeoJSON, NuCLS npz.

Every reader checks its input and raises :class:`~synthlang.common.errors.DataError`
(or :class:`~synthlang.common.errors.ResourceLimitError`) naming the file; no
pickles are loaded. Class codes become names with :func:`resolve_names`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from skimage.draw import polygon as draw_polygon

from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.common.imageio import DEFAULT_MAX_PIXELS
from synthlang.fit.options import UNLABELLED

__all__ = [
    "NUCLS_CLASS_NAMES",
    "sha256_file",
    "sanitize_name",
    "read_class_map",
    "read_instance_table",
    "rasterize_geojson",
    "majority_class",
    "resolve_names",
    "check_same_size",
    "read_npz",
]

NUCLS_CLASS_NAMES: dict[int, str] = {0: "tumor", 1: "stroma", 2: "lymphocyte", 3: "other"}
"""Default names of NuCLS ``inst_class4`` codes (``2`` = sTIL: lymphocytes and plasma cells)."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 digest of a file (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sanitize_name(name: str) -> str:
    """Turn a class name into a scene name: lower case, ``_`` for other characters.

    Examples
    --------
    >>> sanitize_name("Nuclei Tumor"), sanitize_name("2+"), sanitize_name("--")
    ('nuclei_tumor', 'class_2', 'unnamed')
    """
    s = re.sub(r"[^0-9a-zA-Z_]+", "_", name.strip()).strip("_").lower()
    s = re.sub(r"_+", "_", s)
    if not s:
        return "unnamed"
    if s[0].isdigit():
        s = "class_" + s
    return s


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size > 512 * 1024 * 1024:
        raise ResourceLimitError(f"{path}: JSON file larger than 512 MiB")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def read_class_map(path: Path) -> dict[str, str]:
    """Code -> name from a class map JSON (flat, ``classes`` or PUMA ``class_png_values``)."""
    data = _read_json(path)
    if isinstance(data, dict):
        for key in ("class_png_values", "classes"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict):
        raise DataError(
            f'{path}: a class map must be a JSON object {{"1": "tumor", ...}} '
            "(or have one under 'class_png_values' or 'classes')"
        )
    out: dict[str, str] = {}
    for code, name in data.items():
        if isinstance(name, str) and re.fullmatch(r"-?\d+", str(code).strip()):
            out[str(int(code))] = name
    if not out:
        raise DataError(f"{path}: no integer code -> class name entries found")
    return out


def read_instance_table(path: Path) -> dict[int, str]:
    """Instance id -> class (code or name) from a CSV ``id,class`` or JSON table."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    out: dict[int, str] = {}
    if path.suffix.lower() == ".json":
        data = _read_json(path)
        if isinstance(data, dict) and isinstance(data.get("instances"), dict):
            data = data["instances"]
        if not isinstance(data, dict):
            raise DataError(f'{path}: expected a JSON object {{"<instance id>": <class>}}')
        items = list(data.items())
    else:
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                fields = [f.strip().lower() for f in (reader.fieldnames or [])]
                if "id" not in fields or "class" not in fields:
                    raise DataError(
                        f"{path}: a per-instance class table needs the columns id,class "
                        f"(found {', '.join(fields) or 'none'})"
                    )
                items = []
                for row in reader:
                    low = {k.strip().lower(): v for k, v in row.items() if k}
                    items.append((low.get("id", ""), low.get("class", "")))
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not a UTF-8 CSV file ({exc})") from None
    for key, value in items:
        try:
            ident = int(str(key).strip())
        except ValueError:
            raise DataError(f"{path}: instance id {key!r} is not an integer") from None
        out[ident] = str(value).strip()
    return out


def _geojson_features(data: Any, path: Path) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if data.get("type") == "FeatureCollection" and isinstance(data.get("features"), list):
            return list(data["features"])
        if data.get("type") == "Feature":
            return [data]
    raise DataError(f"{path}: expected a GeoJSON FeatureCollection or a list of features")


def _feature_class(feature: Mapping[str, Any]) -> str | None:
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return None
    cls = props.get("classification")
    if isinstance(cls, dict) and isinstance(cls.get("name"), str):
        return cls["name"]
    if isinstance(cls, str):
        return cls
    for key in ("class", "class_name", "label", "name"):
        if isinstance(props.get(key), str):
            return str(props[key])
    return None


def rasterize_geojson(
    path: Path, shape: tuple[int, int], notes: list[str] | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    """Rasterise GeoJSON polygons into instance labels.

    Feature ``i`` (0-based, in file order) becomes instance ``i + 1``;
    coordinates are ``(x, y) = (col, row)`` in image pixels; holes are cut
    out; a later feature overwrites an earlier one where they overlap.

    Parameters
    ----------
    path : Path
        GeoJSON file (FeatureCollection, Polygon / MultiPolygon geometries).
    shape : tuple of int
        ``(rows, cols)`` of the image.
    notes : list of str, optional
        Receives a line about skipped non-polygon features.

    Returns
    -------
    labels : numpy.ndarray
        ``(rows, cols)`` int32.
    classes : dict
        Instance id -> class name from ``properties.classification.name``
        (or ``class`` / ``label``); missing when the feature has none.

    Raises
    ------
    DataError
        Unreadable JSON, malformed coordinates.
    """
    features = _geojson_features(_read_json(path), path)
    labels = np.zeros(shape, dtype=np.int32)
    classes: dict[int, str] = {}
    skipped = 0
    for i, feat in enumerate(features):
        ident = i + 1
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        if not isinstance(geom, dict):
            skipped += 1
            continue
        gtype = geom.get("type")
        coords = geom.get("coordinates")
        polys: Any
        if gtype == "Polygon":
            polys = [coords]
        elif gtype == "MultiPolygon":
            polys = coords
        else:
            skipped += 1
            continue
        try:
            for poly in polys:
                for k, ring in enumerate(poly):
                    xy = np.asarray(ring, dtype=np.float64)
                    if xy.ndim != 2 or xy.shape[1] < 2 or xy.shape[0] < 3:
                        raise ValueError("a ring needs at least 3 (x, y) points")
                    rr, cc = draw_polygon(xy[:, 1], xy[:, 0], shape=shape)
                    if k == 0:
                        labels[rr, cc] = ident
                    else:  # hole
                        hole = labels[rr, cc] == ident
                        labels[rr[hole], cc[hole]] = 0
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: feature {i} has malformed coordinates ({exc})") from None
        name = _feature_class(feat)
        if name is not None:
            classes[ident] = name
    if skipped and notes is not None:
        notes.append(f"{path}: {skipped} feature(s) without polygon geometry skipped")
    return labels, classes


def majority_class(instances: np.ndarray, class_img: np.ndarray) -> dict[int, int]:
    """Most frequent non-zero class value per instance."""
    m = (instances > 0) & (class_img > 0)
    if not m.any():
        return {}
    inst = instances[m].astype(np.int64)
    cls = class_img[m].astype(np.int64)
    pairs, counts = np.unique(np.stack([inst, cls]), axis=1, return_counts=True)
    best: dict[int, tuple[int, int]] = {}
    for (i, c), n in zip(pairs.T.tolist(), counts.tolist(), strict=True):
        if i not in best or n > best[i][1]:
            best[i] = (c, n)
    return {i: c for i, (c, _) in best.items()}


def resolve_names(
    raw: Mapping[int, str | int],
    code_names: Mapping[str, str],
    renames: Mapping[str, str],
) -> dict[int, str]:
    """Instance -> final class name: codes via ``code_names``, then ``renames``, then sanitised.

    A class renamed to ``-`` is dropped (its instances count as unlabelled).
    """
    out: dict[int, str] = {}
    for ident, value in raw.items():
        text = str(value).strip()
        name = code_names.get(text, text)
        name = renames.get(text, renames.get(name, name))
        if name == "-":
            out[ident] = UNLABELLED
            continue
        out[ident] = sanitize_name(name) if not re.fullmatch(r"-?\d+", name) else f"class_{name}"
    return out


def check_same_size(
    label_shape: tuple[int, ...], image_shape: tuple[int, int], label: Path, image: Path
) -> None:
    """Raise :class:`DataError` unless an annotation has its image's size."""
    if tuple(label_shape) != tuple(image_shape):
        raise DataError(
            f"{label}: annotation is {label_shape[0]} x {label_shape[1]} px but image {image} is "
            f"{image_shape[0]} x {image_shape[1]} px; an annotation must have its image's size "
            "(before --crop and --scale)"
        )


_NPZ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    IndexError,
    NotImplementedError,  # unsupported zip version or compression
    RuntimeError,  # encrypted member
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    SyntaxError,  # numpy parses the .npy header with ast/tokenize
    tokenize.TokenError,
)
"""What ``zipfile`` and ``numpy.load`` raise for a damaged npz file."""


def _npz_member_header(zf: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of array ``key`` of an open npz, from its header (nothing decoded)."""
    with zf.open(f"{key}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    return tuple(int(x) for x in shape), np.dtype(dtype)


def read_npz(
    path: Path, shape: tuple[int, int], image_path: Path, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, dict[int, str | int]]:
    """Instance map and class code per instance from a NuCLS-style ``.npz``.

    The array shapes are read from the ``.npy`` headers and checked against
    ``max_pixels`` before anything is decompressed; pickles are refused.

    Parameters
    ----------
    path : Path
        The npz file (``inst_map``, optionally ``inst_class4`` or ``inst_class``).
    shape : tuple of int
        ``(rows, cols)`` of the image.
    image_path : Path
        The image (for messages).
    max_pixels : int, optional
        Largest array read.

    Returns
    -------
    instances : numpy.ndarray
        ``(rows, cols)`` int32 instance ids.
    classes : dict
        Instance id -> class code (instances with a negative code left out).

    Raises
    ------
    DataError
        Unreadable file, missing or malformed arrays, size mismatch.
    ResourceLimitError
        Arrays larger than ``max_pixels``.
    """
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    try:
        with zipfile.ZipFile(path) as zf:
            keys = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
            if "inst_map" not in keys:
                raise DataError(
                    f"{path}: no 'inst_map' array (found: {', '.join(keys) or 'none'}); "
                    "a NuCLS-style npz needs inst_map (instance ids) and optionally inst_class4"
                )
            cls_key = next((k for k in ("inst_class4", "inst_class") if k in keys), None)
            # check sizes from the headers before anything is decompressed
            for key in ("inst_map", cls_key):
                if key is None:
                    continue
                dims, _ = _npz_member_header(zf, key)
                if math.prod(dims) > max_pixels:
                    raise ResourceLimitError(
                        f"{path}: {key} has shape {dims}, more than {max_pixels:,} values "
                        "(max_pixels); crop or tile it first"
                    )
        with np.load(path, allow_pickle=False) as data:
            inst = np.asarray(data["inst_map"])
            cls = np.asarray(data[cls_key]) if cls_key else None
    except (DataError, ResourceLimitError):
        raise
    except _NPZ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    if inst.ndim != 2 or inst.dtype.kind not in "iu":
        raise DataError(
            f"{path}: inst_map must be a 2-D integer array, got {inst.dtype} {inst.shape}"
        )
    if inst.size and inst.min() < 0:
        raise DataError(f"{path}: inst_map has negative ids")
    if inst.size and int(inst.max()) > np.iinfo(np.int32).max:
        raise DataError(f"{path}: inst_map has ids beyond the int32 range")
    check_same_size(inst.shape, shape, path, image_path)
    inst = inst.astype(np.int32)
    raw: dict[int, str | int] = {}
    if cls is not None:
        top = int(inst.max(initial=0))
        if cls.ndim != 1 or cls.size <= top:
            raise DataError(
                f"{path}: {cls_key} must be a 1-D array indexed by instance id "
                f"(length > {top}), got shape {cls.shape}"
            )
        if cls.dtype.kind not in "iuf" or (
            cls.dtype.kind == "f" and not np.all(np.isfinite(cls) & (cls == np.round(cls)))
        ):
            raise DataError(f"{path}: {cls_key} must hold integer class codes, got {cls.dtype}")
        for i in np.unique(inst):
            if i > 0 and int(cls[i]) >= 0:
                raw[int(i)] = int(cls[i])
    return inst, raw
