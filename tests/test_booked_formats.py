"""The booked videoFormat is what a site receives, at its own frame rate (through zeep from
the reference WSDL, with real simulated terminals):
- the formats of the standard's section 5 that neither numbering has (720P25/50, 1080P25/50,
  1080i50) are booked by their extension numbers 15..19 and answered back as booked, in
  both numberings; a number past them is refused with the out-of-range code;
- a site booked 720P25 receives 1280x720 at 25 fps and a site booked 720P60 1280x720 at
  60 fps in the same conference, while a site booked 4CIF (30 fps) beside them keeps 30:
  rates measured from the RTP timestamps of the frames received and from the count of
  frames decoded over a wall-clock window, each within 10 %, and the decoded pictures
  carry both sites' markers;
- the compositor's schedule (ConferenceMedia.next_video_tick): groups at 25, 30 and 60 fps
  are each encoded at their own rate at even steps, not on a common tick.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from gateway import result_codes
from gateway.enum_numbering import ESDK, WST546, EnumNumbering
from gateway.settings import load_settings
from gateway.signalling import SIGNALLING
from mcu.errors import Fault
from mcu.layouts import layout_mode
from mcu.media.conference_media import ConferenceMedia
from mcu.media.encoder_group import EncoderGroup, GroupKey
from mcu.media.output_format import FORMAT_SIZES, H264, OutputFormat
from mcu.media.pictures import PictureKey, PictureKind
from mcu.model import VideoFormat
from terminals.client import SimulatedTerminal
from terminals.frame_counter import FrameRate
from tests.conftest import SoapClients
from tests.test_cdr import IN_CONFERENCE, SMALL, eventually, ws_url

OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
WINDOW_S = 4.0
WINDOWS = 4  # measurement windows tried, on a 2-core machine shared with other work
TOLERANCE = 0.10


def schedule(soap: SoapClients, begin: datetime, formats: dict[str, int]):
    return soap.conf_mgr.scheduleConfEx(scheduleConf={
        "name": "formats", "beginTime": begin, "duration": timedelta(hours=1),
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0,
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": video_format, "videoProtocol": 3}
                  for uri, video_format in formats.items()],
    })


def book(soap: SoapClients, begin: datetime, formats: dict[str, int]) -> str:
    answer = schedule(soap, begin, formats)
    assert answer.resultCode == 0, answer.resultCode
    return answer.conferenceInfo.confId


def test_extension_formats_are_booked_and_answered_back(gateway_server, soap, clock) -> None:
    formats = {"0187015": 15, "0187016": 16, "0187017": 17, "0187018": 18, "0187019": 19}
    answer = schedule(soap, clock.now() + timedelta(days=1), formats)
    assert answer.resultCode == 0
    assert {site.uri: site.videoFormat for site in answer.conferenceInfo.sites} == formats
    conf_id = answer.conferenceInfo.confId
    stored = gateway_server.gateway.scheduler.get(conf_id)
    assert {site.uri: site.video_format for site in stored.spec.sites} == {
        "0187015": VideoFormat.HD720P25, "0187016": VideoFormat.HD720P50,
        "0187017": VideoFormat.HD1080P25, "0187018": VideoFormat.HD1080P50,
        "0187019": VideoFormat.I108_50}
    refused = soap.conf_mgr.scheduleConfEx(scheduleConf={
        "name": "past the table", "beginTime": clock.now() + timedelta(days=2),
        "duration": timedelta(hours=1), "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0,
        "sites": [{"name": "x", "uri": "0187020", "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": 20}]})
    assert refused.resultCode == OUT_OF_RANGE


@pytest.mark.parametrize("numbering", [ESDK, WST546])
def test_extension_numbers_are_the_same_in_both_numberings(numbering: str) -> None:
    wire = EnumNumbering(numbering)
    for number in range(15, 20):
        value = wire.video_format_to_domain(number)
        assert value is not None and int(value) == number
        assert wire.video_format_to_wire(value) == number
    assert wire.video_format_to_wire(VideoFormat.HD720P30) == (2 if numbering == ESDK else 1)


@pytest.mark.parametrize(("video_format", "size"), [
    (VideoFormat.HD720P25, (1280, 720, 25)), (VideoFormat.HD720P50, (1280, 720, 50)),
    (VideoFormat.HD1080P25, (1920, 1080, 25)), (VideoFormat.HD1080P50, (1920, 1080, 50)),
    (VideoFormat.I108, (1920, 1080, 30)), (VideoFormat.I108_50, (1920, 1080, 25)),
    (VideoFormat.HD720P60, (1280, 720, 60)), (VideoFormat.HD1080P60, (1920, 1080, 60)),
])
def test_every_format_of_the_standard_has_its_picture(video_format: VideoFormat,
                                                      size: tuple[int, int, int]) -> None:
    """Section 5's list, 1080i as its progressive equivalent (the rate of its field pairs)."""
    picture = FORMAT_SIZES[video_format]
    assert (picture.width, picture.height, picture.fps) == size


