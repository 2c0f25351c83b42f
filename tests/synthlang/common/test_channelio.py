"""Image files of any channel count and 8 or 16 bits; the false-colour view."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from synthlang.common.channelio import (
    encode_image,
    false_colour,
    image_channels,
    quantize,
    read_channels,
    read_raw_channels,
    tiff_channel_names,
)
from synthlang.common.channels import FALSE_COLOURS, describe_channels, image_suffix
from synthlang.common.errors import DataError, ResourceLimitError


@pytest.mark.parametrize("channels", [1, 3, 4, 7])
@pytest.mark.parametrize("bits", [8, 16])
def test_round_trip(tmp_path: Path, channels: int, bits: int) -> None:
    """Values come back within half a step: 0.5 / 255 or 0.5 / 65535."""
    image = np.random.default_rng(channels).random((9, 13, channels)).astype(np.float32)
    image[0, 0] = 0.0
    image[0, 1] = 1.0
    path = tmp_path / f"a{image_suffix(channels)}"
    data = encode_image(quantize(image, bits), [f"m{k}" for k in range(channels)])
    path.write_bytes(data)
    assert data == encode_image(quantize(image, bits), [f"m{k}" for k in range(channels)])
    raw = read_raw_channels(path)
    assert raw.dtype == (np.uint16 if bits == 16 else np.uint8) and raw.shape == image.shape
    back = read_channels(path)
    step = 2**bits - 1
    assert np.abs(back.astype(np.float64) - image).max() <= 0.5 / step + 1e-7
    if channels != 3:
        assert tiff_channel_names(path) == [f"m{k}" for k in range(channels)]
        assert image_channels(path) == channels


def test_sixteen_bit_rgb_png_keeps_its_precision(tmp_path: Path) -> None:
    """Pillow reads 16-bit colour PNGs at 8 bits; this reader does not."""
    pixels = np.arange(5 * 6 * 3, dtype=np.uint16).reshape(5, 6, 3) * 257 + 1
    path = tmp_path / "a.png"
    path.write_bytes(encode_image(pixels))
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (6, 5)
    np.testing.assert_array_equal(read_raw_channels(path), pixels)


def test_quantize() -> None:
    x = np.array([0.0, 1 / 65535, 0.25, 0.5, 1.0, 1.2, -0.1])
    assert quantize(x, 16).tolist() == [0, 1, 16384, 32768, 65535, 65535, 0]
    assert quantize(x, 8).tolist() == [0, 0, 64, 128, 255, 255, 0]
    with pytest.raises(ValueError):
        quantize(x, 12)


def test_tiff_layouts(tmp_path: Path) -> None:
    """(C, H, W), (H, W, C) and 2-d TIFFs from other programs; more dimensions refused."""
    data = np.random.default_rng(0).integers(0, 255, (4, 6, 5), dtype=np.uint8)
    planar = tmp_path / "planar.tif"
    tifffile.imwrite(planar, data, photometric="minisblack")
    np.testing.assert_array_equal(read_raw_channels(planar), data.transpose(1, 2, 0))
    rgb = tmp_path / "rgb.tiff"
    tifffile.imwrite(rgb, data[:3].transpose(1, 2, 0), photometric="rgb")
    np.testing.assert_array_equal(read_raw_channels(rgb), data[:3].transpose(1, 2, 0))
    gray = tmp_path / "gray.tif"
    tifffile.imwrite(gray, data[0])
    assert read_raw_channels(gray).shape == (6, 5, 1)
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.zeros((2, 3, 6, 5), np.uint8), photometric="minisblack")
    with pytest.raises(DataError, match="expected one image with channels"):
        read_raw_channels(stack)
    floats = tmp_path / "f.tif"
    tifffile.imwrite(floats, np.full((2, 6, 5), 1.5, np.float32), photometric="minisblack")
    assert read_channels(floats).max() == 1.0
    odd = tmp_path / "i32.tif"
    tifffile.imwrite(odd, np.zeros((2, 6, 5), np.int32), photometric="minisblack")
    with pytest.raises(DataError, match="expected 8 or 16 bit"):
        read_channels(odd)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_channels(tmp_path / "missing.tif")
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00garbage")
    with pytest.raises(DataError, match="cannot read the TIFF"):
        read_channels(broken)
    assert image_channels(broken) is None
    big = tmp_path / "big.tif"
    big.write_bytes(encode_image(np.zeros((40, 50, 4), np.uint8)))
    with pytest.raises(ResourceLimitError, match="40 x 50"):
        read_channels(big, max_pixels=100)


def test_false_colour() -> None:
    rgb = np.random.default_rng(0).random((3, 4, 3)).astype(np.float32)
    assert false_colour(rgb) is rgb or np.array_equal(false_colour(rgb), rgb)
    one = np.full((2, 2, 1), 0.25, np.float32)
    np.testing.assert_array_equal(false_colour(one), 0.25)
    four = np.zeros((1, 4, 4), np.float32)
    for k in range(4):
        four[0, k, k] = 1.0
    expected = np.array(FALSE_COLOURS[:4], np.float32)
    np.testing.assert_array_equal(false_colour(four)[0], expected)  # blue, red, green, magenta
    both = np.ones((1, 1, 4), np.float32)
    assert false_colour(both).max() == 1.0  # tints add up and saturate


def test_describe_channels() -> None:
    assert describe_channels(("r", "g", "b")) == "3 channels (RGB)"
    assert describe_channels(("dapi",)) == "1 channel (dapi)"


def test_tiff_is_one_planar_page_imagej_can_read() -> None:
    data = encode_image(np.zeros((6, 5, 4), np.uint16), ["dapi", "cd45", "gp100", "ki67"])
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert len(tif.pages) == 1 and tif.series[0].axes == "CYX"
        assert tif.series[0].shape == (4, 6, 5) and tif.pages.first.dtype == np.uint16
        assert not tif.pages.first.is_tiled
