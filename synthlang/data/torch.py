"""A PyTorch ``Dataset`` over a dataset folder (format version 1, 2 or 3).

Imports torch; nothing in ``synthlang`` imports this module except on request::

    from synthlang.data.torch import SynthlangDataset

    ds = SynthlangDataset("data/s2", outputs=("noisy", "labels", "instances"))
    item = ds[0]  # {"noisy": (C, H, W) float32, "labels": (H, W) int64, ...}
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, num_workers=2)

Only the files of the requested outputs are read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from synthlang.data.sampleio import read_manifest, read_raw_sample

__all__ = ["OUTPUTS", "SynthlangDataset"]

OUTPUTS = ("noisy", "clean", "mask", "labels", "instances", "objects")
"""What an item can hold (see :class:`SynthlangDataset`)."""


def _tensor(key: str, array: np.ndarray) -> torch.Tensor:
    """The tensor of one stored array (see :class:`SynthlangDataset` for dtypes)."""
    if key in ("noisy", "clean"):
        chw = np.ascontiguousarray(array.transpose(2, 0, 1))
        if chw.dtype == np.uint16:  # 16 bit: exact in float64, then float32
            return torch.from_numpy(chw.astype(np.float64) / 65535.0).to(torch.float32)
        return torch.from_numpy(chw).to(torch.float32).div_(255.0)
    if key == "mask":
        return torch.from_numpy(np.ascontiguousarray(array)).to(torch.float32).div_(255.0)
    return torch.from_numpy(np.ascontiguousarray(array)).to(torch.int64)


class SynthlangDataset(Dataset[dict[str, torch.Tensor]]):
    """The samples of a complete dataset folder as dicts of tensors.

    Parameters
    ----------
    folder : path-like
        A complete dataset folder (``synthlang render``; format version 1, 2 or 3).
    outputs : sequence of str
        What each item holds, from :data:`OUTPUTS`:

        * ``noisy``, ``clean``: ``(C, H, W)`` float32 in [0, 1] (``C = 3`` for RGB; 8-bit
          files divided by 255, 16-bit ones by 65535);
        * ``mask``: ``(H, W)`` float32, 0 or 1;
        * ``labels``: ``(H, W)`` int64 class ids, 0 = background (class id ``k`` is
          ``classes[k - 1]``);
        * ``instances``: ``(H, W)`` int64 labelled instance ids (``instances/NAME.png``),
          0 = background;
        * ``objects``: ``(H, W)`` int64 ids of every object (``objects/NAME.png``).
    transform : callable, optional
        Called with each item (the dict) and returning the item to use, e.g. joint
        random crops or flips of all its tensors.

    Attributes
    ----------
    classes : tuple of str
        The dataset's classes (``("mask",)`` for a version-1 folder).
    num_classes : int
        ``len(classes) + 1``: the number of label values, background included.
    channels : tuple of str
        The names of the image channels (``("r", "g", "b")`` for RGB).
    num_channels : int
        ``C``, the channels of ``noisy`` and ``clean``.
    bit_depth : int
        8 or 16, the bit depth of the stored images.
    names : list of str
        The sample names, in index order.

    Raises
    ------
    DataError
        The folder is not a complete dataset (here) or a sample is unreadable (on access).
    ValueError
        An unknown output.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        outputs: Sequence[str] = ("noisy", "labels"),
        transform: Callable[[dict[str, torch.Tensor]], Any] | None = None,
    ) -> None:
        if isinstance(outputs, str):
            outputs = (outputs,)
        unknown = [o for o in outputs if o not in OUTPUTS]
        if unknown or not outputs:
            raise ValueError(
                f"unknown outputs {unknown or '(none given)'}; choose from {', '.join(OUTPUTS)}"
            )
        self.folder = Path(folder)
        manifest = read_manifest(self.folder)
        self.format_version = int(manifest["format_version"])
        self.classes: tuple[str, ...] = tuple(manifest["classes"])
        self.num_classes = len(self.classes) + 1
        self.channels: tuple[str, ...] = tuple(manifest["channels"])
        self.num_channels = len(self.channels)
        self.bit_depth = int(manifest["bit_depth"])
        self.names: list[str] = [entry["name"] for entry in manifest["samples"]]
        self.outputs = tuple(dict.fromkeys(outputs))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Any:
        """Read sample ``index`` (0-based; negative counts from the end)."""
        name = self.names[index]
        raw = read_raw_sample(
            self.folder,
            name,
            keys=self.outputs,
            format_version=self.format_version,
            classes=self.classes,
            layout=(self.channels, self.bit_depth),
        )
        item = {key: _tensor(key, raw[key]) for key in self.outputs}
        return self.transform(item) if self.transform is not None else item

    def __repr__(self) -> str:
        return (
            f"SynthlangDataset({str(self.folder)!r}, outputs={self.outputs}, "
            f"{len(self)} samples, classes={self.classes}, channels={self.channels})"
        )
