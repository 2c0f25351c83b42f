"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from synthlang.common.errors import DataError

__all__ = ["existing_file", "shard_arg"]


def existing_file(value: str) -> Path:
    """Argparse type: a path that must name an existing file."""
    path = Path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: is a directory, a file is needed")
    return path


def shard_arg(value: str) -> tuple[int, int]:
    """Argparse type: ``K/N`` with ``1 <= K <= N``."""
    try:
        k_text, n_text = value.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a shard: use K/N, e.g. 3/8 for the third of eight"
        ) from None
    if n < 1 or not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"shard {value} is invalid: use K/N with 1 <= K <= N")
    return (k, n)


def checked_scales(values: Sequence[float], option: str) -> tuple[float, ...]:
    """Factors of scale test-time augmentation (:func:`vnet.tta.check_scales`) for ``option``.

    Raises
    ------
    DataError
        A refusal of :func:`vnet.tta.check_scales`, naming ``option``.
    """
    from vnet.tta import check_scales

    try:
        return check_scales(values)
    except ValueError as exc:
        raise DataError(f"{option}: {exc}") from None


def positive_int(value: str) -> int:
    """Argparse type: an integer >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None


def fraction(value: str) -> float:
    """Argparse type: a number in [0, 1]."""
    x = _number(value)
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {x}")
    return x


def positive_fraction(value: str) -> float:
    """Argparse type: a number in (0, 1]."""
    x = _number(value)
    if not 0.0 < x <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {x}")
    return x


def non_negative_int(value: str) -> int:
    """Argparse type: an integer >= 0."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be non-negative, got {number}")
    return number


def output_path(path: Path, what: str) -> Path:
    """Check that the parent folder of an output file exists (or can be made)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder for {what} {path}: {exc.strerror}") from None
    return path


def add_lib_option(parser: argparse.ArgumentParser) -> None:
    """``--lib DIR`` (repeatable): folders searched for imports (after SYNTHLANG_PATH's order)."""
    parser.add_argument(
        "--lib",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="folder searched for imported scene files after the scene's own folder "
        '(repeatable; also SYNTHLANG_PATH); shipped libraries: import "synthlang:NAME"',
    )
