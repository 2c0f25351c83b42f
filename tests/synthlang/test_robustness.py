"""Untrusted input: scene files that are not files, resource limits checked before allocation,
patch libraries that lie, and regressions found by the fuzzer (docs/robustness.md)."""

from __future__ import annotations

import json
import os
import re
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from synthlang.common.errors import (
    DataError,
    RenderError,
    ResourceLimitError,
    SceneError,
    SceneSyntaxError,
    SynthlangError,
)
from synthlang.common.limits import Limits, SceneLimitError
from synthlang.engine import patches
from synthlang.engine.render import render
from synthlang.ir.budget import estimate_render_bytes
from synthlang.lang.compile import compile_file, compile_string
from tests.conftest import ROOT, deadline

MAIN = 'import "{target}"\nscene s {{ size 8 x 8 }}\nlayer a {{ fill color rgb(0, 0, 0) }}\n'


def import_error(tmp_path: Path, target: str) -> SynthlangError:
    """Compile a main scene importing ``target``; return the error (within 5 s)."""
    main = tmp_path / "main.scene"
    main.write_text(MAIN.format(target=target))
    with deadline(5), pytest.raises(SynthlangError) as info:
        compile_file(main)
    err = info.value
    assert (err.line, err.column) == (1, 8), str(err)
    assert str(err).startswith(f"{main}:1:8: ")
    return err


# --------------------------------------------------------------------------- scene files


def test_import_of_python_file_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    err = import_error(tmp_path, "evil.py")
    assert isinstance(err, SceneError)
    assert "only `.scene` files can be imported" in err.message
    assert not marker.exists()


