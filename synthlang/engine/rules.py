"""Mask rules: which objects are classified, and the ground-truth mask they make.

The same code labels rendered samples and real annotated images. It works on
an :class:`ObjectTable`: one row per object with its category, centre, full
and visible area, its full mask (in its bounding box) and the visible
instance map. Build one from a render (:meth:`ObjectTable.from_instances`,
hidden parts of objects known) or from an annotation
(:meth:`ObjectTable.from_instance_map`, where the full shape is the visible
shape).

Rules are applied as ordered passes (:func:`apply_rules`): each
:class:`~synthlang.ir.MaskRule` selects the objects of its category whose
condition holds, marks them classified and sets their pixels to 1 in the mask
(the full shape, or only the visible pixels with ``visible_only``); the
passes are or-combined.

Mask classes (:func:`apply_classes`, ``mask classes { }``, or the plain rules
as one class) label the same pixels: each selected object gets the id
(1, 2, ...) of the first class that selects it, and the labelled objects are
painted in z-order (layer index bottom to top, then object order within the
layer, as the compositor draws them), so an upper object's class and instance
id overwrite a lower one's. The binary mask is ``labels > 0``.

Metrics (exactly as documented in :mod:`synthlang.ir`), registered in
:data:`METRICS` by ``kind``:

``concentration(C, radius R)``
    Pixels ``p`` (pixel centres at integer coordinates) with
    ``|p - centre| <= R`` covered by the full shape of some object of ``C``,
    divided by the number of pixels of that disk inside the image.
``count(C, radius R)``
    Other objects of ``C`` whose centre is within ``R`` of this centre.
``visible``
    Visible area / area (0 for an empty object).
``area``
    Area in pixels (full shape, inside the image).

Example
-------
>>> imap = np.zeros((5, 5), np.int32); imap[0:2, 0:2] = 1; imap[3:5, 3:5] = 2
>>> table = ObjectTable.from_instance_map(imap, {1: "cell", 2: "cell"})
>>> rule = ir.MaskRule(category="cell", condition=ir.Compare(
...     metric=ir.Area(), op=">=", value=4))
>>> res = apply_rules([rule], table)
>>> int(res.mask.sum()), res.classified.tolist()
(8, [True, True])
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from synthlang import ir
from synthlang.common.errors import DataError

__all__ = [
    "ObjectTable",
    "RuleResult",
    "METRICS",
    "CONDITIONS",
    "register_metric",
    "disk_sums",
    "metric_values",
    "evaluate",
    "classify",
    "apply_rules",
    "apply_classes",
]


@dataclass
class ObjectTable:
    """Per-object data that mask rules need, for rendered or annotated images.

    Attributes
    ----------
    shape : tuple of int
        ``(H, W)``.
    ids : numpy.ndarray
        ``(n,)`` int64 instance ids (values of ``instance_map``).
    categories : numpy.ndarray
        ``(n,)`` object array of category names.
    layers : numpy.ndarray
        ``(n,)`` int64 layer index (-1 when unknown, e.g. annotations).
    centers : numpy.ndarray
        ``(n, 2)`` float64 ``(row, col)`` centres.
    areas, visible_areas : numpy.ndarray
        ``(n,)`` int64 full and visible pixel counts.
    instance_map : numpy.ndarray
        ``(H, W)`` integer id of the visible object per pixel, 0 for none.
    boxes : list of tuple
        ``(r0, c0, mask)`` per row: the full shape in its bounding box.
    visible_boxes : list of numpy.ndarray or None
        Per row, the visible pixels in the same bounding box, when they are not the
        object's pixels of ``instance_map`` (a render with additive layers, which hide
        nothing: :mod:`synthlang.engine.visibility`); None otherwise.
    """

    shape: tuple[int, int]
    ids: np.ndarray
    categories: np.ndarray
    layers: np.ndarray
    centers: np.ndarray
    areas: np.ndarray
    visible_areas: np.ndarray
    instance_map: np.ndarray
    boxes: list[tuple[int, int, np.ndarray]]
    visible_boxes: list[np.ndarray] | None = None
    _coverage: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def from_instances(
        cls,
        instances: Sequence[Any],
        instance_map: np.ndarray,
        *,
        coverage: Mapping[str, np.ndarray] | None = None,
        visible: Mapping[int, np.ndarray] | None = None,
    ) -> ObjectTable:
        """Build from rendered instances (:class:`synthlang.engine.base.Instance`).

        Parameters
        ----------
        instances : sequence of Instance
            All instances of the sample.
        instance_map : numpy.ndarray
            ``(H, W)`` id of the topmost instance per pixel.
        coverage : mapping, optional
            Precomputed ``category -> (H, W) bool`` union of full shapes; computed
            from the instances when missing.
        visible : mapping, optional
            ``id -> (h, w) bool`` visible pixels of each instance in its bounding box
            (:func:`synthlang.engine.visibility.visible_masks`); by default the pixels
            where it is the topmost instance of ``instance_map``.
        """
        n = len(instances)
        ids = np.fromiter((i.id for i in instances), dtype=np.int64, count=n)
        top = int(
            max(int(ids.max()) if n else 0, int(instance_map.max()) if instance_map.size else 0)
        )
        vis = np.bincount(instance_map.ravel(), minlength=top + 1)
        table = cls(
            shape=(int(instance_map.shape[0]), int(instance_map.shape[1])),
            ids=ids,
            categories=np.array([i.category for i in instances], dtype=object),
            layers=np.fromiter((i.layer for i in instances), dtype=np.int64, count=n),
            centers=np.array([i.center for i in instances], dtype=np.float64).reshape(n, 2),
            areas=np.fromiter((i.area for i in instances), dtype=np.int64, count=n),
            visible_areas=vis[ids].astype(np.int64) if n else np.zeros(0, np.int64),
            instance_map=instance_map,
            boxes=[(i.r0, i.c0, i.mask) for i in instances],
        )
        if coverage:
            table._coverage.update(coverage)
        if visible is not None:
            table.visible_boxes = [visible[i.id] for i in instances]
            table.visible_areas = np.fromiter(
                (int(np.count_nonzero(m)) for m in table.visible_boxes), dtype=np.int64, count=n
            )
        return table

    @classmethod
    def from_instance_map(
        cls, instance_map: np.ndarray, categories: Mapping[int, str]
    ) -> ObjectTable:
        """Build from an annotation: an instance map and the category of each id.

        The full shape of each object is its visible shape; centres are
        centroids. Ids in ``categories`` that do not occur in the map are
        ignored.

        Raises
        ------
        DataError
            If the map is not 2-d integer, or contains an id that ``categories``
            does not name.
        """
        imap = np.asarray(instance_map)
        if imap.ndim != 2 or not np.issubdtype(imap.dtype, np.integer):
            raise DataError(
                f"an instance map must be a 2-d integer array, got {imap.dtype} {imap.shape}"
            )
        if imap.size and int(imap.min()) < 0:
            raise DataError("instance ids must be >= 0 (0 = no object)")
        present = np.unique(imap)
        present = present[present > 0]
        missing = [int(i) for i in present if int(i) not in categories]
        if missing:
            raise DataError(f"instance ids {missing[:10]} have no category")
        boxes = []
        centers = []
        areas = []
        slices = ndimage.find_objects(imap.astype(np.intp, copy=False))
        for i in present.tolist():
            sl = slices[i - 1]
            assert sl is not None
            m = imap[sl] == i
            rows, cols = np.nonzero(m)
            boxes.append((sl[0].start, sl[1].start, m))
            centers.append((rows.mean() + sl[0].start, cols.mean() + sl[1].start))
            areas.append(rows.size)
        n = len(boxes)
        area = np.asarray(areas, dtype=np.int64)
        return cls(
            shape=(int(imap.shape[0]), int(imap.shape[1])),
            ids=present.astype(np.int64),
            categories=np.array([categories[int(i)] for i in present], dtype=object),
            layers=np.full(n, -1, dtype=np.int64),
            centers=np.asarray(centers, dtype=np.float64).reshape(n, 2),
            areas=area,
            visible_areas=area.copy(),
            instance_map=imap,
            boxes=boxes,
        )

    @classmethod
    def from_sample(cls, sample: Any) -> ObjectTable:
        """Build from a rendered :class:`~synthlang.engine.base.Sample` (or a stored one).

        Only the visible instance map is available there, so this is
        :meth:`from_instance_map` with the sample's categories: hidden parts
        of objects are not known, exactly as for annotated real images.
        """
        return cls.from_instance_map(
            sample.instance_map, {int(r.id): str(r.category) for r in sample.instances}
        )

    def rows(self, category: str) -> np.ndarray:
        """Row indices of the objects of ``category``."""
        return np.flatnonzero(self.categories == category)

    def coverage(self, category: str) -> np.ndarray:
        """Boolean ``(H, W)`` union of the full shapes of ``category``'s objects (cached)."""
        if category not in self._coverage:
            cov = np.zeros(self.shape, dtype=bool)
            for k in self.rows(category).tolist():
                r0, c0, m = self.boxes[k]
                cov[r0 : r0 + m.shape[0], c0 : c0 + m.shape[1]] |= m
            self._coverage[category] = cov
        return self._coverage[category]


