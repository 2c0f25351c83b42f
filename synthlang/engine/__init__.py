"""The rendering engine: regions, shapes, placement, textures, compositing, degradation.

Importing this package imports every building-block module, so that each
registers its functions in the registries of :mod:`synthlang.engine.base`.
The entry point is :func:`synthlang.engine.render.render` (re-exported as
``synthlang.render``).
"""

from synthlang.engine import (  # noqa: F401  (imported for their registrations)
    appearance,
    chromatin,
    composite,
    degrade,
    fastmarch,
    fields,
    patches,
    placement,
    regions,
    render,
    rescale,
    shapes,
    soft,
    textures,
)
