"""Test-time augmentation: means of a network's outputs over transformed copies of its input.

Symmetries: every input is turned by 0, 90, 180 and 270 degrees, each with and without a
left-right flip (:data:`DIHEDRAL`); the network runs on each, its outputs are turned back and
averaged (:func:`dihedral_mean`). Scales: the input is also resampled by each of a few factors
(``scales``, e.g. ``(1.0, 0.9)``: nuclei a tenth smaller), the network runs on each copy, and
its outputs, resampled back, are averaged (:func:`scale_mean`). Image prediction
(:func:`vnet.predict.predict_array`) and whole-slide tiles (:func:`vnet.slide.tile_predictor`)
use them when asked (``--tta``, ``--scales``, or the checkpoint's stored defaults).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from synthlang.common.resample import resample, scaled_shape

__all__ = [
    "DIHEDRAL",
    "MAX_SCALES",
    "SCALE_RANGE",
    "check_scales",
    "dihedral",
    "dihedral_mean",
    "scale_mean",
    "undo_dihedral",
]

DIHEDRAL = tuple((k, flip) for k in range(4) for flip in (False, True))
"""The 8 transforms of test-time augmentation: ``k`` quarter turns, then a left-right flip."""

SCALE_RANGE = (0.5, 2.0)
"""Least and largest factor of scale test-time augmentation (:func:`check_scales`)."""

MAX_SCALES = 4
"""Most scales of scale test-time augmentation, 1 included."""


def dihedral(a: np.ndarray, k: int, flip: bool, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Turn ``a`` by ``k`` quarter turns in the plane of ``axes``, then optionally mirror it.

    Parameters
    ----------
    a : numpy.ndarray
        An image, ``(h, w, C)`` with the default ``axes``.
    k : int
        Quarter turns (:func:`numpy.rot90`: counter-clockwise from ``axes[0]`` to ``axes[1]``).
    flip : bool
        Mirror along ``axes[1]`` (left-right) after the turn.
    axes : (int, int)
        The row and column axes.

    Returns
    -------
    numpy.ndarray
        A view of ``a``; rows and columns swap places for odd ``k``.

    Examples
    --------
    >>> a = np.arange(6).reshape(2, 3)
    >>> dihedral(a, 1, True).tolist()
    [[5, 2], [4, 1], [3, 0]]
    >>> bool((undo_dihedral(dihedral(a, 3, True), 3, True) == a).all())
    True
    """
    out = np.rot90(a, k, axes=axes)
    return np.flip(out, axis=axes[1]) if flip else out


