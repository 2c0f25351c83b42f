"""Preview of soft nucleus edges and chromatin texture: one scene with and without them.

Usage::

    python scripts/soft_chromatin_preview.py             # writes docs/img/soft_chromatin.png
    python scripts/soft_chromatin_preview.py --out /tmp/p.png --seed 3

The scene (the example of docs/language.md, "Soft edges and chromatin") is rendered with the
same seed four times: without the two items, with ``soft`` only, with ``chromatin`` only and
with both. Both items belong to the top layer and draw after its placement, so the nuclei are
the same in every column. Upper row: clean images; lower row: noisy images; each tile is
shown enlarged (nearest neighbour) so the edges and the texture can be seen.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from synthlang import compile_string, ir
from synthlang.engine.render import render

ROOT = Path(__file__).resolve().parents[1]

SCENE = """
scene soft_nuclei { size 96 x 96 }
let pale = [[3e-4, 2e-4, 1e-4], [2e-4, 3e-4, 1e-4], [1e-4, 1e-4, 3e-4]]
let grain = [[5e-4, 3e-4, 3e-4], [3e-4, 5e-4, 3e-4], [3e-4, 3e-4, 5e-4]]
layer stroma { fill color mvn(mean [0.93, 0.8, 0.88], cov pale) }
layer nucleus {
    ellipse(semi_axes [uniform(6, 10), uniform(4, 7)], angle uniform(0, 180))
    place count 14, overlap moderate(0.1)
    color mvn(mean [0.36, 0.22, 0.55], cov grain, between grain)
    soft(width uniform(1.5, 3))
    chromatin(amount uniform(0.1, 0.3), scale uniform(1, 2.5), granules uniform(0.3, 0.7),
              rim uniform(0.05, 0.2))
}
degrade { blur gaussian(0.6) noise gaussian(0.01) }
mask nucleus
"""
"""The scene shown (the same as the example in docs/language.md)."""


def variants(scene: ir.Scene) -> list[tuple[str, ir.Scene]]:
    """The scene without and with the top layer's ``soft`` and ``chromatin`` items."""
    top = scene.layers[-1]
    out = []
    for name, keep in (
        ("plain", ()),
        ("soft", ("soft",)),
        ("chromatin", ("chromatin",)),
        ("both", ("soft", "chromatin")),
    ):
        update = {k: None for k in ("soft", "chromatin") if k not in keep}
        layers = (*scene.layers[:-1], top.model_copy(update=update))
        out.append((name, scene.model_copy(update={"layers": layers})))
    return out


def preview_sheet(scene: ir.Scene, seed: int = 0, zoom: int = 2) -> np.ndarray:
    """Return an RGB uint8 sheet: 2 rows (clean, noisy) x 4 columns (plain .. both)."""
    columns = []
    for _name, variant in variants(scene):
        sample = render(variant, seed=seed)
        columns.append(np.concatenate([sample.clean, sample.noisy], axis=0))
    gap = np.ones((columns[0].shape[0], 2, 3), dtype=np.float32)
    parts: list[np.ndarray] = []
    for col in columns:
        parts += [col, gap]
    sheet = np.concatenate(parts[:-1], axis=1)
    sheet = np.repeat(np.repeat(sheet, zoom, axis=0), zoom, axis=1)
    return np.round(np.clip(sheet, 0.0, 1.0) * 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    """Write the preview sheet."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "soft_chromatin.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    sheet = preview_sheet(compile_string(SCENE), seed=args.seed)
    Image.fromarray(sheet).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
