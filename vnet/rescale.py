"""Images at another pixel size than the model's: onto the model's grid and back.

``synthlang predict --mpp`` runs a network trained at, say, 0.5 um/px (20x) on images
scanned at another pixel size: the input is resampled onto the model's grid
(:func:`synthlang.common.resample.resample`), predicted there, and every output is
resampled back onto the input's grid (:func:`to_grid`): images and probabilities
bilinearly, class maps and instance ids by nearest neighbour.
"""

from __future__ import annotations

import math

import numpy as np

from synthlang.common.resample import resample

#: largest ratio of the input's and the model's pixel sizes either way
MAX_SCALE = 8.0


def scale_factor(input_mpp: float, model_mpp: float) -> float:
    """Factor from the input's grid to the model's (``input_mpp / model_mpp``).

    Parameters
    ----------
    input_mpp, model_mpp : float
        Pixel sizes in micrometres (positive).

    Returns
    -------
    float
        1.0 when the two agree to within one part in a million.

    Raises
    ------
    ValueError
        A pixel size that is not positive, or a ratio beyond :data:`MAX_SCALE`.

    Examples
    --------
    >>> scale_factor(0.25, 0.5), scale_factor(0.5, 0.5)
    (0.5, 1.0)
    """
    for name, v in (("input", input_mpp), ("model", model_mpp)):
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"the {name} pixel size must be positive, got {v}")
    factor = input_mpp / model_mpp
    if not 1.0 / MAX_SCALE <= factor <= MAX_SCALE:
        raise ValueError(
            f"the input's pixel size ({input_mpp:g} um) and the model's ({model_mpp:g} um) "
            f"differ by more than {MAX_SCALE:g} times (allowed: {model_mpp / MAX_SCALE:g} to "
            f"{model_mpp * MAX_SCALE:g} um)"
        )
    return 1.0 if abs(factor - 1.0) < 1e-6 else factor


def to_grid(
    shape: tuple[int, ...],
    u: np.ndarray,
    m: np.ndarray,
    labels: np.ndarray,
    instances: np.ndarray,
    class_of: dict[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, int]]:
    """The outputs of a prediction on the model's grid, resampled onto an input's grid.

    Parameters
    ----------
    shape : tuple of int
        The input's shape (rows and columns first).
    u, m : numpy.ndarray
        Denoised image and mask probabilities (bilinear, kept in ``[0, 1]``).
    labels, instances : numpy.ndarray
        Class map and instance ids (nearest neighbour).
    class_of : dict
        Instance id -> class id.

    Returns
    -------
    tuple
        ``(u, m, labels, instances, class_of)`` on the input's grid; an instance too small
        to keep a pixel there is left out of ``class_of``.
    """
    grid = (int(shape[0]), int(shape[1]))
    instances = resample(instances, grid, labels=True)
    kept = {int(i) for i in np.unique(instances)}
    return (
        resample(u, grid),
        resample(m, grid),
        resample(labels, grid, labels=True),
        instances,
        {i: k for i, k in class_of.items() if i in kept},
    )
