"""Real slides out of the box: score checkpoints on PUMA, NuCLS and CRCHP (issue 10, item 7).

    python experiments/real_slides.py                                # stage score, default models
    python experiments/real_slides.py --model s3=models/scenario3.pt --model fit=RUN/model.pt@puma
    python experiments/real_slides.py --stage trainsets train --refs puma nucls crchp   # references
    python experiments/real_slides.py --stage all                    # everything, in order

Nothing is fitted on a measured set. Every checkpoint is run with ``synthlang predict CKPT
IMAGES --out DIR`` (whatever ``predict`` does by default, plus ``--predict-arg`` flags) and
its ``NAME_mask.png`` is scored on three real sets, each with its measured split and its fit
split (the latter reported as a validation row, "fit split (tuning allowed)"):

* **PUMA** (melanoma, ``puma_eval`` = rows 512-1023 of the 40x region, ``puma_fit`` = rows
  0-511, both downsampled by 2 to 20x): tumour-nucleus pixel Dice and accuracy, and detection
  F1 of tumour nuclei (:func:`real_scores.match_count`: predicted components' centroids
  matched one-to-one to truth nucleus centroids within 7.5 px at 20x, the PUMA challenge's
  15 px at 40x; the nuclei that ``predict`` wrote, its watershed split, the same way);
* **NuCLS** (breast, ``nucls_test`` / ``nucls_train`` tiles rescaled by 0.4 to 20x): Dice,
  accuracy and detection F1 of class 0 ``tumor_any``, the same rule;
* **CRCHP** (colorectal, ``crchp_validation`` / ``crchp_train``, 20x, points only): share of
  the epithelial, inflammatory and fibroblast points inside the predicted mask, balanced score
  ``(epithelial_inside + (1 - inflammatory_inside)) / 2`` (an all-background or all-foreground
  mask scores 0.5) and detection F1 of epithelial points (components' centroids within 6 px).

Every set also gets an all-background row. CRCHP is research-only: nothing derived from its
images but numbers leaves ``OUT`` (``experiments/out/``, git-ignored); its overlay sheet goes to
``OUT/real_slides/overlays/``, never to ``docs/``. PUMA / NuCLS overlays are downsized sheets in
``docs/results/real_slides_SET.png``.

Stages (``--stage``; ``score`` = real predict evaluate, the default; ``all`` = every stage):
``real`` the 20x PUMA / NuCLS images and truth (:func:`common.prepare_real`); ``trainsets``
the fit splits' real labels as dataset folders (noisy = clean = the image; mask = the tumour
truth, or disks of radius 4 px around CRCHP's epithelial points); ``train`` the references
(``synthlang train --data TRAINSET --model unet``, resumable, ``DONE.json``), each scored on
its own family once finished; ``predict`` (cached per predict code, checkpoint and flags);
``evaluate`` the scores, ``docs/results/real_slides.{json,md}`` and the overlay sheets.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmark as B  # noqa: E402
import common as C  # noqa: E402
from real_scores import (  # noqa: E402
    EPI,
    FIB,
    INFL,
    OTHERS,
    RADIUS_CRCHP,
    RADIUS_NUCLEI,
    score_mask_image,
    score_point_image,
    total,
)

STAGES = ("real", "trainsets", "train", "predict", "evaluate")
SCORE_STAGES = ("real", "predict", "evaluate")
FAMILIES = ("puma", "nucls", "crchp")

HERE = C.OUT / "real_slides"
CRCHP_DIR = C.REALDATA / "crchp"
#: disk radius (px) around the CRCHP train split's epithelial points for the reference's mask
CRCHP_DISK = 4
#: colours of the CRCHP truth points in the (git-ignored) overlay sheet
POINT_COLOURS = {EPI: (0, 1, 0), INFL: (0, 0.4, 1), FIB: (1, 1, 0), OTHERS: (1, 1, 1)}
SMOKE = bool(os.environ.get("SYNTHLANG_EXPERIMENTS_SMOKE"))


@dataclass(frozen=True)
class RealSet:
    """One scored split of a real data set."""

    key: str
    family: str
    fit_split: bool  # True: the fit split (tuning allowed); False: measured, never tuned on
    title: str

    @property
    def points(self) -> bool:
        """Whether the truth is points (CRCHP) rather than masks."""
        return self.family == "crchp"


SETS = (
    RealSet("puma_eval", "puma", False, "PUMA EVAL half (rows 512-1023; 256 x 512 px at 20x)"),
    RealSet("puma_fit", "puma", True, "PUMA FIT half (rows 0-511)"),
    RealSet("nucls_test", "nucls", False, "NuCLS test (102 x 102 px tiles at 20x)"),
    RealSet("nucls_train", "nucls", True, "NuCLS train"),
    RealSet("crchp_validation", "crchp", False, "CRCHP validation (500 x 500 px tiles, 20x)"),
    RealSet("crchp_train", "crchp", True, "CRCHP train (evenly spaced subset, --crchp-fit-images)"),
)
FAMILY_TITLES = {
    "puma": "PUMA metastatic melanoma: tumour nuclei (PUMA class 1)",
    "nucls": "NuCLS breast carcinoma: tumour nuclei (class 0 tumor_any)",
    "crchp": "CRCHistoPhenotypes colorectal adenocarcinoma: points (research-only data)",
}


@dataclass
class ModelSpec:
    """A checkpoint to score: ``--model NAME=PATH[@FAMILY,...]`` or a trained reference."""

    name: str
    path: Path
    families: tuple[str, ...] = FAMILIES
    label: str = ""
    flags: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- data


def crchp_allowed() -> bool:
    """Whether CRCHP may be used: its files exist and OUT is not a tracked part of the repo.

    Everything derived from CRCHP images (predictions, overlays, the reference's training
    set) is written below ``OUT``; that must be ``experiments/out`` (git-ignored) or a
    folder outside the repository.
    """
    if not (CRCHP_DIR / "validation").is_dir():
        C.say(f"CRCHP skipped: {C.rel(CRCHP_DIR)} is not available")
        return False
    out = C.OUT.resolve()
    if out.is_relative_to(C.REPO) and not out.is_relative_to(C.EXPERIMENTS / "out"):
        C.say(f"CRCHP skipped: {out} lies inside the repository; CRCHP-derived files may not")
        return False
    return True


def read_points(csv_path: Path) -> list[tuple[float, float, str]]:
    """The ``x, y, class`` rows of a CRCHP ``*_points.csv`` (0-based pixel centres)."""
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return [(float(r["x"]), float(r["y"]), r["class"].strip()) for r in csv.DictReader(fh)]


def crchp_images(split: str, limit: int = 0) -> list[Path]:
    """CRCHP tiles of ``split``; ``limit > 0`` keeps that many, evenly spaced by name."""
    files = sorted((CRCHP_DIR / split).glob("img*.png"))
    if 0 < limit < len(files):
        files = [files[i] for i in np.linspace(0, len(files) - 1, limit).round().astype(int)]
    return files


def set_images(rs: RealSet, args: argparse.Namespace) -> list[Path]:
    """The 20x images of a set (after stage ``real``), cut to ``--max-images``."""
    if rs.family == "crchp":
        split = "train" if rs.fit_split else "validation"
        files = crchp_images(split, args.crchp_fit_images if rs.fit_split else 0)
    else:
        files = C.set_images(rs.key)
    return files[: args.max_images] if args.max_images else files


def stage_real(force: bool) -> dict:
    """Stage ``real``: PUMA / NuCLS at 20x with their truth folders; CRCHP is read in place."""
    info = C.prepare_real(force)
    if crchp_allowed():
        for split in ("train", "validation"):
            files = crchp_images(split)
            missing = [p.name for p in files if not p.with_name(f"{p.stem}_points.csv").exists()]
            if missing:
                raise SystemExit(f"CRCHP {split}: no points CSV for {', '.join(missing)}")
    return info


def disks(shape: tuple[int, int], centres: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask of the disks of ``radius`` around ``centres`` (``(n, 2)`` row, col).

    Examples
    --------
    >>> int(disks((9, 9), np.array([[4.0, 4.0]]), 1).sum())
    5
    """
    out = np.zeros(shape, bool)
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    for cy, cx in np.rint(centres).astype(int):
        rr, cc = cy + dy, cx + dx
        ok = (dy**2 + dx**2 <= radius**2) & (rr >= 0) & (cc >= 0)
        ok &= (rr < shape[0]) & (cc < shape[1])
        out[rr[ok], cc[ok]] = True
    return out


