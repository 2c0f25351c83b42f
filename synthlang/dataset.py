"""Rendering datasets to disk, and reading them back.

The folder format is documented in ``docs/dataset.md``. The guarantees:

* Sample ``i`` is rendered from ``SeedSequence([seed, i])`` alone, so the
  bytes of every file are the same for any worker count and any sharding.
* A sample is complete when its ``instances/NNNNNN.json`` exists: it is
  written last, and every file is written under a temporary name and renamed
  into place.
* ``manifest.json`` (with ``"complete": true``) is written only when all
  samples are complete. Until then the folder holds ``manifest.partial.json``,
  which readers refuse and ``--resume`` continues from.
"""

from __future__ import annotations

import errno
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import numpy as np

from synthlang import __version__
from synthlang.errors import DataError, RenderError
from synthlang.ir import Scene, scene_hash
from synthlang.sample import sample_seed

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DatasetReport",
    "render_dataset",
    "sample_name",
    "read_manifest",
    "load_sample",
    "iter_samples",
]

FORMAT = "synthlang-dataset"
FORMAT_VERSION = 1
SUBDIRS = ("noisy", "clean", "mask", "instances")
MANIFEST = "manifest.json"
PARTIAL = "manifest.partial.json"
MAX_INSTANCE_ID = 65535


def sample_name(index: int, n: int) -> str:
    """Return the file stem of sample ``index`` in a dataset of ``n`` samples.

    Examples
    --------
    >>> sample_name(7, 800)
    '000007'
    >>> sample_name(7, 10_000_000)
    '00000007'
    """
    width = max(6, len(str(max(n - 1, 0))))
    return f"{index:0{width}d}"


@dataclass
class DatasetReport:
    """What a call of :func:`render_dataset` did."""

    out: Path
    n: int
    rendered: int = 0
    skipped: int = 0
    complete: bool = False
    shortfall_samples: int = 0
    shortfalls: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- writing


def _to_u8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def _save_png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    """Write a PNG atomically (temporary name, then rename)."""
    from PIL import Image

    tmp = path.with_name(path.name + ".tmp")
    if mode == "I;16":
        img = Image.fromarray(array.astype(np.uint16))
    else:
        img = Image.fromarray(array)
    img.save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _sample_paths(out: Path, name: str) -> dict[str, Path]:
    return {
        "noisy": out / "noisy" / f"{name}.png",
        "clean": out / "clean" / f"{name}.png",
        "mask": out / "mask" / f"{name}.png",
        "instances": out / "instances" / f"{name}.png",
        "json": out / "instances" / f"{name}.json",
    }


def _is_complete(out: Path, name: str) -> bool:
    return all(p.exists() for p in _sample_paths(out, name).values())


# Per-process state of worker processes: the scene is sent once, not per task.
_WORKER_SCENE: Scene | None = None


def _init_worker(scene_json: str) -> None:
    global _WORKER_SCENE
    _WORKER_SCENE = Scene.model_validate_json(scene_json)


def _render_one(args: tuple[int, int, int, str]) -> dict[str, Any]:
    """Render sample ``index`` and write its files; return its manifest entry."""
    index, seed, n, out_str = args
    scene = _WORKER_SCENE
    assert scene is not None, "worker not initialised"
    return write_sample(scene, index=index, seed=seed, n=n, out=Path(out_str))


def write_sample(scene: Scene, *, index: int, seed: int, n: int, out: Path) -> dict[str, Any]:
    """Render one sample of a dataset and write its files into ``out``.

    Parameters
    ----------
    scene : Scene
        The compiled scene.
    index, seed, n : int
        Sample index, dataset seed and dataset size (for the file name).
    out : Path
        Dataset folder (its sub-folders must exist).

    Returns
    -------
    dict
        The sample's manifest entry.
    """
    from synthlang.engine.render import render

    with warnings.catch_warnings():
        # Shortfalls are reported through the manifest and a summary, not per sample.
        warnings.simplefilter("ignore", UserWarning)
        sample = render(scene, seed=sample_seed(seed, index))
    name = sample_name(index, n)
    paths = _sample_paths(out, name)
    if sample.instance_map.size and int(sample.instance_map.max()) > MAX_INSTANCE_ID:
        raise RenderError(
            f"sample {index} has more than {MAX_INSTANCE_ID} instances, which a 16-bit "
            "instance PNG cannot store; reduce the object counts"
        )
    _save_png(paths["noisy"], _to_u8(sample.noisy))
    _save_png(paths["clean"], _to_u8(sample.clean))
    _save_png(paths["mask"], _to_u8(sample.mask))
    _save_png(paths["instances"], sample.instance_map, mode="I;16")
    shortfalls = [
        {
            "layer": s.layer,
            "requested": s.requested,
            "placed": s.placed,
            "attempts": s.attempts,
            "message": s.message(),
        }
        for s in sample.shortfalls
    ]
    meta = {
        "index": index,
        "seed": [seed, index],
        "size": list(scene.size),
        "categories": list(scene.categories),
        "counts": sample.counts,
        "shortfalls": shortfalls,
        "instances": [r.to_json() for r in sample.instances],
    }
    _write_json(paths["json"], meta)  # last: marks the sample complete
    return {
        "index": index,
        "name": name,
        "seed": [seed, index],
        "counts": sample.counts,
        "shortfalls": [s.layer for s in sample.shortfalls],
    }


