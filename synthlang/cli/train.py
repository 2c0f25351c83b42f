"""``synthlang train``: train the coupled variational network (or the U-Net baseline)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthlang.cli._common import checked_scales, non_negative_int, positive_int
from synthlang.common.errors import DataError, SynthlangError
from synthlang.common.units import DEFAULT_PIXEL_SIZE_UM
from synthlang.data.stream import SceneSource

__all__ = ["add_parser", "run", "add_color_stats"]

_CONFIG_FLAGS = (
    "preset",
    "model",
    "batch",
    "crop",
    "lr",
    "lr_schedule",
    "steps",
    "unet_scales",
    "unet_channels",
    "n",
    "endless",
    "seed",
    "loss_weights",
    "mask_loss",
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthlang train``."""
    p = subparsers.add_parser(
        "train",
        help="train the coupled variational network (or a U-Net) on a scene or a dataset",
        description=(
            "Train the coupled variational network of Effland et al. (or the U-Net baseline) "
            "on samples rendered on the fly from SCENE, or on a rendered dataset folder "
            "(--data). A scene with classes (mask classes {...}) or a dataset whose manifest "
            "names classes trains a network with one mask channel per class (K channels, "
            "one-vs-rest targets from the class map); otherwise the binary mask (K = 1). "
            "Loss: Eq. (3), per sample 1/6 ||u_T - g_u||^2 + 1/2 ||m_T - g_m||^2 "
            "(the default preset weights the image term 5 instead of 1/6, docs/vnet.md) "
            "summed over pixels, averaged over the batch; Adam (0.9, 0.999); parameters "
            "projected onto the constraint set after every step. RUN/ receives model.pt "
            "(checkpoint, every --checkpoint-every iterations and at the end), "
            "metrics.jsonl, curves.png and config.json; the checkpoint also stores the colour "
            "statistics of the first 32 training inputs, to which `synthlang predict` normalises "
            "its inputs. Presets: paper (800 images of "
            "300x300, batch 8, 1500 iterations, lr 1e-4 / 5e-5 for scenario3; U-Net 3000 "
            "iterations at 5e-5), default (about 15 minutes on 2 CPU cores), smoke (seconds)."
        ),
        epilog=(
            "examples:\n"
            "  synthlang train scenes/scenario2.scene --out runs/s2\n"
            "  synthlang train --data data/s2 --out runs/s2 --preset paper\n"
            "  synthlang train scenes/scenario2.scene --out runs/s2 --resume --iterations 600\n"
            "  torchrun --nproc_per_node 4 -m synthlang train --data data/s2 --out runs/s2  "
            "# 4 GPUs (DDP)\n\n"
            "Ctrl-C or SIGTERM stops after the current iteration with a checkpoint of it\n"
            "(exit status 130); the same command plus --resume continues bit-identically."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "scene",
        type=Path,
        nargs="?",
        default=None,
        metavar="SCENE",
        help="a .scene file to render training samples from (or use --data)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="a complete rendered dataset folder (docs/dataset.md) instead of SCENE",
    )
    p.add_argument(
        "--preset",
        choices=("paper", "default", "smoke"),
        default=None,
        help="training preset (default: default)",
    )
    p.add_argument("--model", choices=("vn", "unet"), default=None, help="network (default: vn)")
    p.add_argument("--iterations", type=non_negative_int, default=None, help="Adam iterations")
    p.add_argument("--batch", type=positive_int, default=None, help="batch size")
    p.add_argument(
        "--crop",
        type=non_negative_int,
        default=None,
        help="train on random CROP x CROP windows (0: whole images)",
    )
    p.add_argument("--lr", type=float, default=None, help="Adam step size")
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default=None,
        help="step size over the run: constant (default), or cosine from --lr down to "
        "--lr / 100 at the last iteration",
    )
    p.add_argument("--steps", type=positive_int, default=None, help="VN steps N_t")
    p.add_argument(
        "--unet-scales",
        type=positive_int,
        default=None,
        metavar="S",
        help="U-Net resolutions: the input and S - 1 max-pooled ones (default 3, the paper's); "
        "each one more doubles the receptive field (about 44 px at 3, 92 px at 4)",
    )
    p.add_argument(
        "--unet-channels",
        type=positive_int,
        default=None,
        metavar="C",
        help="U-Net feature channels of every convolution (default 32, the paper's)",
    )
    p.add_argument(
        "--loss-weights",
        type=float,
        nargs=2,
        default=None,
        metavar=("W_IMAGE", "W_MASK"),
        help="weights of the image and mask terms of Eq. (3) (paper 1/6 1/2; the default "
        "preset 5 1/2, docs/vnet.md 'Denoising')",
    )
    p.add_argument(
        "--mask-loss",
        choices=("l2", "bce"),
        default=None,
        help="mask term: l2, the squared error of Eq. (3) (default), or bce, the binary "
        "cross-entropy, for sparse masks such as small disks around points, on which the "
        "squared error can stall at an empty mask (docs/vnet.md 'Mask loss')",
    )
    p.add_argument(
        "--n",
        type=positive_int,
        default=None,
        help="fixed training set of N samples (indices 0..N-1, cycled in seeded epochs)",
    )
    p.add_argument(
        "--endless",
        action="store_true",
        default=None,
        help="with SCENE: a fresh sample for every draw instead of a fixed set",
    )
    p.add_argument("--seed", type=non_negative_int, default=None, help="data seed (default 0)")
    p.add_argument(
        "--workers",
        type=non_negative_int,
        default=None,
        help="DataLoader worker processes (default: 0 for --data, 2 for SCENE)",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=None,
        help="where to train (default auto: CUDA when present)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads of torch (default: all cores). On a busy shared machine "
        "--threads 1 can be much faster than oversubscribed threads",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="fp32 (default), or bf16 autocast on CPUs with AVX-512-BF16/AMX and on GPUs "
        "(refused elsewhere)",
    )
    p.add_argument(
        "--predict-normalize",
        choices=("macenko", "reinhard", "haematoxylin", "none"),
        default=None,
        help="colour normalisation that `synthlang predict` applies to this model's inputs by "
        "default, stored in the checkpoint (default: what --resume or --init's checkpoint "
        "stores, else predict's own default, macenko); measure it on real images of the fit "
        "split, e.g. none for a scene with stain variation",
    )
    p.add_argument(
        "--predict-tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="store in the checkpoint that `synthlang predict` uses test-time augmentation "
        "(the mean over the 8 rotations and flips of every tile, 8x slower) for this model "
        "by default (`synthlang predict --no-tta` still turns it off); measure it on real "
        "images of the fit split. --resume and --init keep the stored choice unless one is given",
    )
    p.add_argument(
        "--predict-fill-holes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="store in the checkpoint that `synthlang predict` closes cracks up to two pixels "
        "wide and fills holes in the predicted regions of this model by default "
        "(`synthlang predict --no-fill-holes` still turns it off); measure it on real "
        "images of the fit split. --resume and --init keep the stored choice unless one is given",
    )
    p.add_argument(
        "--predict-whole-nuclei",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="store in the checkpoint that `synthlang predict` marks the whole of every "
        "nucleus (found by colour deconvolution) that this model's mask covers at least in "
        "half, by default (`synthlang predict --no-whole-nuclei` still turns it off; H&E "
        "only); measure it on real images of the fit split. --resume and --init keep the "
        "stored choice unless one is given",
    )
    p.add_argument(
        "--predict-neighbour-nuclei",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="store in the checkpoint that `synthlang predict` adds the nuclei of mean "
        "probability >= 0.25 that have two marked nuclei within 15 um, by default "
        "(`synthlang predict --no-neighbour-nuclei` still turns it off; H&E only); measure "
        "it on real images of the fit split. --resume and --init keep the stored choice",
    )
    p.add_argument(
        "--predict-scales",
        type=float,
        nargs="+",
        default=None,
        metavar="S",
        help="store in the checkpoint the scales of test-time augmentation that `synthlang "
        "predict` uses for this model by default (e.g. 1 0.9: the mask probabilities "
        "averaged over every tile as given and resampled by 0.9; `synthlang predict --scales "
        "1` still turns it off); measure it on real images of the fit split. --resume and "
        "--init keep the stored choice unless one is given",
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        metavar="UM",
        help="pixel size of the training images in micrometres, stored in the checkpoint; "
        "`synthlang predict` resamples whole slides to it (default: the scene's `pixel`, "
        "else 0.5, the paper's 20x)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=None,
        metavar="K",
        help="save RUN/model.pt every K iterations (and at the end)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue RUN/model.pt where it stopped (same data order); may change only "
        "--iterations, --workers, --device and --checkpoint-every",
    )
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="CKPT",
        help="start a new run from the weights of a checkpoint (fine-tuning, e.g. a shipped "
        "model on your own scene): its network and configuration are used, Adam starts afresh "
        "at step 0; the data must have its classes and channels",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in a RUN folder that already holds a checkpoint",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def _refuse_empty_masks(folder: Path) -> None:
    """A dataset whose every mask is empty has nothing to segment: refuse it."""
    from synthlang.data.sampleio import read_manifest

    manifest = read_manifest(folder)
    empty, n = manifest.get("empty_masks"), len(manifest.get("samples", []))
    if n and empty == n:
        raise DataError(
            f"{folder}: the masks of all {n} samples are empty, so there is nothing to learn "
            "to segment; check the scene's mask rules (`synthlang preview` shows what they "
            "select) and render again"
        )


