"""``synthlang fit``: colour, shape and patch libraries from real annotated images.

The pipeline (one direction, each step a function):

1. **load** (:func:`load_input`): read an image and its annotation -- an
   instance label PNG (+ class PNG, per-instance class table or a single
   class), a NuCLS-style ``.npz`` (``inst_map`` + ``inst_class4``), GeoJSON
   polygons (PUMA / QuPath style) or nothing (``auto``: nuclei detected by
   colour deconvolution, see :func:`detect_nuclei`); crop, rescale and
   optionally Reinhard-normalise it.
2. **measure** (:func:`fit_inputs`): per class the ``mvn(mean, cov,
   between)`` colour model of its objects, ellipse semi-axes, counts and
   densities; the background colour from unannotated pixels; nucleus
   cut-outs and texture patches grouped into colour cohorts.
3. **write** (:func:`write_library`): a ``.scene`` library of ``let``
   statements and the patch folders next to it (``docs/patches.md``).

:func:`fit_files` runs all three; ``synthlang fit`` is a thin wrapper. See
``docs/fit.md`` for the user guide.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import shutil
import struct
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import ndimage as ndi
from scipy.cluster.vq import ClusterError, kmeans2
from skimage.draw import polygon as draw_polygon
from skimage.feature import peak_local_max
from skimage.filters import threshold_multiotsu
from skimage.segmentation import expand_labels, watershed
from skimage.transform import resize

from synthlang import __version__
from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.common.imageio import (
    DEFAULT_MAX_PIXELS,
    atomic_write_text,
    read_image,
    read_label_image,
    write_png,
)
from synthlang.stats import (
    ColorModel,
    ObjectColorStats,
    ShapeStats,
    block_color_stats,
    class_color_model,
    hematoxylin,
    mean_reinhard_stats,
    object_color_stats,
    object_shapes,
    reinhard_normalize,
    reinhard_stats,
)

if TYPE_CHECKING:
    from synthlang.fitpoints import PointSet
    from synthlang.morphology import ClassAxes

__all__ = [
    "Crop",
    "FitOptions",
    "Annotation",
    "FitInput",
    "ClassFit",
    "FitResult",
    "AutoRule",
    "NUCLS_CLASS_NAMES",
    "PointAnnotation",
    "load_points",
    "IMMUNE_CLASS_WORDS",
    "parse_crop",
    "parse_class_names",
    "load_input",
    "rasterize_geojson",
    "assign_cohorts",
    "detect_nuclei",
    "fit_inputs",
    "write_library",
    "fit_files",
    "format_number",
]

ASSUMED_PIXEL_SIZE_UM = 0.5
"""Pixel size (µm/px) assumed at the working scale when none is given: 20x, as in the paper."""

NUCLS_CLASS_NAMES: dict[int, str] = {0: "tumor", 1: "stroma", 2: "lymphocyte", 3: "other"}
"""Default names of NuCLS ``inst_class4`` codes (``2`` = sTIL: lymphocytes and plasma cells)."""

IMMUNE_CLASS_WORDS = ("lymph", "immune", "til", "plasma", "neutrophil", "inflamm")
"""A class whose name contains one of these has its texture sampled inside the nuclei."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNLABELLED = "__unlabelled__"

TextureRegion = Literal["nucleus", "cytoplasm"]


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Crop:
    """A crop in input-image pixels: rows ``r0:r1``, cols ``c0:c1`` (end exclusive, None = edge)."""

    r0: int = 0
    r1: int | None = None
    c0: int = 0
    c1: int | None = None

    def resolve(self, rows: int, cols: int, what: str) -> tuple[slice, slice]:
        """Return the slices for an image of ``rows x cols``, checking the bounds.

        Raises
        ------
        DataError
            If the crop is empty or extends past the image.
        """
        r1 = rows if self.r1 is None else self.r1
        c1 = cols if self.c1 is None else self.c1
        if r1 > rows or c1 > cols:
            raise DataError(
                f"{what}: --crop {self} extends past the image ({rows} x {cols} px); "
                f"rows must be within 0:{rows} and cols within 0:{cols}"
            )
        if self.r0 >= r1 or self.c0 >= c1:
            raise DataError(f"{what}: --crop {self} is empty")
        return slice(self.r0, r1), slice(self.c0, c1)

    def __str__(self) -> str:
        def part(a: int, b: int | None) -> str:
            return f"{a}:{'' if b is None else b}"

        return f"{part(self.r0, self.r1)},{part(self.c0, self.c1)}"


