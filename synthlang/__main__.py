"""``python -m synthlang`` runs the command-line interface."""

import sys

from synthlang.cli import main

sys.exit(main())
