"""Resampling onto the model's grid and back (``synthlang predict --mpp``)."""

from __future__ import annotations

import numpy as np
import pytest

from vnet.rescale import MAX_SCALE, scale_factor, to_grid


def test_scale_factor() -> None:
    assert scale_factor(0.25, 0.5) == 0.5
    assert scale_factor(1.0, 0.5) == 2.0
    assert scale_factor(0.5000001, 0.5) == 1.0  # the same pixel size: no resampling
    assert scale_factor(0.5 * MAX_SCALE, 0.5) == MAX_SCALE
    with pytest.raises(ValueError, match="differ by more than 8 times"):
        scale_factor(0.05, 0.5)
    with pytest.raises(ValueError, match="differ by more than 8 times"):
        scale_factor(5.0, 0.5)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="pixel size must be positive"):
            scale_factor(bad, 0.5)
        with pytest.raises(ValueError, match="the model pixel size must be positive"):
            scale_factor(0.5, bad)


def test_to_grid_drops_instances_that_vanish() -> None:
    labels = np.zeros((8, 8), np.uint8)
    labels[1:7, 1:7] = 1
    labels[7, 7] = 2
    instances = np.zeros((8, 8), np.int32)
    instances[1:7, 1:7] = 1
    instances[7, 7] = 2
    u = np.zeros((8, 8, 3), np.float32)
    m = labels.astype(np.float32) / 2
    u2, m2, l2, i2, class_of = to_grid((2, 2, 3), u, m, labels, instances, {1: 1, 2: 2})
    assert u2.shape == (2, 2, 3) and m2.shape == l2.shape == i2.shape == (2, 2)
    assert 0.0 <= m2.min() and m2.max() <= 1.0
    assert set(np.unique(i2)) == {1} and class_of == {1: 1}  # the speck is gone
    assert l2.dtype == np.uint8 and i2.dtype == np.int32
