"""What the export formats share: the class and the box of each instance, JSON numbers.

The formats (:mod:`~synthlang.data.formats.coco`, :mod:`~synthlang.data.formats.geojson`,
:mod:`~synthlang.data.formats.hovernet`) are pure functions of a sample's arrays plus a
writer; this module holds the arithmetic they have in common.
"""

from __future__ import annotations

import numpy as np

__all__ = ["instance_classes", "instance_boxes", "json_number"]


def instance_classes(instances: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """The class id of every instance: the most frequent class id on its pixels.

    Parameters
    ----------
    instances : numpy.ndarray
        ``(H, W)`` integer instance ids, 0 = no instance.
    labels : numpy.ndarray
        ``(H, W)`` integer class ids, 0 = background.

    Returns
    -------
    dict of int to int
        Instance id to class id, for every id > 0 on the map, in id order.
        Ties go to the lower class id; an instance whose pixels are all
        background gets 0.

    Examples
    --------
    >>> inst = np.array([[1, 1, 0], [2, 2, 2]])
    >>> lab = np.array([[3, 3, 0], [1, 2, 2]])
    >>> instance_classes(inst, lab)
    {1: 3, 2: 2}
    """
    inst = np.asarray(instances).ravel()
    lab = np.asarray(labels).ravel()
    if inst.shape != lab.shape:
        raise ValueError(f"instances {np.shape(instances)} and labels {np.shape(labels)} differ")
    on = inst > 0
    ids = inst[on].astype(np.int64)
    cls = lab[on].astype(np.int64)
    if ids.size == 0:
        return {}
    # count each (instance, class) pair; the background class counts only when nothing else does
    keys, counts = np.unique(ids * 65536 + cls, return_counts=True)
    pair_id, pair_cls = keys // 65536, keys % 65536
    score = np.where(pair_cls > 0, counts, 0)
    # per instance: highest score, then lowest class id
    order = np.lexsort((pair_cls, -score, pair_id))
    first = np.ones(order.size, dtype=bool)
    first[1:] = pair_id[order][1:] != pair_id[order][:-1]
    best = order[first]
    return {int(i): int(c) for i, c in zip(pair_id[best], pair_cls[best], strict=True)}


def instance_boxes(instances: np.ndarray) -> dict[int, tuple[slice, slice]]:
    """The bounding box (row slice, column slice) of every instance id > 0 on the map."""
    from scipy import ndimage as ndi

    inst = np.asarray(instances)
    if inst.size == 0 or int(inst.max(initial=0)) <= 0:
        return {}
    boxes = ndi.find_objects(inst.astype(np.int32, copy=False))
    return {k + 1: (box[0], box[1]) for k, box in enumerate(boxes) if box is not None}


def json_number(value: float) -> int | float:
    """An integral float as int (``3`` rather than ``3.0`` in JSON), others unchanged."""
    f = float(value)
    return int(f) if f.is_integer() else f
