"""Subcommands of the ``synthlang`` command line.

Each module exposes ``add_parser(subparsers)``, which registers the
subcommand with its help text and sets ``func=run``, and ``run(args) -> int``.
Modules import heavy dependencies inside ``run`` so that ``synthlang --help``
stays fast.
"""
