"""Which pixels of each object are visible when some layers are additive.

Without additive layers an object's visible pixels are those where it is the topmost
object (the instance map). An additive layer (``blend additive``) adds its colours to what
lies below and hides nothing, so then an object's visible pixels are its pixels that are
covered neither by a later object of its own layer nor by an object of a higher layer that
is not additive. An additive object itself is hidden by the layers above it that cover
(``blend over``), as any object is. The instance map still shows the topmost object; these
masks are what ``visible(...)``, the ``visible`` metric and the visible areas use.

Example
-------
>>> from synthlang import ir
>>> from synthlang.engine.base import Instance, LayerResult
>>> def layer(i, blend=None):
...     return ir.Layer(index=i, name=f"l{i}", shape=ir.FillShape(),
...                     color=ir.MVNColor(mean=(1, 1, 1)), blend=blend)
>>> a = Instance(id=1, layer=0, category="l0", r0=0, c0=0, mask=np.ones((1, 3), bool),
...              center=(0.0, 1.0))
>>> b = Instance(id=2, layer=1, category="l1", r0=0, c0=1, mask=np.ones((1, 1), bool),
...              center=(0.0, 1.0))
>>> results = [LayerResult(layer(0), [a], a.mask), LayerResult(layer(1, "additive"), [b], b.mask)]
>>> [m.astype(int).tolist() for m in visible_masks(results, (1, 3)).values()]
[[[1, 1, 1]], [[1]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthlang.engine.base import LayerResult
from synthlang.engine.composite import paint_ids

__all__ = ["visible_masks"]


def visible_masks(results: Sequence[LayerResult], shape: tuple[int, int]) -> dict[int, np.ndarray]:
    """The visible pixels of every object, in its bounding box, by id.

    Parameters
    ----------
    results : sequence of LayerResult
        Finished layers, bottom first (compositing order).
    shape : tuple of int
        ``(H, W)``.

    Returns
    -------
    dict of int to numpy.ndarray
        ``id -> (h, w)`` bool, the shape of the object's mask.
    """
    # the highest covering (not additive) layer at each pixel, -1 where none
    top = np.full(shape, -1, dtype=np.int32)
    for k, r in enumerate(results):
        if not r.layer.additive:
            np.copyto(top, np.int32(k), where=r.coverage)
    out: dict[int, np.ndarray] = {}
    for k, r in enumerate(results):
        own = paint_ids(r.instances, shape)  # topmost object of this layer
        for inst in r.instances:
            sl = inst.slices
            out[inst.id] = inst.mask & (own[sl] == inst.id) & (top[sl] <= k)
    return out
