"""Options of ``synthlang fit``: :class:`FitOptions`, crops and class renames."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from synthlang.common.errors import DataError
from synthlang.common.imageio import DEFAULT_MAX_PIXELS
from synthlang.fit.detect import ASSUMED_PIXEL_SIZE_UM, AutoRule

__all__ = [
    "IMMUNE_CLASS_WORDS",
    "UNLABELLED",
    "TextureRegion",
    "Crop",
    "parse_crop",
    "parse_class_names",
    "FitOptions",
]

IMMUNE_CLASS_WORDS = ("lymph", "immune", "til", "plasma", "neutrophil", "inflamm")
"""A class whose name contains one of these has its texture sampled inside the nuclei."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
UNLABELLED = "__unlabelled__"
"""Class of annotated instances without a class (left out of the statistics)."""

TextureRegion = Literal["nucleus", "cytoplasm"]


@dataclass(frozen=True)
class Crop:
    """A crop in input-image pixels: rows ``r0:r1``, cols ``c0:c1`` (end exclusive, None = edge)."""

    r0: int = 0
    r1: int | None = None
    c0: int = 0
    c1: int | None = None

    def resolve(self, rows: int, cols: int, what: str) -> tuple[slice, slice]:
        """Return the slices for an image of ``rows x cols``, checking the bounds.

        Raises
        ------
        DataError
            If the crop is empty or extends past the image.
        """
        r1 = rows if self.r1 is None else self.r1
        c1 = cols if self.c1 is None else self.c1
        if r1 > rows or c1 > cols:
            raise DataError(
                f"{what}: --crop {self} extends past the image ({rows} x {cols} px); "
                f"rows must be within 0:{rows} and cols within 0:{cols}"
            )
        if self.r0 >= r1 or self.c0 >= c1:
            raise DataError(f"{what}: --crop {self} is empty")
        return slice(self.r0, r1), slice(self.c0, c1)

    def __str__(self) -> str:
        def part(a: int, b: int | None) -> str:
            return f"{a}:{'' if b is None else b}"

        return f"{part(self.r0, self.r1)},{part(self.c0, self.c1)}"


