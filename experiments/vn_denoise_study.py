"""Why the shipped VNs make the image worse (u_T below u0), what is achievable, and the fix.

    python experiments/vn_denoise_study.py                     # every stage (resumable)
    python experiments/vn_denoise_study.py --stage bounds      # classical estimators only
    python experiments/vn_denoise_study.py --stage probes --probes s1-base s1-wimg10
    python experiments/vn_denoise_study.py --stage report      # JSON + Markdown + figures

Stages (each result is stored under its key in ``docs/results/vn_denoise_study.json`` as soon
as it is finished, so an interrupted run continues where it stopped):

``bounds``
    What is achievable on held-out samples (seed 99, as ``synthlang render SCENE --n 20
    --seed 99``) of each scene: PSNR against the clean image of the noisy input, of the
    image before the ``degrade`` block (the per-pixel colour noise of the layers only), of
    the clean image passed through the scene's blur (a perfect denoiser that does not
    deblur), of classical estimators with their best parameter (Gaussian filter, 3 x 3
    median, bilateral filter, total variation), of the best linear filter (least squares on
    six training samples, seed 0) and of a genie that averages the noisy image over each
    visible object (it knows the instance map).
``probes``
    Controlled VN runs: the ``default`` preset's network and optimiser on a fixed set of
    40 training samples (seed 0) of one scene, random ``crop x crop`` windows with flips,
    batch 4, one torch thread; one factor changed per probe. Every ``--eval-every``
    iterations the PSNR of u_T (and of u0) and the accuracy of m_T are measured on four
    whole held-out samples (seed 99). The loss is Eq. (3) with weights ``w_u`` (image,
    paper 1/6) and ``w_m`` (mask, paper 1/2).
``report``
    ``docs/results/vn_denoise_study.md`` and the figures
    ``docs/results/vn_denoise_{bounds,curves}.png``.

Probe names are ``sK-TOKEN[+TOKEN...]`` (K the scenario): ``base`` (the preset as is),
``wimgX`` (image weight X/6), ``lamX`` (lambda_init), ``dphiX`` (dphi_slope), ``lrX`` (Adam
step size), ``stepsX`` (N_t), ``cropX``, ``itX`` (iterations), ``cosine`` (cosine learning-rate
decay to 0), ``paper`` (the ``paper`` preset's learning rate 1e-4). Tokens combine with ``+``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
CACHE = REPO / "experiments" / "out" / "vn_denoise"
JSON_OUT = RESULTS / "vn_denoise_study.json"

#: probes run by default (scenario 1 is the worst shipped model; scenario 3 confirms)
DEFAULT_PROBES = (
    "s1-base",
    "s1-wimg10",
    "s1-phi10+dphi0.001",
    "s1-rbf0.3",
    "s1-wmask0",
    "s1-wmask0+lam0.1",
    "s1-wimg30+it300",
    "s3-base",
    "s3-wimg30+it300",
    "s1-wimg30+it600",
    "s1-wimg30+lr1e-3+it300",
)

N_TRAIN = 40
N_HELD = 4
N_BOUNDS = 20
BATCH = 4


def say(msg: str) -> None:
    """Print a progress line (flushed)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB (peak 1) of ``image`` against ``reference``.

    Examples
    --------
    >>> round(psnr(np.full((2, 2), 0.1), np.zeros((2, 2))), 6)
    20.0
    """
    mse = float(np.mean((np.asarray(image, np.float64) - reference) ** 2))
    return 10.0 * math.log10(1.0 / max(mse, 1e-20))


def load_json() -> dict[str, Any]:
    """Return the stored results (empty sections when absent)."""
    data: dict[str, Any] = {"bounds": {}, "probes": {}}
    if JSON_OUT.exists():
        data.update(json.loads(JSON_OUT.read_text(encoding="utf-8")))
    return data


def store(section: str, key: str, value: Any) -> dict[str, Any]:
    """Add one result to the stored file (re-read first: several stages may run at once)."""
    data = load_json()
    data[section][key] = value
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = JSON_OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(JSON_OUT)
    return data


def scene_file(scenario: int) -> Path:
    """The repository's scene of Scenario ``scenario``."""
    return REPO / "scenes" / f"scenario{scenario}.scene"


