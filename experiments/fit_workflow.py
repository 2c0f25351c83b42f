"""The fit workflow on CRCHistoPhenotypes (issue 10): fit on the train split, render, train.

    python experiments/fit_workflow.py --stage all      # fit render train unet
    python experiments/fit_workflow.py --scene generic --stage render unet

* ``fit``: ``synthlang fit`` on the 70 CRCHP train tiles with their point CSVs (nuclei segmented
  by colour deconvolution and a watershed, each labelled by the nearest point within 4 um;
  epithelial -> tumor, inflammatory -> lymphocyte, fibroblast -> stroma) into
  ``experiments/out/fit/crchp/`` (research-only data: local, git-ignored, never shipped);
* ``render``: 400 training samples (seed 1) of ``experiments/scenes/crchp_tumor.scene`` (the
  default ``--scene crchp``: CRCHP-fitted tissue only) or of
  ``experiments/scenes/crchp_generic.scene`` (``--scene generic``: the shipped generic scene
  with the CRCHP-fitted nuclei added, colorectal epithelial cut-outs masked);
* ``train``: the coupled VN, fine-tuned from ``models/he_tumor_nuclei_vn.pt`` (``--init``: the
  generic model trained on open data only) with the default preset, bf16 (fp32 on a CPU without
  it: ``common.PRECISION``);
* ``unet``: the U-Net, fine-tuned from ``models/he_tumor_nuclei.pt`` with the recipe of its
  last fine-tune (1000 iterations, lr 5e-4 cosine, loss weights 20 0.5, 128 px crops, bf16 or
  fp32 as for ``train``) into
  ``unet_run/``; ``--init`` keeps the shipped checkpoint's predict choices (haematoxylin level,
  TTA, filled regions, whole nuclei, scales), the level measured on the new training data, but
  not neighbour nuclei (``--no-predict-neighbour-nuclei``: measured worse for this fine-tune;
  docs/fit.md, "From a fitted library to a model").

Each scene has its folder, ``experiments/out/fit_workflow/crchp/`` (``crchp``) and
``experiments/out/fit_workflow/crchp_generic/`` (``generic``). Scores: ``python
experiments/real_slides.py --model fit_crchp=experiments/out/fit_workflow/crchp/vn/model.pt@crchp``
(or ``.../unet_run/model.pt``) next to the reference ``--refs crchp`` (U-Net
on disks around the train split's epithelial points). Nothing here reads the CRCHP validation
split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402

CRCHP = C.REALDATA / "crchp" / "train"
LIB = C.OUT / "fit" / "crchp" / "crchp.scene"
#: ``--scene``: the scene rendered and the folder of its samples and runs
FORMS = {
    "crchp": (C.SCENES / "crchp_tumor.scene", C.OUT / "fit_workflow" / "crchp"),
    "generic": (C.SCENES / "crchp_generic.scene", C.OUT / "fit_workflow" / "crchp_generic"),
}
HERE = FORMS["crchp"][1]
INIT = C.REPO / "models" / "he_tumor_nuclei_vn.pt"
UNET_INIT = C.REPO / "models" / "he_tumor_nuclei.pt"
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


def resume_command(here: Path, run: Path) -> list[str]:
    """Continue the interrupted fine-tune ``run`` on the samples of ``here`` (``--precision``
    is not stored in the checkpoint)."""
    return C.synthlang("train", "--data", here / "train", "--out", run, "--resume",
                       "--precision", C.PRECISION, "--threads", str(C.THREADS), "-q")  # fmt: skip


def train_command(resume: bool) -> list[str]:
    """Fine-tune the generic VN on the rendered CRCHP-fitted samples."""
    run = HERE / "vn"
    if resume:
        return resume_command(HERE, run)
    return C.synthlang("train", "--data", HERE / "train", "--out", run, "--init", INIT,
                       "--preset", "default", "--iterations", str(ITERATIONS), "--n", "400",
                       "--precision", C.PRECISION, "--predict-normalize", "none",
                       "--checkpoint-every", "100", "--threads", str(C.THREADS), "-q")  # fmt: skip


def unet_command(here: Path, resume: bool) -> list[str]:
    """Fine-tune the shipped U-Net on the samples rendered into ``here``."""
    run = here / "unet_run"
    if resume:
        return resume_command(here, run)
    return C.synthlang("train", "--data", here / "train", "--out", run, "--init", UNET_INIT,
                       "--iterations", str(ITERATIONS), "--lr", "5e-4", "--lr-schedule", "cosine",
                       "--loss-weights", "20", "0.5", "--crop", "128", "--n", "400",
                       "--precision", C.PRECISION, "--checkpoint-every", "100",
                       "--no-predict-neighbour-nuclei",
                       "--threads", str(C.THREADS), "-q")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", nargs="+", default=["all"],
                   choices=("all", "fit", "render", "train", "unet"))  # fmt: skip
    p.add_argument("--scene", choices=tuple(FORMS), default="crchp",
                   help="the scene of the render and unet stages (the VN: crchp)")  # fmt: skip
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    scene, here = FORMS[args.scene]
    stages = {"fit", "render", "train", "unet"} if "all" in args.stage else set(args.stage)
    C.require_realdata()
    if "fit" in stages:
        C.stage("crchp fit", LIB.parent / "stage", lambda: {"seconds": C.sh(fit_command())},
                args.force)  # fmt: skip
    if "render" in stages:
        C.stage(f"{args.scene} render", here / "render", lambda: {"seconds": C.sh(C.synthlang(
            "render", scene, "--n", "400", "--out", here / "train", "--seed", "1",
            "--workers", "1", "-q"))}, args.force)  # fmt: skip
    if "train" in stages:
        C.train_run(HERE / "vn", train_command, "crchp fit-workflow VN", args.force)
    if "unet" in stages:
        C.train_run(here / "unet_run", lambda resume: unet_command(here, resume),
                    f"{args.scene} fit-workflow U-Net", args.force)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
