"""The dataset folder format: encoding, storing and reading samples and the manifest.

The format (version 2) is documented in ``docs/dataset.md``::

    OUT/noisy/NNNNNN.png       8-bit RGB       the degraded image
    OUT/clean/NNNNNN.png       8-bit RGB       the ground-truth image
    OUT/mask/NNNNNN.png        8-bit gray      the ground-truth mask
    OUT/labels/NNNNNN.png      8-bit gray      class ids (0: background)
    OUT/instances/NNNNNN.png   16-bit gray     labelled instance ids (0: background)
    OUT/objects/NNNNNN.png     16-bit gray     every object's id (0: no object)
    OUT/instances/NNNNNN.json  the sample's metadata, written last
    OUT/manifest.json          written when every sample is complete
    OUT/manifest.partial.json  until then

Version 3 is version 2 for images that are not 8-bit RGB (a scene with ``channels [...]``
or ``bits 16``): ``noisy/`` and ``clean/`` hold 16-bit PNGs (RGB) or multi-channel TIFFs
(:mod:`synthlang.common.channelio`), and the manifest and every sample's metadata record
``"channels"`` and ``"bit_depth"``. 8-bit RGB datasets are written as version 2.

Version 1 folders (no ``labels/`` or ``objects/``; ``instances/NNNNNN.png`` held every
object's id) are still read: their mask is the one class, ``mask``
(:data:`V1_CLASSES`), and their labelled instances are the objects on the mask.

The bytes of a sample depend only on ``(scene, seed, index, n)``
(:func:`encode_sample`); every file is written atomically
(:func:`synthlang.common.fileio.atomic_writer`). Which samples to render and
where is decided by :func:`synthlang.data.dataset.render_dataset` and its
executors (:mod:`synthlang.data.executors`), both built on this module; the export
formats (COCO, GeoJSON, HoVer-Net) by :mod:`synthlang.data.formats`, from stored samples.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthlang.common.channels import RGB_CHANNELS, image_suffix
from synthlang.common.errors import DataError, RenderError
from synthlang.common.fileio import atomic_write_bytes, read_input_file
from synthlang.common.version import __version__
from synthlang.data.imagefiles import (
    image_bytes,
    image_layout,
    layout_fields,
    read_image_file,
    unit_image,
)
from synthlang.engine.sampling import sample_seed
from synthlang.ir import Scene, scene_hash

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "SUBDIRS",
    "IMAGE_KEYS",
    "V1_CLASSES",
    "MANIFEST",
    "PARTIAL",
    "EncodedSample",
    "sample_name",
    "sample_paths",
    "sample_complete",
    "encode_sample",
    "store_sample",
    "write_sample",
    "manifest_header",
    "write_manifest",
    "read_manifest_file",
    "finish_manifest",
    "EMPTY_WARNING_SHARE",
    "empty_masks_warning",
    "read_manifest",
    "read_raw_sample",
    "load_sample",
    "iter_samples",
]

FORMAT = "synthlang-dataset"
FORMAT_VERSION = 2
IMAGE_FORMAT_VERSION = 3
"""The version of a dataset whose images are not 8-bit RGB (``channels``, ``bit_depth``)."""
READABLE_VERSIONS = (1, 2, 3)
"""Format versions the readers accept."""
SUBDIRS = ("noisy", "clean", "mask", "labels", "instances", "objects")
IMAGE_KEYS = ("noisy", "clean", "mask", "labels", "instances", "objects")
"""The PNG files of a sample, in the order they are written (the metadata JSON comes last)."""
V1_CLASSES = ("mask",)
"""The classes of a version-1 folder: its mask is the one class."""
MAX_CLASSES = 255
"""Most classes a dataset can have (class ids are stored in 8 bits)."""
MANIFEST = "manifest.json"
PARTIAL = "manifest.partial.json"
MAX_INSTANCE_ID = 65535
MAX_JSON_BYTES = 256 * 1024**2
"""Largest manifest or sample metadata file a reader accepts."""
_NAME = re.compile(r"[0-9]{6,12}")
_SAMPLE_TEMP = ".tmp"
"""Suffix of a sample file being written: one process writes a sample, and a file left by a
killed process is replaced by the next write (``--resume``)."""


def sample_name(index: int, n: int) -> str:
    """Return the file stem of sample ``index`` in a dataset of ``n`` samples.

    Examples
    --------
    >>> sample_name(7, 800)
    '000007'
    >>> sample_name(7, 10_000_000)
    '0000007'
    """
    width = max(6, len(str(max(n - 1, 0))))
    return f"{index:0{width}d}"


def sample_paths(out: Path, name: str, suffix: str = ".png") -> dict[str, Path]:
    """The files of sample ``name`` in the dataset folder ``out``.

    Returns
    -------
    dict of str to Path
        ``noisy``, ``clean`` (``suffix``: ``.png``, or ``.tif`` for images that are not
        RGB), ``mask``, ``labels``, ``instances``, ``objects`` (PNG) and ``json``.
    """
    paths = {key: out / key / f"{name}.png" for key in IMAGE_KEYS}
    paths["noisy"] = out / "noisy" / f"{name}{suffix}"
    paths["clean"] = out / "clean" / f"{name}{suffix}"
    paths["json"] = out / "instances" / f"{name}.json"
    return paths


def sample_complete(out: Path, name: str, suffix: str = ".png") -> bool:
    """Whether every file of sample ``name`` exists in ``out``."""
    return all(p.exists() for p in sample_paths(out, name, suffix).values())


# --------------------------------------------------------------------------- samples


def _png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    """Encode an array as PNG bytes (the same bytes wherever the same Pillow runs).

    zlib level 1 with the run-length strategy: measured on Scenario 2 it encodes the noisy
    image in 8 ms instead of 12 (default strategy) and writes smaller files (171 KB instead
    of 186 KB); the flat clean image and the masks compress about as well as with the default.
    """
    from PIL import Image

    if mode == "I;16":
        img = Image.fromarray(array.astype(np.uint16))
    else:
        img = Image.fromarray(array)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1, compress_type=zlib.Z_RLE)
    return buf.getvalue()


@dataclass(frozen=True)
class EncodedSample:
    """One rendered sample as the bytes of its files, ready to be stored.

    Attributes
    ----------
    index : int
        Sample index.
    name : str
        File stem (:func:`sample_name`).
    files : dict of str to bytes
        ``noisy``, ``clean``, ``mask``, ``labels``, ``instances``, ``objects`` (PNG)
        and ``json`` (the per-sample metadata).
    entry : dict
        The sample's manifest entry.
    suffix : str
        The suffix of the ``noisy`` and ``clean`` files (``.png``; ``.tif`` when not RGB).
    """

    index: int
    name: str
    files: dict[str, bytes]
    entry: dict[str, Any]
    suffix: str = ".png"


def _instance_json(record: dict[str, Any], classes: list[str]) -> dict[str, Any]:
    """An instance record with its class: ``"class"`` (name or None) and ``"label"`` (id)."""
    label = int(record.get("label", 0) or 0)
    record["class"] = classes[label - 1] if 0 < label <= len(classes) else None
    record["label"] = label
    return record


def encode_sample(scene: Scene, *, index: int, seed: int, n: int) -> EncodedSample:
    """Render one sample of a dataset and encode its files, without touching the disk.

    Parameters
    ----------
    scene : Scene
        The compiled scene.
    index, seed, n : int
        Sample index, dataset seed and dataset size (for the file name).

    Returns
    -------
    EncodedSample
        The bytes of the sample's files and its manifest entry. They depend
        only on ``(scene, seed, index, n)``, wherever they are computed.

    Raises
    ------
    RenderError
        If the sample has more instances than a 16-bit instance PNG can hold.
    ResourceLimitError
        If rendering would need more memory than ``SYNTHLANG_MAX_RENDER_BYTES``.
    """
    from synthlang.common.imageio import to_uint8
    from synthlang.engine.render import render

    with warnings.catch_warnings():
        # Shortfalls are reported through the manifest and a summary, not per sample.
        warnings.simplefilter("ignore", UserWarning)
        sample = render(scene, seed=sample_seed(seed, index))
    name = sample_name(index, n)
    maps = (("instances", sample.instance_map), ("labelled instances", sample.label_instances))
    for what, ids in maps:
        if ids.size and int(ids.max()) > MAX_INSTANCE_ID:
            raise RenderError(
                f"sample {index} has more than {MAX_INSTANCE_ID} {what}, which a 16-bit "
                "instance PNG cannot store; reduce the object counts"
            )
    classes = [str(c) for c in sample.classes]
    if len(classes) > MAX_CLASSES:
        raise RenderError(f"the scene has {len(classes)} classes; at most {MAX_CLASSES} fit")
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
        "classes": classes,
        "counts": sample.counts,
        "shortfalls": shortfalls,
        "mask_pixels": int(np.count_nonzero(sample.labels)),
        "instances": [_instance_json(r.to_json(), classes) for r in sample.instances],
    }
    layout = layout_fields(scene)
    meta.update(layout)
    # to_uint8 in the images' own dtype (float32): the bytes of every dataset depend on it
    files = {
        "noisy": image_bytes(scene, sample.noisy) if layout else _png_bytes(to_uint8(sample.noisy)),
        "clean": image_bytes(scene, sample.clean) if layout else _png_bytes(to_uint8(sample.clean)),
        "mask": _png_bytes(to_uint8(sample.mask)),
        "labels": _png_bytes(np.asarray(sample.labels, dtype=np.uint8)),
        "instances": _png_bytes(sample.label_instances, mode="I;16"),
        "objects": _png_bytes(sample.instance_map, mode="I;16"),
        # compact: the C encoder (json skips it when indenting) is ~10x faster on 200 instances
        "json": (json.dumps(meta, separators=(",", ":")) + "\n").encode("utf-8"),
    }
    entry = {
        "index": index,
        "name": name,
        "seed": [seed, index],
        "counts": sample.counts,
        "shortfalls": [s.layer for s in sample.shortfalls],
        "mask_pixels": meta["mask_pixels"],
    }
    suffix = image_suffix(scene.n_channels)
    return EncodedSample(index=index, name=name, files=files, entry=entry, suffix=suffix)


def store_sample(out: Path, sample: EncodedSample) -> dict[str, Any]:
    """Write an encoded sample's files into the dataset folder ``out``, atomically.

    Every file goes to ``NAME.tmp`` first and is renamed into place; the
    metadata JSON comes last, so its presence marks the sample complete.

    Parameters
    ----------
    out : Path
        Dataset folder (its sub-folders must exist).
    sample : EncodedSample
        What :func:`encode_sample` returned.

    Returns
    -------
    dict
        The sample's manifest entry.

    Raises
    ------
    OSError
        If a file cannot be written (no partial file is left under its name).
    """
    paths = sample_paths(Path(out), sample.name, sample.suffix)
    for key in (*IMAGE_KEYS, "json"):
        atomic_write_bytes(paths[key], sample.files[key], temp_suffix=_SAMPLE_TEMP)
    return sample.entry


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
    return store_sample(Path(out), encode_sample(scene, index=index, seed=seed, n=n))


# --------------------------------------------------------------------------- manifest


def manifest_header(scene: Scene, *, n: int, seed: int, scene_file: str | None) -> dict[str, Any]:
    """The fields every manifest (partial or complete) of this render starts with."""
    layout = layout_fields(scene)
    return {
        "format": FORMAT,
        "format_version": IMAGE_FORMAT_VERSION if layout else FORMAT_VERSION,
        **layout,
        "synthlang_version": __version__,
        "scene": scene.name,
        "scene_file": scene_file,
        "scene_hash": scene_hash(scene),
        "seed": seed,
        "n": n,
        "size": list(scene.size),
        "pixel_size_um": scene.pixel_size_um,
        "categories": list(scene.categories),
        "classes": [str(c) for c in scene.class_names()],
    }


def write_manifest(path: Path, data: dict[str, Any]) -> None:
    """Write a manifest atomically.

    Several shards may write the same manifest at once, with the same content:
    each process uses its own temporary name, ``NAME.PID.tmp``.
    """
    text = json.dumps(data, indent=1, sort_keys=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), temp_suffix=f".{os.getpid()}.tmp")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object from a regular file of at most :data:`MAX_JSON_BYTES`."""
    raw = read_input_file(path, max_bytes=MAX_JSON_BYTES, what=what)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DataError(f"{path}: cannot read {what}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: cannot read {what}: not a JSON object")
    return data


