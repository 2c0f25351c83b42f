"""``synthlang check``: parse and validate scene files."""

from __future__ import annotations

import argparse
import sys

from synthlang.cli._common import add_lib_option, existing_file

__all__ = ["add_parser", "run", "describe"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang check``."""
    p = subparsers.add_parser(
        "check",
        help="parse and validate scene files",
        description=(
            "Parse and validate scene files. Errors are reported as file:line:col with the "
            "source line and a caret; the exit status is 2 if any file is invalid."
        ),
    )
    p.add_argument("scenes", nargs="+", type=existing_file, metavar="SCENE", help=".scene files")
    p.add_argument(
        "--ir", action="store_true", help="print the compiled scene (IR) as JSON on stdout"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when a file is valid")
    add_lib_option(p)
    p.set_defaults(func=run)


def describe(scene: object) -> str:
    """One-line summary of a compiled scene."""
    from synthlang.common.limits import format_bytes
    from synthlang.ir import Scene
    from synthlang.ir.budget import estimate_render_bytes

    assert isinstance(scene, Scene)
    rows, cols = scene.size
    regions = ""
    if scene.regions is not None:
        regions = f", regions {scene.regions.kind}({scene.regions.count})"
    if scene.channels is not None or scene.bits is not None:
        from synthlang.common.channels import describe_channels

        regions += f", {describe_channels(scene.channel_names())}, {scene.bit_depth} bit"
    rules = len(scene.mask_rules())
    masks = f"{rules} mask rule{'s' if rules != 1 else ''}"
    if scene.classes is not None:
        names = scene.class_names()
        masks = f"{len(names)} mask classes ({', '.join(names)}) from {masks}"
    return (
        f"scene {scene.name}, {rows} x {cols}{regions}, {len(scene.layers)} layers "
        f"({', '.join(scene.categories)}), {masks}, "
        f"memory estimate {format_bytes(estimate_render_bytes(scene).total)} per sample"
    )


def run(args: argparse.Namespace) -> int:
    """Compile every scene; print a summary or the first error of each file."""
    from synthlang.common.errors import SynthlangError
    from synthlang.lang.compile import compile_file

    status = 0
    for path in args.scenes:
        try:
            scene = compile_file(path, search_path=args.lib)
        except SynthlangError as exc:
            print(str(exc), file=sys.stderr)
            status = 2
            continue
        if args.ir:
            print(scene.model_dump_json(indent=2))
        elif not args.quiet:
            print(f"{path}: ok ({describe(scene)})")
    return status
