"""``synthlang fit`` end to end: the written library matches the statistics of synthetic inputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.common.imageio import write_png
from synthlang.fit import FitOptions, fit_files, format_number, parse_class_names, parse_crop
from tests.synthlang.fit.helpers import (
    BG,
    NOISE_VAR,
    PUMA,
    PUMA_NAMES,
    check_library,
    fit_synthetic,
    lets_of,
    mvn_of,
    numbers_of,
)

# --------------------------------------------------------------------------- numbers


def test_library_numbers_match_the_synthetic_truth(synthetic: dict, tmp_path: Path) -> None:
    text, result = fit_synthetic(synthetic, tmp_path / "lib" / "he.scene")
    lets = lets_of(text)
    assert set(lets) >= {
        "he_background",
        "he_tumor",
        "he_tumor_semi_axes",
        "he_tumor_semi_major",
        "he_tumor_semi_minor",
        "he_tumor_nuclei",
        "he_tumor_texture",
        "he_lymphocyte",
        "he_lymphocyte_texture",
    }
    for cls in ("tumor", "lymphocyte"):
        mean, cov, between = mvn_of(lets[f"he_{cls}"])
        truth = synthetic["means"][cls]
        # mean of the object means: within 0.005 (pixel noise std 0.02 over >= 20 px per object)
        assert mean == pytest.approx(truth.mean(axis=0), abs=5e-3)
        # within-object covariance: iid noise of variance 4e-4 (quantised to 8 bit: +1/12/255^2)
        assert np.diag(cov) == pytest.approx([NOISE_VAR] * 3, rel=0.2)
        assert np.abs(cov - np.diag(np.diag(cov))).max() < 1e-4
        # between: the sample covariance of the drawn object means (std 0.01), plus noise / n
        assert np.diag(between) == pytest.approx(np.diag(np.cov(truth, rowvar=False)), abs=6e-5)
    bg_mean, bg_cov, _ = mvn_of(lets["he_background"])
    assert bg_mean == pytest.approx(BG, abs=5e-3)
    assert np.diag(bg_cov) == pytest.approx([NOISE_VAR] * 3, rel=0.2)
    # semi-axes: ellipses (10, 6) and disks r=4 -> regionprops moments within 0.5 px
    major = numbers_of(lets["he_tumor_semi_major"])
    minor = numbers_of(lets["he_tumor_semi_minor"])
    assert major[0] == pytest.approx(10, abs=0.5) and minor[0] == pytest.approx(6, abs=0.5)
    low, high = numbers_of(lets["he_lymphocyte_semi_axes"])
    assert 3.5 <= low <= high <= 4.6
    counts = {c.name: c.n_objects for c in result.classes}
    assert counts == {"tumor": 9, "lymphocyte": len(synthetic["means"]["lymphocyte"])}
    assert "# --- tumor: 9 objects" in text


def test_numbers_have_six_significant_digits(synthetic: dict, tmp_path: Path) -> None:
    text, _ = fit_synthetic(synthetic, tmp_path / "he.scene")
    for line in text.splitlines():
        if line.startswith("let "):
            for tok in re.findall(r"-?[\d.]+(?:e-?\d+)?", line.split("=", 1)[1]):
                digits = re.sub(r"e.*$", "", tok).replace("-", "").replace(".", "").lstrip("0")
                assert len(digits) <= 6, (tok, line)
    assert format_number(1 / 3) == "0.333333" and format_number(-0.0) == "0"
    assert format_number(1.23456789e-5) == "1.23457e-05"


def test_header_is_a_date_free_provenance(synthetic: dict, tmp_path: Path) -> None:
    text, _ = fit_synthetic(synthetic, tmp_path / "he.scene", command="synthlang fit img.png ...")
    header = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert any("command: synthlang fit img.png ..." in ln for ln in header)
    assert any("img.png" in ln and "sha256" in ln for ln in header)
    assert not re.search(r"20\d\d-\d\d-\d\d", text)
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert all(ln.startswith("let ") for ln in body)


def test_fit_is_deterministic(synthetic: dict, tmp_path: Path) -> None:
    a, _ = fit_synthetic(synthetic, tmp_path / "a" / "he.scene")
    b, _ = fit_synthetic(synthetic, tmp_path / "b" / "he.scene")
    assert a == b
    for lib in ("tumor_texture", "lymphocyte_nuclei"):
        ia = (tmp_path / "a" / lib / "index.json").read_text()
        ib = (tmp_path / "b" / lib / "index.json").read_text()
        assert ia == ib
    # a second run into the same folder replaces the libraries cleanly
    c, _ = fit_synthetic(synthetic, tmp_path / "a" / "he.scene")
    assert c == a
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]


def test_crop_and_scale(synthetic: dict, tmp_path: Path) -> None:
    text, result = fit_synthetic(
        synthetic, tmp_path / "he.scene", crop=parse_crop("0:128,0:128"), scale=0.5, patches=False
    )
    major = numbers_of(lets_of(text)["he_tumor_semi_major"])[0]
    assert major == pytest.approx(5, abs=0.5)  # 10 px halved
    assert result.total_pixels == 64 * 64
    assert "crop: 0:128,0:128; scale: 0.5" in text


def test_class_renames_only_and_min_objects(synthetic: dict, tmp_path: Path) -> None:
    text, result = fit_synthetic(
        synthetic,
        tmp_path / "he.scene",
        class_names=parse_class_names(["tumor=melanoma", "2=-"]),
        patches=False,
    )
    assert [c.name for c in result.classes] == ["melanoma"]
    assert "let he_melanoma = mvn(" in text and "lymphocyte" not in text
    text, result = fit_synthetic(synthetic, tmp_path / "o.scene", only=("tumor",), patches=False)
    assert [c.name for c in result.classes] == ["tumor"]
    text, result = fit_synthetic(synthetic, tmp_path / "m.scene", min_objects=10, patches=False)
    assert [c.name for c in result.classes] == ["lymphocyte"]
    assert "# class tumor: 9 object(s), fewer than --min-objects 10; not written" in text


def test_reinhard_reference(synthetic: dict, tmp_path: Path) -> None:
    ref = tmp_path / "ref.png"
    write_png(ref, np.clip(synthetic["img"] * 0.9 + 0.05, 0, 1))
    text, result = fit_synthetic(synthetic, tmp_path / "r.scene", reference=str(ref), patches=False)
    assert "colour normalisation: Reinhard (CIE L*a*b*) to ref.png" in text
    assert result.normalization["method"] == "reinhard-lab"
    text, _ = fit_synthetic(synthetic, tmp_path / "m.scene", reference="mean", patches=False)
    # normalising a single image to its own statistics changes (almost) nothing
    plain, _ = fit_synthetic(synthetic, tmp_path / "p.scene", patches=False)
    assert mvn_of(lets_of(text)["he_tumor"])[0] == pytest.approx(
        mvn_of(lets_of(plain)["he_tumor"])[0], abs=3e-3
    )


# --------------------------------------------------------------------------- user errors


def test_user_errors_name_the_problem(synthetic: dict, tmp_path: Path) -> None:
    img = synthetic["image"]
    out = tmp_path / "x.scene"
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(), "exactly one annotation source"),
        (dict(labels=[synthetic["inst"]], auto=True), "exactly one annotation source"),
        (dict(labels=[synthetic["inst"], synthetic["inst"]]), "2 file"),
        (dict(npz=[tmp_path / "none.npz"]), r"none\.npz: no such file"),
        (dict(geojson=[synthetic["map"]]), "FeatureCollection"),
    ]
    for kwargs, message in cases:
        with pytest.raises(DataError, match=message):
            fit_files([img], out, FitOptions(), **kwargs)
    empty = tmp_path / "empty_inst.png"
    write_png(empty, np.zeros((192, 192), np.int32))
    with pytest.raises(DataError, match="no class has at least 3 annotated objects"):
        fit_files([img], out, FitOptions(), labels=[empty])
    with pytest.raises(DataError, match="class 'stroma' .* has no annotated objects"):
        fit_synthetic(synthetic, out, only=("stroma",))
    with pytest.raises(DataError, match="must end in .scene"):
        fit_synthetic(synthetic, tmp_path / "x.txt")
    with pytest.raises(DataError, match="--prefix"):
        fit_synthetic(synthetic, out, prefix="1abc")
    with pytest.raises(DataError, match="--crop"):
        parse_crop("a:b")
    with pytest.raises(DataError, match="extends past the image"):
        fit_synthetic(synthetic, out, crop=parse_crop("0:500,:"))
    with pytest.raises(DataError, match="OLD=NEW"):
        parse_class_names(["tumor"])
    with pytest.raises(ResourceLimitError, match="limit"):
        fit_synthetic(synthetic, out, max_pixels=1000)
    bad_npz = tmp_path / "bad.npz"
    np.savez(bad_npz, labels=np.zeros((192, 192), np.int32))
    with pytest.raises(DataError, match="no 'inst_map' array"):
        fit_files([img], out, FitOptions(), npz=[bad_npz])
    assert not out.exists()


# --------------------------------------------------------------------------- syntax


def test_library_parses_and_compiles(synthetic: dict, tmp_path: Path) -> None:
    out = tmp_path / "lib" / "he.scene"
    fit_synthetic(synthetic, out)
    parse = pytest.importorskip("synthlang.lang.parse", reason="the parser is not available yet")
    parse.parse(out.read_text(), str(out))
    compile_mod = pytest.importorskip(
        "synthlang.lang.compile",
        reason="the compiler (synthlang.lang.compile) is not available yet",
    )
    main = tmp_path / "main.scene"
    main.write_text(
        'import "lib/he.scene"\n'
        "scene uses_fit { size 64 x 64 }\n"
        "layer background { fill color he_background }\n"
        "layer tumor_cell {\n"
        "    ellipse(semi_axes [he_tumor_semi_major, he_tumor_semi_minor])\n"
        "    place count 3\n"
        "    texture he_tumor_texture\n"
        "}\n"
        "layer tumor_nucleus { he_tumor_nuclei place inside tumor_cell }\n"
        "layer immune {\n"
        "    ellipse(semi_axes he_lymphocyte_semi_axes)\n"
        "    place count 4\n"
        "    color he_lymphocyte\n"
        "}\n"
    )
    scene = compile_mod.compile_file(main)
    assert scene.categories == ("background", "tumor_cell", "tumor_nucleus", "immune")
    tex = scene.layer("tumor_cell").color
    assert tex.kind == "patches" and Path(tex.library) == (out.parent / "tumor_texture").resolve()


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_puma_fit_half_round_trip(realdata: Path, tmp_path: Path) -> None:
    """Fit on the PUMA FIT half only (rows 0-511), 40x -> 20x, from the GeoJSON polygons."""
    opts = FitOptions(
        crop=parse_crop("0:512,:"),
        scale=0.5,
        pixel_size_um=0.25,
        class_names=parse_class_names(PUMA_NAMES),
        only=("tumor", "lymphocyte"),
        max_patches=30,
    )
    out = tmp_path / "puma" / "puma.scene"
    result = fit_files(
        [realdata / f"{PUMA}.tif"], out, opts, geojson=[realdata / f"{PUMA}_nuclei.geojson"]
    )
    assert result.total_pixels == 256 * 512
    lets = lets_of(out.read_text())
    tumor, _, _ = mvn_of(lets["he_tumor"])
    lymph, _, _ = mvn_of(lets["he_lymphocyte"])
    background, _, _ = mvn_of(lets["he_background"])
    # H&E: nuclei are blue-purple (blue > red > green), lymphocytes darker than tumour
    # nuclei, and both darker than the eosin-pink surroundings
    for rgb in (tumor, lymph):
        assert rgb[2] > rgb[0] > rgb[1]
    assert lymph.sum() < tumor.sum() < background.sum()
    # semi-axes at 20x: lymphocytes ~3-7 px, tumour nuclei larger (Table 1: 3-10 px at 20x)
    lo_l, hi_l = numbers_of(lets["he_lymphocyte_semi_axes"])
    lo_t, hi_t = numbers_of(lets["he_tumor_semi_axes"])
    assert 2 <= lo_l < hi_l <= 9
    assert 3 <= lo_t < hi_t <= 20
    assert (
        numbers_of(lets["he_tumor_semi_major"])[0] > numbers_of(lets["he_lymphocyte_semi_major"])[0]
    )
    counts = {c.name: c.n_objects for c in result.classes}
    assert counts["lymphocyte"] > 100 and counts["tumor"] > 80
    check_library(out.parent / "tumor_nuclei", "nuclei", None)
    check_library(out.parent / "lymphocyte_texture", "texture", 8)

    # the rasterised instance + class PNGs give the same colours
    out2 = tmp_path / "png" / "puma.scene"
    fit_files(
        [realdata / f"{PUMA}.tif"],
        out2,
        FitOptions(
            crop=parse_crop("0:512,:"),
            scale=0.5,
            pixel_size_um=0.25,
            class_names=parse_class_names(PUMA_NAMES),
            only=("tumor", "lymphocyte"),
            patches=False,
        ),
        labels=[realdata / f"{PUMA}_inst.png"],
        class_labels=[realdata / f"{PUMA}_class.png"],
        classes_json=realdata / "puma_melanoma" / "class_map.json",
    )
    lets2 = lets_of(out2.read_text())
    assert mvn_of(lets2["he_tumor"])[0] == pytest.approx(tumor, abs=0.02)
    assert mvn_of(lets2["he_lymphocyte"])[0] == pytest.approx(lymph, abs=0.02)