def test_import_of_folder(tmp_path: Path) -> None:
    (tmp_path / "dir.scene").mkdir()
    err = import_error(tmp_path, "dir.scene")
    assert 'cannot import "dir.scene": it is a folder' in err.message


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_import_of_dev_zero_does_not_read_forever(tmp_path: Path) -> None:
    (tmp_path / "zero.scene").symlink_to("/dev/zero")
    err = import_error(tmp_path, "zero.scene")
    assert "it is a character device, not a scene file" in err.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_import_of_named_pipe_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.scene")
    err = import_error(tmp_path, "pipe.scene")
    assert "it is a named pipe (FIFO), not a scene file" in err.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_main_file_that_is_a_pipe(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.scene")
    with deadline(5), pytest.raises(SceneError, match="named pipe"):
        compile_file(tmp_path / "pipe.scene")


def test_import_of_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a.scene").symlink_to("b.scene")
    (tmp_path / "b.scene").symlink_to("a.scene")
    err = import_error(tmp_path, "a.scene")
    assert "cannot read" in err.message and "symbolic links" in err.message


def test_huge_import_is_refused_before_reading(tmp_path: Path) -> None:
    (tmp_path / "big.scene").write_text("let a = 1\n" * 1000)
    main = tmp_path / "main.scene"
    main.write_text(MAIN.format(target="big.scene"))
    with pytest.raises(SceneLimitError) as info:
        compile_file(main, limits=Limits(max_source_bytes=5000))
    err = info.value
    assert (err.line, err.column) == (1, 8)
    assert "it has 10000 bytes, more than the limit of 5000" in err.message
    assert "SYNTHLANG_MAX_SOURCE_BYTES" in err.message


def test_huge_main_file(tmp_path: Path) -> None:
    path = tmp_path / "big.scene"
    path.write_text("# " + "x" * 10_000)
    with pytest.raises(SceneLimitError, match="more than the limit of 100 .*MAX_SOURCE_BYTES"):
        compile_file(path, limits=Limits(max_source_bytes=100))


def test_the_language_front_end_cannot_run_code() -> None:
    """No eval, exec, pickle or dynamic import anywhere between text and IR."""
    forbidden = re.compile(
        r"(?<![.\w])(?<!def )(eval|exec|compile|__import__)\(|\bpickle\b|\bimportlib\b|\bmarshal\b"
    )
    pkg = ROOT / "synthlang"
    files = [
        *pkg.glob("lang/*.py"),
        *pkg.glob("common/*.py"),
        *pkg.glob("ir/*.py"),
        *pkg.glob("ir.py"),
    ]
    assert len(files) >= 8
    for path in files:
        source = path.read_text()
        code = "\n".join(
            line for line in source.splitlines() if not line.lstrip().startswith(("#", ">>>"))
        )
        hits = [m.group(0) for m in forbidden.finditer(code)]
        assert not hits, f"{path.relative_to(ROOT)} uses {hits}"


def test_python_in_a_scene_is_a_syntax_error() -> None:
    with pytest.raises(SceneSyntaxError) as info:
        compile_string('let a = __import__("os").system("true")\n')
    assert "unexpected character `.`" in info.value.message
    assert (info.value.line, info.value.column) == (1, 25)
    # `NAME(...)` may call a definition with new arguments: refused where names are known
    with pytest.raises(SceneError) as info:
        compile_string('scene s { size 8 x 8 }\nlet a = __import__("os")\n')
    assert "`__import__` is not a building block" in info.value.message
    assert (info.value.line, info.value.column) == (2, 9)


# --------------------------------------------------------------------------- memory limit


def test_memory_estimate_refuses_huge_images_at_the_size() -> None:
    text = "scene s {\n  size 8000 x 6000\n}\nlayer a { fill color rgb(0, 0, 0) }\n"
    text += "degrade { blur gaussian(1) }\n"
    with pytest.raises(SceneLimitError) as info:
        compile_string(text)
    err = info.value
    assert (err.line, err.column) == (2, 3)
    assert (
        "rendering one sample may need about 13.9 GiB of memory (13.6 GiB for image-sized buffers"
        in err.message
    )
    assert "more than the limit of 2 GiB (SYNTHLANG_MAX_RENDER_BYTES)" in err.message
    assert "SYNTHLANG_MAX_RENDER_BYTES" in (err.hint or "")
    # raising the limit lets it through
    compile_string(text, limits=Limits(max_render_bytes=20 * 1024**3))


def test_memory_estimate_points_at_the_layer_with_most_objects() -> None:
    text = (
        "scene s { size 2000 x 2000 }\n"
        "layer bg { fill color rgb(0, 0, 0) }\n"
        "layer cells {\n"
        "  ellipse(semi_axes 400) place count 100000 color rgb(1, 1, 1)\n"
        "}\n"
    )
    with pytest.raises(SceneLimitError) as info:
        compile_string(text)
    err = info.value
    assert (err.line, err.column) == (3, 7)
    assert "for the objects of layer `cells`" in err.message


def test_render_checks_memory_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    scene = compile_string("scene s { size 64 x 64 }\nlayer a { fill color rgb(0, 0, 0) }\n")
    monkeypatch.setenv("SYNTHLANG_MAX_RENDER_BYTES", str(800_000))
    render(scene, seed=0)  # 64 * 64 * 144 bytes = 590 KB
    with pytest.raises(ResourceLimitError, match="SYNTHLANG_MAX_RENDER_BYTES"):
        render(scene, seed=0, keep_layers=True)  # + 48 bytes per pixel and layer


@pytest.mark.parametrize("name", ["scenario1", "scenario2", "scenario3"])
def test_memory_estimate_bounds_the_real_peak(name: str) -> None:
    text = (ROOT / "scenes" / f"{name}.scene").read_text().replace("300 x 300", "100 x 100")
    scene = compile_string(text, filename=str(ROOT / "scenes" / f"{name}.scene"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        render(scene, seed=0)  # load patch libraries, fill caches
        tracemalloc.start()
        try:
            render(scene, seed=1, keep_layers=True)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < estimate_render_bytes(scene, keep_layers=True).total


# --------------------------------------------------------------------------- patch libraries


def write_library(folder: Path, sizes: list[tuple[int, int]]) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i, (h, w) in enumerate(sizes):
        rgba = np.full((h, w, 4), 200, np.uint8)
        Image.fromarray(rgba).save(folder / f"{i:06d}.png")
        items.append({"file": f"{i:06d}.png", "cohort": 0})
    index = {"format": "synthlang-patches", "version": 1, "kind": "nuclei", "items": items}
    (folder / "index.json").write_text(json.dumps(index))


def test_too_many_patches_refused_at_compile_time(tmp_path: Path) -> None:
    write_library(tmp_path / "lib", [(4, 4)] * 5)
    text = 'scene s { size 8 x 8 }\nlayer a { patch("lib") place count 3 }\n'
    with pytest.raises(SceneLimitError) as info:
        compile_string(text, base_dir=tmp_path, limits=Limits(max_patches=4))
    err = info.value
    assert (err.line, err.column) == (2, 17)
    assert 'patch library "lib" has 5 patches, more than the limit of 4' in err.message
    assert "SYNTHLANG_MAX_PATCHES" in (err.hint or "")


@pytest.fixture
def fresh_patch_cache() -> None:
    patches.clear_cache()
    yield
    patches.clear_cache()


@pytest.mark.usefixtures("fresh_patch_cache")
def test_library_pixels_checked_from_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_library(tmp_path / "lib", [(20, 20), (30, 30)])
    monkeypatch.setenv("SYNTHLANG_MAX_LIBRARY_PIXELS", "1000")
    with pytest.raises(ResourceLimitError, match="more than 1000 pixels in all") as info:
        patches.load_library(tmp_path / "lib")
    assert "000001.png" in info.value.message
    assert "SYNTHLANG_MAX_LIBRARY_PIXELS" in (info.value.hint or "")


@pytest.mark.usefixtures("fresh_patch_cache")
@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        ("truncate", "unreadable PNG"),
        ("garbage", "unreadable PNG"),
        ("fifo", "named pipe"),
        ("folder", "a folder"),
        ("missing", "file not found"),
    ],
)
def test_damaged_patch_files(tmp_path: Path, damage: str, fragment: str) -> None:
    lib = tmp_path / "lib"
    write_library(lib, [(12, 12), (12, 12)])
    png = lib / "000001.png"
    data = png.read_bytes()
    png.unlink()
    if damage == "truncate":
        png.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    elif damage == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no named pipes")
        os.mkfifo(png)
    elif damage == "folder":
        png.mkdir()
    with deadline(5), pytest.raises(RenderError, match=fragment) as info:
        patches.load_library(lib)
    assert str(png) in info.value.message


# --------------------------------------------------------------------------- fuzzer findings

SCENE = "scene s {{ size 32 x 32 }}\n{body}\n"


def test_fuzz_huge_covariance_is_refused_not_overflowed() -> None:
    # was: RuntimeWarning (overflow) in the PSD check, then a NaN eigenvalue passed the check
    body = "let c = mvn(mean [0.5, 0.5, 0.5], cov [[1e308, 0, 0], [0, 1, 0], [0, 0, 1]])"
    with pytest.raises(SceneError) as info:
        compile_string(SCENE.format(body=body))
    assert "the number 1e308 is too large" in info.value.message
    assert (info.value.line, info.value.column) == (2, 41)


def test_fuzz_huge_speed_is_refused() -> None:
    # was: float32 overflow in the speed field (infinite speeds) of fast-marching regions
    body = "let f = gaussian_field(mean 1e300, std 0)"
    with pytest.raises(SceneError, match="at most 1e\\+12 in magnitude") as info:
        compile_string(SCENE.format(body=body))
    assert (info.value.line, info.value.column) == (2, 29)


def test_fuzz_negative_zero_range_renders() -> None:
    # was: ValueError "high - low < 0" from numpy for uniform(0, -0)
    body = (
        "layer bg { fill color rgb(1, 1, 1) }\n"
        "layer a { ellipse(semi_axes 3, angle uniform(0, -0)) place count 3 "
        "color rgb(0, 0, 0) }"
    )
    scene = compile_string(SCENE.format(body=body))
    assert render(scene, seed=0).counts["a"] == 3


def test_runaway_import_nesting_shows_the_chain(tmp_path: Path) -> None:
    for i in range(12):
        (tmp_path / f"l{i}.scene").write_text(f'import "l{i + 1}.scene"\n')
    (tmp_path / "l12.scene").write_text("let a = 1\n")
    main = tmp_path / "main.scene"
    main.write_text(MAIN.format(target="l0.scene"))
    with pytest.raises(SceneLimitError) as info:
        compile_file(main, limits=Limits(max_import_depth=10))
    err = info.value
    assert err.message.startswith(f"imports nest deeper than 10 files: {main} -> "), err.message
    assert "... 6 more ... -> " in err.message and err.message.endswith("l10.scene")
    assert err.span is not None and err.span.file.endswith("l9.scene")
    assert "SYNTHLANG_MAX_IMPORT_DEPTH" in (err.hint or "")


def _npz_fit(tmp_path: Path, npz: bytes, max_pixels: int = 10**6) -> None:
    from synthlang.common.imageio import write_png
    from synthlang.fit import FitOptions, fit_files

    write_png(tmp_path / "a.png", np.full((40, 40, 3), 0.5, np.float32))
    (tmp_path / "a.npz").write_bytes(npz)
    fit_files(
        [tmp_path / "a.png"],
        tmp_path / "lib.scene",
        FitOptions(max_pixels=max_pixels),
        npz=[tmp_path / "a.npz"],
    )


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _zip_version_64(b: bytes) -> bytes:
    i = b.index(b"PK\x01\x02")  # central directory: "version needed to extract" at +6
    return b[: i + 6] + b"\x40\x00" + b[i + 8 :]


def _npy_header_garbage(b: bytes) -> bytes:
    i = b.index(b"{'descr'")  # uncompressed member: the header is plain text
    return b[:i] + b"{{{{{{{{" + b[i + 8 :]


@pytest.mark.parametrize(
    ("damage", "compressed"),
    [
        (lambda b: b[:4], True),  # was: zipfile.BadZipFile
        (_zip_version_64, True),  # was: NotImplementedError (zip version 6.4)
        (_npy_header_garbage, False),  # was: tokenize.TokenError from numpy's header parser
    ],
    ids=["truncated", "zip-version", "npy-header"],
)
def test_fuzz_damaged_npz_is_a_data_error(tmp_path: Path, damage: object, compressed: bool) -> None:
    import io

    buf = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, inst_map=np.zeros((40, 40), np.int32), inst_class4=np.arange(3))
    with pytest.raises(DataError, match="a.npz: "):
        _npz_fit(tmp_path, damage(buf.getvalue()))  # type: ignore[operator]


