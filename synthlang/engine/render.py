"""Render one sample of a compiled scene.

The stages, in the order in which they draw from the sample's generator:

0. with a ``scale`` pass: its zoom factor (the scene is then drawn on a
   canvas of ``size / factor`` pixels and every output is resampled to
   ``size`` before the other passes, :mod:`synthlang.engine.rescale`);
1. regions (labels, then one permutation of the labels);
2. per layer, bottom to top: instances (area shape, or object shape +
   placement), then its texture (object colours), then its contours;
3. compositing (one standard normal per pixel and channel for colour noise, and one
   more field per additive layer with pixel noise);
4. the ``degrade`` passes, in order (appearance passes on the clean and the
   noisy image, the others on the noisy image only);
5. mask rules and classes (no randomness): the binary mask, the class map and the
   map of labelled instances.

The per-sample :class:`numpy.random.Generator` is the only source of
randomness, so the same scene and seed give byte-identical arrays.
"""

from __future__ import annotations

import numpy as np

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine.base import (
    AREA_SHAPES,
    InstanceRecord,
    LayerImage,
    LayerResult,
    RenderContext,
    Sample,
)
from synthlang.engine.composite import composite
from synthlang.engine.degrade import degrade_pair
from synthlang.engine.placement import place_objects
from synthlang.engine.regions import build_regions
from synthlang.engine.rescale import Resampler, canvas_size
from synthlang.engine.rules import ObjectTable, apply_classes
from synthlang.engine.sampling import draw
from synthlang.engine.scratch import scratch
from synthlang.engine.shapes import build_area_instances
from synthlang.engine.textures import texture_layer
from synthlang.engine.visibility import visible_masks
from synthlang.ir.budget import check_render_bytes

__all__ = ["as_generator", "render_layer", "render"]

Seed = int | np.random.SeedSequence | np.random.Generator


