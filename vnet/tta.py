"""Test-time augmentation: the mean of a network's outputs over the 8 symmetries of the square.

Every input is turned by 0, 90, 180 and 270 degrees, each with and without a left-right flip
(:data:`DIHEDRAL`); the network runs on each, its outputs are turned back and averaged
(:func:`dihedral_mean`). Image prediction (:func:`vnet.predict.predict_array`) and whole-slide
tiles (:func:`vnet.slide.tile_predictor`) use it when asked (``--tta``, or the checkpoint's
stored default).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["DIHEDRAL", "dihedral", "undo_dihedral", "dihedral_mean"]

DIHEDRAL = tuple((k, flip) for k in range(4) for flip in (False, True))
"""The 8 transforms of test-time augmentation: ``k`` quarter turns, then a left-right flip."""


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
