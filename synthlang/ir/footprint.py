"""What one object of a shape costs in memory: the constants the shapes' footprints use.

Shapes (:mod:`synthlang.ir.shapes`) state their own footprint with these; the render budget
(:mod:`synthlang.ir.budget`) adds them up. Calibrated with :mod:`tracemalloc`
(docs/robustness.md).
"""

from __future__ import annotations

import math

__all__ = [
    "TEXTURED_BYTES_PER_PIXEL",
    "RASTER_BYTES_PER_PIXEL",
    "NOMINAL_PATCH_SIDE",
    "box_pixels",
]

TEXTURED_BYTES_PER_PIXEL = 26
"""Per bounding-box pixel of a textured object: mask, contour, clean and noisy RGB (float32)."""
RASTER_BYTES_PER_PIXEL = 33
"""Per pixel of an ellipse being rasterised: its (dr², dr dc, dc²) grid, quadratic form, mask."""
NOMINAL_PATCH_SIDE = 64
"""Side assumed for a nucleus cut-out of scale 1 (its real size is known only when loaded)."""


def box_pixels(side: float, rows: int, cols: int) -> int:
    """Pixels of a square bounding box of ``side`` clipped to the image (inf: the image)."""
    if not math.isfinite(side):
        return rows * cols
    s = max(1, math.ceil(side))
    return min(s, rows) * min(s, cols)
