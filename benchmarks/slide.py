"""Whole-slide prediction: time, memory and detection F1 on a synthetic 40x pyramidal TIFF.

Usage::

    python benchmarks/slide.py                       # full size: 20,000 x 20,000 px
    python benchmarks/slide.py --size 6000           # quick
    python benchmarks/slide.py --model models/he_tumor_nuclei.pt --model-region-mm 1

The slide: ``--pool`` samples of ``scenes/he_tumor_nuclei.scene`` (256 x 256, about 20x)
are rendered; each 512 x 512 block of a ``--size`` x ``--size`` level-0 image at
0.25 um/px (40x) inside a two-lobed tissue outline is one pool sample, turned by one
of the 8 symmetries of the square and enlarged x2 (bilinear); the rest is white glass.
It is written tile by tile (512 px, JPEG q90) as a pyramidal TIFF with resolution tags
and SVS-like levels (downsamples 1, 4, 16, ...), and the centroids of the visible
nuclei of every block (nucleus, lymphocyte and immune layers; tumour nuclei flagged)
are kept as the truth.

Each measurement runs :func:`synthlang.slides.outputs.predict_to_folder` (tissue mask,
tiles at 0.5 um/px read from level 0 and halved, GeoJSON, overlay, summary CSV) in a
fresh subprocess, so its peak resident memory (``VmHWM``) is its own; ``base`` is that
peak after the imports, the truth table and (``model``) the network are loaded:

* ``fake``: a darkness threshold (Gaussian-smoothed gray below 0.42, a soft step), one
  class, over the whole slide; scored against all visible nuclei;
* ``model`` (``--model``): the checkpoint via ``vnet.predict.load_model``, a batch
  forward of its mask output, on a ``--model-region-mm`` square mm of tissue; scored
  against the tumour nuclei (what the model segments).

Detection F1: predicted and true centroids matched one to one, greedily by distance,
within 7.5 px at 20x (15 level-0 px). ``F1 direct`` applies the same predictor to the
pool samples themselves (256 x 256 at 20x, no slide): the slide path should lose nothing.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from array import array  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "scenes" / "he_tumor_nuclei.scene"
MPP = 0.25
BLOCK = 512  # level-0 pixels per pool sample (256 x 2)
TILE = 512
BACKGROUND = (243, 241, 245)
NUCLEUS_WORDS = ("nucleus", "lymphocyte", "immune")
MATCH_PX = 15.0  # 7.5 px at 20x, in level-0 pixels
DARK = 0.42


# --------------------------------------------------------------------------- the slide


def render_pool(n: int) -> list[dict[str, Any]]:
    """``n`` samples: uint8 image, instance map, nucleus ids and tumour flags."""
    import synthlang

    scene = synthlang.compile_file(SCENE)
    pool = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            s = synthlang.render(scene, seed=1000 + i)
            area = np.bincount(s.instance_map.ravel(), minlength=len(s.instances) + 1)
            ids, tumour = [], []
            for r in s.instances:
                if any(w in r.category for w in NUCLEUS_WORDS) and area[r.id] >= 15:
                    ids.append(r.id)
                    tumour.append(r.category.startswith("tumor_nucleus"))
            img = (np.clip(s.noisy, 0, 1) * 255 + 0.5).astype(np.uint8)
            pool.append(
                {
                    "image": img,
                    "instances": s.instance_map,
                    "ids": np.array(ids, np.int64),
                    "tumour": np.array(tumour, bool),
                }
            )
    return pool


def variant(a: np.ndarray, v: int) -> np.ndarray:
    """Symmetry ``v`` (0-7) of the square: a rotation, then a flip for ``v >= 4``."""
    a = np.rot90(a, v % 4)
    return a[:, ::-1] if v >= 4 else a


def centroids(sample: dict[str, Any], v: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 2)`` (x, y) centroids of the nuclei (pixel centres at integers) and tumour flags."""
    inst = variant(sample["instances"], v)
    n = int(inst.max()) + 1
    ids = inst.ravel()
    cnt = np.maximum(np.bincount(ids, minlength=n), 1)
    rr, cc = np.indices(inst.shape)
    cy = np.bincount(ids, weights=rr.ravel(), minlength=n) / cnt
    cx = np.bincount(ids, weights=cc.ravel(), minlength=n) / cnt
    k = sample["ids"]
    return np.stack([cx[k], cy[k]], axis=1), sample["tumour"]


