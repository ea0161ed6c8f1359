"""A multi-screen site receives one stream per screen in its one peer connection, each
showing what the product's rule (docs/runtime.md, "Multi-screen sites") or setVideoOutSrcEx
says, encoded once per distinct (picture, format); queryVideoOutSrcStateEx answers what
each screen gets from the media. Real server, zeep from the reference WSDL, real
SimulatedTerminals whose decoded screens are read by their markers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from gateway import result_codes
from mcu.errors import Fault
from mcu.layouts import layout_mode
from rtc.screen_sdp import screen_label
from terminals.client import SimulatedTerminal
from tests.test_cdr import SMALL, eventually, site_states, ws_url
from tests.test_terminal_device import ROOM_DEVICE

ROOM, A, B, C = "0179001", "0179002", "0179003", "0179004"
INDEX = {ROOM: 60, A: 61, B: 62, C: 63}
IN_CONFERENCE = 2
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
QUAD = "CP_4_1"
WAIT_S = 25.0
SCREEN_BASE = 256  # queryVideoOutSrcStateEx: a screen's entry is 256 + hdOut


def terminal(uri: str, **options) -> SimulatedTerminal:
    defaults = dict(uri=uri, name=f"Site {uri}", site_index=INDEX[uri], ring_delay_s=0.1,
                    video_format=SMALL, loop_frames=30, analyse_every=1 << 30,
                    decode_audio=False, speech_schedule=((1.0, 0.0),))
    defaults.update(options)
    return SimulatedTerminal(**defaults)


def book(soap, begin, uris: list[str]) -> str:
    info = {
        "name": "Specialist room", "beginTime": begin, "duration": "PT1H",
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0, "rate": "1920k",
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": 8} for uri in uris],  # CIF: a modest CPU
    }
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=info)
    assert answer.resultCode == 0
    return answer.conferenceInfo.confId


@pytest.fixture
async def room_call(gateway_server, soap, clock) -> AsyncIterator[dict[str, SimulatedTerminal]]:
    """A three-screen room and three single-screen sites in a running conference, site A
    the only one speaking and the owner of a content source; the conference picture a
    2x2 CP of A, B, C and the room."""
    terminals = {
        ROOM: terminal(ROOM, device=ROOM_DEVICE, analyse_every=1 << 30),
        A: terminal(A, speech_schedule=((1.0, 0.8),), content="record",
                    content_size=(640, 360), decode_video=False),
        B: terminal(B, decode_video=False),
        C: terminal(C, decode_video=False),
    }
    for t in terminals.values():
        await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, clock.now(), list(terminals))
        await eventually(lambda: set(site_states(soap, conf_id).values()) == {IN_CONFERENCE},
                         "all in conference", timeout=WAIT_S)
        answer = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode(QUAD).value, subPics=[A, B, C, ROOM])
        assert answer == 0

        # voice activation holds a new speaker for its hold time on the injected clock
        async def a_speaks() -> bool:
            clock.advance(timedelta(milliseconds=500))
            return gateway_server.gateway.runtime.conferences.get(conf_id).speaking == A

        await until(a_speaks, "A is the speaker")
        yield terminals
    finally:
        for t in terminals.values():
            await t.stop()


async def until(predicate, what: str, timeout: float = WAIT_S) -> None:
    """An async predicate comes true within `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.3)


async def screen_sites(room: SimulatedTerminal, position: int) -> list[int | None]:
    return [pane.site_index for pane in await room.read_screen(position)]


def screens_answer(soap) -> dict[int, tuple[int, str]]:
    """queryVideoOutSrcStateEx's screen entries: hdOut -> (videoSrc shown, name)."""
    answer = soap.site_mgr.queryVideoOutSrcStateEx(siteUri=ROOM)
    return {info.sourcesId - SCREEN_BASE: (info.sourcesState, info.sourcesName)
            for info in answer.videoSourcesInfos if info.sourcesId >= SCREEN_BASE}


async def encoders(gateway_server) -> tuple[int, set[tuple[str, str]]]:
    """GET /stats/media: the conference's encoder count and its distinct outputs."""
    async with aiohttp.ClientSession() as http, \
            http.get(f"{gateway_server.base_url}/stats/media") as response:
        stats = (await response.json())["conferences"][0]
    return stats["encoders"], {(g["picture"], g["format"]) for g in stats["groups"]}


async def test_a_three_screen_room_gets_cp_speaker_then_content_and_the_default(
        room_call, soap, gateway_server, tmp_path: Path):
    room = room_call[ROOM]
    # one peer connection: the main video, the content, then screen2 and screen3
    assert room.sdp_received is not None
    labels = re.findall(r"a=label:(\w+)", room.sdp_received)
    assert labels == ["content", screen_label(2), screen_label(3)]
    quad = [tuple(p.as_floats()) for p in layout_mode(QUAD).panes]
    room.set_screen_panes(0, quad)
    room.set_screen_panes(2, quad)
    cp = [INDEX[A], INDEX[B], INDEX[C], INDEX[ROOM]]
    await until(lambda: _equals(screen_sites(room, 0), cp), "screen 1 shows the CP")
    await until(lambda: _equals(screen_sites(room, 1), [INDEX[A]]),
                "screen 2 shows the speaker A full screen")
    await until(lambda: _equals(screen_sites(room, 2), cp), "screen 3 shows the second CP")
    assert await asyncio.to_thread(screens_answer, soap) == {
        0: (2, "HD1:cp:"), 1: (2, f"HD2:site:{A}"), 2: (2, "HD3:cp:")}
    # every site's picture and every screen: two distinct outputs, two encoders
    count, outputs = await encoders(gateway_server)
    assert {picture for picture, _ in outputs} == {"cp:", f"site:{A}"}
    assert count == len(outputs) == 2
    # A shares its content: screen 2 shows it (content marker of A), the others stay
    assert await asyncio.to_thread(soap.site_mgr.setAuxStreamEx, siteUri=A, controlCode=0) == 0

    async def content_on_screen_2() -> bool:
        reading = await room.read_screen_content(1)
        return reading is not None and reading.site_index == INDEX[A]

    await until(content_on_screen_2, "screen 2 shows A's content")
    assert (await asyncio.to_thread(screens_answer, soap))[1] == (3, f"HD2:content:{A}")
    assert await screen_sites(room, 0) == cp
    # a PNG per screen
    written = room.snapshot_screens(tmp_path, "room")
    assert written == ["room-HD1.png", "room-HD2.png", "room-HD3.png"]
    assert all((tmp_path / name).stat().st_size > 0 for name in written)
    stats = room.screen_stats()
    assert [(s.hd_out, s.name) for s in stats] == [(0, "HD1"), (1, "HD2"), (2, "HD3")]
    assert all(s.video.frames_decoded > 0 for s in stats)


async def test_set_video_out_src_changes_one_screen_and_bad_input_changes_nothing(
        room_call, soap):
    room = room_call[ROOM]
    # screen 3 (hdOut 2) to local main: the room's own camera full screen
    answer = await asyncio.to_thread(soap.site_mgr.setVideoOutSrcEx, siteUri=ROOM, hdOut=2,
                                     videoSrc=0)
    assert answer == 0
    await until(lambda: _equals(screen_sites(room, 2), [INDEX[ROOM]]),
                "screen 3 shows the room itself")
    assert (await asyncio.to_thread(screens_answer, soap))[2] == (0, f"HD3:site:{ROOM}")
    # screen 2 to remote main: the site it watches (the speaker A) full screen
    answer = await asyncio.to_thread(soap.site_mgr.setVideoOutSrcEx, siteUri=ROOM, hdOut=1,
                                     videoSrc=2)
    assert answer == 0
    await until(lambda: _equals(screen_sites(room, 1), [INDEX[A]]), "screen 2 shows A")
    before = await asyncio.to_thread(screens_answer, soap)
    # a screen the room does not have, a videoSrc that does not exist: refused, no change
    for hd_out, video_src in ((4, 0), (2, 7), (1, -1)):
        answer = await asyncio.to_thread(soap.site_mgr.setVideoOutSrcEx, siteUri=ROOM,
                                         hdOut=hd_out, videoSrc=video_src)
        assert answer == OUT_OF_RANGE
    await asyncio.sleep(0.5)
    assert await asyncio.to_thread(screens_answer, soap) == before
    assert await screen_sites(room, 2) == [INDEX[ROOM]]
    # the single-screen sites have no screen entries: their answer is the inputs alone
    plain = await asyncio.to_thread(soap.site_mgr.queryVideoOutSrcStateEx, siteUri=B)
    assert all(info.sourcesId < SCREEN_BASE for info in plain.videoSourcesInfos)


async def _equals(reading, expected) -> bool:
    return await reading == expected
