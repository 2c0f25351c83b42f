"""Apply a trained network to images of any size.

Large images are cut into overlapping tiles. Every tile is run with ``margin``
extra pixels of context on each side (cropped away afterwards, so tile borders do
not see the symmetric padding of the network), and overlapping tiles are blended
with weights that ramp linearly over the overlap. Images smaller than the network's
minimum size are mirrored up to it and cropped back. Before that, every input is
colour-normalised (:mod:`synthlang.colornorm`) to the colour statistics of the training
inputs that the checkpoint stores, or to a reference image (:class:`PredictOptions`).
A network trained on images that are not RGB (``channels [...]`` scenes) reads TIFFs (or
PNGs) with its channel count and is not colour-normalised. With test-time augmentation
(``tta``, or the checkpoint's ``source["tta"]``) every tile is run 8 times, rotated by
0, 90, 180 and 270 degrees with and without a left-right flip, and the outputs, turned
back, are averaged (:func:`predict_array`); with ``scales`` (or ``source["scales"]``) the
mask probabilities are also averaged over copies of every tile resampled by each factor.

Outputs per input ``NAME.ext`` (:func:`predict_files`) of a network with ``K`` mask
channels (classes; ``K = 1``: a binary network)::

    NAME_denoised.png   u_T, 8-bit RGB (NAME_denoised.tif, 16 bit, for a network whose inputs
                        are not RGB: one channel per marker)
    NAME_prob.png       m_T, the mask probability, 16-bit gray (value / 65535); K > 1: the
                        largest class probability of each pixel
    NAME_prob_K.png     K > 1 only: the probability of class id K (1 .. K), 16-bit gray
    NAME_mask.png       pixels of any class, 8-bit gray (0 / 255); K = 1: m_T >= threshold;
                        with fill_holes, each class's cracks up to two pixels wide closed and
                        holes filled (vnet.instances.fill_regions, --fill-holes); with
                        whole_nuclei, every nucleus found by colour deconvolution that a class
                        covers at least in half made whole (--whole-nuclei); with
                        neighbour_nuclei, every such nucleus of mean probability >= 0.25
                        with two marked nuclei within 15 um added (--neighbour-nuclei); in
                        every output below, regions of a class smaller than min_area_um2 are
                        background (vnet.instances.remove_small_regions, --min-area)
    NAME_labels.png     the class map, 8-bit gray: argmax_k m_k + 1 where max_k m_k >=
                        threshold, else 0 (vnet.instances.label_map)
    NAME_instances.png  nucleus instances, 16-bit gray (0 = none): each class's connected
                        components split by a distance-transform watershed
                        (vnet.instances.split_instances, --min-distance)
    NAME_overlay.png    the input with the mask tinted red and its outline in yellow; K > 1:
                        each class in its colour, instance outlines in yellow (inputs that are
                        not RGB are shown in false colour, synthlang.common.channelio)
    NAME.geojson        with --geojson: a QuPath FeatureCollection, one detection per
                        instance with its class name and mean class probability

and ``predict.json``: the class names (class id ``k`` is ``classes[k - 1]``), the settings
(``tta``: whether test-time augmentation was used, among them) and the records of the
images. For ``K = 1`` the first four are the same bytes as before the class map existed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from synthlang.common.errors import DataError
from synthlang.common.regions import NEIGHBOUR_DISTANCE_UM, complete_nuclei, neighbour_nuclei
from synthlang.common.resample import resample, scaled_shape
from vnet.checkpoint import (
    check_state_dict,
    load_checkpoint,
    predict_defaults,
    stored_classes,
    stored_model_config,
    stored_pixel_size,
)
from vnet.hardware import PRECISIONS, autocast, check_precision, resolve_device
from vnet.instances import (
    MIN_AREA_UM2,
    MIN_DISTANCE,
    fill_regions,
    label_map,
    remove_small_regions,
    split_instances,
)
from vnet.networks import build_model
from vnet.predict_outputs import reason, write_geojson, write_outputs
from vnet.rescale import scale_factor, to_grid
from vnet.tta import check_scales, dihedral_mean, scale_mean

MAX_TILE = 4096
"""Largest ``--tile``: one pass of the paper's network over 4096 x 4096 pixels needs GBs."""
MAX_MARGIN = 512
"""Largest ``--margin`` (context around each tile)."""
MAX_MIN_DISTANCE = 1000
"""Largest ``--min-distance`` of the instance split."""
MAX_MIN_AREA_UM2 = 10000.0
"""Largest ``--min-area`` (square micrometres; a nucleus is far smaller)."""
SUMMARY_NAME = "predict.json"
"""The file in the output folder naming the classes of the predicted class maps."""

