"""Core data structures and registries of the rendering engine.

The engine reads only the Scene IR (:mod:`synthlang.ir`). Rendering one
sample goes::

    regions  -> per layer (bottom to top): shapes/placement -> instances -> texture
             -> composite (top-down, alpha exactly 1 on object pixels)
             -> degrade (appearance passes: clean and noisy; noise passes: noisy only)
             -> mask rules (a ``scale`` pass renders on a resized canvas and resamples)

Named building blocks live in registries keyed by the IR ``kind``:

* :data:`REGION_BUILDERS` -- ``fn(spec, shape, rng) -> labels``
* :data:`OBJECT_SHAPES` -- ``fn(shape_ir, rng, ctx) -> ObjectDraw`` (placed by a Placement)
* :data:`AREA_SHAPES` -- ``fn(layer_ir, ctx, rng) -> list[Instance]`` (fill, grown, ribbon)
* :data:`TEXTURES` -- ``fn(color_ir, layer_ir, instances, ctx, rng) -> chol or None``
* :data:`DEGRADATIONS` -- ``fn(image, pass_ir, rng) -> image`` (noisy image only)
* :data:`APPEARANCE` -- ``fn(images, pass_ir, rng) -> list of images`` (clean and noisy alike)

Adding a building block is a grammar rule, an IR model and a function
registered with :func:`register` (see ``docs/extending.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from synthlang import ir

__all__ = [
    "Instance",
    "ObjectDraw",
    "LayerResult",
    "Shortfall",
    "InstanceRecord",
    "LayerImage",
    "Sample",
    "RenderContext",
    "REGION_BUILDERS",
    "OBJECT_SHAPES",
    "AREA_SHAPES",
    "TEXTURES",
    "DEGRADATIONS",
    "APPEARANCE",
    "register",
]


@dataclass(eq=False)
class Instance:
    """One object of one layer, stored in its bounding box.

    Attributes
    ----------
    id : int
        Global id, 1-based, unique in the sample, in creation order.
    layer : int
        Index of the layer (0 = bottom).
    category : str
        Category name (the layer name).
    r0, c0 : int
        Top-left corner of the bounding box in image coordinates; the box is
        clipped to the image.
    mask : numpy.ndarray
        Boolean ``(h, w)`` object pixels inside the box.
    center : tuple of float
        ``(row, col)`` centre in image coordinates (the placement point for
        placed objects, the centroid otherwise).
    parent : int
        Id of the host (``inside`` placement) or source (``grown``) instance; 0 if none.
    mean : numpy.ndarray or None
        ``(3,)`` float32 clean colour for flat-coloured (mvn) objects.
    clean, noisy : numpy.ndarray or None
        ``(h, w, 3)`` float32 texture for textured objects (patches, lattices).
        ``noisy`` is the texture before degradation; no mvn noise is added to it.
    contour : numpy.ndarray or None
        Boolean ``(h, w)`` contour pixels (subset of ``mask``), if the layer draws contours.
    contour_mean : numpy.ndarray or None
        ``(3,)`` float32 clean colour of the contour.
    shade : numpy.ndarray or None
        ``(h, w)`` float32 factor on the clean colour of a flat-coloured object
        (``chromatin``); textured objects have it folded into ``clean`` and ``noisy``.
    soft : float
        Width (px) of the object's alpha falloff (``soft``); 0 for a hard edge.
    """

    id: int
    layer: int
    category: str
    r0: int
    c0: int
    mask: np.ndarray
    center: tuple[float, float]
    parent: int = 0
    mean: np.ndarray | None = None
    clean: np.ndarray | None = None
    noisy: np.ndarray | None = None
    contour: np.ndarray | None = None
    contour_mean: np.ndarray | None = None
    shade: np.ndarray | None = None
    soft: float = 0.0
    _area: int | None = field(default=None, repr=False)

    @property
    def r1(self) -> int:
        """Exclusive bottom row of the bounding box."""
        return self.r0 + self.mask.shape[0]

    @property
    def c1(self) -> int:
        """Exclusive right column of the bounding box."""
        return self.c0 + self.mask.shape[1]

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """``(r0, c0, r1, c1)`` with exclusive ends."""
        return (self.r0, self.c0, self.r1, self.c1)

    @property
    def slices(self) -> tuple[slice, slice]:
        """Slices of the bounding box into an image-sized array."""
        return (slice(self.r0, self.r1), slice(self.c0, self.c1))

    @property
    def area(self) -> int:
        """Number of object pixels (cached)."""
        if self._area is None:
            self._area = int(np.count_nonzero(self.mask))
        return self._area


@dataclass
class ObjectDraw:
    """A shape drawn in its own frame, before placement.

    Attributes
    ----------
    mask : numpy.ndarray
        Boolean ``(h, w)`` object pixels.
    anchor : tuple of float
        ``(row, col)`` of the object's centre within the local frame; the
        placement puts this point on the chosen centre.
    clean, noisy : numpy.ndarray or None
        ``(h, w, 3)`` float32 own texture (patch shapes), else None.
    """

    mask: np.ndarray
    anchor: tuple[float, float]
    clean: np.ndarray | None = None
    noisy: np.ndarray | None = None


@dataclass
class Shortfall:
    """A placement that could not be met: ``placed`` of ``requested`` objects."""

    layer: str
    requested: int | None
    placed: int
    attempts: int
    reason: str

    def message(self) -> str:
        """One line for warnings and the manifest."""
        want = "as many as fit" if self.requested is None else str(self.requested)
        return (
            f"layer {self.layer!r}: placed {self.placed} of {want} objects "
            f"after {self.attempts} attempts ({self.reason})"
        )


@dataclass
class LayerResult:
    """A finished layer: its instances, its coverage and its pixel-noise factor."""

    layer: ir.Layer
    instances: list[Instance]
    coverage: np.ndarray
    chol: np.ndarray | None = None
    contour_chol: np.ndarray | None = None


@dataclass(frozen=True)
class InstanceRecord:
    """What a sample reports about one instance (also written to the dataset).

    ``label`` is the instance's mask class id (1.. in the scene's class order, 0 for
    none; ``classified`` is ``label > 0``).
    """

    id: int
    category: str
    layer: int
    center: tuple[float, float]
    area: int
    visible_area: int
    parent: int
    classified: bool
    label: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "id": self.id,
            "category": self.category,
            "layer": self.layer,
            "center": [round(self.center[0], 3), round(self.center[1], 3)],
            "area": self.area,
            "visible_area": self.visible_area,
            "parent": self.parent,
            "classified": self.classified,
            "label": self.label,
        }


@dataclass
class LayerImage:
    """One layer rendered alone (for previews): RGBA, alpha exactly 1 on object pixels."""

    name: str
    noisy: np.ndarray
    clean: np.ndarray


_NO_MAP: np.ndarray = np.zeros((0, 0), dtype=np.uint8)
"""Default of a sample's class maps before ``__post_init__`` derives them."""


