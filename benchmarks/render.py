"""Rendering throughput: images per second per core, and the speed-up of 2 workers.

Usage::

    python benchmarks/render.py                       # all shipped scenarios, 300x300
    python benchmarks/render.py --n 100 --scenes scenes/scenario2.scene

For each scene it reports, in one run (ratios are what to compare: this machine is noisy):

* ``render``: ``synthlang.render`` in this process, arrays only (images/s on one core);
* ``dataset w1``: ``render_dataset(..., workers=1)``, including PNG + JSON writing;
* ``dataset w2``: the same with ``workers=2``, and the speed-up w2 / w1;
* the share of render time spent in fast marching, placement, textures and compositing (cProfile).

"per CPU s" divides by the process CPU time instead of wall time: on a machine shared with other
jobs it is the fairer per-core figure.

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
from synthlang.data.dataset import render_dataset
from synthlang.engine.sampling import sample_seed

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENES = [ROOT / "scenes" / f"scenario{i}.scene" for i in (1, 2, 3)]


def time_render(scene: synthlang.Scene, n: int) -> tuple[float, float]:
    """Images per second of in-process rendering: per wall second and per CPU second."""
    synthlang.render(scene, seed=sample_seed(99, 0))  # warm caches (patch libraries, imports)
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            synthlang.render(scene, seed=sample_seed(0, i))
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


STAGES = {
    "fast marching": [("fastmarch.py", "arrival_time"), ("fastmarch.py", "first_arrival_labels")],
    "placement": [("placement.py", "place_objects")],
    "textures": [("textures.py", "texture_layer")],
    "composite": [("composite.py", "composite")],
}


def profile_shares(scene: synthlang.Scene, n: int) -> dict[str, float]:
    """Fraction of render time spent in each stage of :data:`STAGES` (cProfile, cumulative)."""
    prof = cProfile.Profile()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prof.enable()
        for i in range(n):
            synthlang.render(scene, seed=sample_seed(1, i))
        prof.disable()
    stats = pstats.Stats(prof)
    table = stats.stats  # type: ignore[attr-defined]
    total = sum(
        ct
        for (f, _l, fn), (_c, _n, _t, ct, _) in table.items()
        if fn == "render" and f.endswith("render.py")
    )
    shares = {}
    for stage, funcs in STAGES.items():
        spent = sum(
            ct
            for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in table.items()
            if (Path(filename).name, func) in funcs
        )
        shares[stage] = spent / max(total, 1e-12)
    return shares


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
        r1, r1cpu = time_render(scene, args.n)
        shares = profile_shares(scene, args.profile_n)
        d1 = time_dataset(scene, args.n, 1)
        d2 = time_dataset(scene, args.n, 2)
        rows.append((path.name, scene.size, r1, r1cpu, d1, d2, shares))
        print(f"{path.name}: done", flush=True)

    print()
    print(
        "| scene | size | render img/s (wall) | render img/s per CPU s | dataset w1 img/s | "
        "dataset w2 img/s | w2/w1 | " + " | ".join(STAGES) + " |"
    )
    print("| --- " * (7 + len(STAGES)) + "|")
    for name, size, r1, r1cpu, d1, d2, shares in rows:
        print(
            f"| {name} | {size[0]}x{size[1]} | {r1:.1f} | {r1cpu:.1f} | {d1:.1f} | {d2:.1f} | "
            f"{d2 / d1:.2f}x | " + " | ".join(f"{100 * shares[k]:.0f} %" for k in STAGES) + " |"
        )


if __name__ == "__main__":
    main()
