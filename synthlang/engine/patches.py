"""Patch libraries: nucleus cut-outs (a shape) and patch-lattice textures.

Implements the paper's Scenario 3 "Geometry and texture" models (Effland et
al., section "Stochastic generation of training data"): "a sample of tumor
nuclei is cut out of real images and the patches thus obtained are placed
stochastically on the layer with a random rotation", and "the texture of
immune and tumor cells in Scenario 3 is composed of randomly chosen
quadratic patches of fixed size in a lattice structure [...] one
additionally groups the patches into three cohorts depending on the mean
color and one exclusively incorporates one cohort in the simulation of a
specific cell [...] adjacent patches are aligned in a way that a moderate
overlap is ensured and a blending in all overlap regions is performed".

Registered kinds
----------------
* ``OBJECT_SHAPES["patch"]`` -- :func:`draw_patch`
* ``TEXTURES["patches"]`` -- :func:`patch_texture`

Libraries (format: ``docs/patches.md``) are read and checked by
:func:`synthlang.patchlib.read_patch_folder`, the owner of the format, once
per process by :func:`load_library`, and cached under ``(path, digest)``.
Every problem with a library (missing folder or index, bad JSON, wrong format
or kind, empty item list, an unreadable PNG, a wrong mode or size, an empty
alpha, a bad cohort) raises a :class:`synthlang.common.errors.RenderError`
that names the file.

Nucleus patches
---------------
A draw picks a patch uniformly, an angle uniformly from the
:data:`ANGLE_STEPS` multiples of ``360 / ANGLE_STEPS`` degrees (when
``rotate``) and a scale from ``shape.scale``, quantised to steps of
:data:`SCALE_STEP` (relative). The patch is rotated and scaled in one
bilinear affine resampling (zeros outside, as
``scipy.ndimage.affine_transform(order=1, mode="grid-constant")``) of its
premultiplied ``(rgb * alpha, alpha)``; the new alpha is thresholded at 0.5 (so the area
is preserved to about a percent) and the colour is un-premultiplied, so
the rim keeps the nucleus colour instead of fading to the cut-out's
background. ``noisy`` is the rotated patch (real pixels with their own
noise); ``clean`` is its normalised masked Gaussian smoothing
``G*(rgb m) / G*m`` with sigma ``shape.smooth`` (background pixels do not
bleed in); the anchor is the mask centroid. Because a ``fill`` placement draws
thousands of candidates per sample, the transformed patches are kept in a
per-process LRU cache (at most :data:`VARIANT_CACHE_BYTES`, built lazily during
the first samples) keyed by ``(library, patch, angle step, scale
step, smooth)``; cached arrays are read-only. A batch sampler registered for
``"patch"`` in :data:`synthlang.engine.shapes.SHAPE_SAMPLERS` hands
placement 32 candidates at a time with :data:`PROBES` precomputed probe
pixels each.

Patch lattices
--------------
For each instance one scene cohort ``j`` is drawn uniformly; it takes the
library cohorts ``j*C//k .. (j+1)*C//k - 1`` (``k`` scene cohorts, ``C``
library cohorts, ``k <= C``). The instance's bounding box is covered by a
lattice of ``size x size`` patches with stride ``size - overlap`` and a
random phase (the lattice origin is shifted by up to one stride), each
drawn uniformly from the cohort's patches in one of their 8 orientations
(90-degree rotations and flips) and, when the library's patches are larger
than ``size``, cropped at a random offset. Each patch is weighted by a
separable ramp ``w(i) = min(i + 1, overlap + 1, size - i) / (overlap + 1)``
so that the weights of two neighbours cross-fade linearly and sum to one in
their overlap; the sum is divided by the total weight. ``noisy`` is the
lattice, ``clean`` its Gaussian smoothing (sigma ``color.smooth``), ``mean``
the mean of ``noisy`` over the instance's pixels. Instances with lattices of
similar extent are built together, as one batch of array operations (patch
gather, weighting, ``ceil(size / stride)**2`` block additions,
normalisation, smoothing; :mod:`synthlang.engine.lattice`); no loop runs
over pixels or patches.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import (
    OBJECT_SHAPES,
    TEXTURES,
    Instance,
    ObjectDraw,
    RenderContext,
    register,
)
from synthlang.engine.lattice import blend_weights, bucket, lattice, lattice_block, pool_matrix
from synthlang.engine.sampling import draw_array
from synthlang.engine.shapes import anchor_pixel, register_sampler
from synthlang.patchlib import library_error, read_patch_folder

__all__ = [
    "ANGLE_STEPS",
    "SCALE_STEP",
    "VARIANT_CACHE_BYTES",
    "PatchLibrary",
    "load_library",
    "clear_cache",
    "transform_patch",
    "masked_smooth",
    "blend_weights",
    "lattice",
    "PROBES",
    "PatchBatch",
    "draw_patch",
    "patch_texture",
]

ANGLE_STEPS = 72
"""Number of rotation angles (multiples of 5 degrees) a nucleus patch can take."""

SCALE_STEP = 0.02
"""Relative quantisation step of the patch scale factor (2 %)."""

VARIANT_CACHE_BYTES = 256 * 2**20
"""Upper bound of the per-process cache of transformed nucleus patches.