def as_generator(seed: Seed) -> np.random.Generator:
    """Return the generator for a seed (a Generator is used as is, not copied).

    Examples
    --------
    >>> as_generator(3).random() == as_generator(np.random.SeedSequence(3)).random()
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError("a seed must be an int, SeedSequence or Generator, not bool")
    if isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(seed)
    raise TypeError(f"a seed must be an int, SeedSequence or Generator, got {type(seed).__name__}")


def _coverage(instances: list, shape: tuple[int, int]) -> np.ndarray:
    cov = np.zeros(shape, dtype=bool)
    for inst in instances:
        np.copyto(cov[inst.slices], True, where=inst.mask)
    cov.setflags(write=False)
    return cov


def render_layer(layer: ir.Layer, ctx: RenderContext, rng: np.random.Generator) -> LayerResult:
    """Make, colour and contour one layer's instances and register the layer on ``ctx``.

    Raises
    ------
    RenderError
        If the shape kind is unknown.
    """
    if layer.shape.kind in AREA_SHAPES:
        instances = build_area_instances(layer, ctx, rng)
    elif layer.placement is not None:
        instances = place_objects(layer, ctx, rng)
    else:
        raise RenderError(
            f"layer {layer.name!r}: shape {layer.shape.kind!r} is neither a registered area "
            "shape nor placed by a placement",
            layer.span.to_span() if layer.span else None,
        )
    chol, contour_chol = texture_layer(layer, instances, ctx, rng)
    result = LayerResult(
        layer=layer,
        instances=instances,
        coverage=_coverage(instances, ctx.shape),
        chol=chol,
        contour_chol=contour_chol,
    )
    ctx.layers[layer.name] = result
    ctx.instances.extend(instances)
    return result


def render(scene: ir.Scene, seed: Seed = 0, *, keep_layers: bool = False) -> Sample:
    """Render one sample of a scene.

    Parameters
    ----------
    scene : synthlang.ir.Scene
        The compiled scene.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        The sample's seed; a Generator is used (and advanced) as is.
    keep_layers : bool
        Also return every layer alone as RGBA (for previews).

    Returns
    -------
    Sample
        Noisy and clean images, mask, class map and labelled-instance map, id
        maps, instance records, counts, shortfalls, region labels (and layer images).

    Raises
    ------
    synthlang.common.errors.ResourceLimitError
        If the estimated memory of the render exceeds ``SYNTHLANG_MAX_RENDER_BYTES``
        (:func:`synthlang.common.limits.check_render_bytes`); checked before anything is drawn.

    Warns
    -----
    synthlang.engine.placement.PlacementWarning
        When a placement could not be met (also recorded in ``shortfalls``).

    Examples
    --------
    >>> scene = ir.Scene(name="s", size=(32, 32), layers=(
    ...     ir.Layer(index=0, name="bg", shape=ir.FillShape(),
    ...              color=ir.MVNColor(mean=(0.9, 0.9, 0.9))),
    ...     ir.Layer(index=1, name="cell",
    ...              shape=ir.EllipseShape(semi_axes=(ir.Uniform(low=3, high=5),) * 2),
    ...              placement=ir.Placement(mode="count", count=ir.Constant(value=4)),
    ...              color=ir.MVNColor(mean=(0.5, 0.2, 0.6)))),
    ...     masks=(ir.MaskRule(category="cell"),))
    >>> s = render(scene, seed=1)
    >>> s.noisy.shape, s.noisy.dtype.name, s.counts
    ((32, 32, 3), 'float32', {'bg': 1, 'cell': 4})
    """
    check_render_bytes(scene, keep_layers=keep_layers)
    rng = as_generator(seed)
    resampler = None
    work_scene = scene
    zoom = next((p for p in scene.degrade if isinstance(p, ir.ScaleJitter)), None)
    if zoom is not None:
        canvas = canvas_size(scene.size, draw(zoom.factor, rng))
        if canvas != tuple(scene.size):
            resampler = Resampler(canvas, (int(scene.size[0]), int(scene.size[1])))
            work_scene = scene.model_copy(update={"size": canvas})
    ctx = RenderContext(work_scene, rng)
    build_regions(ctx, rng)
    # build in dependency order (a grown layer may start from an upper layer) ...
    built = {i: render_layer(scene.layers[i], ctx, rng) for i in scene.render_order()}
    # ... but composite bottom to top
    results = [built[i] for i in range(len(scene.layers))]
    # with degradations the composite's noisy image is a temporary: keep it in scratch memory
    channels = scene.n_channels
    work = scratch("render.noisy", ctx.shape + (channels,), np.float32) if scene.degrade else None
    comp = composite(
        results, ctx.shape, rng, keep_layers=keep_layers, noisy_out=work, channels=channels
    )
    if resampler is None:
        clean, noisy = degrade_pair(comp.clean, comp.noisy, scene.degrade, rng)
        if work is not None and np.may_share_memory(noisy, work):
            noisy = noisy.copy()
    # additive layers hide nothing: visible pixels are then not those of the instance map
    visible = visible_masks(results, ctx.shape) if any(r.layer.additive for r in results) else None
    table = ObjectTable.from_instances(
        ctx.instances,
        comp.instance_map,
        coverage={r.layer.name: r.coverage for r in results},
        visible=visible,
    )
    ruled = apply_classes(scene.mask_classes(), table)
    areas = table.areas.tolist()
    visible_areas = table.visible_areas.tolist()
    classified = ruled.classified.tolist()
    label = ruled.label.tolist()
    centers = [(float(inst.center[0]), float(inst.center[1])) for inst in ctx.instances]
    mask, instance_map, layer_map = ruled.mask, comp.instance_map, comp.layer_map
    labels, label_instances = ruled.labels, ruled.label_instances
    regions = ctx.regions
    layers = comp.layers
    if resampler is not None:
        # pixel-size jitter: labels by nearest neighbour, images linearly, then the passes
        mask = resampler.labels(mask)
        labels = resampler.labels(labels)
        label_instances = resampler.labels(label_instances)
        instance_map = resampler.labels(instance_map)
        layer_map = resampler.labels(layer_map)
        regions = None if regions is None else resampler.labels(regions)
        if layers is not None:
            layers = [
                LayerImage(name=li.name, noisy=resampler.labels(li.noisy),
                           clean=resampler.labels(li.clean))
                for li in layers
            ]  # fmt: skip
        centers = [resampler.point(r, c) for r, c in centers]
        areas = [resampler.full_area(inst) for inst in ctx.instances]
        if visible is not None:
            visible_areas = [
                resampler.box_area(inst.r0, inst.c0, visible[inst.id]) for inst in ctx.instances
            ]
        else:
            top = max((inst.id for inst in ctx.instances), default=0)
            counted = np.bincount(instance_map.ravel(), minlength=top + 1)
            visible_areas = [int(counted[inst.id]) for inst in ctx.instances]
        clean, noisy = degrade_pair(
            resampler.image(comp.clean), resampler.image(comp.noisy), scene.degrade, rng
        )
    assert clean is not None  # degrade_pair returns the clean image it was given
    records = [
        InstanceRecord(
            id=inst.id,
            category=inst.category,
            layer=inst.layer,
            center=centers[k],
            area=areas[k],
            visible_area=visible_areas[k],
            parent=inst.parent,
            classified=classified[k],
            label=label[k],
        )
        for k, inst in enumerate(ctx.instances)
    ]
    records.sort(key=lambda r: r.id)
    return Sample(
        noisy=noisy,
        clean=clean,
        mask=mask,
        instance_map=instance_map,
        layer_map=layer_map,
        instances=records,
        counts={r.layer.name: len(r.instances) for r in results},
        shortfalls=list(ctx.shortfalls),
        regions=None if regions is None else np.array(regions, dtype=np.int32),
        layers=layers,
        labels=labels,
        label_instances=label_instances,
        classes=scene.class_names(),
        channels=scene.channel_names(),
    )
