"""Apply a trained network to images of any size.

Large images are cut into overlapping tiles. Every tile is run with ``margin``
extra pixels of context on each side (cropped away afterwards, so tile borders do
not see the symmetric padding of the network), and overlapping tiles are blended
with weights that ramp linearly over the overlap. Images smaller than the network's
minimum size are mirrored up to it and cropped back. Before that, every input is
colour-normalised (:mod:`synthlang.colornorm`) to the colour statistics of the training
inputs that the checkpoint stores, or to a reference image (:class:`PredictOptions`).

Outputs per input ``NAME.ext`` (:func:`predict_files`)::

    NAME_denoised.png   u_T, 8-bit RGB
    NAME_prob.png       m_T, the mask probability, 16-bit gray (value / 65535)
    NAME_mask.png       m_T >= threshold, 8-bit gray (0 / 255)
    NAME_overlay.png    the input with the mask tinted red and its outline in yellow
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synthlang.common.errors import DataError
from vnet.checkpoint import check_state_dict, load_checkpoint, stored_model_config
from vnet.hardware import PRECISIONS, autocast, check_precision, resolve_device
from vnet.networks import build_model

MAX_TILE = 4096
"""Largest ``--tile``: one pass of the paper's network over 4096 x 4096 pixels needs GBs."""
MAX_MARGIN = 512
"""Largest ``--margin`` (context around each tile)."""

__all__ = [
    "MAX_TILE",
    "MAX_MARGIN",
    "PredictOptions",
    "load_model",
    "predict_array",
    "tile_starts",
    "overlay",
    "predict_files",
]


@dataclass(frozen=True)
class PredictOptions:
    """Options of :func:`predict_files`.

    Parameters
    ----------
    tile : int
        Tile side (8 to :data:`MAX_TILE`); images up to ``tile x tile`` are
        processed whole.
    overlap : int
        Overlap of neighbouring tiles (blended), ``0 <= overlap < tile``.
    margin : int
        Extra context around each tile (at most :data:`MAX_MARGIN`), discarded
        after the pass.
    threshold : float
        Mask threshold on ``m_T`` (paper: 1/2).
    device : {"auto", "cpu", "cuda"}
        Where to run the network.
    reference : Path, optional
        Colour-normalise every input to this image's statistics instead of the
        checkpoint's (the paper does so for H&E, Scenarios 2 and 3).
    normalize : {"macenko", "reinhard", "none"}
        Colour normalisation of every input (:mod:`synthlang.colornorm`) to the
        statistics of the training inputs stored in the checkpoint (or to
        ``reference``); default :data:`synthlang.colornorm.DEFAULT_METHOD`.
        A checkpoint without statistics and no ``reference``: no normalisation.
    precision : {"fp32", "bf16"}
        Arithmetic of the network (:func:`vnet.hardware.check_precision`).
    """

    tile: int = 512
    overlap: int = 32
    margin: int = 32
    threshold: float = 0.5
    device: str = "auto"
    reference: Path | None = None
    normalize: str = "default"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        from synthlang.colornorm import DEFAULT_METHOD, METHODS

        # "default": the checkpoint's stored choice, else DEFAULT_METHOD (resolved at load)
        if self.normalize == "default" and self.reference is not None:
            object.__setattr__(self, "normalize", DEFAULT_METHOD)
        if self.normalize not in (*METHODS, "none", "default"):
            raise ValueError(f"normalize must be one of {(*METHODS, 'none')}, got {self.normalize}")
        if self.normalize == "none" and self.reference is not None:
            raise ValueError("a reference image needs colour normalisation (normalize != 'none')")
        if not 8 <= self.tile <= MAX_TILE:
            raise ValueError(f"tile must be in [8, {MAX_TILE}], got {self.tile}")
        if not 0 <= self.overlap < self.tile:
            raise ValueError(f"overlap must be in [0, tile), got {self.overlap}")
        if not 0 <= self.margin <= MAX_MARGIN:
            raise ValueError(f"margin must be in [0, {MAX_MARGIN}], got {self.margin}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a network from a checkpoint.

    The checkpoint is read and validated by :func:`vnet.checkpoint.load_checkpoint`
    (size limit, ``weights_only=True``, configuration ranges) before the network is
    built, and the stored tensors' names and shapes are compared with the network
    before they are loaded.

    Returns
    -------
    (torch.nn.Module, dict)
        The network in eval mode on ``device`` and the checkpoint dict.

    Raises
    ------
    DataError
        If the file is not a usable checkpoint, or its network does not take RGB
        images.
    """
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    ckpt = load_checkpoint(path, map_location="cpu")
    config = stored_model_config(ckpt, path)
    if config.in_channels != 3:
        raise DataError(
            f"{path}: the network takes {config.in_channels}-channel images; "
            "predict reads RGB images"
        )
    model = build_model(str(ckpt["model_kind"]), config)
    check_state_dict(model, ckpt["model_state"], path)
    try:
        model.load_state_dict(ckpt["model_state"])
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise DataError(f"{path}: checkpoint does not match its model ({exc})") from None
    return model.to(dev).eval(), ckpt


def tile_starts(n: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``0..n`` with ``overlap``.

    Examples
    --------
    >>> tile_starts(100, 512, 32)
    [0]
    >>> tile_starts(1000, 512, 32)
    [0, 480, 488]
    """
    if n <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, n - tile, stride))
    starts.append(n - tile)
    return starts


