"""The demo's consultation (app/demo/scenario.py) run once for this module: a server and
four simulated terminals, driven only over SOAP; every assertion is on what the terminals
decoded (site markers read in the panes, and again from the PNGs written) and heard (the
level of each talker in the received mix).

Timeouts are generous (a shared 2-core machine): a step waits up to a minute for its effect.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import cv2
import pytest

from app.demo.report import DemoReport
from app.demo.scenario import (
    HEARD,
    LOUDEST_MARGIN,
    NOT_HEARD,
    DemoOptions,
    run_demo,
)
from mcu.layouts import layout_mode
from mcu.media.output_format import FORMAT_SIZES
from terminals.marker import read_marker

STEPS = ["cp_4_1", "cp_2_1", "voice_switching", "mute", "broadcast", "video_source", "end"]
EXPECTATIONS = [
    "cp_4_1.all_sites", "cp_4_1.same_order", "cp_4_1.n_minus_1",
    "cp_2_1.sub_pics",
    "voice_switching.speaking", "voice_switching.loudest", "voice_switching.main_pane",
    "voice_switching.delay",
    "mute.not_heard", "mute.still_hears", "mute.status",
    "broadcast.full_screen", "broadcast.own_picture", "broadcast.status",
    "video_source.full_screen", "video_source.others_cp", "video_source.status",
    "end.hung_up", "end.status",
]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
def report(out_dir: Path) -> DemoReport:
    options = DemoOptions(out_dir=out_dir, data_dir=out_dir / "data",
                          connect_timeout=60.0, step_timeout=60.0)
    return asyncio.run(run_demo(options))


@pytest.fixture(scope="module")
def join_order(report: DemoReport) -> list[str]:
    return report.join_order


def terminals(report: DemoReport, step: str) -> dict:
    return report.step(step).terminals


def test_the_consultation_ran_every_step(report):
    assert report.error is None
    assert [step.name for step in report.steps] == STEPS
    assert len(report.sites) == 4
    assert sorted(report.join_order) == sorted(report.sites)


@pytest.mark.parametrize("key", EXPECTATIONS)
def test_expectation_held(report, key):
    checked = {expectation.key for expectation in report.expectations}
    assert key in checked, f"never checked: the scenario stopped early ({report.error})"
    expectation = report.expectation(key)
    assert expectation.held, f"{expectation.what}: {expectation.detail}"


def test_cp_4_1_every_terminal_decodes_the_four_sites_in_join_order(report, join_order):
    for uri, seen in terminals(report, "cp_4_1").items():
        assert seen.layout == "CP_4_1"
        assert seen.panes == join_order, uri


def test_n_minus_1_no_terminal_hears_itself(report):
    for uri, seen in terminals(report, "cp_4_1").items():
        assert seen.heard[uri] < NOT_HEARD, uri
        for talker in report.sites:
            if talker != uri:
                assert seen.heard[talker] >= HEARD, (uri, talker)


def test_cp_2_1_shows_the_chosen_sub_pics(report, join_order):
    for uri, seen in terminals(report, "cp_2_1").items():
        assert seen.panes == [join_order[3], join_order[1]], uri


def test_the_loud_talker_is_heard_loudest_and_takes_the_main_pane(report, join_order):
    loud = join_order[3]
    for uri, seen in terminals(report, "voice_switching").items():
        assert seen.panes[0] == loud, uri
        assert seen.panes == [loud, *join_order[:3]], uri
        if uri != loud:
            others = [level for talker, level in seen.heard.items() if talker not in (uri, loud)]
            assert seen.heard[loud] >= LOUDEST_MARGIN * max(others), uri
    assert report.expectation("voice_switching.speaking").held  # queryConferencesStatusEx


def test_the_switch_delay_is_measured_at_every_other_terminal(report, join_order):
    """From decoded media: each other terminal saw the talker in the main pane after the hold
    time (never sooner: the MCU waits it out) and within the documented slack."""
    from app.demo.scenario import SWITCH_SLACK_S
    from mcu.runtime import SPEAKER_HOLD_SECONDS

    step = report.step("voice_switching")
    assert step.hold_ms == SPEAKER_HOLD_SECONDS * 1000
    assert set(step.switch_delay_ms) == set(join_order[:3])
    for uri, delay in step.switch_delay_ms.items():
        assert delay is not None, uri
        assert step.hold_ms <= delay <= step.hold_ms + SWITCH_SLACK_S * 1000, (uri, delay)
    assert report.expectation("voice_switching.delay").held


def test_the_muted_site_is_heard_by_nobody_and_still_hears_the_others(report, join_order):
    muted = join_order[1]
    for uri, seen in terminals(report, "mute").items():
        assert seen.heard[muted] < NOT_HEARD, uri
    heard_by_muted = terminals(report, "mute")[muted].heard
    assert all(heard_by_muted[t] >= HEARD for t in report.sites if t != muted)


def test_the_broadcast_site_fills_everyone_elses_screen(report, join_order):
    broadcaster = join_order[2]
    for uri, seen in terminals(report, "broadcast").items():
        if uri == broadcaster:
            assert seen.layout == "CP_4_1"
            assert seen.panes[0] == broadcaster
        else:
            assert (seen.layout, seen.panes) == ("CP_1_1", [broadcaster]), uri


def test_the_video_source_site_sees_the_chosen_site_full_screen(report, join_order):
    viewer, source = join_order[0], join_order[1]
    for uri, seen in terminals(report, "video_source").items():
        if uri == viewer:
            assert (seen.layout, seen.panes) == ("CP_1_1", [source])
        else:  # the broadcast was stopped: back on the CP picture, the speaker in front
            assert seen.panes == [join_order[3], *join_order[:3]], uri


def test_after_the_end_no_site_is_in_a_call(report):
    assert {seen.state for seen in terminals(report, "end").values()} == {"idle"}
    assert report.expectation("end.status").held


def test_the_pngs_show_what_the_terminals_read(report, out_dir):
    size = FORMAT_SIZES[DemoOptions().video_format]
    pictures = 0
    for step in report.steps:
        for uri, seen in step.terminals.items():
            if seen.layout is None:
                assert seen.snapshot is None
                continue
            assert seen.snapshot == f"{step.name}-{uri}.png"
            picture = cv2.imread(str(out_dir / seen.snapshot))
            assert picture.shape == (size.height, size.width, 3)
            sites = []
            for pane in layout_mode(seen.layout).panes:
                reading = read_marker(picture, pane.as_floats())
                sites.append(None if reading is None else report.sites[reading.site_index])
            assert sites == seen.panes, (step.name, uri)
            pictures += 1
    assert pictures == 4 * (len(STEPS) - 1)


def test_report_json_has_the_documented_shape(report, out_dir):
    written = json.loads((out_dir / "report.json").read_text())
    step = written["steps"][0]
    assert step["name"] == "cp_4_1" and step["layout"] == "CP_4_1"
    seen = step["terminals"][report.sites[0]]
    assert set(seen) >= {"snapshot", "panes", "heard", "latency_ms"}
    assert set(seen["heard"]) == set(report.sites)
    assert len(written["expectations"]) == len(EXPECTATIONS)
    assert all({"what", "held"} <= set(e) for e in written["expectations"])
