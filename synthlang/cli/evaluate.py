"""``synthlang evaluate``: score predicted class maps and masks against ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from synthlang.cli._common import positive_fraction, positive_int
from synthlang.common.errors import DataError

__all__ = ["add_parser", "run"]


def _radius(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, got {text!r}") from None
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"must be in (0, 1000] pixels, got {text}")
    return value


def _class_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang evaluate``."""
    p = subparsers.add_parser(
        "evaluate",
        help="score predictions per class (Dice, IoU, detection F1, PQ, AJI) and a baseline",
        description=(
            "Compare the predictions of `synthlang predict` (PRED/NAME_labels.png and "
            "NAME_instances.png, or NAME_mask.png / NAME_prob.png thresholded) with ground "
            "truth: a rendered dataset folder (format 2: labels/, instances/ and the "
            "manifest's classes; format 1: mask/ and instances/) or a folder of annotation "
            "images (NAME_labels.png class maps with optional NAME_instances.png, or binary "
            "masks NAME.png / NAME_mask.png). Prints one row per class and an all-background "
            "baseline, pooled over the images: pixel Dice and IoU; detection precision, "
            "recall and F1, predicted and true nuclei matched one-to-one by their centres "
            "within --radius pixels (optimal matching); panoptic quality PQ = SQ x RQ "
            "(matched at IoU > 0.5) and AJI where the truth has instances. A value without "
            "a denominator (precision with nothing predicted) is '-' (null in the JSON). "
            "Classes are matched by name; when either side has one class, the nuclei of "
            "all classes are scored as one. The JSON also holds per-image scores and the "
            "binary scores evaluate always reported (accuracy, Dice, IoU, PSNR of "
            "NAME_denoised.png against clean/NAME.png, truth objects hit when at least "
            "--hit-fraction of their pixels are predicted)."
        ),
        epilog=(
            "examples:\n  synthlang evaluate pred/ --truth data/s2 --json scores.json\n"
            "  synthlang evaluate pred/ --truth annotations/ --classes tumor,til,other"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("pred", type=Path, metavar="PRED", help="folder written by synthlang predict")
    p.add_argument("--truth", type=Path, required=True, metavar="DIR", help="ground truth folder")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write JSON here")
    p.add_argument(
        "--radius",
        type=_radius,
        default=None,
        metavar="PX",
        help="centre matching radius of the detection scores in pixels (default 7.5: the "
        "PUMA rule at 20x)",
    )
    p.add_argument(
        "--classes",
        type=_class_names,
        default=None,
        metavar="A,B,...",
        help="names of the class ids 1, 2, ... of annotation class maps NAME_labels.png "
        "(default: the prediction's classes)",
    )
    p.add_argument(
        "--min-distance",
        type=positive_int,
        default=None,
        metavar="PX",
        help="watershed marker distance for predictions without NAME_instances.png "
        "(default 6, as synthlang predict)",
    )
    p.add_argument(
        "--hit-fraction",
        type=positive_fraction,
        default=0.5,
        help="fraction of a truth object that must be predicted (binary scores; default 0.5)",
    )
    p.add_argument(
        "--threshold",
        type=positive_fraction,
        default=0.5,
        help="threshold for binarising masks and probabilities (default 0.5)",
    )
    p.add_argument(
        "--per-image",
        action="store_true",
        help="also print the binary scores of every image and their totals",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the tables and write the JSON."""
    from vnet.instances import MIN_DISTANCE
    from vnet.metrics import (
        DEFAULT_RADIUS,
        evaluate_folder,
        format_image_table,
        format_table,
        write_json,
    )

    if args.classes is not None and len(set(args.classes)) != len(args.classes):
        raise DataError(f"--classes names a class twice: {','.join(args.classes)}")
    report = evaluate_folder(
        args.pred,
        args.truth,
        hit_fraction=args.hit_fraction,
        threshold=args.threshold,
        radius=args.radius if args.radius is not None else DEFAULT_RADIUS,
        min_distance=args.min_distance if args.min_distance is not None else MIN_DISTANCE,
        classes=args.classes,
    )
    if not args.quiet:
        if args.per_image:
            print(format_image_table(report))
            print()
        print(format_table(report))
    if args.json is not None:
        write_json(report, args.json)
    return 0
