"""Patch libraries of ``synthlang fit``: nucleus cut-outs, texture patches and colour cohorts.

:func:`nucleus_patches` cuts the annotated objects out as RGBA patches;
:func:`texture_patches` samples square RGB patches inside a class's texture
region (:func:`texture_region`); :func:`make_library` drops colour outliers
and groups the patches into cohorts (:func:`assign_cohorts`). The result, a
:class:`Library`, is written by :func:`synthlang.fit.write_library` in the
format of :mod:`synthlang.patchlib`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage as ndi
from scipy.cluster.vq import ClusterError, kmeans2
from skimage.segmentation import expand_labels

from synthlang.common.imageio import to_uint8
from synthlang.fit.inputs import FitInput
from synthlang.fit.options import IMMUNE_CLASS_WORDS, FitOptions, TextureRegion
from synthlang.nuclei import disk

__all__ = [
    "Patch",
    "nucleus_patches",
    "texture_region",
    "texture_patches",
    "assign_cohorts",
    "OUTLIER_Z",
    "drop_colour_outliers",
    "Library",
    "texture_region_for",
    "make_library",
    "cohort_counts",
]


@dataclass
class Patch:
    """One patch of a library: pixels and index metadata."""

    pixels: np.ndarray  # uint8 RGBA (nuclei) or RGB (texture)
    mean: np.ndarray  # (3,) mean RGB of the opaque pixels
    cls: str
    source: str
    area: int | None = None
    position: tuple[int, int] | None = None
    cohort: int = 0


def nucleus_patches(
    inp: FitInput, ids: Sequence[int], *, margin: int = 2, min_area: int = 12
) -> list[Patch]:
    """RGBA cut-outs of the objects ``ids``: bounding box plus ``margin`` px.

    Objects whose box (with margin) leaves the image or that have fewer than
    ``min_area`` pixels are skipped. Alpha is 255 on the object, 0 elsewhere.
    """
    lab = inp.instances
    rows, cols = lab.shape
    objs = ndi.find_objects(lab)
    out: list[Patch] = []
    for ident in sorted(ids):
        if ident - 1 >= len(objs) or objs[ident - 1] is None:
            continue
        rs, cs = objs[ident - 1]
        r0, r1 = rs.start - margin, rs.stop + margin
        c0, c1 = cs.start - margin, cs.stop + margin
        if r0 < 0 or c0 < 0 or r1 > rows or c1 > cols:
            continue
        mask = lab[r0:r1, c0:c1] == ident
        area = int(mask.sum())
        if area < min_area:
            continue
        rgb = inp.image[r0:r1, c0:c1]
        rgba = np.concatenate([to_uint8(rgb), (mask * 255).astype(np.uint8)[..., None]], axis=2)
        mean = rgb[mask].astype(np.float64).mean(axis=0)
        out.append(Patch(rgba, mean, inp.classes[ident], inp.name, area=area, position=(r0, c0)))
    return out


def texture_region(
    inp: FitInput, cls: str, region: TextureRegion, *, rim: int, margin: int
) -> np.ndarray:
    """Boolean mask of the pixels texture patches of ``cls`` may cover.

    ``nucleus``: the class's nuclei grown by ``rim`` px (not into other
    objects) -- for immune cells, whose bodies are mostly nucleus.
    ``cytoplasm``: pixels within ``margin`` px of a nucleus of the class
    whose nearest nucleus is of the class, minus all nuclei grown by 1 px --
    the cell bodies around the nuclei when only nuclei are annotated.
    """
    lab = inp.instances
    ids = np.array([i for i, c in inp.classes.items() if c == cls], dtype=np.int64)
    lut = np.zeros(int(lab.max(initial=0)) + 1, dtype=bool)
    lut[ids] = True
    if region == "nucleus":
        grown = expand_labels(lab, rim) if rim > 0 else lab
        return lut[grown]
    grown = expand_labels(lab, margin)
    nuclei = ndi.binary_dilation(lab > 0, structure=disk(1))
    return lut[grown] & ~nuclei


def texture_patches(
    inp: FitInput,
    cls: str,
    region_mask: np.ndarray,
    *,
    size: int,
    limit: int,
    rng: np.random.Generator,
) -> list[Patch]:
    """Square ``size x size`` RGB patches fully inside ``region_mask``.

    Candidate top-left corners lie on a grid of step ``max(1, size // 4)``
    (so that small objects still yield a patch); at most ``limit`` are drawn
    at random with ``rng``.
    """
    rows, cols = region_mask.shape
    if rows < size or cols < size:
        return []
    # a corner (r, c) is valid when the window [r, r+size) x [c, c+size) is inside the region
    inside = ndi.minimum_filter(
        region_mask.astype(np.uint8), size=size, mode="constant", cval=0, origin=-(size // 2)
    ).astype(bool)
    inside[rows - size + 1 :, :] = False
    inside[:, cols - size + 1 :] = False
    step = max(1, size // 4)
    grid = np.zeros_like(inside)
    grid[::step, ::step] = True
    rr, cc = np.nonzero(inside & grid)
    if rr.size == 0:
        return []
    if rr.size > limit:
        pick = np.sort(rng.choice(rr.size, size=limit, replace=False))
        rr, cc = rr[pick], cc[pick]
    out = []
    for r, c in zip(rr.tolist(), cc.tolist(), strict=True):
        rgb = inp.image[r : r + size, c : c + size]
        out.append(
            Patch(
                to_uint8(rgb),
                rgb.reshape(-1, 3).astype(np.float64).mean(axis=0),
                cls,
                inp.name,
                position=(r, c),
            )
        )
    return out


def assign_cohorts(means: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, int]:
    """Group colours into ``k`` cohorts numbered by increasing brightness.

    k-means (:func:`scipy.cluster.vq.kmeans2`, ``minit="++"``, seeded) on the
    mean RGB; if a cluster comes out empty the seed is advanced (up to 10
    tries), then brightness quantiles are used instead.

    Parameters
    ----------
    means : numpy.ndarray
        ``(n, 3)`` mean colours.
    k : int
        Wanted number of cohorts (reduced to ``n`` when there are fewer
        colours, and to the number of distinct colours).
    seed : int
        Seed of the k-means initialisation.

    Returns
    -------
    cohorts : numpy.ndarray
        ``(n,)`` int cohort per colour, ``0`` darkest.
    k : int
        Number of cohorts used.
    """
    n = means.shape[0]
    distinct = np.unique(np.round(means, 6), axis=0).shape[0] if n else 0
    k = max(1, min(k, n, distinct))
    if n == 0:
        return np.zeros(0, np.int64), k
    if k == 1:
        return np.zeros(n, np.int64), 1
    data = means.astype(np.float64)
    labels = None
    for attempt in range(10):
        try:
            _, lab = kmeans2(
                data, k, minit="++", missing="raise", rng=np.random.default_rng(seed + attempt)
            )
        except ClusterError:
            continue
        if np.unique(lab).size == k:
            labels = lab
            break
    brightness = data.mean(axis=1)
    if labels is None:
        ranks = np.argsort(np.argsort(brightness, kind="stable"), kind="stable")
        labels = (ranks * k) // n
    centre = np.array([brightness[labels == j].mean() for j in range(k)])
    order = np.argsort(centre, kind="stable")
    remap = np.empty(k, np.int64)
    remap[order] = np.arange(k)
    return remap[labels], k


OUTLIER_Z = 4.0
"""Patches whose mean colour is more than this many robust standard deviations
(1.4826 x median absolute deviation) from the median in some channel are dropped."""


def drop_colour_outliers(patches: list[Patch], z: float = OUTLIER_Z) -> list[Patch]:
    """Remove patches of atypical colour (for example erythrocytes inside a cytoplasm region).

    Parameters
    ----------
    patches : list of Patch
        Candidate patches of one library.
    z : float, optional
        Robust z-score limit per RGB channel (median and 1.4826 x MAD, the
        latter floored at 0.01 so that uniform colours are kept).

    Returns
    -------
    list of Patch
        The patches within the limit, in their original order.
    """
    if len(patches) < 5:
        return patches
    means = np.array([p.mean for p in patches])
    med = np.median(means, axis=0)
    mad = 1.4826 * np.median(np.abs(means - med), axis=0)
    score = np.abs(means - med) / np.maximum(mad, 0.01)
    keep = (score <= z).all(axis=1)
    return [p for p, k in zip(patches, keep.tolist(), strict=True) if k]


def _limit_per_cohort(
    patches: list[Patch], cohorts: np.ndarray, k: int, limit: int, rng: np.random.Generator
) -> list[Patch]:
    kept: list[Patch] = []
    for j in range(k):
        idx = np.flatnonzero(cohorts == j)
        if idx.size > limit:
            idx = np.sort(rng.choice(idx, size=limit, replace=False))
        for i in idx.tolist():
            patches[i].cohort = j
            kept.append(patches[i])
    return kept


@dataclass
class Library:
    """A patch library to be written as a folder (``docs/patches.md``)."""

    folder: str
    kind: Literal["nuclei", "texture"]
    patches: list[Patch]
    cohorts: int
    patch_size: int | None
    region: str


def texture_region_for(cls: str, options: FitOptions) -> TextureRegion:
    """Texture region of class ``cls``: ``--texture-region``, else by name (immune: nucleus)."""
    region = options.texture_regions.get(cls)
    if region in ("nucleus", "cytoplasm"):
        return region  # type: ignore[return-value]
    return "nucleus" if any(w in cls for w in IMMUNE_CLASS_WORDS) else "cytoplasm"


def make_library(
    folder: str,
    kind: Literal["nuclei", "texture"],
    patches: list[Patch],
    size: int | None,
    region: str,
    options: FitOptions,
    rng: np.random.Generator,
) -> Library | None:
    """Drop colour outliers, group the patches into cohorts and keep at most ``max_patches`` each.

    Returns None when no patch is left.
    """
    patches = drop_colour_outliers(patches)
    if not patches:
        return None
    means = np.array([p.mean for p in patches])
    cohorts, k = assign_cohorts(means, options.cohorts, options.seed)
    kept = _limit_per_cohort(patches, cohorts, k, options.max_patches, rng)
    return Library(folder, kind, kept, k, size, region)


def cohort_counts(lib: Library) -> list[int]:
    """Number of patches in each cohort of ``lib``."""
    return [sum(1 for p in lib.patches if p.cohort == j) for j in range(lib.cohorts)]
