"""Data-parallel training: ``torchrun --nproc_per_node 2 -m synthlang train`` (gloo, CPU) gives
the weights of one process with the same global batch, writes the run folder once, and resumes
(also with another number of processes). See vnet/distributed.py and docs/vnet.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from synthlang.cli.main import main
from tests.conftest import ROOT
from vnet.data import write_toy_dataset
from vnet.distributed import DistributedError, env_ranks, is_main_process, local_slice
from vnet.train import load_checkpoint

# batch 3 on 2 processes: slices of 1 and 2 samples, so the loss weighting is exercised
FLAGS = ["--preset", "smoke", "--batch", "3", "--threads", "1", "-q"]

needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "d", 6, size=40, seed=2)


def single(toy: Path, out: Path, *extra: str) -> None:
    threads = torch.get_num_threads()
    try:
        assert main(["train", "--data", str(toy), "--out", str(out), *FLAGS, *extra]) == 0
    finally:
        torch.set_num_threads(threads)


def torchrun(toy: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "synthlang", "train", "--data", str(toy), "--out", str(out), *FLAGS, *extra]
    # --standalone: a rendezvous on localhost with a free port chosen by torchrun
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def assert_close(run: Path, reference: Path, step: int) -> None:
    """Same weights up to the rounding of the gradient average (1e-6 of each tensor's scale)."""
    a, b = load_checkpoint(run / "model.pt"), load_checkpoint(reference / "model.pt")
    assert a["step"] == b["step"] == step
    for key, value in b["model_state"].items():
        scale = float(value.abs().max())
        assert float((a["model_state"][key] - value).abs().max()) <= 1e-6 * max(scale, 1e-3), key
    rows_a = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b] == list(range(1, step + 1))
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for key in ("loss", "accuracy", "psnr", "psnr_input"):  # global-batch metrics
            assert ra[key] == pytest.approx(rb[key], rel=1e-6), key


@needs_gloo
def test_two_processes_equal_one_and_resume(toy: Path, tmp_path: Path) -> None:
    ref2, ref4 = tmp_path / "ref2", tmp_path / "ref4"
    single(toy, ref2, "--iterations", "2")
    single(toy, ref4, "--iterations", "4")

    run = tmp_path / "ddp"
    proc = torchrun(toy, run, "--iterations", "2")
    assert proc.stdout == ""  # -q; and without it only rank 0 would print
    assert_close(run, ref2, 2)  # written once: no duplicated metrics lines
    assert not list(run.glob(".*.tmp"))

    # a checkpoint of 2 processes resumed by one
    shutil.copytree(run, tmp_path / "mixed")
    single(toy, tmp_path / "mixed", "--iterations", "4", "--resume")
    assert_close(tmp_path / "mixed", ref4, 4)

    # and resumed by 2 processes: every rank loads it, rank 0 truncates and appends the log
    torchrun(toy, run, "--iterations", "4", "--resume")
    assert_close(run, ref4, 4)


def test_env_and_slices() -> None:
    assert env_ranks({}) == (0, 1, 0)
    assert env_ranks({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 2, 1)
    with pytest.raises(DistributedError, match="WORLD_SIZE must be a whole number"):
        env_ranks({"WORLD_SIZE": "two"})
    with pytest.raises(DistributedError, match="torchrun"):
        env_ranks({"RANK": "2", "WORLD_SIZE": "2"})
    assert is_main_process({"RANK": "0", "WORLD_SIZE": "2"})
    assert not is_main_process({"RANK": "1", "WORLD_SIZE": "2"})
    for batch in (2, 3, 8, 13):
        for world in (1, 2, 3):
            if batch < world:
                continue
            parts = [local_slice(batch, r, world) for r in range(world)]
            covered = [i for lo, hi in parts for i in range(lo, hi)]
            assert covered == list(range(batch))  # each global batch exactly once, in order
            assert max(hi - lo for lo, hi in parts) - min(hi - lo for lo, hi in parts) <= 1
    with pytest.raises(DistributedError, match="--batch of at least the number of processes"):
        local_slice(2, 0, 4)
