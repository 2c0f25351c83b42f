"""Mask rules: metrics by hand, boolean combinations, visible_only, annotations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthlang import ir
from synthlang.common.errors import DataError
from synthlang.engine.base import Instance
from synthlang.engine.rules import (
    METRICS,
    ObjectTable,
    apply_classes,
    apply_rules,
    disk_sums,
    metric_values,
)

SHAPE = (20, 30)


def box_inst(
    id: int, cat: str, r0: int, c0: int, h: int, w: int, center=None, layer: int = 0
) -> Instance:
    center = center or (r0 + (h - 1) / 2, c0 + (w - 1) / 2)
    return Instance(
        id=id, layer=layer, category=cat, r0=r0, c0=c0, mask=np.ones((h, w), bool), center=center
    )


def table_of(*insts: Instance) -> ObjectTable:
    imap = np.zeros(SHAPE, np.int32)
    for i in sorted(insts, key=lambda i: i.layer):  # z-order: layer, then order (later on top)
        imap[i.slices][i.mask] = i.id
    return ObjectTable.from_instances(list(insts), imap)


def cmp(metric, op: str, value: float) -> ir.Compare:
    return ir.Compare(metric=metric, op=op, value=value)


def brute_disk(image: np.ndarray, center, radius: float) -> tuple[float, int]:
    rr, cc = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    disk = (rr - center[0]) ** 2 + (cc - center[1]) ** 2 <= radius**2
    return float(image[disk].sum()), int(disk.sum())


@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(-5, 25),
    c=st.floats(-5, 35),
    radius=st.floats(0.1, 15),
    seed=st.integers(0, 1000),
)
def test_disk_sums_match_brute_force(r: float, c: float, radius: float, seed: int) -> None:
    image = np.random.default_rng(seed).random(SHAPE) < 0.4
    sums, counts = disk_sums(image, np.array([[r, c]]), radius)
    s, n = brute_disk(image, (r, c), radius)
    assert counts[0] == n and sums[0] == pytest.approx(s)


def test_disk_sums_integer_radius_boundary_is_included() -> None:
    sums, counts = disk_sums(np.ones((11, 11)), np.array([[5.0, 5.0]]), 2.0)
    assert counts[0] == 13  # the Gauss circle number for r = 2


def test_concentration_by_hand_with_border_clipping() -> None:
    # tumour covers the left 10 columns
    tumour = box_inst(1, "tumor", 0, 0, 20, 10)
    inner = box_inst(2, "immune", 10, 10, 1, 1, center=(10.0, 10.0))
    table = table_of(tumour, inner)
    conc = metric_values(ir.Concentration(category="tumor", radius=3), table, table.rows("immune"))
    # disk of radius 3: rows -3..3 hold 1, 5, 5, 7, 5, 5, 1 = 29 pixels; columns 7..9 of
    # it (dc = -3..-1) hold 2 + 2 + 3 + 2 + 2 = 11 covered pixels
    assert conc[0] == pytest.approx(11 / 29)
    # at the image corner only the quarter disk counts: (0, 0..3), (1, 0..2), (2, 0..2), (3, 0)
    # = 11 pixels, of which column 0 (4 pixels) is covered by a one-column tumour
    edge = box_inst(3, "tumor", 0, 0, 20, 1)
    corner = box_inst(4, "immune", 0, 0, 1, 1, center=(0.0, 0.0))
    table = table_of(edge, corner)
    conc = metric_values(ir.Concentration(category="tumor", radius=3), table, table.rows("immune"))
    assert conc[0] == pytest.approx(4 / 11)


def test_concentration_uses_full_shapes_including_hidden_parts() -> None:
    tumour = box_inst(1, "tumor", 5, 5, 6, 6)
    cover = box_inst(2, "cover", 5, 5, 6, 6)  # hides the tumour completely
    probe = box_inst(3, "probe", 8, 8, 1, 1, center=(8.0, 8.0))
    table = table_of(tumour, cover, probe)
    conc = metric_values(ir.Concentration(category="tumor", radius=1), table, table.rows("probe"))
    assert conc[0] == 1.0


def test_count_metric_excludes_itself() -> None:
    a = box_inst(1, "c", 0, 0, 1, 1, center=(0.0, 0.0))
    b = box_inst(2, "c", 0, 3, 1, 1, center=(0.0, 3.0))
    c = box_inst(3, "c", 0, 10, 1, 1, center=(0.0, 10.0))
    table = table_of(a, b, c)
    counts = metric_values(ir.CountWithin(category="c", radius=3), table, table.rows("c"))
    assert counts.tolist() == [1.0, 1.0, 0.0]


def test_visible_and_area_metrics() -> None:
    low = box_inst(1, "low", 0, 0, 4, 4)
    high = box_inst(2, "high", 0, 0, 2, 4)  # hides half of `low`
    table = table_of(low, high)
    rows = np.arange(2)
    assert metric_values(ir.VisibleFraction(), table, rows).tolist() == [0.5, 1.0]
    assert metric_values(ir.Area(), table, rows).tolist() == [16.0, 8.0]
    assert set(METRICS) >= {"concentration", "count", "visible", "area"}


def test_boolean_combinations_and_visible_only() -> None:
    small = box_inst(1, "c", 0, 0, 2, 2)  # area 4
    big = box_inst(2, "c", 5, 5, 4, 4)  # area 16
    cover = box_inst(3, "top", 5, 5, 4, 2)  # hides half of `big`
    table = table_of(small, big, cover)
    area_gt = cmp(ir.Area(), ">", 10)
    half_hidden = cmp(ir.VisibleFraction(), "<", 0.75)

    def classified(cond, visible_only=False):
        rule = ir.MaskRule(category="c", condition=cond, visible_only=visible_only)
        res = apply_rules([rule], table)
        return res.classified_ids(table), res

    assert classified(area_gt)[0] == {2}
    assert classified(ir.Not(arg=area_gt))[0] == {1}
    assert classified(ir.And(args=(area_gt, half_hidden)))[0] == {2}
    assert classified(ir.Or(args=(cmp(ir.Area(), "==", 4), half_hidden)))[0] == {1, 2}
    assert classified(cmp(ir.Area(), "!=", 4))[0] == {2}
    assert classified(cmp(ir.Area(), ">=", 16))[0] == {2}
    assert classified(cmp(ir.Area(), "<=", 4))[0] == {1}
    ids, res = classified(area_gt)
    assert res.mask.dtype == np.float32 and res.mask.sum() == 16  # full shape
    ids, res = classified(area_gt, visible_only=True)
    assert res.mask.sum() == 8  # only the visible half
    assert res.mask[5, 5] == 0 and res.mask[5, 8] == 1


def test_several_rules_are_or_combined_and_all_objects_without_condition() -> None:
    a = box_inst(1, "a", 0, 0, 2, 2)
    b = box_inst(2, "b", 10, 10, 3, 3)
    table = table_of(a, b)
    res = apply_rules([ir.MaskRule(category="a"), ir.MaskRule(category="b")], table)
    assert res.classified.tolist() == [True, True] and res.mask.sum() == 13
    assert apply_rules([], table).mask.sum() == 0


def test_from_instance_map_for_annotations() -> None:
    imap = np.zeros(SHAPE, np.int32)
    imap[0:3, 0:3] = 5
    imap[10:12, 20:26] = 9
    table = ObjectTable.from_instance_map(imap, {5: "nucleus", 9: "immune", 7: "unused"})
    assert table.ids.tolist() == [5, 9] and table.categories.tolist() == ["nucleus", "immune"]
    assert table.areas.tolist() == [9, 12] and table.visible_areas.tolist() == [9, 12]
    np.testing.assert_allclose(table.centers, [[1, 1], [10.5, 22.5]])
    rule = ir.MaskRule(category="immune", condition=cmp(ir.Area(), ">", 10))
    res = apply_rules([rule], table)
    np.testing.assert_array_equal(res.mask, (imap == 9).astype(np.float32))
    with pytest.raises(DataError, match="no category"):
        ObjectTable.from_instance_map(imap, {5: "nucleus"})
    with pytest.raises(DataError):
        ObjectTable.from_instance_map(np.zeros((2, 2, 3), np.int32), {})
    with pytest.raises(DataError):
        ObjectTable.from_instance_map(np.zeros((2, 2)), {})


def test_same_rule_labels_rendered_and_annotated_data_alike() -> None:
    # with no hidden parts, a table from instances and one from the instance map agree
    insts = [box_inst(1, "c", 0, 0, 3, 3), box_inst(2, "c", 2 + 3, 4, 2, 5)]
    table = table_of(*insts)
    ann = ObjectTable.from_instance_map(table.instance_map, {1: "c", 2: "c"})
    rule = ir.MaskRule(
        category="c", condition=cmp(ir.Concentration(category="c", radius=4), ">", 0.3)
    )
    np.testing.assert_array_equal(apply_rules([rule], table).mask, apply_rules([rule], ann).mask)


def test_empty_table() -> None:
    table = ObjectTable.from_instance_map(np.zeros((4, 4), np.int32), {})
    assert len(table) == 0
    rule = ir.MaskRule(category="c", condition=cmp(ir.Area(), ">", 1))
    assert apply_rules([rule], table).mask.sum() == 0


# --------------------------------------------------------------------------- classes


def mask_class(name: str, *rules: ir.MaskRule) -> ir.MaskClass:
    return ir.MaskClass(name=name, rules=rules)


def or_mask(rules: list[ir.MaskRule], table: ObjectTable) -> np.ndarray:
    """The binary mask as it was always made: each rule's pixels, or-combined."""
    out = np.zeros(table.shape, bool)
    for rule in rules:
        for k in apply_rules([rule], table).classified.nonzero()[0].tolist():
            if rule.visible_only:
                out |= table.instance_map == table.ids[k]
            else:
                r0, c0, m = table.boxes[k]
                out[r0 : r0 + m.shape[0], c0 : c0 + m.shape[1]] |= m
    return out


