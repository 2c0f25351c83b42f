"""``synthlang predict`` on whole-slide images: a checkpoint as a tile predictor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from synthlang.cli.main import main
from tests.synthlang.slides.helpers import write_tiff
from tests.vnet.helpers import write_tiny_vn
from vnet.slide import is_slide, tile_predictor

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "he_tumor_nuclei.pt"


def _slide_from_render(tmp_path: Path) -> Path:
    """A 40x pyramidal TIFF of four rendered 20x samples (upsampled x2), 0.25 um/px."""
    import synthlang

    scene = synthlang.compile_file(ROOT / "scenes" / "he_tumor_nuclei.scene")
    tiles = [synthlang.render(scene, seed).noisy for seed in range(4)]
    top = np.concatenate(tiles[:2], axis=1)
    bottom = np.concatenate(tiles[2:], axis=1)
    img = np.concatenate([top, bottom], axis=0)
    big = np.asarray(
        Image.fromarray((img * 255).round().astype(np.uint8)).resize(
            (img.shape[1] * 2, img.shape[0] * 2), Image.BILINEAR
        )
    )
    return write_tiff(tmp_path / "slide.tif", big, mpp=0.25, levels=3, tile=256)


def test_is_slide(tmp_path: Path) -> None:
    flat = tmp_path / "flat.tif"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat)
    tiled = write_tiff(tmp_path / "tiled.tif", np.zeros((300, 300, 3), np.uint8), tile=64)
    assert not is_slide(flat) and is_slide(tiled)
    assert is_slide(tmp_path / "x.svs") and not is_slide(tmp_path / "x.png")


def test_tile_predictor_shapes() -> None:
    from vnet.predict import load_model

    model, _ = load_model(MODEL)
    predict = tile_predictor(model, device=next(model.parameters()).device)
    out = predict(np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32))
    assert out.shape == (2, 1, 64, 64) and np.all((out >= 0) & (out <= 1))


@pytest.mark.skipif(not MODEL.is_file(), reason="models/he_tumor_nuclei.pt is not shipped")
def test_predict_a_slide_writes_qupath_geojson(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slide = _slide_from_render(tmp_path)
    out = tmp_path / "pred"
    assert main(["predict", str(MODEL), str(slide), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "slide at 0.25 um/px, model at 0.5 um/px" in text and "s/mm2" in text
    data = json.loads((out / "slide_nuclei.geojson").read_text())
    assert data["type"] == "FeatureCollection" and len(data["features"]) > 20
    xs = [c[0] for f in data["features"] for c in f["geometry"]["coordinates"][0]]
    assert 0 <= min(xs) and max(xs) <= 1024  # level-0 coordinates of the 40x slide
    assert (out / "slide_summary.csv").is_file() and (out / "slide_overlay.png").is_file()


def test_slide_without_pixel_size_needs_mpp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slide = write_tiff(tmp_path / "nompp.tif", np.full((300, 300, 3), 200, np.uint8), mpp=None)
    assert main(["predict", str(MODEL), str(slide), "--out", str(tmp_path / "o")]) == 2
    assert "--mpp" in capsys.readouterr().err


def test_slide_options_need_a_slide(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(img)
    assert (
        main(["predict", str(MODEL), str(img), "--out", str(tmp_path / "o"), "--label-mask"]) == 2
    )
    assert "for whole-slide images" in capsys.readouterr().err
    region = ["--region", "0,0,8,8"]
    assert main(["predict", str(MODEL), str(img), "--out", str(tmp_path / "o"), *region]) == 2
    assert "--region and --label-mask are for whole-slide images" in capsys.readouterr().err


def test_train_stores_the_pixel_size(tmp_path: Path) -> None:
    import torch

    data = tmp_path / "data"
    scene = ROOT / "scenes" / "scenario2.scene"
    assert main(["render", str(scene), "--n", "4", "--out", str(data), "-q"]) == 0
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--preset", "smoke", "-q"]
    assert main([*argv, "--pixel-size", "0.25"]) == 0
    ckpt = torch.load(run / "model.pt", weights_only=True)
    assert ckpt["source"]["pixel_size_um"] == 0.25
    assert main([*argv[:-1], "--overwrite", "--pixel-size", "0"]) == 2


def test_the_scene_pixel_size_reaches_the_checkpoint(tmp_path: Path) -> None:
    import torch

    scene = tmp_path / "s.scene"
    scene.write_text(
        "scene s { size 48 x 48 px  pixel 0.25 um }\n"
        "layer bg { fill color rgb(0.9, 0.9, 0.9) }\n"
        "layer c { ellipse(semi_axes uniform(2um, 3um)) place count 4 color rgb(0.3, 0.1, 0.5) }\n"
        "mask c\n"
    )
    data = tmp_path / "data"
    assert main(["render", str(scene), "--n", "4", "--out", str(data), "-q"]) == 0
    assert json.loads((data / "manifest.json").read_text())["pixel_size_um"] == 0.25
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--preset", "smoke", "-q"]) == 0
    assert torch.load(run / "model.pt", weights_only=True)["source"]["pixel_size_um"] == 0.25


class _Conv(torch.nn.Module):
    """``m`` = a fixed 3 x 3 convolution of the tile with zero padding (``u`` unused)."""

    mask_channels = 1

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, u0: torch.Tensor, m0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return u0, torch.nn.functional.conv2d(u0, self.weight, padding=1)


def test_tile_predictor_tta_is_the_mean_of_the_eight_passes() -> None:
    """TTA of a convolution is the convolution with the kernel averaged over its 8 views."""
    weight = torch.randn(1, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    turned = [torch.rot90(weight, k, dims=(2, 3)) for k in range(4)]
    symmetric = torch.stack([*turned, *(t.flip(3) for t in turned)]).mean(0)
    batch = np.random.default_rng(1).random((2, 12, 20, 3), dtype=np.float32)  # not square
    cpu = torch.device("cpu")
    plain = tile_predictor(_Conv(weight), device=cpu)(batch)
    got = tile_predictor(_Conv(weight), device=cpu, tta=True)(batch)
    want = tile_predictor(_Conv(symmetric), device=cpu)(batch)
    assert got.shape == (2, 1, 12, 20) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got - plain).max() > 0.1
    same = tile_predictor(_Conv(symmetric), device=cpu, tta=True)(batch)
    np.testing.assert_allclose(same, want, atol=1e-5)  # an equivariant network: unchanged


def test_tile_predictor_scales_average_resampled_tiles() -> None:
    class Rows(torch.nn.Module):
        def forward(self, u0: torch.Tensor, m0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return u0, torch.full_like(m0, u0.shape[-2] / 100)

    batch = np.random.default_rng(2).random((2, 40, 24, 3), dtype=np.float32)
    got = tile_predictor(Rows(), device=torch.device("cpu"), scales=(1.0, 0.5))(batch)
    assert got.shape == (2, 1, 40, 24)
    np.testing.assert_allclose(got, 0.3, atol=1e-6)  # (40 + 20 rows) / 2 / 100


def test_slide_scales_follow_the_checkpoint_and_the_flags(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vnet.slide as vs
    from synthlang.cli.train import set_predict_scales

    asked: list[tuple[float, ...]] = []
    real = vs.tile_predictor

    def spy(model: torch.nn.Module, **kw: Any) -> Any:
        asked.append(tuple(kw["scales"]))
        return real(model, **kw)

    monkeypatch.setattr(vs, "tile_predictor", spy)
    img = np.full((300, 300, 3), 240, np.uint8)
    img[80:220, 60:240] = [150, 60, 140]
    slide = write_tiff(tmp_path / "s.tif", img, mpp=0.5, levels=2, tile=64)
    plain = write_tiny_vn(tmp_path / "plain.pt", {"kind": "folder"}, seed=2)
    stored = tmp_path / "scales.pt"
    set_predict_scales(plain, [1, 0.9], stored)

    def run(ckpt: Path, *flags: str) -> tuple[float, ...]:
        out = str(tmp_path / "o")
        assert main(["predict", str(ckpt), str(slide), "--out", out, "--no-normalize", *flags]) == 0
        assert ("scales 1, 0.9, " in capsys.readouterr().out) is (asked[-1] == (1.0, 0.9))
        return asked[-1]

    assert run(plain) == (1.0,)
    assert run(plain, "--scales", "1", "0.9") == (1.0, 0.9)
    assert run(stored) == (1.0, 0.9)
    assert run(stored, "--scales", "1") == (1.0,)


def test_slide_tta_follows_the_checkpoint_and_the_flags(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vnet.slide as vs

    asked: list[bool] = []
    real = vs.tile_predictor

    def spy(model: torch.nn.Module, **kw: Any) -> Any:
        asked.append(kw["tta"])
        return real(model, **kw)

    monkeypatch.setattr(vs, "tile_predictor", spy)
    rng = np.random.default_rng(0)
    img = np.full((400, 400, 3), 240, np.uint8)
    img[100:300, 80:320] = rng.integers(0, 60, (200, 240, 3)) + np.array([150, 60, 140])
    slide = write_tiff(tmp_path / "s.tif", img, mpp=0.5, levels=2, tile=64)
    plain = write_tiny_vn(tmp_path / "plain.pt", {"kind": "folder"}, seed=2)
    tta = write_tiny_vn(tmp_path / "tta.pt", {"kind": "folder", "tta": True}, seed=2)

    def run(ckpt: Path, *flags: str) -> bool:
        out = str(tmp_path / "o")
        assert main(["predict", str(ckpt), str(slide), "--out", out, "--no-normalize", *flags]) == 0
        said = "test-time augmentation (8 passes)" in capsys.readouterr().out
        assert said is asked[-1]
        return asked[-1]

    assert run(plain) is False
    assert run(plain, "--tta") is True
    assert run(tta) is True
    assert run(tta, "--no-tta") is False

    bad = write_tiny_vn(tmp_path / "bad.pt", {"kind": "folder", "tta": "sometimes"}, seed=2)
    assert main(["predict", str(bad), str(slide), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "source.tta must be true or false, got 'sometimes'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("name", ["fill_holes", "whole_nuclei", "neighbour_nuclei"])
def test_slide_region_flags_follow_the_checkpoint_and_the_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Filled regions, whole and neighbour nuclei: each tile's segmentation does as resolved."""
    import synthlang.slides.predict as sp
    from vnet.slide import predict_slide_file

    asked: list[bool] = []
    real = sp.segment_tile

    def spy(probs: np.ndarray, **kw: Any) -> Any:
        if name == "fill_holes":
            asked.append(kw["fill_holes"])
        elif name == "whole_nuclei":
            asked.append(kw["nuclei"] is not None and kw["whole_nuclei"])
        else:
            asked.append(kw["nuclei"] is not None and kw["neighbour_distance"] == 30.0)
        return real(probs, **kw)

    monkeypatch.setattr(sp, "segment_tile", spy)
    img = np.full((300, 300, 3), 240, np.uint8)
    img[100:200, 80:220] = np.array([150, 60, 140], np.uint8)
    slide = write_tiff(tmp_path / "s.tif", img, mpp=0.5, levels=1, tile=64)
    plain = write_tiny_vn(tmp_path / "plain.pt", {"kind": "folder"}, seed=2)
    stored = write_tiny_vn(tmp_path / "on.pt", {"kind": "folder", name: True}, seed=2)

    def run(ckpt: Path, flag: bool | None = None) -> bool:
        asked.clear()
        rec = predict_slide_file(
            ckpt, slide, tmp_path / "o", normalize="none", progress=False, **{name: flag}
        )
        assert asked and set(asked) == {rec[name]}
        return bool(rec[name])

    assert run(plain) is False
    assert run(plain, True) is True
    assert run(stored) is True
    assert run(stored, False) is False


