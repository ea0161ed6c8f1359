"""The layout table against shared/reference/LAYOUTS.md, and pixel geometry at real output sizes."""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from mcu.layouts import (
    LAYOUT_MODES,
    PaneRect,
    assign_panes,
    aux_source_key,
    layout_mode,
    parse_sub_pic,
    pixel_rects,
)

SIZES = [(1920, 1080), (1280, 720), (704, 576), (352, 288)]
# Modes whose panes leave part of the canvas empty (LAYOUTS.md: "centred").
MODES_WITH_GAPS = {"CP_2_1", "CP_2_2", "CP_3_1", "CP_3_2", "CP_3_3", "CP_3_4", "CP_3_6", "CP_6_5"}
PIP_MODES = {"CP_4_6", "CP_7_5"}


def rect(x, y, w, h) -> PaneRect:
    return PaneRect(F(x), F(y), F(w), F(h))


def test_fifty_modes_numbered_like_table_63():
    assert len(LAYOUT_MODES) == 50
    assert [m.value for m in LAYOUT_MODES] == list(range(50))
    assert LAYOUT_MODES[0].name == "CP_None"
    assert LAYOUT_MODES[1].name == "CP_1_1"
    assert LAYOUT_MODES[49].name == "CP_24_1"
    assert layout_mode("CP_4_1") is layout_mode(11) is LAYOUT_MODES[11]
    with pytest.raises(ValueError):
        layout_mode(50)
    with pytest.raises(ValueError):
        layout_mode("CP_5_9")


@pytest.mark.parametrize("mode", LAYOUT_MODES[1:], ids=lambda m: m.name)
def test_pane_count_matches_name(mode):
    assert mode.pane_count == int(mode.name.split("_")[1])


@pytest.mark.parametrize("mode", LAYOUT_MODES, ids=lambda m: m.name)
def test_pane_order_is_main_then_reading_order(mode):
    others = list(mode.panes[1:])
    assert others == sorted(others, key=lambda p: (p.y, p.x))
    for pane in mode.panes:
        assert 0 <= pane.x and 0 <= pane.y and pane.w > 0 and pane.h > 0
        assert pane.x + pane.w <= 1 and pane.y + pane.h <= 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CP_2_1", [rect(0, F(1, 4), F(1, 2), F(1, 2)), rect(F(1, 2), F(1, 4), F(1, 2), F(1, 2))]),
        ("CP_2_2", [rect(F(1, 4), 0, F(1, 2), F(1, 2)), rect(F(1, 4), F(1, 2), F(1, 2), F(1, 2))]),
        ("CP_2_3", [rect(0, 0, F(1, 2), 1), rect(F(1, 2), 0, F(1, 2), 1)]),
        ("CP_3_3", [rect(0, 0, F(1, 2), F(1, 2)), rect(F(1, 2), F(1, 4), F(1, 2), F(1, 2)),
                    rect(0, F(1, 2), F(1, 2), F(1, 2))]),
        ("CP_3_5", [rect(0, 0, F(1, 2), F(1, 2)), rect(F(1, 2), 0, F(1, 2), 1),
                    rect(0, F(1, 2), F(1, 2), F(1, 2))]),
        ("CP_4_1", [rect(0, 0, F(1, 2), F(1, 2)), rect(F(1, 2), 0, F(1, 2), F(1, 2)),
                    rect(0, F(1, 2), F(1, 2), F(1, 2)), rect(F(1, 2), F(1, 2), F(1, 2), F(1, 2))]),
    ],
)
def test_geometry_spelled_out_in_layouts_md(name, expected):
    assert list(layout_mode(name).panes) == expected