Large enough for every rotation of a library of ~100 nuclei at one scale (about 7,000
variants of ~30 KB), so that a worker stops transforming patches after its first samples.
"""


# --------------------------------------------------------------------------- library


@dataclass(eq=False)
class PatchLibrary:
    """A loaded patch library (immutable after loading).

    Attributes
    ----------
    path : pathlib.Path
        The library folder.
    kind : str
        ``"nuclei"`` (RGBA cut-outs) or ``"texture"`` (RGB squares).
    cohorts : int
        Number of cohorts ``C`` in the library.
    patch_size : int or None
        Side of texture patches (None for nuclei).
    files : tuple of str
        Item file names, in index order.
    cohort : numpy.ndarray
        ``(N,)`` int cohort of each item.
    rgb : tuple of numpy.ndarray
        Nuclei: ``(h, w, 3)`` float32 colours (0 outside the alpha).
    alpha : tuple of numpy.ndarray
        Nuclei: ``(h, w)`` boolean masks.
    tiles : numpy.ndarray or None
        Textures: ``(8 N, s, s, 3)`` float32, the 8 orientations of item
        ``i`` at rows ``8 i .. 8 i + 7``.
    key : tuple of str
        ``(path, digest)`` cache key.
    """

    path: Path
    kind: str
    cohorts: int
    patch_size: int | None
    files: tuple[str, ...]
    cohort: np.ndarray
    rgb: tuple[np.ndarray, ...] = ()
    alpha: tuple[np.ndarray, ...] = ()
    tiles: np.ndarray | None = None
    key: tuple[str, str] = ("", "")
    _pools: dict[int, tuple[np.ndarray, ...]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.files)

    def pools(self, k: int) -> tuple[np.ndarray, ...]:
        """Row indices into :attr:`tiles` of each of ``k`` scene cohorts.

        Scene cohort ``j`` takes library cohorts ``j*C//k .. (j+1)*C//k - 1``
        (all 8 orientations of each of their patches).

        Raises
        ------
        RenderError
            If ``k > C`` or a scene cohort gets no patch.
        """
        if k in self._pools:
            return self._pools[k]
        c = self.cohorts
        if k > c:
            raise library_error(
                self.path / "index.json",
                f"patches(..., cohorts {k}) needs at most {c} cohorts; this library has {c}",
            )
        pools = []
        for j in range(k):
            lo, hi = j * c // k, (j + 1) * c // k
            items = np.flatnonzero((self.cohort >= lo) & (self.cohort < hi))
            if items.size == 0:
                span = f"cohort {lo}" if hi - lo == 1 else f"cohorts {lo}..{hi - 1}"
                raise library_error(
                    self.path / "index.json",
                    f"has no patch in {span} (needed for scene cohort {j} of {k})",
                )
            pools.append((items[:, None] * 8 + np.arange(8)[None, :]).ravel())
        self._pools[k] = tuple(pools)
        return self._pools[k]


_LIBRARIES: dict[tuple[str, str], PatchLibrary] = {}
_VARIANTS: OrderedDict[tuple[Any, ...], _Variant] = OrderedDict()
_VARIANT_BYTES = [0]


def clear_cache() -> None:
    """Forget every loaded library and transformed patch (tests, changed files)."""
    _LIBRARIES.clear()
    _VARIANTS.clear()
    _VARIANT_BYTES[0] = 0


def load_library(path: str | Path, digest: str = "", *, kind: str | None = None) -> PatchLibrary:
    """Load (once per process) the patch library in folder ``path``.

    Parameters
    ----------
    path : str or pathlib.Path
        Library folder containing ``index.json``.
    digest : str, optional
        SHA-256 hex digest of ``index.json`` recorded by the compiler; when
        given, a library whose index no longer matches is refused.
    kind : str, optional
        Required library kind (``"nuclei"`` or ``"texture"``).

    Returns
    -------
    PatchLibrary
        The cached library; its arrays are read-only.

    Raises
    ------
    RenderError
        For a missing or corrupt library, naming the offending file.
    """
    key = (str(path), digest)
    lib = _LIBRARIES.get(key)
    if lib is None:
        lib = _load(Path(path), digest)
        _LIBRARIES[key] = lib
    if kind is not None and lib.kind != kind:
        use = "patch(...) needs" if kind == "nuclei" else "patches(...) needs"
        raise library_error(
            lib.path / "index.json", f"is a {lib.kind!r} library; {use} a {kind!r} library"
        )
    return lib


def _load(folder: Path, digest: str) -> PatchLibrary:
    data = read_patch_folder(folder, digest)
    rgbs = data.rgb
    tiles = None
    if data.kind == "texture":
        base = np.stack(rgbs)  # (N, s, s, 3)
        variants = []
        for flip in (False, True):
            b = base[:, :, ::-1] if flip else base
            for k in range(4):
                variants.append(np.rot90(b, k, axes=(1, 2)))
        tiles = np.ascontiguousarray(np.stack(variants, axis=1)).reshape((-1,) + base.shape[1:])
        tiles.setflags(write=False)
        rgbs = ()
    return PatchLibrary(
        path=folder,
        kind=data.kind,
        cohorts=data.cohorts,
        patch_size=data.patch_size,
        files=data.files,
        cohort=data.cohort,
        rgb=rgbs,
        alpha=data.alpha,
        tiles=tiles,
        key=(str(folder), digest),
    )


# --------------------------------------------------------------------------- nucleus patches


def _warp_bilinear(
    src: np.ndarray, m: np.ndarray, offset: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Affine resampling with bilinear interpolation and zeros outside (``grid-constant``).

    Output pixel ``(r', c')`` takes the value of ``src`` at
    ``m @ (r', c') + offset``, interpolated linearly from the four
    neighbouring pixels, with the input extended by zeros (as
    ``scipy.ndimage.affine_transform(..., order=1, mode="grid-constant")``,
    but one vectorised gather for all channels, ~10x faster on patch-sized
    arrays).

    Parameters
    ----------
    src : numpy.ndarray
        ``(h, w, C)`` float32 input.
    m : numpy.ndarray
        ``(2, 2)`` output-to-input matrix.
    offset : numpy.ndarray
        ``(2,)`` output-to-input offset.
    shape : tuple of int
        ``(H, W)`` of the output.

    Returns
    -------
    numpy.ndarray
        ``(H, W, C)`` float32.
    """
    h, w, ch = src.shape
    pad = np.zeros((h + 2, w + 2, ch), dtype=np.float32)
    pad[1:-1, 1:-1] = src
    rr = np.arange(shape[0], dtype=np.float64)[:, None]
    cc = np.arange(shape[1], dtype=np.float64)[None, :]
    r = np.clip(m[0, 0] * rr + m[0, 1] * cc + (offset[0] + 1.0), 0.0, h + 1.0)
    c = np.clip(m[1, 0] * rr + m[1, 1] * cc + (offset[1] + 1.0), 0.0, w + 1.0)
    r0 = np.minimum(r.astype(np.intp), h)
    c0 = np.minimum(c.astype(np.intp), w)
    fr = (r - r0).astype(np.float32)[..., None]
    fc = (c - c0).astype(np.float32)[..., None]
    flat = pad.reshape(-1, ch)
    i00 = r0 * (w + 2) + c0
    top = flat[i00] * (1 - fc) + flat[i00 + 1] * fc
    bottom = flat[i00 + (w + 2)] * (1 - fc) + flat[i00 + (w + 3)] * fc
    return top * (1 - fr) + bottom * fr


