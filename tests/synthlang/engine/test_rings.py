"""Rings of objects around (``around C``) and along (``along C``) the objects of another layer.

Measured on rendered samples: the distance of every ring centre to its host's boundary, the
arc spacing of consecutive centres, the number of objects per ring, and the orientation of
elongated nuclei (``angle across(C)`` / ``along(C)``) against the boundary normal.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage

from synthlang import ir
from synthlang.engine.base import Instance
from synthlang.engine.render import render
from synthlang.engine.rings import ring_sites
from synthlang.lang.compile import compile_string

HEAD = """
scene rings {{ size 200 x 200 }}
layer bg {{ fill color rgb(1, 1, 1) }}
layer lumen {{ ellipse(semi_axes 18) place count 2, overlap none color rgb(0.9, 0.9, 0.9) }}
layer nucleus {{
    ellipse(semi_axes {axes}, angle {angle})
    place {place}
    color rgb(0.3, 0.1, 0.5)
}}
"""


def sample(place: str, axes: str = "1.5", angle: str = "0", seed: int = 0):
    scene = compile_string(HEAD.format(place=place, axes=axes, angle=angle))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return render(scene, seed, keep_layers=True)


def host_mask(s, host) -> np.ndarray:
    """The full shape of a lumen (its layer's alpha; the lumens never touch)."""
    layer = next(image for image in s.layers if image.name == "lumen")
    labels, _ = ndimage.label(layer.clean[..., 3] > 0.5)
    r, c = np.floor(np.asarray(host.center) + 0.5).astype(int)
    return labels == labels[r, c]


def rings(place: str, seeds=range(4), **kw) -> list[tuple[np.ndarray, list]]:
    """(host mask, its ring records) for the hosts whose rings lie wholly in the image."""
    out = []
    for seed in seeds:
        s = sample(place, seed=seed, **kw)
        lumens = [r for r in s.instances if r.category == "lumen"]
        for host in lumens:
            mask = host_mask(s, host)
            rows, cols = np.nonzero(mask)
            if rows.min() < 20 or cols.min() < 20 or rows.max() > 179 or cols.max() > 179:
                continue  # the ring would leave the image
            ring = [r for r in s.instances if r.category == "nucleus" and r.parent == host.id]
            out.append((mask, ring))
    assert len(out) >= 3
    return out


def boundary_distance(mask: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Signed distance (px) of points to the boundary of a mask (negative inside)."""
    outside = ndimage.distance_transform_edt(~mask) - 0.5
    inside = 0.5 - ndimage.distance_transform_edt(mask)
    signed = np.where(mask, inside, outside)
    return ndimage.map_coordinates(signed, centres.T, order=1)


def ordered(mask: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Centres sorted by their angle around the mask's centroid."""
    middle = np.argwhere(mask).mean(axis=0)
    angle = np.arctan2(centres[:, 0] - middle[0], centres[:, 1] - middle[1])
    return centres[np.argsort(angle)]


def test_around_centres_lie_at_the_drawn_distance_from_the_boundary() -> None:
    found = rings("around lumen, distance uniform(4, 8), spacing uniform(8, 11), overlap none")
    d = np.concatenate(
        [boundary_distance(m, np.array([r.center for r in ring])) for m, ring in found]
    )
    # each centre is rounded to its pixel: up to 0.71 px from the drawn point
    assert d.min() >= 4 - 0.75 and d.max() <= 8 + 0.75, (d.min(), d.max())
    assert 5.5 <= d.mean() <= 6.5, d.mean()


def test_around_centres_are_spaced_along_the_boundary() -> None:
    found = rings("around lumen, distance 6, spacing uniform(8, 11), overlap none")
    gaps = []
    for mask, ring in found:
        centres = ordered(mask, np.array([r.center for r in ring]))
        step = np.diff(np.concatenate([centres, centres[:1]]), axis=0)
        gaps.append(np.hypot(step[:, 0], step[:, 1]))
    every = np.concatenate(gaps)
    inner = np.concatenate([g[:-1] for g in gaps])  # where the ring closes, 0.5 to 1.5 gaps
    assert 9.0 <= np.median(every) <= 10.0, np.median(every)
    assert np.quantile(inner, 0.05) >= 7.0 and np.quantile(inner, 0.95) <= 12.0
    # a disk of radius ~18 px: the ring at 6 px has ~151 px of arc, ~16 objects at 9.5 px
    counts = [len(ring) for _, ring in found]
    assert all(14 <= n <= 18 for n in counts), counts


def test_along_centres_lie_on_the_boundary() -> None:
    found = rings("along lumen, spacing 6")
    d = np.concatenate(
        [boundary_distance(m, np.array([r.center for r in ring])) for m, ring in found]
    )
    assert np.abs(d).max() <= 0.75, np.abs(d).max()
    assert all(len(ring) >= 15 for _, ring in found)


def axis_to_normal(mask: np.ndarray, s, ring: list) -> np.ndarray:
    """Angle (degrees, 0..90) between each nucleus's long axis and the boundary normal."""
    middle = np.argwhere(mask).mean(axis=0)
    out = []
    for record in ring:
        pix = np.argwhere(s.instance_map == record.id).astype(float)
        if len(pix) < 8:
            continue
        cov = np.cov((pix - pix.mean(axis=0)).T)
        _, vecs = np.linalg.eigh(cov)
        axis = vecs[:, -1]
        normal = np.asarray(record.center) - middle
        cos = abs(axis @ normal) / np.linalg.norm(normal)
        out.append(np.degrees(np.arccos(min(cos, 1.0))))
    return np.array(out)


@pytest.mark.parametrize(("word", "low", "high"), [("across", 0, 12), ("along", 78, 90)])
def test_ring_nuclei_are_oriented_across_or_along_the_boundary(
    word: str, low: float, high: float
) -> None:
    place = "around lumen, distance 6, spacing 12, overlap none"
    angles = []
    for seed in range(3):
        s = sample(place, axes="[5, 2]", angle=f"{word}(lumen, jitter uniform(-5, 5))", seed=seed)
        for host in (r for r in s.instances if r.category == "lumen"):
            ring = [r for r in s.instances if r.parent == host.id]
            angles.append(axis_to_normal(host_mask(s, host), s, ring))
    measured = np.concatenate(angles)
    assert measured.size >= 20
    assert low <= np.mean(measured) <= high, np.mean(measured)


def test_rings_respect_overlap_probability_and_are_deterministic() -> None:
    place = "around lumen, distance 2, spacing uniform(6, 8), overlap none"
    a = sample(place, axes="3")
    b = sample(place, axes="3")
    assert np.array_equal(a.instance_map, b.instance_map)
    assert np.array_equal(a.noisy, b.noisy)
    nuclei = [r for r in a.instances if r.category == "nucleus"]
    assert sum(r.area for r in nuclei) == np.count_nonzero(a.layer_map == 2)  # no overlap
    assert a.shortfalls == []  # most ring positions are filled (neighbours block the rest)
    none = sample("around lumen, distance 4, spacing 8, probability 0")
    assert not [r for r in none.instances if r.category == "nucleus"]


def test_a_ring_too_crowded_for_its_objects_is_a_shortfall() -> None:
    s = sample("around lumen, distance 1, spacing 1, overlap none", axes="4")
    assert [f.layer for f in s.shortfalls] == ["nucleus"]
    assert "ring positions had no room" in s.shortfalls[0].reason


def test_ring_sites_of_a_square() -> None:
    """A 11 x 11 square host: the ring at 3 px has 4 * 11 + 2 pi 3 = 62.8 px of arc."""
    host = Instance(
        id=1, layer=0, category="h", r0=20, c0=20, mask=np.ones((11, 11), bool), center=(25, 25)
    )
    ring = ir.Ring(category="h", distance=ir.Constant(value=3), spacing=ir.Constant(value=4))
    rows, cols = ring_sites(host, ring, np.random.default_rng(0), (60, 60))
    assert 14 <= rows.size <= 16
    # every site is 3 px (+ rounding) outside the square [19.5, 30.5]^2
    dr = np.maximum(np.maximum(19.5 - rows, rows - 30.5), 0)
    dc = np.maximum(np.maximum(19.5 - cols, cols - 30.5), 0)
    assert np.all(np.abs(np.hypot(dr, dc) - 3) <= 0.75)
    clipped = ring_sites(host, ring, np.random.default_rng(0), (25, 60))
    assert 0 < clipped[0].size < rows.size and clipped[0].max() < 25


def test_hosts_cut_by_the_image_border_have_no_ring_along_the_border() -> None:
    """A square cut by the top edge: the boundary continues upwards, no centre on row 0."""
    host = Instance(
        id=1, layer=0, category="h", r0=0, c0=20, mask=np.ones((11, 11), bool), center=(5, 25)
    )
    ring = ir.Ring(category="h", spacing=ir.Constant(value=2))
    rows, cols = ring_sites(host, ring, np.random.default_rng(0), (60, 60))
    top = rows <= 1
    assert rows.size >= 15 and not np.any(top & (cols > 21) & (cols < 29))
    assert np.any(rows >= 10)  # the bottom side is there
