"""Training: it learns, checkpoints round-trip, resume is exact, divergence stops cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synthlang.common.errors import DataError, SynthlangError
from tests.vnet.helpers import write_model_checkpoint
from vnet.config import PRESETS, TrainConfig, UNetConfig, VNConfig, preset
from vnet.data import CachedSource, FolderSource, TrainingSamples, make_loader
from vnet.predict import load_model
from vnet.train import (
    TrainingError,
    build_model,
    load_checkpoint,
    loss_and_metrics,
    train,
)

TINY = VNConfig(steps=2, n_fu=6, k_u=5, n_fm=2, k_m=3, n_f=8, k=3, seed=1)


def _batch(source: FolderSource, indices: range) -> tuple[torch.Tensor, ...]:
    items = [source(i) for i in indices]
    u0 = torch.from_numpy(np.stack([it[0] for it in items]).transpose(0, 3, 1, 2)).contiguous()
    gu = torch.from_numpy(np.stack([it[1] for it in items]).transpose(0, 3, 1, 2)).contiguous()
    gm = torch.from_numpy(np.stack([it[2] for it in items])[:, None]).contiguous()
    return u0, gu, gm


def _held_out_loss(model: torch.nn.Module, source: FolderSource) -> dict[str, float]:
    u0, gu, gm = _batch(source, range(8, 12))
    with torch.no_grad():
        u, m = model(u0)
    return loss_and_metrics(u, m, gu, gm, u0)[1]


@pytest.fixture(scope="module")
def trained(toy_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A short run on the toy folder (8 training samples, 4 held out)."""
    src = FolderSource(toy_dataset)
    cfg = TrainConfig(
        vn=TINY,
        iterations=24,
        batch_size=4,
        crop=32,
        flips=True,
        lr=1e-2,
        n_samples=8,
        checkpoint_every=8,
    )
    out = tmp_path_factory.mktemp("run")
    result = train(cfg, src, out, source_info=src.info(), progress=False)
    return out, result


def test_training_lowers_the_loss(trained: tuple[Path, object], toy_dataset: Path) -> None:
    out, result = trained
    src = FolderSource(toy_dataset)
    before = _held_out_loss(build_model("vn", TINY), src)
    model, ckpt = load_model(out / "model.pt")
    after = _held_out_loss(model, src)
    assert after["loss"] < 0.7 * before["loss"]
    assert after["accuracy"] > before["accuracy"]
    assert ckpt["step"] == 24 == result.step


def test_run_folder(trained: tuple[Path, object]) -> None:
    out, result = trained
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 25))
    keys = ("loss", "accuracy", "psnr", "psnr_input", "lr", "seconds", "elapsed", "cpu_seconds")
    for key in keys:
        assert all(np.isfinite(r[key]) for r in rows), key
    assert (out / "curves.png").stat().st_size > 1000
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["iterations"] == 24 and config["source"]["kind"] == "folder"


def test_checkpoint_contents(trained: tuple[Path, object]) -> None:
    out, _ = trained
    ckpt = load_checkpoint(out / "model.pt")  # weights_only=True
    assert ckpt["format"] == "vnet-checkpoint" and ckpt["model_kind"] == "vn"
    assert VNConfig.model_validate(ckpt["model_config"]) == TINY
    assert TrainConfig.model_validate(ckpt["train_config"]).iterations == 24
    assert len(ckpt["source"]["hash"]) == 64
    assert "state" in ckpt["optimizer_state"]
    assert set(ckpt["metrics"]) >= {"loss", "accuracy", "psnr"}


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    for kind, cfg in (("vn", TINY), ("unet", UNetConfig(channels=8))):
        model = build_model(kind, cfg)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
        write_model_checkpoint(tmp_path / f"{kind}.pt", model)
        loaded, _ = load_model(tmp_path / f"{kind}.pt")
        x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            a, b = model(x), loaded(x)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_resume_is_bit_identical(toy_dataset: Path, tmp_path: Path) -> None:
    src = FolderSource(toy_dataset)
    cfg = TrainConfig(
        vn=TINY,
        iterations=4,
        batch_size=2,
        crop=24,
        flips=True,
        lr=5e-3,
        n_samples=5,
        checkpoint_every=2,
    )
    train(cfg, src, tmp_path / "straight", source_info=src.info(), progress=False)
    half = cfg.replace(iterations=2)
    train(half, src, tmp_path / "resumed", source_info=src.info(), progress=False)
    train(cfg, src, tmp_path / "resumed", source_info=src.info(), resume=True, progress=False)
    a = load_checkpoint(tmp_path / "straight" / "model.pt")
    b = load_checkpoint(tmp_path / "resumed" / "model.pt")
    assert a["step"] == b["step"] == 4
    for k, v in a["model_state"].items():
        assert torch.equal(v, b["model_state"][k]), k
    la = [
        json.loads(x)["loss"]
        for x in (tmp_path / "straight/metrics.jsonl").read_text().splitlines()
    ]
    lb = [
        json.loads(x)["loss"] for x in (tmp_path / "resumed/metrics.jsonl").read_text().splitlines()
    ]
    assert la == lb


