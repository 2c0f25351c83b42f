"""Step 3 of ``synthlang fit``, the text: the ``.scene`` library of ``let`` statements.

:func:`render_scene` turns a :class:`~synthlang.fit.model.FitResult` into a
library file with a provenance header; numbers are written by
:mod:`synthlang.fit.sceneformat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synthlang.common.version import __version__
from synthlang.fit.annotations import sha256_file
from synthlang.fit.model import FitResult
from synthlang.fit.morphology import ClassAxes
from synthlang.fit.options import FitOptions
from synthlang.fit.patches import cohort_counts
from synthlang.fit.sceneformat import format_mvn, format_number
from synthlang.stats import ShapeStats

__all__ = ["render_scene"]


def _percentiles(x: np.ndarray, qs: Sequence[float]) -> list[float]:
    return [float(v) for v in np.percentile(x, qs)]


def _semi_axis_lets(name: str, shapes: ShapeStats, morph: ClassAxes | None = None) -> list[str]:
    if morph is not None:
        major, minor = morph.semi_major, morph.semi_minor
        origin = f"px) from {morph.source}"
    else:
        use = ~shapes.touches_border
        if use.sum() < 3:
            use = np.ones_like(use)
        major = shapes.semi_major[use]
        minor = shapes.semi_minor[use]
        origin = f"px, {int(use.sum())} objects away from the border)"
    both = np.concatenate([major, minor])
    lines = []
    p5, p50, p95 = _percentiles(both, (5, 50, 95))
    lo = max(p5, 0.5)
    hi = max(p95, lo)

    def pct(v: np.ndarray) -> str:
        return "/".join(format_number(round(x, 2)) for x in _percentiles(v, (5, 50, 95)))

    lines.append(
        f"# semi-axes ({origin}: major p5/p50/p95 {pct(major)}, minor p5/p50/p95 {pct(minor)}"
    )
    lines.append(f"let {name}_semi_axes = uniform({format_number(lo)}, {format_number(hi)})")
    for label, vals in (("semi_major", major), ("semi_minor", minor)):
        a, b = _percentiles(vals, (5, 95))
        a = max(a, 0.5)
        mean = float(vals.mean())
        std = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        if std > 1e-6 and b > a:
            lines.append(
                f"let {name}_{label} = truncnormal(mean {format_number(mean)}, "
                f"std {format_number(std)}, low {format_number(a)}, high {format_number(b)})"
            )
        else:
            lines.append(f"let {name}_{label} = {format_number(max(mean, 0.5))}")
    return lines


def render_scene(result: FitResult, options: FitOptions, scene_path: Path) -> str:
    """Return the text of the ``.scene`` library for ``result``.

    A date-free header (command, inputs with their digests, crop, scale,
    normalisation, pixel size, notes), then per class its colour, semi-axis
    and patch-library ``let`` statements with counts and densities.

    Parameters
    ----------
    result : FitResult
        From :func:`synthlang.fit.fit_inputs`.
    options : FitOptions
        The options used (prefix, recorded command and settings).
    scene_path : Path
        The file the text is written to (its name appears in the header).

    Returns
    -------
    str
        The library, ending in one newline.
    """
    p = options.prefix
    out: list[str] = []
    add = out.append
    add(f"# {scene_path.name}: colour, shape and patch library written by `synthlang fit`")
    add(f"# (synthlang {__version__}). A library: import it from a scene, e.g.")
    add(f'#     import "{scene_path.name}"')
    add("# Regenerate it with the command below rather than editing it by hand.")
    add("#")
    add(f"# command: {options.command or '(called from Python: synthlang.fit.fit_files)'}")
    add("# inputs:")
    for rec in result.inputs:
        ann = rec.get("annotation")
        extra = ", ".join(
            f"{k} {rec[k]}"
            for k in ("labels", "class_labels", "instance_classes", "npz", "geojson", "points")
            if k in rec
        )
        add(f"#   {rec['image']}  {rec['size'][0]} x {rec['size'][1]} px  sha256 {rec['sha256']}")
        add(f"#     annotation: {ann}{'; ' + extra if extra else ''}")
    crop = str(options.crop) if options.crop else "none"
    add(
        f"# crop: {crop}; scale: {format_number(options.scale)}; erode: {options.erode} px; "
        f"seed: {options.seed}"
    )
    if result.normalization:
        add(f"# colour normalisation: Reinhard (CIE L*a*b*) to {result.normalization['reference']}")
    else:
        add("# colour normalisation: none")
    assumed = " (assumed: 20x)" if result.pixel_size_assumed else ""
    add(f"# pixel size at the working scale: {format_number(result.pixel_size_um)} um/px{assumed}")
    add("# colours: RGB in [0, 1]; mvn cov = pooled within-object pixel covariance,")
    add("# between = covariance of the object mean colours; lengths in px at the working scale.")
    if options.morphology is not None:
        mp = Path(options.morphology)
        excl = (
            f"; excluded rois: {', '.join(options.morphology_exclude)}"
            if (options.morphology_exclude)
            else ""
        )
        add(
            f"# shapes: semi-axes from the morphology table {mp.name} (sha256 {sha256_file(mp)}, "
            f"{format_number(options.morphology_pixel_size_um)} um/px{excl}) where a class has "
            "rows there;"
        )
        add("# colours, cut-outs, textures, counts and densities from the images.")
    mpx = result.total_pixels / 1e6
    add(f"# area measured: {format_number(result.total_pixels)} px")
    for note in result.notes:
        add(f"# note: {note}")
    if result.skipped:
        for cls, n in sorted(result.skipped.items()):
            add(
                f"# class {cls}: {n} object(s), fewer than --min-objects {options.min_objects}; "
                "not written"
            )
    add("")
    if result.background is not None:
        bg = result.background
        add(
            f"# background: unannotated pixels at least 2 px from any object ({bg.n_pixels} px); "
            f"between = covariance of the means of {bg.n_objects} blocks of 32 x 32 px"
        )
        add(f"let {p}_background = {format_mvn(bg)}")
        add("")
    um2 = (result.pixel_size_um**2) * result.total_pixels
    for cf in result.classes:
        per_mpx = cf.n_objects / mpx if mpx > 0 else 0.0
        per_mm2 = cf.n_objects / (um2 * 1e-6) if um2 > 0 else 0.0
        per_300 = cf.n_objects * 90000 / max(result.total_pixels, 1)
        cover = cf.area_px / max(result.total_pixels, 1)
        add(
            f"# --- {cf.name}: {cf.n_objects} objects ({cf.n_interior} away from the border), "
            f"{cf.color.n_pixels} px measured"
        )
        add(
            f"# density: {format_number(per_mpx)} per megapixel = {format_number(per_mm2)} per mm^2"
            f" = {format_number(per_300)} per 300 x 300 image; area fraction "
            f"{format_number(cover)}"
        )
        add(f"let {p}_{cf.name} = {format_mvn(cf.color)}")
        out.extend(_semi_axis_lets(f"{p}_{cf.name}", cf.shapes, cf.morphology))
        if cf.nuclei is not None:
            counts = "/".join(str(n) for n in cohort_counts(cf.nuclei))
            add(f"# {len(cf.nuclei.patches)} nucleus cut-outs (RGBA), cohorts {counts}")
            add(f'let {p}_{cf.name}_nuclei = patch("{cf.nuclei.folder}")')
        if cf.texture is not None:
            counts = "/".join(str(n) for n in cohort_counts(cf.texture))
            size = cf.texture.patch_size or options.texture_size
            overlap = max(1, size // 4)
            add(
                f"# {len(cf.texture.patches)} texture patches of {size} x {size} px sampled in the "
                f"{cf.texture.region} region, cohorts {counts}"
            )
            add(
                f'let {p}_{cf.name}_texture = patches("{cf.texture.folder}", '
                f"cohorts {cf.texture.cohorts}, size {size}, overlap {overlap})"
            )
        add("")
    return "\n".join(out).rstrip("\n") + "\n"
