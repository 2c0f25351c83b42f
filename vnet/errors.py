"""The errors of :mod:`vnet` (besides the shared :mod:`synthlang.common.errors`).

Both derive from :class:`~synthlang.common.errors.SynthlangError`, so ``synthlang train``
prints their one-line message and exits with status 2 instead of a traceback.
"""

from __future__ import annotations

from synthlang.common.errors import SynthlangError

__all__ = ["ConfigError", "TrainingError"]


class ConfigError(SynthlangError, ValueError):
    """A configuration value is outside what its field allows (one line naming the field)."""


class TrainingError(SynthlangError):
    """Training cannot go on (diverged to NaN/inf, or the device is unavailable)."""
