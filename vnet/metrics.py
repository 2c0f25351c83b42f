"""``synthlang evaluate``: scores of predicted class maps and masks against ground truth.

Per class (pooled over all images, i.e. micro averages; the rules are in
:mod:`vnet.scores`):

* pixel Dice and IoU of the class's pixels;
* detection precision, recall and F1 by one-to-one centre matching within a radius
  (default 7.5 px, the PUMA rule at 20x; optimal matching by the Hungarian method);
* panoptic quality ``PQ = SQ x RQ`` (instances matched at IoU > 1/2) and the aggregated
  Jaccard index (AJI), where the truth has instances;
* a ratio without a denominator (a precision with nothing predicted, a recall with
  nothing to find) is None in the JSON and ``-`` in the table, never 1.

An **all-background baseline** row scores an empty prediction against the nuclei of
every class, the floor any model must beat. The printed table has one row per class
and the baseline; the JSON also holds, per image and in ``total``, the binary scores
``synthlang evaluate`` always reported (pixel accuracy, Dice, IoU, PSNR of
``NAME_denoised.png`` against ``clean/NAME.png``, and truth objects *hit* when at least
``hit_fraction`` of their pixels are predicted).

Predictions (``PRED``, written by ``synthlang predict``): ``NAME_labels.png`` (class
map) and ``NAME_instances.png``, else ``NAME_mask.png`` or ``NAME_prob.png``
(thresholded; one class); without an instance map the instances are those
``synthlang predict`` would write (:func:`vnet.instances.split_instances`).
``PRED/predict.json`` names the predicted classes.

Truth: a dataset folder (``docs/dataset.md``; format 2: ``labels/``, ``instances/`` and
the manifest's ``classes``; format 1 or a folder with ``mask/``: the mask as one class,
``instances/`` restricted to it), or a folder of annotation images: ``NAME_labels.png``
class maps (with optional ``NAME_instances.png``; class names from ``classes`` or the
prediction's), or binary masks ``NAME.png`` / ``NAME_mask.png`` (objects: their
8-connected components; no PQ or AJI). Classes are matched by name; when either side
has one class only, the nuclei of all classes are scored as one class.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from synthlang.common.errors import DataError
from vnet.instances import MIN_DISTANCE
from vnet.scores import (
    DEFAULT_RADIUS,
    aji_counts,
    detection_counts,
    object_scores,
    panoptic_counts,
    pixel_scores,
    psnr,
    ratio,
)
from vnet.truth import PredictionSet, TruthSet

__all__ = [
    "DEFAULT_RADIUS",
    "pixel_scores",
    "psnr",
    "object_scores",
    "ClassTally",
    "score_class",
    "ImageScores",
    "EvaluationReport",
    "evaluate_folder",
    "format_table",
    "format_image_table",
    "write_json",
]

_EIGHT = np.ones((3, 3), dtype=bool)
BASELINE = "all background"
"""Name of the baseline row."""


@dataclass
class ClassTally:
    """Counts of one class, summed over images (see :meth:`scores`)."""

    tp_px: int = 0
    fp_px: int = 0
    fn_px: int = 0
    det_tp: int = 0
    det_fp: int = 0
    det_fn: int = 0
    pq_tp: int = 0
    pq_fp: int = 0
    pq_fn: int = 0
    pq_iou: float = 0.0
    aji_inter: int = 0
    aji_union: int = 0
    instance_images: int = 0

    def add(self, other: ClassTally) -> None:
        """Add another tally's counts to this one."""
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    def scores(self) -> dict[str, Any]:
        """Dice, IoU, detection, PQ (SQ, RQ) and AJI; None where undefined.

        Examples
        --------
        >>> s = ClassTally(tp_px=3, fp_px=1, det_tp=1, det_fn=1).scores()
        >>> s["dice"], s["precision"], s["recall"], s["pq"]
        (0.8571428571428571, 1.0, 0.5, None)
        >>> ClassTally(det_fn=2).scores()["precision"] is None  # nothing predicted
        True
        """
        px_union = self.tp_px + self.fp_px + self.fn_px
        tp, fp, fn = self.det_tp, self.det_fp, self.det_fn
        known = self.instance_images > 0
        rq_den = self.pq_tp + 0.5 * (self.pq_fp + self.pq_fn)
        sq = ratio(self.pq_iou, self.pq_tp) if known else None
        rq = ratio(self.pq_tp, rq_den) if known else None
        pq = (sq or 0.0) * rq if rq is not None else None
        return {
            "dice": ratio(2 * self.tp_px, px_union + self.tp_px),
            "iou": ratio(self.tp_px, px_union),
            "truth_objects": tp + fn,
            "pred_objects": tp + fp,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "pq": pq,
            "sq": sq,
            "rq": rq,
            "aji": ratio(self.aji_inter, self.aji_union) if known else None,
        }