@dataclass
class Sample:
    """One rendered sample.

    Attributes
    ----------
    noisy : numpy.ndarray
        ``(H, W, C)`` float32 in [0, 1]: the network input (``C = 3`` for RGB).
    clean : numpy.ndarray
        ``(H, W, C)`` float32 in [0, 1]: the ground-truth image.
    mask : numpy.ndarray
        ``(H, W)`` float32 in {0, 1}: the ground-truth mask.
    instance_map : numpy.ndarray
        ``(H, W)`` int32: id of the topmost instance at each pixel, 0 where none.
    layer_map : numpy.ndarray
        ``(H, W)`` int16: index of the topmost layer at each pixel, -1 where transparent.
    instances : list of InstanceRecord
        Every instance, in id order.
    counts : dict
        Number of instances per category.
    shortfalls : list of Shortfall
        Placements that could not be met.
    regions : numpy.ndarray or None
        ``(H, W)`` int32 region labels, if the scene has regions.
    layers : list of LayerImage or None
        Per-layer RGBA images, when rendered with ``keep_layers=True``.
    labels : numpy.ndarray
        ``(H, W)`` uint8: mask class id per pixel (id ``i`` is ``classes[i - 1]``), 0 for
        the background; ``mask == (labels > 0)``.
    label_instances : numpy.ndarray
        ``(H, W)`` int32: id of the labelled instance at each pixel, 0 elsewhere.
    classes : tuple of str
        Names of the mask classes, in id order.
    channels : tuple of str
        Names of the image channels (the last axis of ``noisy`` and ``clean``): ``r, g, b``
        for an RGB scene, else the scene's ``channels [...]``.

    A sample built without ``labels`` (older code) gets them from its mask as one
    class named ``mask``: ``labels = mask > 0``, ``label_instances`` the visible
    instance on those pixels, and ``label = 1`` for its classified records.
    """

    noisy: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    instance_map: np.ndarray
    layer_map: np.ndarray
    instances: list[InstanceRecord]
    counts: dict[str, int]
    shortfalls: list[Shortfall]
    regions: np.ndarray | None = None
    layers: list[LayerImage] | None = None
    labels: np.ndarray = field(default_factory=lambda: _NO_MAP.copy())
    label_instances: np.ndarray = field(default_factory=lambda: _NO_MAP.copy())
    classes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ("r", "g", "b")

    def __post_init__(self) -> None:
        if not np.asarray(self.mask).size:
            return
        if not self.labels.size:  # no class maps given: the mask is one class
            self.labels = (np.asarray(self.mask) > 0).astype(np.uint8)
            if not self.classes and self.labels.any():
                self.classes = ("mask",)
            self.instances = [
                replace(r, label=1) if r.classified and not r.label else r for r in self.instances
            ]
        if not self.label_instances.size:
            ids = np.asarray(self.instance_map)
            self.label_instances = np.where(self.labels > 0, ids, 0).astype(np.int32)


