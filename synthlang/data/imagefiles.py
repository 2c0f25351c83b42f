"""The noisy and clean image files of dataset samples that are not 8-bit RGB (version 3).

16-bit and multi-channel images, and the ``channels`` and ``bit_depth`` records that say
which.

A dataset of an RGB scene at 8 bits is written exactly as before (format version 2);
any other scene's ``noisy/`` and ``clean/`` images are written by
:mod:`synthlang.common.channelio` (16-bit PNG for RGB, TIFF otherwise) and the manifest and
sample records name the channels and the bit depth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synthlang.common.channels import BIT_DEPTHS, MAX_CHANNELS, RGB_CHANNELS
from synthlang.common.errors import DataError
from synthlang.ir import Scene

__all__ = ["image_layout", "layout_fields", "image_bytes", "read_image_file", "unit_image"]


def image_layout(data: dict[str, Any]) -> tuple[tuple[str, ...], int]:
    """The channel names and bit depth a manifest or sample record states (RGB, 8 bit if not).

    Raises
    ------
    DataError
        Malformed ``channels`` or ``bit_depth``.
    """
    channels = data.get("channels", list(RGB_CHANNELS))
    bits = data.get("bit_depth", 8)
    if (
        not isinstance(channels, list)
        or not 1 <= len(channels) <= MAX_CHANNELS
        or not all(isinstance(c, str) and c for c in channels)
    ):
        raise DataError("malformed dataset record ('channels' must list channel names)")
    if isinstance(bits, bool) or bits not in BIT_DEPTHS:
        raise DataError(f"malformed dataset record ('bit_depth' must be 8 or 16, got {bits!r})")
    return tuple(channels), int(bits)


def layout_fields(scene: Scene) -> dict[str, Any]:
    """``channels`` and ``bit_depth`` of a dataset whose images are not 8-bit RGB (else none)."""
    if scene.channel_names() == RGB_CHANNELS and scene.bit_depth == 8:
        return {}
    return {"channels": list(scene.channel_names()), "bit_depth": scene.bit_depth}


def image_bytes(scene: Scene, image: np.ndarray) -> bytes:
    """The file of a noisy or clean image of a scene that is not 8-bit RGB (16-bit PNG, TIFF)."""
    from synthlang.common.channelio import encode_image, quantize

    return encode_image(quantize(image, scene.bit_depth), scene.channel_names())


def read_image_file(path: Path, channels: int, bits: int) -> np.ndarray:
    """A version-3 noisy or clean image: ``channels`` channels of ``bits`` bits."""
    from synthlang.common.channelio import read_raw_channels
    from synthlang.common.imageio import DEFAULT_MAX_PIXELS

    raw = read_raw_channels(path, max_pixels=DEFAULT_MAX_PIXELS)
    want = np.uint16 if bits == 16 else np.uint8
    if raw.dtype != want or raw.shape[2] != channels:
        raise DataError(
            f"{path}: {raw.shape[2]} channels of {raw.dtype}, the dataset has {channels} "
            f"channels of {bits} bits"
        )
    return raw


def unit_image(raw: np.ndarray) -> np.ndarray:
    """Stored 8- or 16-bit pixels as float32 in [0, 1] (divided by 255 or 65535)."""
    if raw.dtype == np.uint16:
        return (raw.astype(np.float64) / 65535.0).astype(np.float32)
    return raw.astype(np.float32) / 255.0
