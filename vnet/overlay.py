"""Overlays of predictions on their input images (``NAME_overlay.png`` of ``synthlang predict``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["overlay", "overlay_classes"]


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Tint the mask red on ``image`` and draw its outline in yellow.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` float in ``[0, 1]``.
    mask : numpy.ndarray
        ``(H, W)`` bool.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` float32.
    """
    from scipy import ndimage as ndi

    out = np.asarray(image, np.float32).copy()
    mk = np.asarray(mask, bool)
    red = np.array([1.0, 0.0, 0.0], np.float32)
    out[mk] = 0.55 * out[mk] + 0.45 * red
    edge = mk & ~ndi.binary_erosion(mk, structure=np.ones((3, 3), bool), border_value=1)
    out[edge] = np.array([1.0, 1.0, 0.0], np.float32)
    return out


def overlay_classes(
    image: np.ndarray, labels: np.ndarray, instances: np.ndarray, classes: Sequence[str]
) -> np.ndarray:
    """Tint every class in its colour on ``image`` and outline the instances in yellow.

    Class id ``k`` gets the colour of ``classes[k - 1]`` that the GeoJSON output uses
    (:func:`synthlang.data.formats.geojson.class_color`).

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` float in ``[0, 1]``.
    labels : numpy.ndarray
        ``(H, W)`` class ids.
    instances : numpy.ndarray
        ``(H, W)`` instance ids.
    classes : sequence of str
        Class names.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` float32.
    """
    from scipy import ndimage as ndi

    from synthlang.data.formats.geojson import class_color

    out = np.asarray(image, np.float32).copy()
    lab = np.asarray(labels)
    for k, name in enumerate(classes, start=1):
        on = lab == k
        colour = np.asarray(class_color(name, k - 1), np.float32) / 255.0
        out[on] = 0.55 * out[on] + 0.45 * colour
    inst = np.asarray(instances, np.int64)
    footprint = np.ones((3, 3), bool)
    edge = (inst > 0) & (
        (ndi.maximum_filter(inst, footprint=footprint, mode="constant") != inst)
        | (ndi.minimum_filter(inst, footprint=footprint, mode="nearest") != inst)
    )
    out[edge] = np.array([1.0, 1.0, 0.0], np.float32)
    return out