def undo_dihedral(a: np.ndarray, k: int, flip: bool, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """The inverse of :func:`dihedral` with the same ``k``, ``flip`` and ``axes``.

    Parameters
    ----------
    a : numpy.ndarray
        An output of the network on a transformed input (the same layout).
    k : int
        Quarter turns the input was given.
    flip : bool
        Whether the input was mirrored after the turn.
    axes : (int, int)
        The row and column axes.

    Returns
    -------
    numpy.ndarray
        A view of ``a`` in the untransformed input's orientation.
    """
    out = np.flip(a, axis=axes[1]) if flip else a
    return np.rot90(out, -k, axes=axes)


def dihedral_mean(
    fn: Callable[[np.ndarray], Sequence[np.ndarray]],
    x: np.ndarray,
    in_axes: tuple[int, int] = (0, 1),
    out_axes: tuple[int, int] = (0, 1),
) -> tuple[np.ndarray, ...]:
    """The mean of ``fn``'s outputs over the 8 transforms of ``x``, each turned back.

    Parameters
    ----------
    fn : callable
        Maps a transformed ``x`` to a sequence of arrays whose ``out_axes`` are the rows and
        columns of the (transformed) input, e.g. a network's ``(u, m)``.
    x : numpy.ndarray
        The input; ``in_axes`` are its rows and columns.
    in_axes, out_axes : (int, int)
        Row and column axes of the input and of every output.

    Returns
    -------
    tuple of numpy.ndarray
        One float32 mean per output of ``fn`` (float64 sums), in ``x``'s orientation.

    Examples
    --------
    >>> x = np.arange(6.0).reshape(2, 3)
    >>> (mean,) = dihedral_mean(lambda t: (t * 2,), x)
    >>> bool(np.allclose(mean, 2 * x))
    True
    >>> (cols,) = dihedral_mean(lambda t: (np.indices(t.shape)[1].astype(float),), x)
    >>> cols.tolist()  # the column index, averaged over the 8 views
    [[0.75, 0.75, 0.75], [0.75, 0.75, 0.75]]
    """
    sums: list[np.ndarray] | None = None
    for k, flip in DIHEDRAL:
        outs = fn(dihedral(x, k, flip, in_axes))
        back = [undo_dihedral(np.asarray(o), k, flip, out_axes) for o in outs]
        if sums is None:
            sums = [b.astype(np.float64) for b in back]
        else:
            for total, b in zip(sums, back, strict=True):
                total += b
    assert sums is not None
    return tuple((total / len(DIHEDRAL)).astype(np.float32) for total in sums)


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """``scales`` as a tuple of floats, checked for :func:`scale_mean`.

    Parameters
    ----------
    scales : sequence of float
        Factors the input is resampled by (``0.9``: a tenth fewer rows and columns, so
        objects look a tenth smaller); 1 (the input as given) must be among them.

    Returns
    -------
    tuple of float
        The factors in the given order.

    Raises
    ------
    ValueError
        No 1 among them, a repeated factor, one outside :data:`SCALE_RANGE`, or more than
        :data:`MAX_SCALES`.

    Examples
    --------
    >>> check_scales([1, 0.9])
    (1.0, 0.9)
    """
    out = tuple(float(s) for s in scales)
    low, high = SCALE_RANGE
    bad = [s for s in out if not (math.isfinite(s) and low <= s <= high)]
    if bad:
        raise ValueError(f"scale {bad[0]:g} is outside [{low:g}, {high:g}]")
    if 1.0 not in out:
        raise ValueError("the scales must include 1 (the input as given)")
    if len(set(out)) != len(out):
        raise ValueError(f"a scale is repeated in {', '.join(f'{s:g}' for s in out)}")
    if len(out) > MAX_SCALES:
        raise ValueError(f"at most {MAX_SCALES} scales, got {len(out)}")
    return out


def scale_mean(
    fn: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    scales: Sequence[float],
    in_axes: tuple[int, int] = (0, 1),
    out_axes: tuple[int, int] = (0, 1),
    given: np.ndarray | None = None,
) -> np.ndarray:
    """The mean of ``fn``'s output over ``x`` resampled by each of ``scales``, resampled back.

    Each copy is resampled bilinearly (smoothed first when it shrinks,
    :func:`synthlang.common.resample.resample`), as is each output back onto ``x``'s rows
    and columns. Inputs and outputs must lie in ``[0, 1]`` (images, probabilities).

    Parameters
    ----------
    fn : callable
        Maps a resampled ``x`` to one array whose ``out_axes`` are the rows and columns of
        its input, e.g. a network's mask probabilities.
    x : numpy.ndarray
        The input; ``in_axes`` are its rows and columns.
    scales : sequence of float
        The factors (:func:`check_scales`); 1 is ``x`` itself.
    in_axes, out_axes : (int, int)
        Row and column axes of the input and of the output.
    given : numpy.ndarray, optional
        ``fn(x)`` when already computed (used for the scale 1 instead of running ``fn``).

    Returns
    -------
    numpy.ndarray
        The float32 mean (float64 sum), on ``x``'s rows and columns.

    Examples
    --------
    >>> x = np.linspace(0, 1, 40).reshape(5, 8)
    >>> bool(np.allclose(scale_mean(lambda t: t, x, (1.0,)), x))
    True
    >>> scale_mean(lambda t: np.full(t.shape, t.shape[0] / 10), x, (1.0, 0.6)).tolist()[0][:2]
    [0.4000000059604645, 0.4000000059604645]
    """
    total: np.ndarray | None = None
    rows, cols = x.shape[in_axes[0]], x.shape[in_axes[1]]
    for s in check_scales(scales):
        if s == 1.0:
            out = np.asarray(fn(x) if given is None else given, dtype=np.float64)
        else:
            shape = scaled_shape((rows, cols), s)
            small = fn(_resampled(x, shape, in_axes))
            out = _resampled(np.asarray(small), (rows, cols), out_axes).astype(np.float64)
        total = out if total is None else total + out
    assert total is not None
    return (total / len(scales)).astype(np.float32)


def _resampled(a: np.ndarray, shape: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    """``a`` with its ``axes`` (rows, columns) resampled to ``shape``, other axes kept."""
    front = np.moveaxis(a, axes, (0, 1))
    flat = front.reshape(*front.shape[:2], -1)
    out = resample(flat, shape).reshape(*shape, *front.shape[2:])
    return np.moveaxis(out, (0, 1), axes)