def test_npz_size_checked_before_decompression(tmp_path: Path) -> None:
    bomb = _npz_bytes(inst_map=np.zeros((4000, 4000), np.uint8))  # 16 MB in a 16 KB file
    assert len(bomb) < 100_000
    with pytest.raises(ResourceLimitError, match=r"inst_map has shape \(4000, 4000\)"):
        _npz_fit(tmp_path, bomb, max_pixels=1_000_000)


def test_fuzz_huge_ellipses_cost_no_more_than_the_image(monkeypatch: pytest.MonkeyPatch) -> None:
    # was: every try of an `inside` placement rasterised the whole (2a+1)^2 bounding box
    # (9 s for a 48 x 48 scene with semi-axes up to 1200; 8 GB for one semi-axis of 9000)
    from synthlang.engine import shapes

    body = (
        "layer bg { fill color rgb(1, 1, 1) }\n"
        "layer host { ellipse(semi_axes uniform(8, 30)) place count 4 color rgb(0, 0, 1) }\n"
        "layer big { ellipse(semi_axes [uniform(10, 1200), uniform(3, 60)]) "
        "place inside host, probability 0.9 color rgb(1, 0, 0) }\n"
        "layer huge { ellipse(semi_axes 9000) place count 1, overlap none color rgb(0, 1, 0) }"
    )
    scene = compile_string(SCENE.format(body=body))
    with deadline(10), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        windowed = render(scene, seed=5)
        monkeypatch.setattr(shapes, "_window", lambda ctx: None)  # the old, unclipped raster
        scene_small = compile_string(SCENE.format(body=body.replace("9000", "90")))
        full = render(scene_small, seed=5)
        monkeypatch.undo()
        again = render(scene_small, seed=5)
    assert windowed.counts["huge"] == 1 and windowed.mask.shape == (32, 32)
    for name in ("noisy", "clean", "instance_map"):
        assert np.array_equal(getattr(full, name), getattr(again, name))
