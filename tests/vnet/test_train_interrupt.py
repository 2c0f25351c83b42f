"""No lost work in training: ``synthlang train`` survives SIGKILL, SIGINT and SIGTERM with
nothing corrupt, and ``--resume`` (the same command plus ``--resume``) ends bit-identical to an
uninterrupted run: weights, Adam state and the metrics log (docs/robustness.md, "Training")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from synthlang.cli.main import main
from tests.conftest import interrupt, spawn_synthlang
from vnet.data import write_toy_dataset
from vnet.train import load_checkpoint

ITERATIONS = 40
EVERY = 4
# about 40-70 ms per iteration on one core: a run lasts a few seconds, so a signal sent once
# the first checkpoint past step 0 exists lands in the middle of it
FLAGS = ["--preset", "smoke", "--iterations", str(ITERATIONS), "--checkpoint-every", str(EVERY)]
FLAGS += ["--threads", "1", "-q"]  # the same threads in every run: identical float reductions
TIMING = ("seconds", "elapsed", "cpu_seconds")  # timing fields of the metrics log


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "d", 6, size=40, seed=2)


def command(toy: Path, out: Path) -> list[str]:
    return ["train", "--data", str(toy), "--out", str(out), *FLAGS]


def run_in_process(argv: list[str]) -> int:
    threads = torch.get_num_threads()
    try:
        return main(argv)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of the same command."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert run_in_process(command(toy, out)) == 0
    return out


def start(toy: Path, out: Path) -> subprocess.Popen[str]:
    return spawn_synthlang(command(toy, out), env={"OMP_NUM_THREADS": "1"})


def wait_for_checkpoint(proc: subprocess.Popen[str], out: Path) -> int:
    """Wait until a checkpoint past step 0 exists (and training still runs); return its step."""
    deadline = time.monotonic() + 90
    metrics = out / "metrics.jsonl"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"training exited ({proc.returncode}) before the signal: {err}")
        if metrics.exists() and metrics.read_text().count("\n") >= EVERY:
            step = int(load_checkpoint(out / "model.pt")["step"])
            if step >= EVERY:
                return step
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    pytest.fail("no checkpoint past step 0 appeared within 90 s")


def rows(out: Path) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k not in TIMING} for x in lines]


def check_nothing_corrupt(out: Path) -> int:
    """The checkpoint loads (weights_only) and the metrics log is whole; return the step."""
    ckpt = load_checkpoint(out / "model.pt")
    step = int(ckpt["step"])
    assert 0 < step < ITERATIONS
    assert ckpt["metrics"]["step"] == step
    steps = [r["step"] for r in rows(out)]  # every line is complete JSON
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= step
    assert not list(out.glob(".*.tmp"))
    json.loads((out / "config.json").read_text())
    return step


def assert_same_as(out: Path, reference: Path) -> None:
    a, b = load_checkpoint(out / "model.pt"), load_checkpoint(reference / "model.pt")
    assert a["step"] == b["step"] == ITERATIONS
    assert a["model_state"].keys() == b["model_state"].keys()
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key
    for index, state in a["optimizer_state"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer_state"]["state"][index][key]), (index, key)
    assert rows(out) == rows(reference)  # no line lost, none duplicated
    assert not list(out.glob(".*.tmp"))


def test_sigkill_then_resume_is_bit_identical(toy: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start(toy, out)
    seen = wait_for_checkpoint(proc, out)
    os.killpg(proc.pid, signal.SIGKILL)  # like the OOM killer: no chance to clean up
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    step = check_nothing_corrupt(out)
    assert step >= seen and step % EVERY == 0
    # a kill between writing the metrics and renaming the checkpoint into place, or in the
    # middle of a line, leaves rows the checkpoint does not have: resuming drops them
    with open(out / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"step": step + 1, "loss": -1.0}) + '\n{"step": ')
    assert run_in_process([*command(toy, out), "--resume"]) == 0  # the same command + --resume
    assert_same_as(out, reference)


@pytest.mark.parametrize(
    ("sig", "group", "resume"),
    [(signal.SIGINT, True, True), (signal.SIGTERM, False, False)],
    ids=["ctrl-c-to-the-group", "sigterm"],
)
def test_interrupt_exits_130_with_a_checkpoint_of_the_last_iteration(
    toy: Path, reference: Path, tmp_path: Path, sig: signal.Signals, group: bool, resume: bool
) -> None:
    out = tmp_path / "run"
    proc = start(toy, out)
    seen = wait_for_checkpoint(proc, out)
    err = interrupt(proc, sig, group)
    step = check_nothing_corrupt(out)
    assert step >= seen
    # the first signal finishes the iteration and saves it, and the log ends exactly there
    assert [r["step"] for r in rows(out)] == list(range(1, step + 1))
    assert err.startswith(
        f"synthlang: interrupted; stopped after iteration {step} of {ITERATIONS}, "
        f"saved in {out / 'model.pt'}. Continue with the same command plus --resume"
    ), err
    if resume:  # the same code path for both signals; resumed once to keep the test short
        assert run_in_process([*command(toy, out), "--resume"]) == 0
        assert_same_as(out, reference)


def test_resume_refuses_changed_flags_and_accepts_repeated_ones(
    toy: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    out = tmp_path / "run"
    shutil.copytree(reference, out)
    changed = [*command(toy, out), "--resume", "--batch", "3"]
    assert run_in_process(changed) == 2
    err = capsys.readouterr().err
    assert "--batch cannot be changed when resuming" in err and "batch_size" in err
    # a finished run resumed with the same flags: nothing to do, nothing changes
    before = (out / "model.pt").read_bytes()
    assert run_in_process([*command(toy, out), "--resume"]) == 0
    assert (out / "model.pt").read_bytes() == before
    assert rows(out) == rows(reference)


def test_graceful_stop_takes_one_signal_and_aborts_on_a_later_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vnet import interrupt

    before = signal.getsignal(signal.SIGTERM)
    with interrupt.GracefulStop() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # a copy (torchrun forwards Ctrl-C): ignored
        assert stop.requested and stop.signum == signal.SIGTERM
        monkeypatch.setattr(interrupt, "DUPLICATE_SECONDS", -1.0)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the user insists: stop at once
    assert signal.getsignal(signal.SIGTERM) is before
