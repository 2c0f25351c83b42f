"""Drawing values from IR distributions with an explicit ``numpy.random.Generator``.

No function here touches global random state. Every draw takes the
generator as an argument, so a sample depends only on the seed it was
given.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

from synthlang.ir import Choice, Constant, Distribution, Normal, RandInt, TruncNormal, Uniform
from synthlang.ir.values import support

__all__ = ["draw", "draw_array", "support", "sample_seed"]


def draw_array(dist: Distribution, rng: np.random.Generator, size: int) -> np.ndarray:
    """Draw ``size`` independent values from ``dist`` as float64.

    Parameters
    ----------
    dist : Distribution
        An IR distribution.
    rng : numpy.random.Generator
        The source of randomness.
    size : int
        Number of values.

    Returns
    -------
    numpy.ndarray
        Shape ``(size,)``, dtype float64.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> draw_array(Uniform(low=2, high=3), rng, 4).shape
    (4,)
    """
    if isinstance(dist, Constant):
        return np.full(size, dist.value, dtype=np.float64)
    if isinstance(dist, Uniform):
        return rng.uniform(dist.low, dist.high, size)
    if isinstance(dist, RandInt):
        return rng.integers(dist.low, dist.high, size, endpoint=True).astype(np.float64)
    if isinstance(dist, Normal):
        return rng.normal(dist.mean, dist.std, size)
    if isinstance(dist, TruncNormal):
        a = ndtr((dist.low - dist.mean) / dist.std)
        b = ndtr((dist.high - dist.mean) / dist.std)
        u = rng.uniform(a, b, size)
        x = dist.mean + dist.std * ndtri(u)
        return np.clip(x, dist.low, dist.high)
    if isinstance(dist, Choice):
        idx = rng.choice(len(dist.values), size=size, p=np.asarray(dist.weights, dtype=np.float64))
        return np.asarray(dist.values, dtype=np.float64)[idx]
    raise TypeError(f"not a distribution: {dist!r}")


def draw(dist: Distribution, rng: np.random.Generator) -> float:
    """Draw one value from ``dist``.

    Examples
    --------
    >>> draw(Constant(value=4.0), np.random.default_rng(1))
    4.0
    """
    return float(draw_array(dist, rng, 1)[0])


def sample_seed(seed: int, index: int) -> np.random.SeedSequence:
    """Return the seed sequence of sample ``index`` of a dataset rendered with ``seed``.

    Sample ``i`` depends only on ``(seed, i)``, never on worker count or
    shard, because its seed sequence is built from those two numbers alone.

    Examples
    --------
    >>> a = np.random.default_rng(sample_seed(1, 5)).random()
    >>> b = np.random.default_rng(sample_seed(1, 5)).random()
    >>> a == b
    True
    """
    if seed < 0 or index < 0:
        raise ValueError("seed and index must be non-negative")
    return np.random.SeedSequence([seed, index])
