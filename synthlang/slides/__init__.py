"""Whole-slide images: reading, tissue, tiling, prediction, outputs, annotations.

``docs/slides.md`` describes the workflow::

    from synthlang.slides import open_slide, predict_to_folder
    with open_slide("slide.svs") as slide:
        result, paths = predict_to_folder(slide, predictor, "pred/")

The package never imports torch: a model reaches
:func:`~synthlang.slides.predict.predict_slide` as a plain callable. Names are
imported lazily, so ``import synthlang.slides`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "Slide",
    "open_slide",
    "TissueMask",
    "tissue_mask",
    "TilePlan",
    "plan_tiles",
    "Nucleus",
    "SlideResult",
    "predict_slide",
    "GeoJSONWriter",
    "OverlayWriter",
    "LabelMaskWriter",
    "write_summary",
    "predict_to_folder",
    "Annotation",
    "read_annotations",
    "rasterize",
]

_LAZY = {
    "Slide": "reader",
    "open_slide": "reader",
    "TissueMask": "tissue",
    "tissue_mask": "tissue",
    "TilePlan": "tiles",
    "plan_tiles": "tiles",
    "Nucleus": "predict",
    "SlideResult": "predict",
    "predict_slide": "predict",
    "GeoJSONWriter": "outputs",
    "OverlayWriter": "outputs",
    "LabelMaskWriter": "outputs",
    "write_summary": "outputs",
    "predict_to_folder": "outputs",
    "Annotation": "geojson",
    "read_annotations": "geojson",
    "rasterize": "geojson",
}

if TYPE_CHECKING:
    from synthlang.slides.geojson import Annotation, rasterize, read_annotations
    from synthlang.slides.outputs import (
        GeoJSONWriter,
        LabelMaskWriter,
        OverlayWriter,
        predict_to_folder,
        write_summary,
    )
    from synthlang.slides.predict import Nucleus, SlideResult, predict_slide
    from synthlang.slides.reader import Slide, open_slide
    from synthlang.slides.tiles import TilePlan, plan_tiles
    from synthlang.slides.tissue import TissueMask, tissue_mask


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synthlang.slides' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"synthlang.slides.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
