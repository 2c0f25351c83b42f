"""Resampling of images and label maps to another number of rows and columns.

Shared by ``synthlang fit --scale`` (annotated images to the working scale) and
``synthlang predict --mpp`` (inputs onto the model's grid and outputs back): images and
probabilities bilinearly, smoothed first along the axes that shrink; label maps (classes,
instance ids) by nearest neighbour. scikit-image is imported only when resampling.
"""

from __future__ import annotations

import numpy as np

__all__ = ["resample", "scaled_shape"]


def scaled_shape(shape: tuple[int, ...], factor: float) -> tuple[int, int]:
    """Rows and columns of an image of ``shape`` resampled by ``factor`` (at least 1 each).

    Examples
    --------
    >>> scaled_shape((101, 50, 3), 0.5)
    (50, 25)
    """
    return max(1, round(shape[0] * factor)), max(1, round(shape[1] * factor))


def resample(array: np.ndarray, shape: tuple[int, int], *, labels: bool = False) -> np.ndarray:
    """``array`` (``(H, W)`` or ``(H, W, C)``) resampled to ``shape`` rows and columns.

    Parameters
    ----------
    array : numpy.ndarray
        An image or probabilities in ``[0, 1]``, or a class map or instance ids (integers).
    shape : tuple of int
        The rows and columns to resample to.
    labels : bool
        Nearest neighbour, keeping the dtype (class maps, instance ids); else bilinear,
        smoothed first when shrinking, clipped to ``[0, 1]``, as float32.

    Returns
    -------
    numpy.ndarray
        The resampled array, with ``array``'s channels.

    Examples
    --------
    >>> resample(np.array([[1, 2], [3, 4]], np.uint8), (4, 4), labels=True)[:, 0]
    array([1, 1, 3, 3], dtype=uint8)
    """
    from skimage.transform import resize

    out_shape = tuple(shape) + tuple(array.shape[2:])
    if labels:
        out = resize(array, out_shape, order=0, anti_aliasing=False, preserve_range=True)
        return np.rint(out).astype(array.dtype)
    shrink = shape[0] < array.shape[0] or shape[1] < array.shape[1]
    out = resize(array, out_shape, order=1, anti_aliasing=shrink, preserve_range=True)
    return np.clip(out, 0, 1).astype(np.float32)
