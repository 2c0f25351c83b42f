"""Patch libraries, nucleus patches and patch lattices (synthlang.engine.patches, .lattice)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlang import ir
from synthlang.common.errors import RenderError
from synthlang.engine import base
from synthlang.engine.base import Instance, RenderContext
from synthlang.engine.lattice import blend_weights, lattice
from synthlang.engine.patches import (
    ANGLE_STEPS,
    clear_cache,
    draw_patch,
    load_library,
    masked_smooth,
    patch_texture,
    transform_patch,
)

COHORT_COLOURS = [(40, 20, 90), (120, 60, 160), (200, 150, 220), (230, 210, 240)]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def _write_index(folder: Path, kind: str, items: list[dict], **extra: object) -> None:
    data = {
        "format": "synthlang-patches",
        "version": 1,
        "kind": kind,
        "patch_size": None,
        "cohorts": 1,
        "pixel_size_um": 0.5,
        "items": items,
        "provenance": {"images": [], "licence": "test", "command": "test"},
    }
    data.update(extra)
    (folder / "index.json").write_text(json.dumps(data), encoding="utf-8")


def _ellipse_alpha(h: int, w: int, a: float, b: float) -> np.ndarray:
    rows, cols = np.mgrid[:h, :w]
    return ((rows - (h - 1) / 2) / a) ** 2 + ((cols - (w - 1) / 2) / b) ** 2 <= 1.0


def make_nuclei(folder: Path, n: int = 5, seed: int = 0) -> Path:
    """A nuclei library of n noisy elliptic RGBA cut-outs with a bright background."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        h, w = int(rng.integers(12, 22)), int(rng.integers(12, 22))
        alpha = _ellipse_alpha(h, w, h / 2 - 1, w / 2 - 1.5)
        rgba = np.zeros((h, w, 4), dtype=np.uint8)
        rgba[..., :3] = 240  # real background pixels outside the nucleus
        rgba[alpha, :3] = rng.integers(60, 120, (int(alpha.sum()), 3))
        rgba[..., 3] = np.where(alpha, 255, 0)
        name = f"{i:06d}.png"
        Image.fromarray(rgba).save(folder / name)
        items.append({"file": name, "cohort": 0, "area": int(alpha.sum())})
    _write_index(folder, "nuclei", items)
    return folder


