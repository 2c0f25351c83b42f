"""The shipped multiplex immunofluorescence example: renders, trains, predicts.

``scenes/examples/if_multiplex.scene`` has four marker channels, additive layers and
16-bit output. It renders deterministically and fast, a smoke run trains on it
(``synthlang train SCENE --preset smoke``), and the smoke model predicts a rendered
four-channel TIFF.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import synthlang
from synthlang.cli.main import main

SCENE = Path(__file__).resolve().parents[2] / "scenes" / "examples" / "if_multiplex.scene"
NAMES = ("dapi", "cd45", "gp100", "ki67")


def test_compiles_and_renders_fast_and_deterministically() -> None:
    scene = synthlang.compile_file(SCENE)
    assert scene.channel_names() == NAMES and scene.bit_depth == 16
    assert all(layer.additive for layer in scene.layers[1:])
    start = time.perf_counter()
    a = synthlang.render(scene, 5)
    seconds = time.perf_counter() - start
    b = synthlang.render(scene, 5)
    assert a.noisy.shape == (128, 128, 4) and a.channels == NAMES
    np.testing.assert_array_equal(a.noisy, b.noisy)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.counts["tumor_cell"] >= 5 and a.counts["immune_cell"] >= 5
    assert a.classes == ("tumor", "immune") and a.mask.any()
    assert seconds < 5.0  # about 0.1 s on one core
    # the DAPI channel is bright on the nuclei, CD45 on the immune-cell rings
    nuclei = np.isin(a.instance_map, [r.id for r in a.instances if r.category.endswith("nucleus")])
    assert a.clean[nuclei][:, 0].mean() > 0.4 > a.clean[~nuclei][:, 0].mean()


def test_smoke_training_and_prediction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    argv = ["train", str(SCENE), "--preset", "smoke", "--out", str(run)]
    assert main([*argv, "--iterations", "2", "--workers", "0", "--threads", "1", "-q"]) == 0
    stored = json.loads((run / "config.json").read_text())
    assert "in_channels" in json.dumps(stored)
    from vnet.predict import load_model

    model, ckpt = load_model(run / "model.pt")
    assert model.config.in_channels == 4 and ckpt["source"]["channels"] == list(NAMES)
    # a rendered sample as a 16-bit TIFF, predicted by the smoke model
    data = tmp_path / "data"
    assert main(["render", str(SCENE), "--n", "1", "--out", str(data), "--workers", "1", "-q"]) == 0
    image = data / "noisy" / "000000.tif"
    out = tmp_path / "pred"
    assert main(["predict", str(run / "model.pt"), str(image), "--out", str(out), "-q"]) == 0
    assert (out / "000000_denoised.tif").is_file() and (out / "000000_labels.png").is_file()
    summary = json.loads((out / "predict.json").read_text())
    assert summary["classes"] == ["tumor", "immune"]
    capsys.readouterr()
