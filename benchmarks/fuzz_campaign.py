"""A long fuzzing campaign against the compiler and the engine (by hand, not in CI).

Each case edits one file of a shipped scene (tests/fuzz/harness.py: deleted,
duplicated, swapped and inserted tokens, extreme numbers, odd strings, random
bytes, truncation), compiles it with small limits and, when that succeeds,
renders and encodes one 48 x 48 sample. Cases run in worker processes; a case
that takes longer than --timeout seconds is a hang: its worker is killed and
replaced. Every uncaught exception, error without a position, invalid sample
and hang is saved as a reproducer folder (the edited scene files, case.json,
detail.txt).

Usage::

    python benchmarks/fuzz_campaign.py --cases 10000 --seed 1 --procs 1 --out out/fuzz

Case ``i`` depends only on ``(seed, i)``, so ``--first I --cases 1`` replays it.
The summary (also written to OUT/summary.json) counts the outcomes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shlex
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.harness import (  # noqa: E402
    SceneCase,
    prepare_workdir,
    random_case,
    run_scene_case,
    save_reproducer,
    write_case,
)


def case_for(seed: int, index: int) -> SceneCase:
    """Case ``index`` of the campaign with ``seed`` (independent of every other case)."""
    return random_case(random.Random(f"{seed}:{index}"))


def _worker(conn: Connection, render: bool) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="synthlang-fuzz-") as tmp:
        work = Path(tmp)
        prepare_workdir(work)
        while True:
            try:
                job = conn.recv()
            except EOFError:
                return
            if job is None:
                return
            index, case = job
            try:
                outcome, detail = run_scene_case(work, case, render=render)
            except BaseException as exc:  # the harness itself must never die
                outcome, detail = f"bug:harness:{type(exc).__name__}", repr(exc)
            conn.send((index, outcome, detail))


class Worker:
    """One worker process with its pipe and current job."""

    def __init__(self, ctx: mp.context.BaseContext, render: bool) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, render), daemon=True)
        self.proc.start()
        child.close()
        self.job: tuple[int, SceneCase] | None = None
        self.started = 0.0

    def submit(self, index: int, case: SceneCase) -> None:
        self.job = (index, case)
        self.started = time.monotonic()
        self.conn.send(self.job)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="number of cases")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed")
    parser.add_argument("--first", type=int, default=0, help="index of the first case")
    parser.add_argument("--procs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    parser.add_argument("--out", type=Path, default=Path("out/fuzz"), help="reproducer folder")
    parser.add_argument("--no-render", action="store_true", help="compile only")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    render = not args.no_render
    args.out.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    findings: list[dict[str, object]] = []
    todo = iter(range(args.first, args.first + args.cases))
    workers = [Worker(ctx, render) for _ in range(max(1, args.procs))]
    done = 0
    slowest = (0.0, -1)
    start = time.monotonic()

    def record(index: int, case: SceneCase, outcome: str, detail: str, seconds: float) -> None:
        nonlocal done, slowest
        done += 1
        counts[outcome] += 1
        slowest = max(slowest, (seconds, index))
        if outcome.startswith(("bug", "hang")):
            folder = args.out / f"case-{args.seed}-{index}"
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                prepare_workdir(work)
                write_case(work, case)
                save_reproducer(folder, work, case, outcome, detail)
            findings.append({"index": index, "outcome": outcome, "folder": str(folder)})
            if not args.quiet:
                print(f"[{index}] {outcome}: {detail.strip().splitlines()[-1][:200]}", flush=True)
        if not args.quiet and done % 500 == 0:
            rate = done / (time.monotonic() - start)
            print(f"{done} cases, {rate:.1f}/s: {dict(counts.most_common(6))}", flush=True)

    for w in workers:
        i = next(todo, None)
        if i is not None:
            w.submit(i, case_for(args.seed, i))
    while any(w.job is not None for w in workers):
        for k, w in enumerate(workers):
            if w.job is None:
                continue
            left = args.timeout - (time.monotonic() - w.started)
            if w.conn.poll(max(0.0, min(left, 0.05))):
                try:
                    index, outcome, detail = w.conn.recv()
                except EOFError:  # the worker died (killed by the OS?)
                    index, (outcome, detail) = w.job[0], ("bug:worker died", "")
                    w.kill()
                    workers[k] = w = Worker(ctx, render)
                    w.job = (index, case_for(args.seed, index))
                record(index, w.job[1], outcome, detail, time.monotonic() - w.started)
            elif left <= 0:
                index, case = w.job
                w.kill()
                record(index, case, "hang", f"no result after {args.timeout:g} s", args.timeout)
                workers[k] = w = Worker(ctx, render)
            else:
                continue
            w.job = None
            i = next(todo, None)
            if i is not None:
                w.submit(i, case_for(args.seed, i))
    for w in workers:
        w.conn.send(None)
        w.proc.join(timeout=5)
    wall = time.monotonic() - start
    summary = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "seed": args.seed,
        "first": args.first,
        "cases": done,
        "procs": args.procs,
        "timeout_s": args.timeout,
        "render": render,
        "wall_s": round(wall, 1),
        "cases_per_s": round(done / wall, 2) if wall else None,
        "slowest_case": {"index": slowest[1], "seconds": round(slowest[0], 2)},
        "outcomes": dict(sorted(counts.items())),
        "ok": counts["ok"],
        "synthlang_errors": sum(v for k, v in counts.items() if k.startswith("error:")),
        "bugs": sum(v for k, v in counts.items() if k.startswith("bug")),
        "hangs": counts["hang"],
        "findings": findings,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "findings"}, indent=1))
    return 1 if summary["bugs"] or summary["hangs"] else 0


if __name__ == "__main__":
    sys.exit(main())