def _ramp(n: int, overlap: int) -> np.ndarray:
    i = np.arange(n, dtype=np.float64)
    r = np.minimum(i + 1, n - i) / (overlap + 1)
    return np.clip(r, 1.0 / (overlap + 1), 1.0)


@torch.no_grad()
def _run(
    model: nn.Module, patch: np.ndarray, device: torch.device, precision: str = "fp32"
) -> tuple[np.ndarray, ...]:
    """Run the network on one ``(h, w, 3)`` patch, mirroring it up to the minimum size."""
    h, w = patch.shape[:2]
    need = int(getattr(model, "min_size", 1))
    ph, pw = max(0, need - h), max(0, need - w)
    if ph or pw:
        patch = np.pad(patch, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
    u0 = torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1)))[None].to(device)
    with autocast(precision, device):
        u, m = model(u0, torch.zeros_like(u0[:, :1]))
    if not (bool(torch.isfinite(u).all()) and bool(torch.isfinite(m).all())):
        raise DataError(
            "the network produced NaN or infinite values; its weights are unusable "
            "(a damaged checkpoint, or one not projected onto the constraint set)"
        )
    u_np = u[0].float().cpu().numpy().transpose(1, 2, 0)[:h, :w]
    m_np = m[0, 0].float().cpu().numpy()[:h, :w]
    return u_np, m_np


