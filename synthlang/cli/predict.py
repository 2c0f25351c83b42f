"""``synthlang predict``: denoise and segment images with a trained network."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from synthlang.cli._common import checked_scales, fraction, non_negative_int, positive_int
from synthlang.common.errors import DataError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang predict``."""
    p = subparsers.add_parser(
        "predict",
        help="denoise and segment images with a trained checkpoint",
        description=(
            "Run a checkpoint written by `synthlang train` on images of any size. Large "
            "images are processed in overlapping tiles (with extra context around each tile) "
            "and blended. Writes per image NAME_denoised.png (u_T, 8-bit RGB), NAME_prob.png "
            "(m_T, 16-bit gray, value/65535; with K classes the largest class probability, "
            "and NAME_prob_1.png ... NAME_prob_K.png per class), NAME_mask.png (m_T >= "
            "threshold, 0/255; any class), NAME_labels.png (class map, 8-bit: argmax of the "
            "class probabilities where the largest is >= threshold, else 0), "
            "NAME_instances.png (16-bit nucleus ids: each class's connected components split "
            "by a distance-transform watershed; regions under --min-area are background in "
            "every output) and NAME_overlay.png (mask tinted red, "
            "outline yellow; with classes one colour per class, instance outlines yellow) "
            "into --out, and predict.json naming the classes (class id k is the k-th). "
            "--geojson adds NAME.geojson for QuPath. Every input is "
            "first colour-normalised to the colour statistics of the training inputs that "
            "the checkpoint stores (the method the checkpoint names, else Macenko stain "
            "normalisation; --normalize reinhard|macenko|haematoxylin chooses; haematoxylin "
            "rescales only the nuclear stain to the training inputs' typical level); "
            "--reference IMG normalises to an image instead, "
            "--no-normalize not at all. A network trained on images that are not RGB (a scene "
            "with `channels [...]`) reads images of its channel count (multi-channel TIFFs, 8 or "
            "16 bit), is not colour-normalised, writes u_T as NAME_denoised.tif (16 bit) and "
            "the overlay on a false-colour view; an image of another channel count is refused. "
            "--tta averages the network's outputs over the 8 rotations and flips of every "
            "tile (8 network passes, 8x slower); a checkpoint can ask for it by default "
            "(`synthlang train --predict-tta`), --no-tta turns it off. --scales 1 0.9 also "
            "averages the mask probabilities over every tile resampled by 0.9 (the checkpoint's "
            "choice by default, `synthlang train --predict-scales`)."
        ),
        epilog="examples:\n  synthlang predict runs/s2/model.pt real/*.png --out pred/\n"
        "  synthlang predict runs/s2/model.pt real/*.png --out pred/ --reference real/ref.png\n"
        "  synthlang predict runs/classes/model.pt slide.png --out pred/ --geojson\n"
        "  synthlang predict runs/s2/model.pt real/*.png --out pred/ --tta",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="RUN/model.pt")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGES", help="input images")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        metavar="REF",
        help="colour-normalise every input to this image instead of to the checkpoint's "
        "training colours",
    )
    p.add_argument(
        "--normalize",
        choices=("macenko", "reinhard", "haematoxylin"),
        default=None,
        help="colour normalisation method (default: what the checkpoint stores, else macenko; "
        "macenko falls back to reinhard for an image without a stain estimate); haematoxylin "
        "rescales only the input's haematoxylin to the training inputs' typical level, hue "
        "and eosin as given",
    )
    p.add_argument(
        "--no-normalize",
        action="store_true",
        help="use the inputs' colours as they are",
    )
    p.add_argument(
        "--tile", type=positive_int, default=512, help="tile side, 8 to 4096 (default 512)"
    )
    p.add_argument(
        "--overlap", type=non_negative_int, default=32, help="tile overlap, blended (default 32)"
    )
    p.add_argument(
        "--margin",
        type=non_negative_int,
        default=32,
        help="extra context around each tile, discarded; at most 512 (default 32)",
    )
    p.add_argument(
        "--threshold", type=fraction, default=0.5, help="mask threshold on m_T (default 0.5)"
    )
    p.add_argument(
        "--min-distance",
        type=positive_int,
        default=None,
        metavar="PX",
        help="least distance between two nuclei centres of the instance split (watershed "
        "markers), in pixels (default 6, for 20x at 0.5 um/px)",
    )
    p.add_argument(
        "--min-area",
        type=_non_negative_float,
        default=None,
        metavar="UM2",
        help="regions of the mask (per class) smaller than this many square micrometres "
        "are background, in every output (default 4, about 16 px at 20x; 0 keeps "
        "everything); whole slides: the least nucleus area",
    )
    p.add_argument(
        "--geojson",
        action="store_true",
        help="also write NAME.geojson: a QuPath FeatureCollection with one detection per "
        "predicted nucleus (class name, mean class probability)",
    )
    p.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="test-time augmentation: run every tile (and every slide tile) 8 times, turned "
        "by 0, 90, 180 and 270 degrees with and without a left-right flip, and average the "
        "outputs turned back; 8x slower. Default: what the checkpoint stores "
        "(`synthlang train --predict-tta`), else off; --no-tta turns it off",
    )
    p.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=None,
        metavar="S",
        help="scale test-time augmentation: also run the network on every tile (and slide "
        "tile) resampled by each factor (0.9: nuclei a tenth smaller) and average the mask "
        "probabilities resampled back; 1 must be among them, each in [0.5, 2], at most 4; "
        "one more pass per factor. Default: what the checkpoint stores (`synthlang train "
        "--predict-scales`), else 1 only; --scales 1 turns it off",
    )
    p.add_argument(
        "--fill-holes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="close cracks up to two pixels wide and fill holes in the predicted regions of "
        "each class (nuclei have none: a pale, vesicular nucleus marked as a ring or in "
        "pieces becomes one region), before --min-area; images and slides. Default: what "
        "the checkpoint stores (`synthlang train --predict-fill-holes`), else off",
    )
    p.add_argument(
        "--whole-nuclei",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="then mark the whole of every nucleus that the mask covers at least in half, "
        "the nuclei found in the input by colour deconvolution and a watershed (H&E only: a "
        "pale nucleus marked only on its chromatin or membrane becomes whole), before "
        "--min-area; images and slides. Default: what the checkpoint stores (`synthlang "
        "train --predict-whole-nuclei`), else off",
    )
    p.add_argument(
        "--neighbour-nuclei",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="then add every nucleus (found as for --whole-nuclei) of mean probability at "
        "least 0.25 that has two marked nuclei within 15 um of its centre (tumour cells grow "
        "in groups), before --min-area; images and slides. Default: what the checkpoint "
        "stores (`synthlang train --predict-neighbour-nuclei`), else off",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to run (default auto: CUDA when present)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads of torch (default: all cores)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="fp32 (default), or bf16 autocast on CPUs with AVX-512-BF16/AMX and on GPUs "
        "(refused elsewhere)",
    )
    slides = p.add_argument_group(
        "pixel size, and whole-slide images (SVS, NDPI, tiled or pyramidal TIFF, OME-TIFF; "
        "docs/slides.md)"
    )
    slides.add_argument(
        "--mpp",
        type=_positive_float,
        default=None,
        metavar="UM",
        help="pixel size of the inputs in micrometres: a slide's level 0 (default: from its "
        "metadata), or images scanned at another scale than the model's (default: taken to "
        "be at the model's), which are resampled onto the model's grid and their outputs "
        "back onto theirs",
    )
    slides.add_argument(
        "--model-mpp",
        type=_positive_float,
        default=None,
        metavar="UM",
        help="pixel size the model was trained at (default: from the checkpoint, else 0.5); "
        "slides and images",
    )
    slides.add_argument(
        "--region",
        type=_region,
        default=None,
        metavar="X,Y,W,H",
        help="predict only this rectangle of the slide (level-0 pixels)",
    )
    slides.add_argument(
        "--workers", type=positive_int, default=1, help="threads reading slide tiles (default 1)"
    )
    slides.add_argument(
        "--label-mask",
        action="store_true",
        help="also write NAME_labels.ome.tif, a pyramidal class mask with the pixel size",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=run)


