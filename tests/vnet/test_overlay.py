"""Tests of vnet.overlay: the overlays that synthlang predict writes."""

from __future__ import annotations

import numpy as np

from vnet.overlay import overlay, overlay_classes


def test_overlay() -> None:
    img = np.zeros((5, 5, 3), np.float32)
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    out = overlay(img, mask)
    assert out[2, 2, 0] > 0.4 and out[2, 2, 1] == 0  # tinted red inside
    assert tuple(out[1, 1]) == (1.0, 1.0, 0.0)  # yellow outline
    assert tuple(out[0, 0]) == (0.0, 0.0, 0.0)


def test_overlay_classes_tints_each_class_and_outlines_instances() -> None:
    img = np.full((9, 9, 3), 0.5, np.float32)
    labels = np.zeros((9, 9), np.uint8)
    labels[1:8, 1:4] = 1
    labels[1:8, 5:8] = 2
    instances = labels.astype(np.int32)  # one instance per class
    out = overlay_classes(img, labels, instances, ["tumor", "lymphocyte"])
    assert tuple(out[0, 0]) == (0.5, 0.5, 0.5)  # background untouched
    assert tuple(out[1, 1]) == (1.0, 1.0, 0.0)  # instance outline in yellow
    assert not np.allclose(out[4, 2], img[4, 2])  # interiors tinted ...
    assert not np.allclose(out[4, 2], out[4, 6])  # ... each class in its colour
