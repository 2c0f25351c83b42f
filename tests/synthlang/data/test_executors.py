"""Executors: local processes and a Dask cluster write byte-identical datasets."""

from __future__ import annotations

import hashlib
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthlang.cli.main import main
from synthlang.common.errors import DataError, RenderError, Span
from synthlang.common.limits import SceneLimitError
from synthlang.data import executors
from synthlang.data.dataset import render_dataset
from synthlang.data.executors import DaskExecutor, LocalExecutor, executor_for
from synthlang.lang.compile import compile_file


def digest_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    distributed = pytest.importorskip(
        "distributed", reason='dask is not installed (pip install "synthlang[dask]")'
    )
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    ) as c:
        yield c


def test_dask_cluster_writes_the_same_bytes_as_local_workers(
    cluster: Any, tiny_scene_file: Path, tmp_path: Path
) -> None:
    local, remote = tmp_path / "local", tmp_path / "dask"
    base = ["render", str(tiny_scene_file), "--n", "7", "--seed", "4", "-q"]
    assert main([*base, "--out", str(local), "--workers", "2"]) == 0
    args = [*base, "--out", str(remote), "--executor", "dask"]
    assert main([*args, "--scheduler", cluster.scheduler_address]) == 0
    assert digest_tree(local) == digest_tree(remote)  # manifest included


def test_dask_shard_and_resume(cluster: Any, tiny_scene_file: Path, tmp_path: Path) -> None:
    scene = compile_file(tiny_scene_file)
    dask = DaskExecutor(cluster.scheduler_address, timeout=10)
    out = tmp_path / "ds"
    report = render_dataset(scene, 5, out, seed=2, shard=(1, 2), executor=dask)
    assert report.rendered == 3 and not report.complete
    report = render_dataset(scene, 5, out, seed=2, resume=True, executor=dask)
    assert report.rendered == 2 and report.skipped == 3 and report.complete
    render_dataset(scene, 5, tmp_path / "ref", seed=2)
    assert digest_tree(out) == digest_tree(tmp_path / "ref")


def test_dask_version_mismatch_is_refused(
    cluster: Any, tiny_scene_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = executors.environment_versions

    def local_versions() -> dict[str, str]:
        return {**real(), "pillow": "0.0"}

    # the workers report their real versions; only this process pretends to differ
    monkeypatch.setattr(executors, "environment_versions", local_versions)
    dask = DaskExecutor(cluster.scheduler_address, timeout=10)
    with pytest.raises(DataError, match=r"has pillow .*, this machine 0\.0; samples would not"):
        render_dataset(compile_file(tiny_scene_file), 2, tmp_path / "ds", executor=dask)


def test_unreachable_scheduler(tmp_path: Path, tiny_scene_file: Path) -> None:
    pytest.importorskip("distributed")
    dask = DaskExecutor("tcp://127.0.0.1:9", timeout=0.5)
    with pytest.raises(DataError, match="cannot connect to the Dask scheduler at tcp://127"):
        render_dataset(compile_file(tiny_scene_file), 2, tmp_path / "ds", executor=dask)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheduler", "tcp://h:8786"], "--scheduler needs --executor dask"),
        (["--executor", "dask"], "--executor dask needs --scheduler ADDRESS"),
        (
            ["--executor", "dask", "--scheduler", "tcp://h:1", "--workers", "2"],
            "--workers is for --executor local",
        ),
    ],
)
def test_executor_options_exit_2(
    tiny_scene_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    args = ["render", str(tiny_scene_file), "--n", "2", "--out", str(tmp_path / "d"), "-q"]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()


def test_missing_dask_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    with pytest.raises(DataError, match=r'pip install "synthlang\[dask\]"'):
        executor_for("dask", scheduler="tcp://h:8786")


def test_local_executor_validates_workers() -> None:
    with pytest.raises(DataError, match="--workers must be at least 1"):
        LocalExecutor(0)


def test_errors_keep_their_position_across_processes() -> None:
    err = SceneLimitError("too big", Span("a.scene", 2, 3, 2, 5), source="x\nsize 9\n", hint="h")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is SceneLimitError
    assert (back.span, back.hint, str(back)) == (err.span, err.hint, str(err))
    assert str(pickle.loads(pickle.dumps(RenderError("r")))) == "error: r"
