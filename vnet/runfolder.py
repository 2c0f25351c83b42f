"""The run folder of a training run: checkpoints, the metrics log, the plot, and resuming.

A run folder holds::

    RUN/model.pt        checkpoint (latest; written atomically every K steps and at the end)
    RUN/metrics.jsonl   one JSON line per iteration: step, loss, accuracy, psnr, psnr_input,
                        lr, seconds (this iteration), elapsed (since the run started)
    RUN/curves.png      loss, accuracy of m_T and PSNR of u_T against the iteration (Fig. 3)
    RUN/config.json     the training configuration and the data source, for people

Resuming restores model, optimiser, step and torch's random generator state from
``RUN/model.pt`` and truncates ``metrics.jsonl`` to that step. Whether a checkpoint may
be resumed with a configuration is decided here only (:func:`resume_conflicts`,
:func:`check_resumable`): the same data and the same configuration except
:data:`RESUMABLE_CHANGES`. Every file is written atomically (temporary file, then
rename); a failed write is one :class:`~synthlang.common.errors.DataError` saying
whether the checkpoint is intact.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from synthlang.common.errors import DataError
from synthlang.common.fileio import atomic_write_text
from vnet import distributed as ddp
from vnet.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    check_optimizer_state,
    check_state_dict,
    load_checkpoint,
    save_checkpoint,
    stored_classes,
    stored_train_config,
)
from vnet.config import TrainConfig, class_names, default_classes
from vnet.errors import ConfigError
from vnet.networks import model_config

__all__ = [
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "CURVES_NAME",
    "CONFIG_NAME",
    "RESUMABLE_CHANGES",
    "RunFolder",
    "resume_conflicts",
    "resumable_config",
    "check_resumable",
    "checkpoint_payload",
    "restore",
]

CHECKPOINT_NAME = "model.pt"
METRICS_NAME = "metrics.jsonl"
CURVES_NAME = "curves.png"
CONFIG_NAME = "config.json"

#: TrainConfig fields that may differ between a checkpoint and a resumed run.
RESUMABLE_CHANGES = frozenset({"iterations", "workers", "device", "checkpoint_every"})


# --------------------------------------------------------------------------- resuming


def resume_conflicts(stored: TrainConfig, new: TrainConfig) -> list[str]:
    """The fields of ``new`` that differ from ``stored`` and may not change on resume.

    Examples
    --------
    >>> from vnet.config import preset
    >>> old = preset("smoke")
    >>> resume_conflicts(old, old.replace(iterations=8, lr=0.1, **{"vn.steps": 3}))
    ['lr', 'vn']
    """
    return sorted(
        name
        for name in TrainConfig.model_fields
        if name not in RESUMABLE_CHANGES and getattr(stored, name) != getattr(new, name)
    )


def resumable_config(ckpt: Mapping[str, Any], path: str | Path) -> TrainConfig:
    """The training configuration of a (validated) checkpoint that is to be resumed.

    Raises
    ------
    DataError
        The checkpoint holds no training configuration (an exported model).
    """
    config = stored_train_config(ckpt, path)
    if config is None:
        raise DataError(f"{path}: holds no training configuration; it cannot be resumed")
    return config


def check_resumable(
    ckpt: Mapping[str, Any],
    config: TrainConfig,
    source_info: Mapping[str, Any],
    path: Path,
    classes: Sequence[str] | None = None,
) -> None:
    """Refuse to resume a checkpoint with another configuration or other data.

    Raises
    ------
    DataError
        No training configuration, a change outside :data:`RESUMABLE_CHANGES`,
        another data hash or other class names (when ``classes`` is given).
    """
    differ = resume_conflicts(resumable_config(ckpt, path), config)
    if differ:
        raise DataError(
            f"{path}: cannot resume with a changed configuration "
            f"({', '.join(differ)}); only {sorted(RESUMABLE_CHANGES)} may change"
        )
    old_hash = dict(ckpt.get("source", {})).get("hash")
    if old_hash != source_info.get("hash"):
        raise DataError(
            f"{path}: was trained on other data "
            f"(hash {str(old_hash)[:12]}..., now {str(source_info.get('hash'))[:12]}...); "
            "resume with the same scene or dataset"
        )
    # a checkpoint from before classes were stored is binary: its one class had no name
    named = "classes" in ckpt or len(tuple(classes or ())) > 1
    if classes is not None and named and tuple(classes) != stored_classes(ckpt, path):
        raise DataError(
            f"{path}: was trained on the classes {list(stored_classes(ckpt, path))}, "
            f"the data now have {list(classes)}"
        )


def checkpoint_payload(
    config: TrainConfig,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    metrics: Mapping[str, float],
    source_info: Mapping[str, Any],
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The checkpoint of a run after ``step`` iterations (plain data: weights-only loadable).

    ``classes`` names the network's mask channels (default
    :func:`~vnet.config.default_classes`).
    """
    net = ddp.unwrap(net)
    device = next(net.parameters()).device
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_kind": config.model,
        "model_config": model_config(config).model_dump(mode="json"),
        "classes": list(classes or default_classes(model_config(config).mask_channels)),
        "train_config": config.model_dump(mode="json"),
        "model_state": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "optimizer_state": optimizer.state_dict(),
        "step": step,
        "metrics": dict(metrics),
        "source": dict(source_info),
        "rng_state": rng,
    }