@pytest.mark.parametrize(
    ("name", "main"),
    [
        ("CP_3_1", rect(0, 0, F(1, 2), F(1, 2))),
        ("CP_3_4", rect(0, F(1, 4), F(1, 2), F(1, 2))),
        ("CP_3_6", rect(0, F(1, 3), F(1, 3), F(1, 3))),
        ("CP_4_2", rect(0, 0, F(2, 3), 1)),
        ("CP_4_3", rect(F(1, 3), 0, F(2, 3), 1)),
        ("CP_4_4", rect(0, 0, 1, F(2, 3))),
        ("CP_4_5", rect(0, F(1, 3), 1, F(2, 3))),
        ("CP_5_1", rect(0, 0, 1, F(3, 4))),
        ("CP_5_2", rect(0, F(1, 4), 1, F(3, 4))),
        ("CP_5_3", rect(0, 0, F(3, 4), 1)),
        ("CP_5_4", rect(F(1, 4), 0, F(3, 4), 1)),
        ("CP_6_3", rect(F(1, 3), F(1, 3), F(2, 3), F(2, 3))),
        ("CP_6_5", rect(0, F(1, 6), F(1, 3), F(1, 3))),
        ("CP_7_4", rect(F(1, 2), 0, F(1, 2), F(1, 2))),
        ("CP_8_3", rect(F(1, 4), F(1, 4), F(3, 4), F(3, 4))),
        ("CP_10_2", rect(0, F(1, 2), F(1, 2), F(1, 2))),
        ("CP_10_5", rect(0, F(1, 4), F(1, 2), F(1, 2))),
        ("CP_10_6", rect(F(1, 4), 0, F(1, 2), F(1, 2))),
        ("CP_13_5", rect(F(1, 4), F(1, 4), F(1, 2), F(1, 2))),
        ("CP_16_1", rect(0, 0, F(1, 4), F(1, 4))),
        ("CP_20_1", rect(0, 0, F(1, 5), F(1, 4))),
        ("CP_24_1", rect(0, 0, F(1, 6), F(1, 4))),
    ],
)
def test_main_pane_where_layouts_md_puts_it(name, main):
    assert layout_mode(name).panes[0] == main


def test_cp_6_5_rows_are_vertically_centred():
    panes = layout_mode("CP_6_5").panes
    assert {p.y for p in panes} == {F(1, 6), F(1, 2)}
    assert max(p.y + p.h for p in panes) == F(5, 6)


@pytest.mark.parametrize("name", sorted(PIP_MODES))
def test_pip_panes_sit_in_one_centred_row_over_the_main_pane(name):
    mode = layout_mode(name)
    main, *pips = mode.panes
    assert main == rect(0, 0, 1, 1)
    assert mode.overlay_panes == frozenset(range(1, mode.pane_count))
    assert len({p.y for p in pips}) == 1 and len({p.w for p in pips}) == 1
    # w == h as fractions: the pane keeps the canvas aspect ratio.
    assert all(p.w == p.h for p in pips)
    left, right = pips[0].x, 1 - (pips[-1].x + pips[-1].w)
    assert left == right
    bottom_margin = 1 - (pips[0].y + pips[0].h)
    assert 0 < bottom_margin < F(1, 10)
    expected_width = F(1, 6) if len(pips) == 3 else F(1, 8)
    assert pips[0].w == expected_width


@pytest.mark.parametrize("mode", LAYOUT_MODES, ids=lambda m: m.name)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_pixel_rects_are_even_and_tile_without_gaps_or_seams(mode, width, height):
    rects = pixel_rects(mode, width, height)
    coverage = np.zeros((height, width), np.int32)
    for r in rects:
        assert r.x % 2 == r.y % 2 == r.w % 2 == r.h % 2 == 0
        assert r.w >= 2 and r.h >= 2 and r.right <= width and r.bottom <= height
        coverage[r.y : r.bottom, r.x : r.right] += 1
    if mode.name in PIP_MODES:
        assert coverage.min() == 1 and coverage.max() == 2
        assert (coverage == 2).sum() == sum(r.w * r.h for r in rects[1:])
    elif mode.name in MODES_WITH_GAPS:
        assert coverage.max() == 1
        covered = sum(p.w * p.h for p in mode.panes)
        assert abs((coverage == 1).mean() - float(covered)) < 0.02
    else:
        assert coverage.min() == coverage.max() == 1


@pytest.mark.parametrize("mode", LAYOUT_MODES, ids=lambda m: m.name)
def test_panes_sharing_an_edge_on_paper_share_it_in_pixels(mode):
    rects = pixel_rects(mode, 704, 576)
    for a, ra in zip(mode.panes, rects, strict=True):
        for b, rb in zip(mode.panes, rects, strict=True):
            if a.x + a.w == b.x:
                assert ra.right == rb.x
            if a.y + a.h == b.y:
                assert ra.bottom == rb.y