def score_class(
    pred: np.ndarray,
    truth: np.ndarray,
    pred_instances: np.ndarray,
    truth_instances: np.ndarray | None,
    radius: float = DEFAULT_RADIUS,
) -> ClassTally:
    """The counts of one class in one image.

    Parameters
    ----------
    pred, truth : numpy.ndarray
        ``(H, W)`` boolean masks of the class.
    pred_instances : numpy.ndarray
        ``(H, W)`` predicted instance ids (only those on ``pred`` count).
    truth_instances : numpy.ndarray or None
        ``(H, W)`` true instance ids (only those on ``truth`` count); None: the
        8-connected components of ``truth`` are the objects and PQ and AJI are not
        counted.
    radius : float
        Centre matching radius in pixels.

    Examples
    --------
    >>> t_inst = np.zeros((6, 12), int); t_inst[1:4, 1:4] = 1; t_inst[1:4, 8:11] = 2
    >>> p_inst = np.where(t_inst == 1, 5, 0)                 # one of two found exactly
    >>> s = score_class(p_inst > 0, t_inst > 0, p_inst, t_inst)
    >>> s.det_tp, s.det_fn, s.pq_tp, s.pq_iou, s.aji_inter, s.aji_union
    (1, 1, 1, 1.0, 9, 18)
    """
    p = np.asarray(pred, bool)
    t = np.asarray(truth, bool)
    if p.shape != t.shape:
        raise ValueError(f"shapes differ: {p.shape} and {t.shape}")
    pi = np.where(p, np.asarray(pred_instances, np.int64), 0)
    if truth_instances is not None:
        ti = np.where(t, np.asarray(truth_instances, np.int64), 0)
    else:
        ti = ndi.label(t, structure=_EIGHT)[0]
    tally = ClassTally(
        tp_px=int(np.count_nonzero(p & t)),
        fp_px=int(np.count_nonzero(p & ~t)),
        fn_px=int(np.count_nonzero(~p & t)),
    )
    tally.det_tp, tally.det_fp, tally.det_fn = detection_counts(ti, pi, radius)
    if truth_instances is not None:
        tally.pq_tp, tally.pq_fp, tally.pq_fn, tally.pq_iou = panoptic_counts(ti, pi)
        tally.aji_inter, tally.aji_union = aji_counts(ti, pi)
        tally.instance_images = 1
    return tally


@dataclass
class ImageScores:
    """Scores of one image: the binary scores (module docstring) and the class scores."""

    name: str
    accuracy: float
    dice: float
    iou: float
    psnr: float | None
    truth_objects: int
    hit: int
    pred_objects: int
    false_objects: int
    recall: float
    precision: float | None
    f1: float
    pixels: int
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class EvaluationReport:
    """Per-class scores, the baseline, per-image scores and the binary totals.

    ``classes`` maps each class (row) name to :meth:`ClassTally.scores` pooled over
    the images; ``baseline`` is the same for an all-background prediction of the
    nuclei of every class. ``total`` pools the binary scores of all images (micro
    average; the PSNR is the mean over the images that have a clean truth).
    """

    images: list[ImageScores] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (infinite PSNR written as ``null``)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v

        return {
            "settings": self.settings,
            "classes": clean(self.classes),
            "baseline": clean(self.baseline),
            "total": clean(self.total),
            "images": [clean(asdict(s)) for s in self.images],
        }