def read_manifest_file(path: Path) -> dict[str, Any]:
    """Read a manifest file (partial or complete), checking only that it is one.

    Raises
    ------
    DataError
        Missing, unreadable or not a synthlang manifest.
    ResourceLimitError
        Larger than :data:`MAX_JSON_BYTES`.
    """
    data = _read_json(path, "the manifest")
    if data.get("format") != FORMAT:
        raise DataError(f"{path}: not a synthlang dataset manifest")
    return data


def _entry_from_json(out: Path, index: int, n: int) -> dict[str, Any]:
    """The manifest entry of a stored sample, from its metadata file."""
    name = sample_name(index, n)
    path = sample_paths(out, name)["json"]
    meta = _read_json(path, "the sample metadata")
    shortfalls = meta.get("shortfalls", [])
    if not isinstance(shortfalls, list) or not all(
        isinstance(s, dict) and isinstance(s.get("layer"), str) for s in shortfalls
    ):
        raise DataError(f"{path}: malformed sample metadata ('shortfalls')")
    return {
        "index": index,
        "name": name,
        "seed": meta.get("seed", [None, index]),
        "counts": meta.get("counts", {}),
        "shortfalls": [s["layer"] for s in shortfalls],
        "mask_pixels": meta.get("mask_pixels"),
    }


