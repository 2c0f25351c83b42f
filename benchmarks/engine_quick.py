"""Quick engine timing: ms per 300x300 sample of the paper's Scenarios 1 and 2 (IR built by hand).

Usage::

    python benchmarks/engine_quick.py            # 40 samples per scene, one core
    python benchmarks/engine_quick.py --n 100 --profile

Runs in this process on one core (BLAS threads are pinned to 1). Reports
wall-clock ms/sample (mean, median, min) and the process CPU time per sample,
which is less sensitive to other load on a shared machine; the target is
<= 40 ms (25 images/s/core).
``--profile`` prints the top functions of a cProfile run per scene.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from synthlang.engine.render import render  # noqa: E402
from synthlang.engine.sampling import sample_seed  # noqa: E402
from synthlang.engine.scratch import tune_allocator  # noqa: E402
from tests.synthlang.engine.paper_scenes import scenario1, scenario2  # noqa: E402


def time_scene(scene, n: int) -> tuple[list[float], list[float]]:
    """Per-sample wall and CPU (process) times in ms."""
    render(scene, seed=sample_seed(99, 0))
    wall, cpu = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            t0, c0 = time.perf_counter(), time.process_time()
            render(scene, seed=sample_seed(0, i))
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="samples per scene")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    parser.add_argument(
        "--tune-malloc",
        action="store_true",
        help="keep freed memory in glibc malloc (synthlang.engine.scratch.tune_allocator)",
    )
    args = parser.parse_args()
    if args.tune_malloc:
        print("tune_allocator:", tune_allocator())
    for scene in (scenario1(), scenario2()):
        wall, cpu = time_scene(scene, args.n)
        print(
            f"{scene.name}: wall mean {statistics.fmean(wall):.1f} ms, "
            f"median {statistics.median(wall):.1f} ms, min {min(wall):.1f} ms; "
            f"cpu mean {statistics.fmean(cpu):.1f} ms "
            f"({1e3 / statistics.fmean(cpu):.1f} images/s/core)"
        )
        if args.profile:
            prof = cProfile.Profile()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                prof.enable()
                for i in range(args.n):
                    render(scene, seed=sample_seed(1, i))
                prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