def _source(args: argparse.Namespace, seed: int) -> tuple[Any, dict[str, Any], int | None]:
    """Build the sample source, its description and the size of the data (None: endless)."""
    from vnet.data import FolderSource

    if (args.scene is None) == (args.data is None):
        raise DataError("give either a SCENE file or --data DIR (exactly one)")
    if args.pixel_size is not None and not 0.01 <= args.pixel_size <= 100:
        raise DataError(f"--pixel-size must be between 0.01 and 100 um, got {args.pixel_size}")
    if args.data is not None:
        if args.endless:
            raise DataError("--endless needs a SCENE; a dataset folder has a fixed size")
        folder = FolderSource(args.data)
        _refuse_empty_masks(args.data)
        from synthlang.data.sampleio import read_manifest

        stored = read_manifest(args.data).get("pixel_size_um")
        pixel = args.pixel_size or stored or DEFAULT_PIXEL_SIZE_UM
        return folder, {**folder.info(), "pixel_size_um": pixel}, len(folder)
    import synthlang
    from synthlang.ir import scene_hash

    if not args.scene.is_file():
        raise DataError(f"{args.scene}: no such scene file")
    scene = synthlang.compile_file(args.scene)
    info: dict[str, Any] = {
        "pixel_size_um": args.pixel_size or scene.pixel_size_um or DEFAULT_PIXEL_SIZE_UM,
        "kind": "scene",
        "path": str(args.scene),
        "scene": scene.name,
        "hash": scene_hash(scene),
        "seed": seed,
    }
    source = SceneSource.with_classes(scene, seed)
    if source.classes:
        info["classes"] = list(source.classes)
    if scene.n_channels != 3 or scene.channels is not None:
        info["channels"] = list(scene.channel_names())
    return source, info, None


