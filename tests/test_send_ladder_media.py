"""The send ladder end to end: real simulated terminals, the real server, SOAP from the
reference WSDL (app/demo/soap_client.py's zeep clients).

- a 4-site CP_4_1 conference at 1080p: the three sites that honour `send_video` are asked
  for 960x540 at 30 fps and the MCU then decodes 960x540 pictures from them; the fourth
  ignores the requests, keeps sending 1920x1080 and the MCU scales it; the markers of all
  four read in the composed picture;
- setContinuousPresenceEx to full screen of one site: that site is asked for 1920x1080 at
  once and the MCU decodes 1920x1080 from it; the others, shown nowhere, drop to the
  ladder's bottom rung only after the downgrade hold; the full-screen picture reads the site;
- with `[mcu] send_ladder = false` nobody is asked anything and every site sends its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from app.demo.soap_client import check
from app.process import running_server
from gateway.settings import load_settings
from gateway.signalling import SIGNALLING
from mcu.clock import ManualClock
from mcu.layouts import layout_mode
from mcu.media.send_ladder import DOWNGRADE_HOLD_S
from mcu.model import ConferenceSpec, DialingMode, SiteCallState, SiteSpec, VideoFormat
from rtc.deadline import within
from rtc.signalling import SendVideo
from terminals.client import SimulatedTerminal
from terminals.media_sources import VideoFormat as SentVideo
from terminals.run_command import terminal_uri
from tests.test_media_acceptance import (
    eventually,
    eventually_async,
    panes_of,
    signalling_url,
    site_indices,
    soap_client,
    states,
)

FULL_HD = SentVideo(1920, 1080, 30, 3_000_000)
CP_4_1 = layout_mode("CP_4_1").value
CP_1_1 = layout_mode("CP_1_1").value
CP_16_1 = layout_mode("CP_16_1").value
WAIT_S = 60.0


@asynccontextmanager
async def _server(tmp_path: Path, **settings) -> AsyncIterator:
    clock = ManualClock()
    config = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=8.0, **settings)
    async with running_server(config, clock=clock) as running:
        running.clock = clock
        yield running


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    async with _server(tmp_path, send_ladder=True) as running:
        yield running


def hd_terminal(index: int, **options) -> SimulatedTerminal:
    uri = terminal_uri("0178", index)
    defaults = dict(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                    video_format=FULL_HD, loop_frames=32, analyse_every=1 << 30,
                    decode_video=False)
    defaults.update(options)
    return SimulatedTerminal(**defaults)


def book_1080p(server, uris: list[str], cp_resource: int = 4) -> str:
    sites = [SiteSpec(uri, name=f"Site {uri}", video_format=VideoFormat.HD1080P30,
                      dialing_mode=DialingMode.MCU_CALLS_SITE) for uri in uris]
    spec = ConferenceSpec("ladder", server.clock.now(), timedelta(hours=1), sites,
                          cp_resource=cp_resource)
    conference = server.gateway.scheduler.schedule(spec)
    server.gateway.runtime.reconcile()
    return conference.conf_id


def decoded_size(server, conf_id: str, uri: str) -> tuple[int, int] | None:
    """The size of the newest picture the MCU decoded from `uri` (its input slot)."""
    media = server.app[SIGNALLING].engine.conferences[conf_id].sites.get(uri)
    frame = media.video_in.frame if media is not None else None
    return (frame.width, frame.height) if frame is not None else None


def last_ask(t: SimulatedTerminal) -> tuple[int, int, int] | None:
    received = [m for m in t.send_requests.received if isinstance(m, SendVideo)]
    return (received[-1].width, received[-1].height, received[-1].fps) if received else None


async def test_cp_4_1_asks_540p_and_full_screen_asks_1080p(server):
    sites = [hd_terminal(i, decode_video=(i == 0), analyse_every=1 if i == 0 else 1 << 30,
                         honour_send_requests=(i != 3)) for i in range(4)]
    viewer, deaf = sites[0], sites[3]
    uris = [t.uri for t in sites]
    for t in sites:
        await t.start(signalling_url(server))
    try:
        conf_id = book_1080p(server, uris)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, WAIT_S, "all four in conference")
        soap = await soap_client(server)
        check(await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                      target="0", presenceMode=CP_4_1, subPics=uris),
              "setContinuousPresenceEx")
        # every site is asked for its 960x540 pane at 30 fps, the deaf one too
        await eventually(lambda: all(last_ask(t) == (960, 540, 30) for t in sites), WAIT_S,
                         "every site asked for 960x540@30")
        # the MCU decodes what it asked from those that honour it, 1080p from the deaf one
        await eventually(lambda: all(decoded_size(server, conf_id, t.uri) == (960, 540)
                                     for t in sites[:3]), WAIT_S, "540p decoded from 3 sites")
        assert decoded_size(server, conf_id, deaf.uri) == (1920, 1080)
        assert deaf.send_requests.switches == []
        # each says what it sends: the asked 960x540@30, the deaf one its own 1080p
        for t in (*sites[:3], deaf):
            await eventually(lambda t=t: t.sending_video_format == t.send_requests.format(),
                             WAIT_S, f"{t.uri} sending what it follows")
        sent, sent_by_deaf = sites[1].sending_video_format, deaf.sending_video_format
        assert sent is not None and (sent.width, sent.height) == (960, 540)
        assert sent_by_deaf is not None and (sent_by_deaf.width, sent_by_deaf.height) \
            == (1920, 1080)
        # its last switch is to the pane's size (before the layout was set it may have been
        # shown nowhere long enough, the 4 s hold, to be switched to 320x180 first)
        switched = [(f.width, f.height) for f in sites[1].send_requests.switches]
        assert switched[-1:] == [(960, 540)] and set(switched) <= {(320, 180), (960, 540)}
        # the composed picture still shows every site's marker, scaled or not
        viewer.set_panes(panes_of("CP_4_1"))
        await eventually_async(lambda: _reads(viewer, [0, 1, 2, 3]), WAIT_S,
                               "the four markers in the CP_4_1 picture")

        # full screen of site 1: asked for 1080p at once, decoded at 1080p
        asked_at = time.monotonic()
        check(await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                      target="0", presenceMode=CP_1_1, subPics=[uris[1]]),
              "setContinuousPresenceEx")
        await eventually(lambda: last_ask(sites[1]) == (1920, 1080, 30), WAIT_S,
                         "site 1 asked for 1920x1080@30")
        upgrade_s = time.monotonic() - asked_at
        await eventually(lambda: decoded_size(server, conf_id, uris[1]) == (1920, 1080), WAIT_S,
                         "1080p decoded from site 1")
        viewer.set_panes(None)
        await eventually_async(lambda: _reads(viewer, [1]), WAIT_S, "site 1 full screen")
        # the others are shown nowhere now: the bottom rung, but only after the hold
        await eventually(lambda: last_ask(sites[2]) == (320, 180, 15), WAIT_S,
                         "site 2 asked for the bottom rung")
        assert time.monotonic() - asked_at >= DOWNGRADE_HOLD_S
        assert upgrade_s < DOWNGRADE_HOLD_S  # the upgrade did not wait for the hold
        await eventually(lambda: decoded_size(server, conf_id, uris[2]) == (320, 180), WAIT_S,
                         "180p decoded from site 2")
    finally:
        for t in sites:
            await t.stop()


async def media_inputs(server, conf_id: str) -> dict[str, dict]:
    """GET /stats/media's `inputs` of the conference: per site its ask and decoded size."""
    import aiohttp

    async with aiohttp.ClientSession() as http, \
            http.get(server.url("/stats/media")) as answer:
        assert answer.status == 200
        conferences = (await answer.json())["conferences"]
    return next(c["inputs"] for c in conferences if c["conf_id"] == conf_id)


