"""Training on several GPUs (or CPU processes) with ``torchrun`` and DistributedDataParallel.

``torchrun --nproc_per_node N -m synthlang train ...`` starts ``N`` copies of the
command with ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set. :func:`setup` sees them
and joins the process group (``nccl`` on CUDA, one GPU per process ``cuda:LOCAL_RANK``;
``gloo`` on the CPU); without them, or with ``WORLD_SIZE=1``, training is the ordinary
single-process loop.

What stays the same as in one process:

* **the data.** The global batch of step ``s`` is draws ``(s-1) B .. s B - 1`` as
  always (``vnet.data``); process ``r`` of ``W`` takes the contiguous slice
  :func:`local_slice` of it (sizes differ by at most one when ``W`` does not divide
  ``B``). So a run has the same batches whatever ``W`` is, and a run can be resumed
  with another number of processes.
* **the loss.** Each process scales its local mean loss by ``n_r W / B`` so that
  DDP's average of the gradients is the gradient of the global batch mean, also for
  uneven slices. The logged metrics are reduced the same way (:func:`reduce_step`).
* **the parameters.** DDP broadcasts rank 0's parameters when it wraps the model and
  all-reduces the gradients in backward, so every process applies the same averaged
  gradient with the same Adam state; the projection onto the constraint set
  (``project_``) is deterministic, so the processes stay identical. This is checked
  at every checkpoint (:func:`check_in_sync`: rank 0's parameters are broadcast and
  compared bit for bit).

Only rank 0 writes the checkpoint, the metrics, the curves and ``config.json`` and
shows the progress bar. Results equal those of one process up to the rounding of the
gradient averaging (a different summation order), about 1e-7 relative.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from synthlang.common.errors import SynthlangError

__all__ = [
    "DistContext",
    "env_ranks",
    "is_main_process",
    "setup",
    "teardown",
    "local_slice",
    "wrap_model",
    "unwrap",
    "reduce_step",
    "check_in_sync",
    "barrier",
]

_REDUCED = ("loss", "accuracy", "psnr", "psnr_input")


class DistributedError(SynthlangError):
    """The distributed environment is unusable (bad variables, too few GPUs)."""


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a distributed run.

    Parameters
    ----------
    rank : int
        Global rank (0 writes the run folder).
    world_size : int
        Number of processes; 1 means no distribution.
    local_rank : int
        Rank on this machine (the GPU index on CUDA).
    backend : str or None
        ``"nccl"``, ``"gloo"`` or ``None`` (single process).
    owns_group : bool
        Whether :func:`setup` initialised the process group (and
        :func:`teardown` destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True for the process that writes files and shows progress (rank 0)."""
        return self.rank == 0


def env_ranks(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``.

    Missing variables mean a single process ``(0, 1, 0)``.

    Raises
    ------
    DistributedError
        A variable that is not a whole number, or inconsistent values.

    Examples
    --------
    >>> env_ranks({})
    (0, 1, 0)
    >>> env_ranks({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    (3, 4, 1)
    """
    env = os.environ if environ is None else environ
    values = []
    for name, default in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)):
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            values.append(default)
            continue
        try:
            values.append(int(raw))
        except ValueError:
            raise DistributedError(f"{name} must be a whole number, got {raw!r}") from None
    rank, world, local = values
    if world < 1 or not 0 <= rank < world or local < 0:
        raise DistributedError(
            f"inconsistent RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}; "
            "start distributed training with torchrun"
        )
    return rank, world, local


def is_main_process(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is rank 0 (or not distributed); for printing in the CLI."""
    try:
        return env_ranks(environ)[0] == 0
    except DistributedError:
        return True


def setup(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE > 1``).

    Parameters
    ----------
    device : torch.device
        The device training asked for (``cpu`` or ``cuda``).

    Returns
    -------
    (DistContext, torch.device)
        The context, and this process's device (``cuda:LOCAL_RANK`` on CUDA).

    Raises
    ------
    DistributedError
        Bad variables, ``torch.distributed`` unavailable, or fewer GPUs than
        processes on this machine.
    """
    rank, world, local = env_ranks()
    if world == 1:
        return DistContext(), device
    import torch.distributed as dist

    if not dist.is_available():
        raise DistributedError("this PyTorch build has no torch.distributed")
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if local >= count:
            raise DistributedError(
                f"LOCAL_RANK {local} but this machine has {count} CUDA device(s); start at most "
                f"{count} processes per node (torchrun --nproc_per_node {count})"
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world)
        owns = True
    elif dist.get_world_size() != world:
        raise DistributedError(
            f"the process group has {dist.get_world_size()} processes but WORLD_SIZE={world}"
        )
    return DistContext(rank, world, local, backend, owns), device


def teardown(ctx: DistContext) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if ctx.owns_group:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def local_slice(batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """Positions ``[start, stop)`` of the global batch that process ``rank`` trains on.

    Raises
    ------
    DistributedError
        If the batch is smaller than the number of processes.

    Examples
    --------
    >>> [local_slice(5, r, 2) for r in range(2)]
    [(0, 2), (2, 5)]
    >>> local_slice(8, 3, 4)
    (6, 8)
    """
    if batch_size < world_size:
        raise DistributedError(
            f"the batch of {batch_size} samples is smaller than the {world_size} processes; "
            "use a --batch of at least the number of processes"
        )
    return rank * batch_size // world_size, (rank + 1) * batch_size // world_size


def wrap_model(model: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """Wrap ``model`` in DistributedDataParallel (unchanged for a single process)."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)  # the networks have no buffers


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (or ``model`` itself)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def reduce_step(
    metrics: dict[str, float],
    n_local: int,
    batch_size: int,
    stop: bool,
    ctx: DistContext,
    device: torch.device,
) -> tuple[dict[str, float], bool]:
    """Global-batch metrics and a common stop decision, in one all-reduce.

    Parameters
    ----------
    metrics : dict
        This process's metrics (means over its ``n_local`` samples).
    n_local, batch_size : int
        Samples of this process and of the global batch.
    stop : bool
        Whether this process was asked to stop (a signal).
    ctx : DistContext
        The context (nothing is communicated for a single process).
    device : torch.device
        Where the collective runs (the process's GPU with nccl).

    Returns
    -------
    (dict, bool)
        Metrics of the global batch (sample-weighted means) and whether any
        process was asked to stop.
    """
    if not ctx.enabled:
        return metrics, stop
    import torch.distributed as dist

    values = [metrics[k] * n_local for k in _REDUCED] + [1.0 if stop else 0.0]
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    out = dict(metrics)
    for i, key in enumerate(_REDUCED):
        out[key] = float(t[i]) / batch_size
    return out, bool(t[-1] > 0)


def check_in_sync(model: nn.Module, ctx: DistContext, step: int) -> None:
    """Verify that every process holds rank 0's parameters, bit for bit.

    Raises
    ------
    DistributedError
        On every process, if any process's parameters differ.
    """
    if not ctx.enabled:
        return
    import torch.distributed as dist

    with torch.no_grad():
        mine = torch.cat([p.detach().reshape(-1) for p in unwrap(model).parameters()])
        ref = mine.clone()
        dist.broadcast(ref, 0)
        diff = (mine - ref).abs().max().to(torch.float64).reshape(1)
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    if float(diff) != 0.0:
        raise DistributedError(
            f"after iteration {step} the processes' parameters differ (max difference "
            f"{float(diff):.3g}); the run is not synchronous, please report this"
        )


def barrier(ctx: DistContext) -> None:
    """Wait for every process (no-op for a single process)."""
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()
