"""The pretrained models in models/: one VN per shipped scenario, trained on the repo's own scenes.

    python experiments/shipped_models.py --stage all              # every scenario, every stage
    python experiments/shipped_models.py --scenario 3 --stage render train

Each model is trained by ``synthlang train`` only on data rendered from
``scenes/scenarioK.scene`` (repository content only: the colour libraries in ``scenes/lib/``,
never the libraries fitted to ../shared/realdata), then:

``render``
    ``synthlang render scenes/scenarioK.scene --n N --seed 1`` (training set) and ``--n 20
    --seed 99`` (held-out synthetic test set), into ``experiments/out/shipped/sK/``.
``train``
    ``synthlang train --data ... --out experiments/out/shipped/sK/run`` with the flags below.
``export``
    ``models/scenarioK.pt``: the checkpoint without the Adam state (``synthlang predict`` needs
    only the model; see ``models/README.md``), and ``models/scenarioK_curves.png``.
``evaluate``
    ``synthlang predict`` + ``synthlang evaluate`` on the held-out synthetic set (mask scores and
    PSNR of u_T against the input's), and where a real benchmark applies (Scenario 3: tumour
    nuclei; Scenario 2: immune-rich areas) on the real sets, when ../shared/realdata is there.
    Numbers go to ``models/scenarioK.json``; the model card ``models/scenarioK.md`` is written
    from them.

Scenario 1 (immunofluorescence) is also the reproduction of the paper's Fig. 3 (loss, mask
accuracy and PSNR over 1500 iterations): its curves are copied to docs/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

MODELS = (
    C.REPO / "models" if not C.os.environ.get("SYNTHLANG_EXPERIMENTS_SMOKE") else C.OUT / "models"
)
STAGES = ("render", "train", "export", "evaluate")

#: per scenario: training-set size and the `synthlang train` flags (see experiments/README.md)
PLAN: dict[int, dict[str, Any]] = {
    1: {"n": C.N_TRAIN, "args": C.SHIPPED_ARGS[1]},
    2: {"n": C.N_TRAIN, "args": C.SHIPPED_ARGS[2]},
    3: {"n": C.N_TRAIN, "args": C.SHIPPED_ARGS[3]},
}

#: which real benchmark applies to which scenario, and the predict flags used for it
REAL_TASKS = {
    3: ("tumor", {"puma_eval": ["--reference", "scenes/lib/he_stardist/source/histo.jpg",
                                "--normalize", "reinhard"],
                  "nucls_test": ["--reference", "scenes/lib/he_stardist/source/histo.jpg",
                                 "--normalize", "reinhard"]}),
    2: ("immune", {"puma_eval": [],
                   "nucls_test": ["--reference", "REF_PUMA_FIT", "--normalize", "reinhard"]}),
}  # fmt: skip


def folder(k: int) -> Path:
    return C.OUT / "shipped" / f"s{k}"


def scene(k: int) -> Path:
    return C.REPO / "scenes" / f"scenario{k}.scene"


def stage_render(k: int, force: bool) -> None:
    base = folder(k)

    def fn() -> dict:
        a = C.sh(C.synthlang("render", scene(k), "--n", str(PLAN[k]["n"]), "--out",
                             base / "train", "--seed", "1", "--workers", "1", "-q"))  # fmt: skip
        b = C.sh(C.synthlang("render", scene(k), "--n", "20", "--out", base / "test",
                             "--seed", "99", "--workers", "1", "-q"))  # fmt: skip
        return {"train_seconds": a, "test_seconds": b}

    C.stage(f"scenario{k}: render", base / "data_done", fn, force)


def train_command(k: int, resume: bool = False) -> list[str]:
    base = folder(k)
    if resume:
        return C.synthlang("train", "--data", base / "train", "--out", base / "run", "--resume",
                           *C.precision_flags(PLAN[k]["args"]), "--threads", str(C.THREADS),
                           "-q")  # fmt: skip
    return C.synthlang("train", "--data", base / "train", "--out", base / "run",
                       *PLAN[k]["args"], "--threads", str(C.THREADS))  # fmt: skip


def stage_train(k: int, force: bool) -> None:
    C.train_run(folder(k) / "run", lambda resume: train_command(k, resume), f"scenario{k}", force)


def export(k: int) -> Path:
    """Write models/scenarioK.pt: the checkpoint without the optimiser state."""
    # not an absolute path of this machine
    # predict's default: no colour normalisation. Held-out samples of scenario 3 lost 9 points of
    # pixel accuracy when Macenko-normalised to the training statistics (models/README.md)
    source = {"path": f"experiments/out/shipped/s{k}/train", "normalize": "none"}
    return C.export_checkpoint(folder(k) / "run", MODELS / f"scenario{k}.pt", source)


def evaluate(k: int) -> dict[str, Any]:
    base = folder(k)
    model = MODELS / f"scenario{k}.pt"
    res: dict[str, Any] = {"scenario": k}
    pred = base / "pred" / "synthetic_test"
    imgs = sorted((base / "test" / "noisy").glob("*.png"))
    C.sh(C.synthlang("predict", model, *imgs, "--out", pred, "-q"))
    C.sh(C.synthlang("evaluate", pred, "--truth", base / "test", "--json", pred / "evaluate.json",
                     "-q"))  # fmt: skip
    rep = json.loads((pred / "evaluate.json").read_text(encoding="utf-8"))
    res["synthetic_test"] = rep["total"]
    res["synthetic_test"]["psnr_input"] = float(np.mean([_psnr_input(base, n["name"])
                                                         for n in rep["images"]]))  # fmt: skip
    bg = base / "pred" / "background"
    bg.mkdir(parents=True, exist_ok=True)
    from vnet.metrics import evaluate_folder

    for p in imgs:
        C.png(bg / f"{p.stem}_mask.png", np.zeros((300, 300), np.uint8))
    res["synthetic_background"] = evaluate_folder(bg, base / "test").total
    res["real"] = {}
    if k in REAL_TASKS and _have_realdata():
        task, sets = REAL_TASKS[k]
        C.prepare_real()
        for set_name, flags in sets.items():
            flags = [str(C.REAL_DIR / "images" / "puma_fit" / "puma_fit.png")
                     if f == "REF_PUMA_FIT" else f for f in flags]  # fmt: skip
            out = base / "pred" / set_name
            C.sh(C.synthlang("predict", model, *C.set_images(set_name), "--out", out, "-q", *flags))
            r = C.evaluate(out, task, set_name)
            res["real"][set_name] = {"task": task, "predict_flags": flags, **r["total"]}
            bgr = C.all_background(task, set_name, base / "pred" / f"background_{set_name}")
            res["real"][set_name]["background"] = bgr["total"]
    train = json.loads((base / "run" / "DONE.json").read_text(encoding="utf-8"))
    rows = C.metrics_rows(base / "run")
    res["train"] = {**train, "iterations": rows[-1]["step"], "train_elapsed": rows[-1]["elapsed"]}
    res["curve"] = curve_summary(rows)
    res["render"] = C.shown_command(C.synthlang("render", scene(k), "--n", str(PLAN[k]["n"]),
                                    "--out", base / "train", "--seed", "1"))  # fmt: skip
    res["size_bytes"] = model.stat().st_size
    import torch

    ck = torch.load(model, weights_only=True)
    res["parameters"] = int(sum(v.numel() for v in ck["model_state"].values()))
    res["model_config"] = ck["model_config"]
    res["train_config"] = ck["train_config"]
    C.write_json(MODELS / f"scenario{k}.json", res)
    return res


def curve_summary(rows: list[dict[str, Any]], window: int = 100) -> list[dict[str, float]]:
    """Training metrics averaged over consecutive windows of iterations (the Fig. 3 table)."""
    out = []
    for start in range(0, len(rows), window):
        chunk = rows[start : start + window]
        out.append({
            "first": chunk[0]["step"], "last": chunk[-1]["step"],
            **{k: float(np.mean([r[k] for r in chunk]))
               for k in ("loss", "accuracy", "psnr", "psnr_input")},
        })  # fmt: skip
    return out


def _have_realdata() -> bool:
    try:
        C.require_realdata()
    except SystemExit:
        return False
    return True


def _psnr_input(base: Path, name: str) -> float:
    from vnet.data import read_rgb
    from vnet.metrics import psnr

    return psnr(read_rgb(base / "test" / "noisy" / f"{name}.png"),
                read_rgb(base / "test" / "clean" / f"{name}.png"))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="train, export and evaluate the shipped models")
    p.add_argument("--scenario", type=int, nargs="+", choices=(1, 2, 3), default=[3, 2, 1])
    p.add_argument("--stage", nargs="+", default=["all"], choices=("all", *STAGES))
    p.add_argument("--force", action="store_true", help="redo render/train")
    args = p.parse_args(argv)
    stages = STAGES if "all" in args.stage else tuple(s for s in STAGES if s in args.stage)
    t0 = time.time()
    for k in args.scenario:
        C.say(f"scenario{k}: stages {', '.join(stages)}; outputs in {C.rel(folder(k))}, models/")
        if "render" in stages:
            stage_render(k, args.force)
        if "train" in stages:
            stage_train(k, args.force)
        if "export" in stages:
            export(k)
        if "evaluate" in stages:
            evaluate(k)
    C.say(f"done in {(time.time() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