def trainset(family: str) -> Path:
    """The dataset folder of a family's fit split with its real labels (stage ``trainsets``)."""
    if family == "puma":
        return C.OUT / "real" / "trainsets" / "tumor"  # benchmark.real_fit_dataset's folder
    if family == "nucls":
        return C.OUT / "real" / "trainsets" / "tumor_nucls_train"
    return HERE / "trainsets" / "crchp"


def stage_trainsets(families: list[str], force: bool) -> dict[str, str]:
    """Stage ``trainsets``: real-label dataset folders of the fit splits (PUMA, NuCLS, CRCHP).

    A family whose folder holds ``manifest.json`` is skipped unless ``force``.
    """
    from synthlang.common.imageio import read_image

    done = {}
    for fam in families:
        root = trainset(fam)
        if (root / "manifest.json").exists() and not force:
            C.say(f"trainset {fam}: done already")
        elif fam == "crchp":
            pairs = []
            for p in crchp_images("train"):
                img = read_image(p)
                pts = read_points(p.with_name(f"{p.stem}_points.csv"))
                epi = np.array([(y, x) for x, y, c in pts if c == EPI]).reshape(-1, 2)
                pairs.append((img, disks(img.shape[:2], epi, CRCHP_DISK)))
            C.write_real_dataset(root, pairs, "real_crchp_train_epithelial_disks")
        else:
            if root.exists():
                shutil.rmtree(root)
            B.real_fit_dataset("tumor", "puma_fit" if fam == "puma" else "nucls_train")
        C.say(f"trainset {fam}: {C.rel(root)}")
        done[fam] = C.rel(root)
    return done


