"""Why the denoised u_T of the old `default` VN preset was worse than its input u0, and the fix.

    python experiments/vn_psnr_study.py                   # every variant, 300 iterations each
    python experiments/vn_psnr_study.py --variants base lam1 --iterations 300

Small, fast probes of the training dynamics on Scenario 1 (scenes/scenario1.scene, the
paper's Fig. 3 scenario): the default preset's network (N_t = 5, paper kernel sizes,
zero_mean=False for Scenario 1) and optimiser (Adam 3e-3, batch 4), but 48 x 48 crops of a
fixed set of 40 rendered samples so that a probe takes minutes on one CPU thread. Every 50
iterations the held-out PSNR of u_T and the accuracy of m_T are measured on four 128 x 128 crops
of samples rendered with seed 99 (never trained on). Variants (several may be combined with +):

``base``     the old default preset (lambda_init 0.1)
``lamX``     lambda_init = X (the data-term weight lambda_t of every step at the start)
``kident``   K_t initialised to the identity (no random mixing of image and mask features)
``dphiX``    dphi_slope = X (initial slope of Dphi_t)
``lrX``      Adam step size X instead of 3e-3
``klrX``     Adam step size of the convolution kernels (K^u, K^m, K) X times that of the other
             parameters (RBF weights, lambda): a kernel entry is about 1/363 in size, so 3e-3
             moves it by its own size per step (needs an optimiser with parameter groups; not a
             preset option of `synthlang train`)

The loss is Eq. (3) unchanged (vnet.train.loss_and_metrics). Results:
docs/results/vn_psnr_study.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402


def probe(variant: str, iterations: int, crop: int, seed: int = 0) -> dict:
    import torch

    import synthlang
    from vnet.config import VNConfig
    from vnet.model import CoupledVN
    from vnet.train import loss_and_metrics

    torch.set_num_threads(C.THREADS)
    torch.manual_seed(seed)
    warnings.simplefilter("ignore")
    sc = synthlang.compile_file(C.REPO / "scenes" / "scenario1.scene")
    train = [synthlang.render(sc, seed=np.random.SeedSequence([0, i])) for i in range(40)]
    test = [synthlang.render(sc, seed=np.random.SeedSequence([99, i])) for i in range(4)]

    def batch(samples: list, size: int, rng: np.random.Generator) -> list:
        parts: list[list[np.ndarray]] = [[], [], []]
        for s in samples:
            r, c = rng.integers(0, 300 - size, 2)
            parts[0].append(s.noisy[r : r + size, c : c + size].transpose(2, 0, 1))
            parts[1].append(s.clean[r : r + size, c : c + size].transpose(2, 0, 1))
            parts[2].append(s.mask[None, r : r + size, c : c + size])
        return [torch.from_numpy(np.ascontiguousarray(np.stack(p))) for p in parts]

    held = batch(test, 128, np.random.default_rng(1))
    kw: dict = {"steps": 5, "zero_mean": False}
    lr = 3e-3
    toks = variant.split("+")
    for t in toks:
        if t.startswith("lam"):
            kw["lambda_init"] = float(t[3:])
        elif t.startswith("dphi"):
            kw["dphi_slope"] = float(t[4:])
        elif t.startswith("lr"):
            lr = float(t[2:])
    net = CoupledVN(VNConfig(**kw))
    if "kident" in toks:
        with torch.no_grad():
            for b in net.blocks:
                k = torch.zeros_like(b.k)
                c = k.shape[-1] // 2
                for i in range(min(k.shape[0], k.shape[1])):
                    k[i, i, c, c] = 1.0
                b.k.copy_(k)
    klr = [float(t[3:]) for t in toks if t.startswith("klr")]
    if klr:
        kern = [p for n, p in net.named_parameters() if n.split(".")[-1] in ("ku", "km", "k")]
        rest = [p for n, p in net.named_parameters() if n.split(".")[-1] not in ("ku", "km", "k")]
        opt = torch.optim.Adam([{"params": kern, "lr": lr * klr[0]}, {"params": rest, "lr": lr}])
    else:
        opt = torch.optim.Adam(net.parameters(), lr)

    def measure(it: int) -> dict:
        with torch.no_grad():
            u, m = net(held[0], torch.zeros_like(held[2]))
            _, met = loss_and_metrics(u, m, held[1], held[2], held[0])
        return {"iteration": it, "psnr": met["psnr"], "psnr_input": met["psnr_input"],
                "accuracy": met["accuracy"]}  # fmt: skip

    rng = np.random.default_rng(seed)
    curve = [measure(0)]
    t0 = time.time()
    for it in range(1, iterations + 1):
        u0, gu, gm = batch([train[i] for i in rng.integers(0, 40, 4)], crop, rng)
        u, m = net(u0, torch.zeros_like(gm))
        loss, _ = loss_and_metrics(u, m, gu, gm, u0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.project_()
        if it % 50 == 0:
            curve.append(measure(it))
            last = curve[-1]
            C.say(f"{variant} {it}: PSNR u_T {last['psnr']:.2f} dB "
                  f"(u0 {last['psnr_input']:.2f}), accuracy {last['accuracy']:.4f}")  # fmt: skip
    return {"variant": variant, "lr": lr, "crop": crop, "iterations": iterations,
            "vn_config": kw, "curve": curve, "seconds": time.time() - t0}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", default=["base", "lam1", "kident", "lam1+lr1e-3"])
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--crop", type=int, default=48)
    p.add_argument("--out", type=Path, default=C.RESULTS / "vn_psnr_study.json")
    args = p.parse_args(argv)
    results = {}
    if args.out.exists():
        results = json.loads(args.out.read_text(encoding="utf-8"))
    for v in args.variants:
        key = f"{v}@{args.iterations}x{args.crop}"
        if key in results:
            C.say(f"{key}: done already")
            continue
        results[key] = probe(v, args.iterations, args.crop)
        C.write_json(args.out, results)
    lines = ["| variant | iterations | held-out PSNR u_T (dB) | PSNR u0 (dB) | accuracy m_T "
             "| minutes |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in results.values():
        last = r["curve"][-1]
        lines.append(f"| `{r['variant']}` | {r['iterations']} | {last['psnr']:.2f} | "
                     f"{last['psnr_input']:.2f} | {100 * last['accuracy']:.2f} % | "
                     f"{r['seconds'] / 60:.1f} |")  # fmt: skip
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