def _config(args: argparse.Namespace, scene_name: str | None) -> Any:
    from vnet.config import preset

    cfg = preset(args.preset or "default", args.model or "vn", scene_name)
    changes: dict[str, Any] = {}
    if args.iterations is not None:
        changes["iterations"] = args.iterations
    if args.batch is not None:
        changes["batch_size"] = args.batch
    if args.crop is not None:
        changes["crop"] = args.crop or None
    if args.lr is not None:
        if not args.lr > 0:
            raise DataError(f"--lr must be positive, got {args.lr}")
        changes["lr"] = args.lr
    if args.lr_schedule is not None:
        changes["lr_schedule"] = args.lr_schedule
    if args.steps is not None:
        if cfg.model != "vn":
            raise DataError("--steps applies to the variational network only (--model vn)")
        changes["vn.steps"] = args.steps
    for flag, field in (("unet_scales", "scales"), ("unet_channels", "channels")):
        value = getattr(args, flag, None)
        if value is None:
            continue
        if cfg.model != "unet":
            raise DataError(f"--unet-{field} applies to the U-Net only (--model unet)")
        changes[f"unet.{field}"] = value
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.loss_weights is not None:
        if not all(w >= 0 and w < float("inf") for w in args.loss_weights) or not any(
            args.loss_weights
        ):
            raise DataError(
                f"--loss-weights must be two finite numbers >= 0, not both 0, got "
                f"{' '.join(f'{w:g}' for w in args.loss_weights)}"
            )
        changes["loss_weights"] = tuple(args.loss_weights)
    if args.mask_loss is not None:
        changes["mask_loss"] = args.mask_loss
    if args.workers is not None:
        changes["workers"] = args.workers
    if args.device is not None:
        changes["device"] = args.device
    if args.checkpoint_every is not None:
        changes["checkpoint_every"] = args.checkpoint_every
    return cfg.replace(**changes)


