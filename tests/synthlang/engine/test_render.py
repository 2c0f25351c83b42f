"""End-to-end rendering: outputs, determinism, seeds, records, the paper's scenarios."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from synthlang import ir
from synthlang.engine.base import Sample
from synthlang.engine.placement import PlacementWarning
from synthlang.engine.render import as_generator, render
from synthlang.engine.rules import ObjectTable, apply_rules
from tests.synthlang.engine.paper_scenes import scenario1, scenario2

COV = ((2e-3, 5e-4, 5e-4), (5e-4, 2e-3, 5e-4), (5e-4, 5e-4, 2e-3))


def small_scene(**kw) -> ir.Scene:
    d = ir.Uniform(low=3, high=6)
    layers = (
        ir.Layer(
            index=0,
            name="bg",
            shape=ir.FillShape(),
            color=ir.MVNColor(mean=(0.8, 0.6, 0.8), cov=COV),
        ),
        ir.Layer(
            index=1,
            name="cell",
            shape=ir.EllipseShape(semi_axes=(d, d)),
            placement=ir.Placement(
                mode="fill",
                regions=ir.RegionSelection(start=0, count=2),
                overlap=ir.Overlap(mode="none"),
            ),
            color=ir.MVNColor(mean=(0.5, 0.2, 0.6), cov=COV, between=COV),
        ),
        ir.Layer(
            index=2,
            name="nucleus",
            shape=ir.EllipseShape(semi_axes=(ir.Uniform(low=1, high=2),) * 2),
            placement=ir.Placement(mode="inside", inside="cell", probability=0.6),
            color=ir.MVNColor(mean=(0.2, 0.1, 0.4), cov=COV),
        ),
        ir.Layer(
            index=3,
            name="never",
            shape=ir.EllipseShape(semi_axes=(d, d)),
            placement=ir.Placement(mode="count", count=ir.Constant(value=0)),
            color=ir.MVNColor(mean=(0, 0, 0)),
        ),
    )
    base = dict(
        name="small",
        size=(48, 64),
        regions=ir.VoronoiRegions(count=3),
        layers=layers,
        degrade=(
            ir.GaussianBlur(sigma=ir.Constant(value=0.7)),
            ir.GaussianNoise(std=ir.Constant(value=0.02)),
        ),
        masks=(
            ir.MaskRule(
                category="cell",
                condition=ir.Compare(
                    metric=ir.Concentration(category="cell", radius=10), op=">", value=0.2
                ),
            ),
        ),
    )
    base.update(kw)
    return ir.Scene(**base)


def arrays(s: Sample) -> list[np.ndarray]:
    return [s.noisy, s.clean, s.mask, s.instance_map, s.layer_map, s.regions]


def test_outputs_have_documented_shapes_and_dtypes() -> None:
    s = render(small_scene(), seed=0)
    assert s.noisy.shape == s.clean.shape == (48, 64, 3)
    assert s.noisy.dtype == s.clean.dtype == s.mask.dtype == np.float32
    assert s.mask.shape == (48, 64) and set(np.unique(s.mask).tolist()) <= {0.0, 1.0}
    assert s.instance_map.dtype == np.int32 and s.layer_map.dtype == np.int16
    assert s.regions is not None and s.regions.dtype == np.int32 and s.regions.max() <= 2
    for img in (s.noisy, s.clean):
        assert img.min() >= 0 and img.max() <= 1
    assert s.layers is None
    assert list(s.counts) == ["bg", "cell", "nucleus", "never"]
    assert s.counts["bg"] == 1 and s.counts["never"] == 0 and s.counts["cell"] > 0


def test_same_seed_gives_identical_bytes_and_different_seeds_differ() -> None:
    scene = small_scene()
    a, b, c = render(scene, seed=7), render(scene, seed=7), render(scene, seed=8)
    for x, y in zip(arrays(a), arrays(b), strict=True):
        assert x.tobytes() == y.tobytes()
    assert a.instances == b.instances
    assert not np.array_equal(a.noisy, c.noisy)
    assert not np.array_equal(a.instance_map, c.instance_map)


def test_seed_kinds() -> None:
    scene = small_scene()
    a = render(scene, seed=3)
    b = render(scene, seed=np.random.SeedSequence(3))
    c = render(scene, seed=np.random.default_rng(3))
    for x, y, z in zip(arrays(a), arrays(b), arrays(c), strict=True):
        assert x.tobytes() == y.tobytes() == z.tobytes()
    with pytest.raises(TypeError):
        as_generator("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        as_generator(True)


def test_instance_records_match_maps() -> None:
    s = render(small_scene(), seed=2)
    ids = [r.id for r in s.instances]
    assert ids == sorted(ids) == list(range(1, len(ids) + 1))
    counts = np.bincount(s.instance_map.ravel(), minlength=len(ids) + 1)
    for rec in s.instances:
        assert rec.visible_area == counts[rec.id]
        assert rec.visible_area <= rec.area
        assert s.counts[rec.category] >= 1
        layer_pixels = s.layer_map[s.instance_map == rec.id]
        assert np.all(layer_pixels == rec.layer)
        assert rec.to_json()["id"] == rec.id
    nuclei = [r for r in s.instances if r.category == "nucleus"]
    cells = {r.id for r in s.instances if r.category == "cell"}
    assert all(n.parent in cells for n in nuclei)


def test_mask_is_the_classified_cells() -> None:
    s = render(small_scene(), seed=4)
    classified = {r.id for r in s.instances if r.classified}
    assert classified <= {r.id for r in s.instances if r.category == "cell"}
    # pixels visible of a classified cell are in the mask; unclassified visible cell pixels
    # that no classified cell covers are not
    vis_classified = np.isin(s.instance_map, list(classified))
    assert np.all(s.mask[vis_classified] == 1)
    other_cells = [r.id for r in s.instances if r.category == "cell" and not r.classified]
    only_other = np.isin(s.instance_map, other_cells)
    assert np.all(s.mask[only_other] == 0)


def test_keep_layers_returns_rgba_per_layer() -> None:
    s = render(small_scene(), seed=1, keep_layers=True)
    assert s.layers is not None and [li.name for li in s.layers] == [
        "bg",
        "cell",
        "nucleus",
        "never",
    ]
    assert np.all(s.layers[0].noisy[:, :, 3] == 1)
    assert np.all(s.layers[3].clean[:, :, 3] == 0)
    plain = render(small_scene(), seed=1)
    np.testing.assert_array_equal(plain.noisy, s.noisy)


def test_scene_without_regions_or_rules() -> None:
    scene = small_scene(regions=None, masks=())
    layers = list(scene.layers)
    cell = layers[1]
    layers[1] = cell.model_copy(
        update={"placement": cell.placement.model_copy(update={"regions": None})}
    )
    s = render(scene.model_copy(update={"layers": tuple(layers)}), seed=0)
    assert s.regions is None and not s.mask.any()
    assert not any(r.classified for r in s.instances)


def test_shortfall_is_reported_in_the_sample() -> None:
    big = ir.Layer(
        index=0,
        name="big",
        shape=ir.EllipseShape(semi_axes=(ir.Constant(value=20), ir.Constant(value=20))),
        placement=ir.Placement(
            mode="count", count=ir.Constant(value=50), overlap=ir.Overlap(mode="none")
        ),
        color=ir.MVNColor(mean=(1, 0, 0)),
    )
    scene = ir.Scene(name="s", size=(40, 40), layers=(big,))
    with pytest.warns(PlacementWarning):
        s = render(scene, seed=0)
    assert len(s.shortfalls) == 1 and s.shortfalls[0].placed == s.counts["big"] < 50


@pytest.mark.parametrize("make", [scenario1, scenario2])
def test_paper_scenarios_render(make) -> None:
    scene = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlacementWarning)
        s = render(scene, seed=0)
    assert s.noisy.shape == (300, 300, 3)
    for layer in scene.layers:
        assert layer.name in s.counts
    if scene.name == "scenario1":
        assert s.counts["tumor_cell"] == 25 and s.counts["immune_cell"] == 20
        assert s.counts["stroma_cell"] == 20 and 30 <= s.counts["hidden_cell"] <= 50
    else:
        assert s.counts["background"] == 1
        assert s.counts["tumor_cell"] > 15 and s.counts["immune_cell"] > 40
    classified = [r for r in s.instances if r.classified]
    assert all(r.category == "immune_cell" for r in classified)
    assert (s.mask.sum() > 0) == bool(classified)


def test_rules_on_annotation_agree_with_render_when_nothing_is_hidden() -> None:
    d = ir.Uniform(low=3, high=5)
    cell = ir.Layer(
        index=0,
        name="cell",
        shape=ir.EllipseShape(semi_axes=(d, d)),
        placement=ir.Placement(
            mode="count", count=ir.Constant(value=25), overlap=ir.Overlap(mode="none")
        ),
        color=ir.MVNColor(mean=(1, 0, 0)),
    )
    rule = ir.MaskRule(
        category="cell",
        condition=ir.Compare(
            metric=ir.Concentration(category="cell", radius=12), op=">", value=0.15
        ),
    )
    scene = ir.Scene(name="s", size=(64, 64), layers=(cell,), masks=(rule,))
    s = render(scene, seed=3)
    cats = {r.id: r.category for r in s.instances}
    table = ObjectTable.from_instance_map(s.instance_map, cats)
    res = apply_rules([rule], table)
    np.testing.assert_array_equal(res.mask, s.mask)


def test_table_from_sample_uses_visible_shapes() -> None:
    s = render(small_scene(), seed=6)
    table = ObjectTable.from_sample(s)
    visible = {r.id: r.visible_area for r in s.instances if r.visible_area > 0}
    assert dict(zip(table.ids.tolist(), table.areas.tolist(), strict=True)) == visible


def test_grown_from_upper_layer_is_built_first_but_composited_below() -> None:
    """Scenario 3: tumour cells (layer 1) grow from the nuclei of layer 2 above them."""
    from synthlang import compile_string

    scene = compile_string(
        """
        scene s { size 64 x 64 }
        layer bg { fill color rgb(1, 1, 1) }
        layer cell { grown(from nucleus, time 4) color rgb(1, 0, 0) }
        layer nucleus { ellipse(semi_axes 3) place count 5, overlap none color rgb(0, 0, 1) }
        """
    )
    assert scene.render_order() == (0, 2, 1)
    sample = render(scene, seed=3)
    cells = [r for r in sample.instances if r.category == "cell"]
    nuclei = {r.id: r for r in sample.instances if r.category == "nucleus"}
    assert len(cells) == len(nuclei) == 5
    # every cell grew from a nucleus, and the nucleus is drawn over its cell
    assert {c.parent for c in cells} == set(nuclei)
    assert all(c.area > nuclei[c.parent].area for c in cells)
    assert all(nuclei[c.parent].visible_area == nuclei[c.parent].area for c in cells)
    layer_of = {"bg": 0, "cell": 1, "nucleus": 2}
    assert set(np.unique(sample.layer_map).tolist()) == set(layer_of.values())


def test_appearance_passes_change_clean_and_noisy_but_not_the_ground_truth() -> None:
    from skimage.color import rgb2hed

    base = small_scene(degrade=(ir.GaussianNoise(std=ir.Constant(value=0.01)),))
    stained = small_scene(
        degrade=(
            ir.StainJitter(
                alpha=(ir.Constant(value=1.4), ir.Constant(value=1.0)),
                beta=(ir.Constant(value=0.0), ir.Constant(value=0.0)),
            ),
            ir.GaussianNoise(std=ir.Constant(value=0.01)),
        )
    )
    a, b = render(base, seed=4), render(stained, seed=4)
    assert a.mask.tobytes() == b.mask.tobytes()
    assert a.instance_map.tobytes() == b.instance_map.tobytes()
    for img_a, img_b in ((a.clean, b.clean), (a.noisy, b.noisy)):
        h_a, h_b = rgb2hed(img_a)[..., 0].mean(), rgb2hed(img_b)[..., 0].mean()
        assert h_b > 1.2 * h_a
    # noise only on the noisy image: clean and noisy differ by about the noise
    assert np.abs(b.noisy - b.clean).std() < 0.1
    again = render(stained, seed=4)
    assert again.noisy.tobytes() == b.noisy.tobytes() and again.clean.tobytes() == b.clean.tobytes()


# --------------------------------------------------------------------------- mask classes

ROOT = Path(__file__).resolve().parents[3]
OVERLAPPING = """
scene s { size 64 x 64 }
layer bg { fill color rgb(1, 1, 1) }
layer a { ellipse(semi_axes uniform(5, 9)) place count 14 color rgb(1, 0, 0) }
layer b { ellipse(semi_axes uniform(4, 7)) place count 10 color rgb(0, 0, 1) }
"""


def labelled_sample(extra: str = "", seed: int = 1) -> Sample:
    from synthlang import compile_string

    scene = compile_string(OVERLAPPING + extra + "\nmask classes { upper: b  lower: a }")
    return render(scene, seed=seed)


def check_class_maps(s: Sample) -> None:
    """Full-shape targets on every object of a and b (over an unlabelled fill), top-down."""
    assert s.labels.dtype == np.uint8 and s.label_instances.dtype == np.int32
    assert s.labels.shape == s.label_instances.shape == s.mask.shape
    assert s.mask.tobytes() == (s.labels > 0).astype(np.float32).tobytes()
    label = {r.id: r.label for r in s.instances}
    assert all(label[r.id] == {"b": 1, "a": 2, "bg": 0}[r.category] for r in s.instances)
    assert all(r.classified == (r.label > 0) for r in s.instances)
    # only labelled objects lie above the fill: the labels show the topmost object's class
    top = np.where(s.layer_map > 0, s.instance_map, 0)
    np.testing.assert_array_equal(s.label_instances, top)
    lut = np.zeros(max(label) + 1, np.uint8)
    lut[list(label)] = list(label.values())
    np.testing.assert_array_equal(s.labels, lut[s.label_instances])


def test_labels_follow_the_layers_top_down() -> None:
    s = labelled_sample()
    assert s.classes == ("upper", "lower")
    check_class_maps(s)
    # class ids are not z-order: the upper class (1) covers the lower one (2) where they overlap
    hidden = [r for r in s.instances if r.category == "a" and r.visible_area < r.area]
    assert hidden and (s.labels == 1).any() and (s.labels == 2).any()
    assert s.instances[0].to_json()["label"] == 0


def test_labels_with_a_scale_pass() -> None:
    s = labelled_sample("degrade { scale(1.6) }", seed=2)
    assert s.noisy.shape == (64, 64, 3)
    check_class_maps(s)


@pytest.mark.parametrize(
    "path",
    ["scenario1", "scenario2", "scenario3", "he_tumor_nuclei", "he_nuclei_classes"],
)
def test_mask_is_labels_above_zero_for_the_shipped_scenes(path: str) -> None:
    from synthlang import compile_file

    file = ROOT / "scenes" / f"{path}.scene"
    if not file.exists():
        pytest.skip(f"{file} is not shipped")
    scene = compile_file(file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlacementWarning)
        s = render(scene, seed=0)
    assert s.classes == scene.class_names() and len(s.classes) >= 1
    assert s.mask.tobytes() == (s.labels > 0).astype(np.float32).tobytes()
    np.testing.assert_array_equal(s.label_instances > 0, s.labels > 0)
    assert int(s.labels.max()) <= len(s.classes)
    labelled = {r.id: r.label for r in s.instances if r.label}
    assert set(np.unique(s.label_instances[s.label_instances > 0]).tolist()) <= set(labelled)
    assert all(r.classified == (r.label > 0) for r in s.instances)


def test_one_class_scenes_and_the_sample_defaults() -> None:
    s = render(small_scene(), seed=3)
    assert s.classes == ("cell",)
    assert set(np.unique(s.labels).tolist()) <= {0, 1}
    assert {r.label for r in s.instances if r.classified} <= {1}
    # a sample built without class maps (older code) reads its mask as one class
    old = Sample(
        noisy=s.noisy,
        clean=s.clean,
        mask=s.mask,
        instance_map=s.instance_map,
        layer_map=s.layer_map,
        instances=[dataclasses.replace(r, label=0) for r in s.instances],
        counts=s.counts,
        shortfalls=[],
    )
    assert old.labels.tobytes() == (s.mask > 0).astype(np.uint8).tobytes()
    assert old.classes == (("mask",) if s.mask.any() else ())
    assert [r.label for r in old.instances] == [int(r.classified) for r in s.instances]
    np.testing.assert_array_equal(old.label_instances > 0, old.labels > 0)
    none = render(small_scene(masks=()), seed=3)
    assert none.classes == () and not none.labels.any() and not none.label_instances.any()
