"""Training of the coupled variational network (or the U-Net baseline).

Loss, Eq. (3) of the paper, per sample ``s``::

    (1/6) ||u^s_T - g^s_u||^2 + (1/2) ||m^s_T - g^s_m||^2

with the squared norms summed over all pixels (and channels); the batch loss is the
mean over the samples of the batch. (With 300 x 300 images this puts the loss in the
thousands, the scale of the paper's Fig. 3.) ``TrainConfig.loss_weights`` sets the two
weights (the ``default`` VN preset: ``(5, 1/2)``, the image term x 30). Adam with
``betas = (0.9, 0.999)``; after every Adam step the parameters are projected onto the admissible set
(:meth:`vnet.model.CoupledVN.project_`).

A run folder holds::

    RUN/model.pt        checkpoint (latest; written atomically every K steps and at the end)
    RUN/metrics.jsonl   one JSON line per iteration: step, loss, accuracy, psnr, psnr_input,
                        lr, seconds (this iteration), elapsed (since the run started)
    RUN/curves.png      loss, accuracy of m_T and PSNR of u_T against the iteration (Fig. 3)
    RUN/config.json     the training configuration and the data source, for people

Resuming (``resume=True``) restores model, optimiser, step and torch's random
generator state from ``RUN/model.pt``, truncates ``metrics.jsonl`` to that step and
continues with exactly the batches the uninterrupted run would have used (batches are
derived from ``(seed, step)``, see :mod:`vnet.data`), so the result is bit-identical
to an uninterrupted run, also after a SIGKILL. Every file is written atomically
(temporary file, then rename). The first SIGINT/SIGTERM stops at the end of the
iteration with a checkpoint of it (:mod:`vnet.interrupt`). Under ``torchrun`` the
loop runs data-parallel on several processes (:mod:`vnet.distributed`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synthlang.common.errors import DataError, SynthlangError
from synthlang.common.imageio import atomic_write_bytes, atomic_write_text
from vnet import distributed as ddp
from vnet.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    check_optimizer_state,
    check_state_dict,
    read_checkpoint,
    validate_checkpoint,
)
from vnet.config import TrainConfig, UNetConfig, VNConfig
from vnet.data import SampleSource, TrainingSamples, make_loader
from vnet.interrupt import GracefulStop, TrainingInterrupted
from vnet.model import CoupledVN
from vnet.unet import UNet

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
    "check_precision",
    "autocast",
    "save_checkpoint",
    "load_checkpoint",
    "CHECKPOINT_FORMAT",
    "TrainingInterrupted",
]

CHECKPOINT_NAME = "model.pt"
METRICS_NAME = "metrics.jsonl"
CURVES_NAME = "curves.png"

#: TrainConfig fields that may differ between a checkpoint and a resumed run.
RESUMABLE_CHANGES = frozenset({"iterations", "workers", "device", "checkpoint_every"})

#: Arithmetic of the forward pass: float32, or bfloat16 autocast (``--precision``).
PRECISIONS = ("fp32", "bf16")

#: ``/proc/cpuinfo`` flags of CPUs with fast bfloat16 matrix arithmetic.
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

#: Niceness added to DataLoader workers so that they never take the cores from the
#: training threads (they run when the main process waits for a batch).
WORKER_NICENESS = 10


class TrainingError(SynthlangError):
    """Training cannot go on (diverged to NaN/inf, or the device is unavailable)."""


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


def resolve_device(name: str) -> torch.device:
    """Map ``"auto" | "cpu" | "cuda"`` to a device (``auto``: CUDA when present).

    Raises
    ------
    TrainingError
        If CUDA is requested but not available.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was requested but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise TrainingError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` otherwise)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads: ``threads``, or all available cores when ``None``.

    Under ``torchrun`` the cores are shared by the ``LOCAL_WORLD_SIZE`` processes of
    the machine.

    Returns
    -------
    int
        The number of threads now in use.
    """
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    n = threads if threads is not None else max(1, available_cores() // local)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    return torch.get_num_threads()


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a precision the device cannot run fast.

    ``bf16`` needs a CUDA device with bfloat16 support, or a CPU with AVX-512-BF16 or
    AMX (``/proc/cpuinfo`` flags ``avx512_bf16``/``amx_bf16``); elsewhere bfloat16 is
    emulated and slower than float32.

    Raises
    ------
    TrainingError
        For an unknown precision or ``bf16`` on hardware without it.
    """
    if precision not in PRECISIONS:
        raise TrainingError(f"unknown precision {precision!r}; use {' or '.join(PRECISIONS)}")
    if precision != "bf16":
        return
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise TrainingError("--precision bf16: this CUDA device has no bfloat16 support")
        return
    if device.type == "cpu" and not _cpu_flags() & set(_BF16_CPU_FLAGS):
        raise TrainingError(
            "--precision bf16 needs a CPU with AVX-512-BF16 or AMX (cpuinfo flags "
            f"{' / '.join(_BF16_CPU_FLAGS)}) or a CUDA GPU; this CPU has neither, "
            "use --precision fp32"
        )
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"--precision bf16 is not supported on {device.type}")


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Context for the forward pass: bfloat16 autocast for ``"bf16"``, nothing for ``"fp32"``.

    Under autocast the convolutions run in bfloat16; the RBF operators compute in
    float32 (:mod:`vnet.rbf`), and the loss is evaluated in float32 outside it.
    """
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _worker_init(worker_id: int) -> None:
    """DataLoader worker start: lower the priority, one torch thread."""
    del worker_id
    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICENESS)
    torch.set_num_threads(1)


def build_model(kind: str, config: Mapping[str, Any] | VNConfig | UNetConfig) -> nn.Module:
    """Build a network from its kind and configuration.

    Parameters
    ----------
    kind : {"vn", "unet"}
        Network kind.
    config : VNConfig, UNetConfig or dict
        Its configuration (a dict as stored in checkpoints is accepted).

    Returns
    -------
    torch.nn.Module
        :class:`~vnet.model.CoupledVN` or :class:`~vnet.unet.UNet`.
    """
    if kind == "vn":
        cfg = config if isinstance(config, VNConfig) else VNConfig.from_dict(config)  # type: ignore[arg-type]
        return CoupledVN(cfg)
    if kind == "unet":
        ucfg = config if isinstance(config, UNetConfig) else UNetConfig.from_dict(config)  # type: ignore[arg-type]
        return UNet(ucfg)
    raise ValueError(f"unknown model kind {kind!r}; use 'vn' or 'unet'")


def loss_and_metrics(
    u: torch.Tensor,
    m: torch.Tensor,
    g_u: torch.Tensor,
    g_m: torch.Tensor,
    u0: torch.Tensor,
    weights: tuple[float, float] = (1.0 / 6.0, 0.5),
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of Eq. (3) (mean over the batch) and the logged metrics.

    ``weights`` are ``(w_u, w_m)`` of ``w_u ||u_T - g_u||^2 + w_m ||m_T - g_m||^2``
    (the paper's ``(1/6, 1/2)`` by default; ``TrainConfig.loss_weights``).

    Parameters
    ----------
    u, m : torch.Tensor
        Network outputs ``u_T`` ``(B, 3, H, W)`` and ``m_T`` ``(B, 1, H, W)``.
    g_u, g_m : torch.Tensor
        Targets of the same shapes.
    u0 : torch.Tensor
        The input image (for the PSNR of the input, a reference line).

    Returns
    -------
    (torch.Tensor, dict)
        The scalar loss (differentiable) and ``loss``, ``accuracy`` (pixels of
        ``m_T > 1/2`` equal to ``g_m > 1/2``), ``psnr`` (mean over the samples of
        the PSNR of ``u_T``, peak 1) and ``psnr_input`` as floats.
    """
    per_u = (u - g_u).flatten(1).pow(2).sum(1)
    per_m = (m - g_m).flatten(1).pow(2).sum(1)
    loss = (weights[0] * per_u + weights[1] * per_m).mean()
    with torch.no_grad():
        acc = ((m > 0.5) == (g_m > 0.5)).float().mean()
        n_u = u[0].numel()
        psnr = (10.0 * torch.log10(1.0 / (per_u / n_u).clamp_min(1e-12))).mean()
        mse0 = (u0 - g_u).flatten(1).pow(2).mean(1)
        psnr0 = (10.0 * torch.log10(1.0 / mse0.clamp_min(1e-12))).mean()
    return loss, {
        "loss": float(loss.detach()),
        "accuracy": float(acc),
        "psnr": float(psnr),
        "psnr_input": float(psnr0),
    }


# ---------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write ``payload`` with ``torch.save`` to a temporary file and rename it into place.

    The payload is serialised in memory first, so a failing write (full disk) raises
    a plain :class:`OSError` and leaves the previous file untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(dict(payload), buffer)
    atomic_write_bytes(target, buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint written by :class:`Trainer`.

    The file is size-limited (``SYNTHLANG_MAX_CHECKPOINT_BYTES``), read with
    ``torch.load(weights_only=True)`` only, and its configurations, weights and
    counters are checked before anything is built from them (:mod:`vnet.checkpoint`).

    Raises
    ------
    DataError
        Missing, unreadable, damaged, crafted, or not a vnet checkpoint.
    ResourceLimitError
        Larger than the limit.
    """
    return validate_checkpoint(read_checkpoint(path, map_location=map_location), path)


def _model_config(config: TrainConfig) -> VNConfig | UNetConfig:
    return config.vn if config.model == "vn" else config.unet


# -------------------------------------------------------------------------- trainer


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
    ) -> None:
        self.config = config
        self.source = source
        self.out = Path(out)
        self.source_info = dict(source_info)
        self.resume = resume
        self.progress = progress
        self.device = resolve_device(config.device)
        check_precision(precision, self.device)
        self.precision = precision
        self.checkpoint_path = self.out / CHECKPOINT_NAME
        self.metrics_path = self.out / METRICS_NAME
        self.curves_path = self.out / CURVES_NAME
        self._ctx = ddp.DistContext()

    # -- helpers ----------------------------------------------------------------------

    def _payload(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, metrics: dict
    ) -> dict[str, Any]:
        cfg = self.config
        net = ddp.unwrap(model)
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model_kind": cfg.model,
            "model_config": _model_config(cfg).to_dict(),
            "train_config": cfg.to_dict(),
            "model_state": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            "optimizer_state": optimizer.state_dict(),
            "step": step,
            "metrics": dict(metrics),
            "source": dict(self.source_info),
            "rng_state": rng,
        }

    def _check_resume(self, ckpt: Mapping[str, Any]) -> None:
        if "train_config" not in ckpt:
            raise DataError(
                f"{self.checkpoint_path}: holds no training configuration; it cannot be resumed"
            )
        old = dict(ckpt.get("train_config", {}))
        new = self.config.to_dict()
        differ = sorted(
            k
            for k in set(old) | set(new)
            if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k)
        )
        if differ:
            raise DataError(
                f"{self.checkpoint_path}: cannot resume with a changed configuration "
                f"({', '.join(differ)}); only {sorted(RESUMABLE_CHANGES)} may change"
            )
        old_hash = dict(ckpt.get("source", {})).get("hash")
        if old_hash != self.source_info.get("hash"):
            raise DataError(
                f"{self.checkpoint_path}: was trained on other data "
                f"(hash {str(old_hash)[:12]}..., now {str(self.source_info.get('hash'))[:12]}...); "
                "resume with the same scene or dataset"
            )

    def _restore(
        self, ckpt: Mapping[str, Any], net: nn.Module, optimizer: torch.optim.Optimizer
    ) -> None:
        """Load weights, Adam moments and the random generator state (all checked first)."""
        path = self.checkpoint_path
        check_state_dict(net, ckpt["model_state"], path)
        net.load_state_dict(ckpt["model_state"])
        if "optimizer_state" in ckpt:
            moments = check_optimizer_state(ckpt["optimizer_state"], list(net.parameters()), path)
            groups = optimizer.state_dict()["param_groups"]  # hyperparameters from the config
            optimizer.load_state_dict({"state": moments, "param_groups": groups})
        rng = dict(ckpt.get("rng_state", {}))
        try:
            if "torch" in rng:
                torch.set_rng_state(rng["torch"].cpu())
            if "cuda" in rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise DataError(f"{path}: invalid rng_state ({exc})") from None

    @contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        """Turn an ``OSError`` while writing ``path`` into a :class:`DataError`."""
        try:
            yield
        except OSError as exc:
            reason = (
                "no space left on device"
                if exc.errno in (errno.ENOSPC, errno.EDQUOT)
                else exc.strerror or str(exc)
            )
            message = f"cannot write {path}: {reason}"
            if self.checkpoint_path.is_file():
                message += (
                    f"; the checkpoint {self.checkpoint_path} is intact: fix that and continue "
                    "with --resume"
                )
            raise DataError(message) from None

    def _save(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, metrics: dict
    ) -> None:
        with self._writing(self.checkpoint_path):
            save_checkpoint(self.checkpoint_path, self._payload(model, optimizer, step, metrics))

    def _write_metrics(self, rows: list[dict[str, float]], truncate_after: int | None) -> None:
        with self._writing(self.metrics_path):
            if truncate_after is not None:
                kept: list[str] = []
                if self.metrics_path.exists():
                    for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
                        try:
                            if json.loads(line).get("step", 0) <= truncate_after:
                                kept.append(line)
                        except (ValueError, AttributeError):
                            break
                atomic_write_text(self.metrics_path, "".join(k + "\n" for k in kept))
            if rows:
                with open(self.metrics_path, "a", encoding="utf-8") as fh:
                    for row in rows:
                        fh.write(json.dumps(row) + "\n")

    def _plot(self) -> Path | None:
        from vnet.plot import plot_curves

        with self._writing(self.curves_path):
            return plot_curves(self.metrics_path, self.curves_path)

    # -- the loop ---------------------------------------------------------------------

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
        self._ctx = ctx
        try:
            return self._run(ctx)
        finally:
            ddp.teardown(ctx)

    def _run(self, ctx: ddp.DistContext) -> TrainResult:
        from tqdm import tqdm

        cfg = self.config
        main = ctx.is_main
        t_start = time.perf_counter()
        net = build_model(cfg.model, _model_config(cfg)).to(self.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=cfg.betas)
        step = 0
        last_metrics: dict[str, float] = {}
        ckpt = None
        if self.resume:
            ckpt = load_checkpoint(self.checkpoint_path, map_location=self.device)
            self._check_resume(ckpt)
            step = int(ckpt.get("step", 0))
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
            self._check_first_sample(samples, step * cfg.batch_size + lo, net)
        if main:
            with self._writing(self.out):
                self.out.mkdir(parents=True, exist_ok=True)
        if ckpt is not None:
            self._restore(ckpt, net, optimizer)
            last_metrics = dict(ckpt.get("metrics", {}))
            if main:
                self._write_metrics([], truncate_after=step)
        elif main:
            self._write_metrics([], truncate_after=0)
            self._save(net, optimizer, 0, {})
        if main:
            text = json.dumps({"train": cfg.to_dict(), "source": self.source_info}, indent=2)
            with self._writing(self.out / "config.json"):
                atomic_write_text(self.out / "config.json", text + "\n")
        saved_step = step
        if step >= cfg.iterations:
            curves = self._plot() if main else None
            ddp.barrier(ctx)
            return TrainResult(
                step, last_metrics, self.checkpoint_path, curves, time.perf_counter() - t_start
            )

        model = ddp.wrap_model(net, ctx, self.device)
        loader = make_loader(samples, cfg.batch_size, step, cfg.workers, shard=shard)
        loader.worker_init_fn = _worker_init
        n_local = hi - lo
        # DDP averages the processes' gradients; weighting each local mean by its share
        # of the global batch makes that average the gradient of the global batch mean
        scale = n_local * ctx.world_size / cfg.batch_size
        bar = tqdm(
            total=cfg.iterations,
            initial=step,
            desc=f"train {cfg.model}",
            unit="it",
            disable=not (self.progress and main),
            file=sys.stderr,
            dynamic_ncols=True,
        )
        pending: list[dict[str, float]] = []
        elapsed0 = float(last_metrics.get("elapsed", 0.0))
        t_run = time.perf_counter()
        t_iter = time.perf_counter()
        model.train()
        batches = iter(loader)
        stopper = GracefulStop()
        stop = False
        try:
            with stopper:
                while step < cfg.iterations and not stop:
                    try:
                        batch = next(batches)
                    except StopIteration:
                        break
                    except Exception:
                        if stopper.requested:  # the signal also stopped the loader's workers
                            stop = True
                            break
                        raise
                    if isinstance(batch, SynthlangError):
                        raise batch  # a draw failed to load (possibly in a worker process)
                    u0, g_u, g_m = batch
                    step += 1
                    u0 = u0.to(self.device, non_blocking=True)
                    g_u = g_u.to(self.device, non_blocking=True)
                    g_m = g_m.to(self.device, non_blocking=True)
                    m0 = torch.zeros_like(g_m)
                    with autocast(self.precision, self.device):
                        u_t, m_t = model(u0, m0)
                    u_t, m_t = u_t.float(), m_t.float()
                    loss, metrics = loss_and_metrics(u_t, m_t, g_u, g_m, u0, cfg.loss_weights)
                    metrics, stop_all = ddp.reduce_step(
                        metrics, n_local, cfg.batch_size, stopper.requested, ctx, self.device
                    )
                    if not math.isfinite(metrics["loss"]):
                        self._diverged(step, f"the loss is {metrics['loss']}", saved_step, pending)
                    optimizer.zero_grad(set_to_none=True)
                    (loss * scale if ctx.enabled else loss).backward()
                    bad = [
                        n
                        for n, p in net.named_parameters()
                        if p.grad is not None and not bool(torch.isfinite(p.grad).all())
                    ]
                    if bad:
                        self._diverged(
                            step, f"the gradient of {bad[0]} is not finite", saved_step, pending
                        )
                    optimizer.step()
                    net.project_()  # type: ignore[operator]  # CoupledVN or UNet
                    now = time.perf_counter()
                    metrics.update(
                        step=step,
                        lr=float(optimizer.param_groups[0]["lr"]),
                        seconds=now - t_iter,
                        elapsed=elapsed0 + now - t_run,
                    )
                    t_iter = now
                    pending.append(metrics)
                    last_metrics = metrics
                    bar.set_postfix(
                        loss=f"{metrics['loss']:.4g}",
                        acc=f"{metrics['accuracy']:.3f}",
                        psnr=f"{metrics['psnr']:.2f}",
                        refresh=False,
                    )
                    bar.update(1)
                    if step % cfg.checkpoint_every == 0 or step == cfg.iterations:
                        ddp.check_in_sync(net, ctx, step)
                        if main:
                            self._write_metrics(pending, None)
                            self._save(net, optimizer, step, metrics)
                        pending = []
                        saved_step = step
                    # every process stops after the same iteration (the flag was all-reduced)
                    stop = stop_all if ctx.enabled else stopper.requested
                if stop and step < cfg.iterations:
                    if step != saved_step and main:
                        self._write_metrics(pending, None)
                        self._save(net, optimizer, step, last_metrics)
                    raise TrainingInterrupted(step, self.checkpoint_path if main else None)
        finally:
            # rows after the last checkpoint are dropped with it: a resume redoes them
            bar.close()
            del batches  # stop loader workers now, not when the traceback is collected
        curves = self._plot() if main else None
        ddp.barrier(ctx)
        return TrainResult(
            step, last_metrics, self.checkpoint_path, curves, time.perf_counter() - t_start
        )

    def _check_first_sample(self, samples: TrainingSamples, draw: int, net: nn.Module) -> None:
        """Load one draw in this process, so data problems surface as clean errors."""
        u0, _, _ = samples[draw]
        min_size = int(getattr(net, "min_size", 1))
        if min(u0.shape[-2:]) < min_size:
            h, w = u0.shape[-2:]
            raise DataError(
                f"training images of {h} x {w} pixels are smaller than the network's minimum "
                f"{min_size} x {min_size}; use a larger --crop"
            )

    def _diverged(
        self, step: int, what: str, saved_step: int, pending: list[dict[str, float]]
    ) -> None:
        if self._ctx.is_main:
            self._write_metrics(pending, None)
            try:
                self._plot()
            except Exception:  # pragma: no cover - the plot must not hide the real error
                pass
        pending.clear()
        raise TrainingError(
            f"training diverged at iteration {step}: {what}. The last good checkpoint "
            f"(iteration {saved_step}) is kept at {self.checkpoint_path}; try a smaller "
            f"--lr (now {self.config.lr:g}) and resume or restart"
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
    ).run()