def make_texture(
    folder: Path, cohorts: int = 3, per_cohort: int = 4, size: int = 8, flat: bool = True
) -> Path:
    """A texture library; cohort j patches are (near) constant COHORT_COLOURS[j]."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    items = []
    for j in range(cohorts):
        for i in range(per_cohort):
            rgb = np.empty((size, size, 3), dtype=np.uint8)
            rgb[:] = COHORT_COLOURS[j]
            if not flat:
                rgb = np.clip(rgb + rng.integers(-10, 11, rgb.shape), 0, 255).astype(np.uint8)
            name = f"{j}_{i:04d}.png"
            Image.fromarray(rgb).save(folder / name)
            items.append({"file": name, "cohort": j, "mean": (rgb.mean((0, 1)) / 255).tolist()})
    _write_index(folder, "texture", items, patch_size=size, cohorts=cohorts)
    return folder


def _ctx(shape: tuple[int, int] = (64, 64)) -> RenderContext:
    layer = ir.Layer(index=0, name="bg", shape=ir.FillShape(), color=ir.MVNColor(mean=(1, 1, 1)))
    return RenderContext(ir.Scene(name="t", size=shape, layers=(layer,)), np.random.default_rng(0))


def _instance(mask: np.ndarray, k: int = 1) -> Instance:
    return Instance(id=k, layer=0, category="cell", r0=0, c0=0, mask=mask, center=(0.0, 0.0))


# --------------------------------------------------------------------------- loading


def test_registered() -> None:
    assert base.OBJECT_SHAPES["patch"] is draw_patch
    assert base.TEXTURES["patches"] is patch_texture


def test_load_nuclei_and_cache(tmp_path: Path) -> None:
    folder = make_nuclei(tmp_path / "nuc", n=4)
    lib = load_library(folder, kind="nuclei")
    assert lib.kind == "nuclei" and len(lib) == 4
    for rgb, alpha in zip(lib.rgb, lib.alpha, strict=True):
        assert rgb.dtype == np.float32 and rgb.shape[:2] == alpha.shape
        assert alpha.dtype == bool and alpha.any()
        assert (rgb[~alpha] == 0).all() and 0 <= rgb.min() and rgb.max() <= 1
        assert not rgb.flags.writeable
    assert load_library(folder) is lib
    digest = hashlib.sha256((folder / "index.json").read_bytes()).hexdigest()
    assert load_library(str(folder), digest).files == lib.files


def test_load_texture_has_all_orientations(tmp_path: Path) -> None:
    folder = make_texture(tmp_path / "tex", cohorts=2, per_cohort=3, size=6, flat=False)
    lib = load_library(folder, kind="texture")
    assert lib.patch_size == 6 and lib.cohorts == 2
    assert lib.tiles is not None and lib.tiles.shape == (2 * 3 * 8, 6, 6, 3)
    assert lib.tiles.dtype == np.float32
    base_tile = np.asarray(Image.open(folder / lib.files[0]), dtype=np.float32) / 255
    assert np.allclose(lib.tiles[0], base_tile)
    assert np.allclose(lib.tiles[1], np.rot90(base_tile))
    assert np.allclose(lib.tiles[4], base_tile[:, ::-1])


def _corrupt_cases(tmp_path: Path) -> list[tuple[Path, str, str | None]]:
    """(library folder, expected text in the message, kind) for each way a library can be bad."""
    cases: list[tuple[Path, str, str | None]] = []
    cases.append((tmp_path / "missing", "missing: folder not found", None))
    (tmp_path / "noindex").mkdir()
    cases.append((tmp_path / "noindex", "index.json: index.json not found", None))
    bad = tmp_path / "badjson"
    bad.mkdir()
    (bad / "index.json").write_text("{not json", encoding="utf-8")
    cases.append((bad, "badjson/index.json: not valid JSON", None))
    fmt = tmp_path / "format"
    fmt.mkdir()
    _write_index(fmt, "nuclei", [{"file": "a.png"}], format="something")
    cases.append((fmt, "format/index.json: 'format' must be", None))
    empty = tmp_path / "empty"
    empty.mkdir()
    _write_index(empty, "nuclei", [])
    cases.append((empty, "empty/index.json: 'items' must be a non-empty list", None))
    kind = tmp_path / "kind"
    kind.mkdir()
    _write_index(kind, "cells", [{"file": "a.png"}])
    cases.append((kind, "kind/index.json: 'kind' must be", None))
    lost = make_nuclei(tmp_path / "lost", n=2)
    (lost / "000001.png").unlink()
    cases.append((lost, "lost/000001.png: file not found", None))
    garbage = make_nuclei(tmp_path / "garbage", n=2)
    (garbage / "000000.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    cases.append((garbage, "garbage/000000.png: unreadable PNG", None))
    jpeg = make_nuclei(tmp_path / "jpeg", n=1)
    Image.new("RGB", (8, 8)).save(jpeg / "000000.png", format="JPEG")
    cases.append((jpeg, "jpeg/000000.png: not a PNG image", None))
    mode = make_nuclei(tmp_path / "mode", n=2)
    Image.new("RGB", (10, 10)).save(mode / "000001.png")
    cases.append((mode, "mode/000001.png: image mode RGB, expected RGBA", None))
    tmode = make_texture(tmp_path / "tmode", cohorts=1, per_cohort=2)
    Image.new("RGBA", (8, 8)).save(tmode / "0_0001.png")
    cases.append((tmode, "tmode/0_0001.png: image mode RGBA, expected RGB", None))
    size = make_texture(tmp_path / "size", cohorts=1, per_cohort=2)
    Image.new("RGB", (9, 8)).save(size / "0_0001.png")
    cases.append((size, "size/0_0001.png: size 8x9, expected 8x8", None))
    alpha = make_nuclei(tmp_path / "alpha", n=2)
    Image.new("RGBA", (10, 10), (100, 50, 120, 0)).save(alpha / "000000.png")
    cases.append((alpha, "alpha/000000.png: alpha is empty", None))
    cohort = tmp_path / "cohort"
    make_texture(cohort, cohorts=2, per_cohort=1)
    data = json.loads((cohort / "index.json").read_text(encoding="utf-8"))
    data["items"][1]["cohort"] = 5
    (cohort / "index.json").write_text(json.dumps(data), encoding="utf-8")
    cases.append((cohort, "cohort/index.json: item 1 (1_0000.png): cohort 5 not in 0..1", None))
    escape = make_nuclei(tmp_path / "escape", n=1)
    _write_index(escape, "nuclei", [{"file": "../escape/000000.png", "cohort": 0}])
    cases.append((escape, "must be a name inside the library folder", None))
    wrong = make_texture(tmp_path / "wrongkind", cohorts=1, per_cohort=1)
    cases.append(
        (wrong, "wrongkind/index.json: is a 'texture' library; patch(...) needs", "nuclei")
    )
    return cases


def test_corrupt_libraries_name_the_file(tmp_path: Path) -> None:
    for folder, message, kind in _corrupt_cases(tmp_path):
        with pytest.raises(RenderError) as info:
            load_library(folder, kind=kind)
        assert message in str(info.value), (folder, str(info.value))


def test_changed_library_is_refused(tmp_path: Path) -> None:
    folder = make_nuclei(tmp_path / "nuc", n=2)
    digest = hashlib.sha256((folder / "index.json").read_bytes()).hexdigest()
    _write_index(folder, "nuclei", [{"file": "000000.png", "cohort": 0}])
    with pytest.raises(RenderError, match=r"nuc/index.json: changed since the scene was compiled"):
        load_library(folder, digest)


def test_draw_patch_reports_a_bad_library(tmp_path: Path) -> None:
    shape = ir.PatchShape(library=str(tmp_path / "nowhere"))
    with pytest.raises(RenderError, match="nowhere: folder not found"):
        draw_patch(shape, np.random.default_rng(0), _ctx())


# --------------------------------------------------------------------------- nucleus patches


@pytest.mark.parametrize("seed", range(4))
def test_rotation_preserves_area_and_colour(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(10, 30)), int(rng.integers(10, 30))
    alpha = _ellipse_alpha(h, w, h / 2 - 1, w / 2 - 2) | (
        (np.arange(h)[:, None] == h // 2) & (np.arange(w)[None, :] < w // 2)
    )
    colour = np.full((h, w, 3), 0.3, dtype=np.float32)
    for angle in np.linspace(0, 360, 37):
        mask, rgb = transform_patch(colour, alpha, float(angle))
        assert mask.dtype == bool
        assert abs(int(mask.sum()) - int(alpha.sum())) <= 0.05 * alpha.sum()
        assert np.allclose(rgb[mask], 0.3, atol=1e-5)  # the rim keeps the nucleus colour
        assert (rgb[~mask] == 0).all()
        assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()


def test_quarter_turns_are_exact() -> None:
    rng = np.random.default_rng(0)
    alpha = rng.random((9, 14)) > 0.4
    rgb = rng.random((9, 14, 3)).astype(np.float32)
    for k in range(4):
        mask, out = transform_patch(rgb, alpha, 90.0 * k)
        rows = np.flatnonzero(np.rot90(alpha, k).any(1))
        cols = np.flatnonzero(np.rot90(alpha, k).any(0))
        crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        assert np.array_equal(mask, np.rot90(alpha, k)[crop])
        want = np.rot90(rgb * alpha[..., None], k)[crop]
        assert np.allclose(out, want, atol=1e-5)


@pytest.mark.parametrize("scale", [0.7, 1.5])
def test_scaling_scales_the_area(scale: float) -> None:
    alpha = _ellipse_alpha(21, 17, 9.5, 7.5)
    mask, _ = transform_patch(np.ones((21, 17, 3), np.float32), alpha, 33.0, scale)
    assert mask.sum() == pytest.approx(alpha.sum() * scale**2, rel=0.06)


def test_masked_smooth_does_not_bleed() -> None:
    mask = _ellipse_alpha(15, 15, 6, 5)
    rgb = np.where(mask[..., None], np.float32(0.2), np.float32(0.9)).repeat(3, axis=2)
    out = masked_smooth(rgb, mask, 2.0)
    assert np.allclose(out[mask], 0.2, atol=1e-5)
    assert (out[~mask] == 0).all()
    rng = np.random.default_rng(0)
    noisy = np.where(mask[..., None], rng.random((15, 15, 3)), 0).astype(np.float32)
    smooth = masked_smooth(noisy, mask, 1.5)
    assert smooth[mask].std() < noisy[mask].std()
    assert np.array_equal(masked_smooth(noisy, mask, 0.0), noisy)


def test_draw_patch(tmp_path: Path) -> None:
    folder = make_nuclei(tmp_path / "nuc", n=6)
    lib = load_library(folder)
    shape = ir.PatchShape(library=str(folder), rotate=True, smooth=1.0)
    rng = np.random.default_rng(3)
    for _ in range(20):
        d = draw_patch(shape, rng, _ctx())
        assert d.mask.dtype == bool and d.mask.any()
        assert d.noisy is not None and d.clean is not None
        assert d.noisy.shape == d.clean.shape == d.mask.shape + (3,)
        assert d.noisy.dtype == np.float32 and d.clean.dtype == np.float32
        assert 0 <= d.clean.min() and d.clean.max() <= 1
        rr, cc = np.nonzero(d.mask)
        assert d.anchor == pytest.approx((rr.mean(), cc.mean()))
        assert not d.mask.flags.writeable and not d.noisy.flags.writeable
        # the background of the cut-out (240) never shows up inside the nucleus
        assert d.noisy[d.mask].max() < 130 / 255 + 1e-3
        areas = [int(a.sum()) for a in lib.alpha]
        assert min(abs(int(d.mask.sum()) - a) / a for a in areas) < 0.05


def test_draw_patch_without_rotation_returns_library_pixels(tmp_path: Path) -> None:
    folder = make_nuclei(tmp_path / "nuc", n=3)
    lib = load_library(folder)
    shape = ir.PatchShape(library=str(folder), rotate=False, smooth=0.0)
    d = draw_patch(shape, np.random.default_rng(0), _ctx())
    matches = []
    for alpha, rgb in zip(lib.alpha, lib.rgb, strict=True):
        rows = np.flatnonzero(alpha.any(axis=1))
        cols = np.flatnonzero(alpha.any(axis=0))
        crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        same = d.mask.shape == alpha[crop].shape and np.array_equal(d.mask, alpha[crop])
        matches.append(same and np.allclose(d.noisy, rgb[crop], atol=1e-6))
    assert any(matches)


def test_draw_patch_deterministic_and_varied(tmp_path: Path) -> None:
    folder = make_nuclei(tmp_path / "nuc", n=5)
    shape = ir.PatchShape(library=str(folder), scale=ir.Uniform(low=0.8, high=1.2))
    a = [draw_patch(shape, np.random.default_rng(s), _ctx()) for s in range(10)]
    clear_cache()
    b = [draw_patch(shape, np.random.default_rng(s), _ctx()) for s in range(10)]
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.mask, y.mask) and np.array_equal(x.noisy, y.noisy)
    assert len({x.mask.tobytes() for x in a}) > 5


def test_angles_cover_the_circle(tmp_path: Path) -> None:
    # one very elongated patch: its orientation reveals the angle step drawn
    folder = tmp_path / "bar"
    folder.mkdir()
    rgba = np.zeros((5, 31, 4), np.uint8)
    rgba[1:4, :, :3] = 100
    rgba[1:4, :, 3] = 255
    Image.fromarray(rgba).save(folder / "bar.png")
    _write_index(folder, "nuclei", [{"file": "bar.png", "cohort": 0}])
    shape = ir.PatchShape(library=str(folder))
    rng = np.random.default_rng(0)
    seen = {draw_patch(shape, rng, _ctx()).mask.shape for _ in range(4 * ANGLE_STEPS)}
    assert len(seen) > 10


def test_non_positive_scale(tmp_path: Path) -> None:
    folder = make_nuclei(tmp_path / "nuc", n=1)
    shape = ir.PatchShape(library=str(folder), scale=ir.Constant(value=0.0))
    with pytest.raises(RenderError, match="scale must be > 0"):
        draw_patch(shape, np.random.default_rng(0), _ctx())


# --------------------------------------------------------------------------- lattices


def test_blend_weights_cross_fade() -> None:
    for size, overlap in [(8, 2), (8, 0), (10, 3), (6, 5)]:
        w = blend_weights(size, overlap)
        assert w.shape == (size,) and (w > 0).all()
        assert w.max() == 1 or 2 * overlap >= size
        stride = size - overlap
        if overlap <= stride:
            total = np.zeros(3 * stride + overlap, np.float32)
            for k in range(3):
                total[k * stride : k * stride + size] += w
            assert np.allclose(total[stride : 2 * stride + overlap], 1.0)


@pytest.mark.parametrize("box", [(1, 1), (5, 3), (8, 8), (13, 40), (57, 31)])
@pytest.mark.parametrize(("size", "overlap"), [(8, 2), (8, 0), (6, 4), (10, 3)])
def test_lattice_covers_the_box(box: tuple[int, int], size: int, overlap: int) -> None:
    rng = np.random.default_rng(0)
    tiles = rng.uniform(0.2, 0.8, (5, size, size, 3)).astype(np.float32)
    tex = lattice(tiles, np.arange(5), box, size, overlap, rng)
    assert tex.shape == box + (3,)
    assert tex.dtype == np.float32
    assert np.isfinite(tex).all()
    assert tex.min() >= 0.2 - 1e-6 and tex.max() <= 0.8 + 1e-6


def test_lattice_without_overlap_copies_patch_pixels() -> None:
    rng = np.random.default_rng(1)
    tiles = rng.random((3, 4, 4, 3)).astype(np.float32)
    tex = lattice(tiles, np.arange(3), (12, 12), 4, 0, rng)
    values = set(np.round(tiles.reshape(-1, 3), 6).view([("", np.float32)] * 3).ravel().tolist())
    got = set(np.round(tex.reshape(-1, 3), 6).view([("", np.float32)] * 3).ravel().tolist())
    assert got <= values


def test_lattice_blends_overlaps() -> None:
    tiles = np.stack([np.full((8, 8, 3), 0.2, np.float32), np.full((8, 8, 3), 0.8, np.float32)])
    rng = np.random.default_rng(4)
    tex = lattice(tiles, np.arange(2), (60, 60), 8, 3, rng)
    inner = tex[(tex > 0.21) & (tex < 0.79)]
    assert inner.size > 0  # transitions are blended, not hard edges
    const = lattice(tiles, np.array([1]), (30, 30), 8, 3, rng)
    assert np.allclose(const, 0.8)  # weights are normalised


def test_lattice_crops_larger_library_patches() -> None:
    rng = np.random.default_rng(2)
    tiles = rng.random((4, 16, 16, 3)).astype(np.float32)
    tex = lattice(tiles, np.arange(4), (20, 25), 6, 0, rng)
    assert tex.shape == (20, 25, 3)
    assert set(np.unique(tex)) <= set(np.unique(tiles))


def test_each_instance_uses_one_cohort(tmp_path: Path) -> None:
    folder = make_texture(tmp_path / "tex", cohorts=3, per_cohort=3)
    color = ir.PatchTexture(library=str(folder), cohorts=3, size=8, overlap=2, smooth=1.0)
    rng = np.random.default_rng(0)
    masks = [_ellipse_alpha(int(h), int(w), h / 2, w / 2) for h, w in rng.integers(5, 40, (40, 2))]
    instances = [_instance(m, k) for k, m in enumerate(masks, start=1)]
    layer = ir.Layer(index=0, name="cell", shape=ir.FillShape(), color=color)
    assert patch_texture(color, layer, instances, _ctx(), rng) is None
    colours = np.array(COHORT_COLOURS[:3], np.float32) / 255
    used = set()
    for inst in instances:
        assert inst.noisy is not None and inst.clean is not None and inst.mean is not None
        assert inst.noisy.shape == inst.clean.shape == inst.mask.shape + (3,)
        assert inst.noisy.dtype == inst.clean.dtype == inst.mean.dtype == np.float32
        # flat patches of one cohort: the whole lattice is that cohort's colour
        j = int(np.argmin(np.abs(colours - inst.noisy[0, 0]).sum(axis=1)))
        assert np.allclose(inst.noisy, colours[j], atol=1e-5)
        assert np.allclose(inst.clean, colours[j], atol=1e-5)
        assert np.allclose(inst.mean, colours[j], atol=1e-5)
        used.add(j)
    assert used == {0, 1, 2}


def test_scene_cohorts_merge_library_cohorts(tmp_path: Path) -> None:
    folder = make_texture(tmp_path / "tex", cohorts=4, per_cohort=2)
    lib = load_library(folder)
    pools = lib.pools(2)
    assert [sorted(set((p // 8).tolist())) for p in pools] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert set(lib.cohort[pools[0] // 8].tolist()) == {0, 1}
    assert set(lib.cohort[pools[1] // 8].tolist()) == {2, 3}
    with pytest.raises(RenderError, match="tex/index.json: patches.*cohorts 5.*has 4"):
        lib.pools(5)


def test_texture_errors(tmp_path: Path) -> None:
    folder = make_texture(tmp_path / "tex", cohorts=2, per_cohort=1, size=8)
    inst = [_instance(np.ones((10, 10), bool))]
    layer = ir.Layer(index=0, name="c", shape=ir.FillShape(), color=None)
    big = ir.PatchTexture(library=str(folder), cohorts=2, size=9, overlap=2)
    with pytest.raises(RenderError, match="tex/index.json: patches.*size 9.*patch_size 8"):
        patch_texture(big, layer, inst, _ctx(), np.random.default_rng(0))
    many = ir.PatchTexture(library=str(folder), cohorts=3, size=8, overlap=2)
    with pytest.raises(RenderError, match="cohorts 3"):
        patch_texture(many, layer, inst, _ctx(), np.random.default_rng(0))
    nuclei = make_nuclei(tmp_path / "nuc", n=1)
    wrong = ir.PatchTexture(library=str(nuclei), cohorts=1, size=8, overlap=2)
    with pytest.raises(RenderError, match="nuc/index.json: is a 'nuclei' library"):
        patch_texture(wrong, layer, inst, _ctx(), np.random.default_rng(0))
    gap = tmp_path / "gap"
    make_texture(gap, cohorts=1, per_cohort=2)
    data = json.loads((gap / "index.json").read_text(encoding="utf-8"))
    data["cohorts"] = 3  # cohorts 1 and 2 have no patch
    (gap / "index.json").write_text(json.dumps(data), encoding="utf-8")
    sparse = ir.PatchTexture(library=str(gap), cohorts=3, size=8, overlap=2)
    with pytest.raises(RenderError, match="gap/index.json: has no patch in cohort 1"):
        patch_texture(sparse, layer, inst, _ctx(), np.random.default_rng(0))


def test_texture_smaller_patches_and_determinism(tmp_path: Path) -> None:
    folder = make_texture(tmp_path / "tex", cohorts=2, per_cohort=3, size=12, flat=False)
    color = ir.PatchTexture(library=str(folder), cohorts=2, size=6, overlap=2, smooth=0.8)
    layer = ir.Layer(index=0, name="c", shape=ir.FillShape(), color=color)

    def run(seed: int) -> list[np.ndarray]:
        inst = [_instance(_ellipse_alpha(25, 30, 12, 14), k) for k in range(3)]
        patch_texture(color, layer, inst, _ctx(), np.random.default_rng(seed))
        return [i.noisy for i in inst] + [i.clean for i in inst]

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    noisy, clean = a[0], a[3]
    assert np.abs(np.diff(clean, axis=0)).mean() < np.abs(np.diff(noisy, axis=0)).mean()


def test_empty_instance_list(tmp_path: Path) -> None:
    color = ir.PatchTexture(library=str(tmp_path / "nowhere"), cohorts=1)
    layer = ir.Layer(index=0, name="c", shape=ir.FillShape(), color=color)
    assert patch_texture(color, layer, [], _ctx(), np.random.default_rng(0)) is None


# --------------------------------------------------------------------------- through the engine


def test_patch_batch_sampler_probes_lie_on_the_objects(tmp_path: Path) -> None:
    from synthlang.engine.shapes import SHAPE_SAMPLERS, anchor_pixel, sample_shapes

    assert "patch" in SHAPE_SAMPLERS
    shape = ir.PatchShape(library=str(make_nuclei(tmp_path / "nuc", n=4)))
    batch = sample_shapes(shape, np.random.default_rng(0), 40, _ctx())
    assert batch.size == 40
    dr, dc, valid = batch.probes()
    assert dr.shape == dc.shape == (40, 25) and valid.all()
    for i in range(batch.size):
        d = batch.draw(i)
        ar, ac = anchor_pixel(d)
        assert d.mask[dr[i] + ar, dc[i] + ac].all()


def _scenario3_like(tmp_path: Path, size: tuple[int, int] = (96, 96)) -> ir.Scene:
    nuclei = make_nuclei(tmp_path / "nuc", n=6)
    texture = make_texture(tmp_path / "tex", cohorts=3, per_cohort=3, flat=False)
    tumor = ir.RegionSelection(start=1, count=3, name="tumor")
    vessel = ir.RegionSelection(start=0, count=1, name="vessel")
    tex = ir.PatchTexture(library=str(texture), cohorts=3, size=8, overlap=2)
    layers = (
        ir.Layer(index=0, name="background", shape=ir.FillShape(), color=GREY_MVN),
        ir.Layer(index=1, name="vessel", shape=ir.FillShape(), regions=vessel, color=RED_MVN),
        ir.Layer(
            index=2,
            name="connective",
            shape=ir.RibbonShape(maps=2, width=ir.Uniform(low=2, high=4)),
            regions=vessel,
            color=GREY_MVN,
        ),
        ir.Layer(
            index=3,
            name="nucleus",
            shape=ir.PatchShape(library=str(nuclei)),
            placement=ir.Placement(mode="fill", regions=tumor, overlap=ir.Overlap(mode="none")),
        ),
        ir.Layer(
            index=4,
            name="cell",
            shape=ir.GrownShape(source="nucleus", time=ir.Uniform(low=3, high=5)),
            regions=tumor,
            color=tex,
        ),
        ir.Layer(
            index=5,
            name="immune",
            shape=ir.EllipseShape(semi_axes=(ir.Uniform(low=4, high=6),) * 2),
            placement=ir.Placement(mode="count", count=ir.Constant(value=5)),
            color=tex,
        ),
    )
    return ir.Scene(
        name="s3",
        size=size,
        regions=ir.FastMarchingRegions(count=4),
        layers=layers,
        masks=(ir.MaskRule(category="nucleus", visible_only=True),),
    )


GREY_MVN = ir.MVNColor(mean=(0.8, 0.75, 0.8), cov=((1e-4, 0, 0), (0, 1e-4, 0), (0, 0, 1e-4)))
RED_MVN = ir.MVNColor(mean=(0.85, 0.4, 0.45))


def test_render_scenario3_like_scene(tmp_path: Path) -> None:
    from synthlang.engine.render import render

    scene = _scenario3_like(tmp_path)
    a = render(scene, seed=5)
    b = render(scene, seed=5)
    assert np.array_equal(a.noisy, b.noisy) and np.array_equal(a.clean, b.clean)
    assert a.noisy.dtype == np.float32 and 0 <= a.clean.min() and a.clean.max() <= 1
    assert a.counts["vessel"] == 1 and a.counts["nucleus"] > 5
    assert a.counts["cell"] == a.counts["nucleus"]
    assert a.regions is not None and np.unique(a.regions).size == 4
    # the vessel fill is exactly one fast-marching region
    vessel = [r for r in a.instances if r.category == "vessel"][0]
    assert vessel.area in np.bincount(a.regions.ravel()).tolist()
    cells = {r.parent for r in a.instances if r.category == "cell"}
    assert cells == {r.id for r in a.instances if r.category == "nucleus"}


def test_empty_mask_takes_the_box_mean(tmp_path: Path) -> None:
    folder = make_texture(tmp_path / "tex", cohorts=1, per_cohort=2)
    color = ir.PatchTexture(library=str(folder), cohorts=1, size=8, overlap=2)
    layer = ir.Layer(index=0, name="c", shape=ir.FillShape(), color=color)
    inst = _instance(np.zeros((6, 7), bool))
    patch_texture(color, layer, [inst], _ctx(), np.random.default_rng(0))
    assert inst.mean is not None and np.isfinite(inst.mean).all()
    assert np.allclose(inst.mean, np.array(COHORT_COLOURS[0]) / 255, atol=1e-5)


def test_warp_matches_scipy_affine_transform() -> None:
    from scipy import ndimage as ndi

    from synthlang.engine.patches import _warp_bilinear

    rng = np.random.default_rng(0)
    src = rng.random((11, 17, 4)).astype(np.float32)
    for angle, scale in [(0.0, 1.0), (33.0, 1.0), (90.0, 1.3), (211.0, 0.8)]:
        t = np.radians(angle)
        m = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) / scale
        offset = np.array([5.0, 8.0]) - m @ np.array([9.5, 10.0])
        got = _warp_bilinear(src, m, offset, (20, 21))
        for ch in range(4):
            want = ndi.affine_transform(
                src[..., ch], m, offset=offset, output_shape=(20, 21), order=1,
                mode="grid-constant", cval=0.0, prefilter=False,
            )  # fmt: skip
            assert np.allclose(got[..., ch], want, atol=1e-5)
