"""``synthlang evaluate``: score predicted masks against ground truth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synthlang.cli._common import positive_fraction
from synthlang.common.errors import DataError
from synthlang.common.fileio import atomic_write_text

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang evaluate``."""
    p = subparsers.add_parser(
        "evaluate",
        help="score predicted masks (accuracy, Dice, IoU, PSNR, object detection)",
        description=(
            "Compare the predictions of `synthlang predict` (PRED/NAME_mask.png, or "
            "NAME_prob.png thresholded) with ground truth: a rendered dataset folder "
            "(mask/, clean/, instances/) or a folder of mask images NAME.png / NAME_mask.png. "
            "Reports pixel accuracy, Dice, IoU, PSNR of NAME_denoised.png against clean/NAME.png "
            "when both exist, and object detection: a truth object (an instance inside the "
            "truth mask, or an 8-connected component of it) is hit when at least "
            "--hit-fraction of its pixels are predicted; a predicted component touching no "
            "truth object is a false object."
        ),
        epilog="example:\n  synthlang evaluate pred/ --truth data/s2 --json scores.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("pred", type=Path, metavar="PRED", help="folder written by synthlang predict")
    p.add_argument("--truth", type=Path, required=True, metavar="DIR", help="ground truth folder")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write JSON here")
    p.add_argument(
        "--hit-fraction",
        type=positive_fraction,
        default=0.5,
        help="fraction of a truth object that must be predicted (default 0.5)",
    )
    p.add_argument(
        "--threshold",
        type=positive_fraction,
        default=0.5,
        help="threshold for binarising masks (default 0.5)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table and write the JSON."""
    from vnet.metrics import evaluate_folder, format_table

    report = evaluate_folder(
        args.pred, args.truth, hit_fraction=args.hit_fraction, threshold=args.threshold
    )
    if not args.quiet:
        print(format_table(report))
    if args.json is not None:
        try:
            text = json.dumps(report.to_dict(), indent=2) + "\n"
            if args.json.exists() and not args.json.is_file():
                args.json.write_text(text)  # a pipe or /dev/stdout: no temporary file there
            else:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(args.json, text)
        except OSError as exc:
            raise DataError(f"cannot write {args.json}: {exc.strerror}") from None
    return 0
