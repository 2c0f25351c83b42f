"""Step 3 of ``synthlang fit`` and the whole pipeline: :func:`write_library`, :func:`fit_files`.

:func:`write_library` writes the ``.scene`` library (:func:`render_scene`)
and its patch folders (:func:`synthlang.patchlib.write_patch_folder`, the
owner of the folder format); :func:`fit_files` loads the inputs, measures
them and writes the library.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthlang.common.errors import DataError
from synthlang.common.fileio import atomic_write_text
from synthlang.fit.annotations import read_class_map
from synthlang.fit.inputs import Annotation, load_input
from synthlang.fit.model import FitResult, fit_inputs
from synthlang.fit.options import FitOptions
from synthlang.fit.patches import Library, cohort_counts
from synthlang.fit.scenewriter import render_scene
from synthlang.patchlib import FORMAT, VERSION, PatchIndex, write_patch_folder

__all__ = ["patch_index", "write_library", "fit_files"]


def patch_index(lib: Library, result: FitResult, options: FitOptions) -> PatchIndex:
    """The ``index.json`` of library ``lib`` (items ``000000.png``, ``000001.png``, ...).

    Parameters
    ----------
    lib : Library
        The patches, cohorts and region of one library.
    result : FitResult
        Pixel size, inputs and normalisation (provenance).
    options : FitOptions
        Licence and command (provenance).

    Returns
    -------
    synthlang.patchlib.PatchIndex
    """
    items = []
    for n, patch in enumerate(lib.patches):
        item: dict[str, Any] = {
            "file": f"{n:06d}.png",
            "cohort": int(patch.cohort),
            "mean": [round(float(v), 6) for v in patch.mean],
            "class": patch.cls,
            "source": patch.source,
        }
        if patch.area is not None:
            item["area"] = int(patch.area)
        if patch.position is not None:
            item["position"] = [int(patch.position[0]), int(patch.position[1])]
        items.append(item)
    return PatchIndex.model_validate(
        {
            "format": FORMAT,
            "version": VERSION,
            "kind": lib.kind,
            "patch_size": lib.patch_size,
            "cohorts": lib.cohorts,
            "pixel_size_um": round(result.pixel_size_um, 6),
            "pixel_size_assumed": result.pixel_size_assumed,
            "region": lib.region,
            "cohort_counts": cohort_counts(lib),
            "items": items,
            "provenance": {
                "images": [{"file": r["image"], "sha256": r["sha256"]} for r in result.inputs],
                "licence": options.licence or "not stated (pass --licence)",
                "command": options.command or "synthlang.fit.fit_files",
                "normalization": result.normalization,
            },
        }
    )


def write_library(result: FitResult, out: Path, options: FitOptions) -> list[Path]:
    """Write the ``.scene`` library and its patch folders next to it.

    Parameters
    ----------
    result : FitResult
        From :func:`fit_inputs`.
    out : Path
        The ``.scene`` file to write; patch folders go into its folder.
    options : FitOptions
        The options used (recorded in the header).

    Returns
    -------
    list of Path
        Every file or folder written (scene first).

    Raises
    ------
    DataError
        If ``out`` does not end in ``.scene`` or a patch folder would replace
        something that is not a patch library.
    """
    out = Path(out)
    if out.suffix != ".scene":
        raise DataError(f"{out}: the output file must end in .scene")
    out_dir = out.parent if str(out.parent) else Path(".")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out_dir}: cannot create the output folder ({exc})") from None
    written: list[Path] = [out]
    for cf in result.classes:
        for lib in (cf.nuclei, cf.texture):
            if lib is not None:
                index = patch_index(lib, result, options)
                write_patch_folder(out_dir, lib.folder, index, [p.pixels for p in lib.patches])
                written.append(out_dir / lib.folder)
    atomic_write_text(out, render_scene(result, options, out))
    return written


def fit_files(
    images: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    options: FitOptions,
    *,
    labels: Sequence[str | os.PathLike[str]] | None = None,
    class_labels: Sequence[str | os.PathLike[str]] | None = None,
    instance_classes: Sequence[str | os.PathLike[str]] | None = None,
    classes_json: str | os.PathLike[str] | None = None,
    npz: Sequence[str | os.PathLike[str]] | None = None,
    geojson: Sequence[str | os.PathLike[str]] | None = None,
    points: Sequence[str | os.PathLike[str]] | None = None,
    auto: bool = False,
) -> FitResult:
    """Run the whole ``synthlang fit`` pipeline: load, measure, write.

    Exactly one annotation source is used for all images: ``labels`` (one
    instance PNG per image, with optional ``class_labels`` PNGs or
    ``instance_classes`` tables), ``npz``, ``geojson`` or ``auto``.

    Parameters
    ----------
    images : sequence of path-like
        The images, in the same order as their annotation files.
    out : path-like
        The ``.scene`` file to write.
    options : FitOptions
        See :class:`FitOptions`.
    labels, class_labels, instance_classes, npz, geojson, points : sequence of path-like, optional
        Annotation files, one per image (``points``: CSV ``x,y,class``, see
        :mod:`synthlang.fit.points`).
    classes_json : path-like, optional
        Class code -> name map (``{"1": "tumor"}`` or PUMA's ``class_map.json``).
    auto : bool, optional
        Detect nuclei automatically (no annotations).

    Returns
    -------
    FitResult

    Raises
    ------
    DataError, ResourceLimitError
        For any unusable input, with the file named.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from synthlang.common.imageio import write_png
    >>> d = tempfile.mkdtemp()
    >>> img = np.full((40, 40, 3), 0.85, np.float32); lab = np.zeros((40, 40), np.int32)
    >>> for k, (r, c) in enumerate([(10, 10), (10, 30), (30, 10), (30, 30)]):
    ...     img[r - 4 : r + 4, c - 4 : c + 4] = (0.3, 0.2, 0.5)
    ...     lab[r - 4 : r + 4, c - 4 : c + 4] = k + 1
    >>> write_png(os.path.join(d, "a.png"), img); write_png(os.path.join(d, "a_inst.png"), lab)
    >>> r = fit_files([os.path.join(d, "a.png")], os.path.join(d, "lib.scene"), FitOptions(),
    ...               labels=[os.path.join(d, "a_inst.png")])
    >>> [c.name for c in r.classes]
    ['nucleus']
    """
    options.validate()
    sources = {
        "--labels": labels,
        "--npz": npz,
        "--geojson": geojson,
        "--points": points,
    }
    given = [k for k, v in sources.items() if v]
    if auto:
        given.append("--auto")
    if len(given) != 1:
        raise DataError(
            "give exactly one annotation source for the images: --labels, --npz, --geojson, "
            f"--points or --auto (got {', '.join(given) or 'none'})"
        )
    if not images:
        raise DataError("no input images given")
    n = len(images)
    for flag, files in (
        ("--labels", labels),
        ("--class-labels", class_labels),
        ("--instance-classes", instance_classes),
        ("--npz", npz),
        ("--geojson", geojson),
        ("--points", points),
    ):
        if files and len(files) != n:
            raise DataError(
                f"{flag}: {len(files)} file(s) for {n} image(s); give one per image, in the same "
                "order as the images"
            )
    if (class_labels or instance_classes) and not labels:
        raise DataError("--class-labels and --instance-classes go with --labels (instance PNGs)")
    code_names = read_class_map(Path(classes_json)) if classes_json else {}
    out_path = Path(out)
    resolved_out = out_path.resolve()
    inputs = []
    for i, img in enumerate(images):
        ip = Path(img)
        if ip.resolve() == resolved_out:
            raise DataError(f"{out_path}: the output would overwrite the input image {ip}")
        if labels:
            ann = Annotation(
                "labels",
                Path(labels[i]),
                Path(class_labels[i]) if class_labels else None,
                Path(instance_classes[i]) if instance_classes else None,
            )
        elif npz:
            ann = Annotation("npz", Path(npz[i]))
        elif geojson:
            ann = Annotation("geojson", Path(geojson[i]))
        elif points:
            ann = Annotation("points", Path(points[i]))
        else:
            ann = Annotation("auto")
        inp = load_input(ip, ann, options, code_names=code_names)
        for other in (ann.path, ann.class_labels, ann.instance_classes):
            if other is not None and not other.name.startswith(ip.stem):
                inp.notes.append(
                    f"{ip.name} is paired with {other.name}: check that the annotation files "
                    "are given in the order of the images"
                )
        inputs.append(inp)
    result = fit_inputs(inputs, options)
    write_library(result, out_path, options)
    return result
