"""Region decompositions: dispatch through ``REGION_BUILDERS`` and the Voronoi builder.

A region builder has the signature ``fn(spec, shape, rng) -> labels`` where
``labels`` is an ``(H, W)`` int32 array of region labels ``0 .. n-1``. After
the labels, :func:`build_regions` draws one random permutation of the labels
per sample; region selections (``regions(k of n)``) take consecutive slices of
it (see :class:`synthlang.ir.RegionSelection`).

The fast-marching builder lives in :mod:`synthlang.engine.fastmarch`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import REGION_BUILDERS, RenderContext, register
from synthlang.engine.scratch import scratch

__all__ = ["random_points", "voronoi_labels", "voronoi_regions", "build_regions"]

_BRUTE_FORCE_MAX = 32


def random_points(shape: tuple[int, int], n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` control points uniformly over the image extent.

    The image covers ``[-0.5, H - 0.5) x [-0.5, W - 0.5)`` (pixel centres are
    integers).

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64 ``(row, col)`` points.
    """
    pts = rng.random((n, 2))
    pts *= np.asarray(shape, dtype=np.float64)
    pts -= 0.5
    return pts


def voronoi_labels(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Label every pixel with the index of its nearest point (ties: the lower index).

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``.
    points : numpy.ndarray
        ``(n, 2)`` ``(row, col)`` control points.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` int32 labels.

    Examples
    --------
    >>> voronoi_labels((2, 4), np.array([[0.0, 0.0], [0.0, 3.0]])).tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1]]
    """
    h, w = shape
    n = len(points)
    if n > _BRUTE_FORCE_MAX:
        rr, cc = np.mgrid[0:h, 0:w]
        grid = np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.float64)
        _, idx = cKDTree(points).query(grid)
        return idx.reshape(h, w).astype(np.int32)
    rows = np.arange(h, dtype=np.float64)
    cols = np.arange(w, dtype=np.float64)
    dr2 = (rows[None, :] - points[:, 0:1]) ** 2
    dc2 = (cols[None, :] - points[:, 1:2]) ** 2
    labels = np.zeros((h, w), dtype=np.int32)
    best = scratch("voronoi.best", (h, w), np.float64)
    d = scratch("voronoi.d", (h, w), np.float64)
    closer = scratch("voronoi.closer", (h, w), bool)
    np.add.outer(dr2[0], dc2[0], out=best)
    for k in range(1, n):
        np.add.outer(dr2[k], dc2[k], out=d)
        np.less(d, best, out=closer)
        np.copyto(labels, np.int32(k), where=closer)
        np.minimum(best, d, out=best)
    return labels


@register(REGION_BUILDERS, "voronoi")
def voronoi_regions(
    spec: ir.VoronoiRegions, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """A Voronoi tessellation of ``spec.count`` uniformly random control points.

    Examples
    --------
    >>> lab = voronoi_regions(ir.VoronoiRegions(count=3), (20, 30), np.random.default_rng(0))
    >>> lab.shape, lab.dtype.name, int(lab.max()) <= 2
    ((20, 30), 'int32', True)
    """
    return voronoi_labels(shape, random_points(shape, spec.count, rng))


def build_regions(ctx: RenderContext, rng: np.random.Generator) -> None:
    """Build the scene's regions (if any) into ``ctx.regions`` and ``ctx.region_perm``.

    Draws the labels with the registered builder, then one permutation of
    the region labels.

    Raises
    ------
    RenderError
        If the region kind has no registered builder.
    """
    spec = ctx.scene.regions
    if spec is None:
        return
    fn = REGION_BUILDERS.get(spec.kind)
    if fn is None:
        raise RenderError(f"no region builder {spec.kind!r} is registered")
    labels = np.asarray(fn(spec, ctx.shape, rng), dtype=np.int32)
    if labels.shape != ctx.shape:
        raise RenderError(f"region builder {spec.kind!r} returned shape {labels.shape}")
    labels.setflags(write=False)
    ctx.regions = labels
    ctx.region_perm = rng.permutation(spec.count)
