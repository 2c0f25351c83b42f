"""Dataset throughput of the executors: local workers 1 and 2, and a local Dask cluster.

Usage::

    python benchmarks/scale.py                         # scenario 2, 300 x 300, 60 samples
    python benchmarks/scale.py --n 200 --scene scenes/scenario3.scene --dask-workers 2

In one run (so that the ratios are comparable on a noisy machine) it renders the same dataset
with ``render_dataset`` and

* ``local w1``: one process;
* ``local w2``: two worker processes;
* ``dask 2x1``: a ``distributed.LocalCluster`` of ``--dask-workers`` processes with one thread
  each (started before the clock runs), workers returning encoded files to this process;

checks that the three folders are byte-identical and prints images/s, the ratio to ``local w1``
and images/s per worker process as a Markdown table (docs/scale.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from synthlang.data.dataset import render_dataset
from synthlang.data.executors import DaskExecutor, LocalExecutor
from synthlang.lang.compile import compile_file

ROOT = Path(__file__).resolve().parent.parent


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def timed(scene, n: int, out: Path, executor) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    report = render_dataset(scene, n, out, seed=1, executor=executor)
    seconds = time.perf_counter() - start
    assert report.complete and report.rendered == n
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", type=Path, default=ROOT / "scenes" / "scenario2.scene")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--dask-workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from distributed import LocalCluster

    scene = compile_file(args.scene)
    tmp = Path(tempfile.mkdtemp(prefix="synthlang-scale-"))
    rows = []
    try:
        timed(scene, 4, tmp / "warm", LocalExecutor(1))  # imports, caches
        for label, workers, make in (
            ("local w1", 1, lambda: LocalExecutor(1)),
            ("local w2", 2, lambda: LocalExecutor(2)),
        ):
            rows.append((label, workers, timed(scene, args.n, tmp / label, make())))
        k = args.dask_workers
        with LocalCluster(
            n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            dask = DaskExecutor(cluster.scheduler_address)
            timed(scene, 2 * k, tmp / "dask-warm", dask)  # workers import synthlang
            rows.append((f"dask {k}x1", k, timed(scene, args.n, tmp / "dask", dask)))
        digests = {digest(tmp / label) for label in ("local w1", "local w2", "dask")}
        assert len(digests) == 1, "the executors wrote different bytes"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = args.n / rows[0][2]
    print(f"{scene.name}, {scene.size[0]} x {scene.size[1]}, n = {args.n}, {os.cpu_count()} CPUs")
    print("| executor | images/s | ratio to w1 | images/s per worker |")
    print("| --- | --- | --- | --- |")
    for label, workers, seconds in rows:
        rate = args.n / seconds
        print(f"| {label} | {rate:.1f} | {rate / base:.2f} | {rate / workers:.1f} |")
    print("byte-identical: yes")


if __name__ == "__main__":
    main()
