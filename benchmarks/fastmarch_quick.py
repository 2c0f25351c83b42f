"""Quick timing of the fast-marching and patch parts, and of a Scenario-3-like render.

Usage::

    python benchmarks/fastmarch_quick.py                 # synthetic patch libraries, 30 samples
    python benchmarks/fastmarch_quick.py --n 60 --nuclei lib/he/tumor_nuclei \\
        --tumor-texture lib/he/tumor_texture --immune-texture lib/he/immune_texture

Runs in this process on one core (BLAS threads pinned to 1). Without library
paths it writes synthetic libraries to a temporary folder: 55 RGBA nucleus
cut-outs of 10-20 px, and two texture libraries of 3 cohorts x 55 / 60
patches of 8 x 8 px (Table 1, group 3).

Parts (median and minimum ms per sample over ``--n`` samples, each on its
own seed; on a shared machine the minimum is the better estimate of the
uncontended cost):

* ``regions``: ``fast_marching(11)`` region labels;
* ``ribbon (1 region)`` / ``ribbon (all regions)``: 3 maps along the
  boundary of one region / of all 11 regions;
* ``nuclei placement``: ``patch`` fill of 10 of 11 regions, overlap none
  (the core placement calling :func:`synthlang.engine.patches.draw_patch`);
* ``growth``: tumour cells grown from the nuclei;
* ``lattice (tumour cells)`` / ``lattice (immune cells)``: 3-cohort patch
  lattices of the grown cells / of 50 immune-cell ellipses;
* ``render``: the whole Scenario-3-like scene through ``render()``
  (background, vessel fill, ribbons, nuclei, grown cells with contours,
  immune cells, degradations, mask rule).

The target is <= 200 ms per render (5 images/s/core).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from synthlang import ir  # noqa: E402
from synthlang.engine import patches as patch_mod  # noqa: E402
from synthlang.engine.base import RenderContext  # noqa: E402
from synthlang.engine.fastmarch import (  # noqa: E402
    fast_marching_regions,
    grown_shapes,
    ribbon_shapes,
)
from synthlang.engine.patches import patch_texture  # noqa: E402
from synthlang.engine.sampling import sample_seed  # noqa: E402

SIZE = (300, 300)


# --------------------------------------------------------------------------- libraries


def _index(folder: Path, kind: str, items: list[dict], **extra: object) -> None:
    data = {"format": "synthlang-patches", "version": 1, "kind": kind, "items": items}
    data.update(extra)
    (folder / "index.json").write_text(json.dumps(data), encoding="utf-8")


def synthetic_nuclei(folder: Path, n: int = 55, seed: int = 0) -> Path:
    """RGBA cut-outs of noisy purple ellipses, 10-20 px across."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        a, b = rng.uniform(5, 10), rng.uniform(5, 10)
        h, w = int(2 * a) + 3, int(2 * b) + 3
        rows, cols = np.mgrid[:h, :w]
        alpha = ((rows - (h - 1) / 2) / a) ** 2 + ((cols - (w - 1) / 2) / b) ** 2 <= 1
        base = np.array([0.35, 0.2, 0.5]) + rng.normal(0, 0.03, 3)
        rgb = np.clip(base + rng.normal(0, 0.05, (h, w, 3)), 0, 1)
        rgba = np.dstack([rgb * 255, alpha * 255]).astype(np.uint8)
        name = f"{i:06d}.png"
        Image.fromarray(rgba).save(folder / name)
        items.append({"file": name, "cohort": 0})
    _index(folder, "nuclei", items, cohorts=1)
    return folder


