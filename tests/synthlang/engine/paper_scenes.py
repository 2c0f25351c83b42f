"""The paper's Scenarios 1 and 2 built directly as Scene IR (no compiler).

Used by the engine tests and by ``benchmarks/engine_quick.py`` so that the
engine can be tested and timed on its own. The numbers follow Table 1 of
Effland et al.; the colours are those of ``scenes/lib/if_melanoma.scene`` and
``scenes/lib/he_melanoma.scene``. Scenario 2 here has no connective-tissue
ribbon layer (that shape belongs to the fast-marching module).

Examples
--------
>>> scenario1().size, len(scenario2().layers)
((300, 300), 4)
"""

from __future__ import annotations

from typing import Literal

from synthlang import ir

__all__ = ["scenario1", "scenario2"]

_ANGLE = ir.Uniform(low=0.0, high=180.0)


def _ellipse(low: float, high: float) -> ir.EllipseShape:
    d = ir.Uniform(low=low, high=high)
    return ir.EllipseShape(semi_axes=(d, d), angle=_ANGLE)


def _mvn(
    mean: tuple[float, float, float],
    cov: tuple[tuple[float, float, float], ...],
    between: tuple[tuple[float, float, float], ...] | None = None,
) -> ir.MVNColor:
    if between is None:
        return ir.MVNColor(mean=mean, cov=cov)
    return ir.MVNColor(mean=mean, cov=cov, between=between)


def _diag(a: float, b: float, c: float) -> tuple[tuple[float, float, float], ...]:
    return ((a, 0.0, 0.0), (0.0, b, 0.0), (0.0, 0.0, c))


# immunofluorescence (Scenario 1)
IF_BACKGROUND = _mvn(
    (0.04, 0.05, 0.07),
    ((0.0006, 0.0002, 0.0002), (0.0002, 0.0006, 0.0002), (0.0002, 0.0002, 0.0008)),
)
IF_HIDDEN = _mvn(
    (0.10, 0.20, 0.14),
    ((0.0008, 0.0003, 0.0002), (0.0003, 0.0012, 0.0003), (0.0002, 0.0003, 0.0010)),
    _diag(0.0010, 0.0015, 0.0010),
)
IF_TUMOR = _mvn(
    (0.12, 0.55, 0.14),
    ((0.0015, 0.0006, 0.0004), (0.0006, 0.0060, 0.0008), (0.0004, 0.0008, 0.0015)),
    _diag(0.0005, 0.0040, 0.0005),
)
IF_TUMOR_NUCLEUS = _mvn(
    (0.30, 0.62, 0.88),
    ((0.0030, 0.0015, 0.0010), (0.0015, 0.0040, 0.0015), (0.0010, 0.0015, 0.0040)),
    _diag(0.0015, 0.0015, 0.0020),
)
IF_IMMUNE = _mvn(
    (0.78, 0.12, 0.14),
    ((0.0060, 0.0008, 0.0008), (0.0008, 0.0015, 0.0004), (0.0008, 0.0004, 0.0015)),
    _diag(0.0040, 0.0005, 0.0005),
)
IF_IMMUNE_NUCLEUS = _mvn(
    (0.16, 0.20, 0.82),
    ((0.0015, 0.0005, 0.0008), (0.0005, 0.0015, 0.0008), (0.0008, 0.0008, 0.0050)),
    _diag(0.0005, 0.0005, 0.0030),
)
IF_STROMA = _mvn(
    (0.12, 0.16, 0.60),
    ((0.0012, 0.0004, 0.0006), (0.0004, 0.0012, 0.0006), (0.0006, 0.0006, 0.0045)),
    _diag(0.0005, 0.0005, 0.0040),
)

# H&E (Scenario 2)
HE_BACKGROUND = _mvn(
    (0.70, 0.42, 0.70),
    ((0.0040, 0.0025, 0.0022), (0.0025, 0.0035, 0.0020), (0.0022, 0.0020, 0.0030)),
)
HE_TUMOR = _mvn(
    (0.577, 0.249, 0.641),
    ((0.0078, 0.0051, 0.0049), (0.0051, 0.0051, 0.0039), (0.0049, 0.0039, 0.0045)),
    ((0.0008, 0.0005, 0.0005), (0.0005, 0.0006, 0.0004), (0.0005, 0.0004, 0.0006)),
)
HE_TUMOR_NUCLEUS = _mvn(
    (0.398, 0.162, 0.564),
    ((0.00481, 0.00237, 0.00349), (0.00237, 0.00163, 0.00197), (0.00349, 0.00197, 0.00334)),
    ((0.00341, 0.00161, 0.00223), (0.00161, 0.00086, 0.00109), (0.00223, 0.00109, 0.00161)),
)
HE_LYMPHOCYTE = _mvn(
    (0.162, 0.067, 0.410),
    ((0.00285, 0.00088, 0.00226), (0.00088, 0.00048, 0.00083), (0.00226, 0.00083, 0.00265)),
    ((0.00315, 0.00109, 0.00230), (0.00109, 0.00040, 0.00083), (0.00230, 0.00083, 0.00187)),
)


