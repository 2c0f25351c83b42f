"""Top-down merge of the layers into the clean image, the noisy image and the id maps.

Semantics (the paper's layer concept):

* Layers are merged from the bottom (index 0) up; an upper layer replaces
  what it overlaps. Within a layer, later objects cover earlier ones.
* Pixels no object covers stay transparent: RGB 0, ``layer_map`` -1,
  ``instance_map`` 0.
* The clean image shows each topmost object's mean colour (or its own clean
  texture, or its contour colour on contour pixels).
* The noisy image is the clean image plus per-pixel correlated noise of the
  topmost object's layer: one standard normal triple ``z`` per pixel (drawn
  once for the whole image), multiplied by that layer's noise factor ``L``
  (the contour factor on contour pixels). Textured objects (patches) use their
  own noisy pixels instead. The result is clipped to [0, 1].
* A flat-coloured object with a chromatin ``shade`` shows ``mean * shade``
  (clipped to [0, 1]) on its body pixels; the pixel noise is added on top.
* Layers with ``soft`` edges (:mod:`synthlang.engine.soft`) are blended, object
  by object in id order, over everything composited below them with each
  object's alpha: ``alpha * own + (1 - alpha) * below``, in the clean and the
  noisy image (the object's own noisy colour uses the same ``z``). Runs of hard
  layers between them are merged as above and replace what they cover. The
  instance and layer maps are the same as without softness (an object owns the
  pixels where its alpha is >= 0.5, its mask). A scene without soft layers is
  merged by the hard path alone.
* Layers with ``blend additive`` add their own image (their objects merged among
  themselves as above: later objects cover earlier ones of the same layer) to what
  lies below, in the clean and the noisy image, and the sums are clipped to
  [0, 1] (channels add and saturate, as fluorescence does). The layer's noisy
  image is its clean image plus ``L z_k``, with its own standard normal field
  ``z_k`` (drawn after ``z``, one per additive layer with pixel noise, bottom to
  top), not clipped before it is added: the noise of overlapping additive objects is
  independent and its covariances add. A soft additive layer adds ``alpha`` times
  its colours. The id maps show the topmost object, additive or not.
* Images have ``C`` channels (three for RGB); ``z`` is ``(C, H, W)``.
* For previews, every layer can also be rendered alone as RGBA using the same
  ``z`` (``z_k`` for an additive layer): alpha exactly 1 on its object pixels and 0
  elsewhere, or for a soft layer the accumulated alpha of its objects (colours not
  premultiplied). "RGBA" is the ``C`` channels followed by the alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthlang.engine.base import Instance, LayerImage, LayerResult
from synthlang.engine.gauss import standard_normal_f32
from synthlang.engine.scratch import scratch
from synthlang.engine.soft import open_sides, soft_alpha

__all__ = ["Composite", "composite", "paint_ids"]


@dataclass
class Composite:
    """Output of :func:`composite` (before degradation).

    Attributes
    ----------
    clean, noisy : numpy.ndarray
        ``(H, W, C)`` float32 in [0, 1].
    instance_map : numpy.ndarray
        ``(H, W)`` int32 id of the topmost instance, 0 where transparent.
    layer_map : numpy.ndarray
        ``(H, W)`` int16 layer index of the topmost instance, -1 where transparent.
    layers : list of LayerImage or None
        Per-layer RGBA images (``keep_layers=True`` only).
    """

    clean: np.ndarray
    noisy: np.ndarray
    instance_map: np.ndarray
    layer_map: np.ndarray
    layers: list[LayerImage] | None = None


def paint_ids(instances: Sequence[Instance], shape: tuple[int, int]) -> np.ndarray:
    """Paint instance ids in order (later ones on top) into an ``(H, W)`` int32 map.

    Examples
    --------
    >>> a = Instance(id=1, layer=0, category="a", r0=0, c0=0, mask=np.ones((2, 2), bool),
    ...              center=(0.5, 0.5))
    >>> b = Instance(id=2, layer=1, category="b", r0=1, c0=1, mask=np.ones((1, 2), bool),
    ...              center=(1.0, 1.5))
    >>> paint_ids([a, b], (2, 3)).tolist()
    [[1, 1, 0], [1, 2, 2]]
    """
    out = np.zeros(shape, dtype=np.int32)
    for inst in instances:
        np.copyto(out[inst.slices], np.int32(inst.id), where=inst.mask)
    return out


class _Tables:
    """Per-id lookup tables and the stacked noise factors of all layers."""

    def __init__(self, results: Sequence[LayerResult], channels: int = 3) -> None:
        n_layers = len(results)
        n = max((inst.id for r in results for inst in r.instances), default=0)
        self.channels = channels
        self.zero_class = 2 * n_layers
        self.layer = np.full(n + 1, -1, dtype=np.int16)
        self.cls = np.full(n + 1, self.zero_class, dtype=np.intp)
        self.mean = np.zeros((n + 1, channels), dtype=np.float32)
        self.position = np.zeros(n + 1, dtype=np.intp)
        factors = np.zeros((2 * n_layers + 1, channels, channels), dtype=np.float32)
        for k, r in enumerate(results):
            if r.chol is not None:
                factors[k] = r.chol
            if r.contour_chol is not None:
                factors[n_layers + k] = r.contour_chol
            for inst in r.instances:
                self.layer[inst.id] = inst.layer
                self.position[inst.id] = k
                if inst.clean is None:
                    self.cls[inst.id] = k
                if inst.mean is not None:
                    self.mean[inst.id] = inst.mean
        self.n_layers = n_layers
        self.factors = factors
        # coefficient tables: coef[i][j][class] = factors[class, i, j]
        self.coef = [
            [
                np.ascontiguousarray(factors[:, i, j]) if np.any(factors[:, i, j]) else None
                for j in range(channels)
            ]
            for i in range(channels)
        ]
        self.has_noise = bool(np.any(factors))
        # noise of the layers that cover what lies below (additive layers draw their own)
        self.over_noise = any(
            np.any(factors[k]) or np.any(factors[n_layers + k])
            for k, r in enumerate(results)
            if not r.layer.additive
        )

    def layer_noise(self, k: int) -> bool:
        """Whether layer position ``k`` has pixel noise (body or contour)."""
        return bool(np.any(self.factors[k]) or np.any(self.factors[self.n_layers + k]))


def _compose(
    results: Sequence[LayerResult],
    tables: _Tables,
    shape: tuple[int, int],
    z: np.ndarray | None,
    noisy_out: np.ndarray | None = None,
    *,
    clip: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge ``results`` into ``(instance_map, clean, noisy)``.

    The noisy image is clipped unless ``clip`` is False (an additive layer's own
    image), and written to ``noisy_out`` when given.
    """
    instances = [inst for r in results for inst in r.instances]
    imap = paint_ids(instances, shape)
    clean = tables.mean.take(imap, axis=0)
    cls = tables.cls.take(imap, out=scratch("composite.cls", shape, np.intp))
    textured: list[tuple[tuple[slice, slice], np.ndarray, np.ndarray]] = []
    for inst in instances:
        if inst.clean is None and inst.contour is None and inst.shade is None:
            continue
        sl = inst.slices
        vis = imap[sl] == inst.id
        if inst.shade is not None and inst.clean is None:
            body = vis if inst.contour is None else vis & ~inst.contour
            shaded = clean[sl][body] * inst.shade[body][:, None]
            clean[sl][body] = np.clip(shaded, 0.0, 1.0, out=shaded)
        if inst.clean is not None:
            tex = vis if inst.contour is None else vis & ~inst.contour
            clean[sl][tex] = inst.clean[tex]
            src = inst.noisy if inst.noisy is not None else inst.clean
            textured.append((sl, tex, src))
        if inst.contour is not None and inst.contour_mean is not None:
            cv = vis & inst.contour
            clean[sl][cv] = inst.contour_mean
            cls[sl][cv] = tables.n_layers + int(tables.position[inst.id])
    noisy = np.empty_like(clean) if noisy_out is None else noisy_out
    if z is None or not tables.has_noise:
        np.copyto(noisy, clean)
    else:
        acc = scratch("composite.acc", shape, np.float32)
        term = scratch("composite.term", shape, np.float32)
        for i in range(tables.channels):
            first = True
            for j in range(tables.channels):
                coef = tables.coef[i][j]
                if coef is None:
                    continue
                dst = acc if first else term
                coef.take(cls, out=dst)
                dst *= z[j]
                if not first:
                    acc += term
                first = False
            if first:
                acc.fill(0.0)
            noisy[:, :, i] = acc
        noisy += clean
    for sl, tex, src in textured:
        noisy[sl][tex] = src[tex]
    if clip:
        np.clip(noisy, 0.0, 1.0, out=noisy)
    return imap, clean, noisy