def ref_run(family: str) -> Path:
    """Run folder of a family's reference (U-Net on the fit split's real labels)."""
    return HERE / "runs" / f"unet_real_{family}"


def stage_train(families: list[str], extra: list[str], force: bool) -> dict:
    """Stage ``train``: one U-Net per family on its fit split's real labels (resumable)."""
    results = {}
    for fam in families:
        data, run = trainset(fam), ref_run(fam)
        if not (data / "manifest.json").exists():
            C.say(f"reference {fam}: no training set {C.rel(data)}; run --stage trainsets first")
            continue
        marker = run / "DONE.json"
        if marker.exists() and not force:
            C.say(f"reference {fam}: trained already ({C.rel(run)})")
            results[fam] = json.loads(marker.read_text(encoding="utf-8"))
            continue
        threads = ["--threads", str(C.THREADS)]
        args = ["train", "--data", data, "--out", run, *C.UPPER_ARGS, *extra, *threads]
        command = C.shown_command(C.synthlang(*args))
        resumed = (run / "model.pt").exists() and not force
        if resumed:
            args = ["train", "--data", data, "--out", run, "--resume", *threads]
        elif force:
            args.append("--overwrite")
        seconds = C.sh(C.synthlang(*args))
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
        last = rows[-50:]
        info = {
            "command": command,
            "resumed": resumed,
            "seconds": seconds,
            "iterations": rows[-1]["step"] if rows else 0,
            "last50_accuracy": float(np.mean([r["accuracy"] for r in last])) if last else None,
        }
        C.write_json(marker, info)
        results[fam] = info
    return results


# ---------------------------------------------------------------------- predict


