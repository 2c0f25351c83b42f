"""Step 1 of ``synthlang fit``: load an image with its annotation, crop and rescale both.

:func:`load_input` reads an image and an instance label PNG (with a class
PNG, a per-instance class table or a single class), a NuCLS-style ``.npz``,
GeoJSON polygons, a point CSV (nuclei segmented by the ``--auto`` detector
and labelled by the points) or nothing (``auto``: detected later, after
colour normalisation), and returns a :class:`FitInput`. The file formats are
read by :mod:`synthlang.fit.annotations` and :mod:`synthlang.fit.points`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from synthlang.common.errors import DataError
from synthlang.common.imageio import read_image, read_label_image
from synthlang.common.resample import resample, scaled_shape
from synthlang.fit.annotations import (
    NUCLS_CLASS_NAMES,
    check_same_size,
    majority_class,
    rasterize_geojson,
    read_instance_table,
    read_npz,
    resolve_names,
    sha256_file,
)
from synthlang.fit.detect import detect_nuclei
from synthlang.fit.options import UNLABELLED, FitOptions
from synthlang.fit.points import PointSet, match_points, read_points, transform_points

__all__ = ["Annotation", "FitInput", "load_input", "PointAnnotation", "load_points"]


@dataclass(frozen=True)
class Annotation:
    """How one image is annotated.

    Attributes
    ----------
    kind : {"labels", "npz", "geojson", "points", "auto"}
        Instance label image, NuCLS-style npz, GeoJSON polygons, point CSV
        (nuclei segmented and labelled by the points, see
        :mod:`synthlang.fit.points`), or automatic detection.
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


def load_input(
    image_path: Path,
    annotation: Annotation,
    options: FitOptions,
    *,
    code_names: Mapping[str, str] | None = None,
) -> FitInput:
    """Read one image with its annotation, crop and rescale both.

    Colour normalisation is applied later by :func:`~synthlang.fit.model.fit_inputs` (it may need
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
        "sha256": sha256_file(image_path),
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
        check_same_size(instances.shape, (rows, cols), annotation.path, image_path)
        record["labels"] = annotation.path.name
        if annotation.class_labels is not None:
            cls = read_label_image(
                annotation.class_labels, max_pixels=options.max_pixels, notes=notes
            )
            check_same_size(cls.shape, (rows, cols), annotation.class_labels, image_path)
            raw = dict(majority_class(instances, cls))
            record["class_labels"] = annotation.class_labels.name
        if annotation.instance_classes is not None:
            raw.update(read_instance_table(annotation.instance_classes))
            record["instance_classes"] = annotation.instance_classes.name
    elif annotation.kind == "npz":
        assert annotation.path is not None
        instances, raw = read_npz(annotation.path, (rows, cols), image_path, options.max_pixels)
        for code, name in NUCLS_CLASS_NAMES.items():
            names.setdefault(str(code), name)
        record["npz"] = annotation.path.name
    elif annotation.kind == "geojson":
        assert annotation.path is not None
        instances, cls_names = rasterize_geojson(annotation.path, (rows, cols), notes)
        raw = dict(cls_names)
        record["geojson"] = annotation.path.name
    elif annotation.kind == "points":
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
        shape = scaled_shape(image.shape, options.scale)
        image = resample(image, shape)
        instances = resample(instances, shape, labels=True).astype(np.int32, copy=False)
        record["scale"] = options.scale
    working_points: PointSet | None = None
    if annotation.kind == "points":
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
    classes = resolve_names(raw, names, options.class_names)
    if annotation.kind in ("labels", "geojson") and not raw:
        # no class information at all: one class
        classes = {i: "nucleus" for i in present_new}
    else:
        for i in present_new - set(classes):
            classes[i] = UNLABELLED
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
    points : synthlang.fit.points.PointSet
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
        i: (None if c == UNLABELLED else c) for i, c in inp.classes.items()
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
    px = options.working_pixel_size
    labels, _ = detect_nuclei(image, pixel_size_um=px, rule=options.auto_rule)
    matched = match_points(labels, points.xy, options.point_radius_um / px)
    record["points_total"] = len(points)
    record["nuclei_segmented"] = int(labels.max(initial=0))
    record["nuclei_labelled"] = len(matched)
    return labels, {ident: points.classes[p] for ident, p in matched.items()}