def transform_patch(
    rgb: np.ndarray, alpha: np.ndarray, angle: float, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate (counter-clockwise, degrees) and scale an RGBA patch.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(h, w, 3)`` float32 colours.
    alpha : numpy.ndarray
        ``(h, w)`` boolean mask.
    angle : float
        Rotation in degrees, counter-clockwise as seen on the image.
    scale : float, optional
        Scale factor (> 0).

    Returns
    -------
    mask : numpy.ndarray
        ``(H, W)`` boolean mask, tightly cropped (at least one pixel).
    rgb : numpy.ndarray
        ``(H, W, 3)`` float32 colours, 0 outside the mask.

    Examples
    --------
    >>> a = np.zeros((9, 21), bool)
    >>> a[2:7, 1:20] = True
    >>> m, c = transform_patch(np.ones((9, 21, 3), np.float32), a, 90.0)
    >>> m.shape, int(m.sum()) == int(a.sum())
    ((19, 5), True)
    """
    h, w = alpha.shape
    th = math.radians(angle)
    co, si = math.cos(th), math.sin(th)
    # output box: the rotated, scaled box plus a margin; its parity follows the
    # input side that maps onto it, so quarter turns stay on the pixel grid
    upright = abs(co) >= abs(si)
    ho = int(math.ceil(scale * (abs(co) * h + abs(si) * w) - 1e-6)) + 2
    wo = int(math.ceil(scale * (abs(si) * h + abs(co) * w) - 1e-6)) + 2
    ho += (ho - (h if upright else w)) % 2
    wo += (wo - (w if upright else h)) % 2
    # output -> input: [r, c] = (1 / scale) [[cos, sin], [-sin, cos]] [r', c']
    m = np.array([[co, si], [-si, co]]) / scale
    ci = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    cout = np.array([(ho - 1) / 2.0, (wo - 1) / 2.0])
    offset = ci - m @ cout
    a = alpha.astype(np.float32)
    src = np.concatenate([rgb * a[..., None], a[..., None]], axis=2)  # premultiplied (h, w, 4)
    out = _warp_bilinear(src, m, offset, (ho, wo))
    new_a = out[..., 3]
    mask = new_a >= 0.5
    if not mask.any():  # tiny patch scaled down: keep its centre pixel
        mask[np.unravel_index(int(np.argmax(new_a)), new_a.shape)] = True
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    mask = mask[sl]
    a_c = np.maximum(new_a[sl], np.float32(1e-6))
    colour = out[sl][..., :3] / a_c[..., None]
    np.clip(colour, 0.0, 1.0, out=colour)
    colour[~mask] = 0.0
    return np.ascontiguousarray(mask), np.ascontiguousarray(colour)


def masked_smooth(rgb: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of ``rgb`` restricted to ``mask`` (normalised convolution).

    Computes ``G*(rgb m) / G*m`` so that pixels outside the mask do not bleed
    in; the result is 0 outside the mask.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(h, w, 3)`` float32 colours.
    mask : numpy.ndarray
        ``(h, w)`` boolean mask.
    sigma : float
        Gaussian standard deviation in pixels (0: no smoothing).

    Returns
    -------
    numpy.ndarray
        ``(h, w, 3)`` float32.

    Examples
    --------
    >>> m = np.zeros((5, 5), bool)
    >>> m[1:4, 1:4] = True
    >>> out = masked_smooth(np.full((5, 5, 3), 0.5, np.float32), m, 1.0)
    >>> bool(np.allclose(out[m], 0.5))
    True
    """
    if sigma <= 0:
        out = np.array(rgb, dtype=np.float32)
        out[~mask] = 0.0
        return out
    m = mask.astype(np.float32)
    stack = np.concatenate([rgb * m[..., None], m[..., None]], axis=2)
    sm = ndi.gaussian_filter(stack, (sigma, sigma, 0), mode="constant", cval=0.0, truncate=3.0)
    out = sm[..., :3] / np.maximum(sm[..., 3:], np.float32(1e-6))
    out[~mask] = 0.0
    np.clip(out, 0.0, 1.0, out=out)
    return out


PROBES = 25
"""Probe pixels per candidate handed to placement (evenly spaced mask pixels)."""


@dataclass(eq=False)
class _Variant:
    """A transformed nucleus patch with its placement probes (cached, read-only).

    The clean version (masked smoothing, the costlier half of a variant) is
    made on first use by :meth:`materialize`, i.e. only for candidates that
    placement actually draws; most candidates are rejected by their probes.
    """

    mask: np.ndarray
    noisy: np.ndarray
    anchor: tuple[float, float]
    smooth: float
    probes: np.ndarray  # (2, PROBES): row and column offsets from the anchor pixel
    nbytes: int
    _draw: ObjectDraw | None = None

    def materialize(self) -> ObjectDraw:
        """Return the full draw (mask, noisy, clean, anchor), computing ``clean`` once."""
        if self._draw is None:
            clean = masked_smooth(self.noisy, self.mask, self.smooth)
            clean.setflags(write=False)
            self._draw = ObjectDraw(
                mask=self.mask, anchor=self.anchor, clean=clean, noisy=self.noisy
            )
            self.nbytes += clean.nbytes
            _VARIANT_BYTES[0] += clean.nbytes
        return self._draw


def _variant(
    lib: PatchLibrary, index: int, angle_step: int, scale_step: int, smooth: float
) -> _Variant:
    """Transform and cache one patch variant (the cache-miss path)."""
    key = (lib.key, index, angle_step, scale_step, smooth)
    angle = angle_step * 360.0 / ANGLE_STEPS
    scale = (1.0 + SCALE_STEP) ** scale_step
    mask, noisy = transform_patch(lib.rgb[index], lib.alpha[index], angle, scale)
    r, c = np.nonzero(mask)
    anchor = (float(r.mean()), float(c.mean()))
    ar, ac = anchor_pixel(ObjectDraw(mask=mask, anchor=anchor))
    pick = np.linspace(0, r.size - 1, PROBES).astype(np.intp)
    probes = np.stack([r[pick] - ar, c[pick] - ac]).astype(np.intp)
    for arr in (mask, noisy, probes):
        arr.setflags(write=False)
    size = mask.nbytes + noisy.nbytes + probes.nbytes + 400
    variant = _Variant(mask, noisy, anchor, smooth, probes, size)
    _VARIANTS[key] = variant
    _VARIANT_BYTES[0] += size
    while _VARIANT_BYTES[0] > VARIANT_CACHE_BYTES and len(_VARIANTS) > 1:
        _, old = _VARIANTS.popitem(last=False)
        _VARIANT_BYTES[0] -= old.nbytes
    return variant


def _scale_steps(shape: ir.PatchShape, scales: np.ndarray) -> np.ndarray:
    bad = ~(np.isfinite(scales) & (scales > 0))
    if bad.any():
        raise RenderError(
            f"patch scale must be > 0, drew {float(scales[bad][0]):g} (library {shape.library})"
        )
    return np.rint(np.log(scales) / math.log1p(SCALE_STEP)).astype(np.int64)


@register(OBJECT_SHAPES, "patch")
def draw_patch(shape: ir.PatchShape, rng: np.random.Generator, ctx: RenderContext) -> ObjectDraw:
    """Draw one nucleus cut-out: a random patch, randomly rotated and scaled.

    Placement normally draws candidates in batches through the sampler
    registered for ``"patch"`` (:class:`PatchBatch`); this function is the
    one-object form.

    Parameters
    ----------
    shape : synthlang.ir.PatchShape
        Library, scale distribution, rotation flag and clean-version sigma.
    rng : numpy.random.Generator
        Source of randomness.
    ctx : synthlang.engine.base.RenderContext
        Unused (part of the object-shape signature).

    Returns
    -------
    ObjectDraw
        ``mask``, ``noisy`` (the patch's own pixels), ``clean`` (masked
        smoothing) and ``anchor`` (mask centroid). The arrays are shared
        with a cache and read-only.

    Raises
    ------
    RenderError
        For a bad library or a non-positive scale.
    """
    return _sample(shape, rng, 1)[0].materialize()


def _sample(shape: ir.PatchShape, rng: np.random.Generator, n: int) -> list[_Variant]:
    lib = load_library(shape.library, shape.digest, kind="nuclei")
    index = rng.integers(len(lib), size=n)
    if shape.rotate:
        angle = rng.integers(ANGLE_STEPS, size=n)
    else:
        angle = np.zeros(n, dtype=np.int64)
    steps = _scale_steps(shape, draw_array(shape.scale, rng, n))
    smooth = float(shape.smooth)
    out = []
    for i, a, k in zip(index.tolist(), angle.tolist(), steps.tolist(), strict=True):
        key = (lib.key, i, a, k, smooth)
        hit = _VARIANTS.get(key)
        if hit is None:
            hit = _variant(lib, i, a, k, smooth)
        else:
            _VARIANTS.move_to_end(key)
        out.append(hit)
    return out


@dataclass
class PatchBatch:
    """Candidate nucleus patches for placement (a :class:`~synthlang.engine.shapes.ShapeBatch`).

    Probes are :data:`PROBES` evenly spaced mask pixels of each candidate,
    precomputed with the cached transformed patch.
    """

    variants: list[_Variant]

    @property
    def size(self) -> int:
        """Number of candidates."""
        return len(self.variants)

    def probes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(dr, dc, valid)``: ``(size, PROBES)`` offsets from the anchor pixel."""
        both = np.stack([v.probes for v in self.variants])
        return both[:, 0], both[:, 1], np.ones(self.size, dtype=bool)

    def draw(self, i: int) -> ObjectDraw:
        """Return candidate ``i`` (read-only, cached arrays)."""
        return self.variants[i].materialize()


@register_sampler("patch", 32)
def _patch_sampler(
    shape: ir.PatchShape, rng: np.random.Generator, n: int, ctx: RenderContext
) -> PatchBatch:
    return PatchBatch(_sample(shape, rng, n))


# --------------------------------------------------------------------------- patch lattices


@register(TEXTURES, "patches")
def patch_texture(
    color: ir.PatchTexture,
    layer: ir.Layer,
    instances: list[Instance],
    ctx: RenderContext,
    rng: np.random.Generator,
) -> None:
    """Give every instance a patch-lattice texture from one random cohort.

    Sets ``noisy`` (the lattice over the instance's bounding box),
    ``clean`` (its Gaussian smoothing, sigma ``color.smooth``) and ``mean``
    (mean of ``noisy`` over the instance's pixels) of each instance.

    Instances are processed in groups of similar lattice extent
    (:func:`synthlang.engine.lattice.bucket`), each group as one batch of array operations; an
    instance's texture is a view into its group's arrays. The lattice of an
    instance is laid out on a canvas slightly larger than its box (random
    phase), and its clean version is smoothed on that canvas, so the box
    border needs no padding rule.

    Parameters
    ----------
    color : synthlang.ir.PatchTexture
        Library, number of scene cohorts, patch size, overlap and smoothing.
    layer : synthlang.ir.Layer
        The layer being textured (unused).
    instances : list of Instance
        The layer's instances, modified in place.
    ctx : synthlang.engine.base.RenderContext
        Unused.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    None
        No per-pixel mvn noise is added to lattice textures.

    Raises
    ------
    RenderError
        For a bad library, more scene cohorts than library cohorts, an
        empty cohort, or a patch size larger than the library's.
    """
    if not instances:
        return None
    lib = load_library(color.library, color.digest, kind="texture")
    assert lib.tiles is not None and lib.patch_size is not None
    if color.size > lib.patch_size:
        raise library_error(
            lib.path / "index.json",
            f"patches(..., size {color.size}) is larger than the library's "
            f"patch_size {lib.patch_size}",
        )
    pool_mat, pool_len = pool_matrix(lib.pools(color.cohorts))
    size, overlap = color.size, color.overlap
    stride = size - overlap
    n = len(instances)
    cohort = rng.integers(0, len(pool_len), n)
    offsets = rng.integers(0, stride, (n, 2))
    boxes = np.array([inst.mask.shape for inst in instances], dtype=np.int64).reshape(n, 2)
    need = np.maximum(1, -(-(boxes + offsets - overlap) // stride))
    groups: dict[tuple[int, int], list[int]] = {}
    for k in range(n):
        groups.setdefault((bucket(int(need[k, 0])), bucket(int(need[k, 1]))), []).append(k)
    sigma = float(color.smooth)
    for (n_r, n_c), members in sorted(groups.items()):
        idx = np.array(members)
        noisy = lattice_block(
            lib.tiles, pool_mat, pool_len, cohort[idx], n_r, n_c, size, overlap, rng
        )
        if sigma > 0:
            clean = ndi.gaussian_filter(noisy, (0, sigma, sigma, 0), mode="reflect", truncate=3.0)
        else:
            clean = noisy
        # instance masks on the group's canvas, for all the means at once
        where = np.zeros(noisy.shape[:3], dtype=np.float32)
        boxes_g = []
        for b, k in enumerate(members):
            h, w = int(boxes[k, 0]), int(boxes[k, 1])
            r0, c0 = int(offsets[k, 0]), int(offsets[k, 1])
            box = (b, slice(r0, r0 + h), slice(c0, c0 + w))
            where[box] = instances[k].mask
            boxes_g.append(box)
        count = where.sum(axis=(1, 2))
        sums = np.einsum("bhw,bhwc->bc", where, noisy)
        empty = count == 0
        if empty.any():  # an empty mask: use the whole box
            for e in np.flatnonzero(empty).tolist():
                sums[e] = noisy[boxes_g[e]].sum(axis=(0, 1))
                count[e] = boxes[members[e]].prod()
        means = (sums / count[:, None]).astype(np.float32)
        for b, k in enumerate(members):
            inst = instances[k]
            inst.noisy = noisy[boxes_g[b]]
            inst.clean = clean[boxes_g[b]]
            inst.mean = means[b]
    return None