def test_classes_paint_top_down_in_layer_then_object_order() -> None:
    # built out of z-order on purpose: the upper layer's object comes first in the table
    upper = box_inst(1, "b", 2, 2, 4, 4, layer=1)
    low = box_inst(2, "a", 0, 0, 4, 4, layer=0)
    later = box_inst(3, "a", 3, 3, 4, 4, layer=0)  # covers `low` within layer 0, under `upper`
    table = table_of(upper, low, later)
    classes = [
        mask_class("x", ir.MaskRule(category="a")),
        mask_class("y", ir.MaskRule(category="b")),
    ]
    res = apply_classes(classes, table)
    assert res.labels.dtype == np.uint8 and res.label_instances.dtype == np.int32
    assert res.label.tolist() == [2, 1, 1] and res.classified.tolist() == [True] * 3
    assert res.labels[0, 0] == 1 and res.label_instances[0, 0] == 2  # `low` alone
    assert res.labels[3, 3] == 2 and res.label_instances[3, 3] == 1  # `upper` over both
    assert res.labels[6, 6] == 1 and res.label_instances[6, 6] == 3  # `later` alone
    assert res.label_instances[1, 3] == 2 and res.label_instances[2, 5] == 1
    np.testing.assert_array_equal(res.label_instances, table.instance_map)
    np.testing.assert_array_equal(res.mask, (res.labels > 0).astype(np.float32))


