"""The files ``synthlang predict`` writes per image (:func:`vnet.predict.predict_files`).

``NAME_denoised.png`` (or ``.tif``), ``NAME_prob*.png``, ``NAME_mask.png``, ``NAME_labels.png``,
``NAME_instances.png``, ``NAME_overlay.png`` and, when asked, ``NAME.geojson``; the formats are
described in :mod:`vnet.predict`.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthlang.common.errors import DataError
from vnet.instances import instance_means

__all__ = ["reason", "write_geojson", "write_outputs"]


def reason(exc: OSError) -> str:
    """Why a file could not be written, in words (``no space left on device``, ...)."""
    return "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)


def write_outputs(
    out_dir: Path,
    name: str,
    image: np.ndarray,
    u: np.ndarray,
    m: np.ndarray,
    labels: np.ndarray,
    instances: np.ndarray,
    classes: Sequence[str],
) -> dict[str, Path]:
    """Write the PNGs of one image (:mod:`vnet.predict`'s docstring); return them by kind.

    Parameters
    ----------
    out_dir : Path
        The output folder (exists).
    name : str
        The input's stem: files are ``NAME_KIND.png``.
    image : numpy.ndarray
        The input as predicted (colour-normalised), ``(H, W, C)`` in [0, 1].
    u, m : numpy.ndarray
        The network's ``u_T`` ``(H, W, C)`` and mask probabilities ``(H, W)`` or ``(H, W, K)``.
    labels, instances : numpy.ndarray
        The class map and the instance ids.
    classes : sequence of str
        The class names (id ``k`` is ``classes[k - 1]``).

    Returns
    -------
    dict of str to Path
        The written files by kind (``denoised``, ``prob``, ``mask``, ...).

    Raises
    ------
    DataError
        A file that cannot be written.
    """
    from synthlang.common.imageio import write_png

    def prob(p: np.ndarray) -> np.ndarray:
        return np.round(np.clip(p, 0.0, 1.0) * 65535.0).astype(np.uint16)

    from synthlang.common.channelio import false_colour
    from vnet.overlay import overlay, overlay_classes

    mask = labels > 0
    view = false_colour(image)  # the input as RGB (itself for RGB inputs)
    outputs: dict[str, np.ndarray] = {"denoised": np.clip(u, 0.0, 1.0)}
    if m.ndim == 2:  # a binary network: the outputs it always had, byte for byte
        outputs["prob"] = prob(m)
        outputs["overlay"] = overlay(view, mask)
    else:
        outputs["prob"] = prob(m.max(axis=2))
        outputs.update({f"prob_{k}": prob(m[..., k - 1]) for k in range(1, m.shape[2] + 1)})
        outputs["overlay"] = overlay_classes(view, labels, instances, classes)
    outputs["mask"] = mask.astype(np.uint8) * np.uint8(255)
    outputs["labels"] = labels.astype(np.uint8)
    outputs["instances"] = instances.astype(np.uint16)
    files = {kind: out_dir / f"{name}_{kind}.png" for kind in outputs}
    if u.shape[2] != 3:  # not RGB: a 16-bit multi-channel TIFF
        files["denoised"] = out_dir / f"{name}_denoised.tif"
    for kind, array in outputs.items():
        try:
            if kind == "denoised" and u.shape[2] != 3:
                _write_channels(files[kind], array)
            else:
                write_png(files[kind], array)
        except OSError as exc:
            raise DataError(f"cannot write {files[kind]}: {reason(exc)}") from None
    return files


def _write_channels(path: Path, image: np.ndarray) -> None:
    """Write a ``(H, W, C)`` image as a 16-bit TIFF, atomically."""
    from synthlang.common.channelio import encode_image, quantize
    from synthlang.common.fileio import atomic_write_bytes

    atomic_write_bytes(path, encode_image(quantize(image, 16)))


def write_geojson(
    path: Path,
    instances: np.ndarray,
    class_of: dict[int, int],
    m: np.ndarray,
    classes: Sequence[str],
) -> Path:
    """Write QuPath GeoJSON of the instances: class name and mean class probability each.

    Parameters
    ----------
    path : Path
        The ``.geojson`` file to write.
    instances : numpy.ndarray
        Instance ids (0: none).
    class_of : dict of int to int
        Each instance's class id.
    m : numpy.ndarray
        The mask probabilities, ``(H, W)`` or ``(H, W, K)``.
    classes : sequence of str
        The class names.

    Returns
    -------
    Path
        ``path``.
    """
    from synthlang.data.formats.geojson import (
        class_color,
        instance_features,
        write_feature_collection,
    )

    names = {i: classes[k - 1] for i, k in class_of.items()}
    means = instance_means(instances, m, class_of)
    properties = {
        i: {"probability": round(p, 4), "measurements": {"probability": round(p, 4)}}
        for i, p in means.items()
    }
    colors = {c: class_color(c, k) for k, c in enumerate(classes)}
    features = instance_features(
        instances, names, properties=properties, colors=colors, object_type="detection"
    )
    try:
        write_feature_collection(path, features)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {reason(exc)}") from None
    return path
