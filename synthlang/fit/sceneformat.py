"""Numbers, vectors, covariances and ``mvn(...)`` colours written in scene syntax."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from synthlang.stats import ColorModel

__all__ = ["format_number", "psd_for_writing", "format_vector", "format_matrix", "format_mvn"]


def format_number(x: float) -> str:
    """Format a number with 6 significant digits in scene syntax (no ``-0``, no ``nan``).

    Examples
    --------
    >>> format_number(0.000123456789), format_number(-0.0), format_number(12.0)
    ('0.000123457', '0', '12')
    """
    if not math.isfinite(x):
        raise ValueError(f"cannot write non-finite number {x}")
    s = f"{x:.6g}"
    if s in ("-0", "-0.0"):
        return "0"
    return s


def psd_for_writing(m: np.ndarray) -> np.ndarray:
    """Symmetric, positive semi-definite after 6-digit rounding."""
    a = 0.5 * (np.asarray(m, np.float64) + np.asarray(m, np.float64).T)
    w, v = np.linalg.eigh(a)
    a = (v * np.clip(w, 0, None)) @ v.T
    a = 0.5 * (a + a.T)
    jitter = 0.0
    scale = max(float(np.trace(a)) / 3, 1e-12)
    for _ in range(8):
        b = a + jitter * np.eye(3)
        r = np.array([[float(format_number(float(x))) for x in row] for row in b])
        r = 0.5 * (r + r.T)
        if np.linalg.eigvalsh(r).min() >= 0:
            return b
        jitter = scale * 1e-6 if jitter == 0 else jitter * 10
    return np.diag(np.clip(np.diag(a), 0, None))


def format_vector(v: Sequence[float]) -> str:
    """``[a, b, c]`` with :func:`format_number` entries.

    Examples
    --------
    >>> format_vector([0.5, 1 / 3, -0.0])
    '[0.5, 0.333333, 0]'
    """
    return "[" + ", ".join(format_number(float(x)) for x in v) + "]"


def format_matrix(m: np.ndarray) -> str:
    """A 3 x 3 covariance as ``[[...], [...], [...]]``, made writable as a PSD matrix."""
    m = psd_for_writing(m)
    return "[" + ", ".join(format_vector(row) for row in m) + "]"


def format_mvn(model: ColorModel) -> str:
    """``mvn(mean [...], cov [...], between [...])`` of a colour model (mean clipped to [0, 1])."""
    mean = np.clip(model.mean, 0.0, 1.0)
    cov, between = format_matrix(model.cov), format_matrix(model.between)
    return f"mvn(mean {format_vector(mean)}, cov {cov}, between {between})"