def test_resume_refuses_other_data_or_config(toy_dataset: Path, tmp_path: Path) -> None:
    src = FolderSource(toy_dataset)
    cfg = TrainConfig(vn=TINY, iterations=1, batch_size=2, crop=24, n_samples=4)
    train(cfg, src, tmp_path, source_info=src.info(), progress=False)
    with pytest.raises(DataError, match="other data"):
        train(
            cfg.replace(iterations=2),
            src,
            tmp_path,
            source_info={**src.info(), "hash": "0" * 64},
            resume=True,
            progress=False,
        )
    with pytest.raises(DataError, match="lr"):
        train(
            cfg.replace(lr=1.0), src, tmp_path, source_info=src.info(), resume=True, progress=False
        )


class _PoisonedSource:
    """Finite samples, except NaN images from draw index ``bad`` on."""

    def __init__(self, base: FolderSource, bad: int) -> None:
        self.base, self.bad = base, bad

    def __call__(self, index: int) -> tuple[np.ndarray, ...]:
        noisy, clean, mask = self.base(index % 4)
        if index >= self.bad:
            noisy = np.full_like(noisy, np.nan)
        return noisy, clean, mask


def test_divergence_stops_with_the_step(toy_dataset: Path, tmp_path: Path) -> None:
    src = _PoisonedSource(FolderSource(toy_dataset), bad=6)  # endless: draw k is sample k
    cfg = TrainConfig(
        vn=TINY, iterations=10, batch_size=2, crop=24, n_samples=None, checkpoint_every=2
    )
    with pytest.raises(TrainingError, match="iteration 4") as info:
        train(cfg, src, tmp_path, source_info={"kind": "test", "hash": "x"}, progress=False)
    assert isinstance(info.value, SynthlangError)
    assert "iteration 2" in str(info.value)  # the kept checkpoint
    ckpt = load_checkpoint(tmp_path / "model.pt")
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["model_state"].values())


