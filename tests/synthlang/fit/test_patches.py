"""Patch libraries written by ``synthlang fit`` (synthlang.fit.patches, synthlang.fit.pipeline)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.fit import assign_cohorts
from tests.synthlang.fit.helpers import BG, check_library, fit_synthetic, lets_of

# --------------------------------------------------------------------------- patch libraries


def test_patch_folders_follow_the_format(synthetic: dict, tmp_path: Path) -> None:
    out = tmp_path / "lib" / "he.scene"
    text, _ = fit_synthetic(synthetic, out, max_patches=20)
    lets = lets_of(text)
    assert lets["he_tumor_nuclei"] == 'patch("tumor_nuclei")'
    m = re.fullmatch(
        r'patches\("tumor_texture", cohorts (\d+), size 8, overlap 2\)', lets["he_tumor_texture"]
    )
    assert m
    nuclei = check_library(out.parent / "tumor_nuclei", "nuclei", None)
    assert len(nuclei["items"]) == 9  # all tumour nuclei are inside the image
    assert all(it["class"] == "tumor" and it["source"] == "img.png" for it in nuclei["items"])
    tex = check_library(out.parent / "tumor_texture", "texture", 8)
    assert tex["cohorts"] == int(m.group(1)) == 3
    assert max(tex["cohort_counts"]) <= 20  # --max-patches per cohort
    assert tex["region"] == "cytoplasm"
    # cytoplasm patches around tumour nuclei are background-coloured here (no nucleus pixels)
    assert np.mean([it["mean"] for it in tex["items"]], axis=0) == pytest.approx(BG, abs=0.03)
    lym = check_library(out.parent / "lymphocyte_texture", "texture", 8)
    assert lym["region"] == "nucleus"
    assert np.mean([it["mean"] for it in lym["items"]], axis=0)[0] < 0.5  # dark


def test_texture_size_cohorts_and_no_patches(synthetic: dict, tmp_path: Path) -> None:
    out = tmp_path / "x" / "he.scene"
    text, _ = fit_synthetic(synthetic, out, texture_size=4, cohorts=2, prefix="zz")
    assert 'let zz_tumor_texture = patches("tumor_texture", cohorts 2, size 4, overlap 1)' in text
    check_library(out.parent / "tumor_texture", "texture", 4)
    out2 = tmp_path / "y" / "he.scene"
    text2, _ = fit_synthetic(synthetic, out2, patches=False)
    assert "patch(" not in text2 and "patches(" not in text2
    assert sorted(p.name for p in out2.parent.iterdir()) == ["he.scene"]


def test_refuses_to_overwrite_a_foreign_folder(synthetic: dict, tmp_path: Path) -> None:
    (tmp_path / "tumor_nuclei").mkdir()
    (tmp_path / "tumor_nuclei" / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="tumor_nuclei: exists and is not a synthlang patch"):
        fit_synthetic(synthetic, tmp_path / "he.scene")
    assert (tmp_path / "tumor_nuclei" / "mine.txt").exists()


def test_assign_cohorts_orders_by_brightness() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.8, 0.8, 0.8], [0.2, 0.2, 0.2], [0.5, 0.5, 0.5]])
    means = np.concatenate([c + rng.normal(0, 0.01, (10, 3)) for c in centres])
    cohorts, k = assign_cohorts(means, 3, seed=0)
    assert k == 3
    assert (cohorts[:10] == 2).all() and (cohorts[10:20] == 0).all() and (cohorts[20:] == 1).all()
    assert assign_cohorts(means[:2], 3, seed=0)[1] == 2
    assert assign_cohorts(np.repeat(means[:1], 5, axis=0), 3, seed=0)[1] == 1
