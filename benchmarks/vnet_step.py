"""Time and peak memory of one training iteration of the coupled variational network.

One iteration = forward through the unrolled steps, loss of Eq. (3), backward, Adam
step and projection onto the constraint set. Two variants run side by side, each in
a fresh subprocess so that their memory peaks do not mix:

fast
    ``vnet.model.CoupledVN``: explicit gradient formulas, memory-light RBF operators.
naive
    ``vnet.reference.NaiveCoupledVN``: ``grad E`` by autograd of the energy with
    ``create_graph=True``, RBFs materialised as ``(input x N_w)`` tensors.

Peak memory
-----------
CPU: the growth of the process's peak resident set size (``getrusage(RUSAGE_SELF)
.ru_maxrss``) from just before the first iteration (model, optimiser and data already
built) to the end. PyTorch's CPU allocator hands large blocks back to the OS, so
this is the high-water mark of the iteration's own allocations (plus allocator
slack). CUDA: ``torch.cuda.max_memory_allocated()`` minus the memory allocated
before the first iteration.

Usage::

    python benchmarks/vnet_step.py --batch 2 --size 96 --steps 2            # fast vs naive
    python benchmarks/vnet_step.py --batch 8 --size 300 --steps 10 --variants fast
    python benchmarks/vnet_step.py --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def _worker(args: argparse.Namespace) -> dict:
    import torch

    from vnet import CoupledVN, VNConfig
    from vnet.reference import NaiveCoupledVN

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    b, s = args.batch, args.size
    u0 = torch.rand(b, 3, s, s, generator=gen).to(device)
    g_u = torch.clamp(u0 + 0.05 * torch.randn(b, 3, s, s, generator=gen).to(device), 0, 1)
    g_m = (torch.rand(b, 1, s, s, generator=gen) > 0.8).float().to(device)
    m0 = torch.zeros_like(g_m)
    model = CoupledVN(VNConfig(steps=args.steps)).to(device)
    net = model if args.variant == "fast" else NaiveCoupledVN(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def iteration() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        u, m = net(u0, m0)
        loss = (u - g_u).flatten(1).pow(2).sum(1) / 6 + (m - g_m).flatten(1).pow(2).sum(1) / 2
        loss = loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.project_()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = [iteration() for _ in range(args.warmup + args.repeat)]
    if device.type == "cuda":
        total = torch.cuda.max_memory_allocated()
        method = "torch.cuda.max_memory_allocated - allocated before"
    else:
        total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        method = "ru_maxrss growth from before the first iteration"
    peak = total - base
    measured = times[args.warmup :] or times
    return {
        "variant": args.variant,
        "device": str(device),
        "batch": b,
        "size": s,
        "steps": args.steps,
        "threads": torch.get_num_threads(),
        "times_s": [round(t, 4) for t in times],
        "median_s": statistics.median(measured),
        "min_s": min(measured),
        "peak_bytes": int(peak),
        "before_bytes": int(base),
        "peak_total_bytes": int(total),
        "memory_method": method,
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--variants", default="fast,naive", help="comma-separated: fast,naive")
    p.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    p.add_argument("--repeat", type=int, default=3, help="timed iterations")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0
    results = []
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        cmd = [
            sys.executable, os.path.abspath(__file__), "--worker", "1", "--variant", variant,
            "--batch", str(args.batch), "--size", str(args.size), "--steps", str(args.steps),
            "--device", args.device, "--warmup", str(args.warmup), "--repeat", str(args.repeat),
            "--threads", str(args.threads),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(
                f"{variant}: failed (exit {proc.returncode})\n{proc.stderr[-2000:]}",
                file=sys.stderr,
            )
            results.append({"variant": variant, "error": proc.stderr[-2000:]})
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{variant:>5}: batch {r['batch']}, {r['size']}x{r['size']}, {r['steps']} steps on "
            f"{r['device']} ({r['threads']} threads): median {r['median_s']:.3f} s/it "
            f"(min {r['min_s']:.3f}, all {r['times_s']}), peak +{r['peak_bytes'] / 2**20:.0f} MiB "
            f"(process peak {r['peak_total_bytes'] / 2**20:.0f} MiB)"
        )
    ok = {r["variant"]: r for r in results if "error" not in r}
    if "fast" in ok and "naive" in ok:
        f, n = ok["fast"], ok["naive"]
        print(
            f"naive / fast: time x{n['median_s'] / f['median_s']:.1f}, "
            f"peak memory x{n['peak_bytes'] / max(f['peak_bytes'], 1):.1f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0 if len(ok) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
