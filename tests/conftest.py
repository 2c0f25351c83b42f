"""Shared fixtures: small scenes for fast tests, paths of the shipped scenes and real data."""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENES = ROOT / "scenes"
REALDATA = ROOT.parent / "shared" / "realdata"

TINY_SCENE = inspect.cleandoc(
    """
    scene tiny {
        size 48 x 64
        regions voronoi(3)
    }
    layer background {
        fill
        color mvn(mean [0.7, 0.4, 0.7], cov [[0.002, 0, 0], [0, 0.002, 0], [0, 0, 0.002]])
    }
    layer cell {
        ellipse(semi_axes uniform(4, 7), angle uniform(0, 180))
        place count 6, in regions(2 of 3), overlap none
        color mvn(
            mean [0.55, 0.25, 0.6],
            cov [[0.003, 0.001, 0.001], [0.001, 0.003, 0.001], [0.001, 0.001, 0.003]]
        )
    }
    layer nucleus {
        ellipse(semi_axes uniform(1.5, 2.5))
        place inside cell, probability 0.6
        color rgb(0.3, 0.1, 0.5)
    }
    layer immune {
        ellipse(semi_axes uniform(2, 3))
        place fill, in regions(1 of 3), overlap none
        color rgb(0.15, 0.07, 0.4)
    }
    degrade { blur gaussian(0.5)  noise gaussian(0.01) }
    mask immune where concentration(immune, radius 10) > 0.2
    """
)


@pytest.fixture
def tiny_scene_file(tmp_path: Path) -> Path:
    """A small valid scene written to a temporary file."""
    path = tmp_path / "tiny.scene"
    path.write_text(TINY_SCENE + "\n", encoding="utf-8")
    return path


@pytest.fixture
def realdata() -> Path:
    """The shared real-data folder; skips the test when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real data not available at {REALDATA}")
    return REALDATA


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail with TimeoutError when the block runs longer than ``seconds`` (main thread, POSIX).

    Used where a bug would show as a hang (a blocking read of a named pipe, an endless loop),
    so that the test fails instead of stalling CI.
    """
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows
        yield
        return

    def fail(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s (a hang?)")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _default_signals() -> None:
    """In the child before exec: SIGINT and SIGTERM at their defaults, nothing blocked.

    A process started with SIGINT ignored keeps ignoring it (Python then installs no
    KeyboardInterrupt handler), and blocked signals stay blocked across exec; the test runner's
    threads (torch, Dask) must not decide how the command under test reacts to Ctrl-C.
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def spawn_synthlang(
    args: list[str], *, env: dict[str, str], pythonpath: tuple[Path, ...] = ()
) -> subprocess.Popen[str]:
    """Start ``python -m synthlang ARGS`` as a job of its own, as a shell would.

    It gets its own process group (``os.killpg(proc.pid, ...)`` reaches its workers too),
    default signal handling whatever the test runner's state, ``PYTHONPATH`` =
    ``pythonpath`` + the repository, and ``os.environ`` updated with ``env``.
    """
    path = os.pathsep.join([*(str(p) for p in pythonpath), str(ROOT)])
    return subprocess.Popen(
        [sys.executable, "-m", "synthlang", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path, **env},
        start_new_session=True,
        preexec_fn=_default_signals,
    )


def interrupt(proc: subprocess.Popen[str], sig: signal.Signals, group: bool) -> str:
    """Send ``sig`` (to the whole group, like Ctrl-C, or to the process only); return stderr.

    Asserts the interrupted command's contract: exit status 130 and no traceback.
    """
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    return err
