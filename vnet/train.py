"""Training of the coupled variational network (or the U-Net baseline).

Loss, Eq. (3) of the paper, per sample ``s``::

    (1/6) ||u^s_T - g^s_u||^2 + (1/2) ||m^s_T - g^s_m||^2

with the squared norms summed over all pixels (and channels); the batch loss is the
mean over the samples of the batch. (With 300 x 300 images this puts the loss in the
thousands, the scale of the paper's Fig. 3.) Adam with ``betas = (0.9, 0.999)``;
after every Adam step the parameters are projected onto the admissible set
(:meth:`vnet.model.CoupledVN.project_`).

A run folder holds::

    RUN/model.pt        checkpoint (latest; written atomically every K steps and at the end)
    RUN/metrics.jsonl   one JSON line per iteration: step, loss, accuracy, psnr, psnr_input,
                        lr, seconds (this iteration), elapsed (since the run started)
    RUN/curves.png      loss, accuracy of m_T and PSNR of u_T against the iteration (Fig. 3)
    RUN/config.json     the training configuration and the data source, for people

Resuming (``resume=True``) restores model, optimiser and step from ``RUN/model.pt``
and continues with exactly the batches the uninterrupted run would have used
(batches are derived from ``(seed, step)``, see :mod:`vnet.data`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synthlang.errors import DataError, SynthlangError
from vnet.config import TrainConfig, UNetConfig, VNConfig
from vnet.data import SampleSource, TrainingSamples, make_loader
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
    "save_checkpoint",
    "load_checkpoint",
    "CHECKPOINT_FORMAT",
]

CHECKPOINT_FORMAT = "vnet-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "model.pt"
METRICS_NAME = "metrics.jsonl"
CURVES_NAME = "curves.png"

#: TrainConfig fields that may differ between a checkpoint and a resumed run.
RESUMABLE_CHANGES = frozenset({"iterations", "workers", "device", "checkpoint_every"})


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
    u: torch.Tensor, m: torch.Tensor, g_u: torch.Tensor, g_m: torch.Tensor, u0: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of Eq. (3) (mean over the batch) and the logged metrics.

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
    loss = (per_u / 6.0 + per_m / 2.0).mean()
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
    """Write ``payload`` with ``torch.save`` to a temporary file and rename it into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(dict(payload), fh)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :class:`Trainer` (``weights_only=True`` only).

    Raises
    ------
    DataError
        Missing, unreadable, or not a vnet checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such checkpoint file")
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for a corrupt or foreign file
        raise DataError(f"{p}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{p}: not a vnet checkpoint (written by `synthlang train`)")
    if int(data.get("version", 0)) > CHECKPOINT_VERSION:
        raise DataError(
            f"{p}: checkpoint version {data.get('version')} is newer than this vnet "
            f"(reads up to {CHECKPOINT_VERSION})"
        )
    for key in ("model_kind", "model_config", "model_state"):
        if key not in data:
            raise DataError(f"{p}: checkpoint lacks {key!r}")
    return data


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
    ) -> None:
        self.config = config
        self.source = source
        self.out = Path(out)
        self.source_info = dict(source_info)
        self.resume = resume
        self.progress = progress
        self.device = resolve_device(config.device)
        self.checkpoint_path = self.out / CHECKPOINT_NAME
        self.metrics_path = self.out / METRICS_NAME
        self.curves_path = self.out / CURVES_NAME

    # -- helpers ----------------------------------------------------------------------

    def _payload(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, metrics: dict
    ) -> dict[str, Any]:
        cfg = self.config
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model_kind": cfg.model,
            "model_config": _model_config(cfg).to_dict(),
            "train_config": cfg.to_dict(),
            "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer_state": optimizer.state_dict(),
            "step": step,
            "metrics": dict(metrics),
            "source": dict(self.source_info),
        }

    def _check_resume(self, ckpt: Mapping[str, Any]) -> None:
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

    def _write_metrics(self, rows: list[dict[str, float]], truncate_after: int | None) -> None:
        if truncate_after is not None:
            kept: list[str] = []
            if self.metrics_path.exists():
                for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
                    try:
                        if json.loads(line).get("step", 0) <= truncate_after:
                            kept.append(line)
                    except ValueError:
                        break
            self.metrics_path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
        if rows:
            with open(self.metrics_path, "a", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row) + "\n")

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train until ``config.iterations``; return the final state.

        Raises
        ------
        TrainingError
            On a NaN/inf loss or gradient (the last good checkpoint is kept).
        DataError
            Unusable data or an incompatible checkpoint on resume.
        """
        from tqdm import tqdm

        from vnet.plot import plot_curves

        cfg = self.config
        t_start = time.perf_counter()
        model = build_model(cfg.model, _model_config(cfg)).to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
        step = 0
        last_metrics: dict[str, float] = {}
        ckpt = None
        if self.resume:
            ckpt = load_checkpoint(self.checkpoint_path, map_location=self.device)
            self._check_resume(ckpt)
            step = int(ckpt.get("step", 0))
        samples = TrainingSamples(
            self.source,
            cfg.n_samples,
            seed=cfg.seed,
            crop=cfg.crop,
            flips=cfg.flips,
            total=cfg.iterations * cfg.batch_size,
        )
        if step < cfg.iterations:  # surface data problems before anything is written
            self._check_first_sample(samples, step, int(getattr(model, "min_size", 1)))
        self.out.mkdir(parents=True, exist_ok=True)
        if ckpt is not None:
            model.load_state_dict(ckpt["model_state"])
            if "optimizer_state" in ckpt:
                optimizer.load_state_dict(ckpt["optimizer_state"])
            last_metrics = dict(ckpt.get("metrics", {}))
            self._write_metrics([], truncate_after=step)
        else:
            self._write_metrics([], truncate_after=0)
            save_checkpoint(self.checkpoint_path, self._payload(model, optimizer, 0, {}))
        (self.out / "config.json").write_text(
            json.dumps({"train": cfg.to_dict(), "source": self.source_info}, indent=2) + "\n",
            encoding="utf-8",
        )
        saved_step = step
        if step >= cfg.iterations:
            curves = plot_curves(self.metrics_path, self.curves_path)
            return TrainResult(
                step, last_metrics, self.checkpoint_path, curves, time.perf_counter() - t_start
            )

        loader = make_loader(samples, cfg.batch_size, step, cfg.workers)
        bar = tqdm(
            total=cfg.iterations,
            initial=step,
            desc=f"train {cfg.model}",
            unit="it",
            disable=not self.progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        pending: list[dict[str, float]] = []
        elapsed0 = float(last_metrics.get("elapsed", 0.0))
        t_run = time.perf_counter()
        t_iter = time.perf_counter()
        model.train()
        try:
            for u0, g_u, g_m in loader:
                step += 1
                u0 = u0.to(self.device, non_blocking=True)
                g_u = g_u.to(self.device, non_blocking=True)
                g_m = g_m.to(self.device, non_blocking=True)
                m0 = torch.zeros_like(g_m)
                u_t, m_t = model(u0, m0)
                loss, metrics = loss_and_metrics(u_t, m_t, g_u, g_m, u0)
                if not math.isfinite(metrics["loss"]):
                    self._diverged(step, f"the loss is {metrics['loss']}", saved_step, pending)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                bad = [
                    n
                    for n, p in model.named_parameters()
                    if p.grad is not None and not bool(torch.isfinite(p.grad).all())
                ]
                if bad:
                    self._diverged(
                        step, f"the gradient of {bad[0]} is not finite", saved_step, pending
                    )
                optimizer.step()
                model.project_()
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
                    self._write_metrics(pending, None)
                    pending = []
                    save_checkpoint(
                        self.checkpoint_path, self._payload(model, optimizer, step, metrics)
                    )
                    saved_step = step
                if step >= cfg.iterations:
                    break
        finally:
            # rows after the last checkpoint are dropped with it: a resume redoes them
            bar.close()
        curves = plot_curves(self.metrics_path, self.curves_path)
        return TrainResult(
            step, last_metrics, self.checkpoint_path, curves, time.perf_counter() - t_start
        )

    def _check_first_sample(self, samples: TrainingSamples, step: int, min_size: int) -> None:
        """Load the first draw in this process, so data problems surface as clean errors."""
        u0, _, _ = samples[step * self.config.batch_size]
        if min(u0.shape[-2:]) < min_size:
            h, w = u0.shape[-2:]
            raise DataError(
                f"training images of {h} x {w} pixels are smaller than the network's minimum "
                f"{min_size} x {min_size}; use a larger --crop"
            )

    def _diverged(
        self, step: int, what: str, saved_step: int, pending: list[dict[str, float]]
    ) -> None:
        self._write_metrics(pending, None)
        pending.clear()
        try:
            from vnet.plot import plot_curves

            plot_curves(self.metrics_path, self.curves_path)
        except Exception:  # pragma: no cover - the plot must not hide the real error
            pass
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
) -> TrainResult:
    """Train a network; shorthand for ``Trainer(...).run()``."""
    return Trainer(
        config, source, out, source_info=source_info, resume=resume, progress=progress
    ).run()
