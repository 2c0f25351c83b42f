"""The training stream: SceneSource renders the samples that `synthlang render` writes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.common.imageio import to_uint8
from synthlang.data.dataset import render_dataset
from synthlang.data.sampleio import load_sample
from synthlang.data.stream import SceneSource
from synthlang.lang.compile import compile_file


def test_scene_source_is_picklable_and_deterministic(tiny_scene_file: Path) -> None:
    source = pickle.loads(pickle.dumps(SceneSource(compile_file(tiny_scene_file), 7)))
    a, b = source(3), source(3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    noisy, clean, mask = a
    assert noisy.shape == clean.shape == (48, 64, 3) and mask.shape == (48, 64)
    assert noisy.dtype == clean.dtype == mask.dtype == np.float32
    assert not np.array_equal(source(4)[0], noisy)


def test_stream_matches_the_rendered_dataset(tiny_scene_file: Path, tmp_path: Path) -> None:
    scene = compile_file(tiny_scene_file)
    render_dataset(scene, 3, tmp_path / "ds", seed=7)
    noisy, clean, mask = SceneSource(scene, 7)(2)
    stored = load_sample(tmp_path / "ds", "000002")
    for key, image in (("noisy", noisy), ("clean", clean), ("mask", mask)):
        assert np.array_equal(to_uint8(image), np.rint(stored[key] * 255).astype(np.uint8))


def test_cli_train_uses_the_same_class() -> None:
    from synthlang.cli import train

    assert train.SceneSource is SceneSource


CLASS_SCENE = """
scene twoclass { size 32 x 40 }
layer bg { fill color rgb(0.9, 0.85, 0.88) }
layer red { ellipse(semi_axes [4, 4]) place count 4 color rgb(0.7, 0.2, 0.3) }
layer green { ellipse(semi_axes [3, 3]) place count 4 color rgb(0.3, 0.6, 0.35) }
mask classes {
  tumor: red
  immune: green
}
"""


def test_scene_with_classes_yields_one_vs_rest_targets(tmp_path: Path) -> None:
    import synthlang
    from synthlang.data.stream import one_hot_labels

    path = tmp_path / "two.scene"
    path.write_text(CLASS_SCENE, encoding="utf-8")
    scene = compile_file(path)
    source = pickle.loads(pickle.dumps(SceneSource.with_classes(scene, 3)))
    assert source.classes == ("tumor", "immune")
    noisy, clean, target = source(1)
    sample = synthlang.render(scene, seed=np.random.SeedSequence([3, 1]))
    assert target.shape == (32, 40, 2) and target.dtype == np.float32
    assert np.array_equal(target.argmax(2) + 1, np.where(sample.labels > 0, sample.labels, 1))
    assert np.array_equal(target.sum(2) > 0, sample.mask > 0)
    assert np.array_equal(noisy, sample.noisy) and np.array_equal(clean, sample.clean)
    binary = SceneSource(scene, 3)(1)  # without classes: the binary mask, as before
    assert np.array_equal(binary[2], sample.mask)
    with pytest.raises(DataError, match="class id 3"):
        one_hot_labels(np.array([[3]]), 2)
    with pytest.raises(DataError, match="expected"):
        SceneSource(scene, 3, ("a", "b"))(0)


def test_scene_with_one_class_trains_on_its_mask(tiny_scene_file: Path) -> None:
    scene = compile_file(tiny_scene_file)
    source = SceneSource.with_classes(scene, 7)
    assert len(source.classes) <= 1
    assert np.array_equal(source(0)[2], SceneSource(scene, 7)(0)[2])
