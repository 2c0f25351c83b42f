"""Training data for the networks: sample sources, seeded batches, a toy dataset.

A *sample source* is any picklable callable ``index -> (noisy, clean, mask)`` with
float32 arrays ``(H, W, C)``, ``(H, W, C)`` and ``(H, W)`` in ``[0, 1]`` (``C = 3`` for RGB,
one channel per marker for a scene with ``channels [...]``); with ``K``
classes the mask is ``(H, W, K)``, one one-vs-rest channel per class (:func:`one_hot` of
the class map). A source with classes has a ``classes`` attribute naming them. Two exist:

* :class:`FolderSource` reads a rendered dataset folder (``docs/dataset.md``; the
  class maps ``labels/`` of a format-2 folder whose manifest names ``classes``);
* the CLI builds a scene source that compiles a ``.scene`` file and renders
  sample ``i`` from ``SeedSequence([seed, i])`` (``synthlang.cli.train``),
  so this package never imports the scene grammar.

:class:`TrainingSamples` turns a source into the sequence of training draws. Draw
``k`` (``k = step * batch_size + position``) is fully determined by ``(seed, k)``:
which sample (a seeded permutation per epoch over a fixed set, or sample ``k`` of an
endless stream), where the crop lies and which flip is used. Batches therefore do
not depend on the number of DataLoader workers, and a resumed run sees exactly the
batches it would have seen without the interruption.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from synthlang.common.errors import DataError, SynthlangError
from synthlang.data.stream import one_hot_labels as one_hot

__all__ = [
    "Sample",
    "SampleSource",
    "FolderSource",
    "CachedSource",
    "TrainingSamples",
    "make_loader",
    "write_toy_dataset",
    "read_rgb",
    "read_gray",
    "one_hot",
    "source_classes",
]

Sample = tuple[np.ndarray, np.ndarray, np.ndarray]
SampleSource = Callable[[int], Sample]


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an RGB image as float32 ``(H, W, 3)`` in ``[0, 1]`` (refuses decompression bombs)."""
    from synthlang.common.imageio import read_image

    return read_image(path)


def read_gray(path: str | Path) -> np.ndarray:
    """Read a single-channel image (8 or 16 bit) as float32 ``(H, W)`` in ``[0, 1]``."""
    from synthlang.common.imageio import read_image

    return np.ascontiguousarray(read_image(path, allow_gray=True)[..., 0])


def source_classes(source: Any) -> tuple[str, ...]:
    """The class names a sample source yields targets for (empty: a binary mask)."""
    return tuple(getattr(source, "classes", ()) or ())


