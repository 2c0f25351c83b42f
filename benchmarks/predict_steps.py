"""Time of each step of ``synthlang predict`` on one image, as ratios to the network pass.

Steps, per image (``--size`` x ``--size`` crops of real-looking renders of
``scenes/he_tumor_nuclei.scene``, tiled up when larger than a render):

network
    :func:`vnet.predict.predict_array` of ``--model``, one pass (no test-time augmentation);
network_tta
    the same with test-time augmentation (8 passes);
network_tta_scales
    the same with the scales 1 and 0.9 too (``--scales 1 0.9``: 16 passes, half of them on
    the tile resampled by 0.9, plus the resampling);
normalize
    the haematoxylin level (:func:`synthlang.colornorm.haematoxylin_normalize`);
fill
    filled regions (:func:`synthlang.common.regions.fill_regions`) of the thresholded mask;
segment
    the nucleus segmentation of whole nuclei (:func:`synthlang.nuclei.segment_nuclei`);
complete
    completing the nuclei (:func:`synthlang.common.regions.complete_nuclei`);
neighbours
    adding the neighbour nuclei (:func:`synthlang.common.regions.neighbour_nuclei`, 15 um).

All steps run interleaved in one process (``--repeat`` rounds over the images), so a change
in the load of a shared machine hits all of them alike; medians per image and their ratios
to ``network`` are printed.

Usage::

    python benchmarks/predict_steps.py                      # 4 images of 500 x 500
    python benchmarks/predict_steps.py --size 1000 --repeat 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "scenes" / "he_tumor_nuclei.scene"


def _images(n: int, size: int) -> list[np.ndarray]:
    """``n`` RGB images of ``size`` x ``size``: renders of the scene, mirrored up to size."""
    from synthlang.common.imageio import read_image

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "synthlang", "render", str(SCENE), "--n", str(n),
             "--out", tmp, "--seed", "7", "--workers", "1", "-q"],
            check=True,
        )  # fmt: skip
        renders = [read_image(p) for p in sorted(Path(tmp, "noisy").glob("*.png"))]
    out = []
    for r in renders:
        reps = -(-size // r.shape[0]), -(-size // r.shape[1])
        out.append(np.pad(r, ((0, reps[0] * r.shape[0] - r.shape[0]),
                              (0, reps[1] * r.shape[1] - r.shape[1]), (0, 0)),
                          mode="symmetric")[:size, :size])  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "he_tumor_nuclei.pt")
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--size", type=int, default=500)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    import torch

    from synthlang.colornorm import haematoxylin_normalize
    from synthlang.common.regions import (
        NEIGHBOUR_DISTANCE_UM,
        complete_nuclei,
        fill_regions,
        neighbour_nuclei,
    )
    from synthlang.nuclei import segment_nuclei
    from vnet.checkpoint import color_stats
    from vnet.predict import load_model, predict_array

    torch.set_num_threads(args.threads)
    model, ckpt = load_model(args.model)
    stats = color_stats(ckpt, args.model)
    level = stats.haematoxylin_level if stats is not None else None
    images = _images(args.images, args.size)
    probs = [predict_array(model, im)[1] for im in images]
    masks = [p >= 0.5 for p in probs]
    nuclei = [segment_nuclei(im, pixel_size_um=0.5).labels for im in images]
    steps: dict[str, Callable[[int], Any]] = {
        "network": lambda i: predict_array(model, images[i]),
        "network_tta": lambda i: predict_array(model, images[i], tta=True),
        "network_tta_scales": lambda i: predict_array(
            model, images[i], tta=True, scales=(1.0, 0.9)
        ),
        "fill": lambda i: fill_regions(masks[i].astype(np.uint8)),
        "segment": lambda i: segment_nuclei(images[i], pixel_size_um=0.5),
        "complete": lambda i: complete_nuclei(masks[i].astype(np.uint8), nuclei[i]),
        "neighbours": lambda i: neighbour_nuclei(
            masks[i].astype(np.uint8), nuclei[i], probs[i], NEIGHBOUR_DISTANCE_UM / 0.5
        ),
    }
    if level is not None:
        steps["normalize"] = lambda i: haematoxylin_normalize(images[i], level)
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.repeat):
        for i in range(len(images)):
            for name, step in steps.items():
                t0 = time.perf_counter()
                step(i)
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["network"])
    result: dict[str, Any] = {
        "size": args.size,
        "images": len(images),
        "repeat": args.repeat,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "median_s": {k: statistics.median(v) for k, v in times.items()},
    }
    result["ratio_to_network"] = {k: v / base for k, v in result["median_s"].items()}
    print(f"{args.size} x {args.size}, {len(images)} images x {args.repeat}, "
          f"{args.threads} thread(s):")  # fmt: skip
    for k, v in result["median_s"].items():
        print(f"  {k:18s} {v * 1000:8.1f} ms   {result['ratio_to_network'][k]:6.2f} x network")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