def _noise(factor: np.ndarray, z: np.ndarray | None, box: tuple[slice, slice]) -> np.ndarray | None:
    """``factor @ z`` at every pixel of ``box`` as ``(h, w, C)`` float32 (None for no noise)."""
    if z is None or not np.any(factor):
        return None
    zb = z[:, box[0], box[1]]
    return np.einsum("ij,jhw->hwi", factor, zb, dtype=np.float32)


def _blend(
    inst: Instance,
    tables: _Tables,
    z: np.ndarray | None,
    clean: np.ndarray,
    noisy: np.ndarray,
    coverage: np.ndarray | None = None,
    *,
    clip: bool = True,
) -> None:
    """Blend one soft-edged instance over ``clean`` and ``noisy`` in place.

    The object's own colours (clean: mean, times its shade, or its texture,
    contour colour on contour pixels; noisy: the clean colour plus the layer's
    noise, or its own noisy texture, clipped unless ``clip`` is False) are extended
    beyond its mask by the colour of the nearest object pixel and blended with its
    alpha. ``coverage``, when given, accumulates the alpha (``a + (1 - a) coverage``).
    """
    shape = clean.shape[:2]
    sa = soft_alpha(inst.mask, inst.soft, open_sides(inst, shape))
    gh, gw = sa.alpha.shape
    r0, c0 = inst.r0 - sa.pad, inst.c0 - sa.pad
    a0, b0 = max(0, -r0), max(0, -c0)
    a1, b1 = min(gh, shape[0] - r0), min(gw, shape[1] - c0)
    box = (slice(r0 + a0, r0 + a1), slice(c0 + b0, c0 + b1))
    alpha = sa.alpha[a0:a1, b0:b1]
    rows, cols = sa.rows[a0:a1, b0:b1], sa.cols[a0:a1, b0:b1]
    k = int(tables.position[inst.id])
    if inst.clean is not None:
        own_clean = inst.clean[rows, cols]
    else:
        own_clean = np.empty(alpha.shape + (tables.channels,), dtype=np.float32)
        own_clean[:] = tables.mean[inst.id]
        if inst.shade is not None:
            own_clean *= inst.shade[rows, cols][:, :, None]
            np.clip(own_clean, 0.0, 1.0, out=own_clean)
    edge = None
    if inst.contour is not None and inst.contour_mean is not None:
        edge = inst.contour[rows, cols]
        own_clean[edge] = inst.contour_mean
    if inst.clean is not None:
        src = inst.noisy if inst.noisy is not None else inst.clean
        own_noisy = src[rows, cols]
    else:
        own_noisy = own_clean.copy()
        body_noise = _noise(tables.factors[k], z, box)
        if body_noise is not None:
            own_noisy += body_noise
    if edge is not None:
        own_noisy[edge] = own_clean[edge]
        edge_noise = _noise(tables.factors[tables.n_layers + k], z, box)
        if edge_noise is not None:
            own_noisy[edge] += edge_noise[edge]
    if clip:
        np.clip(own_noisy, 0.0, 1.0, out=own_noisy)
    a = alpha[:, :, None]
    b = 1.0 - a
    clean[box] = a * own_clean + b * clean[box]
    noisy[box] = a * own_noisy + b * noisy[box]
    if coverage is not None:
        coverage[box] = alpha + (1.0 - alpha) * coverage[box]