def samples(scenario: int, seed: int, n: int) -> dict[str, np.ndarray]:
    """Render (or load from the cache) ``n`` samples of a scene with dataset seed ``seed``.

    Sample ``i`` uses ``SeedSequence([seed, i])``, the seeds of ``synthlang render --seed``.

    Returns
    -------
    dict
        ``noisy``, ``clean`` ``(n, H, W, 3)`` float32, ``mask`` ``(n, H, W)`` float32,
        ``pre`` (the noisy image before the ``degrade`` block) and ``instance_map``.
    """
    path = CACHE / f"s{scenario}_seed{seed}_n{n}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    import synthlang

    scene = synthlang.compile_file(scene_file(scenario))
    bare = scene.model_copy(update={"degrade": ()})
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("noisy", "clean", "mask", "pre", "instance_map")
    }
    for i in range(n):
        s = synthlang.render(scene, seed=np.random.SeedSequence([seed, i]))
        pre = synthlang.render(bare, seed=np.random.SeedSequence([seed, i]))
        parts["noisy"].append(s.noisy)
        parts["clean"].append(s.clean)
        parts["mask"].append(s.mask.astype(np.float32))
        parts["pre"].append(pre.noisy)
        parts["instance_map"].append(s.instance_map)
    out = {k: np.stack(v) for k, v in parts.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)  # type: ignore[arg-type]
    return out


# ---------------------------------------------------------------------------- bounds


def _blur_sigma(scenario: int) -> float:
    import synthlang

    scene = synthlang.compile_file(scene_file(scenario))
    sig = [float(getattr(p.sigma, "value", 0.0)) for p in scene.degrade if p.kind == "blur"]
    return sig[0] if sig else 0.0


def _features(y: np.ndarray, k: int) -> np.ndarray:
    """Rows of ``k x k x 3`` neighbourhoods (symmetric border) plus a constant column."""
    r = k // 2
    p = np.pad(y, ((r, r), (r, r), (0, 0)), mode="symmetric")
    h, w, _ = y.shape
    cols = [p[i : i + h, j : j + w, :] for i in range(k) for j in range(k)]
    f = np.concatenate(cols, axis=2).reshape(h * w, -1)
    return np.concatenate([f, np.ones((h * w, 1))], axis=1)


def _linear_filter(train: dict[str, np.ndarray], k: int) -> np.ndarray:
    """Least-squares ``k x k`` colour filter from noisy to clean (normal equations)."""
    d = 3 * k * k + 1
    a = np.zeros((d, d))
    b = np.zeros((d, 3))
    for y, c in zip(train["noisy"], train["clean"], strict=True):
        f = _features(y.astype(np.float64), k)
        a += f.T @ f
        b += f.T @ c.reshape(-1, 3)
    return np.linalg.solve(a + 1e-6 * np.eye(d), b)


