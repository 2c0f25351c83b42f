"""Point annotations for ``synthlang fit --points``: segment nuclei, label them by points.

A point file is a CSV with a header and the columns ``x``, ``y`` and
``class`` (other columns are ignored), one row per annotated nucleus: ``x``
is the column and ``y`` the row of the nucleus centre in 0-based pixel
coordinates of the full image (the CRCHistoPhenotypes ``imgNNN_points.csv``
format)::

    x,y,class
    7.52,14.66,inflammatory
    37.48,38.91,epithelial

Nuclei are segmented with the ``--auto`` detector
(:func:`synthlang.fit.detect_nuclei`: colour deconvolution, multi-Otsu
thresholds and a distance-transform watershed; its classes are ignored), and
every segmented nucleus takes the class of a point (:func:`match_points`):
pairs of a nucleus and a point closer than the radius (centroid to point),
or with the point inside the nucleus, are matched closest first, so that a
point labels at most one nucleus and a nucleus takes at most one point.
Nuclei without a point stay in the instance map as unlabelled (left out of
the class statistics and of the background).

From Python, :func:`synthlang.fit.load_points` returns an image's instance
map and the class of each instance; :func:`synthlang.fit.load_input` with
``Annotation("points", path)`` returns the same as a ``FitInput``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from synthlang.common.errors import DataError
from synthlang.stats import object_shapes

__all__ = ["PointSet", "read_points", "transform_points", "match_points"]

_COLUMNS = ("x", "y", "class")
_MAX_POINTS = 1_000_000
_EDGE = 1.0
"""Points up to this many pixels beyond the outermost pixel centres are accepted."""


@dataclass(frozen=True)
class PointSet:
    """Points of one image.

    Attributes
    ----------
    path : Path
        The CSV file they came from.
    xy : numpy.ndarray
        ``(n, 2)`` float64 ``(x, y)`` = (column, row) pixel coordinates.
    classes : tuple of str
        Class of each point, as written in the file.
    """

    path: Path
    xy: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.classes)


def read_points(path: str | Path, shape: tuple[int, int]) -> PointSet:
    r"""Read and check a point CSV for an image of ``shape = (rows, cols)``.

    Parameters
    ----------
    path : str or Path
        CSV with a header containing ``x``, ``y`` and ``class``.
    shape : tuple of int
        ``(rows, cols)`` of the full image (before ``--crop`` and ``--scale``).

    Returns
    -------
    PointSet

    Raises
    ------
    DataError
        A missing file or column, a non-numeric coordinate, an empty class,
        or a point outside the image: coordinates must lie in
        ``[-1, cols]`` and ``[-1, rows]`` (the pixel centres ``0 .. cols - 1``
        plus 1 px, since annotators click on the image edge).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a_points.csv"
    >>> _ = p.write_text("x,y,class\n3.5,2,tumor\n")
    >>> read_points(p, (10, 10)).xy.tolist()
    [[3.5, 2.0]]
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (--points)")
    rows, cols = shape
    xy: list[tuple[float, float]] = []
    names: list[str] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file; expected a header x,y,class")
            index = {name.strip().lower(): k for k, name in enumerate(header)}
            missing = [c for c in _COLUMNS if c not in index]
            if missing:
                raise DataError(
                    f"{path}: missing column(s) {', '.join(missing)} (found: "
                    f"{', '.join(h.strip() for h in header) or 'none'}); a point file needs a "
                    "header with x, y (0-based pixel coordinates of the nucleus centre) and class"
                )
            kx, ky, kc = (index[c] for c in _COLUMNS)
            for line, row in enumerate(reader, start=2):
                if not row or all(not v.strip() for v in row):
                    continue
                if len(row) <= max(kx, ky, kc):
                    raise DataError(f"{path}: line {line} has {len(row)} fields, too few")
                if len(names) >= _MAX_POINTS:
                    raise DataError(f"{path}: more than {_MAX_POINTS:,} points")
                values = []
                for k, col in ((kx, "x"), (ky, "y")):
                    try:
                        v = float(row[k])
                    except ValueError:
                        v = math.nan
                    if not math.isfinite(v):
                        raise DataError(f"{path}: line {line}: {col} = {row[k]!r} is not a number")
                    values.append(v)
                x, y = values
                if not (-_EDGE <= x <= cols - 1 + _EDGE and -_EDGE <= y <= rows - 1 + _EDGE):
                    raise DataError(
                        f"{path}: line {line}: point (x {x:g}, y {y:g}) is outside the image "
                        f"({cols} x {rows} px: x in 0..{cols - 1}, y in 0..{rows - 1}, 1 px "
                        "tolerated beyond the edge); x is the column and y the row, in pixels "
                        "of the full image"
                    )
                name = row[kc].strip()
                if not name:
                    raise DataError(f"{path}: line {line}: empty class")
                xy.append((x, y))
                names.append(name)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    return PointSet(path, np.asarray(xy, np.float64).reshape(-1, 2), tuple(names))