def parse_crop(text: str) -> Crop:
    """Parse ``ROWS0:ROWS1,COLS0:COLS1`` (either bound may be empty; cols optional).

    Examples
    --------
    >>> parse_crop("0:512,:")
    Crop(r0=0, r1=512, c0=0, c1=None)

    Raises
    ------
    DataError
        For malformed text.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts.append(":")
    if len(parts) != 2:
        raise DataError(f"--crop {text!r}: expected ROWS0:ROWS1,COLS0:COLS1, e.g. 0:512,0:1024")
    bounds: list[int | None] = []
    for p in parts:
        if p.count(":") != 1:
            raise DataError(f"--crop {text!r}: each range is START:END, e.g. 0:512")
        for v in p.split(":"):
            v = v.strip()
            if v == "":
                bounds.append(None)
            elif v.isdigit():
                bounds.append(int(v))
            else:
                raise DataError(f"--crop {text!r}: bounds must be non-negative integers, got {v!r}")
    r0, r1, c0, c1 = bounds
    return Crop(r0 or 0, r1, c0 or 0, c1)


def parse_class_names(items: Sequence[str]) -> dict[str, str]:
    """Parse ``OLD=NEW`` pairs of ``--class-names`` (``NEW`` may be ``-`` to drop a class).

    Raises
    ------
    DataError
        For a pair without ``=`` or an empty side.

    Examples
    --------
    >>> parse_class_names(["1=tumor", "nuclei_lymphocyte=lymphocyte"])
    {'1': 'tumor', 'nuclei_lymphocyte': 'lymphocyte'}
    """
    out: dict[str, str] = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise DataError(
                f"--class-names {item!r}: expected OLD=NEW (a class code or name, "
                "then the name to use, or '-' to leave the class out)"
            )
        out[old.strip()] = new.strip()
    return out


@dataclass(frozen=True)
class FitOptions:
    """Options of :func:`fit_files` (the ``synthlang fit`` flags).

    Attributes
    ----------
    prefix : str
        Name prefix of every ``let`` (``he`` gives ``he_tumor``).
    scale : float
        Rescale factor applied after cropping (0.5 turns 40x into 20x).
    crop : Crop or None
        Crop in input pixels, applied before scaling.
    reference : str or None
        Reinhard normalisation target: an image path, ``"mean"`` (mean
        statistics of the inputs) or None (no normalisation).
    texture_size : int
        Side of the square texture patches.
    cohorts : int
        Number of colour cohorts per patch library.
    max_patches : int
        At most this many patches per cohort (Table 1: 55 and 60).
    min_objects : int
        Classes with fewer objects are left out of the library.
    erode : int
        Colour statistics use pixels at least this far inside each object.
    seed : int
        Seed of every random choice (patch subsets, k-means).
    pixel_size_um : float or None
        µm per pixel of the input images (before ``scale``); used for the
        ``auto`` thresholds and densities. None: 0.5 µm/px is assumed at
        the working scale.
    class_names : mapping
        ``--class-names`` renames (code or name -> new name or ``-``).
    only : tuple of str or None
        Write only these classes (after renaming); each must be present.
    texture_regions : mapping
        Per class ``"nucleus"`` or ``"cytoplasm"`` (default: by name, see
        :data:`IMMUNE_CLASS_WORDS`).
    cell_margin_um : float
        Cytoplasm textures are sampled up to this far (µm) from a nucleus.
    auto_rule : AutoRule or None
        Thresholds of ``--auto`` (default ``AutoRule()``).
    patches : bool
        Write patch libraries (nucleus cut-outs and textures).
    max_pixels : int
        Largest image read.
    licence : str or None
        Licence of the input images, copied into the patch indexes.
    morphology : str or None
        A per-nucleus morphology table (``--morphology``, see
        :mod:`synthlang.morphology`): the semi-axis ``let`` of each class come
        from its rows instead of the annotated objects.
    morphology_pixel_size_um : float
        µm per pixel of the morphology table (default 0.25, PUMA at 40x).
    morphology_exclude : tuple of str
        ``roi`` values of the table to leave out.
    point_radius_um : float
        ``--points``: a segmented nucleus takes the class of the nearest point
        within this distance (µm) of its centroid, or of a point inside it.
    command : str or None
        The command line, recorded in the library header.
    """

    prefix: str = "he"
    scale: float = 1.0
    crop: Crop | None = None
    reference: str | None = None
    texture_size: int = 8
    cohorts: int = 3
    max_patches: int = 60
    min_objects: int = 3
    erode: int = 1
    seed: int = 0
    pixel_size_um: float | None = None
    class_names: Mapping[str, str] = field(default_factory=dict)
    only: tuple[str, ...] | None = None
    texture_regions: Mapping[str, str] = field(default_factory=dict)
    cell_margin_um: float = 6.0
    auto_rule: AutoRule | None = None
    patches: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    licence: str | None = None
    morphology: str | None = None
    morphology_pixel_size_um: float = 0.25
    morphology_exclude: tuple[str, ...] = ()
    point_radius_um: float = 4.0
    command: str | None = None

    def validate(self) -> None:
        """Check ranges; raise :class:`DataError` naming the bad option."""
        if not _NAME_RE.match(self.prefix):
            raise DataError(
                f"--prefix {self.prefix!r}: must be a name (letters, digits, _; not starting "
                "with a digit)"
            )
        if not (0.01 <= self.scale <= 8):
            raise DataError(f"--scale {self.scale}: must be in [0.01, 8]")
        if not (3 <= self.texture_size <= 256):
            raise DataError(f"--texture-size {self.texture_size}: must be in 3..256")
        if not (1 <= self.cohorts <= 64):
            raise DataError(f"--cohorts {self.cohorts}: must be in 1..64")
        if self.max_patches < 1:
            raise DataError(f"--max-patches {self.max_patches}: must be >= 1")
        if self.min_objects < 1:
            raise DataError(f"--min-objects {self.min_objects}: must be >= 1")
        if not (0 <= self.erode <= 10):
            raise DataError(f"--erode {self.erode}: must be in 0..10")
        if self.pixel_size_um is not None and not (0.01 <= self.pixel_size_um <= 100):
            raise DataError(f"--pixel-size {self.pixel_size_um}: must be in [0.01, 100] µm")
        if not (0.01 <= self.morphology_pixel_size_um <= 100):
            raise DataError(
                f"--morphology-pixel-size {self.morphology_pixel_size_um}: "
                "must be in [0.01, 100] µm"
            )
        if not (0 < self.point_radius_um <= 100):
            raise DataError(f"--point-radius {self.point_radius_um}: must be in (0, 100] µm")
        for name, region in self.texture_regions.items():
            if region not in ("nucleus", "cytoplasm"):
                raise DataError(
                    f"--texture-region {name}={region}: allowed regions are nucleus, cytoplasm"
                )

    @property
    def working_pixel_size(self) -> float:
        """µm per pixel after scaling (assumed 0.5 when unknown)."""
        if self.pixel_size_um is None:
            return ASSUMED_PIXEL_SIZE_UM
        return self.pixel_size_um / self.scale


# --------------------------------------------------------------------------- annotations


@dataclass(frozen=True)
class Annotation:
    """How one image is annotated.

    Attributes
    ----------
    kind : {"labels", "npz", "geojson", "points", "auto"}
        Instance label image, NuCLS-style npz, GeoJSON polygons, point CSV
        (nuclei segmented and labelled by the points, see
        :mod:`synthlang.fitpoints`), or automatic detection.
    path : Path or None
        The annotation file (None for ``auto``).
    class_labels : Path or None
        A class label image (majority class per instance), for ``labels``.
    instance_classes : Path or None
        A per-instance class table (CSV ``id,class`` or JSON ``{id: class}``).
    """

    kind: Literal["labels", "npz", "geojson", "points", "auto"]
    path: Path | None = None
    class_labels: Path | None = None
    instance_classes: Path | None = None


@dataclass
class FitInput:
    """One image ready for measuring (cropped, scaled, normalised).

    Attributes
    ----------
    name : str
        The image file's name (for provenance).
    image : numpy.ndarray
        ``(rows, cols, 3)`` float32 RGB.
    instances : numpy.ndarray
        ``(rows, cols)`` int32 instance labels, 0 unannotated.
    classes : dict
        Instance id -> class name (after renaming). Instances that are
        annotated but have no class map to ``"__unlabelled__"``.
    record : dict
        Provenance: file names, sizes, sha256 digests.
    notes : list of str
        Conversions and choices worth telling the user.
    points : PointSet or None
        ``points`` annotations: the points in working pixels.
    """

    name: str
    image: np.ndarray
    instances: np.ndarray
    classes: dict[int, str]
    record: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    points: PointSet | None = None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sanitize(name: str) -> str:
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


def _read_class_map(path: Path) -> dict[str, str]:
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


def _read_instance_table(path: Path) -> dict[int, str]:
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


def _majority_class(instances: np.ndarray, class_img: np.ndarray) -> dict[int, int]:
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


def _resolve_names(
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
            out[ident] = _UNLABELLED
            continue
        out[ident] = _sanitize(name) if not re.fullmatch(r"-?\d+", name) else f"class_{name}"
    return out


def _resize_image(img: np.ndarray, scale: float) -> np.ndarray:
    rows, cols = img.shape[:2]
    shape = (max(1, round(rows * scale)), max(1, round(cols * scale)))
    out = resize(img, shape + (3,), order=1, anti_aliasing=scale < 1, preserve_range=True)
    return np.clip(out, 0, 1).astype(np.float32)


def _resize_labels(lab: np.ndarray, scale: float) -> np.ndarray:
    rows, cols = lab.shape
    shape = (max(1, round(rows * scale)), max(1, round(cols * scale)))
    out = resize(lab, shape, order=0, anti_aliasing=False, preserve_range=True)
    return np.rint(out).astype(np.int32)


def load_input(
    image_path: Path,
    annotation: Annotation,
    options: FitOptions,
    *,
    code_names: Mapping[str, str] | None = None,
) -> FitInput:
    """Read one image with its annotation, crop and rescale both.

    Colour normalisation is applied later by :func:`fit_inputs` (it may need
    the statistics of all inputs).

    Parameters
    ----------
    image_path : Path
        The image.
    annotation : Annotation
        Its annotation.
    options : FitOptions
        Crop, scale, class renames, limits.
    code_names : mapping, optional
        Class code -> name (``--classes``); NuCLS names are the default for npz.

    Returns
    -------
    FitInput

    Raises
    ------
    DataError
        Unreadable files, size mismatch between image and annotation.
    ResourceLimitError
        Images too large.
    """
    notes: list[str] = []
    image = read_image(image_path, max_pixels=options.max_pixels, notes=notes)
    rows, cols = image.shape[:2]
    record: dict[str, Any] = {
        "image": image_path.name,
        "size": [rows, cols],
        "sha256": _sha256(image_path),
        "annotation": annotation.kind,
    }
    raw: dict[int, str | int] = {}
    names = dict(code_names or {})
    instances: np.ndarray
    if annotation.kind == "auto":
        instances = np.zeros((rows, cols), np.int32)  # detected after crop/scale
    elif annotation.kind == "labels":
        assert annotation.path is not None
        instances = read_label_image(annotation.path, max_pixels=options.max_pixels, notes=notes)
        _check_same_size(instances.shape, (rows, cols), annotation.path, image_path)
        record["labels"] = annotation.path.name
        if annotation.class_labels is not None:
            cls = read_label_image(
                annotation.class_labels, max_pixels=options.max_pixels, notes=notes
            )
            _check_same_size(cls.shape, (rows, cols), annotation.class_labels, image_path)
            raw = dict(_majority_class(instances, cls))
            record["class_labels"] = annotation.class_labels.name
        if annotation.instance_classes is not None:
            raw.update(_read_instance_table(annotation.instance_classes))
            record["instance_classes"] = annotation.instance_classes.name
    elif annotation.kind == "npz":
        assert annotation.path is not None
        instances, raw = _read_npz(annotation.path, (rows, cols), image_path, options.max_pixels)
        for code, name in NUCLS_CLASS_NAMES.items():
            names.setdefault(str(code), name)
        record["npz"] = annotation.path.name
    elif annotation.kind == "geojson":
        assert annotation.path is not None
        instances, cls_names = rasterize_geojson(annotation.path, (rows, cols), notes)
        raw = dict(cls_names)
        record["geojson"] = annotation.path.name
    elif annotation.kind == "points":
        from synthlang.fitpoints import read_points

        assert annotation.path is not None
        points = read_points(annotation.path, (rows, cols))
        instances = np.zeros((rows, cols), np.int32)  # segmented after crop/scale
        record["points"] = annotation.path.name
    else:  # pragma: no cover - guarded by Annotation's type
        raise DataError(f"unknown annotation kind {annotation.kind!r}")

    origin = (0, 0)
    if options.crop is not None:
        rs, cs = options.crop.resolve(rows, cols, str(image_path))
        image, instances = image[rs, cs], instances[rs, cs]
        record["crop"] = str(options.crop)
        origin = (rs.start, cs.start)
    crop_shape = image.shape[:2]
    if options.scale != 1:
        image = _resize_image(image, options.scale)
        instances = _resize_labels(instances, options.scale)
        record["scale"] = options.scale
    working_points: PointSet | None = None
    if annotation.kind == "points":
        from synthlang.fitpoints import transform_points

        working_points = transform_points(points, origin, crop_shape, image.shape[:2])
        instances, raw = _segment_and_label(image, working_points, options, record)

    # compact ids 1..n (label images may use sparse or colour-packed ids)
    ids, compact = np.unique(instances, return_inverse=True)
    compact = np.asarray(compact.reshape(instances.shape), dtype=np.int32)
    if ids.size and ids[0] != 0:
        compact += 1
    new_id = {int(old): k + (0 if ids[0] == 0 else 1) for k, old in enumerate(ids.tolist())}
    present = set(new_id) - {0}
    raw = {new_id[i]: v for i, v in raw.items() if i in present}
    instances = compact
    present_new = {new_id[i] for i in present}
    classes = _resolve_names(raw, names, options.class_names)
    if annotation.kind in ("labels", "geojson") and not raw:
        # no class information at all: one class
        classes = {i: "nucleus" for i in present_new}
    else:
        for i in present_new - set(classes):
            classes[i] = _UNLABELLED
    return FitInput(image_path.name, image, instances, classes, record, notes, working_points)


@dataclass
class PointAnnotation:
    """What :func:`load_points` returns.

    Attributes
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` float32 RGB after ``--crop`` and ``--scale``.
    instances : numpy.ndarray
        ``(rows, cols)`` int32 instance map, 1..n.
    classes : dict
        Instance id -> class name (after ``--class-names``); instances
        without a point are ``None`` (only present with ``keep_unlabelled``).
    points : synthlang.fitpoints.PointSet
        The points in the same pixels as ``image``.
    """

    image: np.ndarray
    instances: np.ndarray
    classes: dict[int, str | None]
    points: PointSet


def load_points(
    image_path: str | Path,
    points_path: str | Path,
    options: object | None = None,
    *,
    keep_unlabelled: bool = False,
) -> PointAnnotation:
    """Segment an image's nuclei and label them by a point file (an annotation reader).

    Parameters
    ----------
    image_path : str or Path
        The image.
    points_path : str or Path
        Its point CSV (``x,y,class``).
    options : synthlang.fit.FitOptions, optional
        Crop, scale, pixel size, ``point_radius_um``, class renames and
        ``auto_rule`` (default ``FitOptions()``: 0.5 µm/px, radius 4 µm).
    keep_unlabelled : bool, optional
        Keep segmented nuclei without a point in ``instances`` (class None);
        by default they are removed and the rest renumbered 1..n.

    Returns
    -------
    PointAnnotation
    """
    opts = options if isinstance(options, FitOptions) else FitOptions()
    opts.validate()
    inp = load_input(Path(image_path), Annotation("points", Path(points_path)), opts)
    assert inp.points is not None
    classes: dict[int, str | None] = {
        i: (None if c == _UNLABELLED else c) for i, c in inp.classes.items()
    }
    instances = inp.instances
    if not keep_unlabelled:
        labelled = sorted(i for i, c in classes.items() if c is not None)
        lut = np.zeros(int(instances.max(initial=0)) + 1, np.int32)
        lut[labelled] = np.arange(1, len(labelled) + 1, dtype=np.int32)
        instances = lut[instances]
        classes = {int(lut[i]): classes[i] for i in labelled}
    return PointAnnotation(inp.image, instances, classes, inp.points)


def _segment_and_label(
    image: np.ndarray, points: PointSet, options: FitOptions, record: dict[str, Any]
) -> tuple[np.ndarray, dict[int, str | int]]:
    """Segment nuclei (the ``--auto`` detector) and give each the class of its point."""
    from synthlang.fitpoints import match_points

    px = options.working_pixel_size
    labels, _ = detect_nuclei(image, pixel_size_um=px, rule=options.auto_rule)
    matched = match_points(labels, points.xy, options.point_radius_um / px)
    record["points_total"] = len(points)
    record["nuclei_segmented"] = int(labels.max(initial=0))
    record["nuclei_labelled"] = len(matched)
    return labels, {ident: points.classes[p] for ident, p in matched.items()}


def _check_same_size(
    label_shape: tuple[int, ...], image_shape: tuple[int, int], label: Path, image: Path
) -> None:
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


def _read_npz(
    path: Path, shape: tuple[int, int], image_path: Path, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, dict[int, str | int]]:
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
    _check_same_size(inst.shape, shape, path, image_path)
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


# --------------------------------------------------------------------------- auto detection


@dataclass(frozen=True)
class AutoRule:
    """Thresholds of the ``--auto`` nucleus detector and classifier, in µm.

    Lengths are converted to pixels with the working pixel size. Every
    detected nucleus gets one class, checked in this order:

    1. ``stroma`` -- spindle-shaped: minor / major semi-axis < ``elongated_ratio``;
    2. ``lymphocyte`` -- small, round and dark: equivalent radius <=
       ``lymphocyte_max_radius_um``, minor / major >= ``round_ratio`` and at
       least ``dark_fraction`` of its pixels above the upper of the two
       multi-Otsu haematoxylin thresholds;
    3. ``tumor`` -- equivalent radius >= ``tumor_min_radius_um``;
    4. ``other`` -- everything else (small and pale: fragments, tangential cuts).

    Nuclei with an equivalent radius below ``min_radius_um`` are discarded.
    The defaults were chosen on the PUMA FIT half (rows 0-511 of
    ``training_set_metastatic_roi_094`` at 20x): of the detected nuclei that
    match an annotated one (IoU >= 0.3), 84 of 97 tumour and 93 of 113
    lymphocyte nuclei get their annotated class (``docs/fit.md``).
    """

    min_radius_um: float = 1.2
    lymphocyte_max_radius_um: float = 4.0
    tumor_min_radius_um: float = 2.7
    dark_fraction: float = 0.5
    round_ratio: float = 0.5
    elongated_ratio: float = 0.45
    smooth_um: float = 0.5
    near_dark_um: float = 1.0
    split_distance_um: float = 1.5


def detect_nuclei(
    image: np.ndarray, *, pixel_size_um: float = ASSUMED_PIXEL_SIZE_UM, rule: AutoRule | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    """Find and classify nuclei in an H&E image without annotations.

    1. Haematoxylin channel of a colour deconvolution (:func:`hematoxylin`),
       smoothed by a Gaussian of ``rule.smooth_um``.
    2. Two thresholds by three-class Otsu (``threshold_multiotsu``): pixels
       above the lower one are nucleus; within ``rule.near_dark_um`` of the
       dark class (above the upper one: lymphocytes, hyperchromatic nuclei)
       only dark pixels count, which separates packed dark nuclei.
    3. Opening with a 3 x 3 square, holes filled, debris removed.
    4. Touching nuclei split by a watershed of the sum of the normalised
       distance transform and the smoothed haematoxylin, from its local
       maxima at least ``rule.split_distance_um`` apart.
    5. Classes by :class:`AutoRule`.

    Parameters
    ----------
    image : numpy.ndarray
        ``(rows, cols, 3)`` RGB in ``[0, 1]``.
    pixel_size_um : float, optional
        µm per pixel of ``image``.
    rule : AutoRule, optional
        Thresholds (default ``AutoRule()``).

    Returns
    -------
    labels : numpy.ndarray
        ``(rows, cols)`` int32 nucleus labels, 1..n.
    classes : dict
        Label -> ``"tumor"``, ``"lymphocyte"``, ``"stroma"`` or ``"other"``.
    """
    rule = rule or AutoRule()
    px = float(pixel_size_um)
    h = hematoxylin(image)
    hs = ndi.gaussian_filter(h, max(rule.smooth_um / px, 0.3))
    empty: tuple[np.ndarray, dict[int, str]] = (np.zeros(h.shape, np.int32), {})
    if float(hs.max() - hs.min()) < 1e-6 or np.unique(hs).size < 3:
        return empty
    try:
        low, high = threshold_multiotsu(hs, classes=3)
    except ValueError:  # too few distinct values for three classes
        return empty
    square = np.ones((3, 3), bool)
    dark = ndi.binary_opening(hs > high, structure=square)
    near = ndi.binary_dilation(dark, structure=_disk(max(1, round(rule.near_dark_um / px))))
    fg = (hs > low) & ~(near & ~dark)
    fg = ndi.binary_opening(fg, structure=square)
    fg = ndi.binary_fill_holes(fg)
    min_area = math.pi * (rule.min_radius_um / px) ** 2
    comp, _ = ndi.label(fg)
    sizes = np.bincount(comp.ravel())
    fg = fg & (sizes[comp] >= min_area) & (comp > 0)
    if not fg.any():
        return empty
    dist = ndi.distance_transform_edt(fg)
    hm = ndi.gaussian_filter(h, 1.5)
    h_lo = float(hm[fg].min())
    score = dist / max(float(dist.max()), 1.0) + (hm - h_lo) / max(float(hm.max()) - h_lo, 1e-9)
    score = ndi.gaussian_filter(score, 0.7)
    comp, _ = ndi.label(fg)
    md = max(1, round(rule.split_distance_um / px))
    peaks = peak_local_max(score, min_distance=md, labels=comp, exclude_border=False)
    markers = np.zeros(fg.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # components without a peak (flat plateaus) get one marker at their maximum
    missing = np.setdiff1d(np.unique(comp[fg]), np.unique(comp[markers > 0]))
    if missing.size:
        pos = ndi.maximum_position(score, comp, missing)
        for k, (r, c) in enumerate(pos):
            markers[int(r), int(c)] = len(peaks) + 1 + k
    labels = watershed(-score, markers, mask=fg).astype(np.int32)
    sizes = np.bincount(labels.ravel())
    labels[sizes[labels] < min_area] = 0
    labels = _relabel(labels)
    shapes = object_shapes(labels)
    if shapes.ids.size == 0:
        return labels, {}
    dark_frac = ndi.mean((hs > high).astype(np.float64), labels, shapes.ids)
    req = shapes.equivalent_radius * px
    ratio = shapes.semi_minor / np.maximum(shapes.semi_major, 1e-9)
    classes: dict[int, str] = {}
    for k, ident in enumerate(shapes.ids.tolist()):
        if ratio[k] < rule.elongated_ratio:
            cls = "stroma"
        elif (
            req[k] <= rule.lymphocyte_max_radius_um
            and ratio[k] >= rule.round_ratio
            and dark_frac[k] >= rule.dark_fraction
        ):
            cls = "lymphocyte"
        elif req[k] >= rule.tumor_min_radius_um:
            cls = "tumor"
        else:
            cls = "other"
        classes[int(ident)] = cls
    return labels, classes


def _disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius**2


def _relabel(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    ids = ids[ids > 0]
    lut = np.zeros(int(labels.max(initial=0)) + 1, np.int32)
    lut[ids] = np.arange(1, ids.size + 1)
    return lut[labels]


# --------------------------------------------------------------------------- patches


@dataclass
class Patch:
    """One patch of a library: pixels and index metadata."""

    pixels: np.ndarray  # uint8 RGBA (nuclei) or RGB (texture)
    mean: np.ndarray  # (3,) mean RGB of the opaque pixels
    cls: str
    source: str
    area: int | None = None
    position: tuple[int, int] | None = None
    cohort: int = 0


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def nucleus_patches(
    inp: FitInput, ids: Sequence[int], *, margin: int = 2, min_area: int = 12
) -> list[Patch]:
    """RGBA cut-outs of the objects ``ids``: bounding box plus ``margin`` px.

    Objects whose box (with margin) leaves the image or that have fewer than
    ``min_area`` pixels are skipped. Alpha is 255 on the object, 0 elsewhere.
    """
    lab = inp.instances
    rows, cols = lab.shape
    objs = ndi.find_objects(lab)
    out: list[Patch] = []
    for ident in sorted(ids):
        if ident - 1 >= len(objs) or objs[ident - 1] is None:
            continue
        rs, cs = objs[ident - 1]
        r0, r1 = rs.start - margin, rs.stop + margin
        c0, c1 = cs.start - margin, cs.stop + margin
        if r0 < 0 or c0 < 0 or r1 > rows or c1 > cols:
            continue
        mask = lab[r0:r1, c0:c1] == ident
        area = int(mask.sum())
        if area < min_area:
            continue
        rgb = inp.image[r0:r1, c0:c1]
        rgba = np.concatenate([_to_u8(rgb), (mask * 255).astype(np.uint8)[..., None]], axis=2)
        mean = rgb[mask].astype(np.float64).mean(axis=0)
        out.append(Patch(rgba, mean, inp.classes[ident], inp.name, area=area, position=(r0, c0)))
    return out


def texture_region(
    inp: FitInput, cls: str, region: TextureRegion, *, rim: int, margin: int
) -> np.ndarray:
    """Boolean mask of the pixels texture patches of ``cls`` may cover.

    ``nucleus``: the class's nuclei grown by ``rim`` px (not into other
    objects) -- for immune cells, whose bodies are mostly nucleus.
    ``cytoplasm``: pixels within ``margin`` px of a nucleus of the class
    whose nearest nucleus is of the class, minus all nuclei grown by 1 px --
    the cell bodies around the nuclei when only nuclei are annotated.
    """
    lab = inp.instances
    ids = np.array([i for i, c in inp.classes.items() if c == cls], dtype=np.int64)
    lut = np.zeros(int(lab.max(initial=0)) + 1, dtype=bool)
    lut[ids] = True
    if region == "nucleus":
        grown = expand_labels(lab, rim) if rim > 0 else lab
        return lut[grown]
    grown = expand_labels(lab, margin)
    nuclei = ndi.binary_dilation(lab > 0, structure=_disk(1))
    return lut[grown] & ~nuclei


def texture_patches(
    inp: FitInput,
    cls: str,
    region_mask: np.ndarray,
    *,
    size: int,
    limit: int,
    rng: np.random.Generator,
) -> list[Patch]:
    """Square ``size x size`` RGB patches fully inside ``region_mask``.

    Candidate top-left corners lie on a grid of step ``max(1, size // 4)``
    (so that small objects still yield a patch); at most ``limit`` are drawn
    at random with ``rng``.
    """
    rows, cols = region_mask.shape
    if rows < size or cols < size:
        return []
    # a corner (r, c) is valid when the window [r, r+size) x [c, c+size) is inside the region
    inside = ndi.minimum_filter(
        region_mask.astype(np.uint8), size=size, mode="constant", cval=0, origin=-(size // 2)
    ).astype(bool)
    inside[rows - size + 1 :, :] = False
    inside[:, cols - size + 1 :] = False
    step = max(1, size // 4)
    grid = np.zeros_like(inside)
    grid[::step, ::step] = True
    rr, cc = np.nonzero(inside & grid)
    if rr.size == 0:
        return []
    if rr.size > limit:
        pick = np.sort(rng.choice(rr.size, size=limit, replace=False))
        rr, cc = rr[pick], cc[pick]
    out = []
    for r, c in zip(rr.tolist(), cc.tolist(), strict=True):
        rgb = inp.image[r : r + size, c : c + size]
        out.append(
            Patch(
                _to_u8(rgb),
                rgb.reshape(-1, 3).astype(np.float64).mean(axis=0),
                cls,
                inp.name,
                position=(r, c),
            )
        )
    return out


def assign_cohorts(means: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, int]:
    """Group colours into ``k`` cohorts numbered by increasing brightness.

    k-means (:func:`scipy.cluster.vq.kmeans2`, ``minit="++"``, seeded) on the
    mean RGB; if a cluster comes out empty the seed is advanced (up to 10
    tries), then brightness quantiles are used instead.

    Parameters
    ----------
    means : numpy.ndarray
        ``(n, 3)`` mean colours.
    k : int
        Wanted number of cohorts (reduced to ``n`` when there are fewer
        colours, and to the number of distinct colours).
    seed : int
        Seed of the k-means initialisation.

    Returns
    -------
    cohorts : numpy.ndarray
        ``(n,)`` int cohort per colour, ``0`` darkest.
    k : int
        Number of cohorts used.
    """
    n = means.shape[0]
    distinct = np.unique(np.round(means, 6), axis=0).shape[0] if n else 0
    k = max(1, min(k, n, distinct))
    if n == 0:
        return np.zeros(0, np.int64), k
    if k == 1:
        return np.zeros(n, np.int64), 1
    data = means.astype(np.float64)
    labels = None
    for attempt in range(10):
        try:
            _, lab = kmeans2(
                data, k, minit="++", missing="raise", rng=np.random.default_rng(seed + attempt)
            )
        except ClusterError:
            continue
        if np.unique(lab).size == k:
            labels = lab
            break
    brightness = data.mean(axis=1)
    if labels is None:
        ranks = np.argsort(np.argsort(brightness, kind="stable"), kind="stable")
        labels = (ranks * k) // n
    centre = np.array([brightness[labels == j].mean() for j in range(k)])
    order = np.argsort(centre, kind="stable")
    remap = np.empty(k, np.int64)
    remap[order] = np.arange(k)
    return remap[labels], k


OUTLIER_Z = 4.0
"""Patches whose mean colour is more than this many robust standard deviations
(1.4826 x median absolute deviation) from the median in some channel are dropped."""


def drop_colour_outliers(patches: list[Patch], z: float = OUTLIER_Z) -> list[Patch]:
    """Remove patches of atypical colour (for example erythrocytes inside a cytoplasm region).

    Parameters
    ----------
    patches : list of Patch
        Candidate patches of one library.
    z : float, optional
        Robust z-score limit per RGB channel (median and 1.4826 x MAD, the
        latter floored at 0.01 so that uniform colours are kept).

    Returns
    -------
    list of Patch
        The patches within the limit, in their original order.
    """
    if len(patches) < 5:
        return patches
    means = np.array([p.mean for p in patches])
    med = np.median(means, axis=0)
    mad = 1.4826 * np.median(np.abs(means - med), axis=0)
    score = np.abs(means - med) / np.maximum(mad, 0.01)
    keep = (score <= z).all(axis=1)
    return [p for p, k in zip(patches, keep.tolist(), strict=True) if k]


def _limit_per_cohort(
    patches: list[Patch], cohorts: np.ndarray, k: int, limit: int, rng: np.random.Generator
) -> list[Patch]:
    kept: list[Patch] = []
    for j in range(k):
        idx = np.flatnonzero(cohorts == j)
        if idx.size > limit:
            idx = np.sort(rng.choice(idx, size=limit, replace=False))
        for i in idx.tolist():
            patches[i].cohort = j
            kept.append(patches[i])
    return kept


# --------------------------------------------------------------------------- fitting


@dataclass
class Library:
    """A patch library to be written as a folder (``docs/patches.md``)."""

    folder: str
    kind: Literal["nuclei", "texture"]
    patches: list[Patch]
    cohorts: int
    patch_size: int | None
    region: str


@dataclass
class ClassFit:
    """Everything fitted for one class."""

    name: str
    color: ColorModel
    shapes: ShapeStats
    n_objects: int
    n_interior: int
    area_px: float
    nuclei: Library | None = None
    texture: Library | None = None
    morphology: ClassAxes | None = None


@dataclass
class FitResult:
    """The output of :func:`fit_inputs`, ready for :func:`write_library`."""

    classes: list[ClassFit]
    skipped: dict[str, int]
    background: ColorModel | None
    total_pixels: int
    pixel_size_um: float
    pixel_size_assumed: bool
    inputs: list[dict[str, Any]]
    normalization: dict[str, Any] | None
    notes: list[str]


def _texture_region_for(cls: str, options: FitOptions) -> TextureRegion:
    region = options.texture_regions.get(cls)
    if region in ("nucleus", "cytoplasm"):
        return region  # type: ignore[return-value]
    return "nucleus" if any(w in cls for w in IMMUNE_CLASS_WORDS) else "cytoplasm"


def fit_inputs(inputs: Sequence[FitInput], options: FitOptions) -> FitResult:
    """Measure colour, shape and patch statistics of prepared inputs.

    Parameters
    ----------
    inputs : sequence of FitInput
        Images with instance labels and classes (see :func:`load_input`);
        ``auto`` inputs are detected here, after normalisation.
    options : FitOptions
        Normalisation, patch and cohort settings.

    Returns
    -------
    FitResult

    Raises
    ------
    DataError
        No class with enough objects, or an ``only`` class without objects.
    """
    notes: list[str] = []
    for inp in inputs:
        notes.extend(inp.notes)
    with_points = [inp.record for inp in inputs if inp.record.get("annotation") == "points"]
    if with_points:
        total = sum(int(r.get("points_total", 0)) for r in with_points)
        seg = sum(int(r.get("nuclei_segmented", 0)) for r in with_points)
        n_lab = sum(int(r.get("nuclei_labelled", 0)) for r in with_points)
        notes.append(
            f"--points: {seg} nuclei segmented, {n_lab} labelled by one of {total} points "
            f"within {format_number(options.point_radius_um)} um; {seg - n_lab} without a point "
            "left out"
        )
    px = options.working_pixel_size
    rng = np.random.default_rng(options.seed)

    normalization: dict[str, Any] | None = None
    if options.reference is not None:
        if options.reference == "mean":
            ref = mean_reinhard_stats([reinhard_stats(inp.image) for inp in inputs])
            ref_name = "mean of the inputs"
        else:
            ref_path = Path(options.reference)
            ref_img = read_image(ref_path, max_pixels=options.max_pixels, notes=notes)
            ref = reinhard_stats(ref_img)
            ref_name = f"{ref_path.name} (sha256 {_sha256(ref_path)[:16]})"
        for inp in inputs:
            inp.image = reinhard_normalize(inp.image, ref)
        normalization = {"method": "reinhard-lab", "reference": ref_name, **ref.to_dict()}

    for inp in inputs:
        if inp.record.get("annotation") == "auto":
            lab, detected = detect_nuclei(inp.image, pixel_size_um=px, rule=options.auto_rule)
            inp.instances = lab
            inp.classes = {i: options.class_names.get(c, c) for i, c in detected.items()}
            inp.classes = {
                i: (_UNLABELLED if c == "-" else _sanitize(c)) for i, c in inp.classes.items()
            }

    # ---- per-class statistics
    per_class_colors: dict[str, list[ObjectColorStats]] = {}
    per_class_shapes: dict[str, list[ShapeStats]] = {}
    total_pixels = 0
    for inp in inputs:
        total_pixels += inp.instances.size
        colors = object_color_stats(inp.image, inp.instances, erode=options.erode)
        shapes = object_shapes(inp.instances)
        by_class: dict[str, list[int]] = {}
        for ident, cls in inp.classes.items():
            if cls != _UNLABELLED:
                by_class.setdefault(cls, []).append(ident)
        for cls, ids in by_class.items():
            per_class_colors.setdefault(cls, []).append(colors.subset(sorted(ids)))
            sel = np.isin(shapes.ids, ids)
            per_class_shapes.setdefault(cls, []).append(_shape_subset(shapes, sel))

    if "background" in per_class_colors:
        raise DataError(
            "a class is named 'background', which is reserved for the unannotated pixels; "
            "rename it with --class-names background=OTHER"
        )
    found = {cls: int(sum(s.ids.size for s in v)) for cls, v in per_class_colors.items()}
    if options.only is not None:
        for cls in options.only:
            if found.get(cls, 0) == 0:
                listing = ", ".join(f"{c} ({n})" for c, n in sorted(found.items())) or "none"
                raise DataError(
                    f"class {cls!r} (--only) has no annotated objects in the inputs; "
                    f"classes found: {listing}"
                )
    wanted = sorted(found) if options.only is None else list(options.only)
    skipped = {c: n for c, n in found.items() if c in wanted and n < options.min_objects}
    wanted = [c for c in wanted if found.get(c, 0) >= options.min_objects]
    if not wanted:
        listing = ", ".join(f"{c} ({n})" for c, n in sorted(found.items())) or "none"
        raise DataError(
            f"no class has at least {options.min_objects} annotated objects "
            f"(--min-objects); classes found: {listing}"
        )

    classes: list[ClassFit] = []
    for cls in wanted:
        stats = ObjectColorStats.concatenate(per_class_colors[cls])
        shapes = _shape_concat(per_class_shapes[cls])
        interior = int((~shapes.touches_border).sum())
        classes.append(
            ClassFit(
                name=cls,
                color=class_color_model(stats),
                shapes=shapes,
                n_objects=int(shapes.ids.size),
                n_interior=interior,
                area_px=float(shapes.area.sum()),
            )
        )

    if options.morphology is not None:
        _apply_morphology(classes, inputs, options, notes)

    # ---- background: unannotated pixels away from any object
    blocks = []
    bg_pixels = []
    for inp in inputs:
        near = ndi.binary_dilation(inp.instances > 0, structure=_disk(2))
        bg = ~near
        if bg.sum() >= 2:
            blocks.append(block_color_stats(inp.image, bg, block=32))
            bg_pixels.append(inp.image[bg].astype(np.float64))
    background: ColorModel | None = None
    if bg_pixels:
        pix = np.concatenate(bg_pixels)
        bstats = ObjectColorStats.concatenate(blocks)
        if bstats.ids.size >= 2:
            model = class_color_model(bstats)
            background = ColorModel(
                pix.mean(axis=0), model.cov, model.between, model.n_objects, pix.shape[0]
            )
        else:
            cov = np.cov(pix, rowvar=False, ddof=1) if pix.shape[0] > 1 else np.zeros((3, 3))
            background = ColorModel(pix.mean(axis=0), cov, np.zeros((3, 3)), 1, pix.shape[0])
    else:
        notes.append("no unannotated pixels: no background colour written")

    # ---- patches
    if options.patches:
        rim = max(1, round(1.5 / px))
        margin = max(2, round(options.cell_margin_um / px))
        pool_limit = options.max_patches * options.cohorts * 20
        for cf in classes:
            nuc: list[Patch] = []
            tex: list[Patch] = []
            region = _texture_region_for(cf.name, options)
            for inp in inputs:
                ids = [i for i, c in inp.classes.items() if c == cf.name]
                nuc.extend(nucleus_patches(inp, ids))
                mask = texture_region(inp, cf.name, region, rim=rim, margin=margin)
                tex.extend(
                    texture_patches(
                        inp, cf.name, mask, size=options.texture_size, limit=pool_limit, rng=rng
                    )
                )
            cf.nuclei = _make_library(
                f"{cf.name}_nuclei", "nuclei", nuc, None, "nucleus", options, rng
            )
            cf.texture = _make_library(
                f"{cf.name}_texture", "texture", tex, options.texture_size, region, options, rng
            )
            if cf.texture is None:
                notes.append(
                    f"class {cf.name}: no {options.texture_size} x {options.texture_size} patch "
                    f"fits inside its {region} region; no texture library written"
                )
    return FitResult(
        classes=classes,
        skipped=skipped,
        background=background,
        total_pixels=total_pixels,
        pixel_size_um=px,
        pixel_size_assumed=options.pixel_size_um is None,
        inputs=[inp.record for inp in inputs],
        normalization=normalization,
        notes=notes,
    )


def _apply_morphology(
    classes: Sequence[ClassFit],
    inputs: Sequence[FitInput],
    options: FitOptions,
    notes: list[str],
) -> None:
    """Replace the semi-axes of ``classes`` by those of the ``--morphology`` table."""
    from synthlang.morphology import class_semi_axes, read_morphology

    assert options.morphology is not None
    table = read_morphology(options.morphology)

    def name_of(raw: str) -> str | None:
        name = _resolve_names({0: raw}, {}, options.class_names)[0]
        return None if name == _UNLABELLED else name

    crops: dict[str, tuple[float, float, float, float]] = {}
    if options.crop is not None:
        c = options.crop
        for inp in inputs:
            crops[Path(inp.name).stem] = (
                c.r0,
                math.inf if c.r1 is None else c.r1,
                c.c0,
                math.inf if c.c1 is None else c.c1,
            )
    factor = options.morphology_pixel_size_um / options.working_pixel_size
    axes, more = class_semi_axes(
        table, name_of, factor=factor, exclude_rois=options.morphology_exclude, crops=crops
    )
    notes.extend(more)
    for cf in classes:
        ax = axes.get(cf.name)
        if ax is None or ax.semi_major.size < options.min_objects:
            n = 0 if ax is None else ax.semi_major.size
            notes.append(
                f"class {cf.name}: {n} nuclei in {table.path.name} (< --min-objects "
                f"{options.min_objects}); semi-axes measured on the annotated images instead"
            )
            continue
        cf.morphology = ax


def _make_library(
    folder: str,
    kind: Literal["nuclei", "texture"],
    patches: list[Patch],
    size: int | None,
    region: str,
    options: FitOptions,
    rng: np.random.Generator,
) -> Library | None:
    patches = drop_colour_outliers(patches)
    if not patches:
        return None
    means = np.array([p.mean for p in patches])
    cohorts, k = assign_cohorts(means, options.cohorts, options.seed)
    kept = _limit_per_cohort(patches, cohorts, k, options.max_patches, rng)
    return Library(folder, kind, kept, k, size, region)


def _shape_subset(s: ShapeStats, sel: np.ndarray) -> ShapeStats:
    return ShapeStats(
        s.ids[sel],
        s.area[sel],
        s.semi_major[sel],
        s.semi_minor[sel],
        s.centroid[sel],
        s.bbox[sel],
        s.touches_border[sel],
        s.solidity[sel],
    )


def _shape_concat(parts: Sequence[ShapeStats]) -> ShapeStats:
    return ShapeStats(
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.area for p in parts]),
        np.concatenate([p.semi_major for p in parts]),
        np.concatenate([p.semi_minor for p in parts]),
        np.concatenate([p.centroid for p in parts]).reshape(-1, 2),
        np.concatenate([p.bbox for p in parts]).reshape(-1, 4),
        np.concatenate([p.touches_border for p in parts]),
        np.concatenate([p.solidity for p in parts]),
    )


# --------------------------------------------------------------------------- writing


def format_number(x: float) -> str:
    """Format a number with 6 significant digits in scene syntax (no ``-0``, no ``nan``).

    Examples
    --------
    >>> format_number(0.000123456789), format_number(-0.0), format_number(12.0)
    ('0.000123457', '0', '12')
    """
    if not math.isfinite(x):
        raise ValueError(f"cannot write non-finite number {x}")
    s = f"{x:.6g}"
    if s in ("-0", "-0.0"):
        return "0"
    return s


def _psd_for_writing(m: np.ndarray) -> np.ndarray:
    """Symmetric, positive semi-definite after 6-digit rounding."""
    a = 0.5 * (np.asarray(m, np.float64) + np.asarray(m, np.float64).T)
    w, v = np.linalg.eigh(a)
    a = (v * np.clip(w, 0, None)) @ v.T
    a = 0.5 * (a + a.T)
    jitter = 0.0
    scale = max(float(np.trace(a)) / 3, 1e-12)
    for _ in range(8):
        b = a + jitter * np.eye(3)
        r = np.array([[float(format_number(float(x))) for x in row] for row in b])
        r = 0.5 * (r + r.T)
        if np.linalg.eigvalsh(r).min() >= 0:
            return b
        jitter = scale * 1e-6 if jitter == 0 else jitter * 10
    return np.diag(np.clip(np.diag(a), 0, None))


def _vec(v: Sequence[float]) -> str:
    return "[" + ", ".join(format_number(float(x)) for x in v) + "]"


def _mat(m: np.ndarray) -> str:
    m = _psd_for_writing(m)
    return "[" + ", ".join(_vec(row) for row in m) + "]"


def _mvn(model: ColorModel) -> str:
    mean = np.clip(model.mean, 0.0, 1.0)
    return f"mvn(mean {_vec(mean)}, cov {_mat(model.cov)}, between {_mat(model.between)})"


def _percentiles(x: np.ndarray, qs: Sequence[float]) -> list[float]:
    return [float(v) for v in np.percentile(x, qs)]


def _semi_axis_lets(name: str, shapes: ShapeStats, morph: ClassAxes | None = None) -> list[str]:
    if morph is not None:
        major, minor = morph.semi_major, morph.semi_minor
        origin = f"px) from {morph.source}"
    else:
        use = ~shapes.touches_border
        if use.sum() < 3:
            use = np.ones_like(use)
        major = shapes.semi_major[use]
        minor = shapes.semi_minor[use]
        origin = f"px, {int(use.sum())} objects away from the border)"
    both = np.concatenate([major, minor])
    lines = []
    p5, p50, p95 = _percentiles(both, (5, 50, 95))
    lo = max(p5, 0.5)
    hi = max(p95, lo)

    def pct(v: np.ndarray) -> str:
        return "/".join(format_number(round(x, 2)) for x in _percentiles(v, (5, 50, 95)))

    lines.append(
        f"# semi-axes ({origin}: major p5/p50/p95 {pct(major)}, minor p5/p50/p95 {pct(minor)}"
    )
    lines.append(f"let {name}_semi_axes = uniform({format_number(lo)}, {format_number(hi)})")
    for label, vals in (("semi_major", major), ("semi_minor", minor)):
        a, b = _percentiles(vals, (5, 95))
        a = max(a, 0.5)
        mean = float(vals.mean())
        std = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        if std > 1e-6 and b > a:
            lines.append(
                f"let {name}_{label} = truncnormal(mean {format_number(mean)}, "
                f"std {format_number(std)}, low {format_number(a)}, high {format_number(b)})"
            )
        else:
            lines.append(f"let {name}_{label} = {format_number(max(mean, 0.5))}")
    return lines


def _cohort_counts(lib: Library) -> list[int]:
    return [sum(1 for p in lib.patches if p.cohort == j) for j in range(lib.cohorts)]


def render_scene(result: FitResult, options: FitOptions, scene_path: Path) -> str:
    """Return the text of the ``.scene`` library for ``result``."""
    p = options.prefix
    out: list[str] = []
    add = out.append
    add(f"# {scene_path.name}: colour, shape and patch library written by `synthlang fit`")
    add(f"# (synthlang {__version__}). A library: import it from a scene, e.g.")
    add(f'#     import "{scene_path.name}"')
    add("# Regenerate it with the command below rather than editing it by hand.")
    add("#")
    add(f"# command: {options.command or '(called from Python: synthlang.fit.fit_files)'}")
    add("# inputs:")
    for rec in result.inputs:
        ann = rec.get("annotation")
        extra = ", ".join(
            f"{k} {rec[k]}"
            for k in ("labels", "class_labels", "instance_classes", "npz", "geojson", "points")
            if k in rec
        )
        add(f"#   {rec['image']}  {rec['size'][0]} x {rec['size'][1]} px  sha256 {rec['sha256']}")
        add(f"#     annotation: {ann}{'; ' + extra if extra else ''}")
    crop = str(options.crop) if options.crop else "none"
    add(
        f"# crop: {crop}; scale: {format_number(options.scale)}; erode: {options.erode} px; "
        f"seed: {options.seed}"
    )
    if result.normalization:
        add(f"# colour normalisation: Reinhard (CIE L*a*b*) to {result.normalization['reference']}")
    else:
        add("# colour normalisation: none")
    assumed = " (assumed: 20x)" if result.pixel_size_assumed else ""
    add(f"# pixel size at the working scale: {format_number(result.pixel_size_um)} um/px{assumed}")
    add("# colours: RGB in [0, 1]; mvn cov = pooled within-object pixel covariance,")
    add("# between = covariance of the object mean colours; lengths in px at the working scale.")
    if options.morphology is not None:
        mp = Path(options.morphology)
        excl = (
            f"; excluded rois: {', '.join(options.morphology_exclude)}"
            if (options.morphology_exclude)
            else ""
        )
        add(
            f"# shapes: semi-axes from the morphology table {mp.name} (sha256 {_sha256(mp)}, "
            f"{format_number(options.morphology_pixel_size_um)} um/px{excl}) where a class has "
            "rows there;"
        )
        add("# colours, cut-outs, textures, counts and densities from the images.")
    mpx = result.total_pixels / 1e6
    add(f"# area measured: {format_number(result.total_pixels)} px")
    for note in result.notes:
        add(f"# note: {note}")
    if result.skipped:
        for cls, n in sorted(result.skipped.items()):
            add(
                f"# class {cls}: {n} object(s), fewer than --min-objects {options.min_objects}; "
                "not written"
            )
    add("")
    if result.background is not None:
        bg = result.background
        add(
            f"# background: unannotated pixels at least 2 px from any object ({bg.n_pixels} px); "
            f"between = covariance of the means of {bg.n_objects} blocks of 32 x 32 px"
        )
        add(f"let {p}_background = {_mvn(bg)}")
        add("")
    um2 = (result.pixel_size_um**2) * result.total_pixels
    for cf in result.classes:
        per_mpx = cf.n_objects / mpx if mpx > 0 else 0.0
        per_mm2 = cf.n_objects / (um2 * 1e-6) if um2 > 0 else 0.0
        per_300 = cf.n_objects * 90000 / max(result.total_pixels, 1)
        cover = cf.area_px / max(result.total_pixels, 1)
        add(
            f"# --- {cf.name}: {cf.n_objects} objects ({cf.n_interior} away from the border), "
            f"{cf.color.n_pixels} px measured"
        )
        add(
            f"# density: {format_number(per_mpx)} per megapixel = {format_number(per_mm2)} per mm^2"
            f" = {format_number(per_300)} per 300 x 300 image; area fraction "
            f"{format_number(cover)}"
        )
        add(f"let {p}_{cf.name} = {_mvn(cf.color)}")
        out.extend(_semi_axis_lets(f"{p}_{cf.name}", cf.shapes, cf.morphology))
        if cf.nuclei is not None:
            counts = "/".join(str(n) for n in _cohort_counts(cf.nuclei))
            add(f"# {len(cf.nuclei.patches)} nucleus cut-outs (RGBA), cohorts {counts}")
            add(f'let {p}_{cf.name}_nuclei = patch("{cf.nuclei.folder}")')
        if cf.texture is not None:
            counts = "/".join(str(n) for n in _cohort_counts(cf.texture))
            size = cf.texture.patch_size or options.texture_size
            overlap = max(1, size // 4)
            add(
                f"# {len(cf.texture.patches)} texture patches of {size} x {size} px sampled in the "
                f"{cf.texture.region} region, cohorts {counts}"
            )
            add(
                f'let {p}_{cf.name}_texture = patches("{cf.texture.folder}", '
                f"cohorts {cf.texture.cohorts}, size {size}, overlap {overlap})"
            )
        add("")
    return "\n".join(out).rstrip("\n") + "\n"


def _write_patch_folder(
    lib: Library, out_dir: Path, result: FitResult, options: FitOptions
) -> None:
    target = out_dir / lib.folder
    if target.exists():
        index_path = target / "index.json"
        ok = False
        if target.is_dir() and index_path.exists():
            try:
                ok = json.loads(index_path.read_text(encoding="utf-8")).get("format") == (
                    "synthlang-patches"
                )
            except (OSError, ValueError, AttributeError):
                ok = False
        if not ok:
            raise DataError(
                f"{target}: exists and is not a synthlang patch library; refusing to overwrite it "
                "(move it away or choose another output folder)"
            )
    tmp = Path(tempfile.mkdtemp(prefix=f".{lib.folder}.", suffix=".tmp", dir=out_dir))
    try:
        items = []
        for n, patch in enumerate(lib.patches):
            name = f"{n:06d}.png"
            write_png(tmp / name, patch.pixels, atomic=False)
            item: dict[str, Any] = {
                "file": name,
                "cohort": int(patch.cohort),
                "mean": [round(float(v), 6) for v in patch.mean],
                "class": patch.cls,
                "source": patch.source,
            }
            if patch.area is not None:
                item["area"] = int(patch.area)
            if patch.position is not None:
                item["position"] = [int(patch.position[0]), int(patch.position[1])]
            items.append(item)
        index = {
            "format": "synthlang-patches",
            "version": 1,
            "kind": lib.kind,
            "patch_size": lib.patch_size,
            "cohorts": lib.cohorts,
            "pixel_size_um": round(result.pixel_size_um, 6),
            "pixel_size_assumed": result.pixel_size_assumed,
            "region": lib.region,
            "cohort_counts": _cohort_counts(lib),
            "items": items,
            "provenance": {
                "images": [{"file": r["image"], "sha256": r["sha256"]} for r in result.inputs],
                "licence": options.licence or "not stated (pass --licence)",
                "command": options.command or "synthlang.fit.fit_files",
                "normalization": result.normalization,
            },
        }
        atomic_write_text(tmp / "index.json", json.dumps(index, indent=1) + "\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{lib.folder}.", suffix=".old", dir=out_dir))
            os.replace(target, old / lib.folder)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_library(result: FitResult, out: Path, options: FitOptions) -> list[Path]:
    """Write the ``.scene`` library and its patch folders next to it.

    Parameters
    ----------
    result : FitResult
        From :func:`fit_inputs`.
    out : Path
        The ``.scene`` file to write; patch folders go into its folder.
    options : FitOptions
        The options used (recorded in the header).

    Returns
    -------
    list of Path
        Every file or folder written (scene first).

    Raises
    ------
    DataError
        If ``out`` does not end in ``.scene`` or a patch folder would replace
        something that is not a patch library.
    """
    out = Path(out)
    if out.suffix != ".scene":
        raise DataError(f"{out}: the output file must end in .scene")
    out_dir = out.parent if str(out.parent) else Path(".")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out_dir}: cannot create the output folder ({exc})") from None
    written: list[Path] = [out]
    for cf in result.classes:
        for lib in (cf.nuclei, cf.texture):
            if lib is not None:
                _write_patch_folder(lib, out_dir, result, options)
                written.append(out_dir / lib.folder)
    atomic_write_text(out, render_scene(result, options, out))
    return written


def fit_files(
    images: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    options: FitOptions,
    *,
    labels: Sequence[str | os.PathLike[str]] | None = None,
    class_labels: Sequence[str | os.PathLike[str]] | None = None,
    instance_classes: Sequence[str | os.PathLike[str]] | None = None,
    classes_json: str | os.PathLike[str] | None = None,
    npz: Sequence[str | os.PathLike[str]] | None = None,
    geojson: Sequence[str | os.PathLike[str]] | None = None,
    points: Sequence[str | os.PathLike[str]] | None = None,
    auto: bool = False,
) -> FitResult:
    """Run the whole ``synthlang fit`` pipeline: load, measure, write.

    Exactly one annotation source is used for all images: ``labels`` (one
    instance PNG per image, with optional ``class_labels`` PNGs or
    ``instance_classes`` tables), ``npz``, ``geojson`` or ``auto``.

    Parameters
    ----------
    images : sequence of path-like
        The images, in the same order as their annotation files.
    out : path-like
        The ``.scene`` file to write.
    options : FitOptions
        See :class:`FitOptions`.
    labels, class_labels, instance_classes, npz, geojson, points : sequence of path-like, optional
        Annotation files, one per image (``points``: CSV ``x,y,class``, see
        :mod:`synthlang.fitpoints`).
    classes_json : path-like, optional
        Class code -> name map (``{"1": "tumor"}`` or PUMA's ``class_map.json``).
    auto : bool, optional
        Detect nuclei automatically (no annotations).

    Returns
    -------
    FitResult

    Raises
    ------
    DataError, ResourceLimitError
        For any unusable input, with the file named.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> img = np.full((40, 40, 3), 0.85, np.float32); lab = np.zeros((40, 40), np.int32)
    >>> for k, (r, c) in enumerate([(10, 10), (10, 30), (30, 10), (30, 30)]):
    ...     img[r - 4 : r + 4, c - 4 : c + 4] = (0.3, 0.2, 0.5)
    ...     lab[r - 4 : r + 4, c - 4 : c + 4] = k + 1
    >>> write_png(os.path.join(d, "a.png"), img); write_png(os.path.join(d, "a_inst.png"), lab)
    >>> r = fit_files([os.path.join(d, "a.png")], os.path.join(d, "lib.scene"), FitOptions(),
    ...               labels=[os.path.join(d, "a_inst.png")])
    >>> [c.name for c in r.classes]
    ['nucleus']
    """
    options.validate()
    sources = {
        "--labels": labels,
        "--npz": npz,
        "--geojson": geojson,
        "--points": points,
    }
    given = [k for k, v in sources.items() if v]
    if auto:
        given.append("--auto")
    if len(given) != 1:
        raise DataError(
            "give exactly one annotation source for the images: --labels, --npz, --geojson, "
            f"--points or --auto (got {', '.join(given) or 'none'})"
        )
    if not images:
        raise DataError("no input images given")
    n = len(images)
    for flag, files in (
        ("--labels", labels),
        ("--class-labels", class_labels),
        ("--instance-classes", instance_classes),
        ("--npz", npz),
        ("--geojson", geojson),
        ("--points", points),
    ):
        if files and len(files) != n:
            raise DataError(
                f"{flag}: {len(files)} file(s) for {n} image(s); give one per image, in the same "
                "order as the images"
            )
    if (class_labels or instance_classes) and not labels:
        raise DataError("--class-labels and --instance-classes go with --labels (instance PNGs)")
    code_names = _read_class_map(Path(classes_json)) if classes_json else {}
    out_path = Path(out)
    resolved_out = out_path.resolve()
    inputs = []
    for i, img in enumerate(images):
        ip = Path(img)
        if ip.resolve() == resolved_out:
            raise DataError(f"{out_path}: the output would overwrite the input image {ip}")
        if labels:
            ann = Annotation(
                "labels",
                Path(labels[i]),
                Path(class_labels[i]) if class_labels else None,
                Path(instance_classes[i]) if instance_classes else None,
            )
        elif npz:
            ann = Annotation("npz", Path(npz[i]))
        elif geojson:
            ann = Annotation("geojson", Path(geojson[i]))
        elif points:
            ann = Annotation("points", Path(points[i]))
        else:
            ann = Annotation("auto")
        inp = load_input(ip, ann, options, code_names=code_names)
        for other in (ann.path, ann.class_labels, ann.instance_classes):
            if other is not None and not other.name.startswith(ip.stem):
                inp.notes.append(
                    f"{ip.name} is paired with {other.name}: check that the annotation files "
                    "are given in the order of the images"
                )
        inputs.append(inp)
    result = fit_inputs(inputs, options)
    write_library(result, out_path, options)
    return result
