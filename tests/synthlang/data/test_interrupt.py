"""No lost work: a render survives SIGKILL, SIGINT and SIGTERM, a full disk and an unwritable
folder with nothing corrupt, and ``--resume`` finishes it bit-identically (docs/robustness.md)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from synthlang.cli.main import main
from synthlang.common import fileio
from synthlang.common.errors import DataError
from synthlang.data.dataset import render_dataset
from synthlang.data.sampleio import MANIFEST, SUBDIRS
from synthlang.lang.compile import compile_file
from tests.conftest import TINY_SCENE, interrupt, spawn_synthlang

N = 60
SEED = 3
# the tiny scene at four times its area: about 40 ms per sample, so an interrupt lands mid-render
SCENE_TEXT = TINY_SCENE.replace("size 48 x 64", "size 96 x 128") + "\n"


def digest_tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (manifest included)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "tiny.scene"
    path.write_text(SCENE_TEXT)
    return path


@pytest.fixture(scope="module")
def reference(scene_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The digests of an uninterrupted render."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    render_dataset(compile_file(scene_file), N, out, seed=SEED, scene_file=str(scene_file))
    return digest_tree(out)


# Loaded by the render subprocess (``sitecustomize`` on its PYTHONPATH): every sample, once its
# files are written, is followed by a short pause, so that a signal sent after the first few
# samples always lands while the render is still running, however fast or loaded the machine.
# The bytes written are unchanged.
SLOW_SAMPLES = """
import time

import synthlang.data.executors as _executors

_write_sample = _executors.write_sample


def _slow_write_sample(*args, **kwargs):
    entry = _write_sample(*args, **kwargs)
    time.sleep(0.1)
    return entry


_executors.write_sample = _slow_write_sample
"""


def start_render(scene_file: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    hook = out.parent / "slow_samples"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(SLOW_SAMPLES)
    args = ["render", str(scene_file), "--n", str(N), "--out", str(out), "--seed", str(SEED)]
    return spawn_synthlang(
        [*args, "-q", *extra], env={"OPENBLAS_NUM_THREADS": "1"}, pythonpath=(hook,)
    )


def wait_for_samples(proc: subprocess.Popen[str], out: Path, k: int) -> None:
    """Wait until ``k`` samples are complete (and the render is still running)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(list((out / "instances").glob("*.json"))) >= k:
            if proc.poll() is not None:
                proc.communicate()
                pytest.fail("the render finished before it could be interrupted")
            return
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"render exited early ({proc.returncode}): {err}")
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    pytest.fail("no samples appeared within 60 s")


def check_nothing_corrupt(out: Path) -> int:
    """Every file under its final name is complete; return the number of complete samples."""
    from PIL import Image

    assert not (out / MANIFEST).exists()
    for png in out.rglob("*.png"):
        with Image.open(io.BytesIO(png.read_bytes())) as img:
            img.load()  # a truncated PNG raises here
    complete = 0
    for meta in (out / "instances").glob("*.json"):
        assert meta.read_text().endswith("}\n")
        name = meta.stem
        assert all((out / sub / f"{name}.png").exists() for sub in SUBDIRS)
        complete += 1
    return complete


def resume(scene_file: Path, out: Path) -> None:
    args = ["render", str(scene_file), "--n", str(N), "--out", str(out), "--seed", str(SEED)]
    assert main([*args, "-q", "--workers", "1", "--resume"]) == 0


def test_sigkill_then_resume_is_bit_identical(
    scene_file: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "ds"
    proc = start_render(scene_file, out, "--workers", "2")
    wait_for_samples(proc, out, 4)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, like the OOM killer
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = check_nothing_corrupt(out)
    assert 4 <= done < N
    resume(scene_file, out)
    assert digest_tree(out) == reference  # every file, manifest included; no .tmp left


@pytest.mark.parametrize(
    ("sig", "group", "workers"),
    [(signal.SIGINT, True, "2"), (signal.SIGTERM, False, "1")],
    ids=["ctrl-c-to-the-group", "sigterm"],
)
def test_interrupt_exits_130_and_tells_how_to_resume(
    scene_file: Path,
    reference: dict[str, str],
    tmp_path: Path,
    sig: signal.Signals,
    group: bool,
    workers: str,
) -> None:
    out = tmp_path / "ds"
    proc = start_render(scene_file, out, "--workers", workers)
    wait_for_samples(proc, out, 3)
    err = interrupt(proc, sig, group)
    assert "interrupted" in err and "--resume" in err
    assert f"--n {N} --out {out} --seed {SEED}" in err
    check_nothing_corrupt(out)
    assert not list(out.rglob("*.tmp"))  # workers finished or abandoned cleanly
    resume(scene_file, out)
    assert digest_tree(out) == reference


def test_full_disk_is_reported_and_leaves_nothing_half_written(
    scene_file: Path,
    reference: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "ds"
    real_open = open

    class FullDisk(io.FileIO):
        def write(self, data: Any) -> int:
            super().write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.name)

    def fake_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if Path(path).name == "000005.png.tmp":
            return FullDisk(path, "wb")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(fileio, "open", fake_open, raising=False)  # the atomic writer's open
    args = ["render", str(scene_file), "--n", str(N), "--out", str(out), "--seed", str(SEED)]
    assert main([*args, "-q", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write to {out}: no space left on device")
    assert "--resume" in err and "Traceback" not in err
    assert check_nothing_corrupt(out) == 5
    assert not list(out.rglob("*.tmp")) and not list(out.rglob("000005.*"))
    with pytest.raises(DataError, match="no space left on device"):
        render_dataset(compile_file(scene_file), N, out, seed=SEED, resume=True)
    monkeypatch.undo()
    resume(scene_file, out)
    assert digest_tree(out) == reference


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="permissions do not restrict root",
)
@pytest.mark.parametrize("where", ["folder", "parent"])
def test_unwritable_output_folder_exit_2(
    scene_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked if where == "folder" else locked / "ds"
    locked.chmod(0o555)
    try:
        code = main(["render", str(scene_file), "--n", "2", "--out", str(out), "-q"])
    finally:
        locked.chmod(0o755)
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write to {out}: Permission denied")
    assert "Traceback" not in err


def test_output_path_that_is_a_file_exit_2(
    scene_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    assert main(["render", str(scene_file), "--n", "2", "--out", str(out), "-q"]) == 2
    assert "is a file; --out must name a folder" in capsys.readouterr().err


def test_unwritable_output_simulated(
    scene_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same path as a read-only folder, also where the tests run as root."""

    def denied(path: Any, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(fileio, "open", denied, raising=False)
    out = tmp_path / "ds"
    assert main(["render", str(scene_file), "--n", "2", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write to {out}: Permission denied")
    assert "Traceback" not in err
    assert not list(out.rglob("*.tmp"))