def _count(
    n: float, overlap: Literal["none", "moderate", "centers", "allowed"] = "allowed"
) -> ir.Placement:
    return ir.Placement(mode="count", count=ir.Constant(value=n), overlap=ir.Overlap(mode=overlap))


def _inside(host: str, probability: float) -> ir.Placement:
    return ir.Placement(mode="inside", inside=host, probability=probability)


def scenario1(size: tuple[int, int] = (300, 300)) -> ir.Scene:
    """Scenario 1 (immunofluorescence): immune cells near tumour cells.

    Layers: background noise; ~40 faint partially hidden cells (semi-axes
    6-14); 25 tumour cells (20-35, random); tumour nuclei (8-12) inside with
    probability 0.6; 20 immune cells (8-20, no overlap); immune nuclei (7-8)
    inside with probability 0.6; 20 stromal cells (5-15, no overlap). Blur and
    Gaussian noise; mask: immune cells with tumour-cell concentration > 0.3 in
    a disk of radius 40.
    """
    layers = (
        ir.Layer(index=0, name="background", shape=ir.FillShape(), color=IF_BACKGROUND),
        ir.Layer(
            index=1,
            name="hidden_cell",
            shape=_ellipse(6, 14),
            placement=ir.Placement(mode="count", count=ir.RandInt(low=30, high=50)),
            color=IF_HIDDEN,
        ),
        ir.Layer(
            index=2, name="tumor_cell", shape=_ellipse(20, 35), placement=_count(25), color=IF_TUMOR
        ),
        ir.Layer(
            index=3,
            name="tumor_nucleus",
            shape=_ellipse(8, 12),
            placement=_inside("tumor_cell", 0.6),
            color=IF_TUMOR_NUCLEUS,
        ),
        ir.Layer(
            index=4,
            name="immune_cell",
            shape=_ellipse(8, 20),
            placement=_count(20, "none"),
            color=IF_IMMUNE,
        ),
        ir.Layer(
            index=5,
            name="immune_nucleus",
            shape=_ellipse(7, 8),
            placement=_inside("immune_cell", 0.6),
            color=IF_IMMUNE_NUCLEUS,
        ),
        ir.Layer(
            index=6,
            name="stroma_cell",
            shape=_ellipse(5, 15),
            placement=_count(20, "none"),
            color=IF_STROMA,
        ),
    )
    return ir.Scene(
        name="scenario1",
        size=size,
        layers=layers,
        degrade=(
            ir.GaussianBlur(sigma=ir.Constant(value=0.7)),
            ir.GaussianNoise(std=ir.Constant(value=0.02)),
        ),
        masks=(
            ir.MaskRule(
                category="immune_cell",
                condition=ir.Compare(
                    metric=ir.Concentration(category="tumor_cell", radius=40), op=">", value=0.3
                ),
            ),
        ),
    )


def scenario2(size: tuple[int, int] = (300, 300)) -> ir.Scene:
    """Scenario 2 (H&E): immune-cell-rich areas, 7 Voronoi regions.

    Layers: background noise; tumour cells (15-25) filling 5 of 7 regions
    without overlap; tumour nuclei (3-10) inside with probability 0.6; immune
    cells (4-8) filling the other 2 regions without overlap. Blur and Gaussian
    noise; mask: immune cells with immune-cell concentration > 0.2 in a disk
    of radius 40.
    """
    tumor_area = ir.RegionSelection(start=0, count=5)
    immune_area = ir.RegionSelection(start=5, count=2)
    layers = (
        ir.Layer(index=0, name="background", shape=ir.FillShape(), color=HE_BACKGROUND),
        ir.Layer(
            index=1,
            name="tumor_cell",
            shape=_ellipse(15, 25),
            placement=ir.Placement(
                mode="fill", regions=tumor_area, overlap=ir.Overlap(mode="none")
            ),
            color=HE_TUMOR,
        ),
        ir.Layer(
            index=2,
            name="tumor_nucleus",
            shape=_ellipse(3, 10),
            placement=_inside("tumor_cell", 0.6),
            color=HE_TUMOR_NUCLEUS,
        ),
        ir.Layer(
            index=3,
            name="immune_cell",
            shape=_ellipse(4, 8),
            placement=ir.Placement(
                mode="fill", regions=immune_area, overlap=ir.Overlap(mode="none")
            ),
            color=HE_LYMPHOCYTE,
        ),
    )
    return ir.Scene(
        name="scenario2",
        size=size,
        regions=ir.VoronoiRegions(count=7),
        layers=layers,
        degrade=(
            ir.GaussianBlur(sigma=ir.Constant(value=0.8)),
            ir.GaussianNoise(std=ir.Constant(value=0.015)),
        ),
        masks=(
            ir.MaskRule(
                category="immune_cell",
                condition=ir.Compare(
                    metric=ir.Concentration(category="immune_cell", radius=40), op=">", value=0.2
                ),
            ),
        ),
    )