class FolderSource:
    """Samples of a complete rendered dataset folder (``docs/dataset.md``).

    A folder of format version 2 whose manifest names two or more ``classes`` yields
    the one-vs-rest targets of its class maps ``labels/NAME.png`` (``(H, W, K)``); any
    other (version 1, one class or none) its binary ``mask/NAME.png`` ``(H, W)``.
    :attr:`classes` are the manifest's class names (none for version 1).

    Parameters
    ----------
    root : str or Path
        The dataset folder.
    n : int, optional
        Use only the first ``n`` samples.

    Raises
    ------
    DataError
        If the folder is missing, is not a dataset, is incomplete (no
        ``manifest.json``, or ``"complete"`` is not true), or lacks a sample's
        files.
    """

    def __init__(self, root: str | Path, n: int | None = None) -> None:
        from synthlang.data.sampleio import read_manifest

        self.root = Path(root)
        manifest = read_manifest(self.root)
        if manifest.get("format") not in (None, "synthlang-dataset"):
            raise DataError(f"{self.root}: not a synthlang dataset (format {manifest['format']!r})")
        samples = manifest.get("samples")
        if not isinstance(samples, list) or not samples:
            raise DataError(f"{self.root / 'manifest.json'}: lists no samples")
        names = [str(s["name"]) for s in samples]
        if n is not None:
            if n > len(names):
                raise DataError(
                    f"{self.root}: asked for {n} samples but the dataset has {len(names)}"
                )
            names = names[:n]
        self.classes = _manifest_classes(manifest, self.root)
        self.channels: tuple[str, ...] = tuple(manifest.get("channels", ("r", "g", "b")))
        self.bit_depth = int(manifest.get("bit_depth", 8))
        self._suffix = ".png" if len(self.channels) == 3 else ".tif"
        target = "labels" if len(self.classes) > 1 else "mask"
        for name in names:
            for sub in ("noisy", "clean", target):
                suffix = self._suffix if sub in ("noisy", "clean") else ".png"
                path = self.root / sub / f"{name}{suffix}"
                if not path.is_file():
                    raise DataError(f"{self.root}: incomplete dataset, {path} is missing")
        self.names = names
        self.scene = manifest.get("scene")
        raw = (self.root / "manifest.json").read_bytes()
        self.manifest_hash = hashlib.sha256(raw).hexdigest()
        self.size = tuple(manifest.get("size", ()))

    def __len__(self) -> int:
        return len(self.names)

    def __call__(self, index: int) -> Sample:
        """Return ``(noisy, clean, mask)`` of sample ``index`` (0-based).

        ``mask`` is ``(H, W)``, or ``(H, W, K)`` for a folder with ``K >= 2`` classes.
        """
        name = self.names[index]
        noisy = self._image("noisy", name)
        clean = self._image("clean", name)
        if len(self.classes) > 1:
            from synthlang.common.imageio import read_label_image

            path = self.root / "labels" / f"{name}.png"
            try:
                mask = one_hot(read_label_image(path), len(self.classes))
            except DataError as exc:
                raise DataError(f"{path}: {exc}") from None
        else:
            mask = read_gray(self.root / "mask" / f"{name}.png")
        if noisy.shape != clean.shape or noisy.shape[:2] != mask.shape[:2]:
            raise DataError(
                f"{self.root}: sample {name} has mismatched sizes "
                f"(noisy {noisy.shape}, clean {clean.shape}, mask {mask.shape})"
            )
        return noisy, clean, mask

    def _image(self, sub: str, name: str) -> np.ndarray:
        """A noisy or clean image: 8-bit RGB PNG, or (16 bit, channels) a version-3 file."""
        path = self.root / sub / f"{name}{self._suffix}"
        if self.channels == ("r", "g", "b") and self.bit_depth == 8:
            return read_rgb(path)
        from synthlang.data.imagefiles import read_image_file, unit_image

        return unit_image(read_image_file(path, len(self.channels), self.bit_depth))

    def info(self) -> dict[str, Any]:
        """Identification stored in checkpoints (``classes`` for a folder with classes).

        ``channels`` names the image channels when they are not RGB.
        """
        info: dict[str, Any] = {
            "kind": "folder",
            "path": str(self.root),
            "scene": self.scene,
            "hash": self.manifest_hash,
            "n": len(self),
        }
        if self.classes:
            info["classes"] = list(self.classes)
        if self.channels != ("r", "g", "b"):
            info["channels"] = list(self.channels)
        return info


def _manifest_classes(manifest: dict[str, Any], root: Path) -> tuple[str, ...]:
    """The class names of a format-2 dataset manifest (empty: a binary dataset)."""
    from vnet.config import MAX_CLASSES

    if manifest.get("format_version", 1) == 1:
        return ()  # the binary mask (synthlang.data.sampleio reads it as the one class "mask")
    classes = manifest.get("classes")
    if classes is None or classes == []:
        return ()
    ok = isinstance(classes, list) and all(isinstance(c, str) and c for c in classes)
    if not ok or len(set(classes)) != len(classes) or len(classes) > MAX_CLASSES:
        raise DataError(
            f"{root / 'manifest.json'}: 'classes' must list up to {MAX_CLASSES} distinct "
            f"class names, got {str(classes)[:80]}"
        )
    return tuple(classes)


class CachedSource:
    """Wrap a source with a per-process cache (for a fixed set rendered on the fly).

    Samples are kept as float16 (``max_items`` of them, least recently used
    evicted). Each DataLoader worker holds its own cache.

    Parameters
    ----------
    source : callable
        The wrapped sample source.
    max_items : int
        Capacity of the cache.
    """

    def __init__(self, source: SampleSource, max_items: int) -> None:
        self.source = source
        self.max_items = max_items
        self.classes = source_classes(source)
        self._cache: OrderedDict[int, tuple[np.ndarray, ...]] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source, "max_items": self.max_items}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.source = state["source"]
        self.max_items = state["max_items"]
        self.classes = source_classes(self.source)
        self._cache = OrderedDict()

    def __call__(self, index: int) -> Sample:
        """Return sample ``index``, from the cache when present."""
        hit = self._cache.get(index)
        if hit is None:
            hit = tuple(np.asarray(a, dtype=np.float16) for a in self.source(index))
            self._cache[index] = hit
            if len(self._cache) > self.max_items:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(index)
        noisy, clean, mask = (a.astype(np.float32) for a in hit)
        return noisy, clean, mask


def _epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng(np.random.SeedSequence([seed, 1, epoch])).permutation(n)


