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

from tests.sip_conference_setup import conference_in_cp_4_1, group_formats, webrtc_terminals
from tests.test_sip_endpoint import (
    eventually,
    room,
    sees,
)


async def test_h261_and_h263_plus_sites_beside_webrtc_see_every_marker(
        gateway_server, soap, clock, rooms):  # noqa: F811
    async with webrtc_terminals(gateway_server.base_url, ("01790001", 41),
                                ("01790002", 42)) as (a, b):
        h261 = await room(rooms, "room-h261", 45, video_codecs=("h261",),
                          audio_codecs=("pcmu",))
        h263p = await room(rooms, "room-h263p", 46, video_codecs=("h263p",),
                           audio_codecs=("g722",))
        viewers = (("A", a), ("B", b), ("SIP H.261", h261), ("SIP H.263+", h263p))
        await conference_in_cp_4_1(soap, clock, [a.uri, b.uri, h261.uri, h263p.uri],
                                   [viewer for _, viewer in viewers])
        assert h261.negotiated == {"audio": "PCMU", "video": "H261"}
        assert h263p.negotiated == {"audio": "G722", "video": "H263-1998"}
        expected = [41, 42, 45, 46]
        for name, viewer in viewers:
            await eventually(sees(viewer, expected), f"{name} sees the four markers")
        assert (h261.video.last_frame.width, h261.video.last_frame.height) == (352, 288)
        assert (h263p.video.last_frame.width, h263p.video.last_frame.height) == (704, 576)
        codecs = {site: format_.split(" ")[0] for site, format_ in (
            await asyncio.to_thread(group_formats, gateway_server.base_url)).items()}
        assert codecs[h261.uri] == "H261" and codecs[h263p.uri] == "H263-1998"
        assert codecs[a.uri] == codecs[b.uri]
