"""The fit workflow on CRCHistoPhenotypes (issue 10): fit on the train split, render, train.

    python experiments/fit_workflow.py --stage all      # fit render train

* ``fit``: ``synthlang fit`` on the 70 CRCHP train tiles with their point CSVs (nuclei segmented
  by colour deconvolution and a watershed, each labelled by the nearest point within 4 um;
  epithelial -> tumor, inflammatory -> lymphocyte, fibroblast -> stroma) into
  ``experiments/out/fit/crchp/`` (research-only data: local, git-ignored, never shipped);
* ``render``: 400 training samples of ``experiments/scenes/crchp_tumor.scene`` (seed 1);
* ``train``: the coupled VN, fine-tuned from ``models/he_tumor_nuclei_vn.pt`` (``--init``: the
  generic model trained on open data only) with the default preset, bf16.

Scores: ``python experiments/real_slides.py --model fit_crchp=experiments/out/fit_workflow/
crchp/vn/model.pt@crchp`` next to the reference ``--refs crchp`` (U-Net on disks around the
train split's epithelial points). Nothing here reads the CRCHP validation split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

CRCHP = C.REALDATA / "crchp" / "train"
LIB = C.OUT / "fit" / "crchp" / "crchp.scene"
SCENE = C.SCENES / "crchp_tumor.scene"
HERE = C.OUT / "fit_workflow" / "crchp"
INIT = C.REPO / "models" / "he_tumor_nuclei_vn.pt"
ITERATIONS = 1000


def fit_command() -> list[str]:
    """``synthlang fit`` on every CRCHP train tile with its points."""
    images = sorted(p for p in CRCHP.glob("img*.png"))
    points = [p.with_name(p.stem + "_points.csv") for p in images]
    return C.synthlang(
        "fit", *images, "--points", *points, "--pixel-size", "0.5",
        "--class-names", "epithelial=tumor", "inflammatory=lymphocyte", "fibroblast=stroma",
        "--only", "tumor", "lymphocyte", "stroma", "--cohorts", "3", "--max-patches", "55",
        "--prefix", "crchp", "--licence", "CRCHistoPhenotypes, research only, never redistribute",
        "-o", LIB,
    )  # fmt: skip


def train_command(resume: bool) -> list[str]:
    """Fine-tune the generic VN on the rendered CRCHP-fitted samples."""
    run = HERE / "vn"
    if resume:
        return C.synthlang("train", "--data", HERE / "train", "--out", run, "--resume",
                           "--precision", "bf16", "--threads", str(C.THREADS), "-q")  # fmt: skip
    return C.synthlang("train", "--data", HERE / "train", "--out", run, "--init", INIT,
                       "--preset", "default", "--iterations", str(ITERATIONS), "--n", "400",
                       "--precision", "bf16", "--predict-normalize", "none",
                       "--checkpoint-every", "100", "--threads", str(C.THREADS), "-q")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", nargs="+", default=["all"],
                   choices=("all", "fit", "render", "train"))  # fmt: skip
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    stages = {"fit", "render", "train"} if "all" in args.stage else set(args.stage)
    C.require_realdata()
    if "fit" in stages:
        C.stage("crchp fit", LIB.parent / "stage", lambda: {"seconds": C.sh(fit_command())},
                args.force)  # fmt: skip
    if "render" in stages:
        C.stage("crchp render", HERE / "render", lambda: {"seconds": C.sh(C.synthlang(
            "render", SCENE, "--n", "400", "--out", HERE / "train", "--seed", "1",
            "--workers", "1", "-q"))}, args.force)  # fmt: skip
    if "train" in stages:
        C.train_run(HERE / "vn", train_command, "crchp fit-workflow VN", args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
