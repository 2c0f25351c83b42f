"""Shared helpers of the real-data experiments (``experiments/README.md``).

Everything here reads the third-party data from ``../shared/realdata`` (or
``$SYNTHLANG_REALDATA``) and writes only below ``experiments/out/`` (or
``$SYNTHLANG_EXPERIMENTS_OUT``), which git ignores. Nothing derived from the real
images (pictures, masks, patches) ever goes into the repository; small final
artefacts (tables, downsized overlays, curves) are copied to ``docs/results/`` by
the experiment scripts.

The pieces:

* **paths and skipping** -- :data:`REALDATA`, :func:`require_realdata` (prints a
  clear message and exits 0 when the data is absent);
* **commands** -- :func:`sh` runs one ``synthlang`` command line (niced, logged to
  ``OUT/commands.log`` with its wall time), :func:`stage` makes a stage
  idempotent (a ``DONE.json`` marker with the commands and times);
* **fitting** -- :func:`fit_puma`, :func:`fit_nucls`: the ``synthlang fit``
  commands on the PUMA FIT half (rows 0-511) and the NuCLS train tiles;
* **real images and truth** -- :func:`prepare_real` writes the evaluation images
  at the paper's 20x scale (PUMA EVAL half downsampled by 2, NuCLS test tiles
  rescaled by 0.4) and the truth folders of both tasks, computed with the mask
  rules of the repository's own scenes through :mod:`synthlang.engine.rules`;
* **scoring** -- :func:`evaluate` is :func:`vnet.metrics.evaluate_folder` (the code
  of ``synthlang evaluate``) plus the cross-class counts the issue asks for.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
OUT = Path(os.environ.get("SYNTHLANG_EXPERIMENTS_OUT", EXPERIMENTS / "out")).resolve()
REALDATA = Path(os.environ.get("SYNTHLANG_REALDATA", REPO.parent / "shared" / "realdata")).resolve()
RESULTS = REPO / "docs" / "results"
if os.environ.get("SYNTHLANG_EXPERIMENTS_SMOKE"):
    RESULTS = OUT / "results"
SCENES = EXPERIMENTS / "scenes"

PUMA_DIR = REALDATA / "puma_melanoma"
PUMA_NAME = "training_set_metastatic_roi_094"
NUCLS_DIR = REALDATA / "nucls" / "square256"
#: PUMA split (rows at 40x): FIT for fitting and tuning, EVAL only for measuring
PUMA_FIT_ROWS = (0, 512)
PUMA_EVAL_ROWS = (512, 1024)
#: NuCLS class codes of ``inst_class4``
NUCLS_TUMOR, NUCLS_STROMA, NUCLS_TIL, NUCLS_OTHER = 0, 1, 2, 3
#: PUMA class codes of ``..._class.png`` (class_map.json)
PUMA_TUMOR, PUMA_LYMPHOCYTE, PUMA_PLASMA = 1, 2, 3

#: the repository scenes whose mask rules define the real truth (same rule code as the engine)
TUMOR_RULE_SCENE = REPO / "scenes" / "scenario3.scene"  # mask visible(tumor_nucleus)
IMMUNE_RULE_SCENE = REPO / "scenes" / "scenario2.scene"  # immune_cell, concentration r 40 > 0.2

NICE = ["nice", "-n", "10"]


@functools.cache
def train_precision() -> str:
    """``bf16`` where this CPU has it (AVX-512-BF16 or AMX: the timings in the READMEs), else
    ``fp32`` (slower; ``synthlang train`` refuses bf16 elsewhere). Found on first use, since it
    imports torch (about 2 s), which scripts that do not train should not pay for."""
    import torch

    from vnet.errors import TrainingError
    from vnet.hardware import check_precision

    try:
        check_precision("bf16", torch.device("cpu"))
    except TrainingError:
        return "fp32"
    return "bf16"


def __getattr__(name: str) -> Any:
    """``PRECISION`` (:func:`train_precision`) and ``SHIPPED_ARGS``, built on first use."""
    if name == "PRECISION":
        return train_precision()
    if name == "SHIPPED_ARGS":
        return _shipped_args()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Training flags shared by both real benchmarks (see experiments/README.md for why).
N_TRAIN = 400
VN_ARGS = ["--preset", "default", "--iterations", "600", "-q"]
UNET_ARGS = ["--preset", "default", "--model", "unet", "--iterations", "2000", "-q"]
UPPER_ARGS = ["--preset", "default", "--model", "unet", "--iterations", "2000", "-q"]


def _shipped_args() -> dict[int, list[str]]:
    """``SHIPPED_ARGS``, the shipped models' flags (experiments/shipped_models.py): the default
    preset (its image-term weight makes u_T denoise, docs/vnet.md "Denoising") in bfloat16 where
    the CPU has it; Scenario 1 is also the Fig. 3 reproduction and gets the paper's 1500
    iterations."""
    p = train_precision()
    return {
        1: ["--preset", "default", "--iterations", "1500", "--precision", p, "-q"],
        2: ["--preset", "default", "--iterations", "600", "--precision", p, "-q"],
        3: ["--preset", "default", "--iterations", "600", "--precision", p, "-q"],
    }


#: SYNTHLANG_EXPERIMENTS_SMOKE=1: the whole pipeline in a minute (smoke preset, 8 samples), to
#: check that it runs; use it with SYNTHLANG_EXPERIMENTS_OUT pointing elsewhere
if os.environ.get("SYNTHLANG_EXPERIMENTS_SMOKE"):
    N_TRAIN = 8
    VN_ARGS = ["--preset", "smoke"]
    UNET_ARGS = ["--preset", "smoke", "--model", "unet"]
    UPPER_ARGS = ["--preset", "smoke", "--model", "unet"]
    SHIPPED_ARGS = {k: ["--preset", "smoke"] for k in (1, 2, 3)}
#: torch threads of every training (on a machine shared with other work, 1 is often faster)
THREADS = int(os.environ.get("SYNTHLANG_THREADS", "1"))


# ------------------------------------------------------------------------ basics


def say(msg: str) -> None:
    """Print a progress line (flushed)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def require_realdata() -> None:
    """Exit with status 0 and a clear message when the real data is not there."""
    needed = [
        PUMA_DIR / f"{PUMA_NAME}.tif",
        PUMA_DIR / f"{PUMA_NAME}_inst.png",
        PUMA_DIR / f"{PUMA_NAME}_class.png",
        PUMA_DIR / "class_map.json",
        NUCLS_DIR / "train",
        NUCLS_DIR / "test",
    ]
    missing = [p for p in needed if not p.exists()]
    if missing:
        print(
            f"SKIPPED: the real data is not available ({missing[0]} is missing). The real "
            f"benchmarks read it from {REALDATA} (set SYNTHLANG_REALDATA to another "
            "folder); see ../shared/realdata/README.md for what it holds.",
            flush=True,
        )
        raise SystemExit(0)


