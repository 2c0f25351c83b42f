"""Resampling of images and label maps (``synthlang fit --scale``, ``predict --mpp``)."""

from __future__ import annotations

import numpy as np

from synthlang.common.resample import resample, scaled_shape


def test_scaled_shape() -> None:
    assert scaled_shape((101, 50, 3), 0.5) == (50, 25)
    assert scaled_shape((3, 3), 0.1) == (1, 1)
    assert scaled_shape((10, 20), 2.0) == (20, 40)


def test_resample_labels_keeps_ids_and_dtype() -> None:
    ids = np.arange(16, dtype=np.uint16).reshape(4, 4)
    up = resample(ids, (8, 8), labels=True)
    assert up.dtype == np.uint16 and up.shape == (8, 8)
    np.testing.assert_array_equal(up, ids.repeat(2, axis=0).repeat(2, axis=1))
    assert set(np.unique(resample(up, (4, 4), labels=True))) <= set(range(16))


def test_resample_images_bilinear_and_smoothed_when_shrinking() -> None:
    img = np.zeros((8, 8, 3), np.float32)
    img[:, 4:] = 1.0
    up = resample(img, (16, 16))
    assert up.dtype == np.float32 and up.shape == (16, 16, 3)
    assert up[:, 0].max() == 0.0 and up[:, -1].min() == 1.0
    assert 0.0 < up[0, 8, 0] < 1.0  # bilinear across the edge
    checker = (np.indices((16, 16)).sum(axis=0) % 2).astype(np.float32)
    down = resample(checker, (8, 8))
    assert down.shape == (8, 8) and np.abs(down - 0.5).max() < 0.2  # no aliasing
