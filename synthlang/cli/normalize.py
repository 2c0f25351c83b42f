"""``synthlang normalize``: Reinhard colour normalisation of images to a reference."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["add_parser", "run", "main"]

_DESCRIPTION = """\
Reinhard colour transfer (Reinhard et al. 2001, as in the paper): every image
is converted to CIE L*a*b*, each channel is shifted and scaled to the mean and
standard deviation of the reference image, and converted back to RGB. The
results are written to OUT/<image name>.png (8-bit RGB). Use it to bring
slides stained in different labs to one colour appearance before `synthlang
fit`, `predict` or `evaluate`.
"""

_EPILOG = """\
examples:
  synthlang normalize slides/*.png --reference slides/ref.png --out normalized/
  synthlang normalize a.tif b.tif --reference mean --out normalized/
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang normalize``."""
    p = subparsers.add_parser(
        "normalize",
        help="Reinhard colour normalisation of images to a reference image",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="RGB images (PNG, TIFF, JPEG)")
    p.add_argument(
        "--reference",
        required=True,
        metavar="REF",
        help="reference image, or 'mean' for the mean L*a*b* statistics of the inputs "
        "(a file named mean: write ./mean)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument(
        "--suffix", default="", help="appended to each output name before .png (default none)"
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        metavar="N",
        help="refuse larger images (default 67,108,864 pixels)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Normalise every image; return 0 (user errors raise SynthlangError)."""
    from synthlang.common.errors import DataError
    from synthlang.common.imageio import DEFAULT_MAX_PIXELS, read_image, write_png
    from synthlang.stats import mean_reinhard_stats, reinhard_normalize, reinhard_stats

    max_pixels = args.max_pixels or DEFAULT_MAX_PIXELS
    if max_pixels < 1:
        raise DataError(f"--max-pixels {args.max_pixels}: must be >= 1")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"--out {out_dir}: exists and is not a folder")
    if any(ch in args.suffix for ch in "/\\"):
        raise DataError(f"--suffix {args.suffix!r}: must not contain a path separator")
    images = [Path(p) for p in args.images]
    targets: dict[Path, Path] = {}
    inputs = {p.resolve() for p in images}
    for img in images:
        target = out_dir / f"{img.stem}{args.suffix}.png"
        if target in targets:
            raise DataError(
                f"{img} and {targets[target]} would both be written to {target}; "
                "normalise them into different folders or rename one"
            )
        if target.resolve() in inputs:
            raise DataError(f"{target}: would overwrite an input image; choose another --out")
        targets[target] = img
    notes: list[str] = []
    if args.reference == "mean":
        ref = mean_reinhard_stats(
            [reinhard_stats(read_image(p, max_pixels=max_pixels, notes=notes)) for p in images]
        )
        ref_name = "the mean statistics of the inputs"
    else:
        ref = reinhard_stats(read_image(args.reference, max_pixels=max_pixels, notes=notes))
        ref_name = str(args.reference)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"--out {out_dir}: cannot create the folder ({exc.strerror})") from None
    for target, img in targets.items():
        write_png(
            target, reinhard_normalize(read_image(img, max_pixels=max_pixels, notes=notes), ref)
        )
        print(f"{img} -> {target}")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"normalised {len(targets)} image(s) to {ref_name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``synthlang normalize`` standalone (``python -m synthlang.cli.normalize``)."""
    from synthlang.cli.main import main as cli_main

    return cli_main(["normalize", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