def evaluate_folder(
    pred_dir: str | Path,
    truth_dir: str | Path,
    *,
    hit_fraction: float = 0.5,
    threshold: float = 0.5,
    radius: float = DEFAULT_RADIUS,
    min_distance: int = MIN_DISTANCE,
    classes: Sequence[str] | None = None,
) -> EvaluationReport:
    """Score every prediction in ``pred_dir`` against ``truth_dir`` (module docstring).

    Parameters
    ----------
    pred_dir : str or Path
        Output of ``synthlang predict``.
    truth_dir : str or Path
        A dataset folder or a folder of annotation images.
    hit_fraction : float
        Fraction of a truth object that must be predicted to count as hit (binary
        scores).
    threshold : float
        Threshold for binarising predicted probabilities and truth masks.
    radius : float
        Centre matching radius in pixels.
    min_distance : int
        Watershed marker distance for predictions without an instance map.
    classes : sequence of str, optional
        Names of the class ids of annotation class maps (default: the prediction's).

    Returns
    -------
    EvaluationReport

    Raises
    ------
    DataError
        Missing folders, no predictions, predictions without a truth of the same
        name, sizes that differ, or classes that cannot be matched.
    """
    pred = Path(pred_dir)
    truth = Path(truth_dir)
    if not pred.is_dir():
        raise DataError(f"{pred}: no such prediction folder")
    if not truth.is_dir():
        raise DataError(f"{truth}: no such truth folder")
    if not 0.0 < hit_fraction <= 1.0:
        raise DataError(f"hit fraction must be in (0, 1], got {hit_fraction}")
    if not radius > 0:
        raise DataError(f"the matching radius must be positive, got {radius}")
    preds = PredictionSet(pred, threshold=threshold, min_distance=min_distance)
    truths = TruthSet(truth, threshold, classes=classes, pred_classes=preds.classes)
    rows, pred_lut, truth_lut = truths.align(preds.classes)
    report = EvaluationReport(
        settings={
            "hit_fraction": hit_fraction,
            "threshold": threshold,
            "radius": radius,
            "min_distance": min_distance,
            "pred": str(pred),
            "truth": str(truth),
            "truth_kind": truths.kind,
            "truth_classes": list(truths.classes) if truths.classes else None,
            "pred_classes": list(preds.classes) if preds.classes else None,
            "rows": "per class" if truth_lut is not None else "one class",
        }
    )
    tallies = {row: ClassTally() for row in rows}
    baseline = ClassTally()
    counts = dict.fromkeys((*_PIXEL_COUNTS, *_OBJECT_COUNTS), 0)
    psnrs: list[float] = []
    for name in truths.match(preds.names()):
        p = preds.read(name)
        t = truths.read(name, p.shape)
        scores, px = _binary_scores(name, p, t, hit_fraction)
        p_rows = _lookup(pred_lut, p.labels, p.labels_path, "predicted")
        t_rows = _lookup(truth_lut, t.labels, t.labels_path, "true")
        for r, row in enumerate(rows, start=1):
            tally = score_class(p_rows == r, t_rows == r, p.instances, t.instances, radius)
            tallies[row].add(tally)
            scores.classes[row] = tally.scores()
        empty = np.zeros(t_rows.shape, bool)
        baseline.add(score_class(empty, t_rows > 0, empty.astype(np.int64), t.instances, radius))
        for k in _PIXEL_COUNTS:
            counts[k] += int(px[k])
        for k in _OBJECT_COUNTS:
            counts[k] += getattr(scores, k)
        if scores.psnr is not None:
            psnrs.append(scores.psnr)
        report.images.append(scores)
    report.classes = {row: tally.scores() for row, tally in tallies.items()}
    report.baseline = baseline.scores()
    report.total = _pooled(counts, psnrs, len(report.images))
    return report


def _lookup(lut: np.ndarray | None, labels: np.ndarray, path: Path, what: str) -> np.ndarray:
    """Row ids of a class map through a lookup table (None: every class id > 0 is row 1)."""
    if lut is None:
        return (labels > 0).astype(np.int64)
    top, low = int(labels.max(initial=0)), int(labels.min(initial=0))
    if top >= lut.size or low < 0:
        raise DataError(
            f"{path}: {what} class id {top if low >= 0 else low} has no class (there are "
            f"{lut.size - 1}); name the classes (--classes) or check the class map"
        )
    return lut[labels]


_PIXEL_COUNTS = ("tp", "fp", "fn", "tn")
_OBJECT_COUNTS = ("truth_objects", "hit", "pred_objects", "false_objects")


def _binary_scores(
    name: str, p: Any, t: Any, hit_fraction: float
) -> tuple[ImageScores, dict[str, float]]:
    """The binary scores of one image (any class) and its pixel counts."""
    pm, tm = p.mask, t.mask
    px = pixel_scores(pm, tm)
    ob = object_scores(pm, tm, t.instances, hit_fraction)
    scores = ImageScores(
        name=name,
        accuracy=px["accuracy"],
        dice=px["dice"],
        iou=px["iou"],
        psnr=_denoised_psnr(p.denoised_path, t.clean_path),
        truth_objects=int(ob["truth_objects"] or 0),
        hit=int(ob["hit"] or 0),
        pred_objects=int(ob["pred_objects"] or 0),
        false_objects=int(ob["false_objects"] or 0),
        recall=float(ob["recall"] or 0.0),
        precision=ob["precision"],
        f1=float(ob["f1"] or 0.0),
        pixels=int(pm.size),
    )
    return scores, px


def _denoised_psnr(den: Path, clean: Path | None) -> float | None:
    """PSNR of a denoised prediction against the clean truth (None without both)."""
    if clean is None or not den.is_file() or not clean.is_file():
        return None
    from synthlang.common.channelio import read_channels
    from vnet.data import read_rgb

    def read(path: Path) -> Any:  # RGB PNGs as ever; TIFFs of any channel count
        return read_channels(path) if path.suffix == ".tif" else read_rgb(path)

    den_img, clean_img = read(den), read(clean)
    if den_img.shape != clean_img.shape:
        raise DataError(
            f"{den}: size {den_img.shape[1::-1]} differs from the truth {clean} "
            f"{clean_img.shape[1::-1]}"
        )
    return psnr(den_img, clean_img)


