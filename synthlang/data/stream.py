"""Training data straight from a scene: samples rendered on demand, never written to disk.

:class:`SceneSource` is the engine-to-training stream: a picklable callable
(so DataLoader worker processes can hold it) that renders sample ``i`` of a
scene, the same sample ``synthlang render --seed SEED`` writes as number ``i``
(:mod:`synthlang.data.sampleio` stores it as 8-bit PNGs; the stream gives the
float32 arrays).
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["SceneSource"]


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

    Examples
    --------
    >>> import synthlang
    >>> text = "scene s { size 8 x 8 } layer a { fill color rgb(1, 0, 0) }"
    >>> scene = synthlang.compile_string(text)
    >>> noisy, clean, mask = SceneSource(scene, seed=1)(0)
    >>> noisy.shape, clean.dtype.name, mask.shape
    ((8, 8, 3), 'float32', (8, 8))
    """

    def __init__(self, scene: Any, seed: int) -> None:
        self.scene = scene
        self.seed = seed

    def __call__(self, index: int) -> tuple[Any, Any, Any]:
        """Render sample ``index``; return ``(noisy, clean, mask)`` float32 arrays."""
        import numpy as np

        import synthlang

        with warnings.catch_warnings():
            # shortfalls of a placement are recorded by `render`; a training run
            # must not stop or spam for them
            warnings.simplefilter("ignore")
            sample = synthlang.render(self.scene, seed=np.random.SeedSequence([self.seed, index]))
        return sample.noisy, sample.clean, sample.mask