EMPTY_WARNING_SHARE = 0.9
"""A dataset whose masks are empty in more than this share of its samples is warned about."""


def empty_masks_warning(empty: int, n: int) -> str:
    """The warning for a dataset whose masks are mostly empty."""
    return (
        f"the masks of {empty} of {n} samples are empty: the mask rules select (almost) "
        f"nothing; check them (a threshold written as a percent, a category that is never "
        f"visible) with `synthlang preview`"
    )


def finish_manifest(out: Path, header: dict[str, Any], n: int) -> dict[str, Any] | None:
    """Write ``manifest.json`` if every sample of ``out`` is complete; return it (or None).

    The partial manifest is removed afterwards.
    """
    # one listing instead of 5 n file checks: with a job array every shard ends here
    with os.scandir(out / "instances") as it:
        listed = {entry.name for entry in it}
    if any(f"{sample_name(i, n)}.json" not in listed for i in range(n)):
        return None
    entries = []
    suffix = image_suffix(len(image_layout(header)[0]))
    for i in range(n):
        if not sample_complete(out, sample_name(i, n), suffix):
            return None
        entries.append(_entry_from_json(out, i, n))
    totals: dict[str, int] = {}
    for e in entries:
        for layer in e["shortfalls"]:
            totals[layer] = totals.get(layer, 0) + 1
    manifest = {**header, "complete": True, "samples": entries, "shortfalls": totals}
    empty = sum(1 for e in entries if e.get("mask_pixels") == 0)
    manifest["empty_masks"] = empty
    if empty > EMPTY_WARNING_SHARE * n:
        manifest["warnings"] = [empty_masks_warning(empty, n)]
    write_manifest(out / MANIFEST, manifest)
    try:
        (out / PARTIAL).unlink()
    except FileNotFoundError:
        pass
    return manifest