class _Media:
    """A ConferenceMedia's schedule alone: its groups and next_video_tick."""

    next_video_tick = ConferenceMedia.next_video_tick

    def __init__(self, groups: list[EncoderGroup]) -> None:
        self.groups = {group.key: group for group in groups}


def test_each_group_is_encoded_at_its_own_rate_at_even_steps() -> None:
    picture = PictureKey(PictureKind.CP, "")
    groups = [EncoderGroup(GroupKey(picture, OutputFormat(H264, 1280, 720, fps, 1_000_000)))
              for fps in (25, 30, 60)]
    media = _Media(groups)
    due_at: dict[int, list[float]] = {group.format.fps: [] for group in groups}
    now, ticks = 100.0, 0
    while now < 102.0 - 1e-6:  # two seconds of ticks, each at the time the schedule says
        ticks += 1
        for group in groups:
            if group.is_due(now):
                due_at[group.format.fps].append(now)
        now = media.next_video_tick(now)
    for fps, times in due_at.items():
        assert len(times) == 2 * fps, (fps, len(times))
        steps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert max(steps) - min(steps) < 1e-6, (fps, min(steps), max(steps))
        assert steps[0] == pytest.approx(1 / fps)
    # the union of the three schedules, shared instants counted once (0, 0.2 s, ...)
    assert ticks < 25 * 2 + 30 * 2 + 60 * 2


def decoding_terminal(uri: str, index: int) -> SimulatedTerminal:
    return SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                             video_format=SMALL, loop_frames=30, analyse_every=1 << 30)


def counting_terminal(uri: str, index: int) -> SimulatedTerminal:
    return SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                             video_format=SMALL, loop_frames=30, analyse_every=1 << 30,
                             decode_video=False)


def within(measured: float, expected: float) -> bool:
    return abs(measured - expected) <= TOLERANCE * expected


async def test_sites_receive_their_booked_frame_rates_side_by_side(gateway_server, soap,
                                                                  clock) -> None:
    a = decoding_terminal("0187101", 41)    # 720P25
    b = decoding_terminal("0187102", 42)    # 720P60
    c = counting_terminal("0187103", 43)    # 4CIF, 30 fps
    everyone = (a, b, c)
    for t in everyone:
        await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, clock.now(), {
            a.uri: int(VideoFormat.HD720P25), b.uri: int(VideoFormat.HD720P60),
            c.uri: int(VideoFormat.CIF4)})
        runtime = gateway_server.gateway.runtime
        await eventually(lambda: all(s.state.value == IN_CONFERENCE
                                     for s in runtime.status.site_statuses(conf_id)),
                         "all in conference")
        answer = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode("CP_2_1").value, subPics=[a.uri, b.uri])
        assert answer == 0
        panes = [tuple(pane.as_floats()) for pane in layout_mode("CP_2_1").panes]
        for viewer in (a, b):
            viewer.set_panes(panes)

        async def sees_both(viewer: SimulatedTerminal) -> bool:
            indices = [pane.site_index for pane in await viewer.read_panes()]
            return indices == [a.site_index, b.site_index]

        for viewer in (a, b):
            deadline = time.monotonic() + 40
            while not await sees_both(viewer):
                assert time.monotonic() < deadline, f"{viewer.uri} never saw both markers"
                await asyncio.sleep(0.3)

        await asyncio.sleep(2.0)  # past the start: keyframes, the decoders' warm-up
        expected = ((a, 25), (b, 60), (c, 30))
        windows = []
        for _ in range(WINDOWS):  # the first window within 10 % passes; a starved one retries
            report = await measure_window(everyone, (a, b))
            windows.append(report)
            if all(window_holds(report, t.uri, fps) for t, fps in expected):
                break
        print("received (RTP timestamps, arrival, decoded per s):", windows)
        for t, fps in expected:
            rate = report[t.uri][0]
            assert rate is not None, windows
            # the sender's frame grid, whatever the machine's load: 3600, 1500, 3000 ticks
            assert within(90_000 / rate.median_step, fps), windows
            assert window_holds(report, t.uri, fps), windows
        for t in (a, b):
            stats = t.video.stats()
            assert (stats.width, stats.height) == (1280, 720)
            assert await sees_both(t)  # still both markers, at the end of the window
        groups = {g.format: g for g in runtime_groups(gateway_server, conf_id)}
        assert {(f.width, f.height, f.fps) for f in groups} == {
            (1280, 720, 25), (1280, 720, 60), (704, 576, 30)}
    finally:
        for t in everyone:
            await t.stop()