def bounds(scenario: int) -> dict[str, Any]:
    """PSNR (mean over ``N_BOUNDS`` held-out samples) of the reference estimators.

    Returns
    -------
    dict
        ``{estimator: {"psnr": dB, "param": best parameter or None}}`` plus the blur sigma.
    """
    from scipy import ndimage as ndi
    from skimage.restoration import denoise_bilateral, denoise_tv_chambolle

    held = samples(scenario, 99, N_BOUNDS)
    train = samples(scenario, 0, 6)
    sigma = _blur_sigma(scenario)
    weights = _linear_filter(train, 5)

    def mean_psnr(fn: Any) -> float:
        return float(
            np.mean(
                [
                    psnr(fn(i, y.astype(np.float64)), c)
                    for i, (y, c) in enumerate(zip(held["noisy"], held["clean"], strict=True))
                ]
            )
        )

    def best(fn: Any, params: tuple[float, ...]) -> dict[str, Any]:
        scores = {p: mean_psnr(lambda i, y, p=p: fn(y, p)) for p in params}
        top = max(scores, key=lambda p: scores[p])
        return {"psnr": scores[top], "param": top, "all": {str(p): v for p, v in scores.items()}}

    def genie(i: int, y: np.ndarray) -> np.ndarray:
        imap = held["instance_map"][i].ravel()
        count = np.maximum(np.bincount(imap), 1)
        out = np.empty_like(y)
        for ch in range(3):
            out[..., ch] = (np.bincount(imap, y[..., ch].ravel()) / count)[imap].reshape(
                y.shape[:2]
            )
        return out

    res: dict[str, Any] = {"blur_sigma": sigma, "n": N_BOUNDS}
    res["noisy"] = {"psnr": mean_psnr(lambda i, y: y), "param": None}
    res["pre_degrade"] = {"psnr": mean_psnr(lambda i, y: held["pre"][i]), "param": None}
    res["blurred_clean"] = {
        "psnr": mean_psnr(lambda i, y: ndi.gaussian_filter(held["clean"][i], (sigma, sigma, 0))),
        "param": sigma,
    }
    say(f"s{scenario}: noisy, pre-degrade, blurred clean done")
    res["gaussian"] = best(
        lambda y, s: ndi.gaussian_filter(y, (s, s, 0)), (0.3, 0.5, 0.7, 1.0, 1.5)
    )
    res["median3"] = {
        "psnr": mean_psnr(lambda i, y: ndi.median_filter(y, size=(3, 3, 1))),
        "param": 3,
    }
    res["bilateral"] = best(
        lambda y, s: denoise_bilateral(y, sigma_color=s, sigma_spatial=1.0, channel_axis=-1),
        (0.02, 0.035, 0.05, 0.08),
    )
    say(f"s{scenario}: gaussian, median, bilateral done")
    res["tv"] = best(
        lambda y, w: denoise_tv_chambolle(y, weight=w, channel_axis=-1), (0.005, 0.01, 0.02, 0.04)
    )
    res["linear5"] = {
        "psnr": mean_psnr(lambda i, y: (_features(y, 5) @ weights).reshape(y.shape)),
        "param": 5,
    }
    res["genie_object_mean"] = {"psnr": mean_psnr(genie), "param": None}
    return res


# ---------------------------------------------------------------------------- probes


def parse_probe(name: str) -> dict[str, Any]:
    """Settings of a probe name (see the module docstring).

    Examples
    --------
    >>> s = parse_probe("s1-wimg10+lr1e-3")
    >>> s["scenario"], s["w_u"], s["lr"], s["lambda_init"]
    (1, 1.6666666666666667, 0.001, 1.0)
    """
    head, _, rest = name.partition("-")
    if not head.startswith("s") or not rest:
        raise ValueError(f"probe name {name!r} is not sK-TOKEN[+TOKEN...]")
    s: dict[str, Any] = {
        "scenario": int(head[1:]),
        "iterations": 200,
        "crop": 48,
        "lr": 3e-3,
        "steps": 5,
        "lambda_init": 1.0,
        "dphi_slope": 0.1,
        "phi_slope": 1.0,
        "rbf_range": 1.2,
        "w_u": 1.0 / 6.0,
        "w_m": 0.5,
        "schedule": "constant",
    }
    for tok in rest.split("+"):
        if tok == "base":
            continue
        if tok == "cosine":
            s["schedule"] = "cosine"
        elif tok == "paper":
            s["lr"] = 1e-4
        elif tok.startswith("wimg"):
            s["w_u"] = float(tok[4:]) / 6.0
        elif tok.startswith("wmask"):
            s["w_m"] = float(tok[5:]) / 2.0
        elif tok.startswith("lam"):
            s["lambda_init"] = float(tok[3:])
        elif tok.startswith("dphi"):
            s["dphi_slope"] = float(tok[4:])
        elif tok.startswith("phi"):
            s["phi_slope"] = float(tok[3:])
        elif tok.startswith("rbf"):
            s["rbf_range"] = float(tok[3:])
        elif tok.startswith("lr"):
            s["lr"] = float(tok[2:])
        elif tok.startswith("steps"):
            s["steps"] = int(tok[5:])
        elif tok.startswith("crop"):
            s["crop"] = int(tok[4:])
        elif tok.startswith("it"):
            s["iterations"] = int(tok[2:])
        else:
            raise ValueError(f"unknown probe token {tok!r} in {name!r}")
    return s