def test_pixel_rects_of_16_grid_at_1080p():
    rects = pixel_rects(layout_mode("CP_16_1"), 1920, 1080)
    assert {(r.w, r.h) for r in rects} == {(480, 270)}
    assert [r.x for r in rects[:4]] == [0, 480, 960, 1440]
    assert sorted({r.y for r in rects}) == [0, 270, 540, 810]


def test_pixel_rects_of_odd_fractions_round_each_edge_to_even():
    # 352/6 = 58.67: edges 0, 58.67, 117.33, 176, ... -> 0, 58, 118, 176, 234, 294, 352.
    rects = pixel_rects(layout_mode("CP_24_1"), 352, 288)
    assert [r.x for r in rects[:6]] == [0, 58, 118, 176, 234, 294]
    assert [r.w for r in rects[:6]] == [58, 60, 58, 58, 60, 58]


def test_pixel_rects_are_deterministic():
    first = [pixel_rects(m, 704, 576) for m in LAYOUT_MODES]
    pixel_rects.cache_clear()
    second = [pixel_rects(m, 704, 576) for m in LAYOUT_MODES]
    assert first == second


@pytest.mark.parametrize("size", [(0, 1080), (1921, 1080), (1920, 1079), (8, 8)])
def test_bad_output_sizes_are_refused(size):
    with pytest.raises(ValueError):
        pixel_rects(layout_mode("CP_24_1"), *size)


def test_to_json_lists_fractions_in_pane_order():
    assert layout_mode("CP_2_1").to_json() == {
        "value": 2,
        "name": "CP_2_1",
        "panes": [[0.0, 0.25, 0.5, 0.5], [0.5, 0.25, 0.5, 0.5]],
    }


# --- filling panes -----------------------------------------------------------

SITES = ["01010086", "01010010", "01010020", "01010030", "01010040"]


def test_sub_pic_parsing():
    assert parse_sub_pic("01010086") == ("01010086", False)
    assert parse_sub_pic("01010086(%AUX1)") == ("01010086", True)
    assert aux_source_key("01010086") == "01010086(%AUX1)"


def test_sub_pics_fill_panes_in_order_and_unknown_or_empty_leave_placeholders():
    mode = layout_mode("CP_4_1")
    panes = assign_panes(
        mode,
        SITES,
        sub_pics=["01010010", "", "99999999", "01010086(%AUX1)", "01010020"],
        aux_sources={"01010086"},
    )
    assert panes == ("01010010", None, None, "01010086(%AUX1)")


def test_sub_pics_shorter_than_the_mode_leave_the_rest_on_placeholders():
    panes = assign_panes(layout_mode("CP_4_1"), SITES, sub_pics=["01010030"])
    assert panes == ("01010030", None, None, None)


def test_aux_of_a_site_without_content_stream_is_a_placeholder():
    panes = assign_panes(layout_mode("CP_2_3"), SITES, sub_pics=["01010010(%AUX1)", "01010010"])
    assert panes == (None, "01010010")


def test_automatic_assignment_broadcast_then_join_order():
    mode = layout_mode("CP_4_1")
    assert assign_panes(mode, SITES) == tuple(SITES[:4])
    assert assign_panes(mode, SITES, broadcast="01010030", speaking="01010040") == (
        "01010030", "01010086", "01010010", "01010020",
    )
    assert assign_panes(mode, SITES, speaking="01010040") == (
        "01010040", "01010086", "01010010", "01010020",
    )
    # A broadcast site that is not in the conference does not take the main pane.
    assert assign_panes(mode, SITES, broadcast="nobody", speaking="01010020")[0] == "01010020"


def test_automatic_assignment_pads_with_placeholders():
    assert assign_panes(layout_mode("CP_6_1"), SITES[:2]) == (
        "01010086", "01010010", None, None, None, None,
    )


def test_cp_none_is_voice_switched_and_ignores_sub_pics():
    mode = layout_mode("CP_None")
    assert mode.voice_switched
    assert assign_panes(mode, SITES, sub_pics=["01010040"], speaking="01010020") == ("01010020",)
    assert assign_panes(mode, SITES, broadcast="01010030", speaking="01010020") == ("01010030",)
    assert assign_panes(mode, SITES) == ("01010086",)
    assert assign_panes(mode, []) == (None,)
