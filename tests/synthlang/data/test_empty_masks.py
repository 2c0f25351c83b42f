"""A dataset whose masks are (almost) all empty is warned about loudly; training refuses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthlang.cli.main import main

EMPTY = """
scene s { size 32 x 32 }
layer bg { fill color rgb(0.9, 0.9, 0.9) }
layer cell { ellipse(semi_axes 3) place count 4 color rgb(0.3, 0.1, 0.5) }
mask cell where area > 1000
"""


def test_empty_masks_warn_and_training_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = tmp_path / "empty.scene"
    scene.write_text(EMPTY)
    out = tmp_path / "data"
    assert main(["render", str(scene), "--n", "4", "--out", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert "WARNING: the masks of 4 of 4 samples are empty" in captured.out
    assert "WARNING: the masks of 4 of 4 samples are empty" in captured.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["empty_masks"] == 4 and manifest["warnings"]
    assert [e["mask_pixels"] for e in manifest["samples"]] == [0, 0, 0, 0]
    assert (
        main(["train", "--data", str(out), "--out", str(tmp_path / "run"), "--preset", "smoke"])
        == 2
    )
    assert "the masks of all 4 samples are empty" in capsys.readouterr().err


def test_a_dataset_with_masks_has_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = tmp_path / "ok.scene"
    scene.write_text(EMPTY.replace("where area > 1000", ""))
    out = tmp_path / "data"
    assert main(["render", str(scene), "--n", "3", "--out", str(out), "-q"]) == 0
    assert "WARNING" not in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["empty_masks"] == 0 and "warnings" not in manifest
