"""Annotations back from QuPath: GeoJSON objects to label and instance maps.

:func:`read_annotations` reads what QuPath exports (*File > Export objects as
GeoJSON*, a ``FeatureCollection`` or a plain list of features; also what
:class:`~synthlang.slides.outputs.GeoJSONWriter` writes): ``Polygon`` and
``MultiPolygon`` geometries in level-0 pixel coordinates, the class from
``properties.classification.name`` (or a ``classification`` string, ``class``,
``label``), the object type from ``objectType``. :func:`rasterize` draws them into a
region at any downsample, so that corrected nuclei can be scored (``synthlang
evaluate``) or fitted (``synthlang fit``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthlang.common.errors import DataError
from synthlang.common.fileio import read_input_file

__all__ = [
    "MAX_GEOJSON_BYTES",
    "Annotation",
    "read_annotations",
    "rasterize",
]

MAX_GEOJSON_BYTES = 2 * 1024**3
"""Largest GeoJSON file read (whole-slide exports reach hundreds of MB)."""


@dataclass(frozen=True)
class Annotation:
    """One polygon object.

    Attributes
    ----------
    geometry : shapely.Polygon or shapely.MultiPolygon
        Level-0 pixel coordinates ``(x, y)``.
    class_name : str or None
        The classification, if any.
    object_type : str or None
        QuPath's ``objectType`` (``annotation``, ``detection``, ``cell``, ...).
    properties : dict
        The feature's other properties.
    """

    geometry: Any
    class_name: str | None
    object_type: str | None = None
    properties: dict[str, Any] = field(default_factory=dict, repr=False)


def _features(data: Any, path: Path) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if data.get("type") == "FeatureCollection" and isinstance(data.get("features"), list):
            return list(data["features"])
        if data.get("type") == "Feature":
            return [data]
    raise DataError(f"{path}: expected a GeoJSON FeatureCollection or a list of features")


def _class_of(props: Mapping[str, Any]) -> str | None:
    cls = props.get("classification")
    if isinstance(cls, dict) and isinstance(cls.get("name"), str):
        return str(cls["name"])
    if isinstance(cls, str):
        return cls
    for key in ("class", "class_name", "label"):
        if isinstance(props.get(key), str):
            return str(props[key])
    return None


def _geometry(geom: Any, path: Path, index: int) -> Any:
    import shapely
    from shapely.geometry import shape

    try:
        g = shape(geom)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise DataError(f"{path}: feature {index}: malformed geometry ({exc})") from None
    except shapely.errors.ShapelyError as exc:
        raise DataError(f"{path}: feature {index}: malformed geometry ({exc})") from None
    coords = shapely.get_coordinates(g)
    if coords.size and not np.isfinite(coords).all():
        raise DataError(f"{path}: feature {index}: non-finite coordinates")
    if not g.is_valid:
        g = shapely.make_valid(g)
        polys = [p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")]
        g = shapely.unary_union(polys) if polys else shapely.Polygon()
    return g


def read_annotations(
    path: str | os.PathLike[str], *, notes: list[str] | None = None
) -> list[Annotation]:
    """Read the polygon objects of a GeoJSON file.

    Invalid polygons (self-intersections) are repaired (``shapely.make_valid``);
    features without a ``Polygon`` / ``MultiPolygon`` geometry (points, lines) are
    skipped, with a line in ``notes``.

    Raises
    ------
    DataError
        Missing or unreadable file, not JSON, not GeoJSON, malformed coordinates.
    """
    p = Path(path)
    raw = read_input_file(p, max_bytes=MAX_GEOJSON_BYTES, what="GeoJSON file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{p}: not valid JSON ({exc})") from None
    out: list[Annotation] = []
    skipped: dict[str, int] = {}
    for i, feat in enumerate(_features(data, p)):
        if not isinstance(feat, dict):
            raise DataError(f"{p}: feature {i} is not a JSON object")
        geom = feat.get("geometry")
        kind = geom.get("type") if isinstance(geom, dict) else None
        if kind not in ("Polygon", "MultiPolygon"):
            skipped[str(kind)] = skipped.get(str(kind), 0) + 1
            continue
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            props = {}
        g = _geometry(geom, p, i)
        if g.is_empty:
            skipped["empty"] = skipped.get("empty", 0) + 1
            continue
        otype = props.get("objectType", props.get("object_type"))
        out.append(
            Annotation(
                geometry=g,
                class_name=_class_of(props),
                object_type=str(otype) if otype is not None else None,
                properties={k: v for k, v in props.items() if k != "classification"},
            )
        )
    if skipped and notes is not None:
        what = ", ".join(f"{n} {k}" for k, n in sorted(skipped.items()))
        notes.append(f"{p}: skipped features without a polygon ({what})")
    return out


def _class_ids(classes: Sequence[str] | Mapping[str, int]) -> dict[str, int]:
    if isinstance(classes, Mapping):
        ids = {str(k): int(v) for k, v in classes.items()}
    else:
        ids = {str(name): i + 1 for i, name in enumerate(classes)}
    bad = [k for k, v in ids.items() if not 1 <= v <= 65535]
    if bad:
        raise ValueError(f"class ids must be in [1, 65535]: {bad}")
    return ids


def rasterize(
    annotations: Sequence[Annotation],
    region: tuple[int, int, int, int],
    classes: Sequence[str] | Mapping[str, int],
    *,
    downsample: float = 1.0,
    unclassified: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw annotations into a region: a class label map and an instance map.

    Output pixel ``(r, c)`` covers the level-0 square
    ``[x + c d, x + (c + 1) d) x [y + r d, y + (r + 1) d)`` (``d = downsample``) and
    belongs to a polygon when its centre does; holes are cut out. Annotation ``i``
    (in the given order, among those drawn) becomes instance ``i + 1``; a later
    annotation covers an earlier one where they overlap.

    Parameters
    ----------
    annotations : sequence of Annotation
        From :func:`read_annotations`.
    region : tuple of int
        ``(x, y, width, height)`` in level-0 pixels.
    classes : sequence of str or mapping
        Class names (class ``k`` is ``classes[k - 1]``) or name -> id.
        Annotations of other classes are not drawn.
    downsample : float
        Level-0 pixels per output pixel (``model_mpp / slide_mpp`` for the model grid).
    unclassified : int, optional
        Class id for annotations without a class (default: not drawn).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``labels`` (uint8, or uint16 for ids above 255) and ``instances`` (int32),
        both ``(ceil(height / d), ceil(width / d))``.

    Examples
    --------
    >>> import shapely
    >>> a = Annotation(shapely.box(10, 10, 20, 30), "tumor")
    >>> labels, inst = rasterize([a], (0, 0, 40, 40), ["tumor"], downsample=2)
    >>> labels.shape, int(inst.max()), int((labels == 1).sum())
    ((20, 20), 1, 50)
    """
    import shapely
    from skimage.draw import polygon as draw_polygon

    x, y, w, h = (int(v) for v in region)
    if w <= 0 or h <= 0:
        raise ValueError(f"region width and height must be positive, got {w} x {h}")
    if not (math.isfinite(downsample) and downsample > 0):
        raise ValueError(f"downsample must be positive, got {downsample}")
    ids = _class_ids(classes)
    rows, cols = math.ceil(h / downsample - 1e-9), math.ceil(w / downsample - 1e-9)
    top = max([*ids.values(), unclassified or 0])
    labels = np.zeros((rows, cols), np.uint8 if top <= 255 else np.uint16)
    instances = np.zeros((rows, cols), np.int32)
    box = shapely.box(x, y, x + w, y + h)
    d = float(downsample)

    def draw(ring: Any, value: bool, target: np.ndarray, r0: int, c0: int) -> None:
        xy = np.asarray(ring.coords)
        cc = (xy[:, 0] - x) / d - 0.5 - c0
        rr = (xy[:, 1] - y) / d - 0.5 - r0
        r, c = draw_polygon(rr, cc, shape=target.shape)
        target[r, c] = value

    n = 0
    for a in annotations:
        cid = ids.get(a.class_name) if a.class_name is not None else unclassified
        if cid is None or not a.geometry.intersects(box):
            continue
        n += 1
        for poly in getattr(a.geometry, "geoms", [a.geometry]):
            if poly.geom_type != "Polygon" or poly.is_empty:
                continue
            bx0, by0, bx1, by1 = poly.bounds
            c0 = max(0, int(math.floor((bx0 - x) / d - 0.5)))
            r0 = max(0, int(math.floor((by0 - y) / d - 0.5)))
            c1 = min(cols, int(math.ceil((bx1 - x) / d - 0.5)) + 1)
            r1 = min(rows, int(math.ceil((by1 - y) / d - 0.5)) + 1)
            if r1 <= r0 or c1 <= c0:
                continue
            inside = np.zeros((r1 - r0, c1 - c0), bool)
            draw(poly.exterior, True, inside, r0, c0)
            for hole in poly.interiors:
                draw(hole, False, inside, r0, c0)
            labels[r0:r1, c0:c1][inside] = cid
            instances[r0:r1, c0:c1][inside] = n
    return labels, instances
