"""GeoJSON for QuPath: one FeatureCollection of instance outlines per sample.

``geojson/NAME.geojson`` holds one Feature per labelled instance (an id > 0 in
``instances/NAME.png``)::

    {"type": "Feature",
     "geometry": {"type": "Polygon", "coordinates": [[[x, y], ...], ...]},
     "properties": {"objectType": "annotation",
                    "classification": {"name": "tumor", "color": [r, g, b]},
                    "id": 12}}

QuPath (File > Import objects from file, or drag and drop) reads ``objectType``
(``annotation`` or ``detection``) and ``classification`` (``name`` and an RGB ``color``);
``id`` is the instance's id in ``instances/NAME.png`` (QuPath ignores it).

Coordinates are QuPath's pixel coordinates: the origin is the top-left corner of the
image, x runs along the columns and y down the rows, and pixel ``(row r, column c)`` is
the unit square ``[c, c + 1] x [r, r + 1]``. A geometry is the exact union of its
instance's pixel squares (its outline follows the pixel edges, so its area is the
instance's pixel count), with collinear vertices removed, exterior rings counter-clockwise
in x-y (GeoJSON's right-hand rule) and holes kept; an instance split into several pieces
is a MultiPolygon. Every geometry is valid per shapely.

:func:`instance_features` and :func:`write_feature_collection` are reusable: ``synthlang
predict --geojson`` writes its predictions with them.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from synthlang.common.fileio import atomic_write_bytes
from synthlang.data.formats.base import instance_boxes, instance_classes, json_number

__all__ = [
    "GEOJSON_DIR",
    "PALETTE",
    "class_color",
    "mask_geometry",
    "instance_features",
    "feature_collection_bytes",
    "write_feature_collection",
    "write_sample_geojson",
]

GEOJSON_DIR = "geojson"
"""The folder of the per-sample files, in the dataset folder."""

PALETTE: tuple[tuple[int, int, int], ...] = (
    (214, 39, 40),
    (31, 119, 180),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
"""Class colours: class ``k`` (1-based) of a dataset gets ``PALETTE[(k - 1) % 10]``."""


def class_color(name: str, index: int | None = None) -> list[int]:
    """The RGB colour of a class: by its 0-based index if given, else by its name (stable).

    Examples
    --------
    >>> class_color("tumor", 0)
    [214, 39, 40]
    >>> class_color("tumor") == class_color("tumor")
    True
    """
    k = index if index is not None else zlib.crc32(name.encode("utf-8"))
    return list(PALETTE[k % len(PALETTE)])


def _polygonal(geom: Any) -> Any:
    """The polygonal part of a geometry, made valid (``make_valid`` drops no area)."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    parts: list[Polygon] = []
    for part in getattr(geom, "geoms", []):
        if isinstance(part, Polygon):
            parts.append(part)
        elif isinstance(part, MultiPolygon):
            parts.extend(part.geoms)
    return MultiPolygon(parts) if len(parts) != 1 else parts[0]


