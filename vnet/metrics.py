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
    dataset = truth if (truth / "mask").is_dir() else None
    report = EvaluationReport(
        settings={
            "hit_fraction": hit_fraction,
            "threshold": threshold,
            "pred": str(pred),
            "truth": str(truth),
        }
    )
    counts = dict.fromkeys((*_PIXEL_COUNTS, *_OBJECT_COUNTS), 0)
    psnrs: list[float] = []
    for name, ppath, tpath in _match_truth(preds, truth, dataset is not None):
        scores, px = _score_image(name, ppath, tpath, pred, dataset, threshold, hit_fraction)
        for k in _PIXEL_COUNTS:
            counts[k] += int(px[k])
        for k in _OBJECT_COUNTS:
            counts[k] += getattr(scores, k)
        if scores.psnr is not None:
            psnrs.append(scores.psnr)
        report.images.append(scores)
    report.total = _pooled(counts, psnrs, len(report.images))
    return report


_PIXEL_COUNTS = ("tp", "fp", "fn", "tn")
_OBJECT_COUNTS = ("truth_objects", "hit", "pred_objects", "false_objects")


def _match_truth(
    preds: dict[str, tuple[Path, str]], truth: Path, is_dataset: bool
) -> list[tuple[str, Path, Path]]:
    """``(name, prediction, truth mask)`` for every prediction; all must have a truth."""
    mask_dir = truth / "mask" if is_dataset else truth
    matched: list[tuple[str, Path, Path]] = []
    missing: list[str] = []
    for name, (path, _kind) in sorted(preds.items()):
        tpath = _find(mask_dir, [name] if is_dataset else [name, f"{name}_mask"])
        if tpath is None:
            missing.append(name)
        else:
            matched.append((name, path, tpath))
    if missing:
        available = sorted({p.stem for p in mask_dir.iterdir() if p.suffix.lower() in _IMAGE_EXTS})
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        avail = ", ".join(available[:5]) + (" ..." if len(available) > 5 else "")
        raise DataError(
            f"{len(missing)} prediction(s) have no truth mask in {mask_dir}: {shown} "
            f"(truth names there: {avail or 'none'}); names must match "
            "(NAME_mask.png <-> NAME.png)"
        )
    return matched


def _score_image(
    name: str,
    ppath: Path,
    tpath: Path,
    pred: Path,
    dataset: Path | None,
    threshold: float,
    hit_fraction: float,
) -> tuple[ImageScores, dict[str, float]]:
    """The scores of one prediction and its pixel counts (``tp``, ``fp``, ``fn``, ``tn``)."""
    from vnet.data import read_gray

    pm = read_gray(ppath) >= threshold
    tm = read_gray(tpath) >= threshold
    if pm.shape != tm.shape:
        raise DataError(
            f"{ppath}: size {pm.shape[::-1]} differs from the truth {tpath} {tm.shape[::-1]}"
        )
    inst = _instances(dataset, name, tm.shape, tpath) if dataset is not None else None
    px = pixel_scores(pm, tm)
    ob = object_scores(pm, tm, inst, hit_fraction)
    clean = dataset / "clean" / f"{name}.png" if dataset is not None else None
    scores = ImageScores(
        name=name,
        accuracy=px["accuracy"],
        dice=px["dice"],
        iou=px["iou"],
        psnr=_denoised_psnr(pred / f"{name}_denoised.png", clean),
        truth_objects=int(ob["truth_objects"]),
        hit=int(ob["hit"]),
        pred_objects=int(ob["pred_objects"]),
        false_objects=int(ob["false_objects"]),
        recall=ob["recall"],
        precision=ob["precision"],
        f1=ob["f1"],
        pixels=int(pm.size),
    )
    return scores, px


def _instances(dataset: Path, name: str, shape: tuple[int, ...], tpath: Path) -> np.ndarray | None:
    """The instance labels of a dataset sample, when it has them."""
    inst_path = dataset / "instances" / f"{name}.png"
    if not inst_path.is_file():
        return None
    from synthlang.common.imageio import read_label_image

    inst = read_label_image(inst_path)
    if inst.shape != shape:
        raise DataError(
            f"{inst_path}: size {inst.shape[::-1]} differs from the truth mask "
            f"{tpath} {shape[::-1]}"
        )
    return inst


def _denoised_psnr(den: Path, clean: Path | None) -> float | None:
    """PSNR of a denoised prediction against the clean truth (None without both)."""
    if clean is None or not den.is_file() or not clean.is_file():
        return None
    from vnet.data import read_rgb

    den_img, clean_img = read_rgb(den), read_rgb(clean)
    if den_img.shape != clean_img.shape:
        raise DataError(
            f"{den}: size {den_img.shape[1::-1]} differs from the truth {clean} "
            f"{clean_img.shape[1::-1]}"
        )
    return psnr(den_img, clean_img)


def _pooled(counts: dict[str, int], psnrs: list[float], n_images: int) -> dict[str, Any]:
    """Totals over all images: pooled pixels and objects, the mean PSNR."""
    tp, fp, fn, tn = (counts[k] for k in _PIXEL_COUNTS)
    n_px = tp + fp + fn + tn
    union = tp + fp + fn
    recall = counts["hit"] / counts["truth_objects"] if counts["truth_objects"] else 1.0
    precision = (
        1.0 - counts["false_objects"] / counts["pred_objects"] if counts["pred_objects"] else 1.0
    )
    return {
        "images": n_images,
        "accuracy": (tp + tn) / n_px if n_px else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
        "iou": tp / union if union else 1.0,
        "psnr": float(np.mean(psnrs)) if psnrs else None,
        **{k: counts[k] for k in _OBJECT_COUNTS},
        "recall": recall,
        "precision": precision,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
    }


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
