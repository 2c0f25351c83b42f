"""``synthlang fit --points``: nuclei labelled by point annotations (synthlang.fit.points)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.common.imageio import write_png
from synthlang.fit import FitOptions, fit_files, load_points, parse_class_names, parse_crop
from synthlang.fit.points import match_points
from tests.synthlang.fit.helpers import disks_on_pink, lets_of, mvn_of

# --------------------------------------------------------------------------- point annotations


def _points_csv(path: Path, points: list[tuple[float, float, str]]) -> Path:
    path.write_text("x,y,class\n" + "".join(f"{x},{y},{c}\n" for x, y, c in points))
    return path


def _pink_with_points(tmp: Path) -> tuple[Path, Path, list[tuple[int, int]]]:
    """Disks on pink; points on all but the last three disks, alternating two classes."""
    img, centres = disks_on_pink(2)
    write_png(tmp / "pink.png", img)
    pts = [
        (c + 1.0, r - 1.0, "epithelial" if k % 2 else "inflammatory")
        for k, (r, c) in enumerate(centres[:-3])
    ]
    pts.append((199.0, 199.0, "fibroblast"))  # a point on no nucleus
    return tmp / "pink.png", _points_csv(tmp / "pink_points.csv", pts), centres


def test_points_label_the_segmented_nuclei(tmp_path: Path) -> None:
    image, points, centres = _pink_with_points(tmp_path)
    names = parse_class_names(["epithelial=tumor", "inflammatory=lymphocyte"])
    opts = FitOptions(class_names=names, min_objects=1, max_patches=5)
    result = fit_files([image], tmp_path / "p" / "pts.scene", opts, points=[points])
    counts = {c.name: c.n_objects for c in result.classes}
    n_pts = len(centres) - 3
    assert counts == {"tumor": n_pts // 2, "lymphocyte": n_pts - n_pts // 2}
    text = (tmp_path / "p" / "pts.scene").read_text()
    assert "annotation: points; points pink_points.csv" in text
    assert f"{n_pts} labelled by one of {n_pts + 1} points" in text
    # the three nuclei without a point are not background either
    mean, _, _ = mvn_of(lets_of(text)["he_background"])
    assert mean == pytest.approx([0.92, 0.62, 0.8], abs=0.01)


def test_load_points_follows_crop_and_scale(tmp_path: Path) -> None:
    image, points, centres = _pink_with_points(tmp_path)
    opts = FitOptions(crop=parse_crop("40:200,20:200"), scale=2.0, pixel_size_um=0.5)
    ann = load_points(image, points, opts)
    assert ann.instances.shape == (320, 360) and ann.image.shape == (320, 360, 3)
    assert set(np.unique(ann.instances)) - {0} == set(ann.classes)
    inside = [(r, c) for r, c in centres[:-3] if r >= 40 and c >= 20]
    assert len(ann.points) == len(inside) + 1  # the stray point is inside the crop too
    assert len(ann.classes) == len(inside)
    for k, (x, y) in enumerate(ann.points.xy.tolist()):
        ident = int(ann.instances[round(y), round(x)])
        if ann.points.classes[k] != "fibroblast":
            assert ann.classes[ident] == ann.points.classes[k]
    full = load_points(image, points, FitOptions(), keep_unlabelled=True)
    assert sum(c is None for c in full.classes.values()) == 3


def test_match_points_is_one_to_one() -> None:
    lab = np.zeros((30, 30), np.int32)
    lab[2:8, 2:8] = 1  # centroid (4.5, 4.5)
    lab[2:8, 10:16] = 2  # centroid (x 12.5, y 4.5)
    xy = np.array([[5.0, 5.0], [6.0, 4.5], [12.0, 5.0], [25.0, 25.0]])
    assert match_points(lab, xy, 3.0) == {1: 0, 2: 2}
    # a point inside a large nucleus counts even beyond the radius
    big = np.zeros((40, 40), np.int32)
    big[5:35, 5:35] = 1
    assert match_points(big, np.array([[8.0, 8.0]]), 2.0) == {1: 0}
    assert match_points(big, np.zeros((0, 2)), 2.0) == {}


def test_point_file_errors(synthetic: dict, tmp_path: Path) -> None:
    from synthlang.cli.main import main as cli_main

    img = synthetic["image"]
    out = tmp_path / "x.scene"
    bad = tmp_path / "img_points.csv"
    cases = {
        "x,y\n1,2\n": "missing column.*class",
        "x,y,class\n1,abc,tumor\n": "line 2: y = 'abc' is not a number",
        "x,y,class\n1,nan,tumor\n": "is not a number",
        "x,y,class\n300,2,tumor\n": r"outside the image \(192 x 192 px",
        "x,y,class\n1,2,\n": "empty class",
        "": "empty file",
    }
    for content, message in cases.items():
        bad.write_text(content)
        with pytest.raises(DataError, match=message):
            fit_files([img], out, FitOptions(), points=[bad])
    _points_csv(bad, [(10, 10, "tumor")])
    with pytest.raises(DataError, match="--points: 2 file"):
        fit_files([img], out, FitOptions(), points=[bad, bad])
    with pytest.raises(DataError, match="exactly one annotation source"):
        fit_files([img], out, FitOptions(), points=[bad], auto=True)
    with pytest.raises(DataError, match="no such file"):
        fit_files([img], out, FitOptions(), points=[tmp_path / "none.csv"])
    bad.write_text("x,y,class\n-5,2,tumor\n")
    assert cli_main(["fit", str(img), "--points", str(bad), "-o", str(out)]) == 2
    assert not out.exists()


@pytest.mark.realdata
def test_crchp_points(realdata: Path, tmp_path: Path) -> None:
    """Two CRCHistoPhenotypes train tiles: most points label a segmented nucleus."""
    tiles = [realdata / f"crchp/train/img00{k}" for k in (2, 3)]
    if not all(t.with_suffix(".png").is_file() for t in tiles):
        pytest.skip("crchp train tiles not available")
    opts = FitOptions(pixel_size_um=0.55)
    for t in tiles:
        ann = load_points(t.with_suffix(".png"), f"{t}_points.csv", opts)
        assert len(ann.classes) >= 0.85 * len(ann.points)
        assert set(ann.classes.values()) <= {"epithelial", "inflammatory", "fibroblast", "others"}
    # written only to tmp_path: CRCHP is research-only and never enters the repository
    result = fit_files(
        [tiles[0].with_suffix(".png")],
        tmp_path / "crchp.scene",
        FitOptions(pixel_size_um=0.55, class_names={"epithelial": "tumor"}, patches=False),
        points=[f"{tiles[0]}_points.csv"],
    )
    names = {c.name for c in result.classes}
    assert names and names <= {"tumor", "inflammatory", "fibroblast", "others"}
