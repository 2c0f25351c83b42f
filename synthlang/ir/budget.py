"""Memory budget of a render: estimate the peak bytes of one sample before drawing it.

The compiler refuses a scene whose estimate exceeds ``Limits.max_render_bytes``
(:func:`check_render_bytes`); ``render()`` checks again before drawing. The
per-pixel constants were calibrated with :mod:`tracemalloc` (docs/robustness.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from synthlang.common.errors import ResourceLimitError
from synthlang.common.limits import Limits, format_bytes
from synthlang.ir.degrade import APPEARANCE_PASSES, ScaleJitter
from synthlang.ir.footprint import TEXTURED_BYTES_PER_PIXEL, box_pixels
from synthlang.ir.scene import Scene
from synthlang.ir.values import PatchTexture, support

__all__ = [
    "RenderEstimate",
    "estimate_render_bytes",
    "check_render_bytes",
    "render_bytes_message",
    "RENDER_BYTES_HINT",
]


IMAGE_BYTES_PER_PIXEL = 128
"""Image-sized buffers of every render (images, id maps, mask, compositing temporaries)."""
DEGRADE_BYTES_PER_PIXEL = 160
"""Extra buffers when the scene has degradations (blur padding, noise draws)."""
APPEARANCE_BYTES_PER_PIXEL = 96
"""Extra buffers of appearance and JPEG passes (float64 stain concentrations, 8-bit copies)."""
RESCALE_BYTES_PER_PIXEL = 112
"""Extra buffers of a ``scale`` pass per output pixel (float64 interpolation, label copies)."""
SOFT_BYTES_PER_PIXEL = 48
"""Extra image-sized buffers when a layer has soft edges (the hard runs' own composites)."""
LAYER_BYTES_PER_PIXEL = 16
"""Per layer: its coverage map and the placement's occupancy and free-pixel maps."""
KEEP_LAYER_BYTES_PER_PIXEL = 48
"""Per layer, only with ``keep_layers`` (previews): the layer's RGBA image and temporaries."""
AREA_COVER = 4
"""Bounding boxes of a fill, inside or area layer's objects cover the image at most this often."""
FLAT_BYTES_PER_PIXEL = 2
"""Per bounding-box pixel of a flat-coloured object: its mask and contour."""
SHADE_BYTES_PER_PIXEL = 4
"""Per bounding-box pixel of an object with chromatin: its float32 shading field."""
CHROMATIN_BYTES_PER_PIXEL = 96
"""Per box pixel of the one object whose chromatin is being drawn (noise, filters, distances)."""
SOFT_OBJECT_BYTES_PER_PIXEL = 128
"""Per pixel of the grown box of the one soft object being blended (distances, colours)."""
CHANNEL_BYTES_PER_PIXEL = 40
"""Per image channel beyond three (clean, noisy, noise draws and temporaries of each)."""
ADDITIVE_BYTES_PER_PIXEL = 24
"""Per image channel when a layer is additive: its own image pair and noise field."""


@dataclass(frozen=True)
class RenderEstimate:
    """Estimated peak memory of rendering one sample, by part.

    Attributes
    ----------
    images : int
        Bytes of image-sized buffers.
    layers : dict of str to int
        Bytes of each layer's objects (masks, textures) at their worst-case count.
    """

    images: int
    layers: dict[str, int]

    @property
    def total(self) -> int:
        """Estimated peak bytes of one render."""
        return self.images + sum(self.layers.values())

    def largest_layer(self) -> tuple[str, int] | None:
        """The layer whose objects take most memory, with its bytes (None without layers)."""
        if not self.layers:
            return None
        name = max(self.layers, key=lambda k: self.layers[k])
        return name, self.layers[name]


def estimate_render_bytes(scene: Scene, *, keep_layers: bool = False) -> RenderEstimate:
    """Estimate the peak memory of rendering one sample of a scene, before rendering it.

    The estimate is an upper bound for typical scenes (it was calibrated
    with :mod:`tracemalloc` on the shipped scenarios, which use about half of
    it): image-sized buffers from the image size, the number of layers, the
    degradations and ``keep_layers`` (with a ``scale`` pass, at the largest
    canvas the sample can be drawn on, plus the resampling buffers); plus,
    per layer, the objects' masks and textures in their bounding boxes --
    for ``place count`` at the largest count and the largest object, for
    other layers (``fill``, ``inside``,
    area shapes), whose objects sit on free pixels, inside hosts or tile
    the image, :data:`AREA_COVER` times the image -- and one object as it is
    drawn before placement (a patch cut-out at its largest scale), or one
    object's chromatin or soft edge as it is made (whichever needs most).

    Parameters
    ----------
    scene : synthlang.ir.Scene
        The compiled scene.
    keep_layers : bool, optional
        Whether every layer's image is kept (previews).

    Returns
    -------
    RenderEstimate
        The estimate, by part.

    Examples
    --------
    >>> from synthlang import ir
    >>> scene = ir.Scene(name="s", size=(100, 100), layers=(
    ...     ir.Layer(index=0, name="bg", shape=ir.FillShape(),
    ...              color=ir.MVNColor(mean=(0.9, 0.9, 0.9))),))
    >>> estimate_render_bytes(scene).total
    1520000
    """
    out_pixels = scene.size[0] * scene.size[1]
    rows, cols = scene.size
    extra = 0
    for spec in scene.degrade:
        if isinstance(spec, ScaleJitter):
            # drawn on a canvas of size / factor: at most size / (smallest factor)
            low = max(support(spec.factor)[0], 1e-3)
            rows = max(rows, math.ceil(rows / low))
            cols = max(cols, math.ceil(cols / low))
            extra = max(extra, RESCALE_BYTES_PER_PIXEL * out_pixels)
    if any(spec.kind in APPEARANCE_PASSES or spec.kind == "jpeg" for spec in scene.degrade):
        extra += APPEARANCE_BYTES_PER_PIXEL * out_pixels
    pixels = rows * cols
    per_pixel = IMAGE_BYTES_PER_PIXEL + LAYER_BYTES_PER_PIXEL * len(scene.layers)
    if scene.degrade:
        per_pixel += DEGRADE_BYTES_PER_PIXEL
    if keep_layers:
        per_pixel += KEEP_LAYER_BYTES_PER_PIXEL * len(scene.layers)
    if any(layer.soft is not None for layer in scene.layers):
        per_pixel += SOFT_BYTES_PER_PIXEL
    channels = scene.n_channels
    per_pixel += CHANNEL_BYTES_PER_PIXEL * max(channels - 3, 0)
    additive = sum(1 for layer in scene.layers if layer.additive)
    if additive:  # one noise field per additive layer, one layer image at a time
        per_pixel += ADDITIVE_BYTES_PER_PIXEL * channels + 4 * channels * additive
    counts: dict[str, float] = {}
    layers: dict[str, int] = {}
    for layer in scene.layers:
        shape = layer.shape
        textured = shape.textured or isinstance(layer.color, PatchTexture)
        bpp = TEXTURED_BYTES_PER_PIXEL if textured else FLAT_BYTES_PER_PIXEL
        if layer.chromatin is not None:
            bpp += SHADE_BYTES_PER_PIXEL
        area_bound = AREA_COVER * pixels
        side = shape.object_side()
        box = box_pixels(side, rows, cols)
        placement = layer.placement
        count = math.inf
        if placement is not None and placement.mode == "count" and placement.count is not None:
            count = max(support(placement.count)[1], 0.0)
        elif placement is not None and placement.mode == "inside" and placement.inside:
            count = counts.get(placement.inside, math.inf)
            if placement.count is not None:  # objects per host
                per_host = max(support(placement.count)[1], 0.0)
                count = count * per_host if per_host > 0 else 0.0
        counts[layer.name] = count
        if placement is not None and placement.mode == "count":
            covered = count * box
        else:
            covered = min(count * box, area_bound)
        # one object as drawn before placement (the shape says how: ellipse window, cut-out)
        draw = shape.draw_bytes(side, rows, cols)
        # one object at a time: its chromatin as it is drawn, its soft edge as it is blended
        if layer.chromatin is not None:
            draw = max(draw, box * CHROMATIN_BYTES_PER_PIXEL)
        if layer.soft is not None and math.isfinite(side):
            grown = side + support(layer.soft.width)[1] + 4
            draw = max(draw, box_pixels(grown, rows, cols) * SOFT_OBJECT_BYTES_PER_PIXEL)
        layers[layer.name] = int(min(covered * bpp + draw, 1e18))
    return RenderEstimate(images=pixels * per_pixel + extra, layers=layers)


def check_render_bytes(
    scene: Scene, limits: Limits | None = None, *, keep_layers: bool = False
) -> RenderEstimate:
    """Refuse a scene whose estimated render memory exceeds ``limits.max_render_bytes``.

    Parameters
    ----------
    scene : synthlang.ir.Scene
        The compiled scene.
    limits : Limits, optional
        The limits (from the environment when omitted).
    keep_layers : bool, optional
        Whether every layer's image is kept (previews).

    Returns
    -------
    RenderEstimate
        The estimate, when it is within the limit.

    Raises
    ------
    ResourceLimitError
        With the estimate, its largest part and the variable that raises the limit.
    """
    limits = limits or Limits.from_env()
    estimate = estimate_render_bytes(scene, keep_layers=keep_layers)
    if estimate.total > limits.max_render_bytes:
        raise ResourceLimitError(
            render_bytes_message(estimate, limits),
            hint=RENDER_BYTES_HINT,
        )
    return estimate


RENDER_BYTES_HINT = (
    "make the image or the object counts smaller, or raise the limit with the environment "
    "variable SYNTHLANG_MAX_RENDER_BYTES (in bytes)"
)


def render_bytes_message(estimate: RenderEstimate, limits: Limits) -> str:
    """The message for an estimate above ``limits.max_render_bytes``."""
    parts = [f"{format_bytes(estimate.images)} for image-sized buffers"]
    largest = estimate.largest_layer()
    if largest is not None and largest[1] > 0:
        parts.append(f"{format_bytes(largest[1])} for the objects of layer `{largest[0]}`")
    return (
        f"rendering one sample may need about {format_bytes(estimate.total)} of memory "
        f"({', '.join(parts)}), more than the limit of "
        f"{format_bytes(limits.max_render_bytes)} (SYNTHLANG_MAX_RENDER_BYTES)"
    )
