"""H.261 and H.263+ end to end through the MCU (issue 16), from the outside: a conference
booked over SOAP (zeep from the reference WSDL) with two WebRTC terminals, a SIP room system
that has only H.261 and one that has only H.263+ (terminals/sip_room.py), every site booked
4CIF in a 2x2 continuous presence.

- each SIP site's video is negotiated in its one codec and its pictures are decoded by the
  MCU (the others read its marker) and by the site (it reads the others' markers);
- the H.261 site receives CIF (the largest H.261 size not above the booked 4CIF), the
  H.263+ site the booked 4CIF;
- each codec has its own encoder group, the WebRTC terminals share theirs (/stats/media).
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


def group_codecs(base_url: str) -> dict[str, str]:
    """Each receiving site's group codec (/stats/media)."""
    answer = requests.get(f"{base_url}/stats/media", timeout=10)
    answer.raise_for_status()
    return {site: group["format"].split(" ")[0]
            for conference in answer.json()["conferences"]
            for group in conference["groups"] for site in group["sites"]}


async def test_h261_and_h263_plus_sites_beside_webrtc_see_every_marker(
        gateway_server, soap, clock, rooms):  # noqa: F811
    a = webrtc_terminal("01790001", 41)
    b = webrtc_terminal("01790002", 42)
    for terminal in (a, b):
        await terminal.start(ws_url(gateway_server.base_url))
    try:
        h261 = await room(rooms, "room-h261", 45, video_codecs=("h261",),
                          audio_codecs=("pcmu",))
        h263p = await room(rooms, "room-h263p", 46, video_codecs=("h263p",),
                           audio_codecs=("g722",))
        uris = [a.uri, b.uri, h261.uri, h263p.uri]
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), uris)
        await eventually(lambda: asyncio.to_thread(
            lambda: {s.status for s in site_statuses(soap, conf_id).values()} == {IN_CONFERENCE}
            and len(site_statuses(soap, conf_id)) == 4), "all four in conference")
        assert h261.negotiated == {"audio": "PCMU", "video": "H261"}
        assert h263p.negotiated == {"audio": "G722", "video": "H263-1998"}
        answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                         target="0", presenceMode=CP_4_1, subPics=uris)
        assert answer == 0
        expected = [41, 42, 45, 46]
        viewers = (("A", a), ("B", b), ("SIP H.261", h261), ("SIP H.263+", h263p))
        for _, viewer in viewers:
            viewer.set_panes(panes(CP_4_1))
        for name, viewer in viewers:
            await eventually(sees(viewer, expected), f"{name} sees the four markers")
        assert (h261.video.last_frame.width, h261.video.last_frame.height) == (352, 288)
        assert (h263p.video.last_frame.width, h263p.video.last_frame.height) == (704, 576)
        codecs = await asyncio.to_thread(group_codecs, gateway_server.base_url)
        assert codecs[h261.uri] == "H261" and codecs[h263p.uri] == "H263-1998"
        assert codecs[a.uri] == codecs[b.uri]
    finally:
        for terminal in (a, b):
            await terminal.stop()
