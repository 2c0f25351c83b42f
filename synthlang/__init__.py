"""synthlang: a scene language and renderer for synthetic histology training data.

Write a ``.scene`` file that describes the tissue, compile it, and render as
many training samples (noisy image, clean image, mask) as you need::

    import synthlang
    scene = synthlang.compile_file("scenes/scenario2.scene")
    sample = synthlang.render(scene, seed=1)
    sample.noisy, sample.clean, sample.mask
"""

from __future__ import annotations

__version__ = "0.1.0"
