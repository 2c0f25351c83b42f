"""Fit splits only: a model's real-slide scores at other mask thresholds (issue 10).

Usage::

    python experiments/real_slides.py --fit-only --model NAME=CKPT    # predictions first
    python experiments/threshold_sweep.py NAME [NAME ...] --thresholds 0.3 0.5 0.7

Re-thresholds the probability maps (``NAME_prob.png``) that ``real_slides.py`` wrote for the fit
splits (PUMA FIT half, NuCLS train, CRCHP train), drops regions under the predict run's
``--min-area`` as predict does, and scores them with its rules; the measured splits are never
read. Prints one line per model, threshold and set, and the mean of the three
scores (Dice, Dice, balanced).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402
import real_slides as R  # noqa: E402


def predict_min_area(pred: Path) -> int:
    """``--min-area`` in pixels of the predict run that wrote ``pred`` (its ``predict.json``).

    Regions under it are dropped after re-thresholding, as ``synthlang predict`` does, so the
    row at predict's threshold reproduces its masks.
    """
    import json
    import math

    from vnet.checkpoint import load_checkpoint, stored_pixel_size

    summary = json.loads((pred / "predict.json").read_text(encoding="utf-8"))
    um2 = float(summary.get("min_area_um2", 0.0))
    if um2 <= 0:
        return 0
    pixel = stored_pixel_size(load_checkpoint(summary["checkpoint"]))
    return math.ceil(um2 / pixel**2)


def sweep(model: str, thresholds: list[float]) -> dict[float, dict[str, float]]:
    """Scores per threshold and fit split (and their ``mean``) of one model's predictions."""
    from PIL import Image

    from vnet.data import read_gray
    from vnet.instances import remove_small_regions

    opts = argparse.Namespace(crchp_fit_images=20, max_images=0)
    out: dict[float, dict[str, float]] = {}
    for t in thresholds:
        scores: dict[str, float] = {}
        for rs in (s for s in R.SETS if s.fit_split):
            images = R.set_images(rs, opts)
            src = R.HERE / "pred" / model / rs.key
            tmp = R.HERE / "threshold_sweep" / model / f"{t:g}" / rs.key
            tmp.mkdir(parents=True, exist_ok=True)
            min_area = predict_min_area(src)
            for p in images:
                prob = read_gray(src / f"{p.stem}_prob.png")
                labels = remove_small_regions((prob >= t).astype(np.int64), min_area)
                Image.fromarray(((labels > 0) * 255).astype(np.uint8)).save(
                    tmp / f"{p.stem}_mask.png"
                )
            total = R.score_set(rs, images, tmp, 0)["total"]
            scores[rs.key] = float(total["balanced"] if rs.points else total["dice"])
        scores["mean"] = float(np.mean(list(scores.values())))
        out[t] = scores
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", help="model names of real_slides.py predictions")
    p.add_argument("--thresholds", nargs="+", type=float, default=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    args = p.parse_args(argv)
    for model in args.models:
        for t, scores in sweep(model, args.thresholds).items():
            cells = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
            C.say(f"{model} threshold {t:g}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
