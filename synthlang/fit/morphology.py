"""Nucleus shape statistics from a per-nucleus morphology table (``synthlang fit --morphology``).

The table is a CSV file (optionally gzip-compressed, ``.gz``) with a header
and one row per nucleus, in the format of the PUMA challenge's
``puma_all205_nuclei_morphology.csv.gz``::

    roi,lesion,class,cx_px,cy_px,area_px,perimeter_px,rect_major_px,rect_minor_px,circularity

Required columns are ``class``, ``rect_major_px`` and ``rect_minor_px`` (the
sides of the minimum-area rotated rectangle around the nucleus, in the
table's pixels); ``roi``, ``cx_px`` and ``cy_px`` are optional and used to
leave out nuclei of a given image or outside a crop. Other columns are
ignored.

Semi-axes are half the rectangle sides: the minimum-area rectangle of an
ellipse with semi-axes ``a >= b`` is ``2a x 2b``. On the expert polygons of
PUMA ``training_set_metastatic_roi_094`` these agree with the semi-axes of
the moment ellipse that ``synthlang fit`` measures on annotated images
(median ratio 0.95 for the major and 0.97 for the minor semi-axis).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthlang.common.errors import DataError

__all__ = [
    "PUMA_PIXEL_SIZE_UM",
    "MorphologyTable",
    "ClassAxes",
    "read_morphology",
    "class_semi_axes",
]

PUMA_PIXEL_SIZE_UM = 0.25
"""µm per pixel of the PUMA morphology table (40x), the default of ``--morphology-pixel-size``."""

_REQUIRED = ("class", "rect_major_px", "rect_minor_px")
_MAX_ROWS = 10_000_000


@dataclass(frozen=True)
class MorphologyTable:
    """The rows of a morphology table that matter for shapes.

    Attributes
    ----------
    path : Path
        The file read.
    roi : numpy.ndarray
        ``(n,)`` object array: image name of each nucleus (``""`` without a
        ``roi`` column).
    cls : numpy.ndarray
        ``(n,)`` object array: class as written in the table.
    cx, cy : numpy.ndarray
        ``(n,)`` centroid column and row in the table's pixels (NaN without
        ``cx_px`` / ``cy_px`` columns).
    semi_major, semi_minor : numpy.ndarray
        ``(n,)`` semi-axes in the table's pixels (half the rotated-rectangle
        sides), ``semi_major >= semi_minor > 0``.
    """

    path: Path
    roi: np.ndarray
    cls: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    semi_major: np.ndarray
    semi_minor: np.ndarray

    def __len__(self) -> int:
        return int(self.cls.size)


@dataclass(frozen=True)
class ClassAxes:
    """Semi-axes of one class at the working scale, with where they came from.

    Attributes
    ----------
    semi_major, semi_minor : numpy.ndarray
        ``(n,)`` semi-axes in working pixels.
    source : str
        One line for the library header: file, table classes, count, scaling.
    """

    semi_major: np.ndarray
    semi_minor: np.ndarray
    source: str


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")  # noqa: SIM115 - closed by the caller


def read_morphology(path: str | Path) -> MorphologyTable:
    r"""Read a per-nucleus morphology table (CSV or CSV.gz, see the module docstring).

    Parameters
    ----------
    path : str or Path
        The table.

    Returns
    -------
    MorphologyTable

    Raises
    ------
    DataError
        Missing file or columns, non-numeric or non-positive axis values,
        an empty table, or a file that is not (gzip-compressed) UTF-8 CSV.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = p.write_text("class,rect_major_px,rect_minor_px\ntumor,20,10\n")
    >>> t = read_morphology(p)
    >>> t.cls.tolist(), t.semi_major.tolist(), t.semi_minor.tolist()
    (['tumor'], [10.0], [5.0])
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (--morphology)")
    roi: list[str] = []
    cls: list[str] = []
    nums: list[tuple[float, float, float, float]] = []
    try:
        with _open_text(path) as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataError(
                    f"{path}: empty file; expected a CSV header with columns {', '.join(_REQUIRED)}"
                )
            cols = {name.strip().lower(): k for k, name in enumerate(header)}
            missing = [c for c in _REQUIRED if c not in cols]
            if missing:
                raise DataError(
                    f"{path}: missing column(s) {', '.join(missing)} (found: "
                    f"{', '.join(h.strip() for h in header) or 'none'}); a morphology table "
                    f"needs {', '.join(_REQUIRED)} and optionally roi, cx_px, cy_px"
                )
            k_cls, k_major, k_minor = (cols[c] for c in _REQUIRED)
            k_roi, k_cx, k_cy = cols.get("roi"), cols.get("cx_px"), cols.get("cy_px")
            width = len(header)
            for line, row in enumerate(reader, start=2):
                if not row or all(not v.strip() for v in row):
                    continue
                if len(row) != width:
                    raise DataError(
                        f"{path}: line {line} has {len(row)} fields, the header {width}"
                    )
                if len(cls) >= _MAX_ROWS:
                    raise DataError(f"{path}: more than {_MAX_ROWS:,} rows")
                values = []
                for k in (k_major, k_minor, k_cx, k_cy):
                    if k is None:
                        values.append(math.nan)
                        continue
                    try:
                        values.append(float(row[k]))
                    except ValueError:
                        raise DataError(
                            f"{path}: line {line}, column {header[k].strip()}: {row[k]!r} is "
                            "not a number"
                        ) from None
                major, minor = values[0], values[1]
                if not (math.isfinite(major) and math.isfinite(minor) and minor > 0):
                    raise DataError(
                        f"{path}: line {line}: rect_major_px and rect_minor_px must be positive "
                        f"numbers, got {row[k_major]!r} and {row[k_minor]!r}"
                    )
                cls.append(row[k_cls].strip())
                roi.append(row[k_roi].strip() if k_roi is not None else "")
                nums.append((max(major, minor), min(major, minor), values[2], values[3]))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, gzip.BadGzipFile) as exc:
        raise DataError(
            f"{path}: not a readable CSV{' (gzip)' if path.suffix == '.gz' else ''} file ({exc})"
        ) from None
    if not cls:
        raise DataError(f"{path}: the morphology table has no rows")
    arr = np.asarray(nums, dtype=np.float64).reshape(-1, 4)
    return MorphologyTable(
        path=path,
        roi=np.asarray(roi, dtype=object),
        cls=np.asarray(cls, dtype=object),
        cx=arr[:, 2],
        cy=arr[:, 3],
        semi_major=arr[:, 0] / 2,
        semi_minor=arr[:, 1] / 2,
    )


