"""Prediction on images of any size, tiling, output files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from synthlang.common.errors import DataError, ResourceLimitError
from tests.vnet.helpers import write_model_checkpoint
from vnet import CoupledVN, UNet, UNetConfig, VNConfig
from vnet.predict import PredictOptions, predict_array, predict_files, tile_starts
from vnet.train import save_checkpoint

SMALL = VNConfig(steps=1, n_fu=4, k_u=5, n_fm=2, k_m=3, n_f=6, k=3, seed=2)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (h, w, 3)).astype(np.float32)


def _load(path: Path) -> tuple[str, tuple[int, int], np.ndarray]:
    with Image.open(path) as im:
        return im.mode, im.size, np.asarray(im)


def _small_net(kind: str, k: int = 1) -> CoupledVN | UNet:
    """A small untrained network of ``kind`` with ``k`` mask channels."""
    if kind == "vn":
        return CoupledVN(SMALL.replace(mask_channels=k))
    return UNet(UNetConfig(channels=8, mask_channels=k))


def _checkpoint(path: Path, kind: str = "vn") -> Path:
    return write_model_checkpoint(path, _small_net(kind))


@pytest.mark.parametrize("size", [(37, 53), (3, 4), (1, 1)])
@pytest.mark.parametrize("kind", ["vn", "unet"])
def test_odd_sizes(size: tuple[int, int], kind: str, device: torch.device) -> None:
    model = _small_net(kind).to(device)
    u, m = predict_array(model, _image(*size), device=device)
    assert u.shape == (*size, 3) and m.shape == size
    assert u.dtype == np.float32 and m.dtype == np.float32
    assert 0 <= u.min() and u.max() <= 1 and 0 <= m.min() and m.max() <= 1


def test_tiles_cover_and_match_whole_image() -> None:
    """With a margin beyond the receptive field, tiling reproduces the whole-image pass."""
    model = CoupledVN(SMALL)  # receptive radius: 2 + 1 + 1 + 2 = 6 pixels
    img = _image(70, 90, 1)
    whole_u, whole_m = predict_array(model, img, tile=512)
    tiled_u, tiled_m = predict_array(model, img, tile=32, overlap=8, margin=8)
    np.testing.assert_allclose(tiled_u, whole_u, atol=1e-5)
    np.testing.assert_allclose(tiled_m, whole_m, atol=1e-5)
    rough_u, _ = predict_array(model, img, tile=32, overlap=8, margin=0)
    assert np.abs(rough_u - whole_u).max() < 0.5  # blended, still sane without margin


def test_tile_starts() -> None:
    assert tile_starts(100, 512, 32) == [0]
    for n, tile, overlap in [(1000, 512, 32), (70, 32, 8), (33, 32, 0)]:
        starts = tile_starts(n, tile, overlap)
        covered = np.zeros(n, bool)
        for s in starts:
            covered[s : s + tile] = True
            assert 0 <= s <= n - tile
        assert covered.all()
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_predict_files(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "model.pt")
    inputs = []
    for name, (h, w) in {"a": (37, 53), "b": (70, 90)}.items():
        p = tmp_path / f"{name}.png"
        Image.fromarray((_image(h, w) * 255).astype(np.uint8)).save(p)
        inputs.append(p)
    out = tmp_path / "pred"
    records = predict_files(ckpt, inputs, out, PredictOptions(tile=32, overlap=8, threshold=0.5))
    assert [r["name"] for r in records] == ["a", "b"]
    for name, (h, w) in {"a": (37, 53), "b": (70, 90)}.items():
        den = _load(out / f"{name}_denoised.png")
        prob = _load(out / f"{name}_prob.png")
        mask = _load(out / f"{name}_mask.png")
        ov = _load(out / f"{name}_overlay.png")
        assert den[1] == prob[1] == mask[1] == ov[1] == (w, h)
        assert den[0] == "RGB" and ov[0] == "RGB" and mask[0] == "L"
        assert prob[0].startswith("I")  # 16 bit
        assert set(np.unique(mask[2]).tolist()) <= {0, 255}
        p = prob[2].astype(np.float64) / 65535
        assert ((p >= 0.5) == (mask[2] == 255)).mean() > 0.999
    # Reinhard normalisation to a reference image runs and changes the colours
    ref = tmp_path / "ref.png"
    Image.fromarray((_image(20, 20, 5) * 128).astype(np.uint8)).save(ref)
    predict_files(ckpt, inputs[:1], tmp_path / "pred_ref", PredictOptions(reference=ref))
    a = _load(out / "a_overlay.png")[2]
    b = _load(tmp_path / "pred_ref" / "a_overlay.png")[2]
    assert a.shape == b.shape and not np.array_equal(a, b)


def test_predict_errors(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "model.pt", "unet")
    img = tmp_path / "x.png"
    Image.fromarray((_image(8, 8) * 255).astype(np.uint8)).save(img)
    (tmp_path / "sub").mkdir()
    Image.fromarray((_image(8, 8) * 255).astype(np.uint8)).save(tmp_path / "sub" / "x.png")
    with pytest.raises(DataError, match="same outputs"):
        predict_files(ckpt, [img, tmp_path / "sub" / "x.png"], tmp_path / "o")
    with pytest.raises(DataError, match="no such image"):
        predict_files(ckpt, [tmp_path / "nope.png"], tmp_path / "o")
    with pytest.raises(DataError, match="checkpoint"):
        predict_files(tmp_path / "missing.pt", [img], tmp_path / "o")
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="checkpoint"):
        predict_files(bogus, [img], tmp_path / "o")
    with pytest.raises(ValueError):
        PredictOptions(tile=32, overlap=32)


def _he(seed: int, cast: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """A 32 x 32 H&E-like image (haematoxylin blobs on eosin), optionally colour-cast."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    hc = sum(
        1.4 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 10.0)
        for cy, cx in rng.uniform(0, 32, (6, 2))
    )
    ec = 0.5 + 0.3 * rng.uniform(size=(32, 32))
    od = np.array([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]]) @ np.stack([hc.ravel(), ec.ravel()])
    img = ((240 / 255) * np.exp(-od)).T.reshape(32, 32, 3) * np.array(cast)
    return np.clip(img, 0, 1).astype(np.float32)


