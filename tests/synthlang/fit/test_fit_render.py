"""Fit -> scene -> render round trip: rendered colours follow the fitted statistics.

Issue 3: "`synthlang fit` on the PUMA FIT half (rows 0-511) writes a library, and a scene
importing it renders images whose colour statistics match the fitted ones".
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from synthlang import compile_file, render
from synthlang.engine.sampling import sample_seed
from synthlang.fit import FitOptions, fit_files, parse_class_names, parse_crop

PUMA = "puma_melanoma/training_set_metastatic_roi_094"


def _mvn(text: str, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, cov and between of `let NAME = mvn(...)` in a library text."""
    line = next(ln for ln in text.splitlines() if ln.startswith(f"let {name} = mvn("))
    numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", line)]
    mean = np.array(numbers[:3])
    cov = np.array(numbers[3:12]).reshape(3, 3)
    between = np.array(numbers[12:21]).reshape(3, 3)
    return mean, cov, between


def _render_stats(scene_file: Path, n: int) -> dict[str, dict[str, np.ndarray]]:
    """Per category: pixel mean and covariance of the noisy image, covariance of object means."""
    scene = compile_file(scene_file)
    pixels: dict[str, list[np.ndarray]] = {}
    object_means: dict[str, list[np.ndarray]] = {}
    for i in range(n):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sample = render(scene, seed=sample_seed(7, i))
        cat_of = {r.id: r.category for r in sample.instances}
        for record in sample.instances:
            if record.category == "background":
                continue
            sel = sample.instance_map == record.id
            if sel.sum() < 10:
                continue
            px = sample.noisy[sel]
            pixels.setdefault(record.category, []).append(px)
            object_means.setdefault(record.category, []).append(sample.clean[sel].mean(0))
        assert set(cat_of.values()) >= {"tumor", "lymphocyte"}
    stats = {}
    for cat, chunks in pixels.items():
        px = np.concatenate(chunks)
        means = np.array(object_means[cat])
        stats[cat] = {
            "mean": means.mean(0),
            "n": np.array(len(means)),
            "cov": np.cov(px.T),
            "between": np.cov(np.array(object_means[cat]).T),
        }
    return stats


def _check(stats: dict[str, np.ndarray], mean: np.ndarray, cov: np.ndarray, between: np.ndarray):
    # object means ~ N(mean, between): their average is the fitted mean, within 4 standard errors
    stderr = np.sqrt(np.diag(between) / stats["n"])
    assert np.all(np.abs(stats["mean"] - mean) <= 4 * stderr + 0.005)
    # pixel covariance = within + between; channel variances within 30 %
    total = cov + between
    assert np.diag(stats["cov"]) == pytest.approx(np.diag(total), rel=0.3)
    # correlations between channels keep their sign and rough size
    corr = stats["cov"] / np.sqrt(np.outer(np.diag(stats["cov"]), np.diag(stats["cov"])))
    want = total / np.sqrt(np.outer(np.diag(total), np.diag(total)))
    assert corr == pytest.approx(want, abs=0.15)
    # the clean image shows the object means: their spread is the fitted `between`
    assert np.diag(stats["between"]) == pytest.approx(np.diag(between), rel=0.5)


SCENE = """
import "{library}"
scene fitted {{ size 256 x 256 }}
layer background {{ fill color {prefix}_background }}
layer tumor {{
    ellipse(semi_axes {prefix}_tumor_semi_axes)
    place count 40, overlap none
    color {prefix}_tumor
}}
layer lymphocyte {{
    ellipse(semi_axes {prefix}_lymphocyte_semi_axes)
    place count 120, overlap none with [tumor, lymphocyte]
    color {prefix}_lymphocyte
}}
"""


@pytest.mark.realdata
def test_puma_fitted_library_renders_its_statistics(realdata: Path, tmp_path: Path) -> None:
    library = tmp_path / "puma" / "puma.scene"
    fit_files(
        [realdata / f"{PUMA}.tif"],
        library,
        FitOptions(
            crop=parse_crop("0:512,:"),  # the FIT half only
            scale=0.5,  # 40x -> the paper's 20x
            pixel_size_um=0.25,
            class_names=parse_class_names(["nuclei_tumor=tumor", "nuclei_lymphocyte=lymphocyte"]),
            only=("tumor", "lymphocyte"),
            patches=False,
        ),
        geojson=[realdata / f"{PUMA}_nuclei.geojson"],
    )
    scene_file = tmp_path / "fitted.scene"
    scene_file.write_text(SCENE.format(library="puma/puma.scene", prefix="he"))
    stats = _render_stats(scene_file, n=6)
    text = library.read_text()
    for cat in ("tumor", "lymphocyte"):
        _check(stats[cat], *_mvn(text, f"he_{cat}"))


def test_default_library_renders_its_statistics(tmp_path: Path) -> None:
    """The same round trip on the shipped default library (no real data needed)."""
    root = Path(__file__).resolve().parents[3] / "scenes" / "lib" / "he_stardist"
    scene_file = tmp_path / "fitted.scene"
    scene_file.write_text(SCENE.format(library=str(root / "he_stardist.scene"), prefix="stardist"))
    stats = _render_stats(scene_file, n=4)
    text = (root / "he_stardist.scene").read_text()
    for cat in ("tumor", "lymphocyte"):
        _check(stats[cat], *_mvn(text, f"stardist_{cat}"))
