"""Image channels: their names, how many there may be, bit depths, file suffixes.

A scene's images have ``C`` channels: the three RGB channels by default (named
:data:`RGB_CHANNELS`), or one per marker (``channels [dapi, cd45, gp100, ki67]`` in the
scene header). This module imports nothing heavy (the IR uses it); the files themselves are
written and read by :mod:`synthlang.common.channelio`.

Examples
--------
>>> image_suffix(3), image_suffix(4)
('.png', '.tif')
>>> describe_channels(("dapi", "cd45"))
'2 channels (dapi, cd45)'
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "RGB_CHANNELS",
    "MAX_CHANNELS",
    "BIT_DEPTHS",
    "FALSE_COLOURS",
    "TIFF_SUFFIXES",
    "image_suffix",
    "describe_channels",
]

RGB_CHANNELS = ("r", "g", "b")
"""The channel names of a scene without ``channels [...]``: its images are RGB."""
MAX_CHANNELS = 32
"""Most channels an image of a scene may have."""
BIT_DEPTHS = (8, 16)
"""Bit depths of the image files (``bits 16`` in a scene header, ``--bit-depth 16``)."""
FALSE_COLOURS = (
    (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (1.0, 0.0, 1.0),
    (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.5, 0.0), (0.6, 0.4, 1.0),
)  # fmt: skip
"""Tint of channel ``k`` (``k`` modulo 8) in false-colour views
(:func:`synthlang.common.channelio.false_colour`): blue, red, green, magenta, cyan, yellow,
orange, violet (DAPI first in blue, then the Scenario 1 convention: CD45 red, gp100 green)."""
TIFF_SUFFIXES = (".tif", ".tiff")
"""Suffixes of TIFF files."""


def image_suffix(channels: int) -> str:
    """The file suffix of an image with ``channels`` channels: ``.png`` (RGB) or ``.tif``."""
    return ".png" if channels == 3 else ".tif"


def describe_channels(names: Sequence[str]) -> str:
    """``4 channels (dapi, cd45, gp100, ki67)`` or ``3 channels (RGB)`` for messages."""
    if tuple(names) == RGB_CHANNELS:
        return "3 channels (RGB)"
    return f"{len(names)} channel{'s' if len(names) != 1 else ''} ({', '.join(names)})"
