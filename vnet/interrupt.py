"""Stopping training cleanly on Ctrl-C or SIGTERM.

While :class:`GracefulStop` is active, the first SIGINT or SIGTERM only sets
:attr:`GracefulStop.requested`; the training loop sees it at the end of the
iteration, saves a checkpoint of that iteration and raises
:class:`TrainingInterrupted`. A second signal raises :class:`KeyboardInterrupt` at
once (the last periodic checkpoint is then the one to resume from; checkpoints
are written atomically, so it is never damaged). Signals within
:data:`DUPLICATE_SECONDS` of the first count as the same one: Ctrl-C under
``torchrun`` reaches every worker twice, from the terminal and from the launcher.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

__all__ = ["GracefulStop", "TrainingInterrupted", "DUPLICATE_SECONDS"]

DUPLICATE_SECONDS = 1.0
"""A second signal this soon after the first is taken as a copy of it."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal after saving a checkpoint of the current iteration.

    Parameters
    ----------
    step : int
        The iteration the checkpoint holds.
    checkpoint : Path or None
        The checkpoint file (``None`` on processes that do not write it).
    """

    def __init__(self, step: int, checkpoint: Path | None) -> None:
        super().__init__(f"interrupted at iteration {step}")
        self.step = step
        self.checkpoint = checkpoint


class GracefulStop:
    """Context manager turning the first SIGINT/SIGTERM into a request to stop.

    Outside the main thread (where signal handlers cannot be set) it does nothing.

    Examples
    --------
    >>> with GracefulStop() as stop:
    ...     for step in range(3):
    ...         if stop.requested:  # set by the first SIGINT/SIGTERM
    ...             break  # save a checkpoint, then stop
    >>> step, stop.requested
    (2, False)
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = signals
        self.requested = False
        self.signum: int | None = None
        self._first = 0.0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            if time.monotonic() - self._first > DUPLICATE_SECONDS:
                raise KeyboardInterrupt
            return
        self.requested = True
        self.signum = signum
        self._first = time.monotonic()

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
