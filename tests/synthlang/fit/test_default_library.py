"""The shipped default library scenes/lib/he_stardist (written by ``synthlang fit --auto``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthlang.fit import AutoRule, FitOptions, fit_files
from tests.synthlang.fit.helpers import check_library, lets_of, numbers_of

# --------------------------------------------------------------------------- default library


DEFAULT_LIB = Path(__file__).resolve().parents[3] / "scenes" / "lib" / "he_stardist"


def test_default_library_is_complete_and_small() -> None:
    scene = DEFAULT_LIB / "he_stardist.scene"
    if not scene.exists():
        pytest.skip("scenes/lib/he_stardist is not built (scripts/build_default_library.sh)")
    total = sum(p.stat().st_size for p in DEFAULT_LIB.rglob("*") if p.is_file())
    assert total < 2_000_000
    assert (DEFAULT_LIB / "LICENSE.stardist.txt").read_text().startswith("BSD 3-Clause License")
    assert "BSD-3" in (DEFAULT_LIB / "README.md").read_text()
    lets = lets_of(scene.read_text())
    for name in ("tumor", "lymphocyte"):
        assert f"stardist_{name}" in lets and f"stardist_{name}_texture" in lets
    assert lets["stardist_tumor_nuclei"] == 'patch("tumor_nuclei")'
    check_library(DEFAULT_LIB / "tumor_nuclei", "nuclei", None)
    for lib in ("tumor_texture", "lymphocyte_texture"):
        index = check_library(DEFAULT_LIB / lib, "texture", 8)
        assert index["cohorts"] == 3 and min(index["cohort_counts"]) >= 55  # Table 1
        assert "BSD-3-Clause" in index["provenance"]["licence"]


def test_default_library_compiles_from_a_fresh_scene(tmp_path: Path) -> None:
    scene = DEFAULT_LIB / "he_stardist.scene"
    if not scene.exists():
        pytest.skip("scenes/lib/he_stardist is not built (scripts/build_default_library.sh)")
    compile_mod = pytest.importorskip(
        "synthlang.lang.compile",
        reason="the compiler (synthlang.lang.compile) is not available yet",
    )
    main = tmp_path / "s3.scene"
    main.write_text(
        f'import "{scene.as_posix()}"\n'
        "scene s3 { size 64 x 64 }\n"
        "layer background { fill color stardist_background }\n"
        "layer tumor_nucleus { stardist_tumor_nuclei place count 3 }\n"
        "layer immune { ellipse(semi_axes uniform(5, 10)) place count 2\n"
        "               texture stardist_lymphocyte_texture }\n"
    )
    compiled = compile_mod.compile_file(main)
    assert compiled.layer("tumor_nucleus").shape.kind == "patch"


def test_default_library_regenerates(tmp_path: Path) -> None:
    """The shipped library is what scripts/build_default_library.sh writes (same numbers)."""
    scene = DEFAULT_LIB / "he_stardist.scene"
    source = DEFAULT_LIB / "source" / "histo.jpg"
    if not scene.exists() or not source.exists():
        pytest.skip("scenes/lib/he_stardist or its source image is missing")
    opts = FitOptions(
        prefix="stardist",
        only=("tumor", "lymphocyte", "stroma"),
        auto_rule=AutoRule(lymphocyte_max_radius_um=3.2, round_ratio=0.6),
    )
    fit_files([source], tmp_path / "he_stardist.scene", opts, auto=True)
    new = lets_of((tmp_path / "he_stardist.scene").read_text())
    old = lets_of(scene.read_text())
    assert new.keys() == old.keys()
    for name in old:
        assert numbers_of(new[name]) == pytest.approx(numbers_of(old[name]), rel=1e-4, abs=1e-9)