def _pooled(counts: dict[str, int], psnrs: list[float], n_images: int) -> dict[str, Any]:
    """Binary totals over all images: pooled pixels and objects, the mean PSNR."""
    tp, fp, fn, tn = (counts[k] for k in _PIXEL_COUNTS)
    n_px = tp + fp + fn + tn
    union = tp + fp + fn
    recall = counts["hit"] / counts["truth_objects"] if counts["truth_objects"] else 1.0
    n_pred = counts["pred_objects"]
    precision = 1.0 - counts["false_objects"] / n_pred if n_pred else None
    return {
        "images": n_images,
        "accuracy": (tp + tn) / n_px if n_px else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
        "iou": tp / union if union else 1.0,
        "psnr": float(np.mean(psnrs)) if psnrs else None,
        **{k: counts[k] for k in _OBJECT_COUNTS},
        "recall": recall,
        "precision": precision,
        "f1": 2 * precision * recall / (precision + recall) if precision and recall else 0.0,
    }


# ---------------------------------------------------------------------------- tables


def _num(value: Any, width: int, digits: int = 3) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, int):
        return f"{value:>{width}d}"
    return f"{value:>{width}.{digits}f}"


_CLASS_COLUMNS = (
    ("dice", 6),
    ("iou", 6),
    ("truth", 6),
    ("pred", 6),
    ("tp", 6),
    ("prec", 6),
    ("recall", 6),
    ("f1", 6),
    ("pq", 6),
    ("sq", 6),
    ("rq", 6),
    ("aji", 6),
)
_KEYS = {"truth": "truth_objects", "pred": "pred_objects", "prec": "precision"}


def format_table(report: EvaluationReport) -> str:
    """The class table: one row per class, then the all-background baseline.

    Undefined values (a precision with nothing predicted, PQ and AJI without true
    instances) are shown as ``-``.
    """
    s = report.settings
    n = len(report.images)
    lines = [
        f"{n} image{'s' if n != 1 else ''}; objects matched by centre within "
        f"{s.get('radius', DEFAULT_RADIUS):g} px (detection), by IoU > 0.5 (PQ)"
    ]
    head = f"{'class':<20} " + " ".join(f"{c:>{w}}" for c, w in _CLASS_COLUMNS)
    lines += [head, "-" * len(head)]

    def row(name: str, scores: dict[str, Any]) -> str:
        cells = [_num(scores.get(_KEYS.get(c, c)), w) for c, w in _CLASS_COLUMNS]
        return f"{name[:20]:<20} " + " ".join(cells)

    for name, scores in report.classes.items():
        lines.append(row(name, scores))
    lines.append("-" * len(head))
    lines.append(row(BASELINE, report.baseline))
    return "\n".join(lines)


def format_image_table(report: EvaluationReport) -> str:
    """The binary scores per image and their totals (the table evaluate printed before)."""
    head = (
        f"{'image':<20} {'acc':>7} {'dice':>7} {'iou':>7} {'psnr':>7} "
        f"{'objects':>8} {'hit':>5} {'recall':>7} {'pred':>5} {'false':>6} {'prec':>7} {'f1':>7}"
    )
    lines = [head, "-" * len(head)]

    def row(name: str, s: dict[str, Any]) -> str:
        ps = s.get("psnr")
        ps_text = "-" if ps is None else ("inf" if not math.isfinite(ps) else f"{ps:.2f}")
        return (
            f"{name[:20]:<20} {s['accuracy']:>7.4f} {s['dice']:>7.4f} {s['iou']:>7.4f} "
            f"{ps_text:>7} {s['truth_objects']:>8d} {s['hit']:>5d} {s['recall']:>7.3f} "
            f"{s['pred_objects']:>5d} {s['false_objects']:>6d} {_num(s['precision'], 7)} "
            f"{s['f1']:>7.3f}"
        )

    for s in report.images:
        lines.append(row(s.name, asdict(s)))
    lines.append("-" * len(head))
    lines.append(row(f"total ({report.total['images']})", report.total))
    return "\n".join(lines)


def write_json(report: EvaluationReport, path: Path) -> None:
    """Write ``report.to_dict()`` as JSON (atomically to a file; directly to a pipe)."""
    from synthlang.common.fileio import atomic_write_text

    text = json.dumps(report.to_dict(), indent=2) + "\n"
    try:
        if path.exists() and not path.is_file():
            path.write_text(text)  # a pipe or /dev/stdout: no temporary file there
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror}") from None
