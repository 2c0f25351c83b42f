"""One real-data benchmark: fit -> render -> train (VN, U-Net, upper reference) -> predict -> score.

``experiments/tumor_nuclei.py`` and ``experiments/immune_areas.py`` each define a
:class:`Task` and call :func:`main`. Every stage is a ``synthlang`` command (printed
and logged with its wall time in ``experiments/out/commands.log``) or a few lines of
Python around the same library code; a stage whose output folder holds ``DONE.json``
is skipped, so a command can be rerun after an interruption and continues where it
stopped (training itself resumes with ``synthlang train --resume``).

Stages (``--stage NAME``, several allowed, ``all`` = every one in order):

``fit``
    ``synthlang fit`` on the PUMA FIT half and the NuCLS train tiles
    (``experiments/out/fit/``).
``real``
    The evaluation images at 20x and the truth folders (``experiments/out/real/``).
``render``
    ``synthlang render`` of the task's scene: the training set and a synthetic
    validation set.
``train``
    ``synthlang train`` of the VN and of the U-Net on the same rendered set, and of
    the upper reference (the same U-Net on the real labels of the PUMA FIT half).
``predict``
    ``synthlang predict`` of every model on every set.
``evaluate``
    Scores (``vnet.metrics``, the code of ``synthlang evaluate``), the tables
    (``docs/results/TASK.md`` and ``.json``) and the overlay pictures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

STAGES = ("fit", "real", "render", "train", "predict", "evaluate")

#: The paper's own figures (Sect. "Results"): accuracy on their three annotated images
#: u1, u2, u3 of Scenario 3 (tumour nuclei). No figures exist for Scenario 2.
PAPER_SCENARIO3 = {
    "vn": {"u1": 86.20, "u2": 84.50, "u3": 81.05},
    "unet": {"u1": 85.44, "u2": 82.98, "u3": 80.84},
}


@dataclass
class Model:
    """A network trained for a task."""

    key: str  # folder name and table label key
    label: str  # table label
    train_args: list[str]  # synthlang train flags besides --data/--out
    data: str = "synthetic"  # "synthetic", or a real training set: "puma_fit", "nucls_train"


@dataclass
class Task:
    """A real-data benchmark."""

    name: str
    title: str
    scene: Path
    n_train: int
    n_val: int
    models: list[Model]
    #: measured sets (never used for any choice) and their predict flags
    eval_sets: dict[str, list[str]]
    #: validation sets (allowed for tuning: synthetic validation, the PUMA FIT half)
    val_sets: dict[str, list[str]]
    paper: dict[str, dict[str, float]] | None = None
    notes: list[str] = field(default_factory=list)
    #: which truth (``tumor`` or ``immune``) the task is scored against (default: its name)
    truth_task: str | None = None
    script: str = ""

    @property
    def truth(self) -> str:
        return self.truth_task or self.name

    @property
    def out(self) -> Path:
        return C.OUT / self.name

    def run_dir(self, key: str) -> Path:
        return self.out / "runs" / key

    def pred_dir(self, key: str, set_name: str) -> Path:
        return self.out / "pred" / key / set_name


def _ref_image() -> Path:
    """Reinhard reference for tissue from other slides: the PUMA FIT half at 20x."""
    return C.REAL_DIR / "images" / "puma_fit" / "puma_fit.png"


# -------------------------------------------------------------------------- stages


def stage_render(task: Task, force: bool) -> dict:
    folder = task.out / "data"

    def fn() -> dict:
        t_train = C.sh(
            C.synthlang(
                "render", task.scene, "--n", str(task.n_train), "--out", folder / "train",
                "--seed", "1", "--workers", str(C.THREADS), "-q",
            )
        )  # fmt: skip
        t_val = C.sh(
            C.synthlang(
                "render", task.scene, "--n", str(task.n_val), "--out", folder / "val",
                "--seed", "99", "--workers", str(C.THREADS), "-q",
            )
        )  # fmt: skip
        return {"train_seconds": t_train, "val_seconds": t_val}

    for sub in ("train", "val"):
        if force and (folder / sub).exists():
            shutil.rmtree(folder / sub)
    return C.stage(f"{task.name}: render", folder, fn, force)


def real_fit_dataset(task: str, set_name: str = "puma_fit") -> Path:
    """A real training set (PUMA FIT half, NuCLS train) with its real truth as a dataset folder.

    For the upper references. ``noisy`` and ``clean`` are both the real image (there
    is no clean truth; the image term of the loss then asks for the identity),
    ``mask`` the real truth of the task. Lives in ``experiments/out`` only.
    """
    from synthlang.common.imageio import read_image

    root = C.OUT / "real" / "trainsets" / (task if set_name == "puma_fit" else f"{task}_{set_name}")
    if (root / "manifest.json").exists():
        return root
    images = C.set_images(set_name)
    if not images:
        raise SystemExit(f"no images of set {set_name!r}: run the 'real' stage first")
    samples = []
    for i, p in enumerate(images):
        img = read_image(p)
        mask = read_image(C.truth_dir(task, set_name) / "mask" / p.name, allow_gray=True)
        name = f"{i:06d}"
        C.png(root / "noisy" / f"{name}.png", img)
        C.png(root / "clean" / f"{name}.png", img)
        C.png(root / "mask" / f"{name}.png", (mask[..., 0] > 0.5).astype(np.uint8) * np.uint8(255))
        samples.append({"index": i, "name": name, "seed": [0, i], "counts": {}, "shortfalls": []})
    manifest = {
        "format": "synthlang-dataset",
        "format_version": 1,
        "scene": f"real_{set_name}_{task}",
        "scene_file": None,
        "scene_hash": f"real_{set_name}_{task}",
        "seed": 0,
        "n": len(samples),
        "size": list(img.shape[:2]),
        "categories": [],
        "complete": True,
        "samples": samples,
        "shortfalls": {},
    }
    C.write_json(root / "manifest.json", manifest)
    return root


def stage_train(task: Task, force: bool, only: list[str] | None = None) -> dict:
    results: dict[str, Any] = {}
    for m in task.models:
        if only and m.key not in only:
            continue
        run = task.run_dir(m.key)
        marker = run / "DONE.json"
        if marker.exists() and not force:
            C.say(f"{task.name}: {m.key} trained already ({C.rel(run)})")
            results[m.key] = json.loads(marker.read_text(encoding="utf-8"))
            continue
        data = (
            task.out / "data" / "train"
            if m.data == "synthetic"
            else real_fit_dataset(task.truth, m.data)
        )
        args = ["train", "--data", data, "--out", run, *m.train_args, "--threads", str(C.THREADS)]
        full = C.shown_command(C.synthlang(*args))
        resumed = (run / "model.pt").exists() and not force
        if resumed:
            args = ["train", "--data", data, "--out", run, "--resume", "--threads", str(C.THREADS)]
        elif force:
            args.append("--overwrite")
        seconds = C.sh(C.synthlang(*args))
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
        info = {
            # the command that defines the run; an interrupted run was continued with
            # `synthlang train --resume` (bit-identical to an uninterrupted run)
            "command": full,
            "resumed": resumed,
            "seconds": seconds,
            "train_elapsed": rows[-1]["elapsed"] if rows else None,
            "iterations": rows[-1]["step"] if rows else 0,
            "last50": _last(rows, 50),
            "first10": _first(rows, 10),
        }
        C.write_json(marker, info)
        results[m.key] = info
    return results


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows])) if rows else float("nan")


def _last(rows: list[dict], n: int) -> dict:
    r = rows[-n:]
    return {k: _mean(r, k) for k in ("loss", "accuracy", "psnr", "psnr_input")}


def _first(rows: list[dict], n: int) -> dict:
    r = rows[:n]
    return {k: _mean(r, k) for k in ("loss", "accuracy", "psnr", "psnr_input")}


def stage_predict(task: Task, force: bool) -> None:
    sets = {**task.val_sets, **task.eval_sets}
    for m in task.models:
        ckpt = task.run_dir(m.key) / "model.pt"
        for set_name, flags in {"synthetic_val": [], **sets}.items():
            out = task.pred_dir(m.key, set_name)
            if (out / "DONE.json").exists() and not force:
                continue
            if set_name == "synthetic_val":
                images = sorted((task.out / "data" / "val" / "noisy").glob("*.png"))
            else:
                images = C.set_images(set_name)
            flags = [f if f != "REF" else str(_ref_image()) for f in flags]
            C.sh(C.synthlang("predict", ckpt, *images, "--out", out, "-q", *flags))
            C.write_json(out / "DONE.json", {"flags": flags})


def _cli_evaluate(pred: Path, truth: Path, out_json: Path) -> None:
    """Also run ``synthlang evaluate`` (same numbers; the JSON is kept for reference)."""
    C.sh(C.synthlang("evaluate", pred, "--truth", truth, "--json", out_json, "-q"), nice=False)


def stage_evaluate(task: Task) -> dict:
    """Score everything, write the tables and pictures."""
    scores: dict[str, dict[str, Any]] = {}
    sets = {**task.val_sets, **task.eval_sets}
    for set_name in sets:
        scores.setdefault(set_name, {})
        bg = C.all_background(task.truth, set_name, task.out / "pred" / "background" / set_name)
        scores[set_name]["background"] = bg
        for m in task.models:
            pred = task.pred_dir(m.key, set_name)
            rep = C.evaluate(pred, task.truth, set_name)
            _cli_evaluate(pred, C.truth_dir(task.truth, set_name), pred / "evaluate.json")
            scores[set_name][m.key] = rep
    synth = {}
    for m in task.models:
        pred = task.pred_dir(m.key, "synthetic_val")
        js = pred / "evaluate.json"
        _cli_evaluate(pred, task.out / "data" / "val", js)
        synth[m.key] = json.loads(js.read_text(encoding="utf-8"))
    train_info = {}
    for m in task.models:
        marker = task.run_dir(m.key) / "DONE.json"
        if marker.exists():
            train_info[m.key] = json.loads(marker.read_text(encoding="utf-8"))
    result = {
        "task": task.name,
        "title": task.title,
        "scene": C.rel(task.scene),
        "models": {m.key: {"label": m.label, "train_args": m.train_args, "data": m.data}
                   for m in task.models},
        "train": train_info,
        "synthetic_val": {k: v["total"] for k, v in synth.items()},
        "real": {s: {k: v["total"] for k, v in d.items()} for s, d in scores.items()},
        "real_per_image": {
            s: {k: v["images"] for k, v in d.items()} for s, d in scores.items()
        },
        "paper": task.paper,
    }  # fmt: skip
    C.write_json(C.RESULTS / f"{task.name}.json", result)
    (C.RESULTS / f"{task.name}.md").write_text(markdown(task, result), encoding="utf-8")
    pictures(task)
    md, js = (C.rel(C.RESULTS / f"{task.name}.{ext}") for ext in ("md", "json"))
    C.say(f"tables: {md}, {js}")
    return result


# ------------------------------------------------------------------------ reporting


def _fmt_row(label: str, t: dict, other_name: str) -> str:
    other = (
        f"{t['other_marked']} / {t['other_objects']} ({100 * t['other_marked_fraction']:.1f} %)"
        if t.get("other_objects") else "-"
    )  # fmt: skip
    return (
        f"| {label} | {100 * t['accuracy']:.2f} % | {t['dice']:.3f} | {t['iou']:.3f} | "
        f"{t['hit']} / {t['truth_objects']} ({100 * t['recall']:.1f} %) | "
        f"{t['false_objects']} / {t['pred_objects']} | {other} |"
    )


SET_TITLES = {
    "puma_eval": "PUMA EVAL half (rows 512-1023, 256 x 512 px at 20x) -- measured, never tuned on",
    "nucls_test": "NuCLS test (5 tiles of 102 x 102 px at 20x, breast carcinoma) -- measured, "
    "never tuned on",
    "puma_fit": "PUMA FIT half (rows 0-511) -- validation only: the library was fitted and "
    "the upper reference trained here",
    "nucls_train": "NuCLS train (10 tiles) -- validation only: the library was fitted and "
    "the upper reference trained here",
}


def markdown(task: Task, result: dict) -> str:
    other_name = (
        "immune nuclei marked as tumour"
        if task.truth == "tumor"
        else "tumour nuclei marked as immune-rich"
    )
    lines = [f"# {task.title}", ""]
    lines.append(
        f"Written by `python experiments/{task.script} --stage all` (scene "
        f"`{result['scene']}`). Pixel accuracy, Dice and IoU are micro "
        "averages over the images of a set; a truth nucleus is found when at least half of its "
        "pixels are predicted; a false object is a predicted component touching no truth "
        f"nucleus; the last column counts the {other_name} (at least half their pixels "
        "predicted). Threshold 0.5 on m_T."
    )
    lines.append("")
    head = (
        "| model | pixel accuracy | Dice | IoU | truth nuclei found | false objects / predicted | "
        f"{other_name} |"
    )
    for set_name, rows in result["real"].items():
        lines += [f"## {SET_TITLES.get(set_name, set_name)}", "", head, "| --- " * 7 + "|"]
        lines.append(_fmt_row("all background", rows["background"], other_name))
        for m in task.models:
            if m.key in rows:
                lines.append(_fmt_row(m.label, rows[m.key], other_name))
        lines.append("")
        if set_name in task.eval_sets:
            cols = ", ".join(["input", "truth", *[m.key for m in task.models]])
            lines += [
                f"Overlays (columns: {cols}; mask tinted red, outline yellow):",
                "",
                f"![{task.name} {set_name}]({task.name}_{set_name}.png)",
                "",
            ]
    if task.paper:
        lines += ["## The paper's figures (their three annotated melanoma images u1, u2, u3)", ""]
        lines += ["| model | u1 | u2 | u3 |", "| --- | --- | --- | --- |"]
        for k, v in task.paper.items():
            lines.append(
                f"| {k.upper()} (paper) | {v['u1']:.2f} % | {v['u2']:.2f} % | {v['u3']:.2f} % |"
            )
        lines.append("")
    lines += ["## Synthetic validation set (rendered with seed 99 from the same scene)", ""]
    lines += [
        "| model | pixel accuracy | Dice | IoU | PSNR u_T (dB) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k, t in result["synthetic_val"].items():
        ps = "-" if t.get("psnr") is None else f"{t['psnr']:.2f}"
        label = result["models"][k]["label"]
        lines.append(
            f"| {label} | {100 * t['accuracy']:.2f} % | {t['dice']:.3f} | {t['iou']:.3f} | {ps} |"
        )
    lines += ["", "## Training", ""]
    lines += ["| model | command | training time |", "| --- | --- | --- |"]
    for k, info in result["train"].items():
        label = result["models"][k]["label"]
        minutes = (info.get("train_elapsed") or info["seconds"]) / 60
        lines.append(f"| {label} | `{info['command']}` | {minutes:.1f} min |")
    lines.append("")
    for n in task.notes:
        lines += [n, ""]
    return "\n".join(lines)


def pictures(task: Task) -> None:
    """One overlay sheet per measured set, downsized, into docs/results/TASK_SET.png.

    Rows are the images of the set; columns the input, the truth and each model's mask
    (red tint, yellow outline: ``vnet.overlay.overlay``, as ``synthlang predict`` draws it).
    """

    from synthlang.common.imageio import read_image
    from vnet.data import read_gray
    from vnet.overlay import overlay

    for set_name in task.eval_sets:
        rows = []
        for img_path in C.set_images(set_name):
            name = img_path.stem
            image = read_image(img_path)
            truth = read_gray(C.truth_dir(task.truth, set_name) / "mask" / f"{name}.png") >= 0.5
            panels = [("input", image), ("truth", overlay(image, truth))]
            for m in task.models:
                mk = task.pred_dir(m.key, set_name) / f"{name}_mask.png"
                if mk.exists():
                    panels.append((m.key, overlay(image, read_gray(mk) >= 0.5)))
            rows.append(panels)
        if not rows:
            continue
        w = rows[0][0][1].shape[1]
        scale = 2.0 if w < 150 else min(1.0, 320 / w)
        C.contact_sheet(rows, C.RESULTS / f"{task.name}_{set_name}.png", scale)


# ----------------------------------------------------------------------------- main


def main(tasks: Task | list[Task], argv: list[str] | None = None) -> int:
    """Run the stages of one or more tasks (``--task`` picks some of them)."""
    tasks = tasks if isinstance(tasks, list) else [tasks]
    p = argparse.ArgumentParser(description=f"real-data benchmark: {tasks[0].title}")
    p.add_argument(
        "--stage", nargs="+", default=["all"], choices=("all", *STAGES), help="stages to run"
    )
    p.add_argument("--force", action="store_true", help="redo the named stages")
    p.add_argument(
        "--models", nargs="+", default=None, help="train only these models (vn, unet, upper, ...)"
    )
    if len(tasks) > 1:
        p.add_argument(
            "--task", nargs="+", default=[t.name for t in tasks], choices=[t.name for t in tasks],
            help="which variants to run (default: all)",
        )  # fmt: skip
    args = p.parse_args(argv)
    C.require_realdata()
    stages = STAGES if "all" in args.stage else tuple(s for s in STAGES if s in args.stage)
    chosen = [t for t in tasks if t.name in getattr(args, "task", [t.name for t in tasks])]
    t0 = time.time()
    if "fit" in stages:
        C.run_fits(args.force)
    if "real" in stages:
        C.prepare_real(args.force)
    for task in chosen:
        C.say(f"{task.title}: stages {', '.join(stages)}; outputs in {C.rel(task.out)}")
        if "render" in stages:
            stage_render(task, args.force)
        if "train" in stages:
            stage_train(task, args.force, args.models)
        if "predict" in stages:
            stage_predict(task, args.force)
        if "evaluate" in stages:
            stage_evaluate(task)
    C.say(f"done in {(time.time() - t0) / 60:.1f} min")
    return 0