def test_hidden_parts_of_full_shapes_stay_under_the_objects_above() -> None:
    low = box_inst(1, "a", 0, 0, 4, 4, layer=0)
    cover = box_inst(2, "top", 0, 0, 2, 4, layer=1)  # unlabelled, hides the upper half of `low`
    labelled = box_inst(3, "b", 2, 0, 1, 2, layer=1)  # visible-only target over `low`
    table = table_of(low, cover, labelled)
    res = apply_classes(
        [
            mask_class("a", ir.MaskRule(category="a")),
            mask_class("b", ir.MaskRule(category="b", visible_only=True)),
        ],
        table,
    )
    assert res.labels[:4, :4].tolist() == [[1] * 4, [1] * 4, [2, 2, 1, 1], [1] * 4]
    assert res.label_instances[0, 0] == 1 and res.label_instances[2, 0] == 3
    assert res.label.tolist() == [1, 0, 2]


def test_first_declared_class_wins_and_full_shape_wins_over_visible() -> None:
    obj = box_inst(1, "a", 0, 0, 4, 4, layer=0)
    cover = box_inst(2, "top", 0, 0, 2, 4, layer=1)
    table = table_of(obj, cover)
    first = mask_class("first", ir.MaskRule(category="a", visible_only=True))
    second = mask_class("second", ir.MaskRule(category="a"))
    res = apply_classes([first, second], table)
    assert res.label.tolist() == [1, 0]
    # selected by a full-shape target too (of the second class): the full shape, in class 1
    assert int(res.labels.sum()) == 16 and set(np.unique(res.labels).tolist()) == {0, 1}
    only_visible = apply_classes([first], table)
    assert int(only_visible.labels.sum()) == 8
    swapped = apply_classes([second, first], table)
    assert swapped.label.tolist() == [1, 0]


