"""``synthlang fit``: colour, shape and patch libraries from real annotated images.

Run ``synthlang fit --help`` for the options and ``docs/fit.md`` for a guide.
The module also runs on its own (``python -m synthlang.cli.fit ...``),
with the same arguments as ``synthlang fit``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["add_parser", "run", "command_line", "main"]

_DESCRIPTION = """\
Fit colour, shape and patch statistics of real H&E images and write them as a
scene LIBRARY (a .scene file of `let` definitions to `import`) plus patch
library folders next to it.

Per class it writes `let PREFIX_CLASS = mvn(mean [...], cov [[...]], between [[...]])`
(cov: pooled within-object pixel covariance; between: covariance of the object
mean colours), semi-axis distributions from ellipse fits (PREFIX_CLASS_semi_axes,
_semi_major, _semi_minor), counts and densities as comments, a nucleus cut-out
library `patch("CLASS_nuclei")` and a texture library
`patches("CLASS_texture", cohorts K, size S, overlap O)`; and the background
colour PREFIX_background from the unannotated pixels.

Annotations (exactly one kind, one file per image, in the images' order):
  --labels       instance label images (0 = background), optionally with
                 --class-labels (class label images; the majority class of each
                 instance is used) or --instance-classes (CSV id,class or JSON)
  --npz          NuCLS-style .npz: inst_map + inst_class4 (-1 = unlabelled;
                 codes 0 tumor, 1 stroma, 2 lymphocyte, 3 other)
  --geojson      GeoJSON polygons (QuPath/PUMA: properties.classification.name)
  --points       point CSVs (x,y,class; crchp format): nuclei are segmented as
                 for --auto and take the class of the nearest point within
                 --point-radius; nuclei without a point are left out
  --auto         no annotations: nuclei found by colour deconvolution, Otsu
                 thresholds and a watershed; classes by size/shape/darkness

Shapes from a table: --morphology TABLE.csv[.gz] (PUMA per-nucleus morphology)
replaces the semi-axis lets of every class with rows in it; colours, cut-outs,
textures and counts still come from the images.
"""

_EPILOG = """\
examples:
  # PUMA melanoma, FIT half (rows 0-511), 40x -> 20x
  synthlang fit roi_094.tif --geojson roi_094_nuclei.geojson --crop 0:512,: --scale 0.5 \\
      --pixel-size 0.25 --class-names nuclei_tumor=tumor nuclei_lymphocyte=lymphocyte \\
      --only tumor lymphocyte -o lib/puma/puma.scene
  # instance + class PNGs with a class map
  synthlang fit a.png b.png --labels a_inst.png b_inst.png --class-labels a_cls.png b_cls.png \\
      --classes class_map.json -o lib/he/he.scene
  # PUMA FIT half with the semi-axes of all 205 PUMA regions' nuclei
  synthlang fit roi_094.tif --geojson roi_094_nuclei.geojson --crop 0:512,: --scale 0.5 \
      --pixel-size 0.25 --morphology puma_all205_nuclei_morphology.csv.gz \
      --class-names nuclei_tumor=tumor nuclei_lymphocyte=lymphocyte --only tumor lymphocyte \
      -o lib/puma/puma.scene
  # point annotations (CRCHistoPhenotypes style), 20x at 0.55 um/px
  synthlang fit img001.png img002.png --points img001_points.csv img002_points.csv \
      --pixel-size 0.55 --class-names epithelial=tumor inflammatory=lymphocyte \
      -o lib/crc/crc.scene
  # no annotations
  synthlang fit slide_20x.png --auto -o lib/auto/auto.scene

See docs/fit.md for the library format and the --auto rule.
"""


def _float_arg(low: float, high: float) -> Any:
    def parse(value: str) -> float:
        try:
            x = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not (low <= x <= high):
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], got {value}")
        return x

    return parse


def _int_arg(low: int, high: int) -> Any:
    def parse(value: str) -> int:
        try:
            x = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if not (low <= x <= high):
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}, got {value}")
        return x

    return parse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang fit``."""
    p = subparsers.add_parser(
        "fit",
        help="fit colour/shape statistics and patch libraries from real images",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="RGB images (PNG, TIFF, JPEG)")
    p.add_argument(
        "-o", "--out", required=True, metavar="OUT.scene", help="the library file to write"
    )
    ann = p.add_argument_group("annotations (exactly one kind)")
    ann.add_argument("--labels", nargs="+", metavar="PNG", help="instance label images")
    ann.add_argument("--npz", nargs="+", metavar="NPZ", help="NuCLS-style label files")
    ann.add_argument("--geojson", nargs="+", metavar="GEOJSON", help="polygon annotations")
    ann.add_argument(
        "--points",
        nargs="+",
        metavar="CSV",
        help="point annotations: CSV with header x,y,class (0-based pixel coordinates of "
        "nucleus centres); nuclei are segmented and labelled by the nearest point",
    )
    ann.add_argument("--auto", action="store_true", help="detect nuclei automatically")
    ann.add_argument(
        "--point-radius",
        type=_float_arg(0.01, 100),
        default=4.0,
        metavar="UM",
        help="--points: a nucleus takes the class of the nearest point within this distance "
        "of its centroid, or of a point inside it (default 4 µm, 8 px at 20x)",
    )
    mor = p.add_argument_group("shape statistics from a morphology table")
    mor.add_argument(
        "--morphology",
        metavar="CSV[.gz]",
        help="per-nucleus table with columns class, rect_major_px, rect_minor_px (optionally "
        "roi, cx_px, cy_px), e.g. PUMA's puma_all205_nuclei_morphology.csv.gz: the semi-axis "
        "lets of each class come from its rows (classes renamed by --class-names)",
    )
    mor.add_argument(
        "--morphology-pixel-size",
        type=_float_arg(0.01, 100),
        default=0.25,
        metavar="UM",
        help="µm per pixel of the morphology table (default 0.25: PUMA, 40x)",
    )
    mor.add_argument(
        "--morphology-exclude",
        nargs="+",
        default=[],
        metavar="ROI",
        help="leave out the table rows of these roi values (e.g. evaluation images)",
    )
    cls = p.add_argument_group("classes")
    cls.add_argument(
        "--class-labels", nargs="+", metavar="PNG", help="class label images (with --labels)"
    )
    cls.add_argument(
        "--instance-classes",
        nargs="+",
        metavar="TABLE",
        help="per-instance class tables, CSV with columns id,class or JSON {id: class}",
    )
    cls.add_argument(
        "--classes",
        metavar="JSON",
        help='class code -> name map: {"1": "tumor", ...} or PUMA class_map.json',
    )
    cls.add_argument(
        "--class-names",
        nargs="+",
        default=[],
        metavar="OLD=NEW",
        help="rename classes (OLD is a code or a name); NEW '-' leaves the class out",
    )
    cls.add_argument("--only", nargs="+", metavar="CLASS", help="write only these classes")
    cls.add_argument(
        "--min-objects",
        type=_int_arg(1, 1_000_000),
        default=3,
        metavar="N",
        help="leave out classes with fewer objects (default 3)",
    )
    pre = p.add_argument_group("preprocessing")
    pre.add_argument(
        "--crop",
        metavar="R0:R1,C0:C1",
        help="crop every image (input pixels, before --scale), e.g. 0:512,: for the top half",
    )
    pre.add_argument(
        "--scale",
        type=_float_arg(0.01, 8),
        default=1.0,
        help="rescale after cropping (0.5: 40x -> 20x; labels nearest neighbour)",
    )
    pre.add_argument(
        "--pixel-size",
        type=_float_arg(0.01, 100),
        metavar="UM",
        help="µm per pixel of the input images (default: 0.5 µm/px assumed after --scale)",
    )
    pre.add_argument(
        "--reference",
        metavar="REF",
        help="Reinhard-normalise every image to this image's L*a*b* statistics, "
        "or to the mean statistics of the inputs with 'mean'",
    )
    pre.add_argument(
        "--max-pixels",
        type=_int_arg(1, 2**40),
        default=None,
        metavar="N",
        help="refuse larger images (default 67,108,864 pixels)",
    )
    pre.add_argument(
        "--auto-rule",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override the thresholds of the --auto (and --points) nucleus detector, e.g. "
        "lymphocyte_max_radius_um=3.2 (see docs/fit.md)",
    )
    out = p.add_argument_group("output")
    out.add_argument("--prefix", default="he", help="name prefix of every let (default he)")
    out.add_argument(
        "--texture-size",
        type=_int_arg(3, 256),
        default=8,
        metavar="S",
        help="side of the square texture patches (default 8)",
    )
    out.add_argument(
        "--cohorts",
        type=_int_arg(1, 64),
        default=3,
        metavar="K",
        help="colour cohorts per patch library (default 3)",
    )
    out.add_argument(
        "--max-patches",
        type=_int_arg(1, 100_000),
        default=60,
        metavar="N",
        help="at most N patches per cohort (default 60; Table 1 uses 55 and 60)",
    )
    out.add_argument(
        "--texture-region",
        nargs="+",
        default=[],
        metavar="CLASS=REGION",
        help="where texture patches of a class are sampled: nucleus or cytoplasm "
        "(default: nucleus for immune classes, cytoplasm otherwise)",
    )
    out.add_argument(
        "--cell-margin",
        type=_float_arg(0.1, 100),
        default=6.0,
        metavar="UM",
        help="cytoplasm patches lie within this distance of a nucleus (default 6 µm)",
    )
    out.add_argument(
        "--erode",
        type=_int_arg(0, 10),
        default=1,
        metavar="PX",
        help="colour statistics skip this many boundary pixels of each object (default 1)",
    )
    out.add_argument("--no-patches", action="store_true", help="write no patch libraries")
    out.add_argument("--seed", type=_int_arg(0, 2**63 - 1), default=0, help="random seed")
    out.add_argument("--licence", metavar="TEXT", help="licence of the inputs, for the indexes")
    p.set_defaults(func=run)


_RECORDED: tuple[tuple[str, str], ...] = (
    ("--labels", "labels"),
    ("--class-labels", "class_labels"),
    ("--instance-classes", "instance_classes"),
    ("--npz", "npz"),
    ("--geojson", "geojson"),
    ("--points", "points"),
    ("--auto", "auto"),
    ("--point-radius", "point_radius"),
    ("--morphology", "morphology"),
    ("--morphology-pixel-size", "morphology_pixel_size"),
    ("--morphology-exclude", "morphology_exclude"),
    ("--classes", "classes"),
    ("--class-names", "class_names"),
    ("--only", "only"),
    ("--min-objects", "min_objects"),
    ("--crop", "crop"),
    ("--scale", "scale"),
    ("--pixel-size", "pixel_size"),
    ("--reference", "reference"),
    ("--max-pixels", "max_pixels"),
    ("--auto-rule", "auto_rule"),
    ("--prefix", "prefix"),
    ("--texture-size", "texture_size"),
    ("--cohorts", "cohorts"),
    ("--max-patches", "max_patches"),
    ("--texture-region", "texture_region"),
    ("--cell-margin", "cell_margin"),
    ("--erode", "erode"),
    ("--no-patches", "no_patches"),
    ("--seed", "seed"),
    ("--licence", "licence"),
)

_DEFAULTS: dict[str, Any] = {
    "min_objects": 3,
    "scale": 1.0,
    "prefix": "he",
    "texture_size": 8,
    "cohorts": 3,
    "max_patches": 60,
    "cell_margin": 6.0,
    "erode": 1,
    "seed": 0,
    "point_radius": 4.0,
    "morphology_pixel_size": 0.25,
}


def command_line(args: argparse.Namespace) -> str:
    """Reconstruct the command from parsed arguments (non-default options only).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``synthlang fit`` arguments.

    Returns
    -------
    str
        A shell-quoted ``synthlang fit ...`` line that reproduces ``args``.
    """
    words = ["synthlang", "fit", *[str(x) for x in args.images]]
    for flag, dest in _RECORDED:
        value = getattr(args, dest, None)
        if value is None or value is False or value == [] or _DEFAULTS.get(dest) == value:
            continue
        words.append(flag)
        if value is True:
            continue
        if isinstance(value, list | tuple):
            words.extend(str(v) for v in value)
        elif isinstance(value, float):
            words.append(f"{value:g}")
        else:
            words.append(str(value))
    words += ["-o", str(args.out)]
    return shlex.join(words)


def _auto_rule(items: Sequence[str]) -> Any:
    import dataclasses

    from synthlang.common.errors import DataError
    from synthlang.fit import AutoRule

    fields = {f.name for f in dataclasses.fields(AutoRule)}
    values: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise DataError(
                f"--auto-rule {item!r}: expected KEY=VALUE with KEY one of "
                f"{', '.join(sorted(fields))}"
            )
        try:
            values[key] = float(value)
        except ValueError:
            raise DataError(f"--auto-rule {item!r}: {value!r} is not a number") from None
        if values[key] < 0:
            raise DataError(f"--auto-rule {item!r}: must be >= 0")
    return AutoRule(**values) if values else None


def run(args: argparse.Namespace) -> int:
    """Run ``synthlang fit``; return 0 on success (user errors raise SynthlangError)."""
    from synthlang.common.errors import DataError
    from synthlang.common.imageio import DEFAULT_MAX_PIXELS
    from synthlang.fit import FitOptions, fit_files, parse_class_names, parse_crop

    regions: dict[str, str] = {}
    for item in args.texture_region:
        name, sep, region = item.partition("=")
        if not sep:
            raise DataError(f"--texture-region {item!r}: expected CLASS=nucleus or CLASS=cytoplasm")
        regions[name.strip()] = region.strip()
    options = FitOptions(
        prefix=args.prefix,
        scale=args.scale,
        crop=parse_crop(args.crop) if args.crop else None,
        reference=args.reference,
        texture_size=args.texture_size,
        cohorts=args.cohorts,
        max_patches=args.max_patches,
        min_objects=args.min_objects,
        erode=args.erode,
        seed=args.seed,
        pixel_size_um=args.pixel_size,
        class_names=parse_class_names(args.class_names),
        only=tuple(args.only) if args.only else None,
        texture_regions=regions,
        cell_margin_um=args.cell_margin,
        auto_rule=_auto_rule(args.auto_rule),
        patches=not args.no_patches,
        max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS,
        licence=args.licence,
        morphology=args.morphology,
        morphology_pixel_size_um=args.morphology_pixel_size,
        morphology_exclude=tuple(args.morphology_exclude),
        point_radius_um=args.point_radius,
        command=command_line(args),
    )
    result = fit_files(
        args.images,
        args.out,
        options,
        labels=args.labels,
        class_labels=args.class_labels,
        instance_classes=args.instance_classes,
        classes_json=args.classes,
        npz=args.npz,
        geojson=args.geojson,
        points=args.points,
        auto=args.auto,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {args.out}")
    for cf in result.classes:
        parts = [f"{cf.n_objects} objects"]
        for lib in (cf.nuclei, cf.texture):
            if lib is not None:
                counts = "/".join(
                    str(sum(1 for q in lib.patches if q.cohort == j)) for j in range(lib.cohorts)
                )
                parts.append(f"{lib.folder}/ ({counts})")
        print(f"  {options.prefix}_{cf.name}: " + ", ".join(parts))
    for name, n in sorted(result.skipped.items()):
        print(f"  skipped {name}: {n} object(s) < --min-objects {options.min_objects}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``synthlang fit`` standalone (``python -m synthlang.cli.fit``)."""
    from synthlang.cli.main import main as cli_main

    return cli_main(["fit", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
