"""Where and how fast training runs: the device, torch's threads, the arithmetic.

``--threads`` (:func:`configure_threads`) defaults to every core this process may use,
shared by the processes of a machine under ``torchrun``; DataLoader workers run one
thread each at niceness :data:`WORKER_NICENESS` (:func:`worker_init`). ``--precision
bf16`` (:func:`check_precision`, :func:`autocast`) runs the forward pass under bfloat16
autocast where the hardware does that fast.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from vnet.errors import TrainingError

__all__ = [
    "resolve_device",
    "available_cores",
    "configure_threads",
    "PRECISIONS",
    "check_precision",
    "autocast",
    "worker_init",
    "WORKER_NICENESS",
]

#: Arithmetic of the forward pass: float32, or bfloat16 autocast (``--precision``).
PRECISIONS = ("fp32", "bf16")

#: ``/proc/cpuinfo`` flags of CPUs with fast bfloat16 matrix arithmetic.
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

#: Niceness added to DataLoader workers so that they never take the cores from the
#: training threads (they run when the main process waits for a batch).
WORKER_NICENESS = 10


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


def worker_init(worker_id: int) -> None:
    """DataLoader worker start: lower the priority, one torch thread."""
    del worker_id
    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICENESS)
    torch.set_num_threads(1)
