"""synthlang.nuclei: nucleus segmentation by colour deconvolution."""

from __future__ import annotations

import numpy as np
import pytest

from synthlang.fit.detect import AutoRule, detect_nuclei
from synthlang.nuclei import segment_nuclei


def _tissue(seed: int = 0) -> np.ndarray:
    """Pink tissue with 6 purple nuclei (radius 7) and 2 dark small ones (radius 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:80, :80]
    img = np.empty((80, 80, 3))
    img[:] = [0.9, 0.72, 0.82]
    for k, (cy, cx) in enumerate([(12, 12), (12, 40), (12, 66), (40, 12), (40, 40), (66, 66)]):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 49] = [0.45 + 0.03 * k, 0.3, 0.6]
    for cy, cx in [(66, 14), (66, 40)]:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 9] = [0.2, 0.15, 0.4]
    return np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1)


def test_every_nucleus_is_found_once_and_the_dark_ones_are_dark() -> None:
    seg = segment_nuclei(_tissue(), pixel_size_um=0.5)
    assert seg.labels.dtype == np.int32 and seg.labels.shape == (80, 80)
    assert int(seg.labels.max()) == 8
    centres = [(12, 12), (12, 40), (12, 66), (40, 12), (40, 40), (66, 66), (66, 14), (66, 40)]
    assert len({int(seg.labels[c]) for c in centres} - {0}) == 8
    assert seg.dark[66, 14] and seg.dark[66, 40] and not seg.dark[0, 0]


def test_detect_nuclei_classifies_the_segmentation() -> None:
    img = _tissue()
    rule = AutoRule()
    labels, classes = detect_nuclei(img, pixel_size_um=0.5, rule=rule)
    assert np.array_equal(labels, segment_nuclei(img, pixel_size_um=0.5).labels)
    assert classes[int(labels[66, 14])] == "lymphocyte"
    assert classes[int(labels[40, 40])] == "tumor"


def test_a_flat_image_has_no_nuclei_and_the_pixel_size_is_checked() -> None:
    seg = segment_nuclei(np.full((20, 20, 3), 0.8), pixel_size_um=0.5)
    assert not seg.labels.any() and not seg.dark.any()
    with pytest.raises(ValueError, match="pixel_size_um"):
        segment_nuclei(_tissue(), pixel_size_um=0.0)
