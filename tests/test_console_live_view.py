"""The console's live view signalling and health over plain HTTP against a real running
server with simulated terminals; the viewer's WebRTC side is aiortc here (the browser's is
tests/test_console_live_view_browser.py):

- a visitor gets 401, a request without the right CSRF token 403, and no viewer is made;
- every bad field is answered with a result code and makes no viewer: missing, malformed,
  unknown conference, a site the conference does not have, a bad SDP answer (the viewer
  is then closed), another session's viewer, too many viewers;
- an operator may not watch another operator's conference (NO_PERMISSION);
- an aiortc viewer of the conference picture decodes the sites' markers, is a receiver of
  the sites' group (no group of its own) and never a site of queryConfSitesStatusEx;
- ending the conference closes the viewer (its peer connection too); closing it by hand
  takes it out of its group;
- the health answer lists the conference's groups with their frame rates and the CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from gateway import result_codes
from mcu.errors import Fault
from mcu.media.live_viewer_sessions import MAX_PER_OWNER
from rtc.deadline import within
from terminals.marker import read_marker
from tests.test_console import (
    OPERATOR,
    OPERATOR_PASSWORD,
    act,
    browser_session,
    csrf_of,
    eventually,
    log_in,
    scheduled_now,
    server,  # noqa: F401 - the fixture
    sims,  # noqa: F401 - the fixture
    soap,  # noqa: F401 - the fixture
    soap_call,
)


async def live(http, running, csrf: str | None, name: str, **fields) -> tuple[int, dict]:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    async with http.post(running.url(f"/console/live/{name}"), data=fields,
                         headers=headers) as response:
        return response.status, await response.json()


async def media_groups(running) -> list[dict]:
    async with aiohttp.ClientSession() as http, http.get(running.url("/stats/media")) as answer:
        stats = await answer.json()
    return [group for conference in stats["conferences"] for group in conference["groups"]]


async def viewers_in_groups(running) -> list[str]:
    return [s for g in await media_groups(running) for s in g["sites"] if s.startswith("viewer:")]


def code(fault: Fault) -> int:
    return result_codes.result_code(fault)


@pytest.fixture
async def admin(server) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:  # noqa: F811
    async with browser_session() as http:
        await log_in(http, server)
        yield http, await csrf_of(http, server)


async def test_the_doors_refuse_what_they_should(server, soap, sims, admin):  # noqa: F811
    http, csrf = admin
    a, _ = (sim.uri for sim in sims)
    conf_id = await scheduled_now(http, server, csrf, soap, [a])
    async with aiohttp.ClientSession() as visitor:
        assert (await live(visitor, server, None, "open", confId=conf_id,
                           view="conference"))[0] == 401
        async with visitor.get(server.url(f"/console/health?conf={conf_id}")) as answer:
            assert answer.status == 401
    assert (await live(http, server, None, "open", confId=conf_id, view="conference"))[0] == 403
    assert (await live(http, server, "0" * 64, "open", confId=conf_id,
                       view="conference"))[0] == 403
    refusals = [
        ("open", {"view": "conference"}, Fault.MISSING_PARAMETER),
        ("open", {"confId": conf_id}, Fault.MISSING_PARAMETER),
        ("open", {"confId": "999999", "view": "conference"}, Fault.CONFERENCE_NOT_FOUND),
        ("open", {"confId": conf_id, "view": "no-such-site"}, Fault.SITE_NOT_IN_CONFERENCE),
        ("open", {"confId": conf_id, "view": "x" * 600}, Fault.OUT_OF_RANGE),
        ("answer", {"viewer": "../etc", "sdp": "v=0"}, Fault.OUT_OF_RANGE),
        ("answer", {"viewer": "0" * 32}, Fault.MISSING_PARAMETER),
        ("answer", {"viewer": "0" * 32, "sdp": "v=0\r\n"}, Fault.SITE_NOT_FOUND),
        ("close", {"viewer": "0" * 32}, Fault.SITE_NOT_FOUND),
        ("nonsense", {}, Fault.OUT_OF_RANGE),
    ]
    for name, fields, fault in refusals:
        status, answer = await live(http, server, csrf, name, **fields)
        assert status == 400 and answer["resultCode"] == code(fault), (name, fields, answer)
    assert await viewers_in_groups(server) == []

    # a bad SDP answer: refused, and the viewer it named is gone
    status, opened = await live(http, server, csrf, "open", confId=conf_id, view="conference")
    assert status == 200 and opened["sdp"].startswith("v=0"), opened
    status, answer = await live(http, server, csrf, "answer", viewer=opened["viewer"],
                                sdp="not an sdp")
    assert status == 400 and answer["resultCode"] == code(Fault.OUT_OF_RANGE)
    status, answer = await live(http, server, csrf, "answer", viewer=opened["viewer"],
                                sdp="v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
    assert status == 400 and answer["resultCode"] == code(Fault.OUT_OF_RANGE)
    status, answer = await live(http, server, csrf, "close", viewer=opened["viewer"])
    assert status == 400 and answer["resultCode"] == code(Fault.SITE_NOT_FOUND)  # closed
    for garbage in ("v=0\r\nm=audio x\r\n", "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"):
        status, opened = await live(http, server, csrf, "open", confId=conf_id, view=a)
        assert status == 200, opened
        status, answer = await live(http, server, csrf, "answer", viewer=opened["viewer"],
                                    sdp=garbage)
        assert status == 400 and answer["resultCode"] == code(Fault.OUT_OF_RANGE), answer

    # at most MAX_PER_OWNER viewers per session; another session cannot touch them
    viewer_ids = []
    for _ in range(MAX_PER_OWNER):
        status, opened = await live(http, server, csrf, "open", confId=conf_id, view=a)
        assert status == 200, opened
        viewer_ids.append(opened["viewer"])
    status, answer = await live(http, server, csrf, "open", confId=conf_id, view="conference")
    assert status == 400 and answer["resultCode"] == code(Fault.CAPACITY_EXCEEDED)
    async with browser_session() as other:
        await log_in(other, server)
        status, answer = await live(other, server, await csrf_of(other, server), "close",
                                    viewer=viewer_ids[0])
        assert status == 400 and answer["resultCode"] == code(Fault.SITE_NOT_FOUND)
    for viewer in viewer_ids:
        assert (await live(http, server, csrf, "close", viewer=viewer))[0] == 200
    assert await viewers_in_groups(server) == []

    # an operator may not watch the administrator's conference
    async with browser_session() as nurse:
        assert (await log_in(nurse, server, OPERATOR_PASSWORD, OPERATOR)).status == 303
        status, answer = await live(nurse, server, await csrf_of(nurse, server), "open",
                                    confId=conf_id, view="conference")
        assert status == 400 and answer["resultCode"] == result_codes.NO_PERMISSION
        async with nurse.get(server.url(f"/console/health?conf={conf_id}")) as response:
            assert response.status == 404


async def test_an_aiortc_viewer_sees_the_sites_and_ends_with_the_conference(
        server, soap, sims, admin):  # noqa: F811
    http, csrf = admin
    a, b = (sim.uri for sim in sims)
    indices = {sim.site_index for sim in sims}
    conf_id = await scheduled_now(http, server, csrf, soap, [a, b])
    await soap_call(soap, "setContinuousPresenceEx", service="conf_ctrl", confId=conf_id,
                    target="0", presenceMode=4, subPics=[a, b])  # CP_2_3: side by side
    groups_before = await media_groups(server)
    status, opened = await live(http, server, csrf, "open", confId=conf_id, view="conference")
    assert status == 200, opened
    pc = RTCPeerConnection()
    tracks = []
    pc.on("track", tracks.append)
    try:
        await pc.setRemoteDescription(RTCSessionDescription(opened["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        status, answer = await live(http, server, csrf, "answer", viewer=opened["viewer"],
                                    sdp=pc.localDescription.sdp)
        assert status == 200, answer
        assert sorted(track.kind for track in tracks) == ["audio", "video"]
        video = next(track for track in tracks if track.kind == "video")
        seen: set[int] = set()
        deadline = asyncio.get_running_loop().time() + 30
        while seen != indices and asyncio.get_running_loop().time() < deadline:
            frame = await within(video.recv(), 10)
            picture = frame.to_ndarray(format="bgr24")
            for rect in ((0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 0.5, 1.0)):
                reading = read_marker(picture, rect)
                if reading is not None:
                    seen.add(reading.site_index)
        assert seen == indices
        groups = await media_groups(server)
        assert len(groups) == len(groups_before)  # the sites' group, no encode of its own
        assert [f"viewer:{opened['viewer']}"] == await viewers_in_groups(server)
        statuses = await soap_call(soap, "queryConfSitesStatusEx", confId=conf_id)
        assert sorted(s.uri for s in statuses.siteStatuses) == sorted([a, b])

        async with http.get(server.url(f"/console/health?conf={conf_id}")) as response:
            health = await response.json()
        assert response.status == 200
        assert [g["receivers"] for g in health["groups"]] == [3]  # two sites and the viewer
        assert health["groups"][0]["output_fps"] > 0 and health["history"]
        assert isinstance(health["cpu_percent"], float)

        # the conference ends: the viewer goes with it, its peer connection closes
        assert (await act(http, server, csrf, "end", confId=conf_id))[0] == 200

        async def closed() -> bool:
            return pc.connectionState in ("closed", "failed")

        await eventually(closed, timeout=45, what="the viewer's connection closed")
        status, answer = await live(http, server, csrf, "close", viewer=opened["viewer"])
        assert status == 400 and answer["resultCode"] == code(Fault.SITE_NOT_FOUND)
    finally:
        await pc.close()