def test_incomplete_dataset_refused(toy_dataset: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(toy_dataset, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(DataError, match="incomplete"):
        FolderSource(broken)
    (broken / "manifest.json").rename(broken / "manifest.partial.json")
    (broken / "manifest.partial.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(DataError, match="incomplete"):
        FolderSource(broken)
    with pytest.raises(DataError, match="no such"):
        FolderSource(tmp_path / "nothing")
    shutil.copytree(toy_dataset, tmp_path / "missing")
    (tmp_path / "missing" / "mask" / "000003.png").unlink()
    with pytest.raises(DataError, match="000003"):
        FolderSource(tmp_path / "missing")


def test_batches_depend_only_on_seed_and_step(toy_dataset: Path) -> None:
    src = FolderSource(toy_dataset)
    ds = TrainingSamples(src, 5, seed=3, crop=16, flips=True, total=40)
    whole = [b for b in make_loader(ds, 4, 0, 0)]
    later = [b for b in make_loader(ds, 4, 6, 0)]  # resume after step 6
    assert len(whole) == 10 and len(later) == 4
    for a, b in zip(whole[6:], later, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # every epoch visits each of the 5 samples once
    assert sorted(ds.sample_index(k) for k in range(5)) == list(range(5))
    assert sorted(ds.sample_index(k) for k in range(5, 10)) == list(range(5))
    endless = TrainingSamples(src, None, seed=3, crop=None, flips=False, total=8)
    assert [endless.sample_index(k) for k in range(3)] == [0, 1, 2]
    with pytest.raises(DataError, match="crop"):
        TrainingSamples(src, 5, seed=0, crop=100, flips=False, total=1)[0]


def test_loader_workers_give_the_same_batches(toy_dataset: Path) -> None:
    ds = TrainingSamples(FolderSource(toy_dataset), 6, seed=1, crop=16, flips=True, total=12)
    a = [b for b in make_loader(ds, 3, 0, 0)]
    b = [b for b in make_loader(ds, 3, 0, 2)]
    for x, y in zip(a, b, strict=True):
        assert all(torch.equal(p, q) for p, q in zip(x, y, strict=True))


def test_cached_source() -> None:
    calls: list[int] = []

    def source(i: int) -> tuple[np.ndarray, ...]:
        calls.append(i)
        return (
            np.full((4, 4, 3), i / 10, np.float32),
            np.zeros((4, 4, 3), np.float32),
            np.ones((4, 4), np.float32),
        )

    cached = CachedSource(source, max_items=2)
    cached(1), cached(1), cached(2), cached(3), cached(1)
    assert calls == [1, 2, 3, 1]
    assert cached(3)[0].dtype == np.float32


def test_unet_trains(toy_dataset: Path, tmp_path: Path) -> None:
    src = FolderSource(toy_dataset)
    cfg = preset("smoke", "unet").replace(iterations=3)
    result = train(cfg, src, tmp_path, source_info=src.info(), progress=False)
    assert result.step == 3
    model, ckpt = load_model(tmp_path / "model.pt")
    assert ckpt["model_kind"] == "unet"


def test_presets_and_config() -> None:
    paper = preset("paper")
    assert (paper.batch_size, paper.iterations, paper.lr, paper.n_samples) == (8, 1500, 1e-4, 800)
    assert paper.betas == (0.9, 0.999) and paper.crop is None and paper.vn == VNConfig()
    assert preset("paper", scene="scenario3").lr == 5e-5
    assert preset("paper", scene="scenario1").vn.zero_mean is False
    assert preset("paper", scene="scenario2").lr == 1e-4
    unet = preset("paper", "unet")
    assert (unet.lr, unet.iterations) == (5e-5, 3000)
    assert set(PRESETS) == {"paper", "default", "smoke"}
    cfg = preset("default")
    assert TrainConfig.model_validate(json.loads(json.dumps(cfg.model_dump(mode="json")))) == cfg
    assert cfg.replace(**{"vn.steps": 3}).vn.steps == 3
    with pytest.raises(ValueError, match="unknown"):
        cfg.replace(bogus=1)
    with pytest.raises(ValueError, match="unknown"):
        cfg.replace(**{"vn.bogus": 1})
    with pytest.raises(ValueError):
        preset("fast")
    with pytest.raises(ValueError):
        TrainConfig(model="resnet")


def test_cosine_schedule_is_logged_and_resumes_exactly(toy_dataset: Path, tmp_path: Path) -> None:
    src = FolderSource(toy_dataset)
    cfg = TrainConfig(
        vn=TINY,
        iterations=5,
        batch_size=2,
        crop=24,
        lr=4e-3,
        lr_schedule="cosine",
        n_samples=5,
        checkpoint_every=2,
    )
    train(cfg, src, tmp_path / "straight", source_info=src.info(), progress=False)
    rows = [json.loads(x) for x in (tmp_path / "straight/metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows]
    assert lrs[0] == pytest.approx(4e-3) and lrs[-1] == pytest.approx(4e-5)
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    # stopped by a bad batch at iteration 3 (checkpoint of 2 kept), then resumed: the same
    # schedule and weights as the straight run
    calls = []

    def poisoned(index: int) -> tuple[np.ndarray, ...]:
        calls.append(index)  # a first check draw, then two per iteration
        noisy, clean, mask = src(index)
        return (np.full_like(noisy, np.nan) if len(calls) > 6 else noisy), clean, mask

    with pytest.raises(TrainingError, match=r"iteration 3.*checkpoint \(iteration 2\)"):
        train(cfg, poisoned, tmp_path / "resumed", source_info=src.info(), progress=False)
    assert load_checkpoint(tmp_path / "resumed" / "model.pt")["step"] == 2
    train(cfg, src, tmp_path / "resumed", source_info=src.info(), resume=True, progress=False)
    a = load_checkpoint(tmp_path / "straight" / "model.pt")["model_state"]
    b = load_checkpoint(tmp_path / "resumed" / "model.pt")["model_state"]
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    with pytest.raises(DataError, match="lr_schedule"):
        train(
            cfg.replace(lr_schedule="constant", iterations=6),
            src,
            tmp_path / "resumed",
            source_info=src.info(),
            resume=True,
            progress=False,
        )
