"""Scores of predicted masks (and denoised images) against ground truth.

Pixel level: accuracy, Dice ``2|P n T| / (|P| + |T|)``, IoU ``|P n T| / |P u T|``
(both 1 when prediction and truth are empty). Image level: PSNR of the denoised
image against a clean truth image (peak 1).

Object level (detection): the truth objects are the instances of a dataset's
``instances/NAME.png`` restricted to the truth mask, or else the 8-connected
components of the truth mask. A truth object is *hit* when at least
``hit_fraction`` (default 1/2) of its pixels are predicted. A predicted object (an
8-connected component of the prediction) is *false* when it touches no truth
object pixel. ``recall = hit / truth``, ``precision = 1 - false / predicted``,
``F1 = 2 P R / (P + R)``.

:func:`evaluate_folder` matches predictions ``PRED/NAME_mask.png`` (or
``NAME_prob.png``, thresholded) with the truth: a rendered dataset folder
(``mask/NAME.png``, optional ``clean/NAME.png`` and ``instances/NAME.png``) or a
folder of mask images ``NAME.png`` / ``NAME_mask.png``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from synthlang.common.errors import DataError

__all__ = [
    "pixel_scores",
    "psnr",
    "object_scores",
    "ImageScores",
    "EvaluationReport",
    "evaluate_folder",
    "format_table",
]

_EIGHT = np.ones((3, 3), dtype=bool)
_IMAGE_EXTS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")


def pixel_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pixel accuracy, Dice and IoU of two boolean masks.

    Examples
    --------
    >>> p = np.array([[1, 1, 0, 0]], bool); t = np.array([[1, 0, 0, 0]], bool)
    >>> s = pixel_scores(p, t)
    >>> s["accuracy"], round(s["dice"], 4), s["iou"]
    (0.75, 0.6667, 0.5)
    """
    p = np.asarray(pred, bool)
    t = np.asarray(truth, bool)
    if p.shape != t.shape:
        raise ValueError(f"shapes differ: {p.shape} and {t.shape}")
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    tn = int(p.size - tp - fp - fn)
    union = tp + fp + fn
    return {
        "accuracy": (tp + tn) / p.size if p.size else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
        "iou": tp / union if union else 1.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def psnr(image: np.ndarray, reference: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images).

    Examples
    --------
    >>> round(psnr(np.full((2, 2), 0.1), np.zeros((2, 2))), 6)
    20.0
    """
    a = np.asarray(image, np.float64)
    b = np.asarray(reference, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)


def object_scores(
    pred: np.ndarray,
    truth: np.ndarray,
    instances: np.ndarray | None = None,
    hit_fraction: float = 0.5,
) -> dict[str, float]:
    """Object-level detection counts (see the module docstring).

    Parameters
    ----------
    pred, truth : numpy.ndarray
        ``(H, W)`` boolean masks.
    instances : numpy.ndarray, optional
        ``(H, W)`` instance ids; truth objects are the ids inside ``truth``.
        Without it, the 8-connected components of ``truth``.
    hit_fraction : float
        Fraction of a truth object's pixels that must be predicted.

    Returns
    -------
    dict
        ``truth_objects``, ``hit``, ``pred_objects``, ``false_objects``,
        ``recall``, ``precision``, ``f1``.
    """
    p = np.asarray(pred, bool)
    t = np.asarray(truth, bool)
    if instances is not None:
        labels = np.where(t, np.asarray(instances, np.int64), 0)
    else:
        labels, _ = ndi.label(t, structure=_EIGHT)
    ids = labels[labels > 0]
    sizes = np.bincount(ids) if ids.size else np.zeros(1, np.int64)
    covered = np.bincount(labels[(labels > 0) & p], minlength=sizes.size)
    present = np.nonzero(sizes)[0]
    n_truth = int(present.size)
    hit = int(np.count_nonzero(covered[present] >= hit_fraction * sizes[present]))
    plabels, n_pred = ndi.label(p, structure=_EIGHT)
    touching = np.unique(plabels[(plabels > 0) & (labels > 0)])
    n_false = int(n_pred - touching.size)
    recall = hit / n_truth if n_truth else 1.0
    precision = 1.0 - n_false / n_pred if n_pred else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "truth_objects": n_truth,
        "hit": hit,
        "pred_objects": int(n_pred),
        "false_objects": n_false,
        "recall": recall,
        "precision": precision,
        "f1": f1,
    }


@dataclass
class ImageScores:
    """Scores of one image (see :func:`evaluate_folder`)."""

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
    precision: float
    f1: float
    pixels: int


@dataclass
class EvaluationReport:
    """Per-image scores and totals over all images.

    The totals pool the pixels and objects of all images (micro average); the
    PSNR total is the mean over the images that have a clean truth.
    """

    images: list[ImageScores] = field(default_factory=list)
    total: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (infinite PSNR written as ``null``)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        return {
            "settings": self.settings,
            "total": {k: clean(v) for k, v in self.total.items()},
            "images": [{k: clean(v) for k, v in asdict(s).items()} for s in self.images],
        }


def _find(folder: Path, stems: list[str]) -> Path | None:
    for stem in stems:
        for ext in _IMAGE_EXTS:
            p = folder / f"{stem}{ext}"
            if p.is_file():
                return p
    return None


def _prediction_names(pred_dir: Path) -> dict[str, tuple[Path, str]]:
    found: dict[str, tuple[Path, str]] = {}
    for p in sorted(pred_dir.glob("*_mask.png")):
        found[p.name[: -len("_mask.png")]] = (p, "mask")
    for p in sorted(pred_dir.glob("*_prob.png")):
        found.setdefault(p.name[: -len("_prob.png")], (p, "prob"))
    return found


def evaluate_folder(
    pred_dir: str | Path,
    truth_dir: str | Path,
    *,
    hit_fraction: float = 0.5,
    threshold: float = 0.5,
) -> EvaluationReport:
    """Score every prediction in ``pred_dir`` against ``truth_dir``.

    Parameters
    ----------
    pred_dir : str or Path
        Output of ``synthlang predict``: ``NAME_mask.png`` (or ``NAME_prob.png``)
        and optionally ``NAME_denoised.png``.
    truth_dir : str or Path
        A rendered dataset folder or a folder of mask images (see module docstring).
    hit_fraction : float
        Fraction of a truth object that must be predicted to count as hit.
    threshold : float
        Threshold for binarising predicted and truth masks.

    Returns
    -------
    EvaluationReport

    Raises
    ------
    DataError
        Missing folders, no predictions, or predictions without a truth of the
        same name.
    """
    from vnet.data import read_gray, read_rgb

    pred = Path(pred_dir)
    truth = Path(truth_dir)
    if not pred.is_dir():
        raise DataError(f"{pred}: no such prediction folder")
    if not truth.is_dir():
        raise DataError(f"{truth}: no such truth folder")
    if not 0.0 < hit_fraction <= 1.0:
        raise DataError(f"hit fraction must be in (0, 1], got {hit_fraction}")
    preds = _prediction_names(pred)
    if not preds:
        raise DataError(f"{pred}: holds no NAME_mask.png or NAME_prob.png predictions")
    is_dataset = (truth / "mask").is_dir()
    mask_dir = truth / "mask" if is_dataset else truth
    matched: list[tuple[str, Path, str, Path]] = []
    missing: list[str] = []
    for name, (path, kind) in sorted(preds.items()):
        tpath = _find(mask_dir, [name] if is_dataset else [name, f"{name}_mask"])
        if tpath is None:
            missing.append(name)
        else:
            matched.append((name, path, kind, tpath))
    if missing:
        available = sorted({p.stem for p in mask_dir.iterdir() if p.suffix.lower() in _IMAGE_EXTS})
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        avail = ", ".join(available[:5]) + (" ..." if len(available) > 5 else "")
        raise DataError(
            f"{len(missing)} prediction(s) have no truth mask in {mask_dir}: {shown} "
            f"(truth names there: {avail or 'none'}); names must match "
            "(NAME_mask.png <-> NAME.png)"
        )
    report = EvaluationReport(
        settings={
            "hit_fraction": hit_fraction,
            "threshold": threshold,
            "pred": str(pred),
            "truth": str(truth),
        }
    )
    totals = {
        "tp": 0,
        "fp": 0,
        "fn": 0,
        "tn": 0,
        "truth_objects": 0,
        "hit": 0,
        "pred_objects": 0,
        "false_objects": 0,
    }
    psnrs: list[float] = []
    for name, ppath, _kind, tpath in matched:
        pm = read_gray(ppath) >= threshold
        tm = read_gray(tpath) >= threshold
        if pm.shape != tm.shape:
            raise DataError(
                f"{ppath}: size {pm.shape[::-1]} differs from the truth {tpath} {tm.shape[::-1]}"
            )
        inst = None
        if is_dataset and (truth / "instances" / f"{name}.png").is_file():
            from synthlang.common.imageio import read_label_image

            inst_path = truth / "instances" / f"{name}.png"
            inst = read_label_image(inst_path)
            if inst.shape != tm.shape:
                raise DataError(
                    f"{inst_path}: size {inst.shape[::-1]} differs from the truth mask "
                    f"{tpath} {tm.shape[::-1]}"
                )
        px = pixel_scores(pm, tm)
        ob = object_scores(pm, tm, inst, hit_fraction)
        value: float | None = None
        den = pred / f"{name}_denoised.png"
        clean = truth / "clean" / f"{name}.png" if is_dataset else None
        if den.is_file() and clean is not None and clean.is_file():
            den_img, clean_img = read_rgb(den), read_rgb(clean)
            if den_img.shape != clean_img.shape:
                raise DataError(
                    f"{den}: size {den_img.shape[1::-1]} differs from the truth {clean} "
                    f"{clean_img.shape[1::-1]}"
                )
            value = psnr(den_img, clean_img)
            psnrs.append(value)
        for k in ("tp", "fp", "fn", "tn"):
            totals[k] += int(px[k])
        for k in ("truth_objects", "hit", "pred_objects", "false_objects"):
            totals[k] += int(ob[k])
        report.images.append(
            ImageScores(
                name=name,
                accuracy=px["accuracy"],
                dice=px["dice"],
                iou=px["iou"],
                psnr=value,
                truth_objects=int(ob["truth_objects"]),
                hit=int(ob["hit"]),
                pred_objects=int(ob["pred_objects"]),
                false_objects=int(ob["false_objects"]),
                recall=ob["recall"],
                precision=ob["precision"],
                f1=ob["f1"],
                pixels=int(pm.size),
            )
        )
    tp, fp, fn, tn = totals["tp"], totals["fp"], totals["fn"], totals["tn"]
    n_px = tp + fp + fn + tn
    union = tp + fp + fn
    recall = totals["hit"] / totals["truth_objects"] if totals["truth_objects"] else 1.0
    precision = (
        1.0 - totals["false_objects"] / totals["pred_objects"] if totals["pred_objects"] else 1.0
    )
    report.total = {
        "images": len(report.images),
        "accuracy": (tp + tn) / n_px if n_px else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
        "iou": tp / union if union else 1.0,
        "psnr": float(np.mean(psnrs)) if psnrs else None,
        **{k: totals[k] for k in ("truth_objects", "hit", "pred_objects", "false_objects")},
        "recall": recall,
        "precision": precision,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
    }
    return report


def format_table(report: EvaluationReport) -> str:
    """Render the report as a fixed-width text table (one row per image, then totals)."""
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
            f"{s['pred_objects']:>5d} {s['false_objects']:>6d} {s['precision']:>7.3f} "
            f"{s['f1']:>7.3f}"
        )

    for s in report.images:
        lines.append(row(s.name, asdict(s)))
    lines.append("-" * len(head))
    lines.append(row(f"total ({report.total['images']})", report.total))
    return "\n".join(lines)