def psnr(image: Any, reference: Any) -> float:
    """PSNR (dB) of ``image`` against ``reference``, both in [0, 1]."""
    import numpy as np

    return float(10 * np.log10(1.0 / np.mean((image - reference) ** 2)))


def metrics_rows(run: Path) -> list[dict[str, Any]]:
    """The lines of ``run/metrics.jsonl`` (one dict per training iteration)."""
    text = (run / "metrics.jsonl").read_text(encoding="utf-8")
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def precision_flags(args: Sequence[str]) -> list[str]:
    """The ``--precision P`` of a train command line: a resumed run must repeat it (it is not
    stored in the checkpoint)."""
    return list(args[args.index("--precision") :][:2]) if "--precision" in args else []


def rel(path: Path | str) -> str:
    """``path`` relative to the repository root when inside it (for printed commands)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        try:
            return os.path.relpath(p, REPO)
        except ValueError:
            return str(p)


def sh(args: Sequence[str | Path], *, log: str = "commands.log", nice: bool = True) -> float:
    """Run one command from the repository root; log it with its wall time.

    Returns the wall time in seconds. Raises ``SystemExit`` with the command's
    status when it fails.
    """
    argv = [str(a) for a in args]
    shown = shown_command(argv)
    say(f"$ {shown}")
    t0 = time.time()
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(THREADS))
    rc = subprocess.call((NICE if nice else []) + argv, cwd=REPO, env=env)
    dt = time.time() - t0
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"command": shown, "seconds": round(dt, 1), "rc": rc}) + "\n")
    if rc != 0:
        say(f"command failed with status {rc}: {shown}")
        raise SystemExit(rc)
    say(f"  ({dt:.0f} s)")
    return dt


def synthlang(*args: str | Path) -> list[str]:
    """The argv of a ``synthlang`` CLI call with this interpreter."""
    return [sys.executable, "-m", "synthlang", *[str(a) for a in args]]


def shown_command(argv: Sequence[str]) -> str:
    """A command line as a person would type it from the repository root."""
    argv = list(argv)
    if argv[:3] == [sys.executable, "-m", "synthlang"]:
        argv = ["synthlang", *argv[3:]]
    return " ".join(shlex.quote(rel(a) if Path(a).is_absolute() else a) for a in argv)


def stage(name: str, folder: Path, fn: Callable[[], dict[str, Any] | None], force: bool) -> dict:
    """Run ``fn`` unless ``folder/DONE.json`` exists; write the marker afterwards."""
    marker = folder / "DONE.json"
    if marker.exists() and not force:
        say(f"stage {name}: done already ({rel(marker)}); --force to redo")
        return json.loads(marker.read_text(encoding="utf-8"))
    say(f"stage {name} ...")
    t0 = time.time()
    info = fn() or {}
    folder.mkdir(parents=True, exist_ok=True)
    info = {"stage": name, "seconds": round(time.time() - t0, 1), **info}
    marker.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    say(f"stage {name}: done in {info['seconds']:.0f} s -> {rel(folder)}")
    return info


def train_run(run: Path, command: Callable[[bool], list[str]], label: str, force: bool) -> None:
    """A resumable training stage: ``command(resume)`` until ``run/DONE.json`` exists.

    An interrupted run continues with ``command(True)``; ``force`` starts over
    (``--overwrite``). ``DONE.json`` records the fresh command and the wall time.
    """
    if (run / "DONE.json").exists() and not force:
        say(f"{label}: trained already ({rel(run)})")
        return
    resume = (run / "model.pt").exists() and not force
    argv = command(resume)
    if force:
        argv.append("--overwrite")
    seconds = sh(argv)
    write_json(run / "DONE.json", {"command": shown_command(command(False)), "seconds": seconds})


def export_checkpoint(run: Path, target: Path, source: dict[str, Any]) -> Path:
    """Ship ``run/model.pt`` as ``target``: no Adam state, ``source`` entries overridden.

    ``source`` replaces machine-specific entries (the data path) and may add
    others (predict's default normalisation). The run's ``curves.png`` is
    copied to ``TARGET-STEM_curves.png``; the result must load with the safe loader.
    """
    import shutil

    import torch

    from vnet.train import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(run / "model.pt")
    slim = {key: v for key, v in ckpt.items() if key != "optimizer_state"}
    slim["source"] = {**dict(slim.get("source", {})), **source}
    target.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(target, slim)
    shutil.copyfile(run / "curves.png", target.with_name(f"{target.stem}_curves.png"))
    torch.load(target, weights_only=True)
    say(f"exported {rel(target)} ({target.stat().st_size / 1024:.0f} KiB)")
    return target


def contact_sheet(rows: list[list[tuple[str, np.ndarray]]], path: Path, scale: float) -> None:
    """Save rows of labelled ``(H, W, 3)`` panels in [0, 1] as one PNG, each panel scaled by
    ``scale`` (Lanczos when shrinking, nearest when enlarging), labels of the first row on top."""
    from PIL import Image, ImageDraw

    h, w = rows[0][0][1].shape[:2]
    tw, th = int(round(w * scale)), int(round(h * scale))
    ncol = max(len(r) for r in rows)
    sheet = Image.new("RGB", (ncol * (tw + 4), len(rows) * (th + 4) + 14), "white")
    draw = ImageDraw.Draw(sheet)
    for j, (label, _) in enumerate(rows[0]):
        draw.text((j * (tw + 4) + 2, 1), label, fill="black")
    for i, panels in enumerate(rows):
        for j, (_, arr) in enumerate(panels):
            im = Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8))
            im = im.resize((tw, th), Image.LANCZOS if scale < 1 else Image.NEAREST)
            sheet.paste(im, (j * (tw + 4), 14 + i * (th + 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


def pct(x: float) -> str:
    """A fraction as a percentage with two decimals (the report tables' format)."""
    return f"{100 * x:.2f} %"


def write_json(path: Path, data: Any) -> None:
    """Write pretty JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=_json_default) + "\n", encoding="utf-8")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return rel(o)
    raise TypeError(type(o))


# ----------------------------------------------------------------------- fitting

FIT_DIR = OUT / "fit"
PUMA_LIB = FIT_DIR / "puma" / "puma.scene"
NUCLS_LIB = FIT_DIR / "nucls" / "nucls.scene"


def nucls_files(split: str) -> tuple[list[Path], list[Path]]:
    """Images and label files of a NuCLS split, paired explicitly (``train_1`` .. ``train_10``)."""
    folder = NUCLS_DIR / split
    names = sorted(
        (p.stem for p in folder.glob(f"{split}_*.png")), key=lambda s: int(s.rsplit("_", 1)[1])
    )
    return [folder / f"{n}.png" for n in names], [folder / f"{n}_labels.npz" for n in names]


def fit_puma_command() -> list[str]:
    """``synthlang fit`` on the PUMA FIT half (rows 0-511), 40x -> 20x."""
    r = PUMA_DIR
    return synthlang(
        "fit", r / f"{PUMA_NAME}.tif",
        "--labels", r / f"{PUMA_NAME}_inst.png",
        "--class-labels", r / f"{PUMA_NAME}_class.png",
        "--classes", r / "class_map.json",
        "--crop", "0:512,:", "--scale", "0.5", "--pixel-size", "0.25",
        "--class-names", "nuclei_tumor=tumor", "nuclei_lymphocyte=lymphocyte",
        "--only", "tumor", "lymphocyte",
        "--cohorts", "3", "--max-patches", "55",
        "--prefix", "puma",
        "-o", PUMA_LIB,
    )  # fmt: skip


def fit_nucls_command() -> list[str]:
    """``synthlang fit`` on the 10 NuCLS train tiles, 0.2 um/px -> 0.5 um/px (scale 0.4)."""
    imgs, npzs = nucls_files("train")
    return synthlang(
        "fit", *imgs, "--npz", *npzs,
        "--pixel-size", "0.2", "--scale", "0.4", "--min-objects", "5",
        "--cohorts", "3", "--max-patches", "55",
        "--prefix", "nucls",
        "-o", NUCLS_LIB,
    )  # fmt: skip


def run_fits(force: bool = False) -> dict:
    """Stage ``fit``: both libraries (seconds)."""

    def fn() -> dict:
        t1 = sh(fit_puma_command())
        t2 = sh(fit_nucls_command())
        return {"puma_seconds": t1, "nucls_seconds": t2}

    return stage("fit", FIT_DIR, fn, force)


# ------------------------------------------------------------- real images, truth

REAL_DIR = OUT / "real"


def _load(image: Path, annotation: Any, crop: str | None, scale: float, names: dict) -> Any:
    """Load an image and its instances exactly as ``synthlang fit`` does (crop, then scale)."""
    from synthlang.fit import FitOptions, load_input, parse_crop

    opts = FitOptions(crop=parse_crop(crop) if crop else None, scale=scale)
    return load_input(image, annotation, opts, code_names=names)


def load_puma(rows: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """PUMA rows ``rows`` (40x) at 20x: image, instance map, class name per instance."""
    from synthlang.fit import Annotation
    from synthlang.fit.annotations import read_class_map as _read_class_map

    names = _read_class_map(PUMA_DIR / "class_map.json")
    ann = Annotation(
        "labels",
        PUMA_DIR / f"{PUMA_NAME}_inst.png",
        class_labels=PUMA_DIR / f"{PUMA_NAME}_class.png",
    )
    fi = _load(PUMA_DIR / f"{PUMA_NAME}.tif", ann, f"{rows[0]}:{rows[1]},:", 0.5, names)
    return fi.image, fi.instances, fi.classes


def load_nucls(image: Path, npz: Path) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """A NuCLS tile at 20x (scale 0.4): image, instance map, class name per instance."""
    from synthlang.fit import Annotation

    fi = _load(image, Annotation("npz", npz), None, 0.4, {})
    return fi.image, fi.instances, fi.classes


#: real class names (as ``load_input`` names them) -> categories of the scenes' mask rules
TUMOR_NAMES = {"nuclei_tumor", "tumor"}
IMMUNE_NAMES = {"nuclei_lymphocyte", "nuclei_plasma_cell", "lymphocyte"}  # NuCLS sTIL


def categories_for_rules(classes: dict[int, str]) -> dict[int, str]:
    """Map real classes to the scene categories: ``tumor_nucleus``, ``immune_cell``, ``other``."""
    out = {}
    for i, c in classes.items():
        if c in TUMOR_NAMES:
            out[i] = "tumor_nucleus"
        elif c in IMMUNE_NAMES:
            out[i] = "immune_cell"
        else:
            out[i] = "other"
    return out


def rule_truth(instances: np.ndarray, classes: dict[int, str], scene_file: Path) -> np.ndarray:
    """Truth mask: the mask rules of ``scene_file`` applied to the annotated objects.

    Uses :class:`synthlang.engine.rules.ObjectTable` and :func:`synthlang.engine.rules.apply_rules`,
    the code that makes the masks of rendered samples.
    """
    import synthlang
    from synthlang.engine.rules import ObjectTable, apply_rules

    rules = synthlang.compile_file(scene_file).mask_rules()
    cats = categories_for_rules(classes)
    table = ObjectTable.from_instance_map(instances, cats)
    return apply_rules(rules, table).mask > 0.5


def class_mask(instances: np.ndarray, classes: dict[int, str], names: set[str]) -> np.ndarray:
    """Pixels of the instances whose class is in ``names``."""
    ids = [i for i, c in classes.items() if c in names]
    return np.isin(instances, ids) & (instances > 0)


REAL_SETS = ("puma_eval", "puma_fit", "nucls_test", "nucls_train")


def real_images() -> dict[str, list[tuple[str, np.ndarray, np.ndarray, dict[int, str]]]]:
    """Every evaluation set: ``set -> [(name, image, instances, classes)]`` at 20x.

    ``puma_fit`` (the FIT half) and ``nucls_train`` are used only for tuning/validation
    and for the upper references' training; ``puma_eval`` and ``nucls_test`` are for
    measuring only.
    """
    out: dict[str, list] = {}
    img, inst, cls = load_puma(PUMA_EVAL_ROWS)
    out["puma_eval"] = [("puma_eval", img, inst, cls)]
    img, inst, cls = load_puma(PUMA_FIT_ROWS)
    out["puma_fit"] = [("puma_fit", img, inst, cls)]
    for split in ("test", "train"):
        imgs, npzs = nucls_files(split)
        out[f"nucls_{split}"] = [
            (p.stem, *load_nucls(p, z)) for p, z in zip(imgs, npzs, strict=True)
        ]
    return out


def prepare_real(force: bool = False) -> dict:
    """Stage ``real``: 20x images and truth folders of both tasks.

    Writes ``OUT/real/images/SET/NAME.png`` and, per task ``tumor`` / ``immune``,
    ``OUT/real/truth/TASK/SET/{mask,instances}/NAME.png`` (a dataset-like truth
    folder, so ``synthlang evaluate`` counts nuclei by their annotated instances)
    and ``OUT/real/truth/TASK/SET/other/NAME.png`` (the nuclei of the other class,
    for the cross-class counts).
    """
    write_png = png

    def fn() -> dict:
        stats: dict[str, Any] = {}
        for set_name, items in real_images().items():
            for name, img, inst, cls in items:
                write_png(REAL_DIR / "images" / set_name / f"{name}.png", img)
                truths = {
                    "tumor": rule_truth(inst, cls, TUMOR_RULE_SCENE),
                    "immune": rule_truth(inst, cls, IMMUNE_RULE_SCENE),
                }
                others = {
                    "tumor": class_mask(inst, cls, IMMUNE_NAMES),  # immune nuclei
                    "immune": class_mask(inst, cls, TUMOR_NAMES),  # tumour nuclei
                }
                for task, truth in truths.items():
                    base = REAL_DIR / "truth" / task / set_name
                    write_png(base / "mask" / f"{name}.png", truth.astype(np.uint8) * np.uint8(255))
                    write_png(base / "instances" / f"{name}.png", inst.astype(np.uint16))
                    write_png(
                        base / "other" / f"{name}.png",
                        others[task].astype(np.uint8) * np.uint8(255),
                    )
                    s = stats.setdefault(task, {}).setdefault(set_name, {"pixels": 0, "truth": 0})
                    s["pixels"] += int(truth.size)
                    s["truth"] += int(truth.sum())
                    ids = np.unique(inst[truth])
                    s["truth_objects"] = s.get("truth_objects", 0) + int((ids > 0).sum())
        for task in stats.values():
            for s in task.values():
                s["truth_fraction"] = s["truth"] / s["pixels"]
        return {"truth": stats}

    return stage("real", REAL_DIR, fn, force)


def png(path: Path, array: np.ndarray) -> None:
    """Write a PNG with :func:`synthlang.common.imageio.write_png`, creating the folder."""
    from synthlang.common.imageio import write_png

    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, array)


def write_real_dataset(
    root: Path, samples: Iterable[tuple[np.ndarray, np.ndarray]], scene: str
) -> Path:
    """Write real ``(image, mask)`` pairs as a complete dataset folder (``docs/dataset.md``).

    ``noisy`` and ``clean`` are both the real image (there is no clean truth), ``mask``
    the boolean mask; for ``synthlang train --data`` (references trained on real labels).
    An existing ``root`` is replaced. Use it only below :data:`OUT`.
    """
    import shutil

    if root.exists():
        shutil.rmtree(root)
    listed, size = [], []
    for i, (img, mask) in enumerate(samples):
        name = f"{i:06d}"
        png(root / "noisy" / f"{name}.png", img)
        png(root / "clean" / f"{name}.png", img)
        png(root / "mask" / f"{name}.png", np.asarray(mask, bool).astype(np.uint8) * np.uint8(255))
        listed.append({"index": i, "name": name, "seed": [0, i], "counts": {}, "shortfalls": []})
        size = list(img.shape[:2])
    manifest = {"format": "synthlang-dataset", "format_version": 1, "scene": scene}
    manifest.update(scene_file=None, scene_hash=scene, seed=0, n=len(listed), size=size)
    manifest.update(categories=[], complete=True, samples=listed, shortfalls={})
    write_json(root / "manifest.json", manifest)
    return root


def set_images(set_name: str) -> list[Path]:
    """The 20x PNGs of an evaluation set (after :func:`prepare_real`)."""
    return sorted((REAL_DIR / "images" / set_name).glob("*.png"))


def truth_dir(task: str, set_name: str) -> Path:
    """Truth folder of a task and set."""
    return REAL_DIR / "truth" / task / set_name


# ----------------------------------------------------------------------- scoring


def evaluate(pred_dir: Path, task: str, set_name: str) -> dict[str, Any]:
    """Score a prediction folder: ``synthlang evaluate``'s code plus cross-class counts.

    ``total`` is :func:`vnet.metrics.evaluate_folder`'s micro average over the
    images of the set (pixel accuracy, Dice, IoU; truth nuclei hit when at least
    half their pixels are predicted). ``other_marked`` counts the nuclei of the
    other class (immune nuclei for the tumour task, tumour nuclei for the
    immune-rich task) with at least half their pixels predicted, by the same
    :func:`vnet.metrics.object_scores` rule.
    """
    from synthlang.common.imageio import read_label_image
    from vnet.data import read_gray
    from vnet.metrics import evaluate_folder, object_scores

    tdir = truth_dir(task, set_name)
    report = evaluate_folder(pred_dir, tdir).to_dict()
    n_other = hit_other = 0
    for img in report["images"]:
        name = img["name"]
        pred = read_gray(pred_dir / f"{name}_mask.png") >= 0.5
        other = read_gray(tdir / "other" / f"{name}.png") >= 0.5
        inst = read_label_image(tdir / "instances" / f"{name}.png")
        ob = object_scores(pred, other, inst)
        n_other += ob["truth_objects"]
        hit_other += ob["hit"]
        img["other_objects"] = ob["truth_objects"]
        img["other_marked"] = ob["hit"]
    report["total"]["other_objects"] = n_other
    report["total"]["other_marked"] = hit_other
    report["total"]["other_marked_fraction"] = hit_other / n_other if n_other else 0.0
    return report


def all_background(task: str, set_name: str, out: Path) -> dict[str, Any]:
    """Write all-background predictions for a set and score them (the lower reference)."""
    from synthlang.common.imageio import read_image

    write_png = png
    out.mkdir(parents=True, exist_ok=True)
    for p in set_images(set_name):
        h, w = read_image(p).shape[:2]
        write_png(out / f"{p.stem}_mask.png", np.zeros((h, w), np.uint8))
    return evaluate(out, task, set_name)


def iter_rows(reports: Iterable[tuple[str, dict]]) -> list[dict[str, Any]]:
    """Flatten ``(label, report)`` pairs into table rows."""
    rows = []
    for label, rep in reports:
        t = rep["total"]
        rows.append({"model": label, **{k: t[k] for k in t}})
    return rows


def keep_published(
    before: dict[str, Any], out_sets: dict[str, Any], now: dict[str, str]
) -> dict[str, Any]:
    """Carry the rows of models measured earlier (results JSON ``before``) into ``out_sets``.

    Returns the kept models' entries.

    ``now`` maps the names of the models scored now to their checkpoints' SHA-256. A model of
    the previous results that is not scored now (its checkpoint may be gone with an earlier
    session's ``OUT``) keeps its published rows; one whose name is reused by a different
    checkpoint is kept as ``NAME (sha256[:10])``. Its entry notes the commit it was measured at.
    Rows are kept only for sets scored on the same images.
    """
    kept: dict[str, Any] = {}
    for name, info in before.get("models", {}).items():
        if now.get(name) == info["sha256"]:
            continue  # scored again now
        new_name = f"{name} ({info['sha256'][:10]})" if name in now else name
        kept[new_name] = {**info, "measured_at": info.get("measured_at", before["git"]["commit"])}
        for key, entry in out_sets.items():
            old = before.get("sets", {}).get(key, {})
            if name in old.get("rows", {}) and old.get("images") == entry["images"]:
                entry["rows"][new_name] = old["rows"][name]
                entry["per_image"][new_name] = old["per_image"][name]
    return kept
