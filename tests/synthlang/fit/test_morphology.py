"""``synthlang fit --morphology``: semi-axes from a per-nucleus table (synthlang.fit.morphology)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.fit import parse_class_names, parse_crop
from synthlang.fit.morphology import class_semi_axes, read_morphology
from tests.synthlang.fit.helpers import PUMA, PUMA_NAMES, fit_synthetic, lets_of, numbers_of

# --------------------------------------------------------------------------- morphology table


def _morphology_csv(path: Path, rows: list[tuple[str, str, float, float, float, float]]) -> Path:
    """Write a PUMA-style morphology table (gzip when ``path`` ends in .gz)."""
    import gzip

    lines = ["roi,lesion,class,cx_px,cy_px,area_px,perimeter_px,rect_major_px,rect_minor_px"]
    for roi, cls, cx, cy, major, minor in rows:
        lines.append(f"{roi},primary,{cls},{cx},{cy},100,40,{major},{minor}")
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def test_morphology_table_gives_the_semi_axes(synthetic: dict, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    majors = rng.uniform(30, 50, 200)  # table px at 0.25 um/px -> semi 7.5-12.5 px at 0.5 um/px
    rows = [("other_roi", "nuclei_tumor", 10.0, 10.0, m, m / 2) for m in majors]
    rows += [("other_roi", "nuclei_neutrophil", 5.0, 5.0, 20.0, 10.0)] * 5
    table = _morphology_csv(tmp_path / "morph.csv.gz", rows)
    names = parse_class_names(["nuclei_tumor=tumor", "nuclei_neutrophil=-"])
    text, result = fit_synthetic(
        synthetic, tmp_path / "m" / "he.scene", morphology=str(table), class_names=names
    )
    lets = lets_of(text)
    mean, std, low, high = numbers_of(lets["he_tumor_semi_major"])
    assert mean == pytest.approx(majors.mean() / 4, rel=1e-4)
    assert std == pytest.approx(majors.std(ddof=1) / 4, rel=1e-4)
    assert (low, high) == pytest.approx(tuple(np.percentile(majors / 4, [5, 95])), rel=1e-4)
    assert numbers_of(lets["he_tumor_semi_minor"])[0] == pytest.approx(majors.mean() / 8, rel=1e-4)
    assert "nuclei_tumor: 200 nuclei" in text and "sha256" in text
    # lymphocytes have no rows: their semi-axes still come from the image (disks of radius 4)
    assert "class lymphocyte: 0 nuclei in morph.csv.gz" in text
    assert numbers_of(lets["he_lymphocyte_semi_major"])[0] == pytest.approx(4, abs=0.3)
    tumor = next(c for c in result.classes if c.name == "tumor")
    assert tumor.morphology is not None and tumor.n_objects == 9  # counts from the image
    # a different table pixel size scales the axes
    text2, _ = fit_synthetic(
        synthetic,
        tmp_path / "m2" / "he.scene",
        morphology=str(table),
        morphology_pixel_size_um=0.5,
        class_names=names,
    )
    assert numbers_of(lets_of(text2)["he_tumor_semi_major"])[0] == pytest.approx(majors.mean() / 2)


def test_morphology_leaves_out_rows_outside_the_crop_and_excluded_rois(
    synthetic: dict, tmp_path: Path
) -> None:
    # rows of the input image itself ("img"): inside the crop 20 px, outside 60 px
    rows = [("img", "tumor", 50.0, 10.0, 20.0, 10.0)] * 5
    rows += [("img", "tumor", 50.0, 150.0, 60.0, 30.0)] * 5
    rows += [("eval_roi", "tumor", 50.0, 10.0, 100.0, 50.0)] * 5
    table = _morphology_csv(tmp_path / "morph.csv", rows)
    text, _ = fit_synthetic(
        synthetic,
        tmp_path / "c" / "he.scene",
        morphology=str(table),
        crop=parse_crop("0:96,:"),
        morphology_exclude=("eval_roi",),
    )
    assert numbers_of(lets_of(text)["he_tumor_semi_major"]) == [5.0]  # 20 / 2 * 0.25 / 0.5
    assert "5 nuclei of img outside --crop left out" in text
    assert "5 nuclei of excluded rois left out" in text


def test_morphology_table_errors(synthetic: dict, tmp_path: Path) -> None:
    from synthlang.cli.main import main as cli_main

    bad = tmp_path / "bad.csv"
    cases = {
        "class,rect_major_px\ntumor,3\n": "missing column.*rect_minor_px",
        "class,rect_major_px,rect_minor_px\ntumor,3,abc\n": "line 2, column rect_minor_px",
        "class,rect_major_px,rect_minor_px\ntumor,3,0\n": "must be positive",
        "class,rect_major_px,rect_minor_px\n": "no rows",
    }
    for content, message in cases.items():
        bad.write_text(content)
        with pytest.raises(DataError, match=message):
            fit_synthetic(synthetic, tmp_path / "e" / "he.scene", morphology=str(bad))
    bad.write_text("class,rect_major_px\ntumor,3\n")
    argv = ["fit", str(synthetic["image"]), "--labels", str(synthetic["inst"])]
    argv += ["--morphology", str(bad), "-o", str(tmp_path / "e" / "he.scene")]
    assert cli_main(argv) == 2
    assert not (tmp_path / "e" / "he.scene").exists()


@pytest.mark.realdata
def test_puma_morphology_table(realdata: Path) -> None:
    table = read_morphology(realdata / "puma_melanoma/puma_all205_nuclei_morphology.csv.gz")
    assert len(table) == 97193
    names = parse_class_names(PUMA_NAMES)
    axes, _ = class_semi_axes(
        table, lambda c: names.get(c), factor=0.5, crops={PUMA.split("/")[1]: (0, 512, 0, 1024)}
    )
    assert set(axes) == {"tumor", "lymphocyte"}
    # at 20x tumour nuclei are larger than lymphocyte nuclei
    assert np.median(axes["tumor"].semi_major) > 1.2 * np.median(axes["lymphocyte"].semi_major)
    assert 3 < np.median(axes["lymphocyte"].semi_minor) < 6