class TrainingSamples(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Map-style dataset over training draws ``k = 0, 1, 2, ...``.

    Parameters
    ----------
    source : callable
        ``index -> (noisy, clean, mask)``.
    n : int or None
        Size of the fixed set (indices ``0..n-1`` visited in a seeded permutation
        per epoch) or ``None`` for an endless stream (draw ``k`` is sample ``k``).
    seed : int
        Seed of the permutations, crops and flips.
    crop : int or None
        Side of the random square crop (``None``: whole image).
    flips : bool
        Random flips (and a transpose for square images).
    total : int
        Number of draws the dataset reports (``iterations * batch_size``).
    """

    def __init__(
        self,
        source: SampleSource,
        n: int | None,
        *,
        seed: int,
        crop: int | None,
        flips: bool,
        total: int,
    ) -> None:
        self.source = source
        self.n = n
        self.seed = seed
        self.crop = crop
        self.flips = flips
        self.total = total
        self._perm: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.total

    def sample_index(self, k: int) -> int:
        """Index of the sample used by draw ``k``."""
        if self.n is None:
            return k
        epoch, pos = divmod(k, self.n)
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, _epoch_permutation(self.seed, epoch, self.n))
        return int(self._perm[1][pos])

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return draw ``k`` as ``(u0 (C, h, w), g_u (C, h, w), g_m (K, h, w))`` tensors."""
        noisy, clean, mask = self.source(self.sample_index(k))
        channels = int(np.shape(noisy)[2])
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 2, k]))
        target = np.asarray(mask, np.float32)
        stack = np.concatenate(
            [
                np.asarray(noisy, np.float32),
                np.asarray(clean, np.float32),
                target[..., None] if target.ndim == 2 else target,
            ],
            axis=2,
        )
        h, w = stack.shape[:2]
        if self.crop is not None:
            if self.crop > h or self.crop > w:
                raise DataError(
                    f"crop {self.crop} is larger than the training images ({h} x {w}); "
                    "use a smaller --crop"
                )
            r = int(rng.integers(0, h - self.crop + 1))
            c = int(rng.integers(0, w - self.crop + 1))
            stack = stack[r : r + self.crop, c : c + self.crop]
        if self.flips:
            code = int(rng.integers(0, 8))
            if code & 1:
                stack = stack[::-1]
            if code & 2:
                stack = stack[:, ::-1]
            if code & 4 and stack.shape[0] == stack.shape[1]:
                stack = stack.transpose(1, 0, 2)
        t = torch.from_numpy(np.ascontiguousarray(stack.transpose(2, 0, 1)))
        return t[:channels], t[channels : 2 * channels], t[2 * channels :]


