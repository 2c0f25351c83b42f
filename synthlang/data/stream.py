"""Training data straight from a scene: samples rendered on demand, never written to disk.

:class:`SceneSource` is the engine-to-training stream: a picklable callable
(so DataLoader worker processes can hold it) that renders sample ``i`` of a
scene, the same sample ``synthlang render --seed SEED`` writes as number ``i``
(:mod:`synthlang.data.sampleio` stores it as 8-bit PNGs; the stream gives the
float32 arrays). With one class or none it yields the binary mask; with several
(:meth:`SceneSource.with_classes`) the one-vs-rest targets of the class map.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from synthlang.common.errors import DataError

__all__ = ["SceneSource", "one_hot_labels"]


def one_hot_labels(labels: Any, n_classes: int) -> Any:
    """``(H, W, K)`` float32 targets of a class map: channel ``k - 1`` is 1 on class ``k``.

    Raises
    ------
    DataError
        A class id outside ``0 .. K``.

    Examples
    --------
    >>> import numpy as np
    >>> one_hot_labels(np.array([[0, 1, 2]], np.uint8), 2)[0].tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    """
    import numpy as np

    ids = np.asarray(labels)
    top, low = int(ids.max(initial=0)), int(ids.min(initial=0))
    if top > n_classes or low < 0:
        bad = top if top > n_classes else low
        raise DataError(f"the class map holds class id {bad}, but there are {n_classes} classes")
    return (ids[..., None] == np.arange(1, n_classes + 1)).astype(np.float32)


class SceneSource:
    """Picklable sample source rendering a compiled scene on the fly.

    Sample ``i`` is ``synthlang.render(scene, seed=SeedSequence([seed, i]))``, the
    same sample that ``synthlang render --seed SEED`` writes as number ``i``.

    Parameters
    ----------
    scene : synthlang.ir.Scene
        The compiled scene.
    seed : int
        The dataset seed.
    classes : sequence of str, optional
        The scene's class names (``Scene.class_names()``). With two or more the source
        yields the one-vs-rest targets ``(H, W, K)`` of the rendered class map
        ``Sample.labels`` instead of the binary mask (the pixels of any class), and
        checks every sample's classes against them. :meth:`with_classes` finds them.

    Examples
    --------
    >>> import synthlang
    >>> text = "scene s { size 8 x 8 } layer a { fill color rgb(1, 0, 0) }"
    >>> scene = synthlang.compile_string(text)
    >>> noisy, clean, mask = SceneSource(scene, seed=1)(0)
    >>> noisy.shape, clean.dtype.name, mask.shape
    ((8, 8, 3), 'float32', (8, 8))
    >>> SceneSource.with_classes(scene, seed=1).classes  # a scene without mask rules
    ()
    """

    def __init__(self, scene: Any, seed: int, classes: Sequence[str] | None = None) -> None:
        self.scene = scene
        self.seed = seed
        self.classes: tuple[str, ...] = tuple(classes or ())

    @classmethod
    def with_classes(cls, scene: Any, seed: int) -> SceneSource:
        """A source for ``scene`` named with its classes (``Scene.class_names()``).

        A scene with plain mask rules has one class (named after their category), a
        scene without mask rules none; both train on the binary mask.
        """
        names = getattr(scene, "class_names", None)
        if callable(names):
            return cls(scene, seed, tuple(names()))
        sample = cls(scene, seed)._render(0)  # an IR without class names: ask a sample
        return cls(scene, seed, tuple(getattr(sample, "classes", ()) or ()))

    def _render(self, index: int) -> Any:
        import numpy as np

        import synthlang

        with warnings.catch_warnings():
            # shortfalls of a placement are recorded by `render`; a training run
            # must not stop or spam for them
            warnings.simplefilter("ignore")
            return synthlang.render(self.scene, seed=np.random.SeedSequence([self.seed, index]))

    def __call__(self, index: int) -> tuple[Any, Any, Any]:
        """Render sample ``index``; return ``(noisy, clean, mask)`` float32 arrays.

        ``mask`` is ``(H, W)``, or ``(H, W, K)`` for a source with ``K >= 2`` classes.
        """
        sample = self._render(index)
        if len(self.classes) < 2:
            return sample.noisy, sample.clean, sample.mask
        found = tuple(getattr(sample, "classes", ()) or ())
        if found != self.classes:
            raise DataError(
                f"sample {index} of scene {getattr(self.scene, 'name', '?')!r} has classes "
                f"{list(found)}, expected {list(self.classes)}"
            )
        return sample.noisy, sample.clean, one_hot_labels(sample.labels, len(self.classes))