def _finite_float(value: str, zero_allowed: bool) -> float:
    """A finite number above 0 (or at least 0), else an argparse error naming it."""
    what = "a number >= 0" if zero_allowed else "a positive number"
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None
    if not (x >= 0 if zero_allowed else x > 0) or x == float("inf"):  # NaN fails both
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    return x


def _positive_float(value: str) -> float:
    return _finite_float(value, zero_allowed=False)


def _non_negative_float(value: str) -> float:
    return _finite_float(value, zero_allowed=True)


def _region(value: str) -> tuple[int, int, int, int]:
    parts = value.split(",")
    try:
        x, y, w, h = (int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected X,Y,W,H (four whole numbers, level-0 pixels), got {value!r}"
        ) from None
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"expected X,Y >= 0 and W,H >= 1, got {value!r}")
    return x, y, w, h


def run(args: argparse.Namespace) -> int:
    """Predict every image."""
    from vnet.hardware import configure_threads
    from vnet.instances import MIN_AREA_UM2, MIN_DISTANCE
    from vnet.predict import (
        MAX_MARGIN,
        MAX_MIN_AREA_UM2,
        MAX_MIN_DISTANCE,
        MAX_TILE,
        PredictOptions,
        predict_files,
    )

    if not 8 <= args.tile <= MAX_TILE:
        raise DataError(f"--tile must be between 8 and {MAX_TILE}, got {args.tile}")
    if args.overlap >= args.tile:
        raise DataError(f"--overlap ({args.overlap}) must be smaller than --tile ({args.tile})")
    if args.margin > MAX_MARGIN:
        raise DataError(f"--margin must be at most {MAX_MARGIN}, got {args.margin}")
    min_distance = args.min_distance if args.min_distance is not None else MIN_DISTANCE
    if min_distance > MAX_MIN_DISTANCE:
        raise DataError(f"--min-distance must be at most {MAX_MIN_DISTANCE}, got {min_distance}")
    min_area = args.min_area if args.min_area is not None else MIN_AREA_UM2
    if min_area > MAX_MIN_AREA_UM2:
        raise DataError(f"--min-area must be at most {MAX_MIN_AREA_UM2:g} um2, got {min_area:g}")
    if args.no_normalize and (args.reference is not None or args.normalize is not None):
        given = "--reference" if args.reference is not None else "--normalize"
        raise DataError(f"--no-normalize contradicts {given}; give one of them")
    if args.reference is not None and not args.reference.is_file():
        raise DataError(f"{args.reference}: no such reference image")
    if args.scales is not None:
        args.scales = checked_scales(args.scales, "--scales")
    options = PredictOptions(
        tile=args.tile,
        overlap=args.overlap,
        margin=args.margin,
        threshold=args.threshold,
        device=args.device,
        reference=args.reference,
        normalize="none" if args.no_normalize else (args.normalize or "default"),
        precision=args.precision,
        min_distance=min_distance,
        min_area_um2=min_area,
        geojson=args.geojson,
        tta=args.tta,
        fill_holes=args.fill_holes,
        whole_nuclei=args.whole_nuclei,
        neighbour_nuclei=args.neighbour_nuclei,
        mpp=args.mpp,
        model_mpp=args.model_mpp,
        scales=args.scales,
    )
    configure_threads(args.threads)
    notes: list[str] = []
    from vnet.slide import is_slide

    slides = [p for p in args.images if is_slide(p)]
    images = [p for p in args.images if p not in slides]
    if not slides and (args.region or args.label_mask):
        raise DataError("--region and --label-mask are for whole-slide images")
    for path in slides:
        _predict_slide(args, path, min_area, notes)
    records = (
        predict_files(args.checkpoint, images, args.out, options, notes=notes) if images else []
    )
    if not args.quiet:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        for r in records:
            h, w = r["size"]
            norm = r["normalization"]
            colours = (
                f"colours {norm['method']} to {norm['target']}"
                if norm["target"] is not None
                else "colours as given"
            )
            nuclei = ", ".join(f"{n} {c}" for c, n in r["instances"].items())
            tta = "test-time augmentation (8 passes), " if r["tta"] else ""
            tta += _scales_text(r["scales"])
            tta += "regions filled, " if r["fill_holes"] else ""
            tta += "whole nuclei, " if r["whole_nuclei"] else ""
            tta += "neighbour nuclei, " if r["neighbour_nuclei"] else ""
            if r["resampled"]:
                sizes = r["pixel_size_um"]
                tta += f"resampled {sizes['input']:g} -> {sizes['model']:g} um/px, "
            print(
                f"{r['input']}: {w}x{h}, {colours}, {tta}mask {100 * r['mask_fraction']:.2f}%, "
                f"nuclei: {nuclei} -> {args.out}/{r['name']}_*"
            )
    return 0


