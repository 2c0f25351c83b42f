"""HoVer-Net training patches: ``hovernet/NAME.npy``, one ``(H, W, 5)`` array per sample.

The layout is the one HoVer-Net's ``extract_patches.py`` writes and its training loader
(``dataloader/train_loader.py``) reads, ``img = data[..., :3]``, ``ann = data[..., 3:]``:

=========  ======================================================================
channel    content
=========  ======================================================================
0, 1, 2    R, G, B of the noisy image (``noisy/NAME.png``), 0..255
3          instance map: ``instances/NAME.png`` (labelled instances, 0 = background)
4          type map: ``labels/NAME.png`` (class ids 1..K, 0 = background)
=========  ======================================================================

dtype ``int32`` (what ``extract_patches.py`` produces by concatenating the uint8 image with
its int32 annotation; instance ids need more than 8 bits). HoVer-Net's ``nr_types`` for a
dataset of K classes is K + 1 (background included). Cut patches of the network's input
size from these arrays, as ``extract_patches.py`` does for CoNSeP.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from synthlang.common.fileio import atomic_write_bytes

__all__ = [
    "HOVERNET_DIR",
    "HOVERNET_DTYPE",
    "hovernet_array",
    "npy_bytes",
    "write_sample_hovernet",
]

HOVERNET_DIR = "hovernet"
HOVERNET_DTYPE = np.dtype(np.int32)


def hovernet_array(rgb: np.ndarray, instances: np.ndarray, types: np.ndarray) -> np.ndarray:
    """Stack an RGB image, an instance map and a type map into HoVer-Net's ``(H, W, 5)``.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(H, W, 3)`` uint8.
    instances, types : numpy.ndarray
        ``(H, W)`` integer instance ids and class ids.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 5)`` int32.

    Examples
    --------
    >>> a = hovernet_array(np.full((2, 2, 3), 200, np.uint8), np.eye(2, dtype=int),
    ...                    2 * np.eye(2, dtype=int))
    >>> a.shape, a.dtype.name, a[0, 0].tolist()
    ((2, 2, 5), 'int32', [200, 200, 200, 1, 2])
    """
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
    inst, typ = np.asarray(instances), np.asarray(types)
    if inst.shape != img.shape[:2] or typ.shape != img.shape[:2]:
        raise ValueError(
            f"sizes differ: rgb {img.shape[:2]}, instances {inst.shape}, types {typ.shape}"
        )
    out = np.empty((*img.shape[:2], 5), dtype=HOVERNET_DTYPE)
    out[..., :3] = img
    out[..., 3] = inst
    out[..., 4] = typ
    return out


def npy_bytes(array: np.ndarray) -> bytes:
    """The bytes of ``numpy.save`` of an array (version-1 ``.npy``, no pickle)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def write_sample_hovernet(out: Path, sample: dict[str, Any]) -> Path:
    """Write ``hovernet/NAME.npy`` of one stored sample into the dataset folder ``out``.

    ``sample`` holds ``name``, ``noisy``, ``instances`` and ``labels``
    (:func:`synthlang.data.sampleio.read_raw_sample`); ``hovernet/`` must exist.
    """
    array = hovernet_array(sample["noisy"], sample["instances"], sample["labels"])
    path = Path(out) / HOVERNET_DIR / f"{sample['name']}.npy"
    atomic_write_bytes(path, npy_bytes(array))
    return path
