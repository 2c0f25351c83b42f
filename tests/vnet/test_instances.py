"""Class maps from probabilities and the watershed split into nucleus instances."""

from __future__ import annotations

import numpy as np
import pytest

from synthlang.common.errors import DataError
from vnet import instances as I
from vnet.instances import (
    centroids,
    instance_means,
    label_map,
    remove_small_regions,
    split_instances,
)


def _disc(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_label_map_argmax_over_threshold() -> None:
    p = np.zeros((2, 3, 3), np.float32)
    p[0, 0] = [0.6, 0.7, 0.1]  # class 2 wins
    p[0, 1] = [0.49, 0.2, 0.3]  # nothing reaches 1/2: background
    p[0, 2] = [0.8, 0.8, 0.0]  # a tie: the lower class id
    p[1, 0] = [0.0, 0.0, 0.5]  # exactly the threshold counts
    assert label_map(p).tolist() == [[2, 0, 1], [3, 0, 0]]
    assert label_map(p, threshold=0.75).tolist() == [[0, 0, 1], [0, 0, 0]]
    assert label_map(p).dtype == np.uint8
    one = np.array([[0.2, 0.5, 0.9]])
    assert label_map(one).tolist() == [[0, 1, 1]]  # K = 1: the paper's m_T >= 1/2
    assert np.array_equal(label_map(one[..., None]), label_map(one))
    with pytest.raises(ValueError, match="shape"):
        label_map(np.zeros((2, 2, 2, 2)))


def test_touching_nuclei_are_split_and_classes_kept() -> None:
    lab = np.zeros((40, 60), np.uint8)
    lab[_disc(lab.shape, (20, 15), 7)] = 1
    lab[_disc(lab.shape, (20, 27), 7)] = 1  # touches the first: one component, two nuclei
    lab[_disc(lab.shape, (20, 48), 6)] = 2  # a nucleus of class 2
    inst, cls = split_instances(lab, 2)
    assert inst.dtype == np.uint16 and int(inst.max()) == 3
    assert cls == {1: 1, 2: 1, 3: 2}
    assert np.array_equal(inst > 0, lab > 0)  # every class pixel is in an instance
    assert inst[20, 13] != inst[20, 29]  # the two discs differ
    for i, k in cls.items():
        assert set(np.unique(lab[inst == i]).tolist()) == {k}
    merged, _ = split_instances(lab, 2, min_distance=20)  # markers too close: one nucleus
    assert int(merged.max()) == 2
    assert np.array_equal(split_instances(lab, 2)[0], inst)  # deterministic


def test_remove_small_regions_per_class_and_eight_connected() -> None:
    lab = np.zeros((12, 12), np.uint16)
    lab[1:5, 1:5] = 1  # 16 px
    lab[8, 8] = lab[9, 9] = lab[10, 10] = 1  # a diagonal line: one region of 3 px
    lab[1:4, 5:8] = 2  # 9 px touching the class-1 square: a region of its own
    out = remove_small_regions(lab, 4)
    assert out.dtype == lab.dtype and out is not lab
    assert int((out == 1).sum()) == 16 and int((out == 2).sum()) == 9
    assert not out[8:11, 8:11].any()  # the 3-px line went
    only_big = remove_small_regions(lab, 10)
    assert set(np.unique(only_big).tolist()) == {0, 1}  # the 9-px class-2 region went too
    assert np.array_equal(remove_small_regions(lab, 3), lab)  # 3 px is enough
    for keep_all in (0, 1):
        assert np.array_equal(remove_small_regions(lab, keep_all), lab)
    assert np.array_equal(lab[8:11, 8:11].diagonal(), [1, 1, 1])  # the input is untouched
    with pytest.raises(ValueError, match="shape"):
        remove_small_regions(np.zeros((2, 2, 2)), 4)


def test_every_component_is_an_instance() -> None:
    lab = np.zeros((12, 12), np.uint8)
    lab[0, 0] = 1  # one pixel
    lab[5:7, 2:10] = 1  # a thin bar: a plateau of the distance transform
    lab[10:12, 10:12] = 3
    inst, cls = split_instances(lab)
    assert int(inst.max()) == 3 and sorted(cls.values()) == [1, 1, 3]
    assert np.array_equal(inst > 0, lab > 0)
    empty, none = split_instances(np.zeros((4, 4), np.uint8), 3)
    assert not empty.any() and none == {}


def test_too_many_instances(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = np.zeros((5, 5), np.uint8)
    lab[::2, ::2] = 1  # nine separate pixels
    monkeypatch.setattr(I, "MAX_INSTANCES", 8)
    with pytest.raises(DataError, match="16-bit"):
        split_instances(lab)


def test_means_and_centroids() -> None:
    inst = np.zeros((4, 4), np.int64)
    inst[0, 0:2] = 1
    inst[2:4, 2:4] = 2
    p = np.zeros((4, 4, 2))
    p[0, 0], p[0, 1] = (0.6, 0.0), (0.8, 0.3)
    p[2:4, 2:4] = (0.1, 0.9)
    means = instance_means(inst, p, {1: 1, 2: 2})
    assert means == pytest.approx({1: 0.7, 2: 0.9})
    ids, c = centroids(inst)
    assert ids.tolist() == [1, 2] and c.tolist() == [[0.0, 0.5], [2.5, 2.5]]
