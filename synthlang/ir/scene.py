"""The compiled scene: layers, degradations and mask rules, with its build order and hash."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

from pydantic import Field, model_validator

from synthlang.common.channels import MAX_CHANNELS, RGB_CHANNELS
from synthlang.ir.base import IRModel
from synthlang.ir.degrade import DegradePass
from synthlang.ir.layer import Layer
from synthlang.ir.masks import BACKGROUND, MAX_CLASSES, MaskClass, MaskRule
from synthlang.ir.relative import shape_anchors
from synthlang.ir.shapes import GrownShape
from synthlang.ir.values import MVNColor, RegionSpec

__all__ = ["Scene", "layer_dependencies", "scene_hash", "channel_problem", "RGB_ONLY_PASSES"]

RGB_ONLY_PASSES = ("stain", "saturation")
"""Degradation passes defined on RGB only (stain vectors, grey level)."""
_CHANNEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Scene(IRModel):
    """A compiled scene: everything the engine needs to render samples."""

    name: str = Field(..., description="Scene name from `scene NAME { ... }`.")
    size: tuple[int, int] = Field(..., description="Image size (rows, cols).")
    pixel_size_um: float | None = Field(
        None, gt=0, description="Size of a pixel in micrometres (`pixel 0.5 um`), if given."
    )
    regions: RegionSpec | None = Field(None, description="Region decomposition, if any.")
    layers: tuple[Layer, ...] = Field(..., min_length=1, description="Layers, bottom to top.")
    degrade: tuple[DegradePass, ...] = Field((), description="Degradations of the noisy image.")
    masks: tuple[MaskRule, ...] = Field((), description="Mask rules (or-combined).")
    classes: tuple[MaskClass, ...] | None = Field(
        None,
        description="Mask classes, ids 1.. in order (None: the plain `masks` are one class).",
    )
    channels: tuple[str, ...] | None = Field(
        None,
        description="Names of the image channels (`channels [dapi, cd45]`); None: RGB, "
        "the three channels r, g, b.",
    )
    bits: Literal[8, 16] | None = Field(
        None, description="Bit depth of the image files (`bits 16`); None: 8."
    )
    source: str | None = Field(None, description="Path of the main scene file, if any.")
    sources: tuple[str, ...] = Field(
        (), description="All files that contributed (main file first, then imports)."
    )

    @model_validator(mode="after")
    def _check_channels(self) -> Scene:
        problem = channel_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    def channel_names(self) -> tuple[str, ...]:
        """Names of the image channels (``("r", "g", "b")`` for an RGB scene)."""
        return self.channels if self.channels is not None else RGB_CHANNELS

    @property
    def n_channels(self) -> int:
        """Number of image channels (3 for RGB)."""
        return len(self.channel_names())

    @property
    def bit_depth(self) -> int:
        """Bit depth of the image files (8 unless ``bits 16``)."""
        return self.bits or 8

    @model_validator(mode="after")
    def _check_classes(self) -> Scene:
        if self.classes is None:
            return self
        if self.masks:
            raise ValueError("a scene has either plain mask rules or mask classes, not both")
        if not 1 <= len(self.classes) <= MAX_CLASSES:
            raise ValueError(
                f"a scene has 1 to {MAX_CLASSES} mask classes, got {len(self.classes)}"
            )
        names = [c.name for c in self.classes]
        if BACKGROUND in names:
            raise ValueError(f"the class name {BACKGROUND!r} is reserved for class id 0")
        if len(set(names)) < len(names):
            raise ValueError(f"mask class names must be unique, got {names}")
        return self

    def mask_classes(self) -> tuple[MaskClass, ...]:
        """The effective mask classes: ``classes``, or the plain ``masks`` as one class.

        The one class of plain rules is named after their category when they all
        name the same one (``mask`` otherwise, or when that category is
        ``background``); a scene without mask rules has no classes.

        Examples
        --------
        >>> from synthlang.ir import FillShape, MVNColor
        >>> bg = Layer(index=0, name="bg", shape=FillShape(), color=MVNColor(mean=(1, 1, 1)))
        >>> scene = Scene(name="s", size=(8, 8), layers=(bg,), masks=(MaskRule(category="bg"),))
        >>> [(c.name, len(c.rules)) for c in scene.mask_classes()]
        [('bg', 1)]
        """
        if self.classes is not None:
            return self.classes
        if not self.masks:
            return ()
        categories = {rule.category for rule in self.masks}
        name = categories.pop() if len(categories) == 1 else "mask"
        return (MaskClass(name="mask" if name == BACKGROUND else name, rules=self.masks),)

    def class_names(self) -> tuple[str, ...]:
        """Names of the mask classes; class id ``i`` is ``class_names()[i - 1]``."""
        return tuple(c.name for c in self.mask_classes())

    def mask_rules(self) -> tuple[MaskRule, ...]:
        """Every mask rule of the scene, class by class (together they make the binary mask)."""
        return tuple(rule for c in self.mask_classes() for rule in c.rules)

    def layer(self, name: str) -> Layer:
        """Return the layer of category ``name``.

        Raises
        ------
        KeyError
            If there is no such layer.
        """
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def categories(self) -> tuple[str, ...]:
        """Category names, bottom to top."""
        return tuple(layer.name for layer in self.layers)

    def render_order(self) -> tuple[int, ...]:
        """Layer indices in the order the engine must build them.

        A layer is built after the layers it depends on (:func:`layer_dependencies`):
        its ``inside`` host, its ``overlap ... with`` categories, the source of a
        ``grown`` shape and the layers its placement and shape are relative to. The
        source of a grown shape may be an *upper* layer (the
        paper's tumour cells, layer 2, are grown from the tumour nuclei of layer 3),
        so the build order can differ from the compositing order, which is always
        bottom to top. Ties are broken by layer index.

        Raises
        ------
        ValueError
            If the dependencies form a cycle; the message names it.

        Examples
        --------
        >>> from synthlang.ir import Constant, FillShape, MVNColor
        >>> scene = Scene(name="s", size=(8, 8), layers=(
        ...     Layer(index=0, name="cell",
        ...           shape=GrownShape(source="nucleus", time=Constant(value=2)),
        ...           color=MVNColor(mean=(1, 0, 0))),
        ...     Layer(index=1, name="nucleus", shape=FillShape(), color=MVNColor(mean=(0, 0, 1)))))
        >>> scene.render_order()
        (1, 0)
        """
        import heapq

        index = {layer.name: layer.index for layer in self.layers}
        deps = {
            layer.index: {index[d] for d in layer_dependencies(layer) if d in index} - {layer.index}
            for layer in self.layers
        }
        users: dict[int, list[int]] = {i: [] for i in deps}
        for i, ds in deps.items():
            for d in ds:
                users[d].append(i)
        waiting = {i: len(ds) for i, ds in deps.items()}
        ready = [i for i, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for u in users[i]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, u)
        if len(order) < len(deps):
            stuck = {i for i in deps if i not in order}
            names = " -> ".join(self.layers[i].name for i in _cycle(deps, stuck, min(stuck)))
            raise ValueError(f"layer dependencies form a cycle: {names}")
        return tuple(order)


def layer_dependencies(layer: Layer) -> tuple[str, ...]:
    """Categories a layer needs before it can be built (host, overlap targets, growth source)."""
    deps: list[str] = []
    if layer.placement is not None:
        if layer.placement.inside:
            deps.append(layer.placement.inside)
        deps.extend(layer.placement.overlap.against)
        if layer.placement.near is not None:
            deps.append(layer.placement.near.category)
        density = layer.placement.density
        if density is not None and density.kind == "falloff":
            deps.append(density.source)  # type: ignore[union-attr]
        if layer.placement.ring is not None:
            deps.append(layer.placement.ring.category)
        if layer.placement.in_layer is not None:
            deps.append(layer.placement.in_layer.category)
    deps.extend(shape_anchors(layer.shape))
    if isinstance(layer.shape, GrownShape):
        deps.append(layer.shape.source)
    return tuple(dict.fromkeys(d for d in deps if d != layer.name))


def channel_problem(scene: Scene) -> str | None:
    """What makes a scene's colours disagree with its channels (None: nothing).

    Channel names are distinct names; every colour (layer and contour ``mvn``) has one
    value per channel; patch shapes and textures (RGB libraries) and the RGB-only passes
    (:data:`RGB_ONLY_PASSES`) need an RGB scene.
    """
    names = scene.channel_names()
    n = len(names)
    if not 1 <= n <= MAX_CHANNELS:
        return f"a scene has 1 to {MAX_CHANNELS} channels, got {n}"
    if len(set(names)) < n or not all(_CHANNEL_NAME.match(c) for c in names):
        return f"channel names must be distinct names, got {list(names)}"
    for layer in scene.layers:
        contour = layer.contour.color if layer.contour is not None else None
        for colour in (layer.color, contour):
            if isinstance(colour, MVNColor) and colour.channels != n:
                return (
                    f"layer {layer.name!r}: mvn mean has {colour.channels} values, the scene "
                    f"has {n} channels"
                )
        textured = layer.shape.textured or not isinstance(layer.color, (MVNColor, type(None)))
        if n != 3 and textured:
            return f"layer {layer.name!r}: patch libraries are RGB; the scene has {n} channels"
    for spec in scene.degrade:
        if n != 3 and spec.kind in RGB_ONLY_PASSES:
            return f"the {spec.kind} pass works on RGB images; the scene has {n} channels"
    return None


def _cycle(deps: dict[int, set[int]], stuck: set[int], start: int) -> list[int]:
    """Follow dependencies inside ``stuck`` from ``start`` until one repeats; return the cycle.

    Every layer left over by the topological sort waits for another left-over layer,
    so the walk always finds one.
    """
    path = [start]
    seen = {start: 0}
    node = start
    while True:
        node = min(d for d in deps[node] if d in stuck)
        if node in seen:
            return path[seen[node] :] + [node]
        seen[node] = len(path)
        path.append(node)


_UNSET_OPTIONAL = (
    *("soft", "chromatin", "pixel_size_um", "near", "density", "clusters", "classes"),
    *("ring", "in_layer", "scale"),
    *("blend", "channels", "bits"),
)
"""Fields added after scene hashes were first recorded: left out of the hash while unset,
so a scene that does not use them keeps its hash (and its datasets stay resumable)."""


def _strip_spans(obj: object) -> object:
    if isinstance(obj, dict):
        return {
            k: _strip_spans(v)
            for k, v in obj.items()
            if k not in ("span", "source", "sources") and not (k in _UNSET_OPTIONAL and v is None)
        }
    if isinstance(obj, list):
        return [_strip_spans(v) for v in obj]
    return obj


def scene_hash(scene: Scene) -> str:
    """Return a SHA-256 hex digest of the scene's meaning.

    Spans and file names are excluded, so reformatting a scene or moving it
    to another folder does not change the hash; any change of a number,
    name or rule does. Patch libraries are identified by path only.

    Examples
    --------
    >>> from synthlang.ir import FillShape, MVNColor
    >>> len(scene_hash(Scene(name="s", size=(8, 8), layers=(
    ...     Layer(index=0, name="bg", shape=FillShape(), color=MVNColor(mean=(1, 1, 1))),))))
    64
    """
    data = _strip_spans(scene.model_dump(mode="json"))
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