__all__ = [
    "MAX_TILE",
    "MAX_MARGIN",
    "MAX_MIN_DISTANCE",
    "MAX_MIN_AREA_UM2",
    "SUMMARY_NAME",
    "PredictOptions",
    "load_model",
    "predict_array",
    "tile_starts",
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
    normalize : {"macenko", "reinhard", "haematoxylin", "none"}
        Colour normalisation of every input (:mod:`synthlang.colornorm`) to the
        statistics of the training inputs stored in the checkpoint (or to
        ``reference``); default :data:`synthlang.colornorm.DEFAULT_METHOD`.
        A checkpoint without statistics and no ``reference``: no normalisation.
    precision : {"fp32", "bf16"}
        Arithmetic of the network (:func:`vnet.hardware.check_precision`).
    min_distance : int
        Least distance in pixels between two watershed markers of the instance split
        (:func:`vnet.instances.split_instances`; default suits 20x).
    min_area_um2 : float
        Connected regions of a class smaller than this many square micrometres
        (at the model's pixel size, stored in the checkpoint, else 0.5 um) are
        background in the mask, class map, instances and GeoJSON (0: keep all;
        default :data:`vnet.instances.MIN_AREA_UM2`, as for whole slides).
    geojson : bool
        Also write ``NAME.geojson`` (QuPath detections of the instances).
    tta : bool or None
        Test-time augmentation: average every tile's outputs over the 8 rotations and
        flips of its input (:func:`predict_array`; 8 network passes per tile). None: what
        the checkpoint stores (``source["tta"]``, :func:`vnet.checkpoint.default_tta`),
        else False; :func:`predict_files` resolves it when it loads the checkpoint.
    fill_holes : bool or None
        Close cracks up to two pixels wide and fill holes in each class's regions before the
        small ones are dropped (:func:`vnet.instances.fill_regions`). None: what the
        checkpoint stores (``source["fill_holes"]``, :func:`vnet.checkpoint.default_fill_holes`),
        else False.
    whole_nuclei : bool or None
        Then extend each class over the whole of every nucleus that it covers at least in
        half (:func:`synthlang.common.regions.complete_nuclei`), the nuclei being found in the
        input as given by colour deconvolution (:func:`synthlang.nuclei.segment_nuclei`; RGB
        inputs only). None: what the checkpoint stores (``source["whole_nuclei"]``,
        :func:`vnet.checkpoint.default_whole_nuclei`), else False.
    neighbour_nuclei : bool or None
        Then give a class every nucleus (found as for ``whole_nuclei``) of mean probability
        at least :data:`~synthlang.common.regions.NEIGHBOUR_PROBABILITY` of it that has
        :data:`~synthlang.common.regions.NEIGHBOUR_COUNT` nuclei of that class within
        :data:`~synthlang.common.regions.NEIGHBOUR_DISTANCE_UM` of its centre
        (:func:`synthlang.common.regions.neighbour_nuclei`). None: what the checkpoint
        stores (``source["neighbour_nuclei"]``), else False.
    mpp : float, optional
        Pixel size of the input images in micrometres. When it differs from the model's,
        every input is resampled onto the model's grid, predicted there, and its outputs
        are resampled back onto the input's grid (:mod:`vnet.rescale`). None: the inputs
        are taken to be at the model's pixel size.
    model_mpp : float, optional
        Pixel size the model was trained at (default: stored in the checkpoint, else 0.5);
        also the scale of ``min_area_um2`` and of the nucleus segmentation.
    scales : tuple of float or None
        Scale test-time augmentation: the mask probabilities are the mean of the network's
        on the input (on the model's grid) and on copies of it resampled by each other
        factor (``(1.0, 0.9)``: nuclei a tenth smaller; :func:`vnet.tta.scale_mean`), 1
        included, in [0.5, 2]. None: what the checkpoint stores (``source["scales"]``,
        :func:`vnet.checkpoint.default_scales`), else ``(1.0,)``.
    """

    tile: int = 512
    overlap: int = 32
    margin: int = 32
    threshold: float = 0.5
    device: str = "auto"
    reference: Path | None = None
    normalize: str = "default"
    precision: str = "fp32"
    min_distance: int = MIN_DISTANCE
    min_area_um2: float = MIN_AREA_UM2
    geojson: bool = False
    tta: bool | None = None
    fill_holes: bool | None = None
    whole_nuclei: bool | None = None
    neighbour_nuclei: bool | None = None
    mpp: float | None = None
    model_mpp: float | None = None
    scales: tuple[float, ...] | None = None

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
        if not 0.0 <= self.min_area_um2 <= MAX_MIN_AREA_UM2:
            raise ValueError(
                f"min_area_um2 must be in [0, {MAX_MIN_AREA_UM2:g}], got {self.min_area_um2}"
            )
        if not 1 <= self.min_distance <= MAX_MIN_DISTANCE:
            raise ValueError(
                f"min_distance must be in [1, {MAX_MIN_DISTANCE}], got {self.min_distance}"
            )
        for name in ("tta", "fill_holes", "whole_nuclei", "neighbour_nuclei"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name} must be True, False or None, got {value!r}")
        for name in ("mpp", "model_mpp"):
            size = getattr(self, name)
            if size is not None and not (math.isfinite(size) and size > 0):
                raise ValueError(f"{name} must be a positive number of micrometres, got {size}")
        if self.scales is not None:
            object.__setattr__(self, "scales", check_scales(self.scales))


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
        If the file is not a usable checkpoint.
    """
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    ckpt = load_checkpoint(path, map_location="cpu")
    config = stored_model_config(ckpt, path)
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
    """Run the network on one ``(h, w, C)`` patch, mirroring it up to the minimum size."""
    h, w = patch.shape[:2]
    need = int(getattr(model, "min_size", 1))
    ph, pw = max(0, need - h), max(0, need - w)
    if ph or pw:
        patch = np.pad(patch, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
    u0 = torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1)))[None].to(device)
    k = int(getattr(model, "mask_channels", 1))
    with autocast(precision, device):
        u, m = model(u0, u0.new_zeros(1, k, *u0.shape[-2:]))
    if not (bool(torch.isfinite(u).all()) and bool(torch.isfinite(m).all())):
        raise DataError(
            "the network produced NaN or infinite values; its weights are unusable "
            "(a damaged checkpoint, or one not projected onto the constraint set)"
        )
    u_np = u[0].float().cpu().numpy().transpose(1, 2, 0)[:h, :w]
    m_np = m[0].float().cpu().numpy().transpose(1, 2, 0)[:h, :w]
    return u_np, m_np


def _run_tta(
    model: nn.Module, patch: np.ndarray, device: torch.device, precision: str = "fp32"
) -> tuple[np.ndarray, np.ndarray]:
    """Run the network on the 8 dihedral variants of a patch and average the outputs.

    Every transform of :data:`vnet.tta.DIHEDRAL` is applied to the patch, the network is
    run on it (:func:`_run`, which mirrors it up to the model's minimum size), both outputs
    are turned back and averaged (:func:`vnet.tta.dihedral_mean`). For a network that commutes with
    rotations and flips this is the plain pass; otherwise it is the plain pass averaged
    with the passes of the rotated and mirrored patch (test-time augmentation).

    Parameters
    ----------
    model : torch.nn.Module
        A fully convolutional network (any patch shape, rotated ones included).
    patch : numpy.ndarray
        ``(h, w, C)`` float32.
    device : torch.device
        Device of ``model``.
    precision : {"fp32", "bf16"}
        Arithmetic of the network.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The mean ``u`` ``(h, w, C)`` and ``m`` ``(h, w, K)``, float32.

    Raises
    ------
    DataError
        If a pass gives NaN or infinite values.
    """
    u, m = dihedral_mean(lambda p: _run(model, p, device, precision), patch)
    return u, m


def predict_array(
    model: nn.Module,
    image: np.ndarray,
    *,
    tile: int = 512,
    overlap: int = 32,
    margin: int = 32,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    tta: bool = False,
    scales: Sequence[float] = (1.0,),
) -> tuple[np.ndarray, np.ndarray]:
    """Denoise and segment one image of any size.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~vnet.model.CoupledVN` or :class:`~vnet.unet.UNet`.
    image : numpy.ndarray
        ``(H, W, C)`` float in ``[0, 1]``, ``C`` the network's input channels (3: RGB).
    tile, overlap, margin : int
        Tiling (see :class:`PredictOptions`).
    device : str or torch.device
        Device of ``model``.
    precision : {"fp32", "bf16"}
        Arithmetic of the network (bf16: autocast).
    tta : bool
        Test-time augmentation: every network pass (the whole image, or each tile with
        its margin) becomes the mean of 8 passes over the patch turned by 0, 90, 180 and
        270 degrees, each with and without a left-right flip, with the outputs turned back
        (:func:`_run_tta`). Tiling and blending are unchanged; it costs 8 times the time.
    scales : sequence of float
        Scale test-time augmentation: every such pass is also run on the patch resampled
        by each factor other than 1, and ``m_T`` is the mean of the passes' mask
        probabilities resampled back (:func:`vnet.tta.scale_mean`); ``u_T`` is the pass at
        the scale 1. Default ``(1.0,)``: the patch as given only.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``u_T`` ``(H, W, C)`` and ``m_T``, float32 in ``[0, 1]``: ``(H, W)`` for a
        binary network, ``(H, W, K)`` (one channel per class) for ``K > 1``.
    """
    img = np.asarray(image, dtype=np.float32)
    c = int(getattr(getattr(model, "config", None), "in_channels", 3))
    if img.ndim != 3 or img.shape[2] != c:
        raise ValueError(f"image must have shape (H, W, {c}), got {img.shape}")
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    h, w = img.shape[:2]
    k = int(getattr(model, "mask_channels", 1))

    def run(patch: np.ndarray) -> tuple[np.ndarray, ...]:
        return _pass(model, patch, dev, precision, tta, scales)

    if h <= tile and w <= tile:
        u, m = run(img)
        return u.astype(np.float32), _squeezed(m.astype(np.float32))
    acc_u = np.zeros((h, w, c), np.float64)
    acc_m = np.zeros((h, w, k), np.float64)
    acc_w = np.zeros((h, w), np.float64)
    for r in tile_starts(h, tile, overlap):
        for c in tile_starts(w, tile, overlap):
            th, tw = min(tile, h - r), min(tile, w - c)
            r0, c0 = max(0, r - margin), max(0, c - margin)
            r1, c1 = min(h, r + th + margin), min(w, c + tw + margin)
            u, m = run(img[r0:r1, c0:c1])
            u = u[r - r0 : r - r0 + th, c - c0 : c - c0 + tw]
            m = m[r - r0 : r - r0 + th, c - c0 : c - c0 + tw]
            wt = np.outer(_ramp(th, overlap), _ramp(tw, overlap))
            acc_u[r : r + th, c : c + tw] += u * wt[..., None]
            acc_m[r : r + th, c : c + tw] += m * wt[..., None]
            acc_w[r : r + th, c : c + tw] += wt
    u_out = (acc_u / acc_w[..., None]).astype(np.float32)
    m_out = (acc_m / acc_w[..., None]).astype(np.float32)
    return u_out, _squeezed(m_out)


def _pass(
    model: nn.Module,
    patch: np.ndarray,
    device: torch.device,
    precision: str,
    tta: bool,
    scales: Sequence[float],
) -> tuple[np.ndarray, ...]:
    """One patch's ``(u, m)``: :func:`_run` or :func:`_run_tta`, ``m`` averaged over ``scales``."""
    run = _run_tta if tta else _run
    u, m = run(model, patch, device, precision)
    if tuple(scales) != (1.0,):
        m = scale_mean(lambda p: run(model, p, device, precision)[1], patch, scales, given=m)
    return u, m


def _squeezed(m: np.ndarray) -> np.ndarray:
    """``(H, W)`` for one mask channel (a binary network), else ``(H, W, K)`` unchanged."""
    return m[..., 0] if m.shape[-1] == 1 else m


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
    """Predict every image and write its outputs into ``out`` (module docstring).

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
        Tiling, threshold, device, colour normalisation, instances, GeoJSON,
        test-time augmentation, filled regions, whole nuclei.
    notes : list of str, optional
        Receives one line for the user when the inputs are not colour-normalised
        because the checkpoint stores no colour statistics.

    Returns
    -------
    list of dict
        Per image: ``name``, ``input``, ``size``, ``mask_fraction`` (pixels of any
        class), ``instances`` (count per class name), the written ``files``,
        ``normalization`` (``method``, as done, and ``target``: what the colours
        were mapped to, or None), ``tta`` (whether test-time augmentation was used),
        ``fill_holes`` (whether the regions were filled), ``whole_nuclei`` (whether
        partly marked nuclei were completed), ``pixel_size_um`` (``input``, ``model``)
        and ``resampled`` (whether the input was predicted on the model's grid).
        ``out/predict.json`` holds them with the classes and settings.
    """
    opts = options if options is not None else PredictOptions()
    paths = [Path(p) for p in images]
    names = _checked_inputs(paths)
    device = resolve_device(opts.device)
    check_precision(opts.precision, device)
    model, ckpt = load_model(checkpoint, device)
    classes = stored_classes(ckpt, checkpoint)
    channels = _input_channels(model, ckpt)
    if channels != ("r", "g", "b"):  # markers, not RGB: nothing to colour-normalise
        opts = _without_normalization(opts, checkpoint, channels, notes)
    opts = _resolve_defaults(opts, checkpoint, ckpt, channels)
    target, target_name = _normalization_target(checkpoint, ckpt, opts, notes)
    out_dir = Path(out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output folder {out_dir}: {exc.strerror}") from None
    pixel_size = opts.model_mpp if opts.model_mpp is not None else stored_pixel_size(ckpt)
    min_area = math.ceil(opts.min_area_um2 / pixel_size**2)
    try:
        factor = 1.0 if opts.mpp is None else scale_factor(opts.mpp, pixel_size)
    except ValueError as exc:
        raise DataError(f"--mpp: {exc}") from None
    records = []
    for path, name in zip(paths, names, strict=True):
        given = image = raw = _read_input(path, checkpoint, channels)
        if factor != 1.0:
            from synthlang.common import imageio

            grid = scaled_shape(given.shape, factor)
            where = f"{path} at the model's pixel size"
            imageio.check_image_size(where, *grid, imageio.DEFAULT_MAX_PIXELS)
            image = raw = resample(given, grid)
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
            tta=bool(opts.tta),
            scales=opts.scales or (1.0,),
        )
        labels = label_map(m, opts.threshold)
        if opts.fill_holes:
            labels = fill_regions(labels)
        if opts.whole_nuclei or opts.neighbour_nuclei:
            from synthlang.nuclei import segment_nuclei  # scikit-image: only when asked

            nuclei = segment_nuclei(raw, pixel_size_um=pixel_size).labels
            if opts.whole_nuclei:
                labels = complete_nuclei(labels, nuclei)
            if opts.neighbour_nuclei:
                probs = np.moveaxis(m, -1, 0) if m.ndim == 3 else m
                reach = NEIGHBOUR_DISTANCE_UM / pixel_size
                labels = neighbour_nuclei(labels, nuclei, probs, reach)
        labels = remove_small_regions(labels, min_area)
        instances, class_of = split_instances(labels, len(classes), opts.min_distance)
        if factor != 1.0:  # back onto the input's grid
            image = given
            if target is not None:
                from synthlang.colornorm import normalize

                image = normalize(given, target, opts.normalize)[0]
            back = to_grid(given.shape, u, m, labels, instances, class_of)
            u, m, labels, instances, class_of = back
        files = write_outputs(out_dir, name, image, u, m, labels, instances, classes)
        if opts.geojson:
            files["geojson"] = write_geojson(
                out_dir / f"{name}.geojson", instances, class_of, m, classes
            )
        counts = np.bincount(list(class_of.values()), minlength=len(classes) + 1)
        records.append(
            {
                "name": name,
                "input": str(path),
                "size": [int(image.shape[0]), int(image.shape[1])],
                "mask_fraction": float((labels > 0).mean()),
                "instances": {c: int(counts[k]) for k, c in enumerate(classes, start=1)},
                "files": {k: str(v) for k, v in files.items()},
                "normalization": {"method": method, "target": target_name},
                "tta": bool(opts.tta),
                "fill_holes": bool(opts.fill_holes),
                "whole_nuclei": bool(opts.whole_nuclei),
                "neighbour_nuclei": bool(opts.neighbour_nuclei),
                "scales": list(opts.scales or (1.0,)),
                "pixel_size_um": {"input": opts.mpp or pixel_size, "model": pixel_size},
                "resampled": factor != 1.0,
            }
        )
    _write_summary(out_dir, checkpoint, classes, opts, records)
    return records


def _write_summary(
    out_dir: Path,
    checkpoint: str | Path,
    classes: Sequence[str],
    opts: PredictOptions,
    records: list[dict[str, Any]],
) -> None:
    """``out/predict.json``: the classes (id ``k`` is ``classes[k - 1]``), settings, records."""
    import json

    from synthlang.common.fileio import atomic_write_text

    summary = {
        "checkpoint": str(checkpoint),
        "classes": list(classes),
        "threshold": opts.threshold,
        "min_distance": opts.min_distance,
        "min_area_um2": opts.min_area_um2,
        "tta": bool(opts.tta),
        "fill_holes": bool(opts.fill_holes),
        "whole_nuclei": bool(opts.whole_nuclei),
        "neighbour_nuclei": bool(opts.neighbour_nuclei),
        "scales": list(opts.scales or (1.0,)),
        "images": records,
    }
    target = out_dir / SUMMARY_NAME
    try:
        atomic_write_text(target, json.dumps(summary, indent=1) + "\n")
    except OSError as exc:
        raise DataError(f"cannot write {target}: {reason(exc)}") from None


def _input_channels(model: nn.Module, ckpt: dict[str, Any]) -> tuple[str, ...]:
    """The names of the network's input channels (``r, g, b``; the training data's names)."""
    c = int(getattr(getattr(model, "config", None), "in_channels", 3))
    names = dict(ckpt.get("source") or {}).get("channels")
    if isinstance(names, list) and len(names) == c and all(isinstance(n, str) for n in names):
        return tuple(names)
    return ("r", "g", "b") if c == 3 else tuple(f"channel {k}" for k in range(1, c + 1))


def _without_normalization(
    opts: PredictOptions, checkpoint: str | Path, channels: Sequence[str], notes: list[str] | None
) -> PredictOptions:
    """No colour normalisation for a network whose inputs are not RGB (refused if asked for)."""
    from synthlang.common.channels import describe_channels

    if opts.reference is not None or opts.normalize not in ("default", "none"):
        asked = "--reference" if opts.reference is not None else f"--normalize {opts.normalize}"
        raise DataError(
            f"{asked}: colour normalisation works on RGB images, but {checkpoint} takes "
            f"{describe_channels(channels)}; leave it out (or give --no-normalize)"
        )
    if opts.normalize == "default" and notes is not None:
        notes.append(
            f"{checkpoint} takes {describe_channels(channels)}: the inputs are used as they are "
            "(colour normalisation is for RGB)"
        )
    return dataclasses.replace(opts, normalize="none")


def _read_input(path: Path, checkpoint: str | Path, channels: Sequence[str]) -> np.ndarray:
    """An input image with the network's channels (RGB as ever; TIFFs of any channel count)."""
    from synthlang.common.channelio import image_channels, read_channels
    from synthlang.common.channels import describe_channels
    from synthlang.common.imageio import read_image

    if len(channels) == 3 and image_channels(path) in (None, 3):
        return read_image(path)
    image = read_channels(path)
    if image.shape[2] != len(channels):
        found = image.shape[2]
        raise DataError(
            f"{path}: the image has {found} channel{'s' if found != 1 else ''}, but {checkpoint} "
            f"takes {describe_channels(channels)}; give images with the channels it was "
            "trained on"
        )
    return image


def _checked_inputs(paths: Sequence[Path]) -> list[str]:
    """The output names of the input images, which must exist and not share a name."""
    if not paths:
        raise DataError("no input images given")
    names = _unique_names(paths)
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p}: no such image file")
    return names


def _resolve_defaults(
    opts: PredictOptions, checkpoint: str | Path, ckpt: dict[str, Any], channels: Sequence[str]
) -> PredictOptions:
    """The options with the checkpoint's choices where they say "default" or None."""
    c = predict_defaults(
        ckpt,
        checkpoint,
        opts.normalize,
        opts.tta,
        opts.fill_holes,
        opts.whole_nuclei,
        opts.scales,
        opts.neighbour_nuclei,
    )
    for key, flag in (("whole_nuclei", "whole-nuclei"), ("neighbour_nuclei", "neighbour-nuclei")):
        if getattr(c, key) and tuple(channels) != ("r", "g", "b"):
            from synthlang.common.channels import describe_channels

            given = getattr(opts, key)
            asked = f"--{flag}" if given else f"{flag.replace('-', ' ')} (the checkpoint's choice)"
            raise DataError(
                f"{asked}: nuclei are found by colour deconvolution of RGB H&E images, but "
                f"{checkpoint} takes {describe_channels(channels)}; give --no-{flag}"
            )
    return dataclasses.replace(opts, **c._asdict())  # the choices are option fields by name


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
