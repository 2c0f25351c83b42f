"""Step 2 of ``synthlang fit``: measure colour, shape and patch statistics (:func:`fit_inputs`).

Per class: the ``mvn(mean, cov, between)`` colour model of its objects,
ellipse semi-axes (or those of a ``--morphology`` table), counts and
densities; the background colour from unannotated pixels; nucleus cut-outs
and texture patches grouped into colour cohorts. The result, a
:class:`FitResult`, is written by :func:`synthlang.fit.write_library`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from synthlang.common.errors import DataError
from synthlang.common.imageio import read_image
from synthlang.fit.annotations import resolve_names, sanitize_name, sha256_file
from synthlang.fit.detect import detect_nuclei
from synthlang.fit.inputs import FitInput
from synthlang.fit.morphology import ClassAxes, class_semi_axes, read_morphology
from synthlang.fit.options import UNLABELLED, FitOptions
from synthlang.fit.patches import (
    Library,
    Patch,
    make_library,
    nucleus_patches,
    texture_patches,
    texture_region,
    texture_region_for,
)
from synthlang.fit.sceneformat import format_number
from synthlang.nuclei import disk
from synthlang.stats import (
    ColorModel,
    ObjectColorStats,
    ShapeStats,
    block_color_stats,
    class_color_model,
    mean_reinhard_stats,
    object_color_stats,
    object_shapes,
    reinhard_normalize,
    reinhard_stats,
)

__all__ = ["ClassFit", "FitResult", "fit_inputs"]


@dataclass
class ClassFit:
    """Everything fitted for one class."""

    name: str
    color: ColorModel
    shapes: ShapeStats
    n_objects: int
    n_interior: int
    area_px: float
    nuclei: Library | None = None
    texture: Library | None = None
    morphology: ClassAxes | None = None


@dataclass
class FitResult:
    """The output of :func:`fit_inputs`, ready for :func:`~synthlang.fit.pipeline.write_library`."""

    classes: list[ClassFit]
    skipped: dict[str, int]
    background: ColorModel | None
    total_pixels: int
    pixel_size_um: float
    pixel_size_assumed: bool
    inputs: list[dict[str, Any]]
    normalization: dict[str, Any] | None
    notes: list[str]


def fit_inputs(inputs: Sequence[FitInput], options: FitOptions) -> FitResult:
    """Measure colour, shape and patch statistics of prepared inputs.

    Parameters
    ----------
    inputs : sequence of FitInput
        Images with instance labels and classes (see :func:`load_input`);
        ``auto`` inputs are detected here, after normalisation.
    options : FitOptions
        Normalisation, patch and cohort settings.

    Returns
    -------
    FitResult

    Raises
    ------
    DataError
        No class with enough objects, or an ``only`` class without objects.
    """
    notes: list[str] = []
    for inp in inputs:
        notes.extend(inp.notes)
    with_points = [inp.record for inp in inputs if inp.record.get("annotation") == "points"]
    if with_points:
        total = sum(int(r.get("points_total", 0)) for r in with_points)
        seg = sum(int(r.get("nuclei_segmented", 0)) for r in with_points)
        n_lab = sum(int(r.get("nuclei_labelled", 0)) for r in with_points)
        notes.append(
            f"--points: {seg} nuclei segmented, {n_lab} labelled by one of {total} points "
            f"within {format_number(options.point_radius_um)} um; {seg - n_lab} without a point "
            "left out"
        )
    px = options.working_pixel_size
    rng = np.random.default_rng(options.seed)

    normalization: dict[str, Any] | None = None
    if options.reference is not None:
        if options.reference == "mean":
            ref = mean_reinhard_stats([reinhard_stats(inp.image) for inp in inputs])
            ref_name = "mean of the inputs"
        else:
            ref_path = Path(options.reference)
            ref_img = read_image(ref_path, max_pixels=options.max_pixels, notes=notes)
            ref = reinhard_stats(ref_img)
            ref_name = f"{ref_path.name} (sha256 {sha256_file(ref_path)[:16]})"
        for inp in inputs:
            inp.image = reinhard_normalize(inp.image, ref)
        normalization = {"method": "reinhard-lab", "reference": ref_name, **ref.to_dict()}

    for inp in inputs:
        if inp.record.get("annotation") == "auto":
            lab, detected = detect_nuclei(inp.image, pixel_size_um=px, rule=options.auto_rule)
            inp.instances = lab
            inp.classes = {i: options.class_names.get(c, c) for i, c in detected.items()}
            inp.classes = {
                i: (UNLABELLED if c == "-" else sanitize_name(c)) for i, c in inp.classes.items()
            }

    # ---- per-class statistics
    per_class_colors: dict[str, list[ObjectColorStats]] = {}
    per_class_shapes: dict[str, list[ShapeStats]] = {}
    total_pixels = 0
    for inp in inputs:
        total_pixels += inp.instances.size
        colors = object_color_stats(inp.image, inp.instances, erode=options.erode)
        shapes = object_shapes(inp.instances)
        by_class: dict[str, list[int]] = {}
        for ident, cls in inp.classes.items():
            if cls != UNLABELLED:
                by_class.setdefault(cls, []).append(ident)
        for cls, ids in by_class.items():
            per_class_colors.setdefault(cls, []).append(colors.subset(sorted(ids)))
            sel = np.isin(shapes.ids, ids)
            per_class_shapes.setdefault(cls, []).append(_shape_subset(shapes, sel))

    if "background" in per_class_colors:
        raise DataError(
            "a class is named 'background', which is reserved for the unannotated pixels; "
            "rename it with --class-names background=OTHER"
        )
    found = {cls: int(sum(s.ids.size for s in v)) for cls, v in per_class_colors.items()}
    if options.only is not None:
        for cls in options.only:
            if found.get(cls, 0) == 0:
                listing = ", ".join(f"{c} ({n})" for c, n in sorted(found.items())) or "none"
                raise DataError(
                    f"class {cls!r} (--only) has no annotated objects in the inputs; "
                    f"classes found: {listing}"
                )
    wanted = sorted(found) if options.only is None else list(options.only)
    skipped = {c: n for c, n in found.items() if c in wanted and n < options.min_objects}
    wanted = [c for c in wanted if found.get(c, 0) >= options.min_objects]
    if not wanted:
        listing = ", ".join(f"{c} ({n})" for c, n in sorted(found.items())) or "none"
        raise DataError(
            f"no class has at least {options.min_objects} annotated objects "
            f"(--min-objects); classes found: {listing}"
        )

    classes: list[ClassFit] = []
    for cls in wanted:
        stats = ObjectColorStats.concatenate(per_class_colors[cls])
        shapes = _shape_concat(per_class_shapes[cls])
        interior = int((~shapes.touches_border).sum())
        classes.append(
            ClassFit(
                name=cls,
                color=class_color_model(stats),
                shapes=shapes,
                n_objects=int(shapes.ids.size),
                n_interior=interior,
                area_px=float(shapes.area.sum()),
            )
        )

    if options.morphology is not None:
        _apply_morphology(classes, inputs, options, notes)

    # ---- background: unannotated pixels away from any object
    blocks = []
    bg_pixels = []
    for inp in inputs:
        near = ndi.binary_dilation(inp.instances > 0, structure=disk(2))
        bg = ~near
        if bg.sum() >= 2:
            blocks.append(block_color_stats(inp.image, bg, block=32))
            bg_pixels.append(inp.image[bg].astype(np.float64))
    background: ColorModel | None = None
    if bg_pixels:
        pix = np.concatenate(bg_pixels)
        bstats = ObjectColorStats.concatenate(blocks)
        if bstats.ids.size >= 2:
            model = class_color_model(bstats)
            background = ColorModel(
                pix.mean(axis=0), model.cov, model.between, model.n_objects, pix.shape[0]
            )
        else:
            cov = np.cov(pix, rowvar=False, ddof=1) if pix.shape[0] > 1 else np.zeros((3, 3))
            background = ColorModel(pix.mean(axis=0), cov, np.zeros((3, 3)), 1, pix.shape[0])
    else:
        notes.append("no unannotated pixels: no background colour written")

    # ---- patches
    if options.patches:
        rim = max(1, round(1.5 / px))
        margin = max(2, round(options.cell_margin_um / px))
        pool_limit = options.max_patches * options.cohorts * 20
        for cf in classes:
            nuc: list[Patch] = []
            tex: list[Patch] = []
            region = texture_region_for(cf.name, options)
            for inp in inputs:
                ids = [i for i, c in inp.classes.items() if c == cf.name]
                nuc.extend(nucleus_patches(inp, ids))
                mask = texture_region(inp, cf.name, region, rim=rim, margin=margin)
                tex.extend(
                    texture_patches(
                        inp, cf.name, mask, size=options.texture_size, limit=pool_limit, rng=rng
                    )
                )
            cf.nuclei = make_library(
                f"{cf.name}_nuclei", "nuclei", nuc, None, "nucleus", options, rng
            )
            cf.texture = make_library(
                f"{cf.name}_texture", "texture", tex, options.texture_size, region, options, rng
            )
            if cf.texture is None:
                notes.append(
                    f"class {cf.name}: no {options.texture_size} x {options.texture_size} patch "
                    f"fits inside its {region} region; no texture library written"
                )
    return FitResult(
        classes=classes,
        skipped=skipped,
        background=background,
        total_pixels=total_pixels,
        pixel_size_um=px,
        pixel_size_assumed=options.pixel_size_um is None,
        inputs=[inp.record for inp in inputs],
        normalization=normalization,
        notes=notes,
    )


def _apply_morphology(
    classes: Sequence[ClassFit],
    inputs: Sequence[FitInput],
    options: FitOptions,
    notes: list[str],
) -> None:
    """Replace the semi-axes of ``classes`` by those of the ``--morphology`` table."""
    assert options.morphology is not None
    table = read_morphology(options.morphology)

    def name_of(raw: str) -> str | None:
        name = resolve_names({0: raw}, {}, options.class_names)[0]
        return None if name == UNLABELLED else name

    crops: dict[str, tuple[float, float, float, float]] = {}
    if options.crop is not None:
        c = options.crop
        for inp in inputs:
            crops[Path(inp.name).stem] = (
                c.r0,
                math.inf if c.r1 is None else c.r1,
                c.c0,
                math.inf if c.c1 is None else c.c1,
            )
    factor = options.morphology_pixel_size_um / options.working_pixel_size
    axes, more = class_semi_axes(
        table, name_of, factor=factor, exclude_rois=options.morphology_exclude, crops=crops
    )
    notes.extend(more)
    for cf in classes:
        ax = axes.get(cf.name)
        if ax is None or ax.semi_major.size < options.min_objects:
            n = 0 if ax is None else ax.semi_major.size
            notes.append(
                f"class {cf.name}: {n} nuclei in {table.path.name} (< --min-objects "
                f"{options.min_objects}); semi-axes measured on the annotated images instead"
            )
            continue
        cf.morphology = ax


def _shape_subset(s: ShapeStats, sel: np.ndarray) -> ShapeStats:
    return ShapeStats(
        s.ids[sel],
        s.area[sel],
        s.semi_major[sel],
        s.semi_minor[sel],
        s.centroid[sel],
        s.bbox[sel],
        s.touches_border[sel],
        s.solidity[sel],
    )


def _shape_concat(parts: Sequence[ShapeStats]) -> ShapeStats:
    return ShapeStats(
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.area for p in parts]),
        np.concatenate([p.semi_major for p in parts]),
        np.concatenate([p.semi_minor for p in parts]),
        np.concatenate([p.centroid for p in parts]).reshape(-1, 2),
        np.concatenate([p.bbox for p in parts]).reshape(-1, 4),
        np.concatenate([p.touches_border for p in parts]),
        np.concatenate([p.solidity for p in parts]),
    )
