"""``synthlang fit``: colour, shape and patch libraries from real annotated images.

The pipeline (one direction, each step a function):

1. **load** (:func:`load_input`): read an image and its annotation -- an
   instance label PNG (+ class PNG, per-instance class table or a single
   class), a NuCLS-style ``.npz`` (``inst_map`` + ``inst_class4``), GeoJSON
   polygons (PUMA / QuPath style), a point CSV or nothing (``auto``: nuclei
   detected by colour deconvolution, see :func:`detect_nuclei`); crop,
   rescale and optionally Reinhard-normalise it.
2. **measure** (:func:`fit_inputs`): per class the ``mvn(mean, cov,
   between)`` colour model of its objects, ellipse semi-axes, counts and
   densities; the background colour from unannotated pixels; nucleus
   cut-outs and texture patches grouped into colour cohorts.
3. **write** (:func:`write_library`): a ``.scene`` library of ``let``
   statements and the patch folders next to it (``docs/patches.md``).

:func:`fit_files` runs all three; ``synthlang fit`` is a thin wrapper. See
``docs/fit.md`` for the user guide.

Modules, in dependency order:

* :mod:`~synthlang.fit.detect` -- ``--auto`` nucleus detection (:class:`AutoRule`);
* :mod:`~synthlang.fit.options` -- :class:`FitOptions`, crops, class renames;
* :mod:`~synthlang.fit.annotations` -- class maps, instance tables, GeoJSON, npz;
* :mod:`~synthlang.fit.points` -- point CSVs (``--points``);
* :mod:`~synthlang.fit.morphology` -- per-nucleus morphology tables (``--morphology``);
* :mod:`~synthlang.fit.inputs` -- step 1 (:func:`load_input`, :func:`load_points`);
* :mod:`~synthlang.fit.patches` -- nucleus cut-outs, textures, colour cohorts;
* :mod:`~synthlang.fit.sceneformat` -- numbers and ``mvn(...)`` in scene syntax;
* :mod:`~synthlang.fit.model` -- step 2 (:func:`fit_inputs`, :class:`FitResult`);
* :mod:`~synthlang.fit.scenewriter` -- the ``.scene`` text (:func:`render_scene`);
* :mod:`~synthlang.fit.pipeline` -- step 3 and the whole run (:func:`fit_files`).

The patch folders are written in the format owned by :mod:`synthlang.patchlib`.
Nothing here imports the renderer or the scene language.
"""

from __future__ import annotations

from synthlang.fit.annotations import NUCLS_CLASS_NAMES, rasterize_geojson
from synthlang.fit.detect import ASSUMED_PIXEL_SIZE_UM, AutoRule, detect_nuclei
from synthlang.fit.inputs import Annotation, FitInput, PointAnnotation, load_input, load_points
from synthlang.fit.model import ClassFit, FitResult, fit_inputs
from synthlang.fit.options import (
    IMMUNE_CLASS_WORDS,
    Crop,
    FitOptions,
    parse_class_names,
    parse_crop,
)
from synthlang.fit.patches import assign_cohorts
from synthlang.fit.pipeline import fit_files, write_library
from synthlang.fit.sceneformat import format_number
from synthlang.fit.scenewriter import render_scene

__all__ = [
    "Crop",
    "FitOptions",
    "Annotation",
    "FitInput",
    "ClassFit",
    "FitResult",
    "AutoRule",
    "ASSUMED_PIXEL_SIZE_UM",
    "NUCLS_CLASS_NAMES",
    "PointAnnotation",
    "load_points",
    "IMMUNE_CLASS_WORDS",
    "parse_crop",
    "parse_class_names",
    "load_input",
    "rasterize_geojson",
    "assign_cohorts",
    "detect_nuclei",
    "fit_inputs",
    "render_scene",
    "write_library",
    "fit_files",
    "format_number",
]
