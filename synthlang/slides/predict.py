"""Run a nucleus model over a whole slide, tile by tile, streaming the nuclei.

``predictor`` is any callable that takes a float32 batch ``(n, h, w, 3)`` in
``[0, 1]`` and returns per-class probabilities ``(n, K, h, w)`` (``K >= 1``). Per
tile (:func:`segment_tile`): the label map is the arg-max class where its
probability is at least ``threshold`` (0 elsewhere); the instances of each class
are its connected components split by a watershed on the (smoothed) distance
transform, seeded at its local maxima (one per ``2 split_distance_um`` window). An
instance is kept only if its centroid lies in the tile's core (the cores partition
the region, :mod:`synthlang.slides.tiles`), so every nucleus is reported once; it
becomes a :class:`Nucleus` with a polygon in level-0 pixel coordinates (the
instance's marching-squares outline, simplified by half a model pixel, scaled by
``model_mpp / slide_mpp`` and shifted by the tile's origin), its class, area and
mean probability.

Nothing slide-sized is kept: nuclei go to *sinks* (:class:`SlideSink`: the GeoJSON
writer, the overlay, the label-mask writer of :mod:`synthlang.slides.outputs`) as
they are found, and the result holds counts per class and per tissue-mask cell.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy import ndimage as ndi

from synthlang.common.errors import DataError
from synthlang.common.regions import (
    NEIGHBOUR_DISTANCE_UM,
    complete_nuclei,
    fill_regions,
    neighbour_nuclei,
)
from synthlang.common.units import DEFAULT_PIXEL_SIZE_UM
from synthlang.slides.reader import Slide, open_slide
from synthlang.slides.tiles import Region, Tile, TilePlan, iter_batches, plan_tiles
from synthlang.slides.tissue import TissueMask, default_mask_mpp, tissue_mask

__all__ = [
    "Predictor",
    "Nucleus",
    "SlideSink",
    "SinkBase",
    "SlideResult",
    "TileSegmentation",
    "segment_tile",
    "tile_nuclei",
    "predict_slide",
]

Predictor = Callable[[np.ndarray], Any]
"""``(n, h, w, 3)`` float32 in [0, 1] -> ``(n, K, h, w)`` probabilities (array-like)."""


@dataclass(frozen=True, slots=True)
class Nucleus:
    """One detected nucleus, in level-0 pixel coordinates.

    Attributes
    ----------
    id : int
        1-based, in the order found.
    class_id : int
        1-based class (index into the class names plus one).
    class_name : str
        The class's name.
    polygon : numpy.ndarray
        ``(p, 2)`` float64 ``(x, y)`` vertices of the outline (not closed).
    x, y : float
        Centroid (mean of the instance's pixel centres).
    area_um2 : float
        Pixel count times the model pixel's area.
    probability : float
        Mean class probability over the instance's pixels.
    """

    id: int
    class_id: int
    class_name: str
    polygon: np.ndarray
    x: float
    y: float
    area_um2: float
    probability: float


class SlideSink(Protocol):
    """Receives results while :func:`predict_slide` runs."""

    def begin(self, plan: TilePlan, class_names: Sequence[str]) -> None:
        """Called once, before the first tile."""

    def add_nucleus(self, nucleus: Nucleus) -> None:
        """Called for every nucleus, in the order found."""

    def add_labels(self, tile: Tile, labels: np.ndarray) -> None:
        """Called per tile with the class labels (uint8) of its core, row-major tile order."""


class SinkBase:
    """A :class:`SlideSink` that ignores everything (subclass and override)."""

    def begin(self, plan: TilePlan, class_names: Sequence[str]) -> None:
        """Ignore the plan."""

    def add_nucleus(self, nucleus: Nucleus) -> None:
        """Ignore the nucleus."""

    def add_labels(self, tile: Tile, labels: np.ndarray) -> None:
        """Ignore the labels."""


@dataclass
class SlideResult:
    """What :func:`predict_slide` found (counts; the nuclei themselves went to sinks).

    Attributes
    ----------
    name : str
        The slide's name.
    slide_mpp, model_mpp : float
        Pixel sizes (micrometres) of level 0 and of the model grid.
    level : int
        Pyramid level read.
    region : Region
        The level-0 region analysed.
    class_names : tuple of str
        Class ``k`` is ``class_names[k - 1]``.
    counts : dict
        Nuclei per class name.
    tissue : TissueMask
        The tissue mask (all ones when tissue detection was off).
    density : numpy.ndarray
        ``(K, rows, cols)`` int32: nucleus centroids per class and tissue-mask cell.
    n_tiles, n_cores : int
        Tiles run, and cores on the region's grid (tissue or not).
    seconds : float
        Wall time of the run (tissue mask included).
    nuclei : list of Nucleus or None
        Every nucleus, only with ``keep_nuclei=True``.
    """

    name: str
    slide_mpp: float
    model_mpp: float
    level: int
    region: Region
    class_names: tuple[str, ...]
    counts: dict[str, int]
    tissue: TissueMask
    density: np.ndarray
    n_tiles: int
    n_cores: int
    seconds: float = 0.0
    nuclei: list[Nucleus] | None = field(default=None, repr=False)

    @property
    def total(self) -> int:
        """Nuclei of all classes."""
        return int(sum(self.counts.values()))

    @property
    def tissue_area_mm2(self) -> float:
        """Tissue area inside the region, mm²."""
        return self.tissue.area_mm2(self.region)

    def density_per_mm2(self) -> dict[str, float]:
        """Nuclei per mm² of tissue, per class (0 without tissue)."""
        area = self.tissue_area_mm2
        return {k: (v / area if area > 0 else 0.0) for k, v in self.counts.items()}


@dataclass
class TileSegmentation:
    """Per-pixel results of one tile (see :func:`segment_tile`).

    Attributes
    ----------
    labels : numpy.ndarray
        ``(h, w)`` uint8 class (0 background).
    instances : numpy.ndarray
        ``(h, w)`` int32 instance ids ``1..n`` (0 background), each within one class.
    prob : numpy.ndarray
        ``(h, w)`` float32 probability of the pixel's class (of the arg-max elsewhere).
    """

    labels: np.ndarray
    instances: np.ndarray
    prob: np.ndarray


def segment_tile(
    probs: np.ndarray,
    *,
    threshold: float = 0.5,
    split_distance: float = 5.0,
    fill_holes: bool = False,
    nuclei: np.ndarray | None = None,
    whole_nuclei: bool = True,
    neighbour_distance: float | None = None,
) -> TileSegmentation:
    """Label map and watershed-split instances of one tile's ``(K, h, w)`` probabilities.

    With ``fill_holes`` each class's cracks up to two pixels wide are closed and its holes
    filled first (:func:`synthlang.common.regions.fill_regions`); with ``nuclei`` (the
    tile's nucleus labels, :func:`synthlang.nuclei.segment_nuclei`) every nucleus that a
    class covers at least in half is then made whole
    (:func:`synthlang.common.regions.complete_nuclei`) unless ``whole_nuclei`` is False, and
    with ``neighbour_distance`` (pixels) the nuclei of fair probability among marked ones are
    added (:func:`synthlang.common.regions.neighbour_nuclei`).

    Examples
    --------
    >>> p = np.zeros((1, 20, 40), np.float32)
    >>> yy, xx = np.mgrid[:20, :40]
    >>> p[0][(yy - 10) ** 2 + (xx - 12) ** 2 <= 36] = 0.9
    >>> p[0][(yy - 10) ** 2 + (xx - 23) ** 2 <= 36] = 0.9   # two touching disks
    >>> s = segment_tile(p, split_distance=4)
    >>> int(s.instances.max()), int(s.labels.max())
    (2, 1)
    """
    from skimage.segmentation import watershed

    k = probs.shape[0]
    if k == 1:
        prob = probs[0].astype(np.float32, copy=False)
        labels = (prob >= threshold).astype(np.uint8)
    else:
        arg = np.argmax(probs, axis=0)
        prob = np.take_along_axis(probs, arg[None], axis=0)[0].astype(np.float32, copy=False)
        labels = np.where(prob >= threshold, arg + 1, 0).astype(np.uint8)
    if fill_holes:
        labels = fill_regions(labels)
    if nuclei is not None and whole_nuclei:
        labels = complete_nuclei(labels, nuclei)
    if nuclei is not None and neighbour_distance is not None:
        labels = neighbour_nuclei(labels, nuclei, probs, neighbour_distance)
    instances = np.zeros(labels.shape, np.int32)
    next_id = 0
    md = max(1, int(round(split_distance)))
    for c in np.unique(labels):
        if c == 0:
            continue
        fg = labels == c
        dist = ndi.distance_transform_edt(fg)
        smooth = ndi.gaussian_filter(dist, 1.0) if md > 1 else dist
        # seeds: maxima of the smoothed distance in a (2 md + 1)-square window, a
        # plateau being one seed; a component left without a seed is one instance
        peak = fg & (smooth >= ndi.maximum_filter(smooth, size=2 * md + 1)) & (dist >= 1.0)
        markers, n_seeds = ndi.label(peak, structure=np.ones((3, 3), bool))
        ws = np.asarray(watershed(-smooth, markers, mask=fg), dtype=np.int32)
        missing = fg & (ws == 0)
        if missing.any():
            extra, _ = ndi.label(missing)
            ws[missing] = extra[missing] + n_seeds
        instances[fg] = ws[fg] + next_id
        next_id = int(instances.max())
    if next_id:
        # consecutive ids (watershed may leave gaps)
        present = np.zeros(next_id + 1, bool)
        present[instances.ravel()] = True
        present[0] = False
        remap = np.zeros(next_id + 1, np.int32)
        remap[present] = np.arange(1, int(present.sum()) + 1, dtype=np.int32)
        instances = remap[instances]
    return TileSegmentation(labels=labels, instances=instances, prob=prob)


def _outlines(instances: np.ndarray, ids: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """Outline of each instance ``ids[k]`` as ``(p, 2)`` (row, col) tile coordinates.

    Marching squares (scikit-image) per instance, then one vectorised
    topology-preserving simplification (shapely/GEOS): the rings stay valid.
    """
    import shapely
    from skimage.measure import find_contours

    if len(ids) == 0:
        return []
    slices = ndi.find_objects(instances)
    rings: list[np.ndarray] = []
    for i in ids:
        sl = slices[int(i) - 1]
        assert sl is not None
        crop = np.pad((instances[sl] == i).astype(np.uint8), 1)
        ring = max(find_contours(crop, 0.5), key=len)
        rings.append(ring + (sl[0].start - 1, sl[1].start - 1))
    if tolerance <= 0:
        return [r[:-1] for r in rings]
    lengths = np.array([len(r) for r in rings])
    flat = np.concatenate(rings)
    polys = shapely.polygons(
        shapely.linearrings(flat, indices=np.repeat(np.arange(len(rings)), lengths))
    )
    simple = shapely.simplify(polys, tolerance, preserve_topology=True)
    coords, index = shapely.get_coordinates(simple, return_index=True)
    parts = np.split(coords, np.flatnonzero(np.diff(index)) + 1)
    out = []
    for raw, part in zip(rings, parts, strict=True):
        out.append(part[:-1] if len(part) >= 5 else raw[:-1])
    return out


def tile_nuclei(
    seg: TileSegmentation,
    tile: Tile,
    plan: TilePlan,
    class_names: Sequence[str],
    *,
    min_area: int = 16,
    tolerance: float = 0.5,
) -> list[Nucleus]:
    """The nuclei of one segmented tile whose centroid lies in its core (ids 0)."""
    inst = seg.instances
    n = int(inst.max())
    if n == 0:
        return []
    ids = inst.ravel()
    area = np.bincount(ids, minlength=n + 1)
    rr, cc = np.indices(inst.shape)
    safe = np.maximum(area, 1)
    cy = np.bincount(ids, weights=rr.ravel(), minlength=n + 1) / safe
    cx = np.bincount(ids, weights=cc.ravel(), minlength=n + 1) / safe
    pmean = np.bincount(ids, weights=seg.prob.ravel(), minlength=n + 1) / safe
    cls = np.zeros(n + 1, np.int64)
    cls[ids] = seg.labels.ravel()
    r0, c0, r1, c1 = tile.core
    keep = (
        (area >= min_area) & (cy >= r0 - 0.5) & (cy < r1 - 0.5) & (cx >= c0 - 0.5) & (cx < c1 - 0.5)
    )
    keep[0] = False
    chosen = np.nonzero(keep)[0]
    f = plan.factor
    px_um2 = plan.model_mpp**2
    out: list[Nucleus] = []
    for i, ring in zip(chosen, _outlines(inst, chosen, tolerance), strict=True):
        poly = np.empty((len(ring), 2), np.float64)
        poly[:, 0] = tile.x + (ring[:, 1] + 0.5) * f
        poly[:, 1] = tile.y + (ring[:, 0] + 0.5) * f
        c = int(cls[i])
        out.append(
            Nucleus(
                id=0,
                class_id=c,
                class_name=class_names[c - 1],
                polygon=poly,
                x=float(tile.x + (cx[i] + 0.5) * f),
                y=float(tile.y + (cy[i] + 0.5) * f),
                area_um2=float(area[i] * px_um2),
                probability=float(pmean[i]),
            )
        )
    return out


def _check_output(out: Any, n: int, side: int, k_seen: int | None) -> np.ndarray:
    try:
        arr = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataError(f"the predictor returned something that is not an array ({exc})") from None
    if arr.ndim != 4 or arr.shape[0] != n or arr.shape[2:] != (side, side) or arr.shape[1] < 1:
        raise DataError(
            f"the predictor must return probabilities of shape (n, K, h, w) = "
            f"({n}, K, {side}, {side}); it returned {tuple(arr.shape)}"
        )
    if k_seen is not None and arr.shape[1] != k_seen:
        raise DataError(f"the predictor returned {arr.shape[1]} classes after {k_seen}")
    if not np.isfinite(arr).all():
        raise DataError("the predictor returned NaN or infinite probabilities")
    return arr


class _Counter:
    """A plain progress line on stderr when tqdm is missing."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self._last = total, 0, -1

    def update(self, k: int) -> None:
        self.n += k
        pct = int(100 * self.n / max(self.total, 1))
        if pct // 5 != self._last // 5 or self.n == self.total:
            self._last = pct
            print(f"\rtiles {self.n}/{self.total} ({pct} %)", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(file=sys.stderr, flush=True)


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    if not enabled:

        class _Null:
            def update(self, k: int) -> None:
                pass

        yield _Null()
        return
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a declared dependency
        bar: Any = _Counter(total)
    else:
        bar = tqdm(total=total, unit="tile", file=sys.stderr, desc="slide", dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def _default_names(k: int) -> tuple[str, ...]:
    return ("nucleus",) if k == 1 else tuple(f"class_{i}" for i in range(1, k + 1))


def predict_slide(
    slide: Slide | str | os.PathLike[str],
    predictor: Predictor,
    *,
    model_mpp: float = DEFAULT_PIXEL_SIZE_UM,
    tile: int = 256,
    overlap: int = 64,
    batch: int = 8,
    region: Region | None = None,
    progress: bool = True,
    class_names: Sequence[str] | None = None,
    threshold: float = 0.5,
    min_area_um2: float = 4.0,
    split_distance_um: float = 2.5,
    fill_holes: bool = False,
    whole_nuclei: bool = False,
    neighbour_nuclei: bool = False,
    tissue: TissueMask | bool = True,
    workers: int = 1,
    sinks: Sequence[SlideSink] = (),
    keep_nuclei: bool = False,
    mpp: float | None = None,
) -> SlideResult:
    """Detect and classify the nuclei of a slide with ``predictor``.

    Parameters
    ----------
    slide : Slide or path-like
        An open slide, or a file to open (with ``mpp`` if given) and close.
    predictor : callable
        ``(n, tile, tile, 3)`` float32 in [0, 1] -> ``(n, K, tile, tile)`` probabilities.
    model_mpp : float
        The model's pixel size (micrometres; 0.5 = 20x).
    tile, overlap : int
        Model input side and overlap of neighbouring tiles (model pixels;
        :func:`~synthlang.slides.tiles.plan_tiles`). Nuclei wider than ``overlap``
        may be cut at tile borders.
    batch : int
        Tiles per predictor call.
    region : Region, optional
        ``(x, y, width, height)`` in level-0 pixels.
    progress : bool
        Show a progress bar on stderr (tqdm).
    class_names : sequence of str, optional
        Names of the ``K`` classes (default ``nucleus`` for one class, else
        ``class_1`` ...).
    threshold : float
        Least probability of a foreground pixel's class.
    min_area_um2 : float
        Smaller instances are dropped.
    split_distance_um : float
        Least distance between the seeds of two touching nuclei.
    fill_holes : bool
        Close cracks up to two pixels wide and fill holes in each class's regions of every tile
        (:func:`synthlang.common.regions.fill_regions`) before the nuclei are split.
    whole_nuclei : bool
        Then mark the whole of every nucleus that a class covers at least in half, the nuclei
        of each tile found by colour deconvolution (:func:`synthlang.nuclei.segment_nuclei`).
    neighbour_nuclei : bool
        Then give a class the nuclei of each tile of mean probability at least a quarter that
        lie among nuclei of that class (:func:`synthlang.common.regions.neighbour_nuclei`).
    tissue : TissueMask or bool
        A mask to use, ``True`` to compute one (:func:`~synthlang.slides.tissue.tissue_mask`),
        ``False`` to run every tile of the region.
    workers : int
        Threads reading tiles.
    sinks : sequence of SlideSink
        Receive the plan, every nucleus and every tile's core labels.
    keep_nuclei : bool
        Also keep every nucleus in the result (memory grows with the slide).
    mpp : float, optional
        Level-0 pixel size when ``slide`` is a path.

    Returns
    -------
    SlideResult

    Raises
    ------
    DataError
        Unreadable slide; a predictor output of the wrong shape or with NaNs.
    """
    if isinstance(slide, (str, os.PathLike)):
        with open_slide(slide, mpp=mpp) as opened:
            return predict_slide(
                opened,
                predictor,
                model_mpp=model_mpp,
                tile=tile,
                overlap=overlap,
                batch=batch,
                region=region,
                progress=progress,
                class_names=class_names,
                threshold=threshold,
                min_area_um2=min_area_um2,
                split_distance_um=split_distance_um,
                fill_holes=fill_holes,
                whole_nuclei=whole_nuclei,
                neighbour_nuclei=neighbour_nuclei,
                tissue=tissue,
                workers=workers,
                sinks=sinks,
                keep_nuclei=keep_nuclei,
            )
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    t0 = time.perf_counter()
    if tissue is True:
        mask = tissue_mask(slide)
    elif tissue is False:
        m_mpp = default_mask_mpp(slide)
        scale = m_mpp / slide.mpp
        w0, h0 = slide.dimensions
        full = np.ones((max(1, math.ceil(h0 / scale)), max(1, math.ceil(w0 / scale))), bool)
        mask = TissueMask(mask=full, scale=scale, mpp=m_mpp)
    else:
        mask = tissue
    plan = plan_tiles(
        slide,
        model_mpp=model_mpp,
        tile=tile,
        overlap=overlap,
        region=region,
        tissue=mask if tissue is not False else None,
    )
    names: tuple[str, ...] | None = tuple(class_names) if class_names is not None else None
    min_area = max(1, int(math.ceil(min_area_um2 / model_mpp**2)))
    split = split_distance_um / model_mpp
    counts: np.ndarray | None = None
    density: np.ndarray | None = None
    kept: list[Nucleus] | None = [] if keep_nuclei else None
    next_id = 1
    begun = False
    segment: Callable[..., Any] | None = None
    if whole_nuclei or neighbour_nuclei:
        from synthlang.nuclei import segment_nuclei as segment  # scikit-image: only when asked
    reach = NEIGHBOUR_DISTANCE_UM / model_mpp if neighbour_nuclei else None
    with _progress(plan.n_tiles, progress) as bar:
        for tiles, x in iter_batches(slide, plan, batch=batch, workers=workers):
            probs = _check_output(
                predictor(x), len(tiles), plan.tile, None if counts is None else counts.size
            )
            k = probs.shape[1]
            if names is None:
                names = _default_names(k)
            if len(names) != k:
                raise DataError(
                    f"the predictor returns {k} classes but {len(names)} class names were given"
                )
            if not begun:
                for sink in sinks:
                    sink.begin(plan, names)
                begun = True
            if counts is None or density is None:
                counts = np.zeros(k, np.int64)
                density = np.zeros((k, *mask.mask.shape), np.int32)
            for t, p, image in zip(tiles, probs, x, strict=True):
                nuclei = segment(image, pixel_size_um=model_mpp).labels if segment else None
                seg = segment_tile(
                    p,
                    threshold=threshold,
                    split_distance=split,
                    fill_holes=fill_holes,
                    nuclei=nuclei,
                    whole_nuclei=whole_nuclei,
                    neighbour_distance=reach,
                )
                r0, c0, r1, c1 = t.core
                core_labels = seg.labels[r0:r1, c0:c1]
                for sink in sinks:
                    sink.add_labels(t, core_labels)
                found = tile_nuclei(seg, t, plan, names, min_area=min_area)
                if not found:
                    continue
                cid = np.array([nu.class_id - 1 for nu in found])
                mr = np.array([nu.y for nu in found]) // mask.scale
                mc = np.array([nu.x for nu in found]) // mask.scale
                np.add.at(counts, cid, 1)
                inside = (mr >= 0) & (mr < density.shape[1]) & (mc >= 0) & (mc < density.shape[2])
                np.add.at(density, (cid[inside], mr[inside].astype(int), mc[inside].astype(int)), 1)
                for nu in found:
                    nucleus = dataclasses.replace(nu, id=next_id)
                    next_id += 1
                    for sink in sinks:
                        sink.add_nucleus(nucleus)
                    if kept is not None:
                        kept.append(nucleus)
            bar.update(len(tiles))
    if names is None:
        names = tuple(class_names) if class_names is not None else _default_names(1)
    if not begun:
        for sink in sinks:
            sink.begin(plan, names)
    if counts is None or density is None:
        counts = np.zeros(len(names), np.int64)
        density = np.zeros((len(names), *mask.mask.shape), np.int32)
    return SlideResult(
        name=slide.name,
        slide_mpp=slide.mpp,
        model_mpp=float(model_mpp),
        level=plan.level,
        region=plan.region,
        class_names=names,
        counts={n: int(c) for n, c in zip(names, counts, strict=True)},
        tissue=mask,
        density=density,
        n_tiles=plan.n_tiles,
        n_cores=plan.grid[0] * plan.grid[1],
        seconds=time.perf_counter() - t0,
        nuclei=kept,
    )