async def test_cp_16_1_sites_send_their_480x270_panes_and_stats_say_so(server):
    """In a 1080p CP_16_1 picture every pane is 480x270: each site (sending 640x360@30 of
    its own) is asked for 480x270@15, the MCU decodes 480x270 from each, GET /stats/media
    reports both per site, and the composed picture still reads every site's marker."""
    own = SentVideo(640, 360, 30, 800_000)
    sites = [hd_terminal(i + 20, video_format=own, loop_frames=32,
                         decode_video=(i == 0), analyse_every=1 if i == 0 else 1 << 30)
             for i in range(4)]
    viewer = sites[0]
    uris = [t.uri for t in sites]
    for t in sites:
        await t.start(signalling_url(server))
    try:
        conf_id = book_1080p(server, uris, cp_resource=16)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, WAIT_S, "all four in conference")
        soap = await soap_client(server)
        check(await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                      target="0", presenceMode=CP_16_1, subPics=uris),
              "setContinuousPresenceEx")
        await eventually(lambda: all(last_ask(t) == (480, 270, 15) for t in sites), WAIT_S,
                         "every site asked for 480x270@15")
        await eventually(lambda: all(decoded_size(server, conf_id, t.uri) == (480, 270)
                                     for t in sites), WAIT_S, "480x270 decoded from each")
        inputs = await media_inputs(server, conf_id)
        assert {uri: (inputs[uri]["asked"], inputs[uri]["decoded"]) for uri in uris} == {
            uri: ("480x270@15", "480x270") for uri in uris}
        assert all([(f.width, f.height) for f in t.send_requests.switches][-1:] == [(480, 270)]
                   for t in sites)
        viewer.set_panes(panes_of("CP_16_1"))
        await eventually_async(lambda: _reads_first(viewer, [20, 21, 22, 23]), WAIT_S,
                               "the four markers in their CP_16_1 panes")
    finally:
        for t in sites:
            await t.stop()


