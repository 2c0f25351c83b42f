"""Hostile input to ``synthlang predict``, ``train`` and ``evaluate``: damaged and crafted
checkpoints (bytes, pickles, configurations), odd and malicious images, broken prediction and
dataset folders, failing writes. Every outcome is success or a ``SynthlangError`` (exit status
2, one message naming the file), never another exception, an allocation or executed code."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import synthlang.common.imageio
from synthlang.cli.main import main
from synthlang.common.errors import DataError, SynthlangError
from vnet import checkpoint as vckpt
from vnet.checkpoint import count_parameters
from vnet.config import UNetConfig, VNConfig, preset
from vnet.data import FolderSource, TrainingSamples, make_loader, write_toy_dataset
from vnet.predict import load_model, predict_array
from vnet.train import build_model, load_checkpoint, train
from vnet.unet import UNet

ITERATIONS = 2


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Any:
    """One torch thread: on a loaded 2-core machine, OpenMP barriers make tiny passes slow."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "d", 6, size=24, seed=1)


@pytest.fixture(scope="module")
def run(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-iteration smoke run (checkpoint with Adam state and training config)."""
    out = tmp_path_factory.mktemp("run") / "run"
    cfg = preset("smoke").replace(iterations=ITERATIONS, crop=16)
    src = FolderSource(toy)
    train(cfg, src, out, source_info=src.info(), progress=False)
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / "tissue.png"
    rgb = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the command line; anything but a SynthlangError escapes main() and fails the test."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("error: "), err
    return code, err


# ------------------------------------------------------------------ checkpoint bytes


def _mutations(raw: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """Damaged copies of a checkpoint; the first 12 are not loadable whatever happens."""
    n = len(raw)
    cases = [(f"truncated to {k}", raw[:k]) for k in (0, 1, 4, 22, 100, n // 4, n // 2, n - 22)]
    cases.append(("truncated by one byte", raw[:-1]))
    cases += [("random bytes", rng.bytes(n)), ("zeros", bytes(n)), ("text", b"hello\n" * 50)]
    for i in range(40):
        buf = bytearray(raw)
        for pos in rng.integers(0, n, int(rng.integers(1, 4))):
            buf[int(pos)] = int(rng.integers(0, 256))
        cases.append((f"bytes changed ({i})", bytes(buf)))
    for _ in range(4):
        buf = bytearray(raw)
        pos = int(rng.integers(0, n - 64))
        buf[pos : pos + 64] = rng.bytes(64)
        cases.append((f"64 random bytes at {pos}", bytes(buf)))
    return cases


def test_damaged_checkpoint_bytes(
    run: Path, image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = (run / "model.pt").read_bytes()
    rng = np.random.default_rng(2024)
    refused = 0
    for i, (what, data) in enumerate(_mutations(raw, rng)):
        ckpt = tmp_path / "model.pt"
        ckpt.write_bytes(data)
        code, err = cli(capsys, "predict", str(ckpt), str(image), "--out", str(tmp_path / "p"))
        assert code in (0, 2), what
        assert code == 2 or i >= 12, what
        if code == 2:
            assert str(ckpt) in err or "network produced" in err, (what, err)
            refused += 1
    # most single-byte changes hit tensor data (other weights) and predict fine
    assert refused >= 16


def test_damaged_checkpoint_on_resume(
    run: Path, toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = (run / "model.pt").read_bytes()
    rng = np.random.default_rng(7)
    for what, data in _mutations(raw, rng)[::4]:
        folder = tmp_path / "r"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(run, folder)
        (folder / "model.pt").write_bytes(data)
        args = ["train", "--data", str(toy), "--out", str(folder), "--resume", "-q"]
        code, err = cli(capsys, *args, "--iterations", str(ITERATIONS))
        assert code in (0, 2), what


class _Evil:
    """Pickles to a call of ``exec`` that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('x')",))


def test_malicious_pickle_is_refused_not_executed(
    image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "PWNED"
    payload = {"format": "vnet-checkpoint", "version": 1, "model_kind": "vn", "x": _Evil(marker)}
    plain = pickle.dumps(payload)
    pickle.loads(plain)  # the payload is real: unpickling it naively runs the code
    assert marker.exists()
    marker.unlink()
    files = {"zip.pt": None, "plain.pt": plain, "legacy.pt": None}
    torch.save(payload, tmp_path / "zip.pt")
    torch.save(payload, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    (tmp_path / "plain.pt").write_bytes(plain)
    for name in files:
        path = tmp_path / name
        with pytest.raises(DataError, match="not a readable checkpoint|not a vnet checkpoint"):
            load_checkpoint(path)
        code, err = cli(capsys, "predict", str(path), str(image), "--out", str(tmp_path / "p"))
        assert code == 2 and str(path) in err
        assert not marker.exists(), name
    with pytest.raises(DataError, match="Unsupported global: GLOBAL exec") as info:
        load_checkpoint(tmp_path / "zip.pt")  # refused by weights_only=True
    assert "nothing in the file was run" in str(info.value)
    assert "weights_only=False" not in str(info.value)  # torch's advice is not passed on


def test_checkpoint_size_and_archive_limits(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = run / "model.pt"
    monkeypatch.setenv("SYNTHLANG_MAX_CHECKPOINT_BYTES", "1000")
    with pytest.raises(SynthlangError, match="more than the limit of 1000 bytes") as info:
        load_model(ckpt)
    assert "SYNTHLANG_MAX_CHECKPOINT_BYTES" in str(info.value)
    monkeypatch.delenv("SYNTHLANG_MAX_CHECKPOINT_BYTES")
    monkeypatch.setattr(vckpt, "MAX_PICKLE_BYTES", 100)
    with pytest.raises(SynthlangError, match="pickled structure has"):
        load_model(ckpt)
    monkeypatch.undo()
    packed = tmp_path / "deflated.pt"  # the same records, compressed
    with zipfile.ZipFile(ckpt) as src, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info_ in src.infolist():
            dst.writestr(info_.filename, src.read(info_.filename))
    with pytest.raises(DataError, match="compressed record"):
        load_model(packed)
    os.mkfifo(tmp_path / "pipe.pt")  # would block a plain open()
    with pytest.raises(DataError, match="named pipe"):
        load_model(tmp_path / "pipe.pt")
    (tmp_path / "zero.pt").symlink_to("/dev/zero")  # would never end
    with pytest.raises(DataError, match="character device"):
        load_model(tmp_path / "zero.pt")
    with pytest.raises(DataError, match="no such checkpoint"):
        load_model(tmp_path / "missing.pt")


# --------------------------------------------------------------- crafted checkpoints


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(ckpt: dict[str, Any]) -> None:
        *head, last = path.split(".")
        target: Any = ckpt
        for key in head:
            target = target[int(key) if key.isdigit() else key]
        target[int(last) if last.isdigit() else last] = value

    return change


def _first_state(fn: Callable[[torch.Tensor], Any]) -> Callable[[dict[str, Any]], None]:
    def change(ckpt: dict[str, Any]) -> None:
        key = next(iter(ckpt["model_state"]))
        ckpt["model_state"][key] = fn(ckpt["model_state"][key])

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda ckpt: ckpt.pop(key)


def _rename(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def change(ckpt: dict[str, Any]) -> None:
        ckpt["model_state"][new] = ckpt["model_state"].pop(old)

    return change


CRAFTED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "steps 1e9",
        _set("model_config.steps", 10**9),
        r"steps must be a whole number in \[1, 1000\]",
    ),
    (
        "kernel 1e6",
        _set("model_config.k_u", 10**6 + 1),
        r"k_u must be a whole number in \[1, 255\]",
    ),
    ("steps 1000", _set("model_config.steps", 1000), "describes a network of"),
    ("wide kernels", _set("model_config.k_u", 255), "describes a network of"),
    ("even kernel", _set("model_config.k", 4), "positive odd kernel size"),
    ("string", _set("model_config.n_fu", "6"), "n_fu must be a whole number"),
    ("bool as int", _set("model_config.steps", True), "steps must be a whole number"),
    ("int as bool", _set("model_config.zero_mean", 1), "zero_mean must be true or false"),
    ("nan", _set("model_config.rbf_range", float("nan")), "rbf_range must be a finite number"),
    ("padding", _set("model_config.padding", "reflect"), "padding must be one of"),
    ("unknown field", _set("model_config.evil", 1), "unknown field 'evil'"),
    ("config list", _set("model_config", [1, 2]), "model_config is a list"),
    ("kind", _set("model_kind", "resnet"), "unknown model kind 'resnet'"),
    # one input channel with weights of three: refused by the weights' shapes
    ("grey network", _set("model_config.in_channels", 1), "but model_config gives"),
    ("shape", _first_state(lambda t: t.reshape(-1)), "has shape"),
    ("nan weights", _first_state(lambda t: t * float("nan")), "NaN or infinite"),
    ("int weights", _first_state(lambda t: t.to(torch.int32)), "not floating"),
    ("not a tensor", _first_state(lambda t: t.tolist()), "is not a named tensor"),
    ("fewer values", lambda c: c["model_state"].pop("blocks.1.lam"), "describes a network of"),
    ("renamed tensor", _rename("blocks.1.lam", "blocks.1.lambda"), "missing blocks.1.lam"),
    ("extra tensor", _set("model_state.extra", torch.zeros(3)), "unexpected extra"),
    ("state list", _set("model_state", [1]), "model_state is not a non-empty dict"),
    ("no state", _drop("model_state"), "lacks 'model_state'"),
    ("version", _set("version", 99), "version 99 is newer"),
    ("format", _set("format", "other"), "not a vnet checkpoint"),
    ("batch 1e9", _set("train_config.batch_size", 10**9), r"batch_size must be .* \[1, 4096\]"),
    ("lr nan", _set("train_config.lr", float("nan")), "lr must be a finite number"),
    (
        "betas",
        _set("train_config.betas", [2.0, 3.0]),
        r"train_config.betas must be two finite numbers in \[0, 1\)",
    ),
    ("samples", _set("train_config.n_samples", 10**12), "n_samples must be"),
    ("train kind", _set("train_config.model", "unet"), "train_config.model 'unet' != model_kind"),
    ("step", _set("step", -1), "invalid step"),
    ("metrics", _set("metrics", {"loss": "low"}), "metrics must be"),
    ("source", _set("source", 3), "source is a int"),
]


@pytest.mark.parametrize(("what", "change", "message"), CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_checkpoint_is_refused_before_building(
    run: Path,
    tmp_path: Path,
    what: str,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    ckpt = torch.load(run / "model.pt", weights_only=True)
    change(ckpt)
    path = tmp_path / "crafted.pt"
    torch.save(ckpt, path)
    with pytest.raises(DataError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value)


RESUME_ONLY: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("adam shape", _set("optimizer_state.state.0.exp_avg", torch.zeros(2)), "of shape"),
    ("adam nan", _set("optimizer_state.state.0.step", float("nan")), "['step'] is not a number"),
    ("adam groups", _set("optimizer_state.param_groups", []), "for another network"),
    ("adam type", _set("optimizer_state", [0]), "optimizer_state is a list"),
    ("rng", _set("rng_state.torch", torch.zeros(3, dtype=torch.uint8)), "invalid rng_state"),
    ("no config", _drop("train_config"), "cannot be resumed"),
    ("other data", _set("source.hash", "0" * 64), "was trained on other data"),
]


@pytest.mark.parametrize(
    ("what", "change", "message"), RESUME_ONLY, ids=[c[0] for c in RESUME_ONLY]
)
def test_crafted_checkpoint_on_resume(
    run: Path,
    toy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    folder = tmp_path / "r"
    shutil.copytree(run, folder)
    ckpt = torch.load(folder / "model.pt", weights_only=True)
    change(ckpt)
    torch.save(ckpt, folder / "model.pt")
    code, err = cli(capsys, "train", "--data", str(toy), "--out", str(folder), "--resume", "-q")
    assert code == 2
    assert message in err or pytest.fail(err)


def test_parameter_count_matches_the_networks() -> None:
    for cfg in (VNConfig(), VNConfig(steps=2, n_fu=3, k_u=3, n_fm=1, k_m=5, n_f=7, k=3)):
        assert count_parameters("vn", cfg) == sum(
            v.numel() for v in build_model("vn", cfg).state_dict().values()
        )
    for ucfg in (UNetConfig(), UNetConfig(scales=1, channels=4), UNetConfig(scales=4, channels=5)):
        assert count_parameters("unet", ucfg) == sum(
            v.numel() for v in UNet(ucfg).state_dict().values()
        )


# ---------------------------------------------------------------------- images


def _png(width: int, height: int, depth: int, colour: int, raw: bytes) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _images(folder: Path) -> dict[str, tuple[Path, str | None]]:
    """Input images and the error expected (None: predicted)."""
    rng = np.random.default_rng(3)
    folder.mkdir()
    cases: dict[str, tuple[Path, str | None]] = {}

    def add(name: str, data: bytes | None, expect: str | None, pil: Image.Image | None = None):
        path = folder / name
        if pil is not None:
            pil.save(path)
        elif data is not None:
            path.write_bytes(data)
        cases[name] = (path, expect)

    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    valid = io.BytesIO()
    Image.fromarray(rgb).save(valid, format="PNG")
    add("random.png", rng.bytes(2000), "not an image file")
    add("empty.png", b"", "not an image file")
    add("truncated.png", valid.getvalue()[: len(valid.getvalue()) // 2], "truncated or corrupt")
    add("one.png", None, None, Image.fromarray(rgb[:1, :1]))
    add("rgba.png", None, None, Image.fromarray(np.dstack([rgb, rgb[..., :1]])))
    rows16 = b"".join(b"\x00" + rng.bytes(6 * 5) for _ in range(4))
    add("rgb16.png", _png(5, 4, 16, 2, rows16), None)
    add("gray.png", None, "single-channel", Image.fromarray(rgb[..., 0]))
    add(
        "gray16.png",
        _png(5, 4, 16, 0, b"".join(b"\x00" + rng.bytes(10) for _ in range(4))),
        "single-channel",
    )
    add("huge.png", _png(100_000, 100_000, 8, 2, bytes(64)), "pixels")
    add("text.png", b"P3\n# not really\n", "cannot read image header")
    (folder / "folder.png").mkdir()
    cases["folder.png"] = (folder / "folder.png", "no such image file")
    return cases


def test_hostile_images_to_predict(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (path, expect) in _images(tmp_path / "in").items():
        out = tmp_path / "out"
        code, err = cli(
            capsys, "predict", str(run / "model.pt"), str(path), "--out", str(out), "-q"
        )
        if expect is None:
            assert code == 0, (name, err)
            with Image.open(path) as im:
                size = im.size
            for kind in ("denoised", "prob", "mask", "overlay"):
                with Image.open(out / f"{path.stem}_{kind}.png") as im:
                    assert im.size == size, (name, kind)
        else:
            assert code == 2, name
            assert str(path) in err and expect in err, (name, err)


def test_predict_limits_and_failing_writes(
    run: Path,
    image: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ckpt, out = str(run / "model.pt"), str(tmp_path / "out")
    code, err = cli(capsys, "predict", ckpt, str(image), "--out", out, "--tile", "100000")
    assert code == 2 and "--tile must be between 8 and 4096" in err
    code, err = cli(capsys, "predict", ckpt, str(image), "--out", out, "--margin", "100000")
    assert code == 2 and "--margin must be at most 512" in err
    (tmp_path / "file").write_text("x")
    code, err = cli(capsys, "predict", ckpt, str(image), "--out", str(tmp_path / "file"))
    assert code == 2 and "cannot create the output folder" in err

    def full(path: Any, array: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(synthlang.common.imageio, "write_png", full)
    code, err = cli(capsys, "predict", ckpt, str(image), "--out", out)
    assert code == 2
    assert err.startswith(f"error: cannot write {out}/tissue_denoised.png: no space left on device")


def test_non_finite_network_output_is_an_error() -> None:
    class Broken(torch.nn.Module):
        def forward(self, u0: torch.Tensor, m0: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return u0 * float("nan"), m0

    with pytest.raises(DataError, match="NaN or infinite values"):
        predict_array(Broken(), np.zeros((8, 8, 3), np.float32))


# -------------------------------------------------------------------- evaluate


def _mask(path: Path, mask: np.ndarray) -> None:
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def test_hostile_inputs_to_evaluate(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir(), truth.mkdir()

    def evaluate(*extra: str) -> tuple[int, str]:
        return cli(capsys, "evaluate", str(pred), "--truth", str(truth), "-q", *extra)

    assert evaluate()[1].startswith(f"error: {pred}: holds no NAME_mask.png")
    code, err = cli(capsys, "evaluate", str(tmp_path / "none"), "--truth", str(truth))
    assert code == 2 and "no such prediction folder" in err
    _mask(pred / "a_mask.png", np.eye(12, dtype=bool))
    assert "have no truth mask" in evaluate()[1]
    _mask(truth / "a.png", np.eye(10, dtype=bool))
    assert "differs from the truth" in evaluate()[1]
    (truth / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(100))
    assert str(truth / "a.png") in evaluate()[1]
    (truth / "a.png").write_bytes(_png(100_000, 100_000, 8, 0, bytes(64)))
    assert "pixels" in evaluate()[1]
    _mask(truth / "a.png", np.eye(12, dtype=bool))
    Image.fromarray(np.dstack([np.eye(12, dtype=np.uint8) * 255] * 4)).save(pred / "a_mask.png")
    assert evaluate()[0] == 0  # RGBA prediction: alpha dropped
    _mask(pred / "a_mask.png", np.ones((1, 1), bool))
    _mask(truth / "a.png", np.ones((1, 1), bool))
    assert evaluate()[0] == 0  # 1 x 1 is fine
    code, err = evaluate("--json", str(truth))  # a folder where the JSON file should go
    assert code == 2 and f"cannot write {truth}" in err

    # a dataset as truth, with an instance image and a clean image of another size
    data = tmp_path / "data"
    shutil.copytree(toy, data)
    shutil.rmtree(pred), pred.mkdir()
    with Image.open(data / "mask" / "000000.png") as im:
        mask = np.asarray(im) > 0
    _mask(pred / "000000_mask.png", mask)
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(pred / "000000_denoised.png")
    code, err = cli(capsys, "evaluate", str(pred), "--truth", str(data), "-q")
    assert code == 2 and "000000_denoised.png" in err and "differs from the truth" in err
    (pred / "000000_denoised.png").unlink()
    Image.fromarray(np.zeros((5, 5), np.uint16)).save(data / "instances" / "000000.png")
    code, err = cli(capsys, "evaluate", str(pred), "--truth", str(data), "-q")
    assert code == 2 and "instances/000000.png" in err and "differs from the truth mask" in err


# ----------------------------------------------------------------------- train


@pytest.mark.parametrize("workers", ["0", "1"])
def test_damaged_dataset_to_train(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(toy, data)
    draws = TrainingSamples(FolderSource(data), 4, seed=0, crop=16, flips=False, total=8)
    victim = draws.sample_index(3)  # loaded in the second iteration, after the first checks
    bad = data / "noisy" / f"{victim:06d}.png"
    bad.write_bytes(os.urandom(300))
    args = ["train", "--data", str(data), "--out", str(tmp_path / "r"), "--preset", "smoke"]
    code, err = cli(capsys, *args, "--crop", "16", "--workers", workers, "-q")
    assert code == 2
    # the message of the worker's error, not a traceback text from the DataLoader
    assert err.startswith(f"error: {bad}: not an image file"), err
    assert "Caught" not in err
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(bad)
    code, err = cli(capsys, *args, "--crop", "16", "--workers", workers, "-q", "--overwrite")
    assert code == 2 and "mismatched sizes" in err


def test_loader_passes_errors_as_they_are(toy: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(toy, data)
    (data / "clean" / "000002.png").write_bytes(b"")
    draws = TrainingSamples(FolderSource(data), None, seed=0, crop=None, flips=False, total=6)
    batches = list(make_loader(draws, 2, 0, 1))
    assert isinstance(batches[1], DataError) and "000002.png" in str(batches[1])
    assert isinstance(batches[0], list) and not isinstance(batches[2], SynthlangError)


def test_full_disk_while_training(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import vnet.checkpoint

    real = vnet.checkpoint.atomic_write_bytes
    calls = []

    def fill_up(path: Any, data: bytes) -> None:
        calls.append(path)
        if len(calls) > 1:  # the step-0 checkpoint is written, the next one fails
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(vnet.checkpoint, "atomic_write_bytes", fill_up)
    out = tmp_path / "r"
    args = ["train", "--data", str(toy), "--out", str(out), "--preset", "smoke", "--crop", "16"]
    code, err = cli(capsys, *args, "-q")
    assert code == 2
    assert err.startswith(
        f"error: cannot write {out / 'model.pt'}: no space left on device; the checkpoint "
        f"{out / 'model.pt'} is intact: fix that and continue with --resume"
    ), err
    assert load_checkpoint(out / "model.pt")["step"] == 0
    assert not list(out.glob(".*.tmp"))
    monkeypatch.undo()
    assert cli(capsys, *args, "-q", "--resume")[0] == 0
    assert load_checkpoint(out / "model.pt")["step"] == 4
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [
        1,
        2,
        3,
        4,
    ]
