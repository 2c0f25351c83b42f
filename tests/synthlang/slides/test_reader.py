from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import DataError
from synthlang.slides.reader import Slide, open_slide
from tests.synthlang.slides.helpers import pyramid, tissue_slide, write_tiff


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (200, 260, 3), dtype=np.uint8)


def test_levels_and_mpp_from_resolution_tags(tmp_path: Path, image: np.ndarray) -> None:
    path = write_tiff(tmp_path / "a.tif", image, mpp=0.25, levels=3)
    with open_slide(path) as s:
        assert s.dimensions == (260, 200)
        assert s.level_dimensions == ((260, 200), (130, 100), (65, 50))
        assert s.level_downsamples == pytest.approx((1.0, 2.0, 4.0))
        assert s.mpp == pytest.approx(0.25)
        assert s.level_mpp(2) == pytest.approx(1.0)
        assert s.best_level(2.0) == 1 and s.best_level(3.9) == 1 and s.best_level(100) == 2
        np.testing.assert_array_equal(s.read_level(0, 10, 20, 30, 40), image[20:60, 10:40])
        lv1 = pyramid(image, 2)[1]
        np.testing.assert_array_equal(s.read_region(20, 40, 8, 6, level=1), lv1[20:26, 10:18])


def test_ome_tiff_physical_size(tmp_path: Path, image: np.ndarray) -> None:
    path = write_tiff(tmp_path / "a.ome.tif", image, mpp=0.5, levels=2, ome=True)
    with open_slide(path) as s:
        assert s.mpp == pytest.approx(0.5)
        assert s.mpp_source == "OME PhysicalSizeX"
        assert s.level_count == 2


def test_explicit_mpp_overrides_metadata(tmp_path: Path, image: np.ndarray) -> None:
    path = write_tiff(tmp_path / "a.tif", image, mpp=0.25)
    with open_slide(path, mpp=0.5) as s:
        assert s.mpp == 0.5 and s.mpp_source == "argument"


def test_missing_pixel_size_names_file_and_option(tmp_path: Path, image: np.ndarray) -> None:
    path = write_tiff(tmp_path / "nompp.tif", image, mpp=None)
    with pytest.raises(DataError) as err:
        open_slide(path)
    assert "nompp.tif" in str(err.value) and "--mpp" in str(err.value)
    with open_slide(path, mpp=0.25) as s:
        assert s.mpp == 0.25


@pytest.mark.parametrize("bad", [0, -1, float("nan"), 5000])
def test_implausible_mpp_refused(tmp_path: Path, image: np.ndarray, bad: float) -> None:
    path = write_tiff(tmp_path / "a.tif", image)
    with pytest.raises(DataError, match="micrometres per pixel"):
        open_slide(path, mpp=bad)


def test_file_cut_after_its_first_directory(tmp_path: Path) -> None:
    """The tags that locate the pixel data lie past the end: refused, not read as white."""
    big = np.full((2048, 2048, 3), 200, np.uint8)
    path = write_tiff(tmp_path / "head.tif", big, levels=3, tile=256)
    path.write_bytes(path.read_bytes()[:500])  # the directory, not its offset tables
    with pytest.raises(DataError, match="head.tif: the file is truncated"):
        open_slide(path, mpp=0.25)


@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.97])
def test_truncated_file(tmp_path: Path, image: np.ndarray, fraction: float) -> None:
    path = write_tiff(tmp_path / "cut.tif", image, levels=3)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(DataError) as err:
        with open_slide(path, mpp=0.25) as s:
            for level in range(s.level_count):
                w, h = s.level_dimensions[level]
                s.read_level(level, 0, 0, w, h)
    assert "cut.tif" in str(err.value)


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.svs"
    text.write_text("not a slide\n" * 20)
    with pytest.raises(DataError) as err:
        open_slide(text)
    assert "notes.svs" in str(err.value) and "supported" in str(err.value)
    with pytest.raises(DataError, match="no such file"):
        open_slide(tmp_path / "absent.svs")


def test_png_needs_mpp(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "small.png"
    Image.fromarray(tissue_slide(40, 50)).save(path)
    with pytest.raises(DataError, match="--mpp"):
        open_slide(path)
    with open_slide(path, mpp=0.5) as s:
        assert s.dimensions == (50, 40) and s.level_count == 1


def test_outside_reads_white_and_scaled_reads_average() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    a[:, 4:] = 200
    s = Slide.from_array(a, mpp=0.25)
    out = s.read_level(0, -2, -2, 4, 4)
    assert (out[:2] == 255).all() and (out[2:, 2:] == 0).all()
    half = s.read_scaled(0, 0, 8, 8, (4, 4))
    np.testing.assert_array_equal(half[:, :2], 0)
    np.testing.assert_array_equal(half[:, 2:], 200)
    with pytest.raises(ValueError, match="closed"):
        s.close()
        s.read_level(0, 0, 0, 1, 1)


def test_the_package_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import synthlang.slides.outputs, synthlang.slides.geojson\n"
        "assert 'torch' not in sys.modules and 'vnet' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
