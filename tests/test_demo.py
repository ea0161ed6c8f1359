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

import av
import cv2
import pytest

from app.demo.report import DemoReport
from app.demo.scenario import (
    CONTENT_SIZE,
    HEARD,
    LOUDEST_MARGIN,
    NOT_HEARD,
    PANE_PSNR_DB,
    SECOND_STREAM_PSNR_DB,
    DemoOptions,
    run_demo,
)
from mcu.layouts import AUX_SUFFIX, layout_mode
from mcu.media.output_format import FORMAT_SIZES
from terminals import av_sync
from terminals.marker import read_content_marker, read_marker

CONTENT_STEPS = ["content_share", "content_pane", "content_take", "content_lock",
                 "content_release"]
DEVICE_STEPS = ["three_screens", "camera_pan_zoom", "camera_preset", "far_end_camera",
                "main_source"]
CAMERA_STEPS = DEVICE_STEPS[1:]  # the room broadcast: the three others read it, not the room
RECORDING_STEPS = ["recording", "live"]
STEPS = ["cp_4_1", "cp_2_1", *CONTENT_STEPS, *RECORDING_STEPS, "voice_switching", *DEVICE_STEPS, "mute",
         "broadcast",
         "video_source", "end"]
EXPECTATIONS = [
    "cp_4_1.all_sites", "cp_4_1.same_order", "cp_4_1.n_minus_1",
    "cp_2_1.sub_pics",
    "content_share.floor", "content_share.second_stream", "content_share.holder_idle",
    "content_share.aux_status", "content_share.main_unchanged",
    "content_pane.aux_pane", "content_pane.camera_pane",
    "content_take.granted", "content_take.revoked", "content_take.floor",
    "content_take.second_stream", "content_take.holder_idle", "content_take.aux_status",
    "content_lock.denied", "content_lock.floor", "content_lock.second_stream",
    "content_lock.holder_idle", "content_lock.aux_status",
    "content_release.floor_free", "content_release.streams_stop",
    "content_release.aux_status",
    "recording.listed", "recording.whole", "recording.sidecar",
    "recording.content", "recording.sync",
    "live.playlist", "live.segment", "live.markers", "live.stopped",
    "voice_switching.speaking", "voice_switching.loudest", "voice_switching.main_pane",
    "voice_switching.delay",
    "three_screens.cp", "three_screens.speaker", "three_screens.second_cp",
    "three_screens.query", "three_screens.single",
    "camera_pan_zoom.broadcast", "camera_pan_zoom.home", "camera_pan_zoom.pan",
    "camera_pan_zoom.zoom",
    "camera_preset.away", "camera_preset.back",
    "far_end_camera.moved", "far_end_camera.relayed",
    "main_source.doc_camera", "main_source.same_site", "main_source.no_scene",
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


# ---------------------------------------------------------------------------- content


def content_roles(report: DemoReport) -> tuple[str, str, str]:
    """(sharer, taker, denied) as the steps recorded them: the holder setAuxStreamEx made,
    the terminal whose own FloorRequest took the floor, the one denied under the lock."""
    sharer = report.step("content_share").floor_holder
    (taker,) = report.step("content_take").floor_requests
    (denied,) = report.step("content_lock").floor_requests
    assert sharer is not None and len({sharer, taker, denied}) == 3
    return sharer, taker, denied


def site_index(report: DemoReport, uri: str) -> int:
    return report.sites.index(uri)  # the demo's terminals are sites 0..3 in report.sites


def assert_decodes(report: DemoReport, out_dir: Path, step: str, holder: str) -> None:
    """Every terminal but the holder decoded the holder's content on its second stream
    (marker, latency, PSNR), and the PNG of its second screen shows the holder's page."""
    for uri, seen in terminals(report, step).items():
        content = seen.content
        assert content is not None and content["seen_in"] == "second stream", (step, uri)
        if uri == holder:
            assert not content["receiving"] and content["site"] is None, (step, uri)
            assert seen.content_snapshot is None
            continue
        assert content["receiving"] and content["site"] == holder, (step, uri, content)
        assert content["kind"] in ("radiograph", "record") and content["page"] is not None
        assert content["frame_index"] is not None and content["latency_ms"] is not None
        assert content["psnr_db"] >= SECOND_STREAM_PSNR_DB, (step, uri, content)
        assert seen.content_snapshot == f"{step}-{uri}-content.png"
        picture = cv2.imread(str(out_dir / seen.content_snapshot))
        assert picture.shape == (CONTENT_SIZE[1], CONTENT_SIZE[0], 3)  # forwarded unchanged
        reading = read_content_marker(picture)
        assert reading is not None and reading.site_index == site_index(report, holder)
    holders = {uri for uri, seen in terminals(report, step).items() if seen.holds_floor}
    assert holders == {holder}, step
    assert report.step(step).floor_holder == holder


def test_set_aux_stream_shares_the_radiograph_on_every_other_second_stream(report, out_dir):
    sharer, _, _ = content_roles(report)
    assert report.step("content_share").action.startswith(f"setAuxStreamEx {sharer}")
    assert "radiograph" in report.step("content_share").action
    assert_decodes(report, out_dir, "content_share", sharer)
    queried = report.step("content_share").queried
    assert queried["presentation"] == sharer
    assert queried["isSendAuxStreamEx"] == {uri: int(uri == sharer) for uri in report.sites}
    assert queried["isReceiveRemAuxStrmEx"] == {uri: int(uri != sharer)
                                                for uri in report.sites}


def test_an_aux1_pane_shows_the_content_in_every_main_picture(report, out_dir):
    sharer, taker, _ = content_roles(report)
    step = report.step("content_pane")
    assert f"{sharer}{AUX_SUFFIX}" in step.action
    pane = layout_mode("CP_2_1").panes[0].as_floats()
    for uri, seen in step.terminals.items():
        content = seen.content
        assert content is not None and content["seen_in"] == "main picture pane 0"
        assert content["site"] == sharer and content["frame_index"] is not None, uri
        assert content["latency_ms"] is not None and content["psnr_db"] >= PANE_PSNR_DB, uri
        assert seen.panes == [None, taker], uri  # pane 0 is no camera, pane 1 is
        picture = cv2.imread(str(out_dir / seen.snapshot))
        reading = read_content_marker(picture, pane)
        assert reading is not None and reading.site_index == site_index(report, sharer), uri


def test_a_site_taking_the_floor_over_bfcp_revokes_the_first(report, out_dir):
    sharer, taker, _ = content_roles(report)
    step = report.step("content_take")
    assert step.floor_requests == {taker: "GRANTED"}
    assert not step.terminals[sharer].holds_floor
    assert_decodes(report, out_dir, "content_take", taker)  # the first sharer included
    assert report.expectation("content_take.revoked").held


def test_a_locked_floor_denies_a_third_site(report, out_dir):
    _, taker, denied = content_roles(report)
    step = report.step("content_lock")
    assert step.floor_requests == {denied: "DENIED"}
    assert step.queried["presentation"] == taker and step.queried["isLockPresentation"] == 1
    assert_decodes(report, out_dir, "content_lock", taker)


def test_the_release_stops_every_second_stream(report):
    step = report.step("content_release")
    assert step.floor_holder is None
    for uri, seen in step.terminals.items():
        assert seen.content is not None and not seen.content["receiving"], uri
        assert seen.content_snapshot is None and not seen.holds_floor, uri
    assert set(step.queried["isReceiveRemAuxStrmEx"].values()) == {0}


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
    # every terminal at every step but the end and the recording steps (which read files and
    # streams, not the terminals); in the camera steps the three viewers
    assert pictures == (4 * (len(STEPS) - 1 - len(CAMERA_STEPS) - len(RECORDING_STEPS))
                        + 3 * len(CAMERA_STEPS))


def test_report_json_has_the_documented_shape(report, out_dir):
    written = json.loads((out_dir / "report.json").read_text())
    step = written["steps"][0]
    assert step["name"] == "cp_4_1" and step["layout"] == "CP_4_1"
    seen = step["terminals"][report.sites[0]]
    assert set(seen) >= {"snapshot", "panes", "heard", "latency_ms"}
    assert set(seen["heard"]) == set(report.sites)
    shared = written["steps"][STEPS.index("content_share")]
    assert shared["floor_holder"] == report.step("content_share").floor_holder
    for seen in shared["terminals"].values():
        assert {"site", "page", "latency_ms", "psnr_db"} <= set(seen["content"])
        assert "holds_floor" in seen and "content_snapshot" in seen
    assert written["steps"][0]["terminals"][report.sites[0]]["content"] is None
    assert len(written["expectations"]) == len(EXPECTATIONS)
    assert all({"what", "held"} <= set(e) for e in written["expectations"])


# ---------------------------------------------------------------------- the recording steps


def test_report_json_lists_the_recording_with_real_measurements(report, out_dir):
    """report.json's "recordings": the file the recording step downloaded (in the output
    directory), its duration and tracks as GET /recordings said, the worst A/V offset that
    terminals.av_sync measured on it (re-measured here on the same file: the same
    figure), the live stream's URL."""
    (entry,) = json.loads((out_dir / "report.json").read_text())["recordings"]
    assert {"path", "duration_s", "tracks", "av_offset_ms_max", "hls_url"} <= set(entry)
    path = Path(entry["path"])
    assert path.parent == out_dir / "recordings" and path.suffix == ".mp4"
    assert entry["tracks"][-1] == "aac" and "h264" in entry["tracks"]
    assert entry["duration_s"] >= 7.5
    assert entry["hls_url"].endswith(f"/live/{report.conf_id}/index.m3u8")
    again = av_sync.measure(str(path))
    assert len(again.events) == entry["events"]
    if entry["av_offset_ms_max"] is None:
        assert entry["reason"]
    else:
        assert entry["av_offset_ms_max"] == again.max_abs_offset_ms
    with av.open(str(path)) as container:  # PyAV reads it to the end, every stream
        codecs = sorted(stream.codec_context.name for stream in container.streams)
        packets = sum(1 for packet in container.demux() if packet.size)
    assert codecs == ["aac", "h264", "h264"] and packets > 300


# ---------------------------------------------------------------------- the device steps


def room_of(report: DemoReport) -> str:
    from app.demo.device_steps import ROOM_INDEX

    return report.sites[ROOM_INDEX]


def markers_in(png: Path, layout: str, sites: list[str]) -> list[str | None]:
    picture = cv2.imread(str(png))
    readings = [read_marker(picture, pane.as_floats()) for pane in layout_mode(layout).panes]
    return [None if r is None else sites[r.site_index] for r in readings]


def test_the_three_screen_room_shows_cp_speaker_and_a_second_cp(report, out_dir, join_order):
    """Its three screens (hdOut 0..2), read per screen: HD1 the CP picture, HD2 the speaker
    full screen (nothing shared), HD3 the second CP; the PNG of each screen shows the same."""
    room = room_of(report)
    step = report.step("three_screens")
    speaker = step.queried["speaking"]
    cp = [speaker, *[uri for uri in join_order if uri != speaker]]
    far = speaker if speaker != room else next(uri for uri in join_order if uri != room)
    screens = step.terminals[room].screens
    assert [(s["output"], s["name"]) for s in screens] == [(0, "HD1"), (1, "HD2"), (2, "HD3")]
    assert [s["panes"] for s in screens] == [cp, [far], cp]
    for screen, layout in zip(screens, ["CP_4_1", "CP_1_1", "CP_4_1"], strict=True):
        assert screen["snapshot"] == f"three_screens-{room}-{screen['name']}.png"
        assert markers_in(out_dir / screen["snapshot"], layout, report.sites) == \
            screen["panes"], screen
    assert step.queried["screens"] == {0: "HD1:cp:", 1: f"HD2:site:{far}", 2: "HD3:cp:"}
    for uri, seen in step.terminals.items():  # the others: one screen, the same CP
        if uri != room:
            assert [(s["output"], s["panes"]) for s in seen.screens] == [(0, cp)], uri


def camera_at(report: DemoReport, step: str) -> dict[str, dict]:
    return {uri: seen.camera for uri, seen in report.step(step).terminals.items()
            if seen.camera is not None}


def test_every_viewer_sees_the_pan_and_the_zoom_in_its_decoded_picture(report, out_dir):
    """report.json's "camera" of each viewer is read from the scene markers of its decoded
    picture (the PNG reads the same), after pan right and zoom in from the home view."""
    from app.demo.device_steps import MOVED, ZOOMED, letterbox_rect
    from app.demo.scenario import TerminalVideo
    from terminals.camera import read_camera_view

    room = room_of(report)
    cameras = camera_at(report, "camera_pan_zoom")
    assert set(cameras) == set(report.sites) - {room}  # the three viewers, not the room
    size, sent = FORMAT_SIZES[DemoOptions().video_format], TerminalVideo()
    rect = letterbox_rect(size.width, size.height, sent.width, sent.height)
    for uri, camera in cameras.items():
        assert camera["site"] == room
        assert camera["x"] > 0.5 + MOVED and abs(camera["y"] - 0.5) < MOVED, camera
        assert camera["zoom"] > ZOOMED, camera
        picture = cv2.imread(str(out_dir / f"camera_pan_zoom-{uri}.png"))
        x, y, zoom = read_camera_view(picture, rect)
        assert (x, y, zoom) == pytest.approx(
            (camera["x"], camera["y"], camera["zoom"]), abs=0.02), uri
    assert report.step("camera_pan_zoom").terminals[room].camera is None


def test_the_preset_brings_the_view_back_and_far_end_control_moves_it_left(report):
    from app.demo.device_steps import MOVED, VIEW_TOLERANCE

    stored = camera_at(report, "camera_pan_zoom")  # preset 1 is stored at that view
    back = camera_at(report, "camera_preset")
    far = camera_at(report, "far_end_camera")
    assert set(stored) == set(back) == set(far)
    for uri in stored:
        for key in ("x", "y", "zoom"):
            assert abs(back[uri][key] - stored[uri][key]) < VIEW_TOLERANCE, (uri, key)
        assert far[uri]["x"] < back[uri]["x"] - MOVED, uri
    assert report.expectation("camera_preset.away").held
    assert report.expectation("far_end_camera.relayed").held  # the room's terminal obeyed


def test_the_main_source_switch_is_seen_by_every_viewer(report, out_dir):
    """The viewers' PNGs of the main_source step carry the room's document camera tag and
    the room's site marker; no scene marker of its camera."""
    from app.demo.device_steps import DOC_CAMERA, letterbox_rect
    from app.demo.scenario import TerminalVideo
    from terminals.input_pictures import read_input_tags

    room = room_of(report)
    size, sent = FORMAT_SIZES[DemoOptions().video_format], TerminalVideo()
    rect = letterbox_rect(size.width, size.height, sent.width, sent.height)
    viewers = [uri for uri in report.sites if uri != room]
    for uri in viewers:
        seen = report.step("main_source").terminals[uri]
        assert seen.panes == [room] and seen.camera is None, uri
        picture = cv2.imread(str(out_dir / seen.snapshot))
        assert [(t.kind, t.input_id) for t in read_input_tags(picture, rect)] == [
            ("doc-camera", DOC_CAMERA)], uri
