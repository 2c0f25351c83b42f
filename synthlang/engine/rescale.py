"""Pixel-size jitter: resample a whole rendered sample from its canvas to the scene size.

A ``scale(factor)`` pass in ``degrade { }`` makes the renderer draw the scene
on a canvas of ``size / factor`` pixels (:func:`canvas_size`) and resample
every output to the scene's size with one :class:`Resampler`, so that
ground truth stays exact: label arrays (mask, instance and layer maps,
regions, every instance's full shape) are taken by nearest neighbour on one
grid, and the images are interpolated linearly (:func:`skimage.transform.resize`,
anti-aliased when shrinking) on the same pixel-centre geometry. Output pixel
``(r, c)`` looks at canvas point ``((r + 0.5) * sr - 0.5, (c + 0.5) * sc - 0.5)``
with ``sr = canvas_rows / rows`` (likewise for columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.transform import resize

from synthlang.engine.base import Instance

__all__ = ["canvas_size", "Resampler"]


def canvas_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """Canvas on which a sample zoomed by ``factor`` is drawn: ``size / factor``, rounded.

    Examples
    --------
    >>> canvas_size((300, 200), 1.25), canvas_size((300, 200), 0.5)
    ((240, 160), (600, 400))
    """
    if not factor > 0:
        raise ValueError(f"a scale factor must be > 0, got {factor}")
    return (max(1, round(size[0] / factor)), max(1, round(size[1] / factor)))


def _nearest(n_out: int, n_in: int) -> np.ndarray:
    """Source index of each output index (pixel centres aligned, clipped)."""
    src = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)
    return np.minimum(src, n_in - 1)


@dataclass(frozen=True)
class Resampler:
    """Resampling from a canvas to an output size, shared by every array of one sample.

    Parameters
    ----------
    canvas : tuple of int
        ``(rows, cols)`` of the rendered canvas.
    size : tuple of int
        ``(rows, cols)`` of the output.

    Examples
    --------
    >>> rs = Resampler((4, 4), (8, 8))
    >>> labels = np.arange(16).reshape(4, 4)
    >>> rs.labels(labels)[:2, :4].tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1]]
    """

    canvas: tuple[int, int]
    size: tuple[int, int]

    @property
    def rows(self) -> np.ndarray:
        """Canvas row of each output row (nearest neighbour)."""
        return _nearest(self.size[0], self.canvas[0])

    @property
    def cols(self) -> np.ndarray:
        """Canvas column of each output column (nearest neighbour)."""
        return _nearest(self.size[1], self.canvas[1])

    def labels(self, array: np.ndarray) -> np.ndarray:
        """Nearest-neighbour resampling of a label array ``(H, W, ...)`` (dtype kept)."""
        return np.ascontiguousarray(np.take(np.take(array, self.rows, 0), self.cols, 1))

    def image(self, image: np.ndarray) -> np.ndarray:
        """Linear resampling of an ``(H, W, C)`` image, anti-aliased when shrinking (float32)."""
        shrink = self.canvas[0] > self.size[0] or self.canvas[1] > self.size[1]
        out = resize(
            np.asarray(image, dtype=np.float32),
            self.size + image.shape[2:],
            order=1,
            mode="reflect",
            anti_aliasing=shrink,
            preserve_range=True,
        )
        return np.asarray(out, dtype=np.float32)

    def point(self, row: float, col: float) -> tuple[float, float]:
        """Map a canvas point ``(row, col)`` to output coordinates."""
        sr = self.canvas[0] / self.size[0]
        sc = self.canvas[1] / self.size[1]
        return ((row + 0.5) / sr - 0.5, (col + 0.5) / sc - 0.5)

    def full_area(self, inst: Instance) -> int:
        """Output pixels of an instance's full shape, on the same grid as :meth:`labels`."""
        return self.box_area(inst.r0, inst.c0, inst.mask)

    def box_area(self, r0: int, c0: int, mask: np.ndarray) -> int:
        """Output pixels of a canvas mask whose bounding box starts at ``(r0, c0)``."""
        h, w = mask.shape
        rows, cols = self.rows, self.cols
        r = np.searchsorted(rows, [r0, r0 + h])
        c = np.searchsorted(cols, [c0, c0 + w])
        sub_r = rows[r[0] : r[1]] - r0
        sub_c = cols[c[0] : c[1]] - c0
        if not sub_r.size or not sub_c.size:
            return 0
        return int(np.count_nonzero(mask[np.ix_(sub_r, sub_c)]))
