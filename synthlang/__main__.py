"""``python -m synthlang`` runs the command-line interface."""

import sys

from synthlang.cli.main import main

sys.exit(main())
