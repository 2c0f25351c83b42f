"""The training stream: SceneSource renders the samples that `synthlang render` writes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

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