def _entry_from_json(out: Path, index: int, n: int) -> dict[str, Any]:
    name = sample_name(index, n)
    path = _sample_paths(out, name)["json"]
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable sample metadata ({exc})") from None
    return {
        "index": index,
        "name": name,
        "seed": meta.get("seed", [None, index]),
        "counts": meta.get("counts", {}),
        "shortfalls": [s["layer"] for s in meta.get("shortfalls", [])],
    }


def _header(scene: Scene, *, n: int, seed: int, scene_file: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "synthlang_version": __version__,
        "scene": scene.name,
        "scene_file": scene_file,
        "scene_hash": scene_hash(scene),
        "seed": seed,
        "n": n,
        "size": list(scene.size),
        "categories": list(scene.categories),
    }


def _check_header(path: Path, header: dict[str, Any], want: dict[str, Any]) -> None:
    for key in ("scene_hash", "seed", "n"):
        if header.get(key) != want[key]:
            raise DataError(
                f"{path} belongs to a different render ({key} is {header.get(key)!r}, "
                f"this render has {want[key]!r}); use another --out folder"
            )


def _parse_shard(shard: tuple[int, int] | None) -> tuple[int, int]:
    if shard is None:
        return (1, 1)
    k, m = shard
    if m < 1 or not 1 <= k <= m:
        raise DataError(f"shard {k}/{m} is invalid: use K/N with 1 <= K <= N")
    return (k, m)


def _prepare_out(out: Path, header: dict[str, Any], *, resume: bool, sharded: bool) -> bool:
    """Validate or create the output folder. Return True if it is already complete."""
    manifest = out / MANIFEST
    partial = out / PARTIAL
    if manifest.exists():
        existing = _load_json(manifest)
        _check_header(manifest, existing, header)
        if resume or sharded:
            return True
        raise DataError(
            f"{out} already holds a complete dataset of this scene; "
            "choose another --out folder or delete it"
        )
    if partial.exists():
        _check_header(partial, _load_json(partial), header)
        if not (resume or sharded):
            raise DataError(
                f"{out} holds an interrupted render of this scene; "
                "rerun with --resume to finish it, or choose another --out folder"
            )
    else:
        if out.exists() and any(out.iterdir()):
            raise DataError(
                f"{out} exists and is not empty; choose a new --out folder "
                "(synthlang never mixes a new dataset into unrelated files)"
            )
        try:
            out.mkdir(parents=True, exist_ok=True)
            _write_json(partial, {**header, "complete": False})
        except OSError as exc:
            raise DataError(f"cannot write to {out}: {exc.strerror or exc}") from None
    for sub in SUBDIRS:
        (out / sub).mkdir(exist_ok=True)
    return False


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{path}: not a synthlang dataset manifest")
    return data


def _finish(out: Path, header: dict[str, Any], n: int) -> dict[str, Any] | None:
    """Write manifest.json if every sample is complete; return it (or None)."""
    entries = []
    for i in range(n):
        if not _is_complete(out, sample_name(i, n)):
            return None
        entries.append(_entry_from_json(out, i, n))
    totals: dict[str, int] = {}
    for e in entries:
        for layer in e["shortfalls"]:
            totals[layer] = totals.get(layer, 0) + 1
    manifest = {**header, "complete": True, "samples": entries, "shortfalls": totals}
    _write_json(out / MANIFEST, manifest)
    try:
        (out / PARTIAL).unlink()
    except FileNotFoundError:
        pass
    return manifest


def _pool_context() -> Any:
    methods = get_all_start_methods()
    return get_context("fork" if "fork" in methods else "spawn")


