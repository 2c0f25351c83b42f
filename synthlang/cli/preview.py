"""``synthlang preview``: one sample with all its layers, like the paper's Fig. 2."""

from __future__ import annotations

import argparse
from pathlib import Path

from synthlang.cli._common import add_lib_option, existing_file, non_negative_int, output_path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang preview``."""
    p = subparsers.add_parser(
        "preview",
        help="draw every layer, the noisy image, the clean image and the mask of one sample",
        description=(
            "Render one sample and draw a sheet like the paper's Fig. 2: every layer "
            "(alpha as a checkerboard), the noisy image, the ground-truth image and mask."
        ),
    )
    p.add_argument("scene", type=existing_file, metavar="SCENE", help="the .scene file")
    p.add_argument("-o", "--out", type=Path, required=True, help="output PNG")
    p.add_argument("--seed", type=non_negative_int, default=0, help="sample seed (default 0)")
    p.add_argument("--index", type=non_negative_int, default=0, help="sample index (default 0)")
    p.add_argument("--columns", type=int, default=5, help="pictures per row (default 5)")
    add_lib_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render sample ``(seed, index)`` with its layers and write the sheet."""
    import warnings

    from synthlang.engine.preview import preview_sheet
    from synthlang.engine.render import render
    from synthlang.engine.sampling import sample_seed
    from synthlang.lang.compile import compile_file

    scene = compile_file(args.scene, search_path=args.lib)
    out = output_path(args.out, "the preview")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sample = render(scene, seed=sample_seed(args.seed, args.index), keep_layers=True)
    for w in caught:
        print(f"warning: {w.message}")
    preview_sheet(sample, out, columns=args.columns)
    print(f"{out}: preview of {scene.name} (seed {args.seed}, sample {args.index})")
    return 0