def layout(size: int, n_pool: int, seed: int) -> np.ndarray:
    """Per block: -1 (glass) or ``pool_index * 8 + symmetry``."""
    g = math.ceil(size / BLOCK)
    rng = np.random.default_rng(seed)
    yy, xx = (np.indices((g, g)) + 0.5) * BLOCK / size
    lobe1 = ((xx - 0.38) / 0.30) ** 2 + ((yy - 0.45) / 0.36) ** 2 <= 1
    lobe2 = ((xx - 0.70) / 0.22) ** 2 + ((yy - 0.62) / 0.25) ** 2 <= 1
    tissue = lobe1 | lobe2
    codes = rng.integers(0, n_pool, (g, g)) * 8 + rng.integers(0, 8, (g, g))
    return np.where(tissue, codes, -1)


def write_slide(path: Path, size: int, pool: list[dict[str, Any]], blocks: np.ndarray) -> int:
    """The pyramidal TIFF (tile by tile); returns the number of levels."""
    import tifffile

    cache: dict[tuple[int, int], np.ndarray] = {}

    def block_image(code: int, ds: int) -> np.ndarray:
        side = BLOCK // ds
        if code < 0:
            return np.broadcast_to(np.array(BACKGROUND, np.uint8), (side, side, 3))
        key = (code, ds)
        if key not in cache:
            img = Image.fromarray(np.ascontiguousarray(variant(pool[code // 8]["image"], code % 8)))
            if ds == 1:
                img = img.resize((BLOCK, BLOCK), Image.Resampling.BILINEAR)
            else:
                img = img.resize((side, side), Image.Resampling.BOX)
            cache[key] = np.asarray(img)
            if len(cache) > 4096:
                cache.clear()
        return cache[key]

    def tiles(ds: int) -> Any:
        h = w = math.ceil(size / ds)
        side = BLOCK // ds
        per = TILE // side
        for ty in range(math.ceil(h / TILE)):
            for tx in range(math.ceil(w / TILE)):
                t = np.empty((TILE, TILE, 3), np.uint8)
                t[:] = BACKGROUND
                for by in range(per):
                    for bx in range(per):
                        gi, gj = ty * per + by, tx * per + bx
                        if gi < blocks.shape[0] and gj < blocks.shape[1]:
                            t[by * side : (by + 1) * side, bx * side : (bx + 1) * side] = (
                                block_image(int(blocks[gi, gj]), ds)
                            )
                yield t

    downsamples = [1]
    while math.ceil(size / downsamples[-1]) > 1024 and BLOCK // (downsamples[-1] * 4) >= 1:
        downsamples.append(downsamples[-1] * 4)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for k, ds in enumerate(downsamples):
            side = math.ceil(size / ds)
            res = 1e4 / (MPP * ds)
            tif.write(
                tiles(ds),
                shape=(side, side, 3),
                dtype=np.uint8,
                tile=(TILE, TILE),
                photometric="rgb",
                compression="jpeg",
                compressionargs={"level": 90},
                resolution=(res, res),
                resolutionunit="CENTIMETER",
                subifds=len(downsamples) - 1 if k == 0 else None,
                subfiletype=1 if k else 0,
            )
    return len(downsamples)


def truth_points(size: int, pool: list[dict[str, Any]], blocks: np.ndarray) -> np.ndarray:
    """``(n, 3)`` level-0 x, y and tumour flag of every true nucleus."""
    per_code: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for (i, j), code in np.ndenumerate(blocks):
        if code < 0:
            continue
        if code not in per_code:
            per_code[int(code)] = centroids(pool[code // 8], code % 8)
        xy, tum = per_code[int(code)]
        x = j * BLOCK + (xy[:, 0] + 0.5) * 2
        y = i * BLOCK + (xy[:, 1] + 0.5) * 2
        keep = (x < size) & (y < size)
        out.append(np.stack([x[keep], y[keep], tum[keep]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 3))


# --------------------------------------------------------------------------- scoring


def match_f1(pred: np.ndarray, truth: np.ndarray, radius: float) -> dict[str, float]:
    """One-to-one greedy matching by distance within ``radius``: precision, recall, F1."""
    from scipy.spatial import cKDTree

    if len(pred) == 0 or len(truth) == 0:
        return {"tp": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    pairs = cKDTree(pred).sparse_distance_matrix(cKDTree(truth), radius, output_type="ndarray")
    pairs = np.sort(pairs, order="v")
    used_p = np.zeros(len(pred), bool)
    used_t = np.zeros(len(truth), bool)
    tp = 0
    for i, j, _ in pairs:
        if not used_p[i] and not used_t[j]:
            used_p[i] = used_t[j] = True
            tp += 1
    p, r = tp / len(pred), tp / len(truth)
    return {"tp": tp, "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if tp else 0.0}


def fake_predictor(x: np.ndarray) -> np.ndarray:
    """Darkness: a soft step at gray 0.42 of the Gaussian-smoothed (sigma 1) gray level."""
    g = ndi.gaussian_filter(x.mean(axis=-1), (0, 1.0, 1.0))
    return (1.0 / (1.0 + np.exp((g - DARK) / 0.03)))[:, None].astype(np.float32)


def model_predictor(path: Path, threads: int) -> Any:
    import torch

    from vnet.predict import load_model

    torch.set_num_threads(threads)
    model, _ = load_model(path)

    @torch.no_grad()
    def predict(x: np.ndarray) -> np.ndarray:
        u0 = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        _, m = model(u0, torch.zeros_like(u0[:, :1]))
        return m.float().numpy()

    return predict


def direct_f1(pool: list[dict[str, Any]], predictor: Any, tumour_only: bool) -> float:
    """The predictor on the pool samples themselves (20x, no slide)."""
    from synthlang.slides.predict import predict_slide
    from synthlang.slides.reader import Slide

    pred_all, truth_all = [], []
    for k, s in enumerate(pool):
        r = predict_slide(
            Slide.from_array(s["image"], mpp=0.5),
            predictor,
            tile=256,
            overlap=64,
            progress=False,
            keep_nuclei=True,
            tissue=False,
        )
        assert r.nuclei is not None
        off = k * 10_000.0  # keep the samples apart
        pred_all.append(np.array([(n.x + off, n.y) for n in r.nuclei]).reshape(-1, 2))
        xy, tum = centroids(s, 0)
        xy = xy + 0.5
        truth_all.append((xy[tum] if tumour_only else xy) + (off, 0))
    return match_f1(np.concatenate(pred_all), np.concatenate(truth_all), 7.5)["f1"]


# --------------------------------------------------------------------------- one run


class _Centroids:
    """A sink keeping only the centroids (16 bytes a nucleus)."""

    def __init__(self) -> None:
        self.xy = array("d")

    def begin(self, plan: Any, class_names: Any) -> None:
        pass

    def add_labels(self, tile: Any, labels: Any) -> None:
        pass

    def add_nucleus(self, nucleus: Any) -> None:
        self.xy.append(nucleus.x)
        self.xy.append(nucleus.y)


def peak_rss_mb() -> float:
    """Peak resident memory of this process image (``VmHWM``; ``ru_maxrss`` elsewhere).

    ``ru_maxrss`` keeps the parent's peak across fork and exec on Linux, so it would
    report the benchmark's own rendering memory; ``VmHWM`` starts afresh at exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_phase(args: argparse.Namespace) -> None:
    """Subprocess: predict, write outputs, score; print one JSON line."""
    from synthlang.slides import outputs
    from synthlang.slides.reader import open_slide

    truth = np.load(args.truth)["truth"]
    region = None
    if args.predictor == "model":
        predictor = model_predictor(Path(args.model), args.threads)
        side = int(round(math.sqrt(args.model_region_mm) * 1000 / MPP))
        cx, cy = 0.38 * args.size, 0.45 * args.size  # inside the first lobe
        region = (int(cx - side / 2), int(cy - side / 2), side, side)
        truth = truth[truth[:, 2] > 0]
    else:
        predictor = fake_predictor
    base = peak_rss_mb()
    sink = _Centroids()
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    with open_slide(args.slide) as slide:
        result, paths = outputs.predict_to_folder(
            slide,
            predictor,
            args.out,
            class_names=["tumor"] if args.predictor == "model" else ["nucleus"],
            batch=args.model_batch if args.predictor == "model" else args.batch,
            workers=args.workers,
            region=region,
            progress=True,
            sinks=[sink],
        )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_mb()
    pred = np.frombuffer(sink.xy, dtype=np.float64).reshape(-1, 2)
    if region is not None:
        x, y, w, h = region
        inside = (truth[:, 0] >= x) & (truth[:, 0] < x + w) & (truth[:, 1] >= y)
        truth = truth[inside & (truth[:, 1] < y + h)]
    score = match_f1(pred, truth[:, :2], MATCH_PX)
    area = result.tissue_area_mm2
    print(
        json.dumps(
            {
                "predictor": args.predictor,
                "seconds": wall,
                "cpu_seconds": cpu,
                "tissue_mm2": area,
                "s_per_mm2": wall / area if area else float("nan"),
                "tiles": result.n_tiles,
                "nuclei": result.total,
                "truth": int(len(truth)),
                "precision": score["precision"],
                "recall": score["recall"],
                "f1": score["f1"],
                "rss_base_mb": base,
                "rss_peak_mb": peak,
                "geojson_mb": paths["geojson"].stat().st_size / 2**20,
                "load_start": load0,
                "load_end": os.getloadavg()[0],
                "region": region,
            }
        )
    )


def run_sub(args: argparse.Namespace, which: str, slide: Path, truth: Path, out: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--phase",
        which,
        "--slide",
        str(slide),
        "--truth",
        str(truth),
        "--out",
        str(out),
        "--size",
        str(args.size),
        "--batch",
        str(args.batch),
        "--model-batch",
        str(args.model_batch),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--model-region-mm",
        str(args.model_region_mm),
    ]
    if args.model:
        cmd += ["--model", str(args.model)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, cwd=ROOT)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="level-0 side in pixels")
    parser.add_argument("--pool", type=int, default=24, help="rendered samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16, help="tiles per call (fake)")
    parser.add_argument("--model-batch", type=int, default=4, help="tiles per call (--model)")
    parser.add_argument("--workers", type=int, default=2, help="tile-reading threads")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (--model)")
    parser.add_argument("--model", type=Path, default=None, help="a vnet checkpoint")
    parser.add_argument("--model-region-mm", type=float, default=1.0, help="mm² for --model")
    parser.add_argument("--keep", type=Path, default=None, help="keep the slide and outputs here")
    parser.add_argument("--phase", choices=["fake", "model"], help=argparse.SUPPRESS)
    parser.add_argument("--slide", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--truth", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        args.predictor = args.phase
        run_phase(args)
        return
    work = Path(tempfile.mkdtemp(prefix="slide-bench-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        pool = render_pool(args.pool)
        t_render = time.perf_counter() - t0
        blocks = layout(args.size, args.pool, args.seed)
        slide = work / "synthetic.tif"
        t0 = time.perf_counter()
        n_levels = write_slide(slide, args.size, pool, blocks)
        t_write = time.perf_counter() - t0
        truth = truth_points(args.size, pool, blocks)
        np.savez(work / "truth.npz", truth=truth)
        print(
            f"slide {args.size} x {args.size} px at {MPP} um/px, {n_levels} levels, "
            f"{slide.stat().st_size / 2**20:.0f} MiB, {int((blocks >= 0).sum())} tissue blocks, "
            f"{len(truth)} nuclei ({int(truth[:, 2].sum())} tumour); render {t_render:.1f} s, "
            f"write {t_write:.1f} s",
            flush=True,
        )
        rows = []
        for which in ["fake", "model"] if args.model else ["fake"]:
            res = run_sub(args, which, slide, work / "truth.npz", work / which)
            if which == "fake":
                res["f1_direct"] = direct_f1(pool, fake_predictor, tumour_only=False)
            else:
                res["f1_direct"] = direct_f1(
                    pool, model_predictor(args.model, args.threads), tumour_only=True
                )
            rows.append(res)
        print()
        print(
            "| predictor | region | tissue mm² | tiles | nuclei | s | CPU s | s/mm² | peak RSS MB "
            "(base) | GeoJSON MB | F1 (P / R) | F1 direct | load |"
        )
        print("| --- " * 13 + "|")
        for r in rows:
            reg = "whole slide" if r["region"] is None else "{}x{} px".format(*r["region"][2:])
            print(
                f"| {r['predictor']} | {reg} | {r['tissue_mm2']:.2f} | {r['tiles']} | "
                f"{r['nuclei']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                f"{r['s_per_mm2']:.2f} | {r['rss_peak_mb']:.0f} ({r['rss_base_mb']:.0f}) | "
                f"{r['geojson_mb']:.1f} | {r['f1']:.3f} ({r['precision']:.3f} / "
                f"{r['recall']:.3f}) | {r['f1_direct']:.3f} | "
                f"{r['load_start']:.1f} -> {r['load_end']:.1f} |"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
