"""Training of the coupled variational network (or the U-Net baseline) into a run folder.

:class:`Trainer` puts the parts together: the network and Adam (:mod:`vnet.networks`),
the run folder with its checkpoints, log and resume checks (:mod:`vnet.runfolder`), the
optimisation step with the loss of Eq. (3) (:mod:`vnet.step`) and the loop over the
batches (:mod:`vnet.loop`); devices, threads and precision come from
:mod:`vnet.hardware`. Under ``torchrun`` the loop runs data-parallel on several
processes (:mod:`vnet.distributed`).

Resuming (``resume=True``) continues from ``RUN/model.pt`` with exactly the batches the
uninterrupted run would have used (batches are derived from ``(seed, step)``, see
:mod:`vnet.data`), so the result is bit-identical to an uninterrupted run, also after
a SIGKILL.

The names other code imports from here (``save_checkpoint``, ``load_checkpoint``,
``build_model``, ``loss_and_metrics``, ``configure_threads``, ...) are those of the
modules above.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synthlang.common.errors import DataError
from vnet import distributed as ddp
from vnet.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    save_checkpoint,
    stored_model_config,
)
from vnet.config import TrainConfig
from vnet.data import SampleSource, TrainingSamples, make_loader, source_classes
from vnet.errors import TrainingError
from vnet.hardware import (
    PRECISIONS,
    WORKER_NICENESS,
    autocast,
    available_cores,
    check_precision,
    configure_threads,
    resolve_device,
    worker_init,
)
from vnet.interrupt import TrainingInterrupted
from vnet.loop import TrainingLoop
from vnet.networks import build_model, model_config
from vnet.runfolder import (
    CHECKPOINT_NAME,
    CURVES_NAME,
    METRICS_NAME,
    RESUMABLE_CHANGES,
    RunFolder,
    resumable_config,
    resume_conflicts,
)
from vnet.step import TrainStep, loss_and_metrics

__all__ = [
    "TrainingError",
    "TrainResult",
    "Trainer",
    "train",
    "build_model",
    "loss_and_metrics",
    "resolve_device",
    "available_cores",
    "configure_threads",
    "PRECISIONS",
    "WORKER_NICENESS",
    "check_precision",
    "autocast",
    "save_checkpoint",
    "init_weights",
    "load_checkpoint",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "CURVES_NAME",
    "RESUMABLE_CHANGES",
    "resume_conflicts",
    "resumable_config",
    "TrainingInterrupted",
]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :meth:`Trainer.run`.

    Parameters
    ----------
    step : int
        Iterations completed.
    metrics : dict
        Metrics of the last iteration (empty if none ran).
    checkpoint : Path
        The checkpoint file.
    curves : Path or None
        The plot of the training curves.
    seconds : float
        Wall time of this call.
    """

    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path = Path(CHECKPOINT_NAME)
    curves: Path | None = None
    seconds: float = 0.0


