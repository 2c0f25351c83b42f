"""Time (and peak memory) of one training iteration of the coupled variational network.

One iteration = forward through the unrolled steps, loss of Eq. (3), backward, Adam
step and projection onto the constraint set. Variants:

floor
    The convolution floor: the same unrolled network with every RBF function replaced
    by the identity and no projection (convolutions, their adjoints and the symmetric
    padding forward and backward, the data term, the clamps, Adam).
table
    ``vnet.model.CoupledVN`` with the table-speed RBF operators (the default).
exact
    ``vnet.model.CoupledVN`` with the exact, memory-light Gaussian RBF operators.
naive
    ``vnet.reference.NaiveCoupledVN``: ``grad E`` by autograd of the energy with
    ``create_graph=True``, RBFs materialised as ``(input x N_w)`` tensors.

Timing: all requested variants live in one process and their iterations are
interleaved (floor, table, exact, floor, ...), so a change in the load of a shared
machine hits all of them alike and the ratios to the floor are measured in the same
run. The medians and the ratios to the floor are printed.

Peak memory (``--memory``): each variant again in a fresh subprocess. CPU: the growth
of the process's peak resident set size (``ru_maxrss``) from just before the first
iteration; CUDA: ``torch.cuda.max_memory_allocated()`` minus the memory allocated before.

Usage::

    python benchmarks/vnet_step.py                                  # batch 4, 96 x 96, 5 steps
    python benchmarks/vnet_step.py --batch 8 --size 300 --steps 10 --repeat 2   # the paper's
    python benchmarks/vnet_step.py --variants floor,table,exact,naive --memory --json out.json
    python benchmarks/vnet_step.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

VARIANTS = ("floor", "table", "exact", "naive")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's description."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _floor_forward(model: Any, u0: Any, m0: Any) -> tuple[Any, Any]:
    """The unrolled network with identity RBFs and no projection of the parameters."""
    import torch

    from vnet.model import conv, conv_adjoint

    u, m = u0, m0
    for blk in model.blocks:
        pad, n_fu = blk.config.padding, blk.config.n_fu
        z = conv(torch.cat([conv(u, blk.ku, pad), conv(m, blk.km, pad)], dim=1), blk.k, pad)
        g = conv_adjoint(z, blk.k, pad)
        gu = conv_adjoint(g[:, :n_fu], blk.ku, pad) + blk.lam * (u - u0)
        gm = conv_adjoint(g[:, n_fu:], blk.km, pad)
        u, m = torch.clamp(u - gu, 0.0, 1.0), torch.clamp(m - gm, 0.0, 1.0)
    return u, m


def _make(variant: str, args: argparse.Namespace) -> Callable[[], float]:
    """Build one variant's model, optimiser and data; return its timed iteration."""
    import torch

    from vnet import CoupledVN, VNConfig
    from vnet import rbf as R
    from vnet.reference import NaiveCoupledVN

    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    b, s = args.batch, args.size
    u0 = torch.rand(b, 3, s, s, generator=gen).to(device)
    g_u = torch.clamp(u0 + 0.05 * torch.randn(b, 3, s, s, generator=gen).to(device), 0, 1)
    g_m = (torch.rand(b, 1, s, s, generator=gen) > 0.8).float().to(device)
    m0 = torch.zeros_like(g_m)
    model = CoupledVN(VNConfig(steps=args.steps)).to(device)
    naive = NaiveCoupledVN(model) if variant == "naive" else None
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    path = "exact" if variant in ("exact", "naive") else "table"

    def forward() -> tuple[Any, Any]:
        if variant == "floor":
            return _floor_forward(model, u0, m0)
        if naive is not None:
            return naive(u0, m0)
        return model(u0, m0)

    def iteration() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        old = R.set_default_path(path)
        t = time.perf_counter()
        u, m = forward()
        loss = (u - g_u).flatten(1).pow(2).sum(1) / 6 + (m - g_m).flatten(1).pow(2).sum(1) / 2
        loss = loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if variant != "floor":
            model.project_()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t
        R.set_default_path(old)
        return elapsed

    return iteration


def _peak(device: Any) -> int:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _worker(args: argparse.Namespace, variants: list[str]) -> dict[str, Any]:
    """Interleave the iterations of ``variants`` in this process and time them."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    iterations = {v: _make(v, args) for v in variants}
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = int(torch.cuda.memory_allocated())
    else:
        base = _peak(device)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.warmup + args.repeat):
        for v in variants:
            times[v].append(iterations[v]())
    results = {}
    for v in variants:
        measured = times[v][args.warmup :] or times[v]
        results[v] = {
            "times_s": [round(t, 4) for t in times[v]],
            "median_s": statistics.median(measured),
            "min_s": min(measured),
        }
    return {
        "device": str(device),
        "cpu": cpu_model(),
        "batch": args.batch,
        "size": args.size,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "variants": results,
        "peak_bytes": _peak(device) - base,
    }


def _spawn(args: argparse.Namespace, variants: list[str]) -> dict[str, Any]:
    cmd = [
        sys.executable, os.path.abspath(__file__), "--worker", "--variants", ",".join(variants),
        "--batch", str(args.batch), "--size", str(args.size), "--steps", str(args.steps),
        "--device", args.device, "--warmup", str(args.warmup), "--repeat", str(args.repeat),
        "--threads", str(args.threads),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{variants} failed (exit {proc.returncode})\n{proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per variant; return the exit status."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument(
        "--variants", default="floor,table,exact", help=f"comma-separated of {','.join(VARIANTS)}"
    )
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    p.add_argument("--repeat", type=int, default=5, help="timed iterations per variant")
    p.add_argument("--threads", type=int, default=2, help="torch threads (0: torch's default)")
    p.add_argument("--memory", action="store_true", help="also each variant's peak memory")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if bad := [v for v in variants if v not in VARIANTS]:
        p.error(f"unknown variants {bad}; choose from {VARIANTS}")
    if args.worker:
        print(json.dumps(_worker(args, variants)))
        return 0
    res = _spawn(args, variants)
    res["peak_bytes_by_variant"] = {}
    if args.memory:
        for v in variants:
            res["peak_bytes_by_variant"][v] = _spawn(args, [v])["peak_bytes"]
    print(
        f"batch {res['batch']}, {res['size']}x{res['size']}, {res['steps']} steps on "
        f"{res['device']} ({res['cpu']}, {res['threads']} threads, torch {res['torch']})"
    )
    floor = res["variants"].get("floor", {}).get("median_s")
    for v, r in res["variants"].items():
        ratio = f", x{r['median_s'] / floor:.2f} the floor" if floor else ""
        mem = res["peak_bytes_by_variant"].get(v)
        peak = f", peak +{mem / 2**20:.0f} MiB" if mem is not None else ""
        print(
            f"{v:>6}: median {r['median_s']:.3f} s/it (min {r['min_s']:.3f}, "
            f"all {r['times_s']}){ratio}{peak}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
