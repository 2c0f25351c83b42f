"""Where the samples of a dataset are rendered: this process, a local process pool, or Dask.

:func:`synthlang.data.dataset.render_dataset` decides *which* samples to render
and writes the manifest; an executor decides *where* each sample is
rendered. Every executor yields the manifest entries of finished samples,
whose files are then complete in the dataset folder. Since sample ``i``
depends only on ``(scene, seed, i)``, every executor writes the same bytes:
all of them encode and store samples with :mod:`synthlang.data.sampleio`
(which, like this module, never imports :mod:`synthlang.data.dataset`).

:class:`LocalExecutor`
    ``workers`` processes on this machine (or this process for one worker);
    each worker renders a sample and writes its files itself.
:class:`DaskExecutor`
    The workers of an existing Dask cluster (``distributed``). A worker
    renders a sample and returns the *encoded files* (PNG and JSON bytes) to
    this process, which writes them. So the cluster needs no shared
    filesystem for the output, and every file of the dataset is written by
    one process with the same atomic writes as a local render. The workers
    need synthlang installed (same versions of synthlang, numpy and Pillow:
    checked before the first task) and the scene's patch libraries under the
    same absolute paths.

Adding an executor means implementing :class:`Executor` (one method).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import signal
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, Protocol

from synthlang.common.errors import DataError, RenderError
from synthlang.data.sampleio import EncodedSample, encode_sample, store_sample, write_sample
from synthlang.ir import Scene

__all__ = [
    "Executor",
    "LocalExecutor",
    "DaskExecutor",
    "DASK_INSTALL_HINT",
    "environment_versions",
]

DASK_INSTALL_HINT = 'pip install "synthlang[dask]"'
"""How to install the optional Dask support."""


class Executor(Protocol):
    """Renders samples of a dataset and stores their files."""

    def run(
        self, scene: Scene, todo: list[int], *, seed: int, n: int, out: Path
    ) -> Iterator[dict[str, Any]]:
        """Render and store the samples ``todo``; yield their manifest entries as they finish.

        Parameters
        ----------
        scene : Scene
            The compiled scene.
        todo : list of int
            Sample indices to render.
        seed, n : int
            Dataset seed and size.
        out : Path
            The dataset folder (sub-folders exist).

        Yields
        ------
        dict
            The manifest entry of each finished sample, in completion order.
        """
        ...


# --------------------------------------------------------------------------- local processes

# Per-process state of pool workers: the scene is sent once, not with every task.
_WORKER_SCENE: Scene | None = None


def _init_worker(scene_json: str) -> None:
    """Initialise a pool worker: parse the scene, leave signals to the parent process."""
    global _WORKER_SCENE
    # Ctrl-C reaches the whole process group; the parent stops the pool and each worker
    # finishes (or abandons, when killed) its current sample, whose files are atomic.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from synthlang.engine.scratch import tune_allocator

    tune_allocator()
    _WORKER_SCENE = Scene.model_validate_json(scene_json)


def _render_one(args: tuple[int, int, int, str]) -> dict[str, Any]:
    """Render sample ``index`` and write its files; return its manifest entry."""
    index, seed, n, out_str = args
    scene = _WORKER_SCENE
    assert scene is not None, "worker not initialised"
    return write_sample(scene, index=index, seed=seed, n=n, out=Path(out_str))


def _pool_context() -> Any:
    methods = get_all_start_methods()
    return get_context("fork" if "fork" in methods else "spawn")


def _take(it: Iterator[int], k: int) -> list[int]:
    items = []
    for _ in range(k):
        try:
            items.append(next(it))
        except StopIteration:
            break
    return items


class LocalExecutor:
    """Render in this process (one worker) or in a pool of worker processes.

    Parameters
    ----------
    workers : int
        Number of worker processes; 1 renders in the calling process.

    Examples
    --------
    >>> LocalExecutor(workers=2).workers
    2
    """

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise DataError(f"--workers must be at least 1, got {workers}")
        self.workers = workers

    def run(
        self, scene: Scene, todo: list[int], *, seed: int, n: int, out: Path
    ) -> Iterator[dict[str, Any]]:
        """Render and store ``todo``; see :meth:`Executor.run`."""
        if self.workers == 1 or len(todo) <= 1:
            for i in todo:
                yield write_sample(scene, index=i, seed=seed, n=n, out=out)
            return
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_pool_context(),
            initializer=_init_worker,
            initargs=(scene.model_dump_json(),),
        )
        pending: set[Future[dict[str, Any]]] = set()
        queue = iter(todo)
        try:
            for i in _take(queue, 2 * self.workers):
                pending.add(pool.submit(_render_one, (i, seed, n, str(out))))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
                    for i in _take(queue, 1):
                        pending.add(pool.submit(_render_one, (i, seed, n, str(out))))
        except BrokenProcessPool:
            pool.shutdown(wait=False, cancel_futures=True)
            raise RenderError(
                "a worker process died (killed, or out of memory); the finished samples "
                "are kept: rerun with --resume to render the rest"
            ) from None
        except BaseException:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


# --------------------------------------------------------------------------- Dask


def environment_versions() -> dict[str, str]:
    """Versions of the packages that decide the bytes of a rendered sample.

    Returns
    -------
    dict of str to str
        ``synthlang``, ``numpy``, ``scipy``, ``scikit-fmm``, ``pillow`` versions
        (``"missing"`` for one that is not installed).
    """
    from synthlang.common.version import __version__

    out = {"synthlang": __version__}
    for dist in ("numpy", "scipy", "scikit-fmm", "pillow"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def _worker_versions() -> dict[str, str]:
    """:func:`environment_versions`, run on a Dask worker (sent by reference)."""
    return environment_versions()


# Per-worker cache of parsed scenes (a worker serves one dataset at a time).
_DASK_SCENES: dict[str, Scene] = {}


def _encode_task(scene_json: str, key: str, index: int, seed: int, n: int) -> EncodedSample:
    """Dask task: render sample ``index`` and return its encoded files."""
    scene = _DASK_SCENES.get(key)
    if scene is None:
        if not _DASK_SCENES:  # first task of this worker process
            from synthlang.engine.scratch import tune_allocator

            tune_allocator()
        _DASK_SCENES.clear()
        scene = Scene.model_validate_json(scene_json)
        _DASK_SCENES[key] = scene
    return encode_sample(scene, index=index, seed=seed, n=n)


def _import_distributed() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise DataError(
            f"--executor dask needs Dask's distributed scheduler, which is not installed: "
            f"{DASK_INSTALL_HINT}"
        ) from None


class DaskExecutor:
    """Render on the workers of an existing Dask cluster; write the files here.

    Parameters
    ----------
    scheduler : str
        Address of the scheduler (``tcp://host:8786``) or the path of a
        scheduler file (``dask scheduler --scheduler-file``).
    timeout : float, optional
        Seconds to wait for the connection and for at least one worker.
    in_flight : int, optional
        Tasks kept submitted per worker (default 2), so that workers never
        wait while results travel and memory stays bounded.
    client : distributed.Client, optional
        Use this client instead of connecting (it is not closed).
    """

    def __init__(
        self,
        scheduler: str | None = None,
        *,
        timeout: float = 30.0,
        in_flight: int = 2,
        client: Any = None,
    ) -> None:
        if scheduler is None and client is None:
            raise DataError("--executor dask needs --scheduler ADDRESS (or a scheduler file)")
        self.scheduler = scheduler
        self.timeout = timeout
        self.in_flight = max(1, in_flight)
        self._client = client

    def _connect(self) -> Any:
        distributed = _import_distributed()
        address = self.scheduler or ""
        try:
            if Path(address).is_file():
                return distributed.Client(
                    scheduler_file=address, timeout=self.timeout, set_as_default=False
                )
            return distributed.Client(address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise DataError(
                f"cannot connect to the Dask scheduler at {address}: {exc}; start it with "
                "`dask scheduler` (and workers with `dask worker ADDRESS`) or check the address"
            ) from None

    def _check_workers(self, client: Any) -> int:
        try:
            client.wait_for_workers(1, timeout=self.timeout)
        except (TimeoutError, OSError):
            raise DataError(
                f"the Dask cluster at {self.scheduler} has no workers "
                f"(waited {self.timeout:g} s); start some with `dask worker ADDRESS`"
            ) from None
        here = environment_versions()
        try:
            theirs: dict[str, Any] = client.run(_worker_versions)
        except Exception as exc:  # a worker that cannot import synthlang
            raise DataError(
                f"the Dask workers cannot run synthlang ({type(exc).__name__}: {exc}); "
                "install the same synthlang on every worker"
            ) from None
        for worker, versions in sorted(theirs.items()):
            for name, version in here.items():
                if versions.get(name) != version:
                    raise DataError(
                        f"Dask worker {worker} has {name} {versions.get(name)}, this machine "
                        f"{version}; samples would not be byte-identical: install the same "
                        "versions of synthlang, numpy, scipy, scikit-fmm and Pillow everywhere"
                    )
        return max(1, len(theirs))

    def run(
        self, scene: Scene, todo: list[int], *, seed: int, n: int, out: Path
    ) -> Iterator[dict[str, Any]]:
        """Render ``todo`` on the cluster, store the files here; see :meth:`Executor.run`."""
        if not todo:
            return
        distributed = _import_distributed()
        client = self._client or self._connect()
        futures: list[Any] = []
        try:
            workers = self._check_workers(client)
            scene_json = scene.model_dump_json()
            key = hashlib.sha256(scene_json.encode("utf-8")).hexdigest()
            shared = client.scatter(scene_json, broadcast=True, hash=False)
            queue = iter(todo)

            def submit(i: int) -> Any:
                return client.submit(_encode_task, shared, key, i, seed, n, pure=False)

            futures = [submit(i) for i in _take(queue, self.in_flight * workers)]
            pending = distributed.as_completed(futures, loop=client.loop)
            for fut in pending:
                try:
                    encoded: EncodedSample = fut.result()
                except distributed.client.FutureCancelledError as exc:
                    raise RenderError(f"a Dask task was cancelled ({exc})") from None
                except distributed.scheduler.KilledWorker as exc:
                    raise RenderError(
                        f"Dask workers died while rendering a sample ({exc}); see the worker "
                        "logs (out of memory?); the finished samples are kept: rerun with "
                        "--resume"
                    ) from None
                fut.release()
                yield store_sample(out, encoded)
                for i in _take(queue, 1):
                    new = submit(i)
                    futures.append(new)
                    pending.add(new)
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()
            if self._client is None:
                client.close()


def executor_for(
    kind: str, *, workers: int | None = None, scheduler: str | None = None
) -> LocalExecutor | DaskExecutor:
    """Build the executor named on the command line.

    Parameters
    ----------
    kind : {"local", "dask"}
        Executor name.
    workers : int, optional
        Local worker processes (default: the CPU count).
    scheduler : str, optional
        Dask scheduler address or scheduler file (``dask`` only, required there).

    Returns
    -------
    LocalExecutor or DaskExecutor

    Raises
    ------
    DataError
        For a combination of options that does not fit the executor.
    """
    if kind == "local":
        if scheduler is not None:
            raise DataError("--scheduler needs --executor dask")
        return LocalExecutor(workers or max(1, os.cpu_count() or 1))
    if kind == "dask":
        if workers is not None:
            raise DataError(
                "--workers is for --executor local; a Dask cluster has the workers it was "
                "started with"
            )
        if scheduler is None:
            raise DataError("--executor dask needs --scheduler ADDRESS (or a scheduler file)")
        _import_distributed()
        return DaskExecutor(scheduler)
    raise DataError(f"unknown executor {kind!r}: use local or dask")