def render_dataset(
    scene: Scene,
    n: int,
    out: str | os.PathLike[str],
    *,
    seed: int = 0,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    resume: bool = False,
    scene_file: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> DatasetReport:
    """Render ``n`` samples of ``scene`` into the folder ``out``.

    Parameters
    ----------
    scene : Scene
        The compiled scene.
    n : int
        Number of samples in the dataset (all shards together).
    out : path-like
        Output folder; created if missing. It must be empty, or hold an
        interrupted render of the same scene, seed and ``n`` (with ``resume``).
    seed : int
        Dataset seed; sample ``i`` uses ``SeedSequence([seed, i])``.
    workers : int
        Worker processes (1 renders in this process).
    shard : tuple of int, optional
        ``(K, N)``: render only samples ``i`` with ``i % N == K - 1``. The shard
        that completes the last sample writes ``manifest.json``.
    resume : bool
        Continue an interrupted render, skipping complete samples.
    scene_file : str, optional
        Recorded in the manifest.
    progress : callable, optional
        Called with the number of newly finished samples after each sample.

    Returns
    -------
    DatasetReport
        Counts of rendered and skipped samples and shortfalls.

    Raises
    ------
    DataError
        The folder is unusable (not empty, another render's data, not writable).
    """
    if n < 1:
        raise DataError(f"--n must be at least 1, got {n}")
    if workers < 1:
        raise DataError(f"--workers must be at least 1, got {workers}")
    if seed < 0:
        raise DataError(f"--seed must be non-negative, got {seed}")
    k, m = _parse_shard(shard)
    out_path = Path(out)
    header = _header(scene, n=n, seed=seed, scene_file=scene_file)
    report = DatasetReport(out=out_path, n=n)
    if _prepare_out(out_path, header, resume=resume, sharded=m > 1):
        report.complete = True
        return report
    todo = []
    for i in range(k - 1, n, m):
        if _is_complete(out_path, sample_name(i, n)):
            report.skipped += 1
        else:
            todo.append(i)

    def record(entry: dict[str, Any]) -> None:
        report.rendered += 1
        if entry["shortfalls"]:
            report.shortfall_samples += 1
            for layer in entry["shortfalls"]:
                report.shortfalls[layer] = report.shortfalls.get(layer, 0) + 1
        if progress is not None:
            progress(1)

    try:
        for entry in _run(scene, todo, seed=seed, n=n, out=out_path, workers=workers):
            record(entry)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DataError(f"cannot write to {out_path}: no space left on device") from None
        raise DataError(f"cannot write to {out_path}: {exc.strerror or exc}") from None
    report.complete = _finish(out_path, header, n) is not None
    return report


def _run(
    scene: Scene, todo: list[int], *, seed: int, n: int, out: Path, workers: int
) -> Iterator[dict[str, Any]]:
    """Render the samples of ``todo``, yielding manifest entries as they finish."""
    if workers == 1 or len(todo) <= 1:
        for i in todo:
            yield write_sample(scene, index=i, seed=seed, n=n, out=out)
        return
    ctx = _pool_context()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(scene.model_dump_json(),),
    )
    pending: set[Future[dict[str, Any]]] = set()
    queue = iter(todo)
    try:
        for i in _take(queue, 2 * workers):
            pending.add(pool.submit(_render_one, (i, seed, n, str(out))))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
                for i in _take(queue, 1):
                    pending.add(pool.submit(_render_one, (i, seed, n, str(out))))
    except BaseException:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _take(it: Iterator[int], k: int) -> list[int]:
    items = []
    for _ in range(k):
        try:
            items.append(next(it))
        except StopIteration:
            break
    return items


# --------------------------------------------------------------------------- reading


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the manifest of a complete dataset folder.

    Raises
    ------
    DataError
        If the folder is missing, not a dataset, or incomplete.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder")
    manifest = root / MANIFEST
    if not manifest.exists():
        if (root / PARTIAL).exists():
            partial = _load_json(root / PARTIAL)
            n = int(partial.get("n", 0))
            done = sum(_is_complete(root, sample_name(i, n)) for i in range(n))
            raise DataError(
                f"{root} is an incomplete dataset ({done} of {n} samples); finish it with "
                f"`synthlang render {partial.get('scene_file') or 'SCENE'} --n {n} --out {root} "
                f"--seed {partial.get('seed')} --resume`"
            )
        raise DataError(f"{root}: not a synthlang dataset (no {MANIFEST})")
    data = _load_json(manifest)
    if not data.get("complete"):
        raise DataError(f"{manifest}: the dataset is marked incomplete")
    return data


def load_sample(folder: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """Load one sample's arrays (float32 in [0, 1]) and metadata.

    Returns
    -------
    dict
        ``noisy`` (H, W, 3), ``clean`` (H, W, 3), ``mask`` (H, W),
        ``instance_map`` (H, W) int32 and ``meta`` (the JSON record).
    """
    from PIL import Image

    root = Path(folder)
    paths = _sample_paths(root, name)
    try:
        arrays = {
            key: np.asarray(Image.open(paths[key]))
            for key in ("noisy", "clean", "mask", "instances")
        }
        meta = json.loads(paths["json"].read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{root}: sample {name} is unreadable ({exc})") from None
    return {
        "noisy": arrays["noisy"].astype(np.float32) / 255.0,
        "clean": arrays["clean"].astype(np.float32) / 255.0,
        "mask": arrays["mask"].astype(np.float32) / 255.0,
        "instance_map": arrays["instances"].astype(np.int32),
        "meta": meta,
    }


def iter_samples(folder: str | os.PathLike[str]) -> Iterable[dict[str, Any]]:
    """Yield every sample of a complete dataset folder, in index order."""
    manifest = read_manifest(folder)
    for entry in manifest["samples"]:
        yield load_sample(folder, entry["name"])
