"""Training curves like the paper's Fig. 3 (loss, accuracy of m_T, PSNR of u_T)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from synthlang.common.fileio import atomic_write_bytes

__all__ = ["read_metrics", "plot_curves"]


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """Read a ``metrics.jsonl`` file (missing file: empty list; a torn last line is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    rows = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if n <= 1 or y.size < n:
        return y
    kernel = np.ones(n) / n
    pad = np.concatenate([np.full(n - 1, y[0]), y])
    return np.convolve(pad, kernel, mode="valid")


def plot_curves(metrics_path: str | Path, out_png: str | Path) -> Path | None:
    """Plot loss, mask accuracy and PSNR against the iteration into ``out_png``.

    Uses matplotlib's Agg canvas directly (no pyplot, no global state). Raw values
    are drawn thin, a moving average thick; the PSNR panel also shows the input's
    PSNR for reference.

    Parameters
    ----------
    metrics_path : str or Path
        A ``metrics.jsonl`` written by :class:`vnet.train.Trainer`.
    out_png : str or Path
        Where to write the figure (atomically: temporary file, then rename).

    Returns
    -------
    Path or None
        ``out_png``, or ``None`` when there is nothing to plot.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(metrics_path)
    if not rows:
        return None
    steps = np.array([r["step"] for r in rows], dtype=float)
    fig = Figure(figsize=(12, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    window = max(1, len(rows) // 30)
    panels = [
        ("loss", "loss", None),
        ("accuracy", "accuracy $m_T$", None),
        ("psnr", "PSNR $u_T$ [dB]", "psnr_input"),
    ]
    for ax, (key, label, ref) in zip(axes, panels, strict=True):
        y = np.array([r.get(key, np.nan) for r in rows], dtype=float)
        ax.plot(steps, y, lw=0.6, alpha=0.4, color="C0")
        ax.plot(steps, _smooth(y, window), lw=1.8, color="C0", label=label)
        if ref is not None and all(ref in r for r in rows):
            yr = np.array([r[ref] for r in rows], dtype=float)
            ax.plot(steps, _smooth(yr, window), lw=1.0, ls="--", color="C3", label="input $u_0$")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xlabel("iteration")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out_png)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(out, buffer.getvalue())  # a killed run never leaves half a PNG
    return out
