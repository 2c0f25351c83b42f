"""Fit splits only: a model's real-slide scores under other neighbour-nuclei rules (issue 10).

Usage::

    python experiments/real_slides.py --fit-only --no-refs --crchp-fit-images 70 \\
        --model NAME=models/he_tumor_nuclei.pt                  # predictions first
    python experiments/neighbour_sweep.py NAME --probabilities 0.2 0.25 0.3 --counts 2 3 \\
        --distances 25 30 40

Rebuilds predict's masks from the probability maps (``NAME_prob.png``) that ``real_slides.py``
wrote for the fit splits (PUMA FIT half, NuCLS train, CRCHP train): threshold 0.5, filled
regions, whole nuclei (the nuclei segmented on the input as given), then
:func:`synthlang.common.regions.neighbour_nuclei` with each probability, count and distance
(pixels at 20x) of the grid, and regions under predict's ``--min-area`` dropped; the row
``none`` is the rule left out. Scores them with ``real_slides.py``'s rules; the measured splits
are never read. Prints one line per rule: the three scores (Dice, Dice, balanced, with the
CRCHP epithelial and inflammatory shares) and their mean.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402
import real_slides as R  # noqa: E402
from threshold_sweep import predict_min_area  # noqa: E402

#: One rule: (probability, count, distance in pixels), or None for no neighbour nuclei
Rule = tuple[float, int, float] | None


def load_maps(model: str, crchp_images: int) -> dict[str, list[tuple[Path, Any, Any, Any]]]:
    """Per fit split: (image, probability map, nucleus labels, the mask before the rule)."""
    from synthlang.common.imageio import read_image
    from synthlang.common.regions import complete_nuclei, fill_regions
    from synthlang.nuclei import segment_nuclei
    from vnet.data import read_gray

    opts = argparse.Namespace(crchp_fit_images=crchp_images, max_images=0)
    out: dict[str, list[tuple[Path, Any, Any, Any]]] = {}
    for rs in (s for s in R.SETS if s.fit_split):
        src = R.HERE / "pred" / model / rs.key
        items = []
        for p in R.set_images(rs, opts):
            prob = np.asarray(read_gray(src / f"{p.stem}_prob.png"), np.float32)
            nuclei = segment_nuclei(read_image(p)[..., :3], pixel_size_um=0.5).labels
            mask = complete_nuclei(fill_regions((prob >= 0.5).astype(np.uint8)), nuclei)
            items.append((p, prob, nuclei, mask))
        out[rs.key] = items
    return out


def score(model: str, maps: dict[str, list[tuple[Path, Any, Any, Any]]], rule: Rule) -> dict:
    """The fit splits' scores of one rule (Dice, Dice, balanced; shares; ``mean``)."""
    from PIL import Image

    from synthlang.common.regions import neighbour_nuclei
    from vnet.instances import remove_small_regions

    name = "none" if rule is None else "_".join(f"{v:g}" for v in rule)
    scores: dict[str, float] = {}
    for rs in (s for s in R.SETS if s.fit_split):
        images = [item[0] for item in maps[rs.key]]
        tmp = R.HERE / "neighbour_sweep" / model / name / rs.key
        tmp.mkdir(parents=True, exist_ok=True)
        min_area = predict_min_area(R.HERE / "pred" / model / rs.key)
        for p, prob, nuclei, mask in maps[rs.key]:
            if rule is not None:
                probability, count, distance = rule
                mask = neighbour_nuclei(mask, nuclei, prob, distance, probability, int(count))
            labels = remove_small_regions(mask.astype(np.int64), min_area)
            Image.fromarray(((labels > 0) * 255).astype(np.uint8)).save(tmp / f"{p.stem}_mask.png")
        total = R.score_set(rs, images, tmp, 0)["total"]
        scores[rs.key] = float(total["balanced"] if rs.points else total["dice"])
        if rs.points:
            scores["epithelial"] = float(total["epithelial_inside"])
            scores["inflammatory"] = float(total["inflammatory_inside"])
    scores["mean"] = float(np.mean([scores[s.key] for s in R.SETS if s.fit_split]))
    return scores


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", help="model name of real_slides.py --fit-only predictions")
    p.add_argument("--probabilities", nargs="+", type=float, default=[0.15, 0.2, 0.25, 0.3, 0.35])
    p.add_argument("--counts", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--distances", nargs="+", type=float, default=[25.0, 30.0, 40.0])
    p.add_argument("--crchp-fit-images", type=int, default=70)
    args = p.parse_args(argv)
    maps = load_maps(args.model, args.crchp_fit_images)
    grid = itertools.product(args.probabilities, args.counts, args.distances)
    rules: list[Rule] = [None, *grid]
    for rule in rules:
        s = score(args.model, maps, rule)
        label = "none" if rule is None else "probability {:g}, count {}, {:g} px".format(*rule)
        cells = ", ".join(
            f"{k} {100 * v:.1f} %" if k in ("epithelial", "inflammatory") else f"{k} {v:.3f}"
            for k, v in s.items()
        )
        C.say(f"{label}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
