"""Preview of stain and scanner variation: one scene under eight draws of a ``degrade`` block.

Usage::

    python scripts/stain_preview.py                      # writes docs/img/stain_variation.png
    python scripts/stain_preview.py --scene scenes/scenario2.scene --out /tmp/v.png

The tissue is rendered once (seed 0, without degradations, on a canvas large enough for the
smallest zoom); each draw then applies the variation block as the renderer does -- the
``scale`` zoom (a centre crop of ``size / factor`` resampled to ``size``), then the passes in
order with :func:`synthlang.engine.degrade.degrade_pair` -- with its own generator, so the
columns differ only by the variation. The first column is the tissue without variation.
Upper row: clean images; lower row: noisy images.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from synthlang import compile_file, compile_string, ir
from synthlang.engine.degrade import degrade_pair
from synthlang.engine.render import render
from synthlang.engine.rescale import Resampler, canvas_size
from synthlang.engine.sampling import draw
from synthlang.ir import support

ROOT = Path(__file__).resolve().parents[1]

VARIATION = """
scene v { size 8 x 8 }
layer bg { fill color rgb(1, 1, 1) }
degrade {
    scale(uniform(0.85, 1.15))
    stain he(alpha uniform(0.85, 1.15), beta [uniform(-0.03, 0.03), 0], angle uniform(-4, 4))
    brightness(uniform(0.92, 1.08))
    contrast(uniform(0.85, 1.15))
    gamma(uniform(0.85, 1.15))
    saturation(uniform(0.8, 1.2))
    blur gaussian(uniform(0.3, 1.0))
    noise gaussian(uniform(0.005, 0.02))
    jpeg(quality randint(60, 95))
}
"""
"""The variation shown (the same block as the example in docs/language.md)."""


def variation_sheet(scene: ir.Scene, passes: tuple, draws: int = 8, side: int = 200) -> np.ndarray:
    """Return an RGB uint8 sheet: 2 rows (clean, noisy) x (1 + draws) columns of ``side`` px.

    Parameters
    ----------
    scene : synthlang.ir.Scene
        The tissue (its own degradations are ignored).
    passes : tuple of synthlang.ir.DegradePass
        The variation block.
    draws : int
        Number of draws shown after the reference column.
    side : int
        Side of each tile in pixels.

    Returns
    -------
    numpy.ndarray
        ``(2 * side, (1 + draws) * side, 3)`` uint8.
    """
    zoom = next((p for p in passes if isinstance(p, ir.ScaleJitter)), None)
    low = support(zoom.factor)[0] if zoom is not None else 1.0
    big = max(side, int(np.ceil(side / low)) + 2)
    tissue = scene.model_copy(update={"size": (big, big), "degrade": ()})
    base = render(tissue, seed=0)
    off = (big - side) // 2
    tiles_clean = [base.clean[off : off + side, off : off + side]]
    tiles_noisy = [base.noisy[off : off + side, off : off + side]]
    for k in range(1, draws + 1):
        rng = np.random.default_rng(k)
        rows, cols = side, side
        if zoom is not None:
            rows, cols = canvas_size((side, side), draw(zoom.factor, rng))
        r0, c0 = (big - rows) // 2, (big - cols) // 2
        rs = Resampler((rows, cols), (side, side))
        clean = rs.image(base.clean[r0 : r0 + rows, c0 : c0 + cols])
        noisy = rs.image(base.noisy[r0 : r0 + rows, c0 : c0 + cols])
        clean_out, noisy_out = degrade_pair(clean, noisy, passes, rng)
        assert clean_out is not None
        tiles_clean.append(clean_out)
        tiles_noisy.append(noisy_out)
    sheet = np.concatenate(
        [np.concatenate(tiles_clean, axis=1), np.concatenate(tiles_noisy, axis=1)], axis=0
    )
    return (np.clip(sheet, 0, 1) * 255 + 0.5).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    """Write the preview sheet."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scene", default=str(ROOT / "scenes" / "scenario2.scene"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "stain_variation.png"))
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--side", type=int, default=160)
    args = ap.parse_args(argv)
    scene = compile_file(args.scene)
    passes = compile_string(VARIATION).degrade
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sheet = variation_sheet(scene, passes, draws=args.draws, side=args.side)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, optimize=True)
    print(f"wrote {args.out} ({sheet.shape[1]} x {sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