# --------------------------------------------------------------------------- reading


def _manifest_n(data: dict[str, Any], path: Path) -> int:
    n = data.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise DataError(f"{path}: malformed manifest ('n' must be a positive integer, got {n!r})")
    return n


def _format_version(data: dict[str, Any], path: Path) -> int:
    """The format version of a manifest (1 when absent), checked to be readable."""
    version = data.get("format_version", 1)
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise DataError(
            f"{path}: dataset format version {repr(version)[:20]} cannot be read by "
            f"synthlang {__version__} (it reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}); a newer synthlang wrote it?"
        )
    return int(version)


def _classes(data: dict[str, Any], path: Path, version: int) -> tuple[str, ...]:
    """The class names of a manifest or sample record (:data:`V1_CLASSES` for version 1)."""
    if version == 1:
        return V1_CLASSES
    classes = data.get("classes")
    if (
        not isinstance(classes, list)
        or len(classes) > MAX_CLASSES
        or not all(isinstance(c, str) and c for c in classes)
    ):
        raise DataError(f"{path}: malformed ('classes' must be a list of class names)")
    return tuple(classes)


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the manifest of a complete dataset folder (format version 1 or 2).

    The manifest is checked: its samples are a list of entries with names
    like ``000012`` (so a manifest cannot point outside its folder), its
    ``format_version`` is one this synthlang reads and its ``classes`` a list
    of names. For a version-1 folder ``"classes"`` is set to :data:`V1_CLASSES`
    (and ``"format_version"`` to 1 when absent).

    Raises
    ------
    DataError
        If the folder is missing, not a dataset, incomplete or malformed.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder")
    manifest = root / MANIFEST
    if not manifest.exists():
        if (root / PARTIAL).exists():
            partial = read_manifest_file(root / PARTIAL)
            n = _manifest_n(partial, root / PARTIAL)
            done = sum(1 for _ in (root / "instances").glob("*.json"))
            depth = " --bit-depth 16" if partial.get("bit_depth") == 16 else ""
            raise DataError(
                f"{root} is an incomplete dataset ({min(done, n)} of {n} samples); finish it "
                f"with `synthlang render {partial.get('scene_file') or 'SCENE'} --n {n} "
                f"--out {root} --seed {partial.get('seed')}{depth} --resume`"
            )
        raise DataError(f"{root}: not a synthlang dataset (no {MANIFEST})")
    data = read_manifest_file(manifest)
    if data.get("complete") is not True:
        raise DataError(f"{manifest}: the dataset is marked incomplete")
    version = _format_version(data, manifest)
    data["format_version"] = version
    data["classes"] = list(_classes(data, manifest, version))
    try:
        channels, bits = image_layout(data if version == 3 else {})
    except DataError as exc:
        raise DataError(f"{manifest}: {exc}") from None
    data["channels"], data["bit_depth"] = list(channels), bits
    n = _manifest_n(data, manifest)
    samples = data.get("samples")
    if not isinstance(samples, list) or len(samples) != n:
        raise DataError(f"{manifest}: malformed manifest ('samples' must list the {n} samples)")
    for entry in samples:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise DataError(
                f"{manifest}: malformed manifest (sample entry {str(entry)[:60]!r} has no "
                "valid 'name')"
            )
    return data