def parse_crop(text: str) -> Crop:
    """Parse ``ROWS0:ROWS1,COLS0:COLS1`` (either bound may be empty; cols optional).

    Examples
    --------
    >>> parse_crop("0:512,:")
    Crop(r0=0, r1=512, c0=0, c1=None)

    Raises
    ------
    DataError
        For malformed text.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts.append(":")
    if len(parts) != 2:
        raise DataError(f"--crop {text!r}: expected ROWS0:ROWS1,COLS0:COLS1, e.g. 0:512,0:1024")
    bounds: list[int | None] = []
    for p in parts:
        if p.count(":") != 1:
            raise DataError(f"--crop {text!r}: each range is START:END, e.g. 0:512")
        for v in p.split(":"):
            v = v.strip()
            if v == "":
                bounds.append(None)
            elif v.isdigit():
                bounds.append(int(v))
            else:
                raise DataError(f"--crop {text!r}: bounds must be non-negative integers, got {v!r}")
    r0, r1, c0, c1 = bounds
    return Crop(r0 or 0, r1, c0 or 0, c1)


def parse_class_names(items: Sequence[str]) -> dict[str, str]:
    """Parse ``OLD=NEW`` pairs of ``--class-names`` (``NEW`` may be ``-`` to drop a class).

    Raises
    ------
    DataError
        For a pair without ``=`` or an empty side.

    Examples
    --------
    >>> parse_class_names(["1=tumor", "nuclei_lymphocyte=lymphocyte"])
    {'1': 'tumor', 'nuclei_lymphocyte': 'lymphocyte'}
    """
    out: dict[str, str] = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise DataError(
                f"--class-names {item!r}: expected OLD=NEW (a class code or name, "
                "then the name to use, or '-' to leave the class out)"
            )
        out[old.strip()] = new.strip()
    return out


@dataclass(frozen=True)
class FitOptions:
    """Options of :func:`~synthlang.fit.pipeline.fit_files` (the ``synthlang fit`` flags).

    Attributes
    ----------
    prefix : str
        Name prefix of every ``let`` (``he`` gives ``he_tumor``).
    scale : float
        Rescale factor applied after cropping (0.5 turns 40x into 20x).
    crop : Crop or None
        Crop in input pixels, applied before scaling.
    reference : str or None
        Reinhard normalisation target: an image path, ``"mean"`` (mean
        statistics of the inputs) or None (no normalisation).
    texture_size : int
        Side of the square texture patches.
    cohorts : int
        Number of colour cohorts per patch library.
    max_patches : int
        At most this many patches per cohort (Table 1: 55 and 60).
    min_objects : int
        Classes with fewer objects are left out of the library.
    erode : int
        Colour statistics use pixels at least this far inside each object.
    seed : int
        Seed of every random choice (patch subsets, k-means).
    pixel_size_um : float or None
        µm per pixel of the input images (before ``scale``); used for the
        ``auto`` thresholds and densities. None: 0.5 µm/px is assumed at
        the working scale.
    class_names : mapping
        ``--class-names`` renames (code or name -> new name or ``-``).
    only : tuple of str or None
        Write only these classes (after renaming); each must be present.
    texture_regions : mapping
        Per class ``"nucleus"`` or ``"cytoplasm"`` (default: by name, see
        :data:`IMMUNE_CLASS_WORDS`).
    cell_margin_um : float
        Cytoplasm textures are sampled up to this far (µm) from a nucleus.
    auto_rule : AutoRule or None
        Thresholds of ``--auto`` (default ``AutoRule()``).
    patches : bool
        Write patch libraries (nucleus cut-outs and textures).
    max_pixels : int
        Largest image read.
    licence : str or None
        Licence of the input images, copied into the patch indexes.
    morphology : str or None
        A per-nucleus morphology table (``--morphology``, see
        :mod:`synthlang.fit.morphology`): the semi-axis ``let`` of each class come
        from its rows instead of the annotated objects.
    morphology_pixel_size_um : float
        µm per pixel of the morphology table (default 0.25, PUMA at 40x).
    morphology_exclude : tuple of str
        ``roi`` values of the table to leave out.
    point_radius_um : float
        ``--points``: a segmented nucleus takes the class of the nearest point
        within this distance (µm) of its centroid, or of a point inside it.
    command : str or None
        The command line, recorded in the library header.
    """

    prefix: str = "he"
    scale: float = 1.0
    crop: Crop | None = None
    reference: str | None = None
    texture_size: int = 8
    cohorts: int = 3
    max_patches: int = 60
    min_objects: int = 3
    erode: int = 1
    seed: int = 0
    pixel_size_um: float | None = None
    class_names: Mapping[str, str] = field(default_factory=dict)
    only: tuple[str, ...] | None = None
    texture_regions: Mapping[str, str] = field(default_factory=dict)
    cell_margin_um: float = 6.0
    auto_rule: AutoRule | None = None
    patches: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    licence: str | None = None
    morphology: str | None = None
    morphology_pixel_size_um: float = 0.25
    morphology_exclude: tuple[str, ...] = ()
    point_radius_um: float = 4.0
    command: str | None = None

    def validate(self) -> None:
        """Check ranges; raise :class:`DataError` naming the bad option."""
        if not _NAME_RE.match(self.prefix):
            raise DataError(
                f"--prefix {self.prefix!r}: must be a name (letters, digits, _; not starting "
                "with a digit)"
            )
        if not (0.01 <= self.scale <= 8):
            raise DataError(f"--scale {self.scale}: must be in [0.01, 8]")
        if not (3 <= self.texture_size <= 256):
            raise DataError(f"--texture-size {self.texture_size}: must be in 3..256")
        if not (1 <= self.cohorts <= 64):
            raise DataError(f"--cohorts {self.cohorts}: must be in 1..64")
        if self.max_patches < 1:
            raise DataError(f"--max-patches {self.max_patches}: must be >= 1")
        if self.min_objects < 1:
            raise DataError(f"--min-objects {self.min_objects}: must be >= 1")
        if not (0 <= self.erode <= 10):
            raise DataError(f"--erode {self.erode}: must be in 0..10")
        if self.pixel_size_um is not None and not (0.01 <= self.pixel_size_um <= 100):
            raise DataError(f"--pixel-size {self.pixel_size_um}: must be in [0.01, 100] µm")
        if not (0.01 <= self.morphology_pixel_size_um <= 100):
            raise DataError(
                f"--morphology-pixel-size {self.morphology_pixel_size_um}: "
                "must be in [0.01, 100] µm"
            )
        if not (0 < self.point_radius_um <= 100):
            raise DataError(f"--point-radius {self.point_radius_um}: must be in (0, 100] µm")
        for name, region in self.texture_regions.items():
            if region not in ("nucleus", "cytoplasm"):
                raise DataError(
                    f"--texture-region {name}={region}: allowed regions are nucleus, cytoplasm"
                )

    @property
    def working_pixel_size(self) -> float:
        """µm per pixel after scaling (assumed 0.5 when unknown)."""
        if self.pixel_size_um is None:
            return ASSUMED_PIXEL_SIZE_UM
        return self.pixel_size_um / self.scale