def synthetic_texture(
    folder: Path, base: tuple[float, float, float], per_cohort: int, seed: int
) -> Path:
    """3 cohorts (dark, middle, light) of noisy 8 x 8 patches around ``base``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = []
    for j, shift in enumerate((-0.08, 0.0, 0.08)):
        for i in range(per_cohort):
            rgb = np.clip(np.array(base) + shift + rng.normal(0, 0.06, (8, 8, 3)), 0, 1)
            name = f"{j}_{i:04d}.png"
            Image.fromarray((rgb * 255).astype(np.uint8)).save(folder / name)
            items.append({"file": name, "cohort": j})
    _index(folder, "texture", items, cohorts=3, patch_size=8)
    return folder


# --------------------------------------------------------------------------- scene


def _mvn(mean: tuple[float, float, float], var: float) -> ir.MVNColor:
    cov = tuple(tuple(var if i == j else var / 3 for j in range(3)) for i in range(3))
    return ir.MVNColor(mean=mean, cov=cov)


def scenario3(nuclei: Path, tumor_tex: Path, immune_tex: Path) -> ir.Scene:
    """A Scenario-3-like scene (Table 1, group 3) built directly as IR."""
    vessel_area = ir.RegionSelection(start=0, count=1, name="vessel_area")
    tumor_area = ir.RegionSelection(start=1, count=10, name="tumor_area")
    layers = (
        ir.Layer(index=0, name="background", shape=ir.FillShape(per_region=False),
                 color=_mvn((0.85, 0.78, 0.85), 0.002)),
        ir.Layer(index=1, name="vessel", shape=ir.FillShape(), regions=vessel_area,
                 color=_mvn((0.85, 0.45, 0.5), 0.003)),
        ir.Layer(index=2, name="connective",
                 shape=ir.RibbonShape(maps=3, width=ir.Uniform(low=2, high=5),
                                      offset=ir.Uniform(low=0, high=6),
                                      speed=ir.SpeedField(mean=1, std=0.3, smoothness=15)),
                 regions=vessel_area, color=_mvn((0.9, 0.6, 0.75), 0.002)),
        ir.Layer(index=3, name="tumor_nucleus",
                 shape=ir.PatchShape(library=str(nuclei), rotate=True, smooth=1.0),
                 placement=ir.Placement(mode="fill", regions=tumor_area,
                                        overlap=ir.Overlap(mode="none"))),
        ir.Layer(index=4, name="tumor_cell",
                 shape=ir.GrownShape(source="tumor_nucleus", time=ir.Uniform(low=4, high=7),
                                     speed=ir.SpeedField(mean=1, std=0.3, smoothness=10)),
                 regions=tumor_area,
                 color=ir.PatchTexture(library=str(tumor_tex), cohorts=3, size=8, overlap=2),
                 contour=ir.Contour(width=1, color=_mvn((0.45, 0.3, 0.5), 0.001))),
        ir.Layer(index=5, name="immune_cell",
                 shape=ir.EllipseShape(semi_axes=(ir.Uniform(low=5, high=10),) * 2),
                 placement=ir.Placement(mode="count", count=ir.Constant(value=50),
                                        overlap=ir.Overlap(mode="moderate", fraction=0.2)),
                 color=ir.PatchTexture(library=str(immune_tex), cohorts=3, size=8, overlap=2)),
    )  # fmt: skip
    return ir.Scene(
        name="scenario3_like",
        size=SIZE,
        regions=ir.FastMarchingRegions(
            count=11, speed=ir.SpeedField(mean=1, std=0.4, smoothness=20)
        ),
        layers=layers,
        degrade=(
            ir.GaussianBlur(sigma=ir.Constant(value=0.7)),
            ir.GaussianNoise(std=ir.Constant(value=0.01)),
        ),
        masks=(ir.MaskRule(category="tumor_nucleus", visible_only=True),),
    )


# --------------------------------------------------------------------------- timing


def _median_ms(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """Median and minimum ms of ``fn(i)`` over ``i < n`` (after one warm-up call)."""
    fn(10_000)  # warm up (caches, imports)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def parts(scene: ir.Scene, n: int) -> dict[str, tuple[float, float]]:
    """Median and minimum ms of each fast-marching / patch part (other stages excluded)."""
    from synthlang.engine.placement import place_objects
    from synthlang.engine.regions import build_regions
    from synthlang.engine.render import render_layer

    def rng(i: int) -> np.random.Generator:
        return np.random.default_rng(sample_seed(7, i))

    def context(i: int) -> RenderContext:
        ctx = RenderContext(scene, rng(i))
        build_regions(ctx, rng(i))
        return ctx

    ctxs = {i: context(i) for i in list(range(n)) + [10_000]}
    spec = scene.regions
    assert isinstance(spec, ir.FastMarchingRegions)
    out: dict[str, tuple[float, float]] = {}
    out["regions"] = _median_ms(lambda i: fast_marching_regions(spec, SIZE, rng(i)), n)
    ribbon = scene.layer("connective")
    ribbon_all = ribbon.model_copy(update={"regions": None})
    out["ribbon (1 region)"] = _median_ms(lambda i: ribbon_shapes(ribbon, ctxs[i], rng(i)), n)
    out["ribbon (all regions)"] = _median_ms(
        lambda i: ribbon_shapes(ribbon_all, ctxs[i], rng(i)), n
    )
    nuc = scene.layer("tumor_nucleus")
    patch_mod.clear_cache()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in list(ctxs):
            render_layer(nuc, ctxs[i], rng(i))
    cold = (time.perf_counter() - t0) * 1e3 / len(ctxs)
    out["nuclei placement, cold cache (first samples)"] = (cold, cold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["nuclei placement"] = _median_ms(lambda i: place_objects(nuc, ctxs[i], rng(i)), n)
    counts = [len(ctxs[i].instances_of("tumor_nucleus")) for i in range(n)]
    out["(nuclei per sample)"] = (float(statistics.median(counts)), float(min(counts)))
    d_shape = nuc.shape
    assert isinstance(d_shape, ir.PatchShape)
    r = rng(0)
    med, low = _median_ms(
        lambda i: [patch_mod.draw_patch(d_shape, r, ctxs[0]) for _ in range(100)], n
    )
    out["(patch draw, warm, us)"] = (med * 10, low * 10)
    cell = scene.layer("tumor_cell")
    out["growth"] = _median_ms(lambda i: grown_shapes(cell, ctxs[i], rng(i)), n)
    cells = {i: grown_shapes(cell, ctxs[i], rng(i)) for i in ctxs}
    ncells = [len(cells[i]) for i in range(n)]
    out["(tumour cells per sample)"] = (float(statistics.median(ncells)), float(min(ncells)))
    assert isinstance(cell.color, ir.PatchTexture)
    out["lattice (tumour cells)"] = _median_ms(
        lambda i: patch_texture(cell.color, cell, cells[i], ctxs[i], rng(i)), n
    )
    immune = scene.layer("immune_cell")
    for i in ctxs:
        render_layer(cell, ctxs[i], rng(i))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imm = {i: place_objects(immune, ctxs[i], rng(i)) for i in ctxs}
    assert isinstance(immune.color, ir.PatchTexture)
    out["lattice (immune cells)"] = _median_ms(
        lambda i: patch_texture(immune.color, immune, imm[i], ctxs[i], rng(i)), n
    )
    return out


def end_to_end(scene: ir.Scene, n: int) -> list[float]:
    """Per-sample ms of ``render(scene)``."""
    from synthlang.engine.render import render

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        render(scene, seed=sample_seed(99, 0))
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            render(scene, seed=sample_seed(0, i))
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="samples per measurement")
    parser.add_argument("--nuclei", type=Path, help="nuclei library (default: synthetic)")
    parser.add_argument("--tumor-texture", type=Path, help="tumour texture library")
    parser.add_argument("--immune-texture", type=Path, help="immune texture library")
    parser.add_argument("--no-render", action="store_true", help="skip the end-to-end render")
    parser.add_argument("--profile", action="store_true", help="cProfile the end-to-end render")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nuclei = args.nuclei or synthetic_nuclei(root / "nuclei")
        tumor = args.tumor_texture or synthetic_texture(root / "tumor", (0.75, 0.55, 0.75), 55, 1)
        immune = args.immune_texture or synthetic_texture(root / "immune", (0.45, 0.3, 0.6), 60, 2)
        scene = scenario3(nuclei, tumor, immune)
        print(f"{'part':48s} {'median':>8s} {'min':>8s}")
        for name, (med, low) in parts(scene, args.n).items():
            print(f"{name:48s} {med:8.1f} {low:8.1f}")
        if not args.no_render:
            times = end_to_end(scene, args.n)
            med = statistics.median(times)
            print(
                f"{'render (end to end)':48s} {med:8.1f} ms median, "
                f"{statistics.fmean(times):.1f} mean, {min(times):.1f} min "
                f"({1e3 / med:.1f} images/s/core)"
            )
            if args.profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.enable()
                end_to_end(scene, 10)
                prof.disable()
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