def class_semi_axes(
    table: MorphologyTable,
    name_of: Callable[[str], str | None],
    *,
    factor: float,
    exclude_rois: Iterable[str] = (),
    crops: Mapping[str, tuple[float, float, float, float]] | None = None,
) -> tuple[dict[str, ClassAxes], list[str]]:
    """Semi-axes per (renamed) class, scaled to the working pixels.

    Parameters
    ----------
    table : MorphologyTable
        From :func:`read_morphology`.
    name_of : callable
        Table class -> library class name, or None to leave the class out
        (``synthlang fit`` passes its ``--class-names`` renaming).
    factor : float
        Working pixels per table pixel (table µm/px / working µm/px).
    exclude_rois : iterable of str
        Leave out every nucleus whose ``roi`` is one of these.
    crops : mapping, optional
        ``roi -> (row0, row1, col0, col1)`` in table pixels: nuclei of that
        ``roi`` count only if their centroid lies inside (end exclusive).
        ``synthlang fit`` passes the ``--crop`` of every input image whose
        file stem is a ``roi`` of the table, so that a fit on the top half
        of an image takes no shape from its bottom half.

    Returns
    -------
    axes : dict
        Class name -> :class:`ClassAxes`.
    notes : list of str
        What was left out, for the user.
    """
    keep = np.ones(len(table), bool)
    notes: list[str] = []
    excluded = set(exclude_rois)
    if excluded:
        drop = np.isin(table.roi, list(excluded))
        unknown = excluded - set(table.roi.tolist())
        if unknown:
            notes.append(
                f"{table.path.name}: --morphology-exclude {', '.join(sorted(unknown))}: no such roi"
            )
        keep &= ~drop
        notes.append(f"{table.path.name}: {int(drop.sum())} nuclei of excluded rois left out")
    for roi, (r0, r1, c0, c1) in (crops or {}).items():
        mine = table.roi == roi
        if not mine.any():
            continue
        if np.isnan(table.cx[mine]).any() or np.isnan(table.cy[mine]).any():
            raise DataError(
                f"{table.path}: roi {roi} is an input image cropped with --crop, but the table "
                "has no cx_px, cy_px columns to apply the crop; leave it out with "
                f"--morphology-exclude {roi}"
            )
        inside = (table.cy >= r0) & (table.cy < r1) & (table.cx >= c0) & (table.cx < c1)
        out = mine & ~inside & keep
        if out.any():
            keep &= ~out
            notes.append(
                f"{table.path.name}: {int(out.sum())} nuclei of {roi} outside --crop left out"
            )
    names: dict[str, str | None] = {c: name_of(c) for c in set(table.cls[keep].tolist())}
    groups: dict[str, list[str]] = {}
    for raw, name in names.items():
        if name is not None:
            groups.setdefault(name, []).append(raw)
    out_axes: dict[str, ClassAxes] = {}
    for name, raws in groups.items():
        sel = keep & np.isin(table.cls, raws)
        listing = "+".join(sorted(raws))
        out_axes[name] = ClassAxes(
            semi_major=table.semi_major[sel] * factor,
            semi_minor=table.semi_minor[sel] * factor,
            source=(
                f"{table.path.name}, {listing}: {int(sel.sum())} nuclei, half the rotated-"
                f"rectangle sides x {factor:.6g}"
            ),
        )
    return out_axes, notes
