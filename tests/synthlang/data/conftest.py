"""Fixtures of the dataset tests: a scene with three classes, its rendered datasets."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pytest

from synthlang.data.dataset import render_dataset
from synthlang.lang.compile import compile_string

CLASSES_SCENE = inspect.cleandoc(
    """
    scene classes { size 64 x 80 }
    layer background { fill color rgb(0.9, 0.8, 0.9) }
    layer cell {
        ellipse(semi_axes uniform(5, 8), angle uniform(0, 180))
        place count 6, overlap none
        color rgb(0.7, 0.5, 0.7)
    }
    layer nucleus {
        ellipse(semi_axes uniform(2, 3))
        place inside cell, probability 0.8
        color rgb(0.3, 0.1, 0.5)
    }
    layer immune {
        ellipse(semi_axes uniform(2, 3))
        place count 15
        color rgb(0.2, 0.1, 0.4)
    }
    degrade { noise gaussian(0.02) }
    mask classes {
        tumor: nucleus
        immune: visible(immune)
        other: visible(cell)
    }
    """
)
"""Cells (class ``other``) with nuclei (``tumor``, full shapes) on top: ring-shaped instances;
immune cells overlap anything, so some instances come in pieces."""

CLASSES = ("tumor", "immune", "other")
ALL_FORMATS = ("coco", "geojson", "hovernet")


@pytest.fixture(scope="session")
def classes_scene_text() -> str:
    return CLASSES_SCENE


@pytest.fixture(scope="session")
def classes_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete 4-sample dataset of the classes scene with every export format."""
    out = tmp_path_factory.mktemp("classes") / "ds"
    render_dataset(compile_string(CLASSES_SCENE), 4, out, seed=3, formats=ALL_FORMATS)
    return out


def downgrade_to_v1(folder: Path, out: Path) -> Path:
    """Copy a version-2 dataset folder as version 1 wrote it (no classes, objects in instances/)."""
    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("labels", "annotations", "geojson"))
    for png in sorted((out / "objects").glob("*.png")):
        png.replace(out / "instances" / png.name)
    shutil.rmtree(out / "objects")
    shutil.rmtree(out / "hovernet", ignore_errors=True)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format_version"] = 1
    del manifest["classes"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    for meta_path in (out / "instances").glob("*.json"):
        meta = json.loads(meta_path.read_text())
        del meta["classes"]
        for record in meta["instances"]:
            del record["class"], record["label"]
        meta_path.write_text(json.dumps(meta))
    return out
