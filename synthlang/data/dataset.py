"""Rendering datasets to disk: which samples, into which folder, and when it is complete.

The folder format is documented in ``docs/dataset.md`` and implemented by
:mod:`synthlang.data.sampleio`. The guarantees:

* Sample ``i`` is rendered from ``SeedSequence([seed, i])`` alone, so the
  bytes of every file are the same for any worker count and any sharding.
* A sample is complete when its ``instances/NNNNNN.json`` exists: it is
  written last, and every file is written under a temporary name and renamed
  into place.
* ``manifest.json`` (with ``"complete": true``) is written only when all
  samples are complete. Until then the folder holds ``manifest.partial.json``,
  which readers refuse and ``--resume`` continues from.
* A failed write (full disk, unwritable folder) is a :class:`DataError`, and
  leaves no partial file under a final name.
* Export formats (``formats``: COCO, GeoJSON, HoVer-Net; :mod:`synthlang.data.formats`)
  are written from the stored samples by the call that completes the dataset (with
  ``resume``, also when it is complete already), so they too are the same for any
  worker count and sharding.

Where samples are rendered (this process, a process pool, a Dask cluster) is
decided by an executor (:mod:`synthlang.data.executors`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthlang.common.channels import image_suffix
from synthlang.common.errors import DataError
from synthlang.data.executors import Executor, LocalExecutor
from synthlang.data.formats import check_exports, parse_formats, write_exports
from synthlang.data.sampleio import (
    MANIFEST,
    PARTIAL,
    SUBDIRS,
    encode_sample,
    finish_manifest,
    iter_samples,
    load_sample,
    manifest_header,
    read_manifest,
    read_manifest_file,
    sample_complete,
    sample_name,
    write_manifest,
)
from synthlang.ir import Scene

__all__ = [
    "DatasetReport",
    "render_dataset",
    # the sample format, re-exported for existing importers (vnet, tests/fuzz); import
    # them from synthlang.data.sampleio
    "encode_sample",
    "read_manifest",
    "load_sample",
    "iter_samples",
]


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
    exported: tuple[str, ...] = ()
    """The export formats this call wrote (:mod:`synthlang.data.formats`)."""
    warnings: list[str] = field(default_factory=list)
    """Warnings about the finished dataset (mostly empty masks), also in the manifest."""


def _check_header(path: Path, header: dict[str, Any], want: dict[str, Any]) -> None:
    version = header.get("format_version", 1)
    if version != want["format_version"] and {version, want["format_version"]} != {2, 3}:
        raise DataError(
            f"{path} was written in dataset format version {str(version)[:20]}, this "
            f"synthlang writes version {want['format_version']}; render into another --out "
            "folder (the old folder stays readable)"
        )
    have_bits, want_bits = header.get("bit_depth", 8), want.get("bit_depth", 8)
    if have_bits != want_bits:
        raise DataError(
            f"{path} was rendered with {str(have_bits)[:20]}-bit images, this render writes "
            f"{want_bits}-bit images; give the same --bit-depth, or use another --out folder"
        )
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
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} is a file; --out must name a folder")
    if manifest.exists():
        existing = read_manifest_file(manifest)
        _check_header(manifest, existing, header)
        if resume or sharded:
            return True
        raise DataError(
            f"{out} already holds a complete dataset of this scene; "
            "choose another --out folder or delete it"
        )
    if partial.exists():
        _check_header(partial, read_manifest_file(partial), header)
        if not (resume or sharded):
            raise DataError(
                f"{out} holds an interrupted render of this scene; "
                "rerun with --resume to finish it, or choose another --out folder"
            )
    else:
        # Another shard may be creating the folder right now (job arrays start together),
        # or a render was killed while creating it: its sub-folders and a temporary
        # partial manifest are not "unrelated files".
        if out.exists() and not all(_is_dataset_entry(p) for p in out.iterdir()):
            raise DataError(
                f"{out} exists and is not empty; choose a new --out folder "
                "(synthlang never mixes a new dataset into unrelated files)"
            )
        out.mkdir(parents=True, exist_ok=True)
        write_manifest(partial, {**header, "complete": False})
    for sub in SUBDIRS:
        (out / sub).mkdir(exist_ok=True)
    return False


def _is_dataset_entry(path: Path) -> bool:
    """Whether ``path`` (in an output folder without a manifest) is what a render creates."""
    name = path.name
    if name in SUBDIRS:
        return path.is_dir()
    return name.startswith(PARTIAL + ".") and name.endswith(".tmp")


def _write_error(out: Path, exc: OSError) -> DataError:
    """The DataError for a failed write into the dataset folder ``out``."""
    if exc.errno == errno.ENOSPC:
        return DataError(
            f"cannot write to {out}: no space left on device; the samples written so far "
            "are complete: free some space and rerun with --resume"
        )
    if exc.errno == errno.EDQUOT:
        return DataError(f"cannot write to {out}: disk quota exceeded; rerun with --resume")
    where = f" ({exc.filename})" if exc.filename else ""
    return DataError(f"cannot write to {out}: {exc.strerror or exc}{where}")


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
    executor: Executor | None = None,
    formats: Sequence[str] = (),
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
        Worker processes of the default local executor (1 renders in this process).
    shard : tuple of int, optional
        ``(K, N)``: render only samples ``i`` with ``i % N == K - 1``. The shard
        that completes the last sample writes ``manifest.json``.
    resume : bool
        Continue an interrupted render, skipping complete samples.
    scene_file : str, optional
        Recorded in the manifest.
    progress : callable, optional
        Called with the number of newly finished samples after each sample.
    executor : Executor, optional
        Where samples are rendered (:mod:`synthlang.data.executors`); default
        ``LocalExecutor(workers)``.
    formats : sequence of str
        Export formats (:data:`synthlang.data.formats.FORMAT_NAMES`) to write from the
        stored samples when this call completes the dataset, or when ``resume`` finds
        it complete already (it rewrites them, byte-identical). A shard that finds the
        dataset complete without ``resume`` writes none: the shard that completed it did.
        A local executor's worker processes write them; with another executor, this process.

    Returns
    -------
    DatasetReport
        Counts of rendered and skipped samples and shortfalls.

    Raises
    ------
    DataError
        The folder is unusable (not empty, another render's data, not
        writable, disk full).
    """
    if n < 1:
        raise DataError(f"--n must be at least 1, got {n}")
    if workers < 1:
        raise DataError(f"--workers must be at least 1, got {workers}")
    if seed < 0:
        raise DataError(f"--seed must be non-negative, got {seed}")
    k, m = _parse_shard(shard)
    try:
        exports = parse_formats(formats) if formats else ()
    except ValueError as exc:
        raise DataError(str(exc)) from None
    check_exports(exports, scene.channel_names(), scene.bit_depth)
    run = executor if executor is not None else LocalExecutor(workers)
    # the exports are read and written here: by the local workers, or by one process
    export_workers = run.workers if isinstance(run, LocalExecutor) else 1
    out_path = Path(out)
    header = manifest_header(scene, n=n, seed=seed, scene_file=scene_file)
    report = DatasetReport(out=out_path, n=n)
    try:
        if _prepare_out(out_path, header, resume=resume, sharded=m > 1):
            report.complete = True
            if resume and exports:
                write_exports(out_path, exports, workers=export_workers)
                report.exported = exports
            return report
        todo = []
        suffix = image_suffix(scene.n_channels)
        for i in range(k - 1, n, m):
            if sample_complete(out_path, sample_name(i, n), suffix):
                report.skipped += 1
            else:
                todo.append(i)
        for entry in run.run(scene, todo, seed=seed, n=n, out=out_path):
            report.rendered += 1
            if entry["shortfalls"]:
                report.shortfall_samples += 1
                for layer in entry["shortfalls"]:
                    report.shortfalls[layer] = report.shortfalls.get(layer, 0) + 1
            if progress is not None:
                progress(1)
        manifest = finish_manifest(out_path, header, n)
        report.complete = manifest is not None
        if manifest is not None:
            report.warnings = list(manifest.get("warnings", []))
        if report.complete and exports:
            write_exports(out_path, exports, workers=export_workers)
            report.exported = exports
    except OSError as exc:
        raise _write_error(out_path, exc) from None
    return report