def _batch(
    data: dict[str, np.ndarray], idx: np.ndarray, crop: int, rng: np.random.Generator
) -> tuple[Any, Any, Any]:
    """Random ``crop`` windows of the samples ``idx`` with random flips/transposes."""
    import torch

    us, gs, ms = [], [], []
    h, w = data["noisy"].shape[1:3]
    for i in idx:
        r, c = (int(v) for v in rng.integers(0, (h - crop + 1, w - crop + 1)))
        flips = rng.integers(0, 2, 3)
        parts = [
            data["noisy"][i, r : r + crop, c : c + crop].transpose(2, 0, 1),
            data["clean"][i, r : r + crop, c : c + crop].transpose(2, 0, 1),
            data["mask"][i, None, r : r + crop, c : c + crop],
        ]
        for axis, flip in ((1, flips[0]), (2, flips[1])):
            if flip:
                parts = [np.flip(p, axis) for p in parts]
        if flips[2]:
            parts = [p.transpose(0, 2, 1) for p in parts]
        us.append(parts[0])
        gs.append(parts[1])
        ms.append(parts[2])
    return tuple(  # type: ignore[return-value]
        torch.from_numpy(np.ascontiguousarray(np.stack(p))) for p in (us, gs, ms)
    )


def probe(name: str, eval_every: int) -> dict[str, Any]:
    """Train one probe and return its settings, held-out curve and wall time."""
    import torch

    from vnet.config import preset
    from vnet.model import CoupledVN
    from vnet.train import loss_and_metrics

    s = parse_probe(name)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    warnings.simplefilter("ignore")
    train = samples(s["scenario"], 0, N_TRAIN)
    held = samples(s["scenario"], 99, N_HELD)
    base = preset("default", "vn", scene=f"scenario{s['scenario']}")
    vn = base.replace(
        **{
            "vn.steps": s["steps"],
            "vn.lambda_init": s["lambda_init"],
            "vn.dphi_slope": s["dphi_slope"],
            "vn.phi_slope": s["phi_slope"],
            "vn.rbf_range": s["rbf_range"],
        }
    ).vn
    net = CoupledVN(vn)
    opt = torch.optim.Adam(net.parameters(), lr=s["lr"], betas=base.betas)
    u0h = torch.from_numpy(held["noisy"].transpose(0, 3, 1, 2).copy())
    guh = torch.from_numpy(held["clean"].transpose(0, 3, 1, 2).copy())
    gmh = torch.from_numpy(held["mask"][:, None].copy())

    def measure(it: int) -> dict[str, Any]:
        with torch.no_grad():
            u, m = net(u0h)
        mse = ((u - guh) ** 2).flatten(1).mean(1)
        mse0 = ((u0h - guh) ** 2).flatten(1).mean(1)
        return {
            "iteration": it,
            "psnr": float((10 * torch.log10(1 / mse)).mean()),
            "psnr_input": float((10 * torch.log10(1 / mse0)).mean()),
            "accuracy": float(((m > 0.5) == (gmh > 0.5)).float().mean()),
            "lambda": [float(b.lam) for b in net.blocks],  # type: ignore[arg-type]
        }

    rng = np.random.default_rng(0)
    curve = [measure(0)]
    t0 = time.time()
    terms: list[tuple[float, float]] = []
    for it in range(1, s["iterations"] + 1):
        if s["schedule"] == "cosine":
            for g in opt.param_groups:
                g["lr"] = s["lr"] * 0.5 * (1 + math.cos(math.pi * (it - 1) / s["iterations"]))
        u0, gu, gm = _batch(train, rng.integers(0, N_TRAIN, BATCH), s["crop"], rng)
        u, m = net(u0, torch.zeros_like(gm))
        loss, _ = loss_and_metrics(u, m, gu, gm, u0, (s["w_u"], s["w_m"]))
        with torch.no_grad():
            per_u = ((u - gu) ** 2).flatten(1).sum(1)
            per_m = ((m - gm) ** 2).flatten(1).sum(1)
        terms.append((float((per_u / 6).mean()), float((per_m / 2).mean())))
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.project_()
        if it % eval_every == 0 or it == s["iterations"]:
            curve.append(measure(it))
            c = curve[-1]
            say(
                f"{name} {it}: PSNR u_T {c['psnr']:.2f} dB (u0 {c['psnr_input']:.2f}), "
                f"accuracy {c['accuracy']:.4f}"
            )
    ia, ma = np.mean(terms[-50:], axis=0)
    return {
        "settings": s,
        "curve": curve,
        "seconds": time.time() - t0,
        "loss_terms_last50": {"image_1_6": float(ia), "mask_1_2": float(ma)},
    }


