"""Resource limits of the scene language.

A scene is untrusted input: it may ask for a huge image, millions of
objects or deeply nested expressions. The compiler refuses such scenes with a
:class:`SceneLimitError` that points at the offending number, instead of
running out of memory or time later.

Every limit has a default and can be overridden with an environment variable
named ``SYNTHLANG_`` + the field name in upper case, for example
``SYNTHLANG_MAX_PIXELS=100000000``.

Examples
--------
>>> Limits().max_side
16384
>>> Limits.from_env({"SYNTHLANG_MAX_SIDE": "512"}).max_side
512
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from synthlang.common.errors import ResourceLimitError, SceneError, SynthlangError

__all__ = [
    "Limits",
    "SceneLimitError",
    "ENV_PREFIX",
    "INDEX_BYTES_PER_PATCH",
    "format_bytes",
]

ENV_PREFIX = "SYNTHLANG_"
"""Prefix of the environment variables that override a limit."""


class SceneLimitError(SceneError, ResourceLimitError):
    """A scene asks for more than a configured limit allows.

    It is both a :class:`~synthlang.common.errors.SceneError` (the scene is
    invalid as written) and a :class:`~synthlang.common.errors.ResourceLimitError`
    (the limit can be raised with an environment variable).
    """


@dataclass(frozen=True)
class Limits:
    """Upper bounds the compiler enforces on a scene.

    Parameters
    ----------
    max_side : int
        Largest image side in pixels (rows and cols).
    max_pixels : int
        Largest number of pixels (rows * cols).
    max_count : int
        Largest upper bound of an object count distribution (`place count D`).
    max_layers : int
        Most layers in a scene.
    max_radius : float
        Largest radius-like length in pixels: ellipse semi-axes, metric radii,
        blur sigma, ribbon widths, growth times, speed-field smoothness.
    max_scale : float
        Largest scale factor of a patch shape.
    max_import_depth : int
        Longest chain of imports (a file importing a file importing ...).
    max_nesting : int
        Deepest nesting of brackets, conditions and definitions.
    max_source_bytes : int
        Largest scene file in bytes.
    max_render_bytes : int
        Largest estimated memory of rendering one sample, in bytes (see
        :func:`estimate_render_bytes`); checked by the compiler and again by
        ``render`` before anything image-sized is allocated.
    max_patches : int
        Most items (patch images) in one patch library.
    max_library_pixels : int
        Most pixels of all patch images of one patch library together
        (checked from the PNG headers, before the pixels are decoded).
    max_checkpoint_bytes : int
        Largest network checkpoint (``synthlang predict``, ``train --resume``)
        in bytes, checked before the file is read.
    """

    max_side: int = 16384
    max_pixels: int = 50_000_000
    max_count: int = 100_000
    max_layers: int = 64
    max_radius: float = 10_000.0
    max_scale: float = 100.0
    max_import_depth: int = 32
    max_nesting: int = 64
    max_source_bytes: int = 10_000_000
    max_render_bytes: int = 2 * 1024**3
    max_patches: int = 100_000
    max_library_pixels: int = 16_000_000
    max_checkpoint_bytes: int = 512 * 1024**2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Build limits from defaults overridden by ``SYNTHLANG_MAX_*`` variables.

        Parameters
        ----------
        environ : mapping, optional
            The environment to read (``os.environ`` when omitted).

        Returns
        -------
        Limits
            The limits in force.

        Raises
        ------
        SynthlangError
            If a variable is set to something that is not a positive number.

        Examples
        --------
        >>> Limits.from_env({}).max_layers
        64
        """
        env = os.environ if environ is None else environ
        values: dict[str, int | float] = {}
        for f in dataclasses.fields(cls):
            var = ENV_PREFIX + f.name.upper()
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            is_int = isinstance(f.default, int)
            try:
                value: int | float = int(raw) if is_int else float(raw)
            except ValueError:
                kind = "a positive whole number" if is_int else "a positive number"
                raise SynthlangError(f"{var} must be {kind}, got {raw!r}") from None
            if not (value > 0 and math.isfinite(value)):
                raise SynthlangError(f"{var} must be positive, got {raw!r}")
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]


INDEX_BYTES_PER_PATCH = 1024
"""A patch library's ``index.json`` may have this many bytes per allowed patch (``max_patches``)."""


def format_bytes(n: float) -> str:
    """Format a byte count for messages.

    Examples
    --------
    >>> format_bytes(2 * 1024**3), format_bytes(1536 * 1024), format_bytes(12)
    ('2 GiB', '1.5 MiB', '12 bytes')
    """
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            value = n / size
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{int(n)} bytes"
