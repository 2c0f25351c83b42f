"""``synthlang blocks``: the reference of the language's building blocks.

Printed from the declarations on the IR models (:mod:`synthlang.lang.blocks`), so it
always matches what the compiler accepts, including blocks added to the language.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang blocks``."""
    p = subparsers.add_parser(
        "blocks",
        help="print the reference of the building blocks (arguments, defaults, checks)",
        description=(
            "Print the reference of the language's building blocks as Markdown: usage, what "
            "each block makes, and its arguments with type, default and allowed values."
        ),
    )
    p.add_argument(
        "names", nargs="*", metavar="NAME", help="blocks to describe (default: all of them)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the reference of the named blocks (all when none is named)."""
    from synthlang.common.errors import SynthlangError
    from synthlang.lang.blocks import SIGNATURES, reference
    from synthlang.lang.grammar import did_you_mean

    for name in args.names:
        if name not in SIGNATURES:
            guess = did_you_mean(name, SIGNATURES)
            raise SynthlangError(
                f"`{name}` is not a building block"
                + (f"; did you mean `{guess}`?" if guess else ""),
                hint="`synthlang blocks` lists them all",
            )
    sys.stdout.write(reference(args.names or None))
    return 0