Report = dict[str, tuple[FrameRate | None, float | None]]


async def measure_window(terminals: tuple[SimulatedTerminal, ...],
                         decoding: tuple[SimulatedTerminal, ...]) -> Report:
    """Over WINDOW_S: each terminal's received rate (frame_counter.FrameRate) and, for the
    decoding ones, the frames decoded per second."""
    before = {t.uri: t.video.frames_decoded for t in decoding}
    started = time.monotonic()
    await asyncio.sleep(WINDOW_S)
    elapsed = time.monotonic() - started
    decoded = {t.uri: (t.video.frames_decoded - before[t.uri]) / elapsed for t in decoding}
    return {t.uri: (t.video.frame_rate(WINDOW_S), decoded.get(t.uri)) for t in terminals}


def window_holds(report: Report, uri: str, fps: int) -> bool:
    rate, decoded = report[uri]
    return (rate is not None and within(rate.by_timestamps, fps)
            and within(rate.by_arrival, fps) and (decoded is None or within(decoded, fps)))


def runtime_groups(gateway_server, conf_id: str) -> list[EncoderGroup]:
    engine = gateway_server.app[SIGNALLING].engine
    return list(engine.conferences[conf_id].groups.values())


def test_a_25_50_fps_format_costs_its_twin_unless_named(tmp_path) -> None:
    config = tmp_path / "mcu.toml"
    config.write_text('[mcu.port_cost]\n"1080P60" = 12\n"720p25" = 3\n')
    costs = load_settings(config).port_costs
    assert costs.of(VideoFormat.HD1080P50) == costs.of(VideoFormat.HD1080P60) == 12
    assert costs.of(VideoFormat.HD720P25) == 3  # named: its own
    assert costs.of(VideoFormat.HD720P50) == costs.of(VideoFormat.HD720P60) == 8
    assert costs.of(VideoFormat.I108_50) == costs.of(VideoFormat.I108) == 8
    assert costs.of(VideoFormat.HD1080P25) == costs.of(VideoFormat.HD1080P30) == 8
    assert costs.top == 12


def test_groups_of_one_rate_share_their_ticks_whenever_they_started() -> None:
    """A group that starts between two ticks of another group of its rate (at a tick of a
    25 fps one) sends its first frame then and joins the other's grid: one tick each
    1/30 s for both, not two."""
    picture = PictureKey(PictureKind.CP, "")
    first, later = (EncoderGroup(GroupKey(picture, OutputFormat(H264, 704, 576, 30, 500_000)))
                    for _ in range(2))
    assert first.is_due(100.0)
    assert later.is_due(100.04)  # started at a 25 fps tick, off the 30 fps grid
    assert later.next_due == pytest.approx(first.next_due + 1 / 30)
    assert later.next_due == pytest.approx(100.0 + 2 / 30)
    assert _Media([first, later]).next_video_tick(100.04) == pytest.approx(100.0 + 2 / 30)