class RenderContext:
    """State shared by the stages while one sample is rendered.

    Parameters
    ----------
    scene : synthlang.ir.Scene
        The compiled scene.
    rng : numpy.random.Generator
        The sample's only source of randomness.
    """

    def __init__(self, scene: ir.Scene, rng: np.random.Generator) -> None:
        self.scene = scene
        self.rng = rng
        self.shape: tuple[int, int] = (int(scene.size[0]), int(scene.size[1]))
        self.regions: np.ndarray | None = None
        self.region_perm: np.ndarray | None = None
        self.layers: dict[str, LayerResult] = {}
        self.instances: list[Instance] = []
        self.shortfalls: list[Shortfall] = []
        self._next_id = 1
        self._area_cache: dict[tuple[int, int, bool], np.ndarray] = {}
        self.maps: dict[tuple[str, str], Any] = {}
        """Maps derived from finished layers, by (what, category) (:mod:`.anchors`)."""

    def new_id(self) -> int:
        """Return the next free instance id."""
        i = self._next_id
        self._next_id += 1
        return i

    def area(self, selection: ir.RegionSelection | None) -> np.ndarray:
        """Return the boolean ``(H, W)`` area of a region selection (all True for None).

        The returned array is cached and must not be modified.
        """
        if selection is None or self.regions is None:
            if selection is not None and selection.invert:
                return np.zeros(self.shape, dtype=bool)
            key = (-1, -1, False)
            if key not in self._area_cache:
                self._area_cache[key] = np.ones(self.shape, dtype=bool)
            return self._area_cache[key]
        key = (selection.start, selection.count, selection.invert)
        if key not in self._area_cache:
            assert self.region_perm is not None
            labels = self.region_perm[selection.start : selection.start + selection.count]
            lut = np.zeros(len(self.region_perm), dtype=bool)
            lut[labels] = True
            area = lut[self.regions]
            if selection.invert:
                area = ~area
            area.setflags(write=False)
            self._area_cache[key] = area
        return self._area_cache[key]

    def selected_labels(self, selection: ir.RegionSelection | None) -> np.ndarray:
        """Return the region labels a selection takes this sample (all labels for None)."""
        if self.region_perm is None:
            return np.zeros(1, dtype=np.int64)
        if selection is None:
            return np.sort(self.region_perm)
        labels = self.region_perm[selection.start : selection.start + selection.count]
        if selection.invert:
            labels = np.setdiff1d(self.region_perm, labels)
        return np.sort(labels)

    def coverage(self, category: str) -> np.ndarray:
        """Boolean ``(H, W)`` union of the full shapes of a finished layer's objects."""
        return self.layers[category].coverage

    def instances_of(self, category: str) -> list[Instance]:
        """Instances of a finished layer, in id order."""
        return self.layers[category].instances


F = TypeVar("F", bound=Callable[..., Any])

REGION_BUILDERS: dict[str, Callable[..., np.ndarray]] = {}
OBJECT_SHAPES: dict[str, Callable[..., ObjectDraw]] = {}
AREA_SHAPES: dict[str, Callable[..., list[Instance]]] = {}
TEXTURES: dict[str, Callable[..., np.ndarray | None]] = {}
DEGRADATIONS: dict[str, Callable[..., np.ndarray]] = {}
APPEARANCE: dict[str, Callable[..., list[np.ndarray]]] = {}


def register(registry: dict[str, Any], kind: str) -> Callable[[F], F]:
    """Decorator: register a building block under the IR ``kind`` it implements.

    Examples
    --------
    >>> @register(DEGRADATIONS, "identity_example")
    ... def _identity(image, spec, rng):
    ...     return image
    >>> DEGRADATIONS.pop("identity_example") is _identity
    True
    """

    def deco(fn: F) -> F:
        if kind in registry:
            raise ValueError(f"{kind!r} is already registered")
        registry[kind] = fn
        return fn

    return deco
