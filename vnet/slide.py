"""Prediction on whole-slide images: a trained network as a tile predictor for ``synthlang.slides``.

``synthlang.slides`` reads the slide level nearest the model's pixel size, skips background,
cuts tiles, and streams the nuclei it finds to GeoJSON, an overlay and a summary; it calls a
*predictor* on batches of tiles. :func:`tile_predictor` makes one from a network (optionally
with test-time augmentation: the mean over the 8 rotations and flips of every tile), and
:func:`predict_slide_file` runs a checkpoint on one slide.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synthlang.common.errors import DataError
from vnet.hardware import autocast
from vnet.instances import MIN_AREA_UM2

__all__ = [
    "SLIDE_SUFFIXES",
    "is_slide",
    "tile_predictor",
    "predict_slide_file",
]

SLIDE_SUFFIXES = (".svs", ".ndpi", ".scn", ".mrxs", ".bif", ".vms", ".vmu", ".svslide")
"""Whole-slide formats by name; a ``.tif``/``.tiff`` is a slide when it is tiled or pyramidal."""


def is_slide(path: Path) -> bool:
    """Whether ``path`` is a whole-slide image (read tile by tile) rather than a plain image."""
    suffix = path.suffix.lower()
    if suffix in SLIDE_SUFFIXES:
        return True
    if suffix not in (".tif", ".tiff") or not path.is_file():
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            return len(tif.series[0].levels) > 1 or bool(page.is_tiled)
    except (OSError, ValueError, IndexError, tifffile.TiffFileError):
        return False  # read as an image, whose reader reports what is wrong


def tile_predictor(
    model: nn.Module,
    *,
    device: torch.device,
    precision: str = "fp32",
    normalize: Callable[[np.ndarray], np.ndarray] | None = None,
    tta: bool = False,
    scales: Sequence[float] = (1.0,),
) -> Callable[[np.ndarray], np.ndarray]:
    """A predictor for :func:`synthlang.slides.predict_slide`.

    It takes a float32 batch ``(N, h, w, 3)`` in [0, 1], colour-normalises each tile with
    ``normalize``, and returns the mask channels ``(N, K, h, w)`` of the network's last step.

    Parameters
    ----------
    model : torch.nn.Module
        The network, in eval mode on ``device``.
    device : torch.device
        Device of ``model``.
    precision : {"fp32", "bf16"}
        Arithmetic of the network.
    normalize : callable, optional
        Colour normalisation of one ``(h, w, 3)`` tile.
    tta : bool
        Test-time augmentation: run every batch 8 times, turned by 0, 90, 180 and 270
        degrees with and without a left-right flip (:data:`vnet.tta.DIHEDRAL`), and
        return the mean of the outputs turned back; 8 times the network's time.
    scales : sequence of float
        Scale test-time augmentation: also run every batch resampled by each factor other
        than 1 and average the outputs resampled back (:func:`vnet.tta.scale_mean`).

    Returns
    -------
    callable
        ``(N, h, w, 3)`` float32 -> ``(N, K, h, w)`` float32.
    """
    from vnet.tta import dihedral_mean, scale_mean

    k = int(getattr(model, "mask_channels", 1))

    def run(tiles: np.ndarray) -> np.ndarray:
        u0 = torch.from_numpy(np.ascontiguousarray(tiles.transpose(0, 3, 1, 2))).to(device)
        with torch.inference_mode(), autocast(precision, device):
            _, m = model(u0, u0.new_zeros(u0.shape[0], k, *u0.shape[-2:]))
        out = m.float().cpu().numpy()
        if not np.all(np.isfinite(out)):
            raise DataError("the network produced NaN or infinite values; its weights are unusable")
        return out

    def symmetric(tiles: np.ndarray) -> np.ndarray:
        if not tta:
            return run(tiles)
        (mean,) = dihedral_mean(lambda t: (run(t),), tiles, in_axes=(1, 2), out_axes=(2, 3))
        return mean

    def predict(batch: np.ndarray) -> np.ndarray:
        tiles = batch if normalize is None else np.stack([normalize(t) for t in batch])
        if tuple(scales) == (1.0,):
            return symmetric(tiles)
        return scale_mean(symmetric, tiles, scales, in_axes=(1, 2), out_axes=(2, 3))

    return predict


def _normalizer(
    slide: Any, target: Any, method: str, notes: list[str]
) -> Callable[[np.ndarray], np.ndarray] | None:
    """One stain mapping for the whole slide, its stains estimated on its tissue thumbnail.

    ``method`` ``"haematoxylin"`` rescales only the slide's haematoxylin to the target's
    level (:func:`synthlang.colornorm.haematoxylin_normalize`); any other: Macenko.
    """
    from synthlang.colornorm import haematoxylin_normalize, macenko_normalize, macenko_stats
    from synthlang.slides.tissue import thumbnail

    if target is None:
        return None
    by_level = method == "haematoxylin"
    if by_level and target.haematoxylin_level is None:
        notes.append(f"{slide.name}: colours not normalised (no haematoxylin level)")
        return None
    if not by_level and target.macenko is None:
        return None
    image, _ = thumbnail(slide, 8.0)
    try:
        source = macenko_stats(image.astype(np.float32) / 255.0)
    except ValueError as exc:
        notes.append(f"{slide.name}: colours not normalised (no stain estimate: {exc})")
        return None
    if by_level:
        level = float(target.haematoxylin_level)
        return lambda tile: haematoxylin_normalize(tile, level, source)
    return lambda tile: macenko_normalize(tile, target.macenko, source)


def predict_slide_file(
    checkpoint: Path,
    path: Path,
    out: Path,
    *,
    mpp: float | None = None,
    model_mpp: float | None = None,
    region: tuple[int, int, int, int] | None = None,
    workers: int = 1,
    label_mask: bool = False,
    min_area_um2: float = MIN_AREA_UM2,
    normalize: str = "default",
    tta: bool | None = None,
    fill_holes: bool | None = None,
    whole_nuclei: bool | None = None,
    scales: tuple[float, ...] | None = None,
    neighbour_nuclei: bool | None = None,
    device: str = "auto",
    precision: str = "fp32",
    batch: int = 8,
    progress: bool = True,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Run a checkpoint on one slide; write its nuclei, overlay and summary into ``out``.

    ``normalize``: ``"default"`` (what the checkpoint asks for, else Macenko), ``"none"``,
    ``"macenko"`` (one stain mapping for the whole slide, estimated on its tissue thumbnail),
    ``"haematoxylin"`` (its haematoxylin rescaled to the training level, estimated likewise).
    ``min_area_um2``: smaller nuclei are dropped. ``tta``: test-time augmentation
    (:func:`tile_predictor`); None: what the checkpoint stores
    (:func:`vnet.checkpoint.default_tta`), else off. ``fill_holes``: close cracks up to two
    pixels wide and fill holes in each tile's regions (:func:`vnet.instances.fill_regions`);
    None: what the checkpoint stores (:func:`vnet.checkpoint.default_fill_holes`), else off.
    ``whole_nuclei``: then mark the whole of every nucleus (colour deconvolution of each tile)
    that a class covers at least in half (:func:`synthlang.common.regions.complete_nuclei`);
    None: what the checkpoint stores (:func:`vnet.checkpoint.default_whole_nuclei`), else off.
    ``neighbour_nuclei``: then give a class the nuclei of fair probability among its nuclei
    (:func:`synthlang.common.regions.neighbour_nuclei`); None: what the checkpoint stores.
    ``scales``: scale test-time augmentation (:func:`tile_predictor`); None: what the
    checkpoint stores (:func:`vnet.checkpoint.default_scales`), else scale 1 only.

    Returns a record: the files written, the tissue area, nuclei per class, seconds per
    mm² of tissue, the model and slide pixel sizes, whether the colours were normalised
    and whether test-time augmentation was used, the regions filled and the nuclei completed.
    """
    from synthlang.slides.outputs import predict_to_folder
    from synthlang.slides.reader import open_slide
    from vnet.checkpoint import color_stats, predict_defaults, stored_classes, stored_pixel_size
    from vnet.hardware import resolve_device
    from vnet.predict import load_model
    from vnet.tta import check_scales

    flags = {
        "tta": tta,
        "fill_holes": fill_holes,
        "whole_nuclei": whole_nuclei,
        "neighbour_nuclei": neighbour_nuclei,
    }
    for name, flag in flags.items():
        if flag is not None and not isinstance(flag, bool):
            raise ValueError(f"{name} must be True, False or None, got {flag!r}")
    notes = notes if notes is not None else []
    dev = resolve_device(device)
    model, ckpt = load_model(checkpoint, dev)
    channels = int(getattr(getattr(model, "config", None), "in_channels", 3))
    if channels != 3:
        raise DataError(
            f"{checkpoint} takes {channels}-channel images; whole-slide prediction reads RGB "
            "slides (predict tiles or crops of a multi-channel image as TIFFs instead)"
        )
    scale = float(model_mpp or stored_pixel_size(ckpt))
    classes = list(stored_classes(ckpt, checkpoint))
    start = time.perf_counter()
    if scales is not None:
        scales = check_scales(scales)
    method, use_tta, fill, whole, use_scales, near = predict_defaults(
        ckpt, checkpoint, normalize, tta, fill_holes, whole_nuclei, scales, neighbour_nuclei
    )
    if method == "reinhard":
        notes.append(f"{path}: a slide is normalised with one Macenko stain mapping, not Reinhard")
    with open_slide(path, mpp=mpp) as slide:
        target = color_stats(ckpt, checkpoint) if method != "none" else None
        norm = _normalizer(slide, target, method, notes)
        predictor = tile_predictor(
            model, device=dev, precision=precision, normalize=norm, tta=use_tta, scales=use_scales
        )
        tile = max(int(getattr(model, "min_size", 1)), 256)
        result, paths = predict_to_folder(
            slide,
            predictor,
            out,
            class_names=classes,
            label_mask=label_mask,
            model_mpp=scale,
            min_area_um2=min_area_um2,
            fill_holes=fill,
            whole_nuclei=whole,
            neighbour_nuclei=near,
            tile=tile,
            overlap=64,
            batch=batch,
            region=region,
            workers=workers,
            progress=progress and sys.stderr.isatty(),
        )
    seconds = time.perf_counter() - start
    area = float(result.tissue_area_mm2)
    return {
        "input": str(path),
        "files": {k: str(v) for k, v in paths.items()},
        "slide_mpp": slide.mpp,
        "model_mpp": scale,
        "tissue_mm2": area,
        "nuclei": dict(result.counts),
        "seconds": seconds,
        "seconds_per_mm2": seconds / area if area > 0 else None,
        "normalized": norm is not None,
        "tta": use_tta,
        "fill_holes": fill,
        "whole_nuclei": whole,
        "neighbour_nuclei": near,
        "scales": list(use_scales),
    }