async def _reads_first(viewer: SimulatedTerminal, expected: list[int]) -> bool:
    return (await site_indices(viewer))[:len(expected)] == expected


async def _reads(viewer: SimulatedTerminal, expected: list[int]) -> bool:
    return await site_indices(viewer) == expected


async def test_with_the_ladder_off_nobody_is_asked(tmp_path):
    async with _server(tmp_path, send_ladder=False) as server:
        small = SentVideo(640, 360, 15, 500_000)
        sites = [hd_terminal(i + 10, video_format=small, loop_frames=16) for i in range(2)]
        for t in sites:
            await t.start(signalling_url(server))
        try:
            conf_id = book_1080p(server, [t.uri for t in sites])
            await eventually(lambda: set(states(server, conf_id).values())
                             == {SiteCallState.IN_CONFERENCE}, WAIT_S, "both in conference")
            await eventually(lambda: all(decoded_size(server, conf_id, t.uri) == (640, 360)
                                         for t in sites), WAIT_S, "their own size decoded")
            await asyncio.sleep(1.0)  # several settle periods
            assert all(t.send_requests.received == [] for t in sites)
        finally:
            for t in sites:
                await t.stop()


async def test_a_terminal_sending_send_video_is_answered_and_stays(server):
    """send_video is the MCU's: from a registered terminal it is `unexpected`, an odd size
    `malformed`; either way nothing else happens and the socket stays usable."""
    import aiohttp

    from rtc.signalling import Register
    from tests.signalling_helpers import send_register

    uri = terminal_uri("0178", 30)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(signalling_url(server).replace("ws", "http", 1))
        await send_register(ws, Register(uri, "x"))
        assert (await _next(ws))["type"] == "registered"
        await ws.send_str(SendVideo("c1", 960, 540, 30).to_json())
        assert (await _next(ws))["code"] == "unexpected"
        await ws.send_str('{"type": "send_video", "call_id": "c1", "width": 961, '
                          '"height": 540, "fps": 30}')
        assert (await _next(ws))["code"] == "malformed"
        await ws.send_str('{"type": "ping", "seq": 3}')
        assert await _next(ws) == {"type": "pong", "seq": 3}
        await ws.close()


async def _next(ws) -> dict:
    import json

    while True:
        frame = await within(ws.receive(), 5)
        message = json.loads(frame.data)
        if message["type"] != "ping":
            return message
