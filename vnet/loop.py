"""The training loop: batches through :class:`~vnet.step.TrainStep` until the last iteration.

Batches come from :func:`vnet.data.make_loader`, derived from ``(seed, step)``, so a
resumed loop sees exactly the batches the uninterrupted run would have seen. Every
``checkpoint_every`` iterations (and at the last) the loop writes the metrics since
the previous checkpoint and a checkpoint (:class:`~vnet.runfolder.RunFolder`); rows
after the last checkpoint are dropped with it when training stops otherwise, and a
resume redoes them. The first SIGINT/SIGTERM stops at the end of the iteration with a
checkpoint of it (:mod:`vnet.interrupt`); a non-finite loss or gradient stops with
:class:`~vnet.errors.TrainingError`, keeping the last good checkpoint.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn

from synthlang.common.errors import SynthlangError
from vnet import distributed as ddp
from vnet.config import TrainConfig, lr_at
from vnet.errors import TrainingError
from vnet.interrupt import GracefulStop, TrainingInterrupted
from vnet.runfolder import RunFolder
from vnet.step import Diverged, TrainStep

__all__ = ["TrainingLoop"]


class TrainingLoop:
    """Run :class:`~vnet.step.TrainStep` over batches, checkpointing into a run folder.

    Parameters
    ----------
    step : TrainStep
        The optimisation step (network, optimiser, device, process group).
    folder : RunFolder
        Where checkpoints and metrics go.
    config : TrainConfig
        ``iterations``, ``checkpoint_every``, ``lr`` and ``lr_schedule`` (the step size of
        each iteration, :func:`vnet.config.lr_at`) are used.
    progress : bool
        Show a tqdm progress bar on stderr (main process only).
    """

    def __init__(
        self, step: TrainStep, folder: RunFolder, config: TrainConfig, *, progress: bool = True
    ) -> None:
        self.step = step
        self.folder = folder
        self.config = config
        self.progress = progress
        self.iteration = 0
        self.saved = 0
        self.last: dict[str, float] = {}
        self.pending: list[dict[str, float]] = []

    def run(
        self, batches: Iterable[Any], start: int, last: dict[str, float]
    ) -> tuple[int, dict[str, float]]:
        """Train from iteration ``start`` (``last``: its metrics) to ``config.iterations``.

        Returns
        -------
        (int, dict)
            The last iteration done and its metrics.

        Raises
        ------
        TrainingError
            On a NaN/inf loss or gradient (the last good checkpoint is kept).
        TrainingInterrupted
            On SIGINT/SIGTERM, after saving a checkpoint of the last iteration.
        """
        self.iteration = self.saved = start
        self.last = dict(last)
        self.pending = []
        bar = self._progress_bar(start)
        it = iter(batches)
        try:
            with GracefulStop() as stopper:
                if self._iterate(it, stopper, bar) and self.iteration < self.config.iterations:
                    self._interrupted()
        finally:
            # rows after the last checkpoint are dropped with it: a resume redoes them
            bar.close()
            del it  # stop loader workers now, not when the traceback is collected
        return self.iteration, self.last

    def _progress_bar(self, start: int) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=self.config.iterations,
            initial=start,
            desc=f"train {self.config.model}",
            unit="it",
            disable=not (self.progress and self.folder.main),
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def _iterate(self, batches: Iterator[Any], stopper: GracefulStop, bar: Any) -> bool:
        """Run iterations until the last one, the end of the batches or a stop request.

        Returns
        -------
        bool
            Whether a signal stopped the loop.
        """
        cfg, ctx = self.config, self.step.ctx
        elapsed0 = float(self.last.get("elapsed", 0.0))
        cpu0 = float(self.last.get("cpu_seconds", 0.0))
        t_run = t_iter = time.perf_counter()
        c_run = time.process_time()
        self.step.net.train()
        if self.step.model is not None:
            self.step.model.train()
        while self.iteration < cfg.iterations:
            try:
                batch = next(batches)
            except StopIteration:
                return False
            except Exception:
                if stopper.requested:  # the signal also stopped the loader's workers
                    return True
                raise
            if isinstance(batch, SynthlangError):
                raise batch  # a draw failed to load (possibly in a worker process)
            self.iteration += 1
            self.step.lr = lr_at(cfg, self.iteration)
            try:
                metrics, stop_all = self.step(batch, stopper.requested)
            except Diverged as exc:
                self._diverged(str(exc))
            now = time.perf_counter()
            metrics.update(
                step=self.iteration,
                lr=self.step.lr,
                seconds=now - t_iter,
                elapsed=elapsed0 + now - t_run,
                # CPU time of this process (all its threads; not DataLoader workers)
                cpu_seconds=cpu0 + time.process_time() - c_run,
            )
            t_iter = now
            self._record(metrics, bar)
            # every process stops after the same iteration (the flag was all-reduced)
            stop = stop_all if ctx.enabled else stopper.requested
            if stop:
                return True
        return False

    def _record(self, metrics: dict[str, float], bar: Any) -> None:
        """Log an iteration's metrics; write them and a checkpoint when one is due."""
        self.pending.append(metrics)
        self.last = metrics
        bar.set_postfix(
            loss=f"{metrics['loss']:.4g}",
            acc=f"{metrics['accuracy']:.3f}",
            psnr=f"{metrics['psnr']:.2f}",
            refresh=False,
        )
        bar.update(1)
        step, cfg = self.iteration, self.config
        if step % cfg.checkpoint_every == 0 or step == cfg.iterations:
            ddp.check_in_sync(self.step.net, self.step.ctx, step)
            self._checkpoint()

    def _checkpoint(self) -> None:
        self.folder.write_metrics(self.pending)
        self.folder.save(self.step.net, self.step.optimizer, self.iteration, self.last)
        self.pending = []
        self.saved = self.iteration

    def _interrupted(self) -> None:
        """Save the iteration a signal stopped at (if not saved yet) and raise."""
        if self.iteration != self.saved:
            self._checkpoint()
        checkpoint = self.folder.checkpoint if self.folder.main else None
        raise TrainingInterrupted(self.iteration, checkpoint)

    def _diverged(self, what: str) -> NoReturn:
        """Write the metrics so far and the plot, then raise :class:`TrainingError`."""
        self.folder.write_metrics(self.pending)
        try:
            self.folder.plot()
        except Exception:  # pragma: no cover - the plot must not hide the real error
            pass
        self.pending = []
        raise TrainingError(
            f"training diverged at iteration {self.iteration}: {what}. The last good "
            f"checkpoint (iteration {self.saved}) is kept at {self.folder.checkpoint}; try "
            f"a smaller --lr (now {self.config.lr:g}) and resume or restart"
        )