def _save(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
    return path


def _with_stats(path: Path, stats: dict[str, Any]) -> Path:
    from vnet.train import load_checkpoint

    ckpt = load_checkpoint(_checkpoint(path))
    ckpt["source"] = {"kind": "folder", "color_stats": stats}
    save_checkpoint(path, ckpt)
    return path


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The images the network is run on (after colour normalisation), in order."""
    import vnet.predict as vp

    images: list[np.ndarray] = []
    real = vp.predict_array

    def spy(model: torch.nn.Module, image: np.ndarray, **kw: Any) -> Any:
        images.append(image)
        return real(model, image, **kw)

    monkeypatch.setattr(vp, "predict_array", spy)
    return images


def test_predict_normalises_to_the_checkpoint_by_default(
    tmp_path: Path, seen: list[np.ndarray]
) -> None:
    """The network sees inputs mapped to the stored colours; --no-normalize and --reference."""
    from synthlang.colornorm import DEFAULT_METHOD, color_stats
    from synthlang.common.imageio import read_image
    from synthlang.stats import reinhard_stats

    stats = color_stats([_he(0), _he(1)])
    ckpt = _with_stats(tmp_path / "model.pt", stats.to_dict())
    cast = _save(tmp_path / "cast.png", _he(2, (0.8, 1.0, 0.7)))
    target = "checkpoint training inputs"

    (rec,) = predict_files(ckpt, [cast], tmp_path / "o1")
    assert rec["normalization"] == {"method": DEFAULT_METHOD, "target": target}
    (rec,) = predict_files(ckpt, [cast], tmp_path / "o2", PredictOptions(normalize="reinhard"))
    assert rec["normalization"] == {"method": "reinhard", "target": target}
    before = reinhard_stats(read_image(cast)).mean
    after = reinhard_stats(seen[-1]).mean
    assert np.abs(after - stats.reinhard.mean).max() < 1.5 < np.abs(before - after).max()
    (rec,) = predict_files(ckpt, [cast], tmp_path / "o3", PredictOptions(normalize="macenko"))
    assert rec["normalization"]["method"] == "macenko"
    gap = np.abs(reinhard_stats(seen[-1]).mean - stats.reinhard.mean).max()
    assert gap < 0.6 * np.abs(before - stats.reinhard.mean).max()

    (rec,) = predict_files(ckpt, [cast], tmp_path / "o4", PredictOptions(normalize="none"))
    assert rec["normalization"] == {"method": "none", "target": None}
    assert np.array_equal(seen[-1], read_image(cast))

    ref = _save(tmp_path / "ref.png", _he(3, (0.6, 0.6, 0.9)))
    opts = PredictOptions(normalize="reinhard", reference=ref)
    (rec,) = predict_files(ckpt, [cast], tmp_path / "o5", opts)
    assert rec["normalization"] == {"method": "reinhard", "target": f"reference {ref}"}
    ref_mean = reinhard_stats(read_image(ref)).mean
    assert np.abs(reinhard_stats(seen[-1]).mean - ref_mean).max() < 1.5


def test_predict_rescales_the_haematoxylin_to_the_training_level(
    tmp_path: Path, seen: list[np.ndarray]
) -> None:
    """``normalize="haematoxylin"`` (a stored default too): only the nuclear stain changes."""
    from synthlang.cli.train import set_predict_normalize
    from synthlang.colornorm import color_stats, haematoxylin_level, haematoxylin_normalize
    from synthlang.common.imageio import read_image

    stats = color_stats([_he(0), _he(1)])
    assert stats.haematoxylin_level is not None
    ckpt = _with_stats(tmp_path / "model.pt", stats.to_dict())
    pale = _save(tmp_path / "pale.png", haematoxylin_normalize(_he(2), 0.5))
    opts = PredictOptions(normalize="haematoxylin")
    (rec,) = predict_files(ckpt, [pale], tmp_path / "o1", opts)
    target = "checkpoint training inputs"
    assert rec["normalization"] == {"method": "haematoxylin", "target": target}
    level = haematoxylin_level([seen[-1]])
    assert level is not None and abs(level / stats.haematoxylin_level - 1) < 0.05
    assert abs(haematoxylin_level([read_image(pale)]) / stats.haematoxylin_level - 1) > 0.2
    set_predict_normalize(ckpt, "haematoxylin", ckpt)
    (rec,) = predict_files(ckpt, [pale], tmp_path / "o2")
    assert rec["normalization"]["method"] == "haematoxylin"
    assert np.array_equal(seen[-1], seen[-2])
    # statistics stored before the level was measured: the input is left as it is
    old = {k: v for k, v in stats.to_dict().items() if k != "haematoxylin_level"}
    ckpt_old = _with_stats(tmp_path / "old.pt", old)
    (rec,) = predict_files(ckpt_old, [pale], tmp_path / "o3", opts)
    assert rec["normalization"]["method"].startswith("none (haematoxylin impossible: the target")
    assert np.array_equal(seen[-1], read_image(pale))


def test_checkpoint_without_stats_is_not_normalised(tmp_path: Path) -> None:
    """Old checkpoints keep loading; predict says once that it does not normalise."""
    ckpt = _checkpoint(tmp_path / "old.pt")
    inputs = [_save(tmp_path / f"{n}.png", _he(i)) for i, n in enumerate("ab")]
    notes: list[str] = []
    records = predict_files(ckpt, inputs, tmp_path / "o", notes=notes)
    assert [r["normalization"]["method"] for r in records] == ["none", "none"]
    assert len(notes) == 1 and "stores no colour statistics" in notes[0]


def test_invalid_stats_and_options(tmp_path: Path) -> None:
    from vnet.checkpoint import color_stats
    from vnet.train import load_checkpoint

    img = _save(tmp_path / "a.png", _he(0))
    bad = _with_stats(tmp_path / "bad.pt", {"n_images": 1, "reinhard": {"lab_mean": [1]}})
    with pytest.raises(DataError, match="invalid source.color_stats"):
        predict_files(bad, [img], tmp_path / "o")
    good = _with_stats(tmp_path / "good.pt", {"n_images": 2, "reinhard": _REINHARD})
    loaded = color_stats(load_checkpoint(good), good)
    assert loaded is not None and loaded.macenko is None and loaded.n_images == 2
    with pytest.raises(ValueError, match="normalize"):
        PredictOptions(normalize="histogram")
    with pytest.raises(ValueError, match="reference"):
        PredictOptions(normalize="none", reference=img)


_REINHARD = {"lab_mean": [60.0, 20.0, -10.0], "lab_std": [15.0, 8.0, 6.0]}


def test_checkpoint_chooses_the_default_normalisation(tmp_path: Path) -> None:
    """``source.normalize`` (train --predict-normalize) is predict's default; flags override."""
    from synthlang.cli.train import set_predict_normalize
    from synthlang.colornorm import color_stats

    stats = color_stats([_he(0), _he(1)])
    ckpt = _with_stats(tmp_path / "model.pt", stats.to_dict())
    set_predict_normalize(ckpt, "none", ckpt)
    img = _save(tmp_path / "a.png", _he(2, (0.8, 1.0, 0.7)))
    (rec,) = predict_files(ckpt, [img], tmp_path / "o1")
    assert rec["normalization"] == {"method": "none", "target": None}
    (rec,) = predict_files(ckpt, [img], tmp_path / "o2", PredictOptions(normalize="reinhard"))
    assert rec["normalization"]["method"] == "reinhard"
    set_predict_normalize(ckpt, "reinhard", ckpt)
    (rec,) = predict_files(ckpt, [img], tmp_path / "o3")
    assert rec["normalization"]["method"] == "reinhard"
    with pytest.raises(DataError, match="method must be one of"):
        set_predict_normalize(ckpt, "histogram", ckpt)


def test_invalid_stored_normalisation_is_refused(tmp_path: Path) -> None:
    from vnet.train import load_checkpoint

    ckpt = _with_stats(tmp_path / "m.pt", {"n_images": 2, "reinhard": _REINHARD})
    data = load_checkpoint(ckpt)
    data["source"] = {**data["source"], "normalize": "histogram"}
    save_checkpoint(ckpt, data)
    img = _save(tmp_path / "a.png", _he(0))
    with pytest.raises(DataError, match="source.normalize must be one of"):
        predict_files(ckpt, [img], tmp_path / "o")


# ------------------------------------------------------------------ K mask channels

CLASSES = ["tumor", "immune", "other"]


def _class_checkpoint(path: Path) -> Path:
    return write_model_checkpoint(path, _small_net("unet", 3), classes=CLASSES)


def _nuclei_probabilities(h: int, w: int) -> np.ndarray:
    """Three classes: two touching tumour discs, an immune disc, an 'other' square."""
    yy, xx = np.mgrid[:h, :w]
    p = np.full((h, w, 3), 0.05, np.float32)
    for cy, cx in ((12, 12), (12, 24)):
        p[(yy - cy) ** 2 + (xx - cx) ** 2 <= 49, 0] = 0.9
    p[(yy - 30) ** 2 + (xx - 40) ** 2 <= 16, 1] = 0.8
    p[25:31, 5:11, 2] = 0.7
    return p


@pytest.mark.parametrize("kind", ["vn", "unet"])
def test_k_channel_arrays_whole_and_tiled(kind: str) -> None:
    model = _small_net(kind, 3)
    img = _image(50, 61, 3)
    u, m = predict_array(model, img, tile=512)
    assert u.shape == (50, 61, 3) and m.shape == (50, 61, 3) and m.dtype == np.float32
    if kind == "vn":  # beyond the receptive field, tiles reproduce the whole pass
        _, tiled = predict_array(model, img, tile=32, overlap=8, margin=8)
        np.testing.assert_allclose(tiled, m, atol=1e-5)


def test_predict_files_writes_class_and_instance_maps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import vnet.predict as vp

    probs = _nuclei_probabilities(40, 50)
    monkeypatch.setattr(vp, "predict_array", lambda model, image, **kw: (image, probs))
    ckpt = _class_checkpoint(tmp_path / "model.pt")
    img = _save(tmp_path / "slide.png", _image(40, 50))
    opts = PredictOptions(normalize="none", geojson=True)
    (rec,) = predict_files(ckpt, [img], tmp_path / "out", opts)
    out = tmp_path / "out"
    mode, size, labels = _load(out / "slide_labels.png")
    assert mode == "L" and size == (50, 40)
    np.testing.assert_array_equal(labels, vp.label_map(probs))
    assert set(np.unique(labels).tolist()) == {0, 1, 2, 3}
    mode, _, inst = _load(out / "slide_instances.png")
    assert mode.startswith("I") and int(inst.max()) == 4  # the touching discs are two
    assert np.array_equal(inst > 0, labels > 0)
    assert rec["instances"] == {"tumor": 2, "immune": 1, "other": 1}
    for k in (1, 2, 3):
        _, _, pk = _load(out / f"slide_prob_{k}.png")
        np.testing.assert_allclose(pk / 65535, probs[..., k - 1], atol=1e-4)
    _, _, prob = _load(out / "slide_prob.png")
    np.testing.assert_allclose(prob / 65535, probs.max(axis=2), atol=1e-4)
    _, _, mask = _load(out / "slide_mask.png")
    assert np.array_equal(mask == 255, labels > 0)
    assert _load(out / "slide_overlay.png")[0] == "RGB"
    summary = json.loads((out / "predict.json").read_text())
    assert summary["classes"] == CLASSES and summary["images"][0]["name"] == "slide"
    collection = json.loads((out / "slide.geojson").read_text())
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 4
    props = [f["properties"] for f in collection["features"]]
    assert [p["classification"]["name"] for p in props] == ["tumor", "tumor", "immune", "other"]
    assert [p["probability"] for p in props] == pytest.approx([0.9, 0.9, 0.8, 0.7])
    assert all(p["objectType"] == "detection" for p in props)


def test_binary_model_also_writes_class_and_instance_maps(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "model.pt")
    img = _save(tmp_path / "a.png", _image(30, 40))
    (rec,) = predict_files(
        ckpt, [img], tmp_path / "o", PredictOptions(normalize="none", threshold=0.3)
    )
    _, _, mask = _load(tmp_path / "o" / "a_mask.png")
    _, _, labels = _load(tmp_path / "o" / "a_labels.png")
    _, _, inst = _load(tmp_path / "o" / "a_instances.png")
    assert np.array_equal(labels, (mask == 255).astype(np.uint8))
    assert np.array_equal(inst > 0, labels > 0) and list(rec["instances"]) == ["mask"]
    assert not (tmp_path / "o" / "a_prob_1.png").exists()
    with pytest.raises(ValueError, match="min_distance"):
        PredictOptions(min_distance=0)


def test_min_area_drops_specks_from_every_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import vnet.predict as vp
    from vnet.train import load_checkpoint

    yy, xx = np.mgrid[:30, :40]
    probs = np.full((30, 40), 0.1, np.float32)
    probs[(yy - 12) ** 2 + (xx - 12) ** 2 <= 16] = 0.9  # a nucleus of 49 px
    probs[25, 30:33] = 0.9  # a speck of 3 px
    monkeypatch.setattr(vp, "predict_array", lambda model, image, **kw: (image, probs))
    img = _save(tmp_path / "a.png", _image(30, 40))

    def run(ckpt: Path, out: str, **kw: Any) -> dict[str, Any]:
        opts = PredictOptions(normalize="none", geojson=True, **kw)
        (rec,) = predict_files(ckpt, [img], tmp_path / out, opts)
        return rec

    ckpt = _checkpoint(tmp_path / "model.pt")
    rec = run(ckpt, "default")  # 4 um2 at 0.5 um/px: 16 px
    _, _, mask = _load(tmp_path / "default" / "a_mask.png")
    _, _, labels = _load(tmp_path / "default" / "a_labels.png")
    _, _, inst = _load(tmp_path / "default" / "a_instances.png")
    assert int((mask == 255).sum()) == 49 and not mask[25, 30:33].any()
    assert np.array_equal(labels > 0, mask == 255) and np.array_equal(inst > 0, mask == 255)
    assert rec["instances"] == {"mask": 1}
    features = json.loads((tmp_path / "default" / "a.geojson").read_text())["features"]
    assert len(features) == 1
    summary = json.loads((tmp_path / "default" / "predict.json").read_text())
    assert summary["min_area_um2"] == 4.0
    assert run(ckpt, "all", min_area_um2=0)["instances"] == {"mask": 2}
    # at the checkpoint's pixel size: 4 um2 at 0.25 um/px are 64 px, more than the nucleus
    fine = load_checkpoint(ckpt)
    fine["source"] = {"kind": "folder", "pixel_size_um": 0.25}
    save_checkpoint(tmp_path / "fine.pt", fine)
    assert run(tmp_path / "fine.pt", "fine")["instances"] == {"mask": 0}
    for bad in (-1.0, 1e6):
        with pytest.raises(ValueError, match="min_area_um2"):
            PredictOptions(min_area_um2=bad)


# ------------------------------------------------------------------ test-time augmentation


class _Conv(torch.nn.Module):
    """``u = conv(u0)``, ``m = conv(u0)`` with fixed 3 x 3 kernels and zero padding.

    A network of the shape predict expects (``model(u0, m0) -> (u, m)``); zero padding
    commutes with rotations and flips, so averaging its passes over the 8 dihedral
    transforms of the input is exactly the convolution with the kernels averaged over
    the 8 transforms of the kernel.
    """

    mask_channels = 1

    def __init__(self, wu: torch.Tensor, wm: torch.Tensor) -> None:
        super().__init__()
        self.wu, self.wm = wu, wm

    def forward(self, u0: torch.Tensor, m0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        conv = torch.nn.functional.conv2d
        return conv(u0, self.wu, padding=1), conv(u0, self.wm, padding=1)


class _Grid(torch.nn.Module):
    """``u`` = the column index of every pixel, ``m`` = its row index (not equivariant)."""

    mask_channels = 1

    def forward(self, u0: torch.Tensor, m0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = u0.shape[-2:]
        rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        u = cols.to(u0.dtype).expand_as(u0)
        return u, rows.to(u0.dtype)[None, None]


def _symmetrised(weight: torch.Tensor) -> torch.Tensor:
    """The mean of a kernel over its 4 rotations, each with and without a mirror."""
    turned = [torch.rot90(weight, k, dims=(2, 3)) for k in range(4)]
    return torch.stack([*turned, *(t.flip(3) for t in turned)]).mean(0)


def _kernels(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 3, 3, 3, generator=g), torch.randn(1, 3, 3, 3, generator=g)


def test_tta_of_an_equivariant_network_is_the_plain_pass() -> None:
    wu, wm = (_symmetrised(w) for w in _kernels(0))  # kernels with all 8 symmetries
    model = _Conv(wu, wm)
    img = _image(21, 34, 4)  # not square: the turned patches are 34 x 21
    for tiling in ({"tile": 512}, {"tile": 16, "overlap": 4, "margin": 4}):
        u, m = predict_array(model, img, **tiling)
        u_tta, m_tta = predict_array(model, img, tta=True, **tiling)
        assert u_tta.shape == (21, 34, 3) and m_tta.shape == (21, 34)
        assert u_tta.dtype == np.float32 and m_tta.dtype == np.float32
        np.testing.assert_allclose(u_tta, u, atol=1e-5)
        np.testing.assert_allclose(m_tta, m, atol=1e-5)


def test_tta_is_the_mean_of_the_eight_passes() -> None:
    """A fixed asymmetric convolution: TTA is the convolution with the symmetrised kernel."""
    wu, wm = _kernels(1)
    img = _image(21, 34, 5)
    plain_u, plain_m = predict_array(_Conv(wu, wm), img)
    want_u, want_m = predict_array(_Conv(_symmetrised(wu), _symmetrised(wm)), img)
    got_u, got_m = predict_array(_Conv(wu, wm), img, tta=True)
    np.testing.assert_allclose(got_u, want_u, atol=1e-5)
    np.testing.assert_allclose(got_m, want_m, atol=1e-5)
    assert np.abs(got_u - plain_u).max() > 0.1 and np.abs(got_m - plain_m).max() > 0.1
    # tiled (margin beyond the receptive radius of 1): every tile's TTA is the same mean
    tiled_u, tiled_m = predict_array(_Conv(wu, wm), img, tile=16, overlap=4, margin=2, tta=True)
    np.testing.assert_allclose(tiled_u, want_u, atol=1e-5)
    np.testing.assert_allclose(tiled_m, want_m, atol=1e-5)


def test_tta_turns_each_output_back() -> None:
    """Row and column indices, averaged over the 8 views, are (h + w - 2) / 4 everywhere."""
    h, w = 5, 8
    u, m = predict_array(_Grid(), _image(h, w), tta=True)
    np.testing.assert_allclose(u, np.full((h, w, 3), (h + w - 2) / 4), atol=1e-6)
    np.testing.assert_allclose(m, np.full((h, w), (h + w - 2) / 4), atol=1e-6)
    plain_u, plain_m = predict_array(_Grid(), _image(h, w))
    assert np.array_equal(plain_u[..., 0], np.tile(np.arange(w), (h, 1)))  # not the mean
    assert np.array_equal(plain_m, np.tile(np.arange(h)[:, None], (1, w)))


@pytest.mark.parametrize("kind", ["vn", "unet"])
def test_tta_runs_real_networks_whole_and_tiled(kind: str) -> None:
    model = _small_net(kind, 2)
    img = _image(30, 45, 6)
    u, m = predict_array(model, img, tta=True)
    assert u.shape == (30, 45, 3) and m.shape == (30, 45, 2) and m.dtype == np.float32
    assert 0 <= m.min() and m.max() <= 1
    tiled_u, tiled_m = predict_array(model, img, tile=24, overlap=6, margin=4, tta=True)
    assert tiled_u.shape == u.shape and tiled_m.shape == m.shape
    if kind == "vn":  # margin beyond the receptive field: tiles reproduce the whole pass
        _, tiled = predict_array(model, img, tile=24, overlap=6, margin=8, tta=True)
        np.testing.assert_allclose(tiled, m, atol=1e-5)


def test_checkpoint_chooses_tta_and_options_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``source.tta`` (train --predict-tta) is predict's default; ``tta=False`` overrides it."""
    import json

    import vnet.predict as vp
    from synthlang.cli.train import set_predict_flag

    asked: list[bool] = []
    real = vp.predict_array

    def spy(model: torch.nn.Module, image: np.ndarray, **kw: Any) -> Any:
        asked.append(kw["tta"])
        return real(model, image, **kw)

    monkeypatch.setattr(vp, "predict_array", spy)
    ckpt = _checkpoint(tmp_path / "model.pt")
    img = _save(tmp_path / "a.png", _image(20, 24))

    def run(out: str, **kw: Any) -> bool:
        (rec,) = predict_files(ckpt, [img], tmp_path / out, PredictOptions(**kw))
        summary = json.loads((tmp_path / out / "predict.json").read_text())
        assert summary["tta"] is rec["tta"] is asked[-1]
        return asked[-1]

    assert run("o1") is False  # no stored choice: off
    assert run("o2", tta=True) is True
    set_predict_flag(ckpt, "tta", True, ckpt)
    assert run("o3") is True
    assert run("o4", tta=False) is False
    set_predict_flag(ckpt, "tta", False, ckpt)
    assert run("o5") is False
    with pytest.raises(DataError, match="enabled must be True or False"):
        set_predict_flag(ckpt, "tta", "yes", ckpt)  # type: ignore[arg-type]
    for bad in ("yes", 1):
        with pytest.raises(ValueError, match="tta must be True, False or None"):
            PredictOptions(tta=bad)  # type: ignore[arg-type]


def test_invalid_stored_tta_is_refused(tmp_path: Path) -> None:
    from vnet.train import load_checkpoint

    ckpt = _checkpoint(tmp_path / "m.pt")
    data = load_checkpoint(ckpt)
    data["source"] = {"kind": "folder", "tta": "yes"}
    save_checkpoint(ckpt, data)
    img = _save(tmp_path / "a.png", _image(8, 8))
    with pytest.raises(DataError, match="source.tta must be true or false, got 'yes'"):
        predict_files(ckpt, [img], tmp_path / "o")


def test_fill_holes_from_the_checkpoint_or_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ring of probability becomes a filled nucleus with ``fill_holes`` (stored or given)."""
    import json

    import vnet.predict as vp
    from synthlang.cli.train import set_predict_flag
    from vnet.train import load_checkpoint

    yy, xx = np.mgrid[:40, :40]
    d = np.hypot(yy - 20, xx - 20)
    ring = ((d >= 4) & (d <= 9)).astype(np.float32)

    def ring_net(model: torch.nn.Module, image: np.ndarray, **kw: Any) -> Any:
        return image, ring

    monkeypatch.setattr(vp, "predict_array", ring_net)
    ckpt = _checkpoint(tmp_path / "model.pt")
    img = _save(tmp_path / "a.png", _image(40, 40))

    def centre(out: str, **kw: Any) -> bool:
        (rec,) = predict_files(ckpt, [img], tmp_path / out, PredictOptions(**kw))
        summary = json.loads((tmp_path / out / "predict.json").read_text())
        assert summary["fill_holes"] is rec["fill_holes"]
        _, _, mask = _load(tmp_path / out / "a_mask.png")
        _, _, inst = _load(tmp_path / out / "a_instances.png")
        assert (mask > 0).sum() >= ring.sum()
        # filled: one nucleus; as it is: a ring that the watershed cuts into pieces
        one = len(np.unique(inst[mask > 0])) == 1
        assert rec["fill_holes"] is bool(mask[20, 20] == 255) is one
        return bool(rec["fill_holes"])

    assert centre("o1") is False  # no stored choice: the ring as it is
    assert centre("o2", fill_holes=True) is True
    set_predict_flag(ckpt, "fill_holes", True, ckpt)
    assert centre("o3") is True
    assert centre("o4", fill_holes=False) is False
    with pytest.raises(DataError, match="enabled must be True or False"):
        set_predict_flag(ckpt, "fill_holes", 1, ckpt)  # type: ignore[arg-type]
    with pytest.raises(
        DataError,
        match=r"name must be one of \['tta', 'fill_holes', 'whole_nuclei', 'neighbour_nuclei'\]",
    ):
        set_predict_flag(ckpt, "holes", True, ckpt)
    with pytest.raises(ValueError, match="fill_holes must be True, False or None"):
        PredictOptions(fill_holes="yes")  # type: ignore[arg-type]
    data = load_checkpoint(ckpt)
    data["source"] = {"kind": "folder", "fill_holes": "always"}
    save_checkpoint(ckpt, data)
    with pytest.raises(DataError, match="source.fill_holes must be true or false, got 'always'"):
        predict_files(ckpt, [img], tmp_path / "o5")


def test_whole_nuclei_from_the_checkpoint_or_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nucleus the network marks in its upper half only is marked whole with whole_nuclei."""
    import json

    import vnet.predict as vp
    from synthlang.cli.train import set_predict_flag

    yy, xx = np.mgrid[:48, :48]
    disk = (yy - 24) ** 2 + (xx - 24) ** 2 <= 64
    inner = (yy - 24) ** 2 + (xx - 24) ** 2 <= 36  # the segmentation may miss the rim
    img = np.empty((48, 48, 3), np.float32)
    img[:] = [0.9, 0.72, 0.82]
    img[disk] = [0.4, 0.3, 0.6]
    half = (disk & (yy <= 25)).astype(np.float32)

    def half_net(model: torch.nn.Module, image: np.ndarray, **kw: Any) -> Any:
        return image, half

    monkeypatch.setattr(vp, "predict_array", half_net)
    ckpt = _checkpoint(tmp_path / "model.pt")
    path = _save(tmp_path / "a.png", img)

    def whole(out: str, **kw: Any) -> bool:
        (rec,) = predict_files(ckpt, [path], tmp_path / out, PredictOptions(normalize="none", **kw))
        summary = json.loads((tmp_path / out / "predict.json").read_text())
        assert summary["whole_nuclei"] is rec["whole_nuclei"]
        _, _, mask = _load(tmp_path / out / "a_mask.png")
        assert (mask[half > 0] == 255).all() and not mask[~disk].any()
        assert bool((mask[inner] == 255).all()) is rec["whole_nuclei"]
        return bool(rec["whole_nuclei"])

    assert whole("o1") is False  # no stored choice: the half as predicted
    assert whole("o2", whole_nuclei=True) is True
    set_predict_flag(ckpt, "whole_nuclei", True, ckpt)
    assert whole("o3") is True
    assert whole("o4", whole_nuclei=False) is False
    with pytest.raises(ValueError, match="whole_nuclei must be True, False or None"):
        PredictOptions(whole_nuclei=1)  # type: ignore[arg-type]


def test_neighbour_nuclei_from_the_checkpoint_or_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nucleus of probability 0.3 between two marked ones joins; a lone one does not."""
    import vnet.predict as vp
    from synthlang.cli.train import set_predict_flag

    yy, xx = np.mgrid[:100, :120]
    img = np.empty((100, 120, 3), np.float32)
    img[:] = [0.9, 0.72, 0.82]
    prob = np.zeros((100, 120), np.float32)
    disks = {}
    # marked, candidate (20 px = 10 um from both), marked; a lone candidate 50 um away
    for name, (cy, cx), p in (
        ("a", (20, 20), 0.9),
        ("mid", (20, 40), 0.3),
        ("b", (20, 60), 0.9),
        ("lone", (80, 105), 0.3),
    ):
        disks[name] = (yy - cy) ** 2 + (xx - cx) ** 2 <= 25
        img[disks[name]] = [0.4, 0.3, 0.6]
        prob[disks[name]] = p

    monkeypatch.setattr(vp, "predict_array", lambda model, image, **kw: (image, prob))
    ckpt = _checkpoint(tmp_path / "model.pt")
    path = _save(tmp_path / "a.png", img)

    def marked(out: str, **kw: Any) -> bool:
        (rec,) = predict_files(ckpt, [path], tmp_path / out, PredictOptions(normalize="none", **kw))
        _, _, mask = _load(tmp_path / out / "a_mask.png")
        assert (mask[disks["a"]] == 255).all() and not mask[disks["lone"]].any()
        added = bool((mask[disks["mid"] & (prob > 0)] == 255).mean() > 0.8)
        assert added is rec["neighbour_nuclei"] and not mask[prob == 0].any()
        return added

    assert marked("o1") is False  # no stored choice
    assert marked("o2", neighbour_nuclei=True) is True
    set_predict_flag(ckpt, "neighbour_nuclei", True, ckpt)
    assert marked("o3") is True
    assert marked("o4", neighbour_nuclei=False) is False
    with pytest.raises(ValueError, match="neighbour_nuclei must be True, False or None"):
        PredictOptions(neighbour_nuclei=1)  # type: ignore[arg-type]


def test_mpp_resamples_onto_the_model_grid_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image at half the model's pixel size is predicted at the model's, outputs at its own."""
    import json

    import vnet.predict as vp

    shapes: list[tuple[int, ...]] = []

    def dark_net(model: torch.nn.Module, image: np.ndarray, **kw: Any) -> Any:
        shapes.append(image.shape)
        return image, (image.mean(axis=2) < 0.5).astype(np.float32)

    monkeypatch.setattr(vp, "predict_array", dark_net)
    ckpt = _checkpoint(tmp_path / "model.pt")  # stores no pixel size: 0.5 um
    yy, xx = np.mgrid[:24, :24]
    small = np.full((24, 24, 3), 0.9, np.float32)
    small[(yy - 12) ** 2 + (xx - 12) ** 2 <= 25] = 0.1
    big = small.repeat(2, axis=0).repeat(2, axis=1)  # the same tissue at 0.25 um/px
    path = _save(tmp_path / "big.png", big)
    opts = {"normalize": "none", "min_area_um2": 0.0}

    (rec,) = predict_files(ckpt, [path], tmp_path / "o1", PredictOptions(mpp=0.25, **opts))
    assert shapes[-1] == (24, 24, 3) and rec["size"] == [48, 48]
    assert rec["pixel_size_um"] == {"input": 0.25, "model": 0.5} and rec["resampled"]
    assert json.loads((tmp_path / "o1" / "predict.json").read_text())["images"][0][
        "pixel_size_um"
    ] == {"input": 0.25, "model": 0.5}
    for kind in ("mask", "prob", "labels", "instances", "overlay", "denoised"):
        assert _load(tmp_path / "o1" / f"big_{kind}.png")[1] == (48, 48), kind
    mask = _load(tmp_path / "o1" / "big_mask.png")[2] > 0
    truth = big.mean(axis=2) < 0.5
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.9
    assert rec["instances"] == {"mask": 1}

    # at the model's own pixel size nothing is resampled: the bytes of a run without mpp
    (rec,) = predict_files(ckpt, [path], tmp_path / "o2", PredictOptions(mpp=0.5, **opts))
    assert not rec["resampled"]
    predict_files(ckpt, [path], tmp_path / "o3", PredictOptions(**opts))
    assert shapes[-2:] == [(48, 48, 3), (48, 48, 3)]
    for kind in ("mask", "prob", "instances", "denoised"):
        a = (tmp_path / "o2" / f"big_{kind}.png").read_bytes()
        assert a == (tmp_path / "o3" / f"big_{kind}.png").read_bytes(), kind

    # the model's pixel size can be given too
    predict_files(ckpt, [path], tmp_path / "o4", PredictOptions(mpp=0.5, model_mpp=1.0, **opts))
    assert shapes[-1] == (24, 24, 3)
    with pytest.raises(DataError, match=r"--mpp: .*differ by more than 8 times"):
        predict_files(ckpt, [path], tmp_path / "o5", PredictOptions(mpp=0.05, **opts))
    monkeypatch.setattr("synthlang.common.imageio.DEFAULT_MAX_PIXELS", 48 * 48 * 3)
    with pytest.raises(ResourceLimitError, match=r"big.png at the model's pixel size: image is 96"):
        predict_files(ckpt, [path], tmp_path / "o6", PredictOptions(mpp=1.0, **opts))
    with pytest.raises(ValueError, match="mpp must be a positive number of micrometres"):
        PredictOptions(mpp=0.0)
    with pytest.raises(ValueError, match="model_mpp must be a positive"):
        PredictOptions(model_mpp=float("nan"))