def test_slide_haematoxylin_normalisation_uses_the_thumbnail_stains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One stain estimate per slide; every tile's haematoxylin is rescaled with it."""
    import vnet.slide as vs
    from synthlang.colornorm import color_stats, haematoxylin_level, haematoxylin_normalize

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:300, :300]
    hc = np.zeros((300, 300))
    for cy, cx in rng.uniform(20, 280, (40, 2)):
        hc += 1.2 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 30.0)
    od = np.stack([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]], axis=1) @ np.stack(
        [hc.ravel(), 2.2 + 0.4 * rng.uniform(size=hc.size)]
    )
    he = ((240 / 255) * np.exp(-od)).T.reshape(300, 300, 3).astype(np.float32)
    stats = color_stats([he])
    assert stats.haematoxylin_level is not None
    pale = haematoxylin_normalize(he, 0.6 * stats.haematoxylin_level)
    slide = write_tiff(
        tmp_path / "s.tif", (pale * 255).round().astype(np.uint8), mpp=0.5, levels=1, tile=64
    )
    ckpt = write_tiny_vn(tmp_path / "m.pt", {"kind": "folder", "color_stats": stats.to_dict()})
    made: list[Any] = []
    real = vs._normalizer

    def spy(*args: Any) -> Any:
        made.append(real(*args))
        return made[-1]

    monkeypatch.setattr(vs, "_normalizer", spy)
    notes: list[str] = []
    rec = vs.predict_slide_file(
        ckpt, slide, tmp_path / "o", normalize="haematoxylin", progress=False, notes=notes
    )
    assert not notes, notes
    assert rec["normalized"] and made[-1] is not None
    norm = made[-1]
    before, after = haematoxylin_level([pale]), haematoxylin_level([norm(pale)])
    assert before is not None and after is not None and after > 1.2 * before
    # one estimate for the whole slide: a tile is mapped as the same pixels of the whole
    np.testing.assert_allclose(norm(pale[64:128, 32:96]), norm(pale)[64:128, 32:96], atol=1e-6)
    old = {k: v for k, v in stats.to_dict().items() if k != "haematoxylin_level"}
    ckpt_old = write_tiny_vn(tmp_path / "old.pt", {"kind": "folder", "color_stats": old})
    rec = vs.predict_slide_file(
        ckpt_old, slide, tmp_path / "o2", normalize="haematoxylin", progress=False, notes=notes
    )
    assert not rec["normalized"]
    assert notes == ["s.tif: colours not normalised (no haematoxylin level)"]