_ID_MODES = ("I;16", "I;16B", "I;16L", "I", "L")
_PNG_MODES = {
    "noisy": ("RGB",),
    "clean": ("RGB",),
    "mask": ("L",),
    "labels": ("L",),
    "instances": _ID_MODES,
    "objects": _ID_MODES,
}
_V1_FILES = {
    "noisy": ("noisy",),
    "clean": ("clean",),
    "mask": ("mask",),
    "labels": ("mask",),
    "instances": ("instances", "mask"),
    "objects": ("instances",),
}
"""The files of a version-1 sample each key is made from (``instances`` held the objects)."""


def _sample_version(meta: dict[str, Any]) -> int:
    """The format version a sample's metadata was written in (2 records classes, 3 channels)."""
    if "channels" in meta or "bit_depth" in meta:
        return 3
    return 2 if "classes" in meta else 1


def read_raw_sample(
    folder: str | os.PathLike[str],
    name: str,
    *,
    keys: tuple[str, ...] | None = None,
    format_version: int | None = None,
    classes: tuple[str, ...] | None = None,
    with_meta: bool = False,
    layout: tuple[tuple[str, ...], int] | None = None,
) -> dict[str, Any]:
    """Read a stored sample's arrays as they are stored (8- or 16-bit images, integer maps).

    Parameters
    ----------
    folder : path-like
        The dataset folder.
    name : str
        The sample's name (``000012``).
    keys : tuple of str, optional
        Which arrays (:data:`IMAGE_KEYS`); default all. Only their files are read.
    format_version : int, optional
        The dataset's format version (the manifest's); default: from the sample's
        metadata (which is then read).
    classes : tuple of str, optional
        The dataset's classes (the manifest's), to check the class ids against when
        the metadata is not read.
    with_meta : bool
        Also return the metadata record.
    layout : tuple, optional
        The dataset's channel names and bit depth (the manifest's); default: from the
        metadata (version 3; read then) or RGB, 8 bit.

    Returns
    -------
    dict
        ``name``, ``format_version``, ``classes`` (when known: version 1, or the
        metadata was read), ``channels`` and ``bit_depth`` (version 3) and the requested arrays:
        ``noisy``, ``clean`` ``(H, W, C)`` uint8 (uint16 for 16 bit); ``mask`` ``(H, W)``
        uint8 (0 or 255); ``labels`` ``(H, W)`` uint8 class ids; ``instances`` ``(H, W)``
        int32 labelled instance ids; ``objects`` ``(H, W)`` int32 object ids; ``meta`` if
        read. For a version-1 sample ``labels`` is 1 on the mask, ``instances`` the objects
        on the mask, ``objects`` the stored id map.

    Raises
    ------
    DataError
        A file is missing, unreadable, of the wrong kind or size, a class id is
        out of range, or the metadata is malformed.
    """
    from synthlang.common.imageio import DEFAULT_MAX_PIXELS, read_raw_image

    root = Path(folder)
    if not _NAME.fullmatch(str(name)):
        raise DataError(f"{root}: {name!r} is not a sample name (like 000012)")
    want = IMAGE_KEYS if keys is None else tuple(keys)
    unknown = [k for k in want if k not in IMAGE_KEYS]
    if unknown:
        raise ValueError(f"unknown sample arrays {unknown}; choose from {', '.join(IMAGE_KEYS)}")
    paths = sample_paths(root, name)
    meta: dict[str, Any] | None = None
    if with_meta or format_version is None or (format_version == 3 and layout is None):
        meta = _read_json(paths["json"], f"the metadata of sample {name}")
    version = format_version if format_version is not None else _sample_version(meta or {})
    if layout is None:
        try:
            layout = image_layout(meta if meta is not None and version == 3 else {})
        except DataError as exc:
            raise DataError(f"{paths['json']}: {exc}") from None
    paths = sample_paths(root, name, image_suffix(len(layout[0])))
    if version == 1:
        classes = V1_CLASSES
    elif meta is not None:
        classes = _classes(meta, paths["json"], version)
    files = set(want) if version != 1 else {f for k in want for f in _V1_FILES[k]}
    arrays: dict[str, np.ndarray] = {}
    for key in IMAGE_KEYS:
        if key not in files:
            continue
        try:
            if version == 3 and key in ("noisy", "clean"):
                arrays[key] = read_image_file(paths[key], len(layout[0]), layout[1])
                continue
            arrays[key] = read_raw_image(
                paths[key], modes=_PNG_MODES[key], max_pixels=DEFAULT_MAX_PIXELS
            )
        except DataError as exc:
            raise DataError(f"{root}: sample {name} is unreadable: {exc}") from None
    shapes = {key: a.shape[:2] for key, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(
            f"{root}: sample {name} has images of different sizes "
            + ", ".join(f"{k} {v[0]}x{v[1]}" for k, v in shapes.items())
        )
    out: dict[str, Any] = {"name": name, "format_version": version}
    if version == 3:
        out["channels"], out["bit_depth"] = layout
    if classes is not None:
        out["classes"] = classes
    if version == 1:
        on = arrays["mask"] >= 128 if "mask" in arrays else np.zeros((0, 0), dtype=bool)
        for key in want:
            if key == "labels":
                out[key] = on.astype(np.uint8)
            elif key == "instances":
                out[key] = np.where(on, arrays["instances"], 0).astype(np.int32)
            elif key == "objects":
                out[key] = arrays["instances"].astype(np.int32)
            else:
                out[key] = arrays[key]
    else:
        for key in want:
            a = arrays[key]
            out[key] = a.astype(np.int32) if key in ("instances", "objects") else a
        if classes is not None and "labels" in out and out["labels"].size:
            top = int(out["labels"].max())
            if top > len(classes):
                raise DataError(
                    f"{paths['labels']}: class id {top} in a dataset of {len(classes)} classes"
                )
    if meta is not None and with_meta:
        out["meta"] = meta
    return out


def load_sample(
    folder: str | os.PathLike[str], name: str, *, format_version: int | None = None
) -> dict[str, Any]:
    """Load one sample's arrays (images as float32 in [0, 1]) and metadata.

    Reads format versions 1 and 2 (:func:`read_raw_sample`).

    Parameters
    ----------
    folder : path-like
        The dataset folder.
    name : str
        The sample's name (``000012``).
    format_version : int, optional
        The dataset's format version; default: from the sample's metadata.

    Returns
    -------
    dict
        ``noisy`` (H, W, 3), ``clean`` (H, W, 3), ``mask`` (H, W) float32;
        ``labels`` (H, W) uint8 class ids (0 = background); ``label_instances``
        (H, W) int32 labelled instance ids (``instances/NAME.png``); ``objects``
        (H, W) int32 every object's id (``objects/NAME.png``; in version 1
        ``instances/NAME.png``); ``instance_map``: the same array as ``objects``
        (its name before version 2); ``classes`` (class id = index + 1);
        ``format_version``; ``meta`` (the JSON record).

    Raises
    ------
    DataError
        A file is missing, unreadable, of the wrong kind or size.
    """
    raw = read_raw_sample(folder, name, format_version=format_version, with_meta=True)
    meta = raw["meta"]
    return {
        "noisy": unit_image(raw["noisy"]),
        "clean": unit_image(raw["clean"]),
        "mask": raw["mask"].astype(np.float32) / 255.0,
        "labels": raw["labels"],
        "label_instances": raw["instances"],
        "objects": raw["objects"],
        "instance_map": raw["objects"],
        "classes": raw["classes"],
        "channels": raw.get("channels", RGB_CHANNELS),
        "bit_depth": raw.get("bit_depth", 8),
        "format_version": raw["format_version"],
        "meta": meta,
    }


def iter_samples(folder: str | os.PathLike[str]) -> Iterable[dict[str, Any]]:
    """Yield every sample of a complete dataset folder (version 1, 2 or 3), in index order."""
    manifest = read_manifest(folder)
    for entry in manifest["samples"]:
        yield load_sample(folder, entry["name"], format_version=manifest["format_version"])