def transform_points(
    points: PointSet,
    origin: tuple[int, int],
    crop_shape: tuple[int, int],
    out_shape: tuple[int, int],
) -> PointSet:
    """Move points into a cropped and rescaled image.

    Parameters
    ----------
    points : PointSet
        Points in full-image pixels.
    origin : tuple of int
        ``(row0, col0)`` of the crop.
    crop_shape : tuple of int
        ``(rows, cols)`` of the crop.
    out_shape : tuple of int
        ``(rows, cols)`` after rescaling.

    Returns
    -------
    PointSet
        Points inside the crop, in output pixels (pixel centres map to pixel
        centres: ``u' = (u - origin + 0.5) * out / crop - 0.5``).

    Examples
    --------
    >>> p = PointSet(Path("p.csv"), np.array([[11.0, 3.0], [1.0, 1.0]]), ("a", "b"))
    >>> transform_points(p, (2, 4), (8, 8), (4, 4)).xy.tolist()
    [[3.25, 0.25]]
    """
    r0, c0 = origin
    rows, cols = crop_shape
    x = points.xy[:, 0] - c0
    y = points.xy[:, 1] - r0
    keep = (x >= -_EDGE) & (x <= cols - 1 + _EDGE) & (y >= -_EDGE) & (y <= rows - 1 + _EDGE)
    sx = out_shape[1] / cols
    sy = out_shape[0] / rows
    xy = np.stack([(x[keep] + 0.5) * sx - 0.5, (y[keep] + 0.5) * sy - 0.5], axis=1)
    names = tuple(c for c, k in zip(points.classes, keep.tolist(), strict=True) if k)
    return PointSet(points.path, xy.reshape(-1, 2), names)


def match_points(instances: np.ndarray, xy: np.ndarray, radius: float) -> dict[int, int]:
    """Match nuclei and points one to one, closest pairs first.

    A nucleus and a point can match if the point is within ``radius`` pixels
    of the nucleus centroid or lies on one of its pixels; candidate pairs are
    taken in order of increasing centroid distance, each nucleus and each
    point at most once.

    Parameters
    ----------
    instances : numpy.ndarray
        ``(rows, cols)`` integer labels, 0 background.
    xy : numpy.ndarray
        ``(n, 2)`` point ``(x, y)`` = (column, row) coordinates in pixels.
    radius : float
        Largest centroid distance in pixels.

    Returns
    -------
    dict
        Instance id -> index of its point.

    Examples
    --------
    >>> lab = np.zeros((20, 20), int); lab[2:6, 2:6] = 1; lab[10:14, 10:14] = 2
    >>> match_points(lab, np.array([[5.0, 5.0], [3.0, 3.0], [18.0, 18.0]]), 3.0)
    {1: 1}
    """
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    shapes = object_shapes(instances)
    if shapes.ids.size == 0 or xy.shape[0] == 0:
        return {}
    cen = shapes.centroid[:, ::-1]  # (x, y)
    pairs: set[tuple[int, int]] = set()
    tree = cKDTree(cen)
    for p, near in enumerate(tree.query_ball_point(xy, r=radius)):
        pairs.update((k, p) for k in near)
    rows, cols = instances.shape
    rr = np.clip(np.rint(xy[:, 1]).astype(np.int64), 0, rows - 1)
    cc = np.clip(np.rint(xy[:, 0]).astype(np.int64), 0, cols - 1)
    under = instances[rr, cc]
    pos = {int(i): k for k, i in enumerate(shapes.ids.tolist())}
    for p, ident in enumerate(under.tolist()):
        if ident > 0:
            pairs.add((pos[int(ident)], p))
    if not pairs:
        return {}
    arr = np.array(sorted(pairs), np.int64)
    dist = np.hypot(*(cen[arr[:, 0]] - xy[arr[:, 1]]).T)
    order = np.lexsort((arr[:, 1], arr[:, 0], dist))
    used_n: set[int] = set()
    used_p: set[int] = set()
    out: dict[int, int] = {}
    for k, p in arr[order].tolist():
        if k in used_n or p in used_p:
            continue
        used_n.add(k)
        used_p.add(p)
        out[int(shapes.ids[k])] = int(p)
    return out