def _fresh_config(args: argparse.Namespace, info: dict[str, Any], size: int | None) -> Any:
    """The configuration a new run with these flags gets (``K`` from the data's classes)."""
    cfg = _config(args, info.get("scene"))
    k = max(1, len(info.get("classes") or ()))
    cfg = cfg.replace(**{f"{cfg.model}.mask_channels": k})
    channels = info.get("channels")  # one input channel per image channel (default RGB)
    if channels and len(channels) != 3:
        cfg = cfg.replace(**{f"{cfg.model}.in_channels": len(channels)})
    if args.endless:
        cfg = cfg.replace(n_samples=None)
    elif size is not None:  # a folder: use all of it unless --n says otherwise
        if args.n is not None and args.n > size:
            raise DataError(f"--n {args.n} but {args.data} has only {size} samples")
        n = args.n if args.n is not None else min(cfg.n_samples or size, size)
        cfg = cfg.replace(n_samples=n)
    elif args.n is not None:
        cfg = cfg.replace(n_samples=args.n)
    if args.workers is None and args.scene is not None:
        cfg = cfg.replace(workers=2)
    return cfg


def _init_config(
    args: argparse.Namespace, cfg: Any, info: dict[str, Any], ckpt: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """A new run's configuration with the network of ``--init`` and the data info noting it.

    ``ckpt`` is the ``--init`` checkpoint, loaded once by :func:`run`.
    """
    import hashlib

    from vnet.checkpoint import stored_model_config

    kind = ckpt["model_kind"]
    if kind != cfg.model:
        raise DataError(f"--init {args.init} is a {kind} network, but --model is {cfg.model}")
    theirs = stored_model_config(ckpt, args.init)
    ours = cfg.vn if cfg.model == "vn" else cfg.unet
    for field, what in (("mask_channels", "mask channels (classes)"), ("in_channels", "channels")):
        if getattr(theirs, field) != getattr(ours, field):
            raise DataError(
                f"--init {args.init} has {getattr(theirs, field)} {what}, the training data "
                f"{getattr(ours, field)}: fine-tune it on data with the same classes and channels"
            )
    steps = getattr(theirs, "steps", None)
    if args.steps is not None and steps is not None and steps != args.steps:
        raise DataError(f"--steps {args.steps}, but --init {args.init} has {steps} steps")
    for field in ("scales", "channels"):
        given, stored = getattr(args, f"unet_{field}", None), getattr(theirs, field, None)
        if given is not None and stored is not None and given != stored:
            raise DataError(
                f"--unet-{field} {given}, but --init {args.init} has {stored} {field}: "
                "fine-tuning keeps the checkpoint's network"
            )
    digest = hashlib.sha256(args.init.read_bytes()).hexdigest()
    init = {"path": str(args.init), "sha256": digest}
    return cfg.replace(**{cfg.model: theirs}), {**info, "init": init}


def _resumed_config(args: argparse.Namespace, ckpt: dict[str, Any]) -> tuple[Any, ...]:
    """The stored configuration with the allowed changes, its source, info and size.

    Configuration flags may be repeated (``the same command plus --resume``) as long
    as they describe the stored configuration; changing one is refused.
    """
    from vnet.train import CHECKPOINT_NAME, resumable_config, resume_conflicts

    path = args.out / CHECKPOINT_NAME
    cfg = resumable_config(ckpt, path)
    source, info, size = _source(args, cfg.seed)
    given = [
        "--" + f.replace("_", "-")
        for f in _CONFIG_FLAGS
        if getattr(args, f, None) not in (None, False)
    ]
    if given:
        differ = resume_conflicts(cfg, _fresh_config(args, info, size))
        if differ:
            raise SynthlangError(
                f"{', '.join(given)} cannot be changed when resuming (they give another "
                f"{', '.join(differ)}); the run continues with the configuration stored in "
                f"{path}: repeat the original flags or leave them out"
            )
    if size is not None and cfg.n_samples is not None and cfg.n_samples > size:
        raise DataError(
            f"{path}: was trained on {cfg.n_samples} samples but {args.data} has only {size}"
        )
    changes = {
        k: v
        for k, v in (
            ("iterations", args.iterations),
            ("workers", args.workers),
            ("device", args.device),
            ("checkpoint_every", args.checkpoint_every),
        )
        if v is not None
    }
    return cfg.replace(**changes), source, info, size


def _with_color_stats(
    info: dict[str, Any], source: Any, n_samples: int | None, stored: Any = None
) -> dict[str, Any]:
    """``info`` plus ``color_stats``: the colours of the first training inputs.

    ``synthlang predict`` normalises its inputs to them. A resumed run keeps the
    statistics of its checkpoint (``stored``); inputs that are not RGB get none.
    """
    from synthlang.colornorm import STATS_SAMPLES, source_color_stats

    if stored is not None:
        return {**info, "color_stats": stored}
    n = min(STATS_SAMPLES, n_samples or STATS_SAMPLES)
    stats = source_color_stats(source, n)
    return info if stats is None else {**info, "color_stats": stats.to_dict()}


def add_color_stats(
    checkpoint: str | Path,
    scene: str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    seed: int | None = None,
) -> Any:
    """Store colour statistics in a checkpoint that has none, rendering them from a scene.

    For checkpoints written before ``synthlang train`` stored them (or trained
    on a dataset folder that is gone): samples ``0 .. n-1`` of ``scene`` are
    rendered with the run's data seed, as the training data were, and their
    statistics (:func:`synthlang.colornorm.source_color_stats`) are written into
    ``source["color_stats"]`` of a copy of the checkpoint. The weights and
    everything else are unchanged.

    Parameters
    ----------
    checkpoint : str or Path
        A checkpoint written by ``synthlang train``.
    scene : str or Path
        The scene it was trained on.
    out : str or Path
        Where to write the updated checkpoint (may be ``checkpoint`` itself).
    n : int, optional
        Samples to render (default :data:`synthlang.colornorm.STATS_SAMPLES`).
    seed : int, optional
        Data seed (default: the checkpoint's ``train_config.seed``, else 0).

    Returns
    -------
    synthlang.colornorm.ColorStats
        The statistics written.

    Raises
    ------
    DataError
        Unusable checkpoint or scene, or a scene whose samples are not RGB.

    Examples
    --------
    ``python -c "from synthlang.cli.train import add_color_stats as a;
    a('models/scenario3.pt', 'scenes/scenario3.scene', 'scenario3.pt')"``
    """
    import synthlang
    from synthlang.colornorm import STATS_SAMPLES, source_color_stats
    from vnet.train import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(checkpoint)
    if seed is None:
        seed = int(dict(ckpt.get("train_config", {})).get("seed", 0))
    scene_path = Path(scene)
    if not scene_path.is_file():
        raise DataError(f"{scene_path}: no such scene file")
    count = n if n is not None else STATS_SAMPLES
    if count < 1:
        raise DataError(f"n must be at least 1, got {count}")
    origin = f"{scene_path.name}, seed {seed}, samples 0-{count - 1} (added afterwards)"
    stats = source_color_stats(SceneSource(synthlang.compile_file(scene_path), seed), count, origin)
    if stats is None:
        raise DataError(f"{scene_path}: renders images that are not RGB; no colour statistics")
    ckpt["source"] = {**dict(ckpt.get("source", {})), "color_stats": stats.to_dict()}
    save_checkpoint(out, ckpt)
    return stats


def _store_in_source(checkpoint: str | Path, key: str, value: Any, out: str | Path) -> None:
    """Write ``checkpoint`` to ``out`` with ``source[key] = value``; all else unchanged."""
    from vnet.train import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(checkpoint)
    ckpt["source"] = {**dict(ckpt.get("source", {})), key: value}
    save_checkpoint(out, ckpt)


def set_predict_normalize(checkpoint: str | Path, method: str, out: str | Path) -> None:
    """Store the colour normalisation ``synthlang predict`` uses by default for a model.

    The counterpart of ``synthlang train --predict-normalize`` for a checkpoint that
    is already trained; the weights and everything else are unchanged.

    Parameters
    ----------
    checkpoint : str or Path
        A checkpoint written by ``synthlang train``.
    method : {"macenko", "reinhard", "haematoxylin", "none"}
        The default method.
    out : str or Path
        Where to write the updated checkpoint (may be ``checkpoint`` itself).

    Raises
    ------
    DataError
        Unknown method or unusable checkpoint.
    """
    from vnet.checkpoint import NORMALIZE_CHOICES

    if method not in NORMALIZE_CHOICES:
        raise DataError(f"method must be one of {list(NORMALIZE_CHOICES)}, got {method!r}")
    _store_in_source(checkpoint, "normalize", method, out)


#: predict's on/off defaults that a checkpoint can store as ``source[NAME]``: test-time
#: augmentation, filled regions, whole and neighbour nuclei (vnet.checkpoint.default_tta,
#: default_fill_holes, default_whole_nuclei, default_neighbour_nuclei)
PREDICT_FLAGS = ("tta", "fill_holes", "whole_nuclei", "neighbour_nuclei")


def set_predict_flag(checkpoint: str | Path, name: str, enabled: bool, out: str | Path) -> None:
    """Store one of ``synthlang predict``'s on/off defaults for a model.

    The counterpart of ``synthlang train --predict-tta`` / ``--predict-fill-holes`` /
    ``--predict-whole-nuclei`` / ``--predict-neighbour-nuclei`` (and their ``--no-`` forms)
    for a checkpoint that is already trained; the weights and everything else are unchanged.

    Parameters
    ----------
    checkpoint : str or Path
        A checkpoint written by ``synthlang train``.
    name : str
        One of :data:`PREDICT_FLAGS`: ``"tta"``, ``"fill_holes"``, ``"whole_nuclei"`` or
        ``"neighbour_nuclei"``.
    enabled : bool
        The default, stored as ``source[name]``.
    out : str or Path
        Where to write the updated checkpoint (may be ``checkpoint`` itself).

    Raises
    ------
    DataError
        An unknown ``name``, ``enabled`` not a bool, or an unusable checkpoint.
    """
    if name not in PREDICT_FLAGS:
        raise DataError(f"name must be one of {list(PREDICT_FLAGS)}, got {name!r}")
    if not isinstance(enabled, bool):
        raise DataError(f"enabled must be True or False, got {enabled!r}")
    _store_in_source(checkpoint, name, enabled, out)


def set_predict_scales(checkpoint: str | Path, scales: Sequence[float], out: str | Path) -> None:
    """Store the scales of test-time augmentation ``synthlang predict`` uses for a model.

    The counterpart of ``synthlang train --predict-scales`` for a checkpoint that is
    already trained; the weights and everything else are unchanged.

    Parameters
    ----------
    checkpoint : str or Path
        A checkpoint written by ``synthlang train``.
    scales : sequence of float
        The factors (:func:`vnet.tta.check_scales`; ``(1.0,)``: none), stored as
        ``source["scales"]``.
    out : str or Path
        Where to write the updated checkpoint (may be ``checkpoint`` itself).

    Raises
    ------
    DataError
        Scales that :func:`vnet.tta.check_scales` refuses, or an unusable checkpoint.
    """
    _store_in_source(checkpoint, "scales", list(checked_scales(scales, "--predict-scales")), out)


def run(args: argparse.Namespace) -> int:
    """Train and print a summary (only rank 0 prints under torchrun)."""
    from vnet.data import CachedSource
    from vnet.distributed import is_main_process
    from vnet.interrupt import TrainingInterrupted
    from vnet.train import CHECKPOINT_NAME, configure_threads, load_checkpoint, train

    main = is_main_process()
    configure_threads(args.threads)
    if args.init is not None and args.resume:
        raise DataError(
            "--init starts a new run from a checkpoint's weights; --resume continues "
            "a run: give one of them"
        )
    init_ckpt = load_checkpoint(args.init) if args.init is not None else None
    if init_ckpt is not None and args.model is None:
        args.model = init_ckpt["model_kind"]
    if args.resume:
        ckpt = load_checkpoint(args.out / CHECKPOINT_NAME)
        cfg, source, info, size = _resumed_config(args, ckpt)
    else:
        if (args.out / CHECKPOINT_NAME).exists() and not args.overwrite:
            raise DataError(
                f"{args.out} already holds a training run ({CHECKPOINT_NAME}); continue it "
                "with --resume, or start over with --overwrite"
            )
        seed = args.seed if args.seed is not None else 0
        source, info, size = _source(args, seed)
        cfg = _fresh_config(args, info, size)
        if init_ckpt is not None:
            cfg, info = _init_config(args, cfg, info, init_ckpt)
    classes = tuple(info.get("classes") or ())
    if args.scene is not None and cfg.n_samples is not None:
        source = CachedSource(source, max_items=cfg.n_samples)
    stored = dict(ckpt.get("source", {})).get("color_stats") if args.resume else None
    info = _with_color_stats(info, source, cfg.n_samples, stored)
    # predict's defaults: the flag, else what the resumed (--resume) or fine-tuned (--init)
    # checkpoint stores; colour statistics always come from this run's data
    base = ckpt if args.resume else init_ckpt
    stored_choices = dict(base.get("source", {})) if base is not None else {}
    scales = args.predict_scales
    given_defaults = (
        ("normalize", args.predict_normalize),
        ("tta", args.predict_tta),
        ("fill_holes", args.predict_fill_holes),
        ("whole_nuclei", args.predict_whole_nuclei),
        ("neighbour_nuclei", args.predict_neighbour_nuclei),
        ("scales", None if scales is None else list(checked_scales(scales, "--predict-scales"))),
    )
    for key, given in given_defaults:
        value = given if given is not None else stored_choices.get(key)
        if value is not None:
            info = {**info, key: value}
    try:
        result = train(
            cfg,
            source,
            args.out,
            source_info=info,
            resume=args.resume,
            progress=not args.quiet and main,
            precision=args.precision,
            classes=classes or None,
            init=args.init if not args.resume else None,
        )
    except KeyboardInterrupt as exc:
        if main:
            checkpoint = args.out / CHECKPOINT_NAME
            if isinstance(exc, TrainingInterrupted):
                what = f"stopped after iteration {exc.step} of {cfg.iterations}, saved in"
            elif checkpoint.is_file():
                what = "the last checkpoint is"
            else:
                what = "before the first checkpoint; start again with the same command"
            if checkpoint.is_file():
                what += f" {checkpoint}. Continue with the same command plus --resume"
            print(f"synthlang: interrupted; {what}", file=sys.stderr)
        return 130
    if not args.quiet and main:
        m = result.metrics
        line = f"{args.out}: {result.step} iterations ({result.seconds:.0f} s)"
        if m:
            line += (
                f"; last batch: loss {m['loss']:.4g}, mask accuracy {m['accuracy']:.4f}, "
                f"PSNR {m['psnr']:.2f} dB (input {m['psnr_input']:.2f} dB)"
            )
        print(line)
        if classes:
            print(f"classes (one mask channel each): {', '.join(classes)}")
        print(
            f"checkpoint {result.checkpoint}"
            + (f", curves {result.curves}" if result.curves else "")
        )
    return 0