def mask_geometry(mask: np.ndarray, *, holes: bool = True) -> Any:
    """The union of the pixel squares of a boolean mask, as a shapely geometry.

    Parameters
    ----------
    mask : numpy.ndarray
        ``(H, W)`` boolean.
    holes : bool
        Keep interior rings (default); False keeps the outer boundaries only.

    Returns
    -------
    shapely Polygon or MultiPolygon
        In pixel-edge coordinates of the mask (x = column, y = row, pixel ``(r, c)``
        is ``[c, c + 1] x [r, r + 1]``); valid, oriented, without collinear
        vertices; empty for an empty mask.

    Examples
    --------
    >>> m = np.zeros((3, 4), bool); m[0:2, 1:3] = True
    >>> g = mask_geometry(m)
    >>> g.area, g.bounds
    (4.0, (1.0, 0.0, 3.0, 2.0))
    """
    import shapely
    from shapely.geometry import MultiPolygon, Polygon
    from shapely.geometry.polygon import orient

    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {m.shape}")
    padded = np.zeros((m.shape[0], m.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = m
    step = np.diff(padded, axis=1)
    start_r, start_c = np.nonzero(step == 1)
    _, stop_c = np.nonzero(step == -1)  # same rows, same order: runs are row-major
    if start_r.size == 0:
        return Polygon()
    boxes = shapely.box(start_c, start_r, stop_c, start_r + 1)
    geom = _polygonal(shapely.union_all(boxes).simplify(0))
    polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    if not holes:
        polys = [Polygon(p.exterior) for p in polys]
        if len(polys) > 1:
            geom = _polygonal(shapely.union_all(polys))
            polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
    polys = [orient(p, sign=1.0) for p in polys]
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def _canonical(coords: Any) -> list[tuple[float, float]]:
    """A closed ring that starts at its top-left vertex (smallest y, then x).

    So the coordinates do not depend on the vertex GEOS starts the ring at.
    """
    points = [(float(x), float(y)) for x, y in coords][:-1]
    start = min(range(len(points)), key=lambda k: (points[k][1], points[k][0]))
    ring = points[start:] + points[:start]
    return [*ring, ring[0]]


def _ring(coords: list[tuple[float, float]], shift: tuple[float, float], scale: float) -> Any:
    return [
        [json_number(shift[0] + scale * x), json_number(shift[1] + scale * y)] for x, y in coords
    ]


def _geometry_json(
    geom: Any, corner: tuple[int, int], offset: tuple[float, float], scale: float
) -> dict[str, Any]:
    """GeoJSON of a (crop) geometry whose origin is pixel ``corner`` (row, column).

    Rings start at their top-left vertex, holes and parts are sorted by it: the output does
    not depend on the order GEOS builds them in.
    """
    from shapely.geometry import MultiPolygon

    shift = (offset[0] + scale * corner[1], offset[1] + scale * corner[0])

    def key(ring: list[tuple[float, float]]) -> tuple[float, float]:
        return (ring[0][1], ring[0][0])

    def polygon(p: Any) -> tuple[tuple[float, float], list[Any]]:
        holes = sorted((_canonical(r.coords) for r in p.interiors), key=key)
        outer = _canonical(p.exterior.coords)
        return key(outer), [_ring(r, shift, scale) for r in [outer, *holes]]

    if isinstance(geom, MultiPolygon):
        parts = sorted((polygon(p) for p in geom.geoms), key=lambda kp: kp[0])
        return {"type": "MultiPolygon", "coordinates": [rings for _, rings in parts]}
    return {"type": "Polygon", "coordinates": polygon(geom)[1]}


def instance_features(
    instance_map: np.ndarray,
    class_of_id: Mapping[int, str | None],
    *,
    properties: Mapping[int, Mapping[str, Any]] | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    colors: Mapping[str, Any] | None = None,
    object_type: str = "annotation",
    holes: bool = True,
) -> list[dict[str, Any]]:
    """QuPath GeoJSON Features of every instance of an instance map.

    Parameters
    ----------
    instance_map : numpy.ndarray
        ``(H, W)`` integer ids, 0 = no instance.
    class_of_id : mapping of int to str or None
        Class name of each instance id; an id that is missing or maps to None gets
        no ``classification``.
    properties : mapping of int to mapping, optional
        Extra properties per instance id (for example QuPath ``measurements``),
        merged into the feature's ``properties``.
    offset : (float, float)
        ``(x, y)`` added to every coordinate after scaling: where the map's top-left
        corner lies in the output image (a tile of a larger image).
    scale : float
        Output units per pixel of the map (a map predicted at a lower resolution).
    colors : mapping of str to (r, g, b), optional
        Class colours; default :func:`class_color` of the name.
    object_type : str
        QuPath's ``objectType``: ``"annotation"`` (default) or ``"detection"``.
    holes : bool
        Keep the holes of instances (default); False keeps outer boundaries only.

    Returns
    -------
    list of dict
        One Feature per id > 0 on the map, in id order; geometry a Polygon or
        MultiPolygon in pixel coordinates (see the module docstring), properties
        ``objectType``, ``classification`` (``name``, ``color``) and ``id``.

    Examples
    --------
    >>> inst = np.zeros((3, 3), np.int32); inst[1, 1:] = 4
    >>> [f] = instance_features(inst, {4: "immune"}, colors={"immune": (1, 2, 3)})
    >>> f["geometry"]["coordinates"], f["properties"]["classification"]
    ([[[1, 1], [3, 1], [3, 2], [1, 2], [1, 1]]], {'name': 'immune', 'color': [1, 2, 3]})
    """
    inst = np.asarray(instance_map)
    if inst.ndim != 2:
        raise ValueError(f"instance_map must be (H, W), got shape {inst.shape}")
    features: list[dict[str, Any]] = []
    for i, (rs, cs) in instance_boxes(inst).items():
        geom = mask_geometry(inst[rs, cs] == i, holes=holes)
        if geom.is_empty:
            continue
        props: dict[str, Any] = {"objectType": object_type}
        name = class_of_id.get(i)
        if name is not None:
            color = colors[name] if colors is not None and name in colors else class_color(name)
            props["classification"] = {"name": name, "color": [int(v) for v in color]}
        props["id"] = int(i)
        if properties is not None and i in properties:
            props.update(properties[i])
        features.append(
            {
                "type": "Feature",
                "geometry": _geometry_json(geom, (rs.start, cs.start), offset, scale),
                "properties": props,
            }
        )
    return features


def feature_collection_bytes(features: list[dict[str, Any]]) -> bytes:
    """The bytes of a GeoJSON FeatureCollection (compact, deterministic)."""
    doc = {"type": "FeatureCollection", "features": features}
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode("utf-8")


def write_feature_collection(path: str | Path, features: list[dict[str, Any]]) -> None:
    """Write a FeatureCollection to ``path`` atomically (its folder must exist)."""
    atomic_write_bytes(Path(path), feature_collection_bytes(features))


def write_sample_geojson(out: Path, sample: dict[str, Any], classes: tuple[str, ...]) -> Path:
    """Write ``geojson/NAME.geojson`` of one stored sample into the dataset folder ``out``.

    Parameters
    ----------
    out : Path
        The dataset folder (``geojson/`` must exist).
    sample : dict
        ``name``, ``instances`` and ``labels`` (:func:`synthlang.data.sampleio.read_raw_sample`).
    classes : tuple of str
        The dataset's classes; class ``k`` is coloured ``PALETTE[(k - 1) % 10]``.
    """
    inst = sample["instances"]
    names = {
        i: (classes[c - 1] if 0 < c <= len(classes) else None)
        for i, c in instance_classes(inst, sample["labels"]).items()
    }
    colors = {name: class_color(name, k) for k, name in enumerate(classes)}
    path = Path(out) / GEOJSON_DIR / f"{sample['name']}.geojson"
    write_feature_collection(path, instance_features(inst, names, colors=colors))
    return path
