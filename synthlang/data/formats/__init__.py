"""Export formats of a dataset folder: ``coco``, ``geojson``, ``hovernet``.

=========  ==========================  ==============================================
format     files (in the dataset)      module
=========  ==========================  ==============================================
coco       ``annotations/coco.json``   :mod:`synthlang.data.formats.coco`
geojson    ``geojson/NAME.geojson``    :mod:`synthlang.data.formats.geojson` (QuPath)
hovernet   ``hovernet/NAME.npy``       :mod:`synthlang.data.formats.hovernet`
=========  ==========================  ==============================================

Each format is a pure function of a stored sample's arrays plus a writer. Exports are
written from the stored samples of a *complete* dataset (:func:`write_exports`), so their
bytes depend only on the dataset's files, never on how it was rendered;
``synthlang render --format`` calls it when the render completes the dataset (see
``docs/dataset.md`` for ``--shard`` and ``--resume``). Every file is written atomically.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_NAMES", "parse_formats", "check_exports", "write_exports"]

FORMAT_NAMES = ("coco", "geojson", "hovernet")
"""The export formats, in the order they are written."""


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    """Parse a comma-separated list of format names (or a list of names).

    Returns
    -------
    tuple of str
        The named formats, each once, in :data:`FORMAT_NAMES` order.

    Raises
    ------
    ValueError
        An unknown or empty name; the message names the allowed ones.

    Examples
    --------
    >>> parse_formats("hovernet, coco,coco")
    ('coco', 'hovernet')
    """
    names = text.split(",") if isinstance(text, str) else list(text)
    wanted = {n.strip().lower() for n in names}
    unknown = sorted(n for n in wanted if n not in FORMAT_NAMES)
    if unknown or not wanted:
        shown = ", ".join(repr(n) for n in unknown) if unknown else "an empty name"
        raise ValueError(
            f"unknown export format {shown}; choose from {', '.join(FORMAT_NAMES)} "
            "(a comma-separated list, e.g. coco,geojson)"
        )
    return tuple(n for n in FORMAT_NAMES if n in wanted)


def check_exports(names: Iterable[str], channels: Iterable[str], bit_depth: int) -> None:
    """Refuse formats that cannot hold a dataset's images (HoVer-Net: 8-bit RGB only).

    Raises
    ------
    DataError
        ``hovernet`` for images that are not 8-bit RGB.
    """
    from synthlang.common.channels import RGB_CHANNELS, describe_channels
    from synthlang.common.errors import DataError

    channels = tuple(channels)
    if "hovernet" in names and (channels != RGB_CHANNELS or bit_depth != 8):
        raise DataError(
            "--format hovernet stores 8-bit RGB images (HoVer-Net's layout); this dataset has "
            f"{describe_channels(channels)} of {bit_depth} bits: use coco or geojson"
        )


_NEEDS = {
    "coco": ("instances", "labels"),
    "geojson": ("instances", "labels"),
    "hovernet": ("noisy", "instances", "labels"),
}
"""The stored arrays each format reads."""

_Task = tuple[str, str, tuple[str, ...], int, tuple[str, ...]]


def _export_sample(task: _Task) -> Any:
    """Write one sample's per-sample files; return its COCO entries (or None).

    Runs in this process or in a pool worker: the files depend on the stored sample only.
    """
    from synthlang.data.sampleio import read_raw_sample

    root, name, names, version, classes = task
    keys = tuple(sorted({key for fmt in names for key in _NEEDS[fmt]}))
    sample = read_raw_sample(root, name, keys=keys, format_version=version, classes=classes)
    sample["index"] = int(name)  # the zero-padded index (read_manifest checked it)
    if "geojson" in names:
        from synthlang.data.formats.geojson import write_sample_geojson

        write_sample_geojson(Path(root), sample, classes)
    if "hovernet" in names:
        from synthlang.data.formats.hovernet import write_sample_hovernet

        write_sample_hovernet(Path(root), sample)
    if "coco" in names:
        from synthlang.data.formats.coco import coco_sample

        return coco_sample(sample)
    return None


def _init_worker() -> None:
    """Leave Ctrl-C and SIGTERM to the parent process (as the render's pool workers do)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _results(tasks: list[_Task], workers: int) -> Iterator[Any]:
    """:func:`_export_sample` of every task, in task order."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_export_sample, tasks)
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_all_start_methods, get_context

    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=get_context(method),
        initializer=_init_worker,
    )
    try:
        chunk = max(1, min(16, len(tasks) // (4 * workers)))
        yield from pool.map(_export_sample, tasks, chunksize=chunk)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def write_exports(
    folder: str | os.PathLike[str],
    formats: Iterable[str],
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write export formats of a complete dataset folder from its stored samples.

    Parameters
    ----------
    folder : path-like
        A complete dataset folder (format version 1 or 2).
    formats : iterable of str
        Names from :data:`FORMAT_NAMES`.
    workers : int
        Processes that read the samples and write the per-sample files (1: this
        process). The bytes written do not depend on it.
    progress : callable, optional
        Called with 1 after each sample.

    Returns
    -------
    list of Path
        The file (``coco``) and folders (per-sample formats) written.

    Raises
    ------
    DataError
        The folder is not a complete dataset, or a sample is unreadable.
    ValueError
        An unknown format name.
    OSError
        A file cannot be written (no partial file is left under its name).
    """
    from synthlang.data.sampleio import read_manifest

    names = parse_formats(list(formats)) if formats else ()
    if not names:
        return []
    root = Path(folder)
    manifest = read_manifest(root)
    version = int(manifest["format_version"])
    classes = tuple(str(c) for c in manifest["classes"])
    check_exports(names, manifest["channels"], manifest["bit_depth"])
    folders = [root / name for name in names if name != "coco"]
    for sub in folders:
        sub.mkdir(exist_ok=True)
    tasks: list[_Task] = [
        (str(root), entry["name"], names, version, classes) for entry in manifest["samples"]
    ]
    coco = None
    if "coco" in names:
        from synthlang.data.formats.coco import CocoWriter

        coco = CocoWriter(root, manifest)
    try:
        for result in _results(tasks, workers):
            if coco is not None:
                coco.add(*result)
            if progress is not None:
                progress(1)
        written = [coco.finish()] if coco is not None else []
    except BaseException:
        if coco is not None:
            coco.abort()
        raise
    return written + folders