def test_class_maps_cover_the_or_mask_exactly() -> None:
    rng = np.random.default_rng(5)
    insts = []
    for k in range(1, 25):
        h, w = rng.integers(2, 7, size=2)
        r0, c0 = rng.integers(0, SHAPE[0] - 2), rng.integers(0, SHAPE[1] - 2)
        h, w = min(h, SHAPE[0] - r0), min(w, SHAPE[1] - c0)
        insts.append(box_inst(k, "abc"[k % 3], int(r0), int(c0), int(h), int(w), layer=k % 3))
    table = table_of(*insts)
    big = cmp(ir.Area(), ">", 12)
    classes = [
        mask_class("one", ir.MaskRule(category="a", condition=big), ir.MaskRule(category="b")),
        mask_class("two", ir.MaskRule(category="a", visible_only=True)),
        mask_class("three", ir.MaskRule(category="c", visible_only=True, condition=big)),
    ]
    res = apply_classes(classes, table)
    rules = [rule for c in classes for rule in c.rules]
    np.testing.assert_array_equal(res.labels > 0, or_mask(rules, table))
    np.testing.assert_array_equal(res.mask, apply_rules(rules, table).mask)
    assert res.mask.tobytes() == or_mask(rules, table).astype(np.float32).tobytes()
    labelled = res.label_instances > 0
    np.testing.assert_array_equal(labelled, res.labels > 0)
    # every labelled pixel shows an object of the pixel's class
    row_of = {int(i): k for k, i in enumerate(table.ids)}
    for r, c in zip(*labelled.nonzero(), strict=True):
        assert res.label[row_of[int(res.label_instances[r, c])]] == res.labels[r, c]


def test_classes_on_annotations() -> None:
    imap = np.zeros(SHAPE, np.int32)
    imap[0:3, 0:3] = 5
    imap[10:12, 20:26] = 9
    imap[15:18, 0:2] = 2
    table = ObjectTable.from_instance_map(imap, {5: "nucleus", 9: "immune", 2: "nucleus"})
    res = apply_classes(
        [
            mask_class("immune", ir.MaskRule(category="immune")),
            mask_class("tumor", ir.MaskRule(category="nucleus", condition=cmp(ir.Area(), ">", 6))),
        ],
        table,
    )
    expected = np.select([imap == 9, imap == 5], [1, 2], 0)
    np.testing.assert_array_equal(res.labels, expected)
    np.testing.assert_array_equal(res.label_instances, np.where(expected > 0, imap, 0))
    assert dict(zip(table.ids.tolist(), res.label.tolist(), strict=True)) == {2: 0, 5: 2, 9: 1}


def test_no_classes_and_too_many() -> None:
    table = table_of(box_inst(1, "a", 0, 0, 2, 2))
    res = apply_classes([], table)
    assert not res.labels.any() and not res.label_instances.any() and res.label.tolist() == [0]
    one = apply_rules([ir.MaskRule(category="a")], table)
    assert one.label.tolist() == [1] and int(one.labels.sum()) == 4
    with pytest.raises(ValueError, match="at most 255"):
        apply_classes([mask_class("x", ir.MaskRule(category="a"))] * 256, table)