def _add_layer(
    r: LayerResult,
    tables: _Tables,
    shape: tuple[int, int],
    z: np.ndarray | None,
    clean: np.ndarray,
    noisy: np.ndarray,
) -> None:
    """Add an additive layer's own image to ``clean`` and ``noisy`` and clip, in place."""
    if r.layer.soft is None:
        ids, own_clean, own_noisy = _compose([r], tables, shape, z, clip=False)
        on = (ids > 0)[:, :, None]
        np.add(clean, own_clean, out=clean, where=on)
        np.add(noisy, own_noisy, out=noisy, where=on)
    else:  # alpha times its colours: the layer blended over black
        own_clean = np.zeros_like(clean)
        own_noisy = np.zeros_like(noisy)
        for inst in r.instances:
            _blend(inst, tables, z, own_clean, own_noisy, clip=False)
        clean += own_clean
        noisy += own_noisy
    np.clip(clean, 0.0, 1.0, out=clean)
    np.clip(noisy, 0.0, 1.0, out=noisy)


def _compose_soft(
    results: Sequence[LayerResult],
    tables: _Tables,
    shape: tuple[int, int],
    z: np.ndarray | None,
    noisy_out: np.ndarray | None = None,
    own_z: dict[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge ``results`` when some layers are soft or additive: ``(instance_map, clean, noisy)``.

    Runs of hard layers are merged by :func:`_compose` and replace what they
    cover; each soft layer's objects are blended over the result in id order;
    each additive layer's image (with its own noise field ``own_z[k]``) is added.
    """
    imap = paint_ids([inst for r in results for inst in r.instances], shape)
    clean = np.zeros(shape + (tables.channels,), dtype=np.float32)
    noisy = np.empty_like(clean) if noisy_out is None else noisy_out
    noisy.fill(0.0)
    run: list[LayerResult] = []
    for k, r in enumerate([*results, None]):
        if r is not None and r.layer.soft is None and not r.layer.additive:
            run.append(r)
            continue
        if run:
            ids, run_clean, run_noisy = _compose(run, tables, shape, z)
            cover = (ids > 0)[:, :, None]
            np.copyto(clean, run_clean, where=cover)
            np.copyto(noisy, run_noisy, where=cover)
            run = []
        if r is not None and r.layer.additive:
            _add_layer(r, tables, shape, (own_z or {}).get(k), clean, noisy)
        elif r is not None:
            for inst in r.instances:
                _blend(inst, tables, z, clean, noisy)
    return imap, clean, noisy


def _soft_layer_image(
    r: LayerResult, tables: _Tables, shape: tuple[int, int], z: np.ndarray | None
) -> LayerImage:
    """One soft layer alone as RGBA: accumulated alpha, colours not premultiplied."""
    clean = np.zeros(shape + (tables.channels,), dtype=np.float32)
    noisy = np.zeros_like(clean)
    coverage = np.zeros(shape, dtype=np.float32)
    for inst in r.instances:
        _blend(inst, tables, z, clean, noisy, coverage)
    seen = coverage > 0
    for image in (clean, noisy):
        image[seen] /= coverage[seen][:, None]
        np.clip(image, 0.0, 1.0, out=image)
    alpha = coverage[:, :, None]
    return LayerImage(
        name=r.layer.name,
        noisy=np.concatenate([noisy, alpha], axis=2),
        clean=np.concatenate([clean, alpha], axis=2),
    )


def composite(
    results: Sequence[LayerResult],
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    keep_layers: bool = False,
    noisy_out: np.ndarray | None = None,
    channels: int = 3,
) -> Composite:
    """Merge finished layers (bottom to top) into images and id maps.

    Parameters
    ----------
    results : sequence of LayerResult
        Finished layers, bottom first.
    shape : tuple of int
        ``(H, W)``.
    rng : numpy.random.Generator
        Draws the per-pixel standard normals: one ``(C, H, W)`` float32 draw with
        :func:`~synthlang.engine.gauss.standard_normal_f32` when some layer that is
        not additive has pixel noise, then one per additive layer with pixel noise,
        bottom to top.
    keep_layers : bool
        Also render each layer alone as RGBA (previews).
    noisy_out : numpy.ndarray, optional
        ``(H, W, C)`` float32 array to write the noisy image into (by default
        a new array).
    channels : int
        ``C``, the image channels (3 for RGB); the colours have as many values.

    Returns
    -------
    Composite

    Examples
    --------
    >>> from synthlang import ir
    >>> lay = ir.Layer(index=0, name="a", shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 0, 0)))
    >>> inst = Instance(id=1, layer=0, category="a", r0=0, c0=0, mask=np.ones((2, 2), bool),
    ...                 center=(0.5, 0.5), mean=np.array([1, 0, 0], np.float32))
    >>> out = composite([LayerResult(lay, [inst], inst.mask)], (2, 3), np.random.default_rng(0))
    >>> out.layer_map.tolist(), out.clean[0, 0].tolist(), out.clean[0, 2].tolist()
    ([[0, 0, -1], [0, 0, -1]], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    """
    tables = _Tables(results, channels)
    h, w = shape
    z = None
    if tables.over_noise:
        z = standard_normal_f32(
            rng, (channels, h, w), out=scratch("composite.z", (channels, h, w), np.float32)
        )
    # additive layers: their own noise fields, bottom to top
    own_z = {
        k: standard_normal_f32(rng, (channels, h, w))
        for k, r in enumerate(results)
        if r.layer.additive and tables.layer_noise(k)
    }
    if any(r.layer.soft is not None or r.layer.additive for r in results):
        imap, clean, noisy = _compose_soft(results, tables, shape, z, noisy_out, own_z)
    else:
        imap, clean, noisy = _compose(results, tables, shape, z, noisy_out)
    layer_map = tables.layer.take(imap)
    layers = None
    if keep_layers:
        layers = []
        for k, r in enumerate(results):
            zk = own_z.get(k) if r.layer.additive else z
            if r.layer.soft is not None:
                layers.append(_soft_layer_image(r, tables, shape, zk))
                continue
            lmap, lclean, lnoisy = _compose([r], tables, shape, zk)
            alpha = (lmap > 0).astype(np.float32)[:, :, None]
            layers.append(
                LayerImage(
                    name=r.layer.name,
                    noisy=np.concatenate([lnoisy, alpha], axis=2),
                    clean=np.concatenate([lclean, alpha], axis=2),
                )
            )
    return Composite(
        clean=clean, noisy=noisy, instance_map=imap, layer_map=layer_map, layers=layers
    )
