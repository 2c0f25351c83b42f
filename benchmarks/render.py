"""Rendering throughput: images per second per core, and the speed-up of 2 workers.

Usage::

    python benchmarks/render.py                       # all shipped scenarios, 300x300
    python benchmarks/render.py --n 100 --scenes scenes/scenario2.scene

For each scene it reports, in one run (ratios are what to compare: this machine is noisy):

* ``render``: ``synthlang.render`` in this process, arrays only (images/s on one core);
* ``dataset w1``: ``render_dataset(..., workers=1)``, including PNG + JSON writing;
* ``dataset w2``: the same with ``workers=2``, and the speed-up w2 / w1;
* the share of render time spent in fast marching (scikit-fmm) and in placement, from cProfile.

Results are printed as a Markdown table (paste into docs/performance.md).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import synthlang
from synthlang.dataset import render_dataset
from synthlang.sample import sample_seed

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENES = [ROOT / "scenes" / f"scenario{i}.scene" for i in (1, 2, 3)]


def time_render(scene: synthlang.Scene, n: int) -> float:
    """Images per second of in-process rendering (one core)."""
    synthlang.render(scene, seed=sample_seed(99, 0))  # warm caches (patch libraries, imports)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            synthlang.render(scene, seed=sample_seed(0, i))
    return n / (time.perf_counter() - start)


def profile_shares(scene: synthlang.Scene, n: int) -> dict[str, float]:
    """Fraction of render time spent in fast marching and in placement."""
    prof = cProfile.Profile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof.enable()
        for i in range(n):
            synthlang.render(scene, seed=sample_seed(1, i))
        prof.disable()
    stats = pstats.Stats(prof)
    total = max(stats.total_tt, 1e-12)  # type: ignore[attr-defined]
    shares = {"fast marching (skfmm)": 0.0, "placement": 0.0}
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "skfmm" in filename and func in ("travel_time", "distance"):
            shares["fast marching (skfmm)"] += ct
        if filename.endswith("placement.py") and func == "place_objects":
            shares["placement"] += ct
    return {k: v / total for k, v in shares.items()}


def time_dataset(scene: synthlang.Scene, n: int, workers: int) -> float:
    """Images per second of render_dataset with this many workers (files written)."""
    out = Path(tempfile.mkdtemp(prefix="synthlang-bench-"))
    try:
        start = time.perf_counter()
        render_dataset(scene, n, out / "ds", seed=0, workers=workers)
        return n / (time.perf_counter() - start)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="*", type=Path, default=DEFAULT_SCENES)
    parser.add_argument("--n", type=int, default=60, help="samples per measurement")
    parser.add_argument("--profile-n", type=int, default=10, help="samples profiled")
    args = parser.parse_args()

    rows = []
    for path in args.scenes:
        if not path.exists():
            print(f"skip {path}: missing")
            continue
        scene = synthlang.compile_file(path)
        r1 = time_render(scene, args.n)
        shares = profile_shares(scene, args.profile_n)
        d1 = time_dataset(scene, args.n, 1)
        d2 = time_dataset(scene, args.n, 2)
        rows.append((path.name, scene.size, r1, d1, d2, shares))
        print(f"{path.name}: done", flush=True)

    print()
    print(
        "| scene | size | render img/s/core | dataset w1 img/s | dataset w2 img/s | "
        "w2/w1 | fast marching | placement |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, size, r1, d1, d2, shares in rows:
        print(
            f"| {name} | {size[0]}x{size[1]} | {r1:.1f} | {d1:.1f} | {d2:.1f} | {d2 / d1:.2f}x | "
            f"{100 * shares['fast marching (skfmm)']:.0f} % | {100 * shares['placement']:.0f} % |"
        )


if __name__ == "__main__":
    main()