class Trainer:
    """Train one network on one sample source into a run folder.

    Parameters
    ----------
    config : TrainConfig
        The run's configuration.
    source : callable
        ``index -> (noisy, clean, mask)`` (picklable when ``config.workers > 0``).
    out : str or Path
        Run folder.
    source_info : dict
        Identification of the data (``kind``, ``hash``, ``scene``, ...), stored in
        checkpoints; resuming with a different ``hash`` is refused.
    resume : bool
        Continue from ``out/model.pt``.
    progress : bool
        Show a tqdm progress bar on stderr.
    precision : {"fp32", "bf16"}
        Arithmetic of the forward pass (:func:`check_precision`, :func:`autocast`); not
        stored in the checkpoint, so a run may be resumed with either.
    classes : sequence of str, optional
        Names of the ``K = mask_channels`` classes, stored in the checkpoint (default:
        the source's ``classes`` attribute, else :func:`~vnet.config.default_classes`).
        The source's masks must have ``K`` channels (``(H, W)`` for ``K = 1``).
    init : str or Path, optional
        Start a new run from the weights of this checkpoint (fine-tuning; a fresh Adam
        state, step 0). Its network kind and configuration must be the run's
        (:func:`init_weights`).
    """

    def __init__(
        self,
        config: TrainConfig,
        source: SampleSource,
        out: str | Path,
        *,
        source_info: Mapping[str, Any],
        resume: bool = False,
        progress: bool = True,
        precision: str = "fp32",
        classes: Sequence[str] | None = None,
        init: str | Path | None = None,
    ) -> None:
        self.config = config
        self.init = Path(init) if init is not None else None
        self.classes = tuple(classes) if classes is not None else source_classes(source)
        self.source = source
        self.out = Path(out)
        self.source_info = dict(source_info)
        self.resume = resume
        self.progress = progress
        self.device = resolve_device(config.device)
        check_precision(precision, self.device)
        self.precision = precision
        self.checkpoint_path = self.out / CHECKPOINT_NAME

    def run(self) -> TrainResult:
        """Train until ``config.iterations``; return the final state.

        Under ``torchrun`` (``WORLD_SIZE > 1``) this process joins the process group
        and trains its slice of every batch (:mod:`vnet.distributed`).

        Raises
        ------
        TrainingError
            On a NaN/inf loss or gradient (the last good checkpoint is kept).
        DataError
            Unusable data, an incompatible checkpoint on resume, or a failed write.
        TrainingInterrupted
            On SIGINT/SIGTERM, after saving a checkpoint of the last iteration.
        """
        ctx, self.device = ddp.setup(self.device)
        try:
            return self._run(ctx)
        finally:
            ddp.teardown(ctx)

    def _run(self, ctx: ddp.DistContext) -> TrainResult:
        cfg = self.config
        t_start = time.perf_counter()
        folder = RunFolder(
            self.out, cfg, self.source_info, main=ctx.is_main, classes=self.classes or None
        )
        net = build_model(cfg.model, model_config(cfg)).to(self.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=cfg.betas)
        ckpt = folder.load_for_resume(self.device) if self.resume else None
        if ckpt is None and self.init is not None:
            init_weights(net, cfg, self.init)
        step = int(ckpt.get("step", 0)) if ckpt is not None else 0
        shard = ddp.local_slice(cfg.batch_size, ctx.rank, ctx.world_size) if ctx.enabled else None
        lo, hi = shard if shard is not None else (0, cfg.batch_size)
        samples = TrainingSamples(
            self.source,
            cfg.n_samples,
            seed=cfg.seed,
            crop=cfg.crop,
            flips=cfg.flips,
            total=cfg.iterations * cfg.batch_size,
        )
        if step < cfg.iterations:  # surface data problems before anything is written
            _check_first_sample(samples, step * cfg.batch_size + lo, net)
        last = folder.start(net, optimizer, ckpt)
        if step < cfg.iterations:
            loader = make_loader(samples, cfg.batch_size, step, cfg.workers, shard=shard)
            loader.worker_init_fn = worker_init
            train_step = TrainStep(
                net,
                optimizer,
                self.device,
                model=ddp.wrap_model(net, ctx, self.device),
                precision=self.precision,
                loss_weights=cfg.loss_weights,
                mask_loss=cfg.mask_loss,
                ctx=ctx,
                batch_size=cfg.batch_size,
                n_local=hi - lo,
            )
            loop = TrainingLoop(train_step, folder, cfg, progress=self.progress)
            step, last = loop.run(loader, step, last)
        curves = folder.plot()
        ddp.barrier(ctx)
        return TrainResult(step, last, folder.checkpoint, curves, time.perf_counter() - t_start)


def init_weights(net: nn.Module, config: TrainConfig, path: str | Path) -> None:
    """Load the weights of checkpoint ``path`` into ``net`` (the network of ``config``).

    Raises
    ------
    DataError
        The checkpoint is unusable, or its network kind or configuration differs from
        the run's (they are named).
    """
    ckpt = load_checkpoint(path)
    kind = ckpt["model_kind"]
    if kind != config.model:
        raise DataError(f"{path}: is a {kind} network, but this run trains a {config.model}")
    theirs = stored_model_config(ckpt, path).model_dump()
    ours = model_config(config).model_dump()
    differ = [k for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
    if differ:
        parts = ", ".join(f"{k} {theirs.get(k)!r} (run: {ours.get(k)!r})" for k in differ)
        raise DataError(f"{path}: its network differs from this run's: {parts}")
    net.load_state_dict(ckpt["model_state"])


def _check_first_sample(samples: TrainingSamples, draw: int, net: nn.Module) -> None:
    """Load one draw in this process, so data problems surface as clean errors."""
    u0, _, g_m = samples[draw]
    c = int(getattr(getattr(net, "config", None), "in_channels", u0.shape[0]))
    if u0.shape[0] != c:
        raise DataError(
            f"the training images have {u0.shape[0]} channels, but the network takes {c} "
            "(in_channels); train a new run on these data"
        )
    k = int(getattr(net, "mask_channels", 1))
    if g_m.shape[0] != k:
        raise DataError(
            f"the training masks have {g_m.shape[0]} channels (classes), but the network "
            f"has {k} mask channels (mask_channels)"
        )
    min_size = int(getattr(net, "min_size", 1))
    if min(u0.shape[-2:]) < min_size:
        h, w = u0.shape[-2:]
        raise DataError(
            f"training images of {h} x {w} pixels are smaller than the network's minimum "
            f"{min_size} x {min_size}; use a larger --crop"
        )


def train(
    config: TrainConfig,
    source: SampleSource,
    out: str | Path,
    *,
    source_info: Mapping[str, Any],
    resume: bool = False,
    progress: bool = True,
    precision: str = "fp32",
    classes: Sequence[str] | None = None,
    init: str | Path | None = None,
) -> TrainResult:
    """Train a network; shorthand for ``Trainer(...).run()``."""
    return Trainer(
        config,
        source,
        out,
        source_info=source_info,
        resume=resume,
        progress=progress,
        precision=precision,
        classes=classes,
        init=init,
    ).run()
