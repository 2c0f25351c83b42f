"""COCO instance segmentation: one ``annotations/coco.json`` for a dataset folder.

The file follows the COCO "instances" layout that ``pycocotools.coco.COCO`` reads:

* ``images``: one per sample, ``{"id": index + 1, "file_name": "noisy/NAME.png",
  "width": W, "height": H}``;
* ``categories``: the dataset's classes, ``{"id": k, "name": CLASS, "supercategory":
  "object"}`` with ``k`` the class id (1..K, as in ``labels/``);
* ``annotations``: one per labelled instance (an id > 0 in ``instances/NAME.png``), in
  sample order and then id order, with ids 1, 2, ...: ``segmentation`` (an uncompressed-size
  COCO RLE from ``pycocotools.mask.encode``, ``counts`` as a str), ``area`` (pixels),
  ``bbox`` ``[x, y, w, h]`` (x = column, y = row of the top-left pixel; w, h in pixels),
  ``iscrowd`` 0, ``category_id`` (the instance's class) and ``instance_id`` (its id in
  ``instances/NAME.png``; an extra key that COCO readers ignore).

The bytes depend only on the stored samples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synthlang.common.fileio import atomic_writer
from synthlang.data.formats.base import instance_boxes, instance_classes

__all__ = [
    "COCO_FILE",
    "instance_annotations",
    "coco_categories",
    "coco_sample",
    "CocoWriter",
]

COCO_FILE = Path("annotations") / "coco.json"
"""Where the file goes, relative to the dataset folder."""

_BATCH_BYTES = 64 * 1024**2
"""Most bytes of full-size masks handed to ``pycocotools.mask.encode`` at once."""


def coco_categories(classes: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """The COCO categories of a dataset's classes (class id = index + 1)."""
    return [
        {"id": k + 1, "name": str(name), "supercategory": "object"}
        for k, name in enumerate(classes)
    ]


def instance_annotations(instances: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    """COCO annotations (without ``id`` and ``image_id``) of every instance of a sample.

    Parameters
    ----------
    instances : numpy.ndarray
        ``(H, W)`` instance ids, 0 = none (``instances/NAME.png``).
    labels : numpy.ndarray
        ``(H, W)`` class ids, 0 = background (``labels/NAME.png``).

    Returns
    -------
    list of dict
        One per instance id > 0 whose class is not 0, in id order: ``segmentation``
        (RLE, ``counts`` str), ``area``, ``bbox`` ``[x, y, w, h]``, ``iscrowd`` 0,
        ``category_id`` (:func:`~synthlang.data.formats.base.instance_classes`) and
        ``instance_id``.

    Examples
    --------
    >>> inst = np.zeros((4, 5), np.int32); inst[1:3, 2:5] = 7
    >>> [ann] = instance_annotations(inst, (inst > 0).astype(np.uint8) * 2)
    >>> ann["bbox"], ann["area"], ann["category_id"], ann["instance_id"]
    ([2, 1, 3, 2], 6, 2, 7)
    """
    from pycocotools import mask as mask_util

    inst = np.asarray(instances)
    if inst.ndim != 2:
        raise ValueError(f"instances must be (H, W), got shape {inst.shape}")
    rows, cols = inst.shape
    classes = instance_classes(inst, labels)
    boxes = instance_boxes(inst)
    ids = [i for i, c in classes.items() if c > 0]
    areas = np.bincount(inst[inst > 0].astype(np.int64).ravel(), minlength=max(ids, default=0) + 1)
    batch = max(1, _BATCH_BYTES // max(rows * cols, 1))
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        masks = np.zeros((rows, cols, len(chunk)), dtype=np.uint8, order="F")
        for k, i in enumerate(chunk):
            rs, cs = boxes[i]
            masks[rs, cs, k] = inst[rs, cs] == i
        for i, rle in zip(chunk, mask_util.encode(masks), strict=True):
            rs, cs = boxes[i]
            out.append(
                {
                    "segmentation": {
                        "size": [int(rle["size"][0]), int(rle["size"][1])],
                        "counts": rle["counts"].decode("ascii"),
                    },
                    "area": int(areas[i]),
                    "bbox": [cs.start, rs.start, cs.stop - cs.start, rs.stop - rs.start],
                    "iscrowd": 0,
                    "category_id": classes[i],
                    "instance_id": i,
                }
            )
    return out


def coco_sample(sample: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The COCO image entry and annotations (without ids) of one stored sample.

    Parameters
    ----------
    sample : dict
        ``name``, ``index``, ``instances`` and ``labels``
        (:func:`synthlang.data.sampleio.read_raw_sample`).
    """
    from synthlang.common.channels import RGB_CHANNELS, image_suffix

    inst = sample["instances"]
    suffix = image_suffix(len(sample.get("channels", RGB_CHANNELS)))
    image = {
        "id": int(sample["index"]) + 1,
        "file_name": f"noisy/{sample['name']}{suffix}",
        "width": int(inst.shape[1]),
        "height": int(inst.shape[0]),
    }
    return image, instance_annotations(inst, sample["labels"])


class CocoWriter:
    """Writes ``annotations/coco.json`` sample by sample, streaming the annotations.

    The file is written under a temporary name and renamed into place by
    :meth:`finish`; :meth:`abort` removes it.

    Parameters
    ----------
    out : Path
        The dataset folder.
    manifest : dict
        Its manifest (:func:`synthlang.data.sampleio.read_manifest`).
    """

    def __init__(self, out: Path, manifest: dict[str, Any]) -> None:
        self.path = Path(out) / COCO_FILE
        self.path.parent.mkdir(exist_ok=True)
        self._images: list[dict[str, Any]] = []
        self._next_id = 1
        self._first = True
        self._done = False
        self._writer = atomic_writer(self.path)
        self._fh = self._writer.__enter__()
        head = {
            "info": {
                "description": f"synthlang dataset of scene {manifest.get('scene')!s}",
                "version": str(manifest.get("synthlang_version", "")),
                "scene_hash": str(manifest.get("scene_hash", "")),
                "seed": manifest.get("seed"),
            },
            "licenses": [],
            "categories": coco_categories(manifest.get("classes", [])),
        }
        text = json.dumps(head, separators=(",", ":"))
        self._write(text[:-1] + ',"annotations":[')

    def _write(self, text: str) -> None:
        self._fh.write(text.encode("utf-8"))

    def add(self, image: dict[str, Any], annotations: list[dict[str, Any]]) -> None:
        """Add one sample (what :func:`coco_sample` returned), numbering its annotations."""
        self._images.append(image)
        for ann in annotations:
            record = {"id": self._next_id, "image_id": image["id"], **ann}
            self._next_id += 1
            self._write(("" if self._first else ",") + json.dumps(record, separators=(",", ":")))
            self._first = False

    def finish(self) -> Path:
        """Complete the file and rename it into place; return its path."""
        self._write('],"images":' + json.dumps(self._images, separators=(",", ":")) + "}\n")
        self._done = True
        self._writer.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        """Remove the temporary file (after an error, before :meth:`finish`)."""
        if not self._done:
            self._done = True
            exc = RuntimeError("export aborted")
            self._writer.__exit__(RuntimeError, exc, None)
