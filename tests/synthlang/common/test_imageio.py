"""Safe image IO: round trips, refused inputs with the right error class and message."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang.common.errors import DataError, ResourceLimitError
from synthlang.common.fileio import atomic_write_text
from synthlang.common.imageio import (
    image_size,
    read_image,
    read_label_image,
    to_uint8,
    write_png,
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bytes(width: int, height: int, bit_depth: int, color_type: int, raw: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _png16(a: np.ndarray, color_type: int) -> bytes:
    rows = [b"\x00" + a[i].astype(">u2").tobytes() for i in range(a.shape[0])]
    return _png_bytes(a.shape[1], a.shape[0], 16, color_type, b"".join(rows))


# --------------------------------------------------------------------------- round trips


def test_rgb_round_trip_is_exact_to_8_bits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    img = rng.random((7, 9, 3)).astype(np.float32)
    write_png(tmp_path / "a.png", img)
    back = read_image(tmp_path / "a.png")
    assert back.dtype == np.float32 and back.shape == (7, 9, 3)
    assert np.abs(back - img).max() <= 0.5 / 255 + 1e-6
    assert image_size(tmp_path / "a.png") == (7, 9)


def test_write_png_is_atomic_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "m.png"
    write_png(target, np.zeros((4, 4), np.float32))
    write_png(target, np.ones((4, 4), bool))
    assert np.asarray(Image.open(target)).min() == 255
    atomic_write_text(tmp_path / "t.txt", "hello")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png", "t.txt"]


def test_to_uint8_rounds_halves_to_even_and_clips() -> None:
    x = np.array([-0.3, 0.0, 0.5 / 255, 1.5 / 255, 0.5, 1.0, 1.2, np.inf])
    assert to_uint8(x).tolist() == [0, 0, 0, 2, 128, 255, 255, 255]
    assert to_uint8(np.zeros((2, 3, 3), np.float32)).shape == (2, 3, 3)


def test_to_uint8_rounds_in_the_dtype_it_is_given(tmp_path: Path) -> None:
    """float32 products can land on an exact half where the float64 one does not."""
    x = np.array([0.5 / 255, 2.5 / 255], np.float32)
    assert to_uint8(x).tolist() == [0, 2]  # the rule of dataset PNGs (float32 renders)
    assert to_uint8(x.astype(np.float64)).tolist() == [1, 3]
    write_png(tmp_path / "a.png", x.reshape(1, 2))  # write_png rounds in float64
    assert np.asarray(Image.open(tmp_path / "a.png")).tolist() == [[1, 3]]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(DataError, match=r"pipe\.png: cannot read the image: it is a named pipe"):
        read_image(tmp_path / "pipe.png")


def test_write_png_refuses_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NaN"):
        write_png(tmp_path / "x.png", np.full((2, 2, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="0..65535"):
        write_png(tmp_path / "x.png", np.array([[70000]], np.int64))
    with pytest.raises(ValueError, match="expected"):
        write_png(tmp_path / "x.png", np.zeros((2, 2, 5), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_rgba_drops_alpha_with_a_note(tmp_path: Path) -> None:
    a = np.zeros((3, 3, 4), np.uint8)
    a[..., 0] = 200
    a[..., 3] = 128
    Image.fromarray(a).save(tmp_path / "rgba.png")
    notes: list[str] = []
    img = read_image(tmp_path / "rgba.png", notes=notes)
    assert img.shape == (3, 3, 3)
    assert img[0, 0, 0] == pytest.approx(200 / 255)
    assert any("alpha channel dropped" in n and "rgba.png" in n for n in notes)


def test_palette_image_is_expanded(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4), (10, 200, 30)).convert("P").save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.shape == (4, 4, 3)
    assert img[0, 0, 1] > 0.7


def test_grayscale_is_refused_unless_allowed(tmp_path: Path) -> None:
    Image.new("L", (5, 4), 128).save(tmp_path / "g.png")
    with pytest.raises(DataError, match=r"g\.png: is a single-channel .* RGB colour image"):
        read_image(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png", allow_gray=True)
    assert img.shape == (4, 5, 3)
    assert img[0, 0, 0] == pytest.approx(128 / 255)


def test_16_bit_gray_keeps_precision(tmp_path: Path) -> None:
    g = np.array([[0, 1000, 65535]], np.uint16)
    (tmp_path / "g16.png").write_bytes(_png16(g, 0))
    img = read_image(tmp_path / "g16.png", allow_gray=True)
    assert img[0, :, 0] == pytest.approx(g[0] / 65535, abs=1e-6)


def test_16_bit_rgb_is_read_at_8_bit_precision(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 65536, (4, 5, 3)).astype(np.uint16)
    (tmp_path / "c16.png").write_bytes(_png16(a, 2))
    img = read_image(tmp_path / "c16.png")
    assert np.abs(img - a / 65535.0).max() < 1.5 / 255


# --------------------------------------------------------------------------- refused inputs


def test_missing_and_non_image_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("this is not an image")
    with pytest.raises(DataError, match=r"text\.png: not an image file Pillow can read"):
        read_image(tmp_path / "text.png")
    with pytest.raises(DataError, match="is a folder"):
        read_image(tmp_path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_truncated_files_are_data_errors(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / f"t.{fmt.lower()}"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"t\.{fmt.lower()}: .*(truncated|corrupt|header)"):
        read_image(path)


def test_corrupt_png_data_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    good = _png_bytes(4, 4, 8, 2, b"".join(b"\x00" + bytes(12) for _ in range(4)))
    bad = bytearray(good)
    start = good.index(b"IDAT") + 4
    bad[start : start + 6] = b"\xff" * 6  # garbage zlib stream (CRC now wrong too)
    path.write_bytes(bytes(bad))
    with pytest.raises(DataError, match=r"bad\.png"):
        read_image(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    # a 100000 x 100000 header with almost no data: Pillow's own limit fires
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes(100_000, 100_000, 8, 2, b""))
    with pytest.raises(ResourceLimitError, match=r"bomb\.png: .*decompression bomb"):
        read_image(path)
    # 20000 x 20000 = 400 MP: above synthlang's default limit, below Pillow's error
    path2 = tmp_path / "big.png"
    path2.write_bytes(_png_bytes(20_000, 5_000, 8, 2, b""))
    with pytest.raises(ResourceLimitError, match=r"big\.png: image is 5000 x 20000 .* limit"):
        read_image(path2)
    with pytest.raises(ResourceLimitError, match="limit is 100 pixels"):
        read_image(path2, max_pixels=100)


def test_explicit_pixel_limit(tmp_path: Path) -> None:
    write_png(tmp_path / "s.png", np.zeros((20, 20, 3), np.float32))
    with pytest.raises(ResourceLimitError, match=r"s\.png: image is 20 x 20 = 400 pixels"):
        read_image(tmp_path / "s.png", max_pixels=399)
    with pytest.raises(ResourceLimitError):
        read_label_image(tmp_path / "s.png", max_pixels=10)


# --------------------------------------------------------------------------- labels


def test_label_images_any_mode(tmp_path: Path) -> None:
    lab = np.array([[0, 1, 2], [300, 65535, 7]], np.int32)
    write_png(tmp_path / "l16.png", lab)
    assert read_label_image(tmp_path / "l16.png").tolist() == lab.tolist()
    write_png(tmp_path / "l8.png", np.array([[0, 3], [255, 1]], np.uint8))
    got = read_label_image(tmp_path / "l8.png")
    assert got.dtype == np.int32 and got.tolist() == [[0, 3], [255, 1]]
    Image.fromarray(np.array([[0, 5], [5, 9]], np.uint8)).convert("P").save(tmp_path / "p.png")
    assert read_label_image(tmp_path / "p.png").shape == (2, 2)


def test_rgb_label_image_colours_become_labels(tmp_path: Path) -> None:
    a = np.zeros((2, 2, 3), np.uint8)
    a[0, 1] = (255, 0, 0)
    a[1, 0] = (0, 0, 7)
    Image.fromarray(a).save(tmp_path / "c.png")
    notes: list[str] = []
    got = read_label_image(tmp_path / "c.png", notes=notes)
    assert got[0, 0] == 0 and got[0, 1] == 255 << 16 and got[1, 0] == 7
    assert notes


def test_float_label_image_must_be_integral(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0.0, 1.5]], np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(DataError, match=r"f\.tif: label image has non-integer values"):
        read_label_image(tmp_path / "f.tif")