def _predict_slide(
    args: argparse.Namespace, path: Path, min_area_um2: float, notes: list[str]
) -> None:
    """Predict one whole-slide image and report what was written."""
    from vnet.slide import predict_slide_file

    if args.reference is not None:
        raise DataError(f"{path}: --reference is for images; a slide is normalised by itself")
    record = predict_slide_file(
        args.checkpoint,
        path,
        args.out,
        mpp=args.mpp,
        model_mpp=args.model_mpp,
        region=args.region,
        workers=args.workers,
        label_mask=args.label_mask,
        min_area_um2=min_area_um2,
        normalize="none" if args.no_normalize else (args.normalize or "default"),
        tta=args.tta,
        fill_holes=args.fill_holes,
        whole_nuclei=args.whole_nuclei,
        neighbour_nuclei=args.neighbour_nuclei,
        scales=args.scales,
        device=args.device,
        precision=args.precision,
        progress=not args.quiet,
        notes=notes,
    )
    if not args.quiet:
        nuclei = ", ".join(f"{n} {c}" for c, n in record["nuclei"].items())
        rate = record["seconds_per_mm2"]
        print(
            f"{path}: slide at {record['slide_mpp']:.3g} um/px, model at "
            f"{record['model_mpp']:.3g} um/px, tissue {record['tissue_mm2']:.2f} mm2, "
            + ("test-time augmentation (8 passes), " if record["tta"] else "")
            + _scales_text(record["scales"])
            + ("regions filled, " if record["fill_holes"] else "")
            + ("whole nuclei, " if record["whole_nuclei"] else "")
            + ("neighbour nuclei, " if record["neighbour_nuclei"] else "")
            + f"nuclei: {nuclei}, {record['seconds']:.1f} s"
            + (f" ({rate:.1f} s/mm2)" if rate is not None else "")
            + f" -> {', '.join(record['files'].values())}"
        )


def _scales_text(scales: list[float]) -> str:
    """``"scales 1, 0.9, "`` for the output line; empty for scale 1 only."""
    return f"scales {', '.join(f'{s:g}' for s in scales)}, " if len(scales) > 1 else ""
