"""``synthlang render``: render a dataset folder from a scene."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from synthlang.cli._common import existing_file, non_negative_int, positive_int, shard_arg

__all__ = ["add_parser", "run", "format_list"]


def format_list(value: str) -> tuple[str, ...]:
    """Argparse type: a comma-separated list of export formats (``coco,geojson``)."""
    from synthlang.data.formats import parse_formats

    try:
        return parse_formats(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang render``."""
    p = subparsers.add_parser(
        "render",
        help="render N samples (noisy and clean images, mask, class labels, instances) to a folder",
        description=(
            "Render N samples of a scene into a dataset folder (format: docs/dataset.md). "
            "Sample i depends only on (scene, seed, i): the files are byte-identical for any "
            "--workers, any --shard and any --executor. An interrupted render (Ctrl-C, "
            "SIGTERM, SIGKILL, full disk) leaves complete samples and no manifest.json; "
            "--resume finishes it."
        ),
    )
    p.add_argument("scene", type=existing_file, metavar="SCENE", help="the .scene file")
    p.add_argument("--n", type=positive_int, required=True, help="number of samples")
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: data/SCENE_NAME)"
    )
    p.add_argument("--seed", type=non_negative_int, default=0, help="dataset seed (default 0)")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="worker processes of --executor local (default: the number of CPU cores)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where samples are rendered: local processes (default) or an existing Dask "
        'cluster (needs --scheduler; install with: pip install "synthlang[dask]")',
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://host:8786) or scheduler file, for --executor dask",
    )
    p.add_argument(
        "--shard",
        type=shard_arg,
        default=None,
        metavar="K/N",
        help="render only every N-th sample starting at K (1-based), e.g. for job arrays",
    )
    p.add_argument(
        "--format",
        dest="formats",
        type=format_list,
        default=(),
        metavar="LIST",
        help="also write these export formats, comma-separated: coco (annotations/coco.json), "
        "geojson (geojson/NAME.geojson, for QuPath), hovernet (hovernet/NAME.npy); written "
        "from the stored samples by the run that completes the dataset (with --resume also "
        "when it is complete already)",
    )
    p.add_argument(
        "--bit-depth",
        type=int,
        choices=(8, 16),
        default=None,
        help="bits per channel of the noisy and clean images: 8 or 16 (16-bit PNG, or TIFF "
        "for a scene that is not RGB); default the scene's `bits` (8 unless it says 16). "
        "Part of the scene hash: repeat it with --resume",
    )
    p.add_argument("--resume", action="store_true", help="finish an interrupted render")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compile the scene and render the dataset."""
    from tqdm import tqdm

    from synthlang.data.dataset import render_dataset
    from synthlang.data.executors import executor_for
    from synthlang.lang.compile import compile_file

    k, m = args.shard or (1, 1)
    total = len(range(k - 1, args.n, m))
    workers = args.workers
    if args.executor == "local" and workers is None:
        workers = max(1, min(os.cpu_count() or 1, total))
    executor = executor_for(args.executor, workers=workers, scheduler=args.scheduler)
    scene = compile_file(args.scene)
    if args.bit_depth is not None:  # as if the header said `bits N`
        scene = scene.model_copy(update={"bits": 16 if args.bit_depth == 16 else None})
    out = args.out if args.out is not None else Path("data") / scene.name
    bar = tqdm(
        total=total,
        unit="img",
        desc=f"render {scene.name}",
        disable=True if args.quiet else None,
        file=sys.stderr,
    )
    try:
        report = render_dataset(
            scene,
            args.n,
            out,
            seed=args.seed,
            shard=args.shard,
            executor=executor,
            resume=args.resume,
            scene_file=str(args.scene),
            progress=bar.update,
            formats=args.formats,
        )
    except KeyboardInterrupt:
        bar.close()
        shard = f" --shard {k}/{m}" if args.shard else ""
        if args.bit_depth is not None:
            shard += f" --bit-depth {args.bit_depth}"
        if args.formats and (out / "manifest.json").is_file():
            print(
                f"synthlang: interrupted while writing the exports; {out} is complete, the "
                f"exports are not. Write them with: synthlang render {args.scene} --n {args.n} "
                f"--out {out} --seed {args.seed} --resume --format {','.join(args.formats)}",
                file=sys.stderr,
            )
            return 130
        print(
            f"synthlang: interrupted; {out} is incomplete (no manifest.json); the samples "
            f"written so far are complete. Finish it with: synthlang render {args.scene} "
            f"--n {args.n} --out {out} --seed {args.seed}{shard} --resume",
            file=sys.stderr,
        )
        return 130
    bar.close()
    if report.shortfall_samples:
        layers = ", ".join(f"{name!r} in {c}" for name, c in sorted(report.shortfalls.items()))
        noun = "sample" if report.shortfall_samples == 1 else "samples"
        print(
            f"warning: {report.shortfall_samples} {noun} placed fewer objects than asked "
            f"({layers}); see the shortfalls in {out}/manifest.json",
            file=sys.stderr,
        )
    for warning in report.warnings:
        # loud on purpose: stdout and stderr (and the manifest's "warnings")
        print(f"WARNING: {warning}")
        print(f"WARNING: {warning}", file=sys.stderr)
    if not args.quiet:
        state = "complete" if report.complete else "this shard done; dataset not complete yet"
        print(
            f"{out}: {report.rendered} rendered, {report.skipped} already there, "
            f"{args.n} in the dataset ({state})"
        )
        if report.exported:
            print(f"{out}: wrote {', '.join(report.exported)}")
        elif args.formats and not report.complete:
            print(
                f"{out}: {', '.join(args.formats)} will be written by the run that completes "
                "the dataset (or rerun with --resume once it is complete)"
            )
    return 0