def predict_array(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile: int = 512,
    overlap: int = 32,
    margin: int = 32,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> tuple[np.ndarray, np.ndarray]:
    """Denoise and segment one image of any size.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~vnet.model.CoupledVN` or :class:`~vnet.unet.UNet`.
    image : numpy.ndarray
        ``(H, W, 3)`` float in ``[0, 1]``.
    tile, overlap, margin : int
        Tiling (see :class:`PredictOptions`).
    device : str or torch.device
        Device of ``model``.
    precision : {"fp32", "bf16"}
        Arithmetic of the network (bf16: autocast).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``u_T`` ``(H, W, 3)`` and ``m_T`` ``(H, W)``, float32 in ``[0, 1]``.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {img.shape}")
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    h, w = img.shape[:2]
    if h <= tile and w <= tile:
        u, m = _run(model, img, dev, precision)
        return u.astype(np.float32), m.astype(np.float32)
    acc_u = np.zeros((h, w, 3), np.float64)
    acc_m = np.zeros((h, w), np.float64)
    acc_w = np.zeros((h, w), np.float64)
    for r in tile_starts(h, tile, overlap):
        for c in tile_starts(w, tile, overlap):
            th, tw = min(tile, h - r), min(tile, w - c)
            r0, c0 = max(0, r - margin), max(0, c - margin)
            r1, c1 = min(h, r + th + margin), min(w, c + tw + margin)
            u, m = _run(model, img[r0:r1, c0:c1], dev, precision)
            u = u[r - r0 : r - r0 + th, c - c0 : c - c0 + tw]
            m = m[r - r0 : r - r0 + th, c - c0 : c - c0 + tw]
            wt = np.outer(_ramp(th, overlap), _ramp(tw, overlap))
            acc_u[r : r + th, c : c + tw] += u * wt[..., None]
            acc_m[r : r + th, c : c + tw] += m * wt
            acc_w[r : r + th, c : c + tw] += wt
    u_out = (acc_u / acc_w[..., None]).astype(np.float32)
    m_out = (acc_m / acc_w).astype(np.float32)
    return u_out, m_out


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Tint the mask red on ``image`` and draw its outline in yellow.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` float in ``[0, 1]``.
    mask : numpy.ndarray
        ``(H, W)`` bool.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` float32.
    """
    from scipy import ndimage as ndi

    out = np.asarray(image, np.float32).copy()
    mk = np.asarray(mask, bool)
    red = np.array([1.0, 0.0, 0.0], np.float32)
    out[mk] = 0.55 * out[mk] + 0.45 * red
    edge = mk & ~ndi.binary_erosion(mk, structure=np.ones((3, 3), bool), border_value=1)
    out[edge] = np.array([1.0, 1.0, 0.0], np.float32)
    return out


def _unique_names(images: Sequence[Path]) -> list[str]:
    names = [p.stem for p in images]
    seen: dict[str, Path] = {}
    for p, n in zip(images, names, strict=True):
        if n in seen:
            raise DataError(
                f"two inputs would write the same outputs {n}_*.png: {seen[n]} and {p}; "
                "rename one or predict them into different folders"
            )
        seen[n] = p
    return names


def predict_files(
    checkpoint: str | Path,
    images: Sequence[str | Path],
    out: str | Path,
    options: PredictOptions | None = None,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Predict every image and write the four PNGs per image into ``out``.

    Parameters
    ----------
    checkpoint : str or Path
        A checkpoint written by ``synthlang train``.
    images : sequence of str or Path
        Input images (read with :func:`synthlang.common.imageio.read_image`, which
        refuses decompression bombs and corrupt files).
    out : str or Path
        Output folder (created).
    options : PredictOptions, optional
        Tiling, threshold, device, colour normalisation.
    notes : list of str, optional
        Receives one line for the user when the inputs are not colour-normalised
        because the checkpoint stores no colour statistics.

    Returns
    -------
    list of dict
        Per image: ``name``, ``input``, ``size``, ``mask_fraction``, the written
        ``files`` and ``normalization`` (``method``, as done, and ``target``: what
        the colours were mapped to, or None).
    """
    from synthlang.common.imageio import read_image

    opts = options if options is not None else PredictOptions()
    paths = [Path(p) for p in images]
    names = _checked_inputs(paths)
    device = resolve_device(opts.device)
    check_precision(opts.precision, device)
    model, ckpt = load_model(checkpoint, device)
    opts = _resolve_normalize(opts, checkpoint, ckpt)
    target, target_name = _normalization_target(checkpoint, ckpt, opts, notes)
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {out_dir}: {exc.strerror}") from None
    records = []
    for path, name in zip(paths, names, strict=True):
        image = read_image(path)
        method = "none"
        if target is not None:
            from synthlang.colornorm import normalize

            image, method = normalize(image, target, opts.normalize)
        u, m = predict_array(
            model,
            image,
            tile=opts.tile,
            overlap=opts.overlap,
            margin=opts.margin,
            device=device,
            precision=opts.precision,
        )
        mask = m >= opts.threshold
        files = _write_outputs(out_dir, name, image, u, m, mask)
        records.append(
            {
                "name": name,
                "input": str(path),
                "size": [int(image.shape[0]), int(image.shape[1])],
                "mask_fraction": float(mask.mean()),
                "files": {k: str(v) for k, v in files.items()},
                "normalization": {"method": method, "target": target_name},
            }
        )
    return records


def _checked_inputs(paths: Sequence[Path]) -> list[str]:
    """The output names of the input images, which must exist and not share a name."""
    if not paths:
        raise DataError("no input images given")
    names = _unique_names(paths)
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p}: no such image file")
    return names


def _write_outputs(
    out_dir: Path, name: str, image: np.ndarray, u: np.ndarray, m: np.ndarray, mask: np.ndarray
) -> dict[str, Path]:
    """Write ``NAME_{denoised,prob,mask,overlay}.png``; return the files by kind."""
    from synthlang.common.imageio import write_png

    outputs = {
        "denoised": np.clip(u, 0.0, 1.0),
        "prob": np.round(np.clip(m, 0.0, 1.0) * 65535.0).astype(np.uint16),
        "mask": mask.astype(np.uint8) * np.uint8(255),
        "overlay": overlay(image, mask),
    }
    files = {kind: out_dir / f"{name}_{kind}.png" for kind in outputs}
    for kind, array in outputs.items():
        try:
            write_png(files[kind], array)
        except OSError as exc:
            reason = "no space left on device" if exc.errno == errno.ENOSPC else exc.strerror
            raise DataError(f"cannot write {files[kind]}: {reason or exc}") from None
    return files


def _resolve_normalize(
    opts: PredictOptions, checkpoint: str | Path, ckpt: dict[str, Any]
) -> PredictOptions:
    """Replace ``normalize="default"`` by the checkpoint's choice (or the library default)."""
    if opts.normalize != "default":
        return opts
    from synthlang.colornorm import DEFAULT_METHOD
    from vnet.checkpoint import default_normalize

    return dataclasses.replace(
        opts, normalize=default_normalize(ckpt, checkpoint) or DEFAULT_METHOD
    )


def _normalization_target(
    checkpoint: str | Path,
    ckpt: dict[str, Any],
    opts: PredictOptions,
    notes: list[str] | None,
) -> tuple[Any, str | None]:
    """The colour statistics to normalise to (None: no normalisation) and their name."""
    if opts.normalize == "none":
        return None, None
    if opts.reference is not None:
        from synthlang.colornorm import color_stats
        from synthlang.common.imageio import read_image

        ref = read_image(opts.reference, notes=notes)
        return color_stats([ref], origin=str(opts.reference)), f"reference {opts.reference}"
    from vnet.checkpoint import color_stats as stored_color_stats

    stats = stored_color_stats(ckpt, checkpoint)
    if stats is None:
        if notes is not None:
            notes.append(
                f"{checkpoint} stores no colour statistics of its training data (written "
                "before synthlang stored them): the inputs are not colour-normalised; "
                "give --reference IMG to normalise them to an image"
            )
        return None, None
    return stats, "checkpoint training inputs"