@dataclass
class RuleResult:
    """Result of :func:`apply_rules` and :func:`apply_classes`.

    Attributes
    ----------
    mask : numpy.ndarray
        ``(H, W)`` float32 in {0, 1}: ``labels > 0``.
    classified : numpy.ndarray
        ``(n,)`` bool per table row: ``label > 0``.
    labels : numpy.ndarray
        ``(H, W)`` uint8 class id per pixel (1.. in declaration order), 0 for the background.
    label_instances : numpy.ndarray
        ``(H, W)`` int32 id of the labelled object per pixel, 0 elsewhere.
    label : numpy.ndarray
        ``(n,)`` uint8 class id per table row, 0 for objects of no class.
    """

    mask: np.ndarray
    classified: np.ndarray
    labels: np.ndarray
    label_instances: np.ndarray
    label: np.ndarray

    def classified_ids(self, table: ObjectTable) -> set[int]:
        """Ids of the classified objects."""
        return {int(i) for i in table.ids[self.classified]}


# --------------------------------------------------------------------------- metrics


def disk_sums(
    image: np.ndarray, centers: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of ``image`` and pixel count over disks ``|p - c| <= radius`` clipped to the image.

    Exact for any real centres: pixel ``p`` (integer row/col) is in the disk
    when its centre is. Uses row-wise prefix sums, so the cost is
    ``O(H W + n R)``.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` values (bool or numeric).
    centers : numpy.ndarray
        ``(n, 2)`` ``(row, col)`` centres.
    radius : float
        Disk radius in pixels.

    Returns
    -------
    sums, counts : numpy.ndarray
        ``(n,)`` float64 sums and int64 numbers of disk pixels inside the image.

    Examples
    --------
    >>> s, n = disk_sums(np.ones((5, 5)), np.array([[0.0, 0.0], [2.0, 2.0]]), 1.0)
    >>> s.tolist(), n.tolist()
    ([3.0, 5.0], [3, 5])
    """
    h, w = image.shape
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    if centers.shape[0] == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    prefix = np.zeros((h, w + 1), dtype=np.int32 if image.dtype == bool else np.float64)
    np.cumsum(image, axis=1, dtype=prefix.dtype, out=prefix[:, 1:])
    k = int(math.ceil(radius)) + 1
    r2 = radius * radius
    cr = centers[:, 0:1]
    cc = centers[:, 1:2]
    r = np.floor(cr) + np.arange(-k, k + 1)[None, :]
    dy2 = (r - cr) ** 2
    w2 = r2 - dy2
    half = np.sqrt(np.clip(w2, 0.0, None))
    # column interval from the square root, then made exact: (c - cc)^2 + dy^2 <= R^2
    lo = np.ceil(cc - half)
    hi = np.floor(cc + half)
    lo -= ((lo - 1 - cc) ** 2 + dy2 <= r2).astype(np.float64)
    lo += ((lo - cc) ** 2 + dy2 > r2).astype(np.float64)
    hi += ((hi + 1 - cc) ** 2 + dy2 <= r2).astype(np.float64)
    hi -= ((hi - cc) ** 2 + dy2 > r2).astype(np.float64)
    lo = np.clip(lo, 0, w).astype(np.intp)
    hi = np.clip(hi, -1, w - 1).astype(np.intp)
    cnt = hi - lo + 1
    valid = (w2 >= 0) & (r >= 0) & (r < h) & (cnt > 0)
    rr = np.clip(r, 0, h - 1).astype(np.intp)
    s = prefix[rr, np.clip(hi + 1, 0, w)] - prefix[rr, lo]
    sums = np.where(valid, s, 0).sum(axis=1).astype(np.float64)
    counts = np.where(valid, cnt, 0).sum(axis=1).astype(np.int64)
    return sums, counts


Metric = Callable[[Any, ObjectTable, np.ndarray], np.ndarray]
METRICS: dict[str, Metric] = {}
"""Per-object metrics by IR ``kind``: ``fn(metric_ir, table, rows) -> (len(rows),) float64``."""


def register_metric(kind: str) -> Callable[[Metric], Metric]:
    """Decorator: register a per-object metric under its IR ``kind`` in :data:`METRICS`."""

    def deco(fn: Metric) -> Metric:
        METRICS[kind] = fn
        return fn

    return deco


@register_metric("concentration")
def concentration(metric: ir.Concentration, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    """Covered fraction of the image part of the disk around each object's centre."""
    sums, counts = disk_sums(table.coverage(metric.category), table.centers[rows], metric.radius)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


@register_metric("count")
def count_within(metric: ir.CountWithin, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    """Number of other objects of the category with centres within the radius."""
    others = table.rows(metric.category)
    if rows.size == 0 or others.size == 0:
        return np.zeros(rows.size)
    d = table.centers[rows][:, None, :] - table.centers[others][None, :, :]
    near = (d**2).sum(axis=2) <= metric.radius**2
    near &= table.ids[rows][:, None] != table.ids[others][None, :]
    return near.sum(axis=1).astype(np.float64)


@register_metric("visible")
def visible_fraction(
    metric: ir.VisibleFraction, table: ObjectTable, rows: np.ndarray
) -> np.ndarray:
    """Visible area over area (0 for empty objects)."""
    a = table.areas[rows].astype(np.float64)
    v = table.visible_areas[rows].astype(np.float64)
    return np.divide(v, a, out=np.zeros_like(a), where=a > 0)


@register_metric("area")
def area(metric: ir.Area, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    """Full area in pixels."""
    return table.areas[rows].astype(np.float64)


def metric_values(metric: Any, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    """Evaluate a metric for the given rows through :data:`METRICS`.

    Raises
    ------
    KeyError
        If the metric kind is not registered.
    """
    return METRICS[metric.kind](metric, table, rows)


# --------------------------------------------------------------------------- conditions

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

Condition = Callable[[Any, ObjectTable, np.ndarray], np.ndarray]
CONDITIONS: dict[str, Condition] = {}
"""Condition evaluators by IR ``kind``: ``fn(cond_ir, table, rows) -> (len(rows),) bool``."""


def evaluate(condition: Any, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    """Evaluate a condition for the given rows (``(len(rows),)`` bool)."""
    return CONDITIONS[condition.kind](condition, table, rows)


def _compare(cond: ir.Compare, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    values = metric_values(cond.metric, table, rows)
    return np.asarray(_OPS[cond.op](values, cond.value), dtype=bool)


def _and(cond: ir.And, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    out = np.ones(rows.size, dtype=bool)
    for arg in cond.args:
        out &= evaluate(arg, table, rows)
    return out


def _or(cond: ir.Or, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    out = np.zeros(rows.size, dtype=bool)
    for arg in cond.args:
        out |= evaluate(arg, table, rows)
    return out


def _not(cond: ir.Not, table: ObjectTable, rows: np.ndarray) -> np.ndarray:
    return ~evaluate(cond.arg, table, rows)


CONDITIONS.update({"compare": _compare, "and": _and, "or": _or, "not": _not})


# --------------------------------------------------------------------------- rules


def classify(rule: ir.MaskRule, table: ObjectTable) -> np.ndarray:
    """Rows of the table that ``rule`` classifies.

    These are the objects of the rule's category for which its condition holds.
    """
    rows = table.rows(rule.category)
    if rule.condition is None or rows.size == 0:
        return rows
    return rows[evaluate(rule.condition, table, rows)]


def apply_rules(rules: Sequence[ir.MaskRule], table: ObjectTable) -> RuleResult:
    """Apply mask rules in order and or-combine them (one class, id 1).

    Parameters
    ----------
    rules : sequence of synthlang.ir.MaskRule
        The scene's mask rules.
    table : ObjectTable
        The objects of one image.

    Returns
    -------
    RuleResult
        The float32 {0, 1} mask, the classified flag of each table row and the
        class maps of :func:`apply_classes` with every classified object in class 1.
    """
    classes = (ir.MaskClass(name="mask", rules=tuple(rules)),) if rules else ()
    return apply_classes(classes, table)


def apply_classes(classes: Sequence[ir.MaskClass], table: ObjectTable) -> RuleResult:
    """Label the objects and pixels of one image with mask classes.

    Each object gets the id (1-based, in order) of the first class with a rule that
    selects it. Its pixels are its full shape when a full-shape rule (of any class)
    selects it, else its visible pixels; objects are painted in z-order (layer
    index, then table order), an upper one overwriting a lower one, so the union
    of the painted pixels is the or-combined mask of all rules.

    Parameters
    ----------
    classes : sequence of synthlang.ir.MaskClass
        The scene's classes (:meth:`synthlang.ir.Scene.mask_classes`), at most 255.
    table : ObjectTable
        The objects of one image.

    Returns
    -------
    RuleResult
        Mask, class map, labelled-instance map and the class id of each row.

    Raises
    ------
    ValueError
        With more than 255 classes.

    Examples
    --------
    >>> imap = np.zeros((4, 4), np.int32); imap[:, :2] = 1; imap[:, 2:] = 2
    >>> table = ObjectTable.from_instance_map(imap, {1: "a", 2: "b"})
    >>> res = apply_classes([ir.MaskClass(name="x", rules=(ir.MaskRule(category="b"),)),
    ...                      ir.MaskClass(name="y", rules=(ir.MaskRule(category="a"),))], table)
    >>> res.labels[0].tolist(), res.label.tolist()
    ([2, 2, 1, 1], [2, 1])
    """
    if len(classes) > ir.MAX_CLASSES:
        raise ValueError(f"at most {ir.MAX_CLASSES} mask classes, got {len(classes)}")
    n = len(table)
    label = np.zeros(n, dtype=np.uint8)
    full = np.zeros(n, dtype=bool)
    for k, cls in enumerate(classes, start=1):
        for rule in cls.rules:
            rows = classify(rule, table)
            label[rows[label[rows] == 0]] = k  # the first class that selects an object wins
            if not rule.visible_only:
                full[rows] = True
    labels = np.zeros(table.shape, dtype=np.uint8)
    instances = np.zeros(table.shape, dtype=np.int32)
    if table.visible_boxes is not None:
        # visible pixels may lie under an (additive) object above: everything in z-order
        _paint(labels, instances, table, label, np.flatnonzero(label > 0), full)
        return RuleResult(
            mask=(labels > 0).astype(np.float32),
            classified=label > 0,
            labels=labels,
            label_instances=instances,
            label=label,
        )
    _paint(labels, instances, table, label, np.flatnonzero(full), full)
    # visible pixels last: no object above covers them, so this is the z-order result too
    rows = np.flatnonzero((label > 0) & ~full)
    if rows.size:
        top = int(max(int(table.instance_map.max()), int(table.ids.max())))
        lut = np.zeros(top + 1, dtype=np.uint8)
        lut[table.ids[rows]] = label[rows]
        at = lut.take(table.instance_map)
        hit = at > 0
        labels[hit] = at[hit]
        instances[hit] = table.instance_map[hit]
    return RuleResult(
        mask=(labels > 0).astype(np.float32),
        classified=label > 0,
        labels=labels,
        label_instances=instances,
        label=label,
    )


def _paint(
    labels: np.ndarray,
    instances: np.ndarray,
    table: ObjectTable,
    label: np.ndarray,
    rows: np.ndarray,
    full: np.ndarray,
) -> None:
    """Paint the objects of ``rows`` in z-order (layer, then table order), in place.

    An object paints its full shape where ``full`` is set, else its visible pixels
    (``table.visible_boxes``, which must then be known).
    """
    for k in rows[np.argsort(table.layers[rows], kind="stable")].tolist():
        r0, c0, m = table.boxes[k]
        if not full[k]:
            assert table.visible_boxes is not None
            m = table.visible_boxes[k]
        box = (slice(r0, r0 + m.shape[0]), slice(c0, c0 + m.shape[1]))
        np.copyto(labels[box], label[k], where=m)
        np.copyto(instances[box], table.ids[k], where=m)
