"""The ``synthlang`` command.

Every subcommand lives in :mod:`synthlang.cli` as a module with
``add_parser(subparsers)`` and ``run(args) -> int``. User mistakes raise
:class:`~synthlang.common.errors.SynthlangError`; this entry point prints the message
(file:line:col, source line, caret) and exits with status 2, never with a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence

from synthlang.common.errors import SynthlangError
from synthlang.common.version import __version__

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS: tuple[str, ...] = (
    "check",
    "blocks",
    "render",
    "preview",
    "fit",
    "normalize",
    "train",
    "predict",
    "evaluate",
)
"""Subcommand modules of :mod:`synthlang.cli`, in the order ``--help`` lists them."""

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors end with exit status 2 and one message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = _ArgumentParser(
        prog="synthlang",
        description=(
            "Write a .scene file that describes the tissue, render unlimited training "
            "images with exact ground truth, and train a coupled variational network."
        ),
    )
    parser.add_argument("--version", action="version", version=f"synthlang {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_ArgumentParser)
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"synthlang.cli.{name}")
        module.add_parser(sub)
    return parser


def _looks_like_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def unknown_option(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[argparse.ArgumentParser, str] | None:
    """The subcommand and the error for the first option it does not know, or None.

    argparse would first complain about a missing required option (``--num 5`` for
    ``--n 5`` says "required: --n"); this names the unknown one, with a suggestion.
    """
    from synthlang.lang.grammar import did_you_mean

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for i, token in enumerate(argv):
        if token in sub.choices:
            command, rest = sub.choices[token], list(argv)[i + 1 :]
            break
        if not token.startswith("-"):
            return None
    else:
        return None
    known = {s for action in command._actions for s in action.option_strings}
    for token in rest:
        if token == "--":
            break
        if not token.startswith("-") or token == "-" or _looks_like_number(token):
            continue
        option = token.split("=", 1)[0]
        prefixed = [k for k in known if option.startswith("--") and k.startswith(option)]
        if option in known or len(prefixed) == 1:
            continue
        guess = did_you_mean(option, known)
        return command, f"unknown option {option}" + (f"; did you mean {guess}?" if guess else "")
    return None


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``synthlang`` command; return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for user errors, 130 when interrupted.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    problem = unknown_option(parser, argv)
    if problem is not None:
        command, message = problem
        command.error(message)
    args = parser.parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not in the main thread
        previous = None
    try:
        return int(args.func(args) or 0)
    except SynthlangError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("synthlang: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
