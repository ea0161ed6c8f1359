"""H.264 packetization-mode 0 (RFC 6184 single NAL units) sent to a SIP site that takes only
that (docs/sip.md, "H.264 packetization-mode 0"), from the outside: a conference booked over
SOAP (zeep from the reference WSDL) with a WebRTC terminal, a SIP room system offering only
H.264 constrained baseline in mode 0 and one offering H.264 in mode 1
(terminals/sip_room.py; its mode-0 depacketizer refuses aggregation and fragmentation
units, so every picture it decodes came in single NAL unit packets).

- the mode-0 room decodes both other markers and its own in 4CIF, and what it sends in mode
  0 is decoded by the MCU (the others read its marker);
- encode-once: the mode-0 room has its own encoder group (sliced: `single-nal`), while the
  mode-1 room shares the WebRTC terminal's group (/stats/media).
"""

from __future__ import annotations

import asyncio

import requests

from tests.test_sip_endpoint import (
    CP_4_1,
    IN_CONFERENCE,
    book,
    eventually,
    panes,
    room,
    rooms,  # noqa: F401 - the fixture
    sees,
    site_statuses,
    webrtc_terminal,
    ws_url,
)


def group_formats(base_url: str) -> dict[str, str]:
    """Each receiving site's group format (/stats/media)."""
    answer = requests.get(f"{base_url}/stats/media", timeout=10)
    answer.raise_for_status()
    return {site: group["format"]
            for conference in answer.json()["conferences"]
            for group in conference["groups"] for site in group["sites"]}


async def test_a_mode_0_only_site_decodes_every_marker_from_single_nal_packets(
        gateway_server, soap, clock, rooms):  # noqa: F811
    a = webrtc_terminal("01810001", 41)
    await a.start(ws_url(gateway_server.base_url))
    try:
        mode0 = await room(rooms, "room-mode0", 47, video_codecs=("h264-m0",),
                           audio_codecs=("pcmu",), video_size=(704, 576))
        mode1 = await room(rooms, "room-mode1", 48, video_codecs=("h264-cb",),
                           audio_codecs=("pcmu",), video_size=(704, 576))
        uris = [a.uri, mode0.uri, mode1.uri]
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), uris)
        await eventually(lambda: asyncio.to_thread(
            lambda: {s.status for s in site_statuses(soap, conf_id).values()} == {IN_CONFERENCE}
            and len(site_statuses(soap, conf_id)) == 3), "all three in conference")
        plan = next(p for p in mode0.call.plans if p.kind == "video")
        assert (plan.codec.name, plan.codec.packetization_mode) == ("H264", 0)
        answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                         target="0", presenceMode=CP_4_1, subPics=uris)
        assert answer == 0
        expected = [41, 47, 48, None]
        for viewer in (a, mode0, mode1):
            viewer.set_panes(panes(CP_4_1))
        for name, viewer in (("A", a), ("the mode-0 room", mode0), ("the mode-1 room", mode1)):
            await eventually(sees(viewer, expected), f"{name} sees the three markers")
        assert (mode0.video.last_frame.width, mode0.video.last_frame.height) == (704, 576)
        video = next(s for s in mode0.call.sessions if s.kind == "video")
        assert video.stats.frames_decoded > 0 and video.stats.malformed == 0
        formats = await asyncio.to_thread(group_formats, gateway_server.base_url)
        assert formats[mode0.uri].startswith("H264 704x576") and "single-nal" in formats[mode0.uri]
        assert formats[mode1.uri] == formats[a.uri] and "single-nal" not in formats[a.uri]
    finally:
        await a.stop()
