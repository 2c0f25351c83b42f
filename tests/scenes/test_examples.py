"""The example scenes in ``scenes/examples`` compile, render quickly and show what they promise."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import synthlang

ROOT = Path(__file__).resolve().parents[2]


def test_glands_have_rings_of_oriented_nuclei_and_render_fast() -> None:
    scene = synthlang.compile_file(ROOT / "scenes" / "examples" / "glands.scene")
    synthlang.render(scene, 0)  # warm-up (imports, caches)
    start = time.perf_counter()
    sample = synthlang.render(scene, 1)
    assert time.perf_counter() - start < 5.0
    assert sample.noisy.shape == (300, 300, 3) and sample.shortfalls == []
    assert sample.classes == ("epithelial", "stromal", "lymphocyte")
    lumens = {r.id: r for r in sample.instances if r.category == "lumen"}
    ring = [r for r in sample.instances if r.category == "epithelial_nucleus"]
    assert len(lumens) >= 4 and len(ring) >= 12 * len(lumens)
    assert all(r.parent in lumens for r in ring)  # every epithelial nucleus rings a lumen
    again = synthlang.render(scene, 1)
    assert np.array_equal(again.noisy, sample.noisy) and np.array_equal(again.mask, sample.mask)