def restore(
    ckpt: Mapping[str, Any],
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    path: Path,
) -> None:
    """Load weights, Adam moments and the random generator state (all checked first).

    Raises
    ------
    DataError
        Weights, moments or generator state that do not fit the network.
    """
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
        if "cuda" in rng and device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), device)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: invalid rng_state ({exc})") from None


# ------------------------------------------------------------------------- the folder


class RunFolder:
    """The files of one training run; only the main process writes them.

    Parameters
    ----------
    out : str or Path
        The folder.
    config : TrainConfig
        The run's configuration (stored in checkpoints and ``config.json``).
    source_info : dict
        Identification of the data (``kind``, ``hash``, ...), stored likewise.
    main : bool
        Whether this process writes (rank 0); elsewhere every write does nothing.
    classes : sequence of str, optional
        Names of the network's mask channels, stored in checkpoints (default
        :func:`~vnet.config.default_classes`; a resumed checkpoint must have the same).

    Raises
    ------
    ConfigError
        ``classes`` are not as many distinct names as the network has mask channels.
    """

    def __init__(
        self,
        out: str | Path,
        config: TrainConfig,
        source_info: Mapping[str, Any],
        *,
        main: bool = True,
        classes: Sequence[str] | None = None,
    ) -> None:
        self.out = Path(out)
        self.config = config
        self.source_info = dict(source_info)
        self.main = main
        k = model_config(config).mask_channels
        try:
            self.classes = class_names(classes or default_classes(k), k)
        except ConfigError as exc:
            raise ConfigError(f"{exc.message} (model {config.model})") from None
        self.checkpoint = self.out / CHECKPOINT_NAME
        self.metrics = self.out / METRICS_NAME
        self.curves = self.out / CURVES_NAME
        self.config_json = self.out / CONFIG_NAME

    @contextmanager
    def writing(self, path: Path) -> Iterator[None]:
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
            if self.checkpoint.is_file():
                message += (
                    f"; the checkpoint {self.checkpoint} is intact: fix that and continue "
                    "with --resume"
                )
            raise DataError(message) from None

    def load_for_resume(self, device: torch.device) -> dict[str, Any]:
        """Read the checkpoint and check that this run may continue it (:func:`check_resumable`)."""
        ckpt = load_checkpoint(self.checkpoint, map_location=device)
        check_resumable(ckpt, self.config, self.source_info, self.checkpoint, self.classes)
        return ckpt

    def start(
        self,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        ckpt: Mapping[str, Any] | None,
    ) -> dict[str, float]:
        """Prepare the folder: resume from ``ckpt`` or save step 0, write ``config.json``.

        Returns
        -------
        dict
            The metrics of the checkpoint's last iteration (empty for a new run).
        """
        if self.main:
            with self.writing(self.out):
                self.out.mkdir(parents=True, exist_ok=True)
        last: dict[str, float] = {}
        if ckpt is not None:
            device = next(net.parameters()).device
            restore(ckpt, net, optimizer, device, self.checkpoint)
            last = dict(ckpt.get("metrics", {}))
            self.write_metrics([], truncate_after=int(ckpt.get("step", 0)))
        else:
            self.write_metrics([], truncate_after=0)
            self.save(net, optimizer, 0, {})
        if self.main:
            train = self.config.model_dump(mode="json")
            text = json.dumps({"train": train, "source": self.source_info}, indent=2)
            with self.writing(self.config_json):
                atomic_write_text(self.config_json, text + "\n")
        return last

    def save(
        self, net: nn.Module, optimizer: torch.optim.Optimizer, step: int, metrics: Mapping
    ) -> None:
        """Write the checkpoint of iteration ``step`` (atomically)."""
        if not self.main:
            return
        payload = checkpoint_payload(
            self.config, net, optimizer, step, metrics, self.source_info, self.classes
        )
        with self.writing(self.checkpoint):
            save_checkpoint(self.checkpoint, payload)

    def write_metrics(
        self, rows: list[dict[str, float]], truncate_after: int | None = None
    ) -> None:
        """Append ``rows`` to the log, first dropping the lines after ``truncate_after``."""
        if not self.main:
            return
        with self.writing(self.metrics):
            if truncate_after is not None:
                kept: list[str] = []
                if self.metrics.exists():
                    for line in self.metrics.read_text(encoding="utf-8").splitlines():
                        try:
                            if json.loads(line).get("step", 0) <= truncate_after:
                                kept.append(line)
                        except (ValueError, AttributeError):
                            break
                atomic_write_text(self.metrics, "".join(k + "\n" for k in kept))
            if rows:
                with open(self.metrics, "a", encoding="utf-8") as fh:
                    for row in rows:
                        fh.write(json.dumps(row) + "\n")

    def plot(self) -> Path | None:
        """Draw ``curves.png`` from the log (None where nothing is drawn)."""
        if not self.main:
            return None
        from vnet.plot import plot_curves

        with self.writing(self.curves):
            return plot_curves(self.metrics, self.curves)