def sha256(path: Path) -> str:
    """SHA-256 of a file (identifies a checkpoint in the prediction cache and the JSON)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: the code behind ``synthlang predict``'s defaults (part of the prediction cache key)
PREDICT_CODE = (
    "synthlang/cli/predict.py",
    "vnet/predict.py",
    "vnet/predict_outputs.py",
    "vnet/instances.py",
    "vnet/tta.py",
    "vnet/rescale.py",
    "vnet/checkpoint.py",
    "synthlang/colornorm.py",
    "synthlang/common/regions.py",
    "synthlang/common/resample.py",
    "synthlang/nuclei.py",
)


def predict_code_hash() -> str:
    """SHA-256 over the files of :data:`PREDICT_CODE` that exist (predict's behaviour)."""
    return hashlib.sha256(
        "".join(sha256(C.REPO / f) for f in PREDICT_CODE if (C.REPO / f).exists()).encode()
    ).hexdigest()


def pred_dir(model: ModelSpec, rs: RealSet) -> Path:
    """Prediction folder of a model on a set."""
    return HERE / "pred" / model.name / rs.key


def stage_predict(models: list[ModelSpec], sets: list[RealSet], args: argparse.Namespace) -> None:
    """Stage ``predict``: ``synthlang predict`` per model and set (cached by checkpoint, flags)."""
    code = predict_code_hash()
    for m in models:
        digest = sha256(m.path)
        for rs in sets:
            if rs.family not in m.families:
                continue
            images = set_images(rs, args)
            out = pred_dir(m, rs)
            key = {
                "predict_code": code,
                "checkpoint_sha256": digest,
                "flags": m.flags,
                "images": [p.stem for p in images],
            }
            marker = out / "DONE.json"
            if marker.exists() and not args.force:
                if json.loads(marker.read_text(encoding="utf-8")).get("key") == key:
                    continue
            if out.exists():
                shutil.rmtree(out)
            seconds = C.sh(C.synthlang("predict", m.path, *images, "--out", out, "-q", *m.flags))
            C.write_json(marker, {"key": key, "seconds": seconds})


# ---------------------------------------------------------------------- scoring


def score_set(rs: RealSet, images: list[Path], pred: Path | None, min_area: int) -> dict:
    """Score one model's predictions on a set (``pred=None``: the all-background mask)."""
    from synthlang.common.imageio import image_size, read_label_image
    from vnet.data import read_gray

    per_image = []
    for p in images:
        name = p.stem
        nuclei = None
        if pred is None:
            mask = np.zeros(image_size(p), bool)
            nuclei = np.zeros(mask.shape, np.int64)
        else:
            mask = read_gray(pred / f"{name}_mask.png") >= 0.5
            if (pred / f"{name}_instances.png").is_file():
                nuclei = read_label_image(pred / f"{name}_instances.png").astype(np.int64)
        if rs.points:
            pts = read_points(p.with_name(f"{name}_points.csv"))
            s = score_point_image(mask, pts, min_area, nuclei)
        else:
            tdir = C.truth_dir("tumor", rs.key)
            truth = read_gray(tdir / "mask" / f"{name}.png") >= 0.5
            inst = read_label_image(tdir / "instances" / f"{name}.png").astype(np.int64)
            s = score_mask_image(mask, truth, inst, min_area, nuclei)
        per_image.append({"name": name, **s})
    return {"total": total(per_image, rs.points), "images": per_image}


# --------------------------------------------------------------------- reporting


def _sheet(rows: list[list[tuple[str, np.ndarray]]], path: Path) -> None:
    """Save rows of labelled ``(H, W, 3)`` panels as one downsized PNG (panels <= 240 px wide)."""
    C.contact_sheet(rows, path, min(1.0, 240 / rows[0][0][1].shape[1]))


def overlays(rs: RealSet, images: list[Path], models: list[ModelSpec]) -> Path | None:
    """Overlay sheet of a measured set: input, truth, each model's mask (red tint, yellow edge).

    PUMA / NuCLS sheets go to ``RESULTS/real_slides_SET.png``; CRCHP sheets (truth points:
    epithelial green, inflammatory blue, fibroblast yellow, others white) only to
    ``OUT/real_slides/overlays/``, never into the repository's tracked files.
    """
    from synthlang.common.imageio import read_image
    from vnet.data import read_gray
    from vnet.overlay import overlay

    rows = []
    for p in images[:5]:
        image = read_image(p)
        if rs.points:
            truth = image.copy()
            for cls, colour in POINT_COLOURS.items():
                pts = [
                    (y, x)
                    for x, y, c in read_points(p.with_name(f"{p.stem}_points.csv"))
                    if c == cls
                ]
                truth[disks(image.shape[:2], np.array(pts).reshape(-1, 2), 2.5)] = colour
        else:
            truth = overlay(image, read_gray(C.truth_dir("tumor", rs.key) / "mask" / p.name) >= 0.5)
        panels = [("input", image), ("truth", truth)]
        for m in models:
            mk = pred_dir(m, rs) / f"{p.stem}_mask.png"
            if rs.family in m.families and mk.exists():
                panels.append((m.name, overlay(image, read_gray(mk) >= 0.5)))
        rows.append(panels)
    if not rows:
        return None
    if rs.points:
        path = HERE / "overlays" / f"{rs.key}.png"
        if not crchp_allowed():
            return None
    else:
        path = C.RESULTS / f"real_slides_{rs.key}.png"
    _sheet(rows, path)
    return path


def _git_state() -> dict[str, Any]:
    """Commit, dirty tree, predict's code hash and whether it has ``--no-normalize``."""

    def out(argv: list[str]) -> str:
        r = subprocess.run(argv, cwd=C.REPO, capture_output=True, text=True, check=False)
        return r.stdout.strip()

    return {
        "commit": out(["git", "rev-parse", "HEAD"]),
        "dirty": bool(out(["git", "status", "--porcelain"])),
        "predict_code": predict_code_hash(),
        "predict_has_no_normalize_flag": "--no-normalize" in out(C.synthlang("predict", "--help")),
    }


def _cell(t: dict, rs: RealSet) -> list[str]:
    """Table cells of one row (see :func:`markdown`)."""

    def det(key: str) -> str:
        if key not in t:
            return "-"  # rows kept from runs before the nuclei were scored
        d = t[key]
        return (
            f"{d['f1']:.3f} ({d['precision']:.2f} / {d['recall']:.2f}; "
            f"{d['tp']} / {d['pred']} / {d['truth']})"
        )

    dets = [det("detection"), det("detection_instances")]
    if rs.points:
        return [
            *(f"{100 * t[f'{c}_inside']:.1f} %" for c in (EPI, INFL, FIB)),
            f"{t['balanced']:.3f}",
            *dets,
        ]
    return [f"{100 * t['accuracy']:.2f} %", f"{t['dice']:.3f}", *dets]


def markdown(result: dict) -> str:
    """The Markdown tables of ``docs/results/real_slides.md``."""
    git = result["git"]
    min_area = f" of at least {result['min_area']} px" if result["min_area"] else ""
    lines = [
        "# Real slides out of the box: PUMA, NuCLS, CRCHP (issue 10, item 7)",
        "",
        "Written by `python experiments/real_slides.py` (commit "
        f"`{git['commit'][:10]}`{', dirty tree' if git['dirty'] else ''}; `predict` of that tree "
        f"{'has' if git['predict_has_no_normalize_flag'] else 'has no'} `--no-normalize`). "
        "Every model is run with `synthlang predict CKPT IMAGES --out DIR` plus the flags in "
        "the model table (none: `predict`'s default of that commit); mask = `m_T >= 0.5`. "
        "Nothing is fitted on a measured set; rows marked **fit split (tuning allowed)** are "
        "validation rows on the data that fitting, references and tuning may use.",
        "",
        "* **Pixel accuracy, Dice**: micro averages over the images of a set, tumour-nucleus "
        "pixels as truth (PUMA class 1, NuCLS class 0 tumor_any), 20x.",
        f"* **Detection F1** (precision / recall; matched / predicted / truth): the centroids of "
        f"the predicted 8-connected components{min_area} matched "
        "one-to-one (Hungarian, maximum number of pairs) to the truth centroids within "
        f"{RADIUS_NUCLEI} px at 20x (PUMA, NuCLS: tumour nuclei; the PUMA challenge's 15 px at "
        f"40x) or {RADIUS_CRCHP} px (CRCHP: epithelial points). **Nuclei F1**: the same with "
        "the centroids of the nuclei that `predict` wrote (NAME_instances.png: each "
        "component split by its distance-transform watershed) in place of the components; "
        "`-` for rows measured before it was scored.",
        "* **CRCHP inside shares**: the share of a class's points whose pixel is in the "
        "predicted mask. **Balanced score** = (epithelial_inside + (1 - inflammatory_inside)) / "
        "2; all-background and all-foreground masks both score 0.5. CRCHP is research-only: only "
        "numbers are reported here; its overlays stay in `experiments/out/real_slides/overlays/`.",
        "",
        "| model | checkpoint | sets | predict flags |",
        "| --- | --- | --- | --- |",
    ]
    for name, m in result["models"].items():
        flags = " ".join(m["flags"]) or "(default)"
        sets = ", ".join(m["families"])
        if "measured_at" in m:
            sets += f" (measured at `{m['measured_at'][:10]}`)"
        lines.append(f"| {name} | `{m['checkpoint']}` ({m['sha256'][:10]}) | {sets} | `{flags}` |")
    lines.append("")
    for fam in FAMILIES:
        fam_sets = [rs for rs in SETS if rs.family == fam and rs.key in result["sets"]]
        if not fam_sets:
            continue
        points = fam_sets[0].points
        inside = [f"{c} inside" for c in (EPI, INFL, FIB)]
        head = [*inside, "balanced", "epithelial detection F1", "nuclei F1"] if points else []
        head = head or ["pixel accuracy", "Dice", "tumour-nucleus detection F1", "nuclei F1"]
        lines += [f"## {FAMILY_TITLES[fam]}", ""]
        for rs in fam_sets:
            entry = result["sets"][rs.key]
            split = "fit split (tuning allowed)" if rs.fit_split else "measured, never tuned on"
            n = len(entry["images"])
            lines += [f"### {rs.title}: {split} ({n} image{'s' if n > 1 else ''})", ""]
            lines += ["| model | " + " | ".join(head) + " |", "| --- " * (len(head) + 1) + "|"]
            for model, t in entry["rows"].items():
                lines.append(f"| {model} | " + " | ".join(_cell(t, rs)) + " |")
            lines.append("")
            if entry.get("overlay") and not rs.points:
                names = [
                    k
                    for k in entry["rows"]
                    if k != "all background" and "measured_at" not in result["models"].get(k, {})
                ]
                cols = ", ".join(["input", "truth", *names])
                lines += [f"Overlay (columns: {cols}; mask tinted red, outline yellow):", ""]
                lines += [f"![{rs.key}]({Path(entry['overlay']).name})", ""]
    if result["references"]:
        lines += ["## References trained here", "", "| family | command | iterations | time |"]
        lines += ["| --- | --- | --- | --- |"]
        for fam, info in result["references"].items():
            minutes = info["seconds"] / 60
            lines.append(
                f"| {fam} | `{info['command']}` | {info['iterations']} | {minutes:.1f} min |"
            )
        lines.append("")
    return "\n".join(lines)


def model_info(m: ModelSpec) -> dict[str, Any]:
    """A model's entry in the JSON: checkpoint, its hash, label, sets, predict flags."""
    info = {"checkpoint": C.rel(m.path), "sha256": sha256(m.path), "label": m.label}
    return {**info, "families": list(m.families), "flags": m.flags}


def stage_evaluate(models: list[ModelSpec], sets: list[RealSet], args: argparse.Namespace) -> dict:
    """Stage ``evaluate``: scores, JSON and Markdown tables, overlay sheets."""
    out_sets: dict[str, Any] = {}
    for rs in sets:
        images = set_images(rs, args)
        rows: dict[str, Any] = {"all background": score_set(rs, images, None, args.min_area)}
        for m in models:
            if rs.family in m.families:
                pd = pred_dir(m, rs)
                if not (pd / "DONE.json").exists():
                    raise SystemExit(f"no predictions of {m.name} on {rs.key}: run --stage predict")
                rows[m.name] = score_set(rs, images, pd, args.min_area)
        entry: dict[str, Any] = {
            "title": rs.title,
            "split": "fit split (tuning allowed)" if rs.fit_split else "measured, never tuned on",
            "images": [p.stem for p in images],
            "rows": {k: v["total"] for k, v in rows.items()},
            "per_image": {k: v["images"] for k, v in rows.items()},
        }
        if not rs.fit_split:
            pic = overlays(rs, images, models)
            if pic is not None and not rs.points:
                entry["overlay"] = C.rel(pic)
        out_sets[rs.key] = entry
    infos = {m.name: model_info(m) for m in models}
    now = {name: info["sha256"] for name, info in infos.items()}
    path = C.RESULTS / "real_slides.json"
    keep = args.keep_previous and not args.fit_only and path.exists()
    previous = json.loads(path.read_text(encoding="utf-8")) if keep else {}
    kept = C.keep_published(previous, out_sets, now)
    references = {}
    for fam in FAMILIES:
        marker = ref_run(fam) / "DONE.json"
        if marker.exists():
            references[fam] = json.loads(marker.read_text(encoding="utf-8"))
    if kept:  # references trained in earlier sessions
        references = {**previous.get("references", {}), **references}
    result = {
        "script": "experiments/real_slides.py",
        "git": _git_state(),
        "min_area": args.min_area,
        "radius_nuclei_px_20x": RADIUS_NUCLEI,
        "radius_crchp_px": RADIUS_CRCHP,
        "balanced_definition": "(epithelial_inside + (1 - inflammatory_inside)) / 2",
        "models": {**infos, **kept},
        "sets": out_sets,
        "references": references,
    }
    # tuning runs on the fit splits never overwrite the report's tables
    folder = HERE if args.fit_only else C.RESULTS
    stem = "real_slides_fit_only" if args.fit_only else "real_slides"
    C.write_json(folder / f"{stem}.json", result)
    (folder / f"{stem}.md").write_text(markdown(result), encoding="utf-8")
    C.say(f"tables: {C.rel(folder / f'{stem}.md')}, {C.rel(folder / f'{stem}.json')}")
    return result


# -------------------------------------------------------------------------- main


def parse_model(text: str, flags: list[str]) -> ModelSpec:
    """``NAME=PATH`` or ``NAME=PATH@FAMILY,FAMILY`` (families: puma, nucls, crchp)."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise SystemExit(f"--model {text!r}: expected NAME=PATH[@puma,nucls,crchp]")
    path, _, fams = rest.partition("@")
    families = tuple(f for f in fams.split(",") if f) if fams else FAMILIES
    bad = [f for f in families if f not in FAMILIES]
    if bad:
        raise SystemExit(f"--model {text!r}: unknown set {bad[0]!r} (use {', '.join(FAMILIES)})")
    p = (C.REPO / path).resolve() if not Path(path).is_absolute() else Path(path)
    if not p.is_file():
        raise SystemExit(f"--model {text!r}: no checkpoint {p}")
    return ModelSpec(name, p, families, label=name, flags=list(flags))


def default_models() -> list[str]:
    """The shipped checkpoints that exist (the generic model first)."""
    names = ("he_tumor_nuclei", "scenario3")
    return [f"{n}=models/{n}.pt" for n in names if (C.REPO / "models" / f"{n}.pt").exists()]


HELP = {
    "model": "a checkpoint to score (repeat); @puma,nucls,crchp limits its sets; default: "
    "the shipped models/he_tumor_nuclei.pt and models/scenario3.pt that exist",
    "predict": "extra synthlang predict flag for every --model checkpoint (repeat; write "
    "--predict-arg=--reference=IMG)",
    "model_predict": "extra synthlang predict flag for the --model NAME only (repeat; "
    "--model-predict-arg=NAME=--reference=IMG)",
    "train": "extra synthlang train flag of the references (--train-arg=--iterations=4000)",
    "refs": "references to build and train (stages trainsets, train)",
    "min_area": "detection: drop predicted components below this many px (default 0)",
    "crchp_fit": "CRCHP train tiles scored for the fit-split row, evenly spaced (0: all 70)",
    "fit_only": "score only the fit splits (tuning); tables go to OUT/real_slides/, not docs/",
    "max_images": "score at most this many images per set (0: all; smoke default 2)",
    "keep_previous": "keep the published rows of models not scored now (earlier checkpoints, "
    "runs of earlier sessions), noting the commit they were measured at",
}


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = p.add_argument
    add("--stage", nargs="+", default=["score"], choices=("all", "score", *STAGES))
    add("--model", action="append", metavar="NAME=PATH[@SETS]", help=HELP["model"])
    add("--predict-arg", action="append", default=[], metavar="ARG", help=HELP["predict"])
    add(
        "--model-predict-arg",
        action="append",
        default=[],
        metavar="NAME=ARG",
        help=HELP["model_predict"],
    )
    add("--train-arg", action="append", default=[], metavar="ARG", help=HELP["train"])
    add("--sets", nargs="+", default=list(FAMILIES), choices=FAMILIES, help="sets to score")
    add("--refs", nargs="+", default=list(FAMILIES), choices=FAMILIES, help=HELP["refs"])
    add("--no-refs", action="store_true", help="do not score the trained references")
    add("--min-area", type=int, default=0, help=HELP["min_area"])
    add("--crchp-fit-images", type=int, default=20, help=HELP["crchp_fit"])
    add("--max-images", type=int, default=2 if SMOKE else 0, help=HELP["max_images"])
    add("--force", action="store_true", help="redo the named stages")
    add("--fit-only", action="store_true", help=HELP["fit_only"])
    add("--keep-previous", action="store_true", help=HELP["keep_previous"])
    args = p.parse_args(argv)
    C.require_realdata()
    if "all" in args.stage:
        stages = STAGES
    else:
        wanted = set(args.stage) | (set(SCORE_STAGES) if "score" in args.stage else set())
        stages = tuple(s for s in STAGES if s in wanted)
    families = [f for f in args.sets if f != "crchp" or crchp_allowed()]
    refs = [f for f in args.refs if f != "crchp" or crchp_allowed()]
    sets = [rs for rs in SETS if rs.family in families and (rs.fit_split or not args.fit_only)]
    models = [parse_model(t, args.predict_arg) for t in (args.model or default_models())]
    for item in args.model_predict_arg:
        name, _, arg = item.partition("=")
        chosen = [m for m in models if m.name == name]
        if not chosen or not arg:
            raise SystemExit(f"--model-predict-arg {item!r}: expected NAME=ARG for a --model NAME")
        chosen[0].flags.append(arg)
    t0 = time.time()
    if "real" in stages:
        stage_real(args.force)
    if "trainsets" in stages:
        stage_trainsets(refs, args.force)
    if "train" in stages:
        stage_train(refs, args.train_arg, args.force)
    if not args.no_refs:
        for fam in families:
            ckpt = ref_run(fam) / "model.pt"
            if (ref_run(fam) / "DONE.json").exists() and ckpt.exists():
                label = f"U-Net on real {fam} fit-split labels (reference)"
                models.append(ModelSpec(f"unet_real_{fam}", ckpt, (fam,), label))
    if "predict" in stages:
        stage_predict(models, sets, args)
    if "evaluate" in stages:
        stage_evaluate(models, sets, args)
    C.say(f"done in {(time.time() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
