"""The Scene IR: frozen, validated pydantic models produced by the compiler.

The IR is the contract between the language front end (``parse`` -> ``lower``
-> ``compile``) and the engine. It contains no names to resolve and no
imports: every definition is inlined, every region selection is allocated,
every path is absolute. The engine reads only these models.

Conventions
-----------
* Sizes are ``(rows, cols)``; positions are ``(row, col)``; angles in degrees,
  counter-clockwise from the column axis.
* Colours are RGB floats in ``[0, 1]``.
* Every model is ``frozen=True, extra="forbid"`` and every field has a
  description. Unions are discriminated on ``kind``.
* ``span`` fields point back into the scene source for runtime messages; they
  are excluded from :func:`scene_hash` so that moving text around without
  changing meaning does not change the hash.
"""

from synthlang.ir import (
    base,
    budget,
    degrade,
    footprint,
    layer,
    masks,
    relative,
    scene,
    shapes,
    values,
)
from synthlang.ir.base import *  # noqa: F403
from synthlang.ir.budget import *  # noqa: F403
from synthlang.ir.degrade import *  # noqa: F403
from synthlang.ir.footprint import *  # noqa: F403
from synthlang.ir.layer import *  # noqa: F403
from synthlang.ir.masks import *  # noqa: F403
from synthlang.ir.relative import *  # noqa: F403
from synthlang.ir.scene import *  # noqa: F403
from synthlang.ir.shapes import *  # noqa: F403
from synthlang.ir.values import *  # noqa: F403

# every public name of the submodules: a model added to one of them is an ir.NAME at once
__all__ = [
    *base.__all__,
    *values.__all__,
    *relative.__all__,
    *shapes.__all__,
    *layer.__all__,
    *degrade.__all__,
    *masks.__all__,
    *scene.__all__,
    *budget.__all__,
    *footprint.__all__,
]