class _ShardDraws(Sequence[int]):
    """Draw indices of positions ``start..stop`` of every global batch from ``first_step`` on."""

    def __init__(self, total: int, batch_size: int, first_step: int, start: int, stop: int) -> None:
        self.batch_size, self.first_step = batch_size, first_step
        self.start, self.width = start, stop - start
        self.steps = max(0, -(-total // batch_size) - first_step)

    def __len__(self) -> int:
        return self.steps * self.width

    def __getitem__(self, i: int) -> int:  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        step, j = divmod(i, self.width)
        return (self.first_step + step) * self.batch_size + self.start + j


class _Guarded(Dataset[Any]):
    """Return a draw's :class:`SynthlangError` instead of raising it.

    A DataLoader worker turns an exception into a new one whose message is the
    worker's traceback; returning the (picklable) error and raising it in the
    training loop keeps the user's message as it is.
    """

    def __init__(self, samples: TrainingSamples) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, k: int) -> Any:
        try:
            return self.samples[k]
        except SynthlangError as exc:
            return exc


def _collate(items: list[Any]) -> Any:
    for item in items:
        if isinstance(item, SynthlangError):
            return item
    return default_collate(items)


def make_loader(
    samples: TrainingSamples,
    batch_size: int,
    start_step: int,
    workers: int,
    *,
    shard: tuple[int, int] | None = None,
) -> DataLoader[Any]:
    """DataLoader yielding the batches of steps ``start_step + 1, ...`` in order.

    Step ``s`` (1-based) uses draws ``(s - 1) * batch_size ... s * batch_size - 1``.
    With ``shard=(start, stop)`` (distributed training, see
    :func:`vnet.distributed.local_slice`) only positions ``start..stop-1`` of every
    batch are loaded. A :class:`~synthlang.common.errors.SynthlangError` raised while loading
    a draw (a damaged image, even in a worker process) is yielded in place of the
    batch, with its message intact; the training loop raises it. The loader draws
    its base seed from a private generator, never from torch's global one.
    """
    first = start_step * batch_size
    lo, hi = shard if shard is not None else (0, batch_size)
    if shard is None:
        indices: Sequence[int] = range(first, max(first, len(samples)))
    else:
        indices = _ShardDraws(len(samples), batch_size, start_step, lo, hi)
    return DataLoader(
        _Guarded(samples),
        batch_size=hi - lo,
        sampler=indices,  # type: ignore[arg-type]
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        drop_last=False,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(0),
    )


# --------------------------------------------------------------------- toy dataset


def _toy_sample(
    size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict[str, int | str]]]:
    """Random discs: red ones are the target class, green ones are distractors."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    clean = np.empty((size, size, 3), np.float32)
    clean[...] = np.array([0.92, 0.85, 0.88], np.float32)  # pale background
    inst = np.zeros((size, size), np.int32)
    mask = np.zeros((size, size), np.float32)
    instances = []
    n_obj = int(rng.integers(6, 12)) * max(1, (size * size) // (64 * 64))
    for i in range(1, n_obj + 1):
        target = bool(rng.random() < 0.5)
        r0, c0 = rng.uniform(0, size, 2)
        rad = rng.uniform(3.0, 7.0)
        disc = (rows - r0) ** 2 + (cols - c0) ** 2 <= rad**2
        colour = [0.75, 0.2, 0.3] if target else [0.3, 0.6, 0.35]
        clean[disc] = np.asarray(colour, np.float32) + rng.normal(0, 0.03, 3).astype(np.float32)
        inst[disc] = i
        mask[disc] = 1.0 if target else 0.0
        instances.append(
            {"id": i, "category": "target" if target else "other", "classified": target}
        )
    clean = np.clip(clean, 0, 1)
    noisy = np.clip(clean + rng.normal(0, 0.08, clean.shape).astype(np.float32), 0, 1)
    return noisy, clean, mask, inst, instances


TOY_CLASSES = ("target", "other")
"""The classes of a toy dataset written with ``classes=True`` (red and green discs)."""


def write_toy_dataset(
    root: str | Path, n: int, size: int = 64, seed: int = 0, *, classes: bool = False
) -> Path:
    """Write a small synthetic dataset folder in the ``docs/dataset.md`` format.

    Discs on a pale background with Gaussian noise; red discs are the mask, green
    ones are distractors. For tests, demos and smoke runs without a scene engine.
    With ``classes=True`` the folder has format version 2: both kinds of discs are
    classes (:data:`TOY_CLASSES`, class ids 1 and 2 in ``labels/NAME.png``), the
    manifest names them, ``mask/`` is their union and every disc is a labelled instance.

    Parameters
    ----------
    root : str or Path
        Folder to create.
    n : int
        Number of samples.
    size : int
        Side of the square images.
    seed : int
        Sample ``i`` uses ``SeedSequence([seed, i])``.
    classes : bool
        Write the two classes (format version 2) instead of the binary mask only.

    Returns
    -------
    Path
        ``root``.
    """
    from PIL import Image

    root = Path(root)
    for sub in ("noisy", "clean", "mask", "instances", *(("labels",) if classes else ())):
        (root / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        noisy, clean, mask, inst, instances = _toy_sample(size, rng)
        name = f"{i:06d}"
        if classes:
            labels = np.where(inst > 0, 2 - mask.astype(np.uint8), 0).astype(np.uint8)
            Image.fromarray(labels).save(root / "labels" / f"{name}.png")
            mask = (labels > 0).astype(np.float32)
        Image.fromarray(np.round(noisy * 255).astype(np.uint8)).save(root / "noisy" / f"{name}.png")
        Image.fromarray(np.round(clean * 255).astype(np.uint8)).save(root / "clean" / f"{name}.png")
        Image.fromarray(np.round(mask * 255).astype(np.uint8)).save(root / "mask" / f"{name}.png")
        Image.fromarray(inst.astype(np.uint16)).save(root / "instances" / f"{name}.png")
        meta = {
            "index": i,
            "seed": [seed, i],
            "size": [size, size],
            "categories": ["background", "target", "other"],
            "instances": instances,
        }
        (root / "instances" / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")
        entries.append(
            {"index": i, "name": name, "seed": [seed, i], "counts": {}, "shortfalls": []}
        )
    manifest: dict[str, Any] = {
        "format": "synthlang-dataset",
        "format_version": 2 if classes else 1,
        "scene": "toy",
        "scene_file": None,
        "scene_hash": "toy",
        "seed": seed,
        "n": n,
        "size": [size, size],
        "categories": ["background", "target", "other"],
        "complete": True,
        "samples": entries,
        "shortfalls": {},
    }
    if classes:
        manifest["classes"] = list(TOY_CLASSES)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return root