# ---------------------------------------------------------------------------- report

_BOUND_ROWS = (
    ("noisy", "noisy input u0"),
    ("pre_degrade", "before the degrade block (layer colour noise only)"),
    ("blurred_clean", "clean image through the scene's blur (perfect denoiser, no deblurring)"),
    ("gaussian", "Gaussian filter, best sigma"),
    ("median3", "3 x 3 median"),
    ("bilateral", "bilateral filter, best colour sigma"),
    ("tv", "total variation (Chambolle), best weight"),
    ("linear5", "best linear 5 x 5 colour filter (least squares, 6 training samples)"),
    ("genie_object_mean", "genie: noisy averaged over each visible object"),
)


def report(data: dict[str, Any]) -> str:
    """Markdown tables of the bounds and the probes (also written next to the JSON)."""
    lines = ["# VN denoising study (`experiments/vn_denoise_study.py`)", ""]
    b = data.get("bounds", {})
    if b:
        keys = sorted(b)
        lines += [
            "## What is achievable (held-out samples, seed 99, PSNR against the clean image)",
            "",
            "| estimator | " + " | ".join(f"{k} (dB, gain)" for k in keys) + " |",
            "| --- |" + " --- |" * len(keys),
        ]
        for key, label in _BOUND_ROWS:
            cells = []
            for k in keys:
                r = b[k].get(key)
                if r is None:
                    cells.append("")
                    continue
                gain = r["psnr"] - b[k]["noisy"]["psnr"]
                par = "" if r.get("param") is None else f" ({r['param']})"
                cells.append(f"{r['psnr']:.2f} ({gain:+.2f}){par}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    p = data.get("probes", {})
    if p:
        lines += [
            "## Controlled VN probes (4 whole held-out samples, seed 99)",
            "",
            "| probe | iterations | crop | lr | N_t | lambda_init | phi / dphi slope | "
            "rbf range | image, mask weight (x paper) | PSNR u0 | PSNR u_T | gain | "
            "best gain (at it.) | accuracy m_T | image : mask term (paper weights) | minutes |",
            "| --- " * 16 + "|",
        ]
        for name, r in p.items():
            s, c = {**parse_probe(name), **r["settings"]}, r["curve"]
            last = c[-1]
            top = max(c, key=lambda x: x["psnr"])
            ia, ma = r["loss_terms_last50"]["image_1_6"], r["loss_terms_last50"]["mask_1_2"]
            lines.append(
                f"| `{name}` | {s['iterations']} | {s['crop']} | {s['lr']:g} | {s['steps']} | "
                f"{s['lambda_init']:g} | {s['phi_slope']:g} / {s['dphi_slope']:g} | "
                f"{s['rbf_range']:g} | {6 * s['w_u']:.3g}, {2 * s['w_m']:.3g} | "
                f"{last['psnr_input']:.2f} | {last['psnr']:.2f} | "
                f"{last['psnr'] - last['psnr_input']:+.2f} | "
                f"{top['psnr'] - top['psnr_input']:+.2f} ({top['iteration']}) | "
                f"{100 * last['accuracy']:.2f} % | {ia:.3g} : {ma:.3g} | "
                f"{r['seconds'] / 60:.1f} |"
            )
        lines.append("")
    lines += [
        "Figures: ![gains of the estimators](vn_denoise_bounds.png) "
        "![held-out PSNR gain during training](vn_denoise_curves.png)",
        "",
        'Interpretation and the chosen fix: `docs/vnet.md`, section "Denoising".',
    ]
    return "\n".join(lines) + "\n"


def figures(data: dict[str, Any]) -> list[Path]:
    """Bounds bar chart and probe PSNR curves (PNG files in ``docs/results``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: list[Path] = []
    b = data.get("bounds", {})
    if b:
        fig, ax = plt.subplots(figsize=(8, 3.6))
        keys = sorted(b)
        width = 0.8 / len(keys)
        rows = [k for k, _ in _BOUND_ROWS]
        for j, k in enumerate(keys):
            gains = [b[k][r]["psnr"] - b[k]["noisy"]["psnr"] if r in b[k] else 0 for r in rows]
            ax.bar(np.arange(len(rows)) + j * width, gains, width, label=k)
        ax.axhline(2.0, color="k", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2)
        ax.set_xticklabels([r.replace("_", "\n") for r in rows], fontsize=7)
        ax.set_ylabel("PSNR gain over u0 (dB)")
        ax.set_ylim(-6, 11)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = RESULTS / "vn_denoise_bounds.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    p = data.get("probes", {})
    if p:
        scen = sorted({r["settings"]["scenario"] for r in p.values()})
        fig, axes = plt.subplots(1, len(scen), figsize=(5.5 * len(scen), 3.8), squeeze=False)
        for ax, k in zip(axes[0], scen, strict=True):
            for name, r in p.items():
                if r["settings"]["scenario"] != k:
                    continue
                c = r["curve"]
                ax.plot(
                    [x["iteration"] for x in c],
                    [x["psnr"] - x["psnr_input"] for x in c],
                    marker=".",
                    label=name,
                )
            ax.axhline(0, color="k", lw=0.8)
            ax.axhline(2, color="k", lw=0.8, ls="--")
            ax.set_title(f"scenario {k}: held-out PSNR(u_T) - PSNR(u0)")
            ax.set_xlabel("iteration")
            ax.set_ylabel("dB")
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = RESULTS / "vn_denoise_curves.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--stage", choices=("bounds", "probes", "report", "all"), default="all")
    p.add_argument("--scenarios", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--probes", nargs="+", default=list(DEFAULT_PROBES))
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--force", action="store_true", help="recompute stored results")
    args = p.parse_args(argv)
    data = load_json()
    if args.stage in ("bounds", "all"):
        for k in args.scenarios:
            key = f"scenario{k}"
            if key in data["bounds"] and not args.force:
                say(f"bounds {key}: done already")
                continue
            data = store("bounds", key, bounds(k))
    if args.stage in ("probes", "all"):
        for name in args.probes:
            if name in data["probes"] and not args.force:
                say(f"probe {name}: done already")
                continue
            data = store("probes", name, probe(name, args.eval_every))
    if args.stage in ("report", "all"):
        data = load_json()
        text = report(data)
        JSON_OUT.with_suffix(".md").write_text(text, encoding="utf-8")
        for path in figures(data):
            say(f"wrote {path.relative_to(REPO)}")
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
