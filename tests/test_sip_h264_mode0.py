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

from tests.sip_conference_setup import conference_in_cp_4_1, group_formats, webrtc_terminals
from tests.test_sip_endpoint import (
    eventually,
    room,
    sees,
)


async def test_a_mode_0_only_site_decodes_every_marker_from_single_nal_packets(
        gateway_server, soap, clock, rooms):  # noqa: F811
    async with webrtc_terminals(gateway_server.base_url, ("01810001", 41)) as (a,):
        mode0 = await room(rooms, "room-mode0", 47, video_codecs=("h264-m0",),
                           audio_codecs=("pcmu",), video_size=(704, 576))
        mode1 = await room(rooms, "room-mode1", 48, video_codecs=("h264-cb",),
                           audio_codecs=("pcmu",), video_size=(704, 576))
        await conference_in_cp_4_1(soap, clock, [a.uri, mode0.uri, mode1.uri],
                                   (a, mode0, mode1))
        plan = next(p for p in mode0.call.plans if p.kind == "video")
        assert (plan.codec.name, plan.codec.packetization_mode) == ("H264", 0)
        expected = [41, 47, 48, None]
        for name, viewer in (("A", a), ("the mode-0 room", mode0), ("the mode-1 room", mode1)):
            await eventually(sees(viewer, expected), f"{name} sees the three markers")
        assert (mode0.video.last_frame.width, mode0.video.last_frame.height) == (704, 576)
        video = next(s for s in mode0.call.sessions if s.kind == "video")
        assert video.stats.frames_decoded > 0 and video.stats.malformed == 0
        formats = await asyncio.to_thread(group_formats, gateway_server.base_url)
        assert formats[mode0.uri].startswith("H264 704x576") and "single-nal" in formats[mode0.uri]
        assert formats[mode1.uri] == formats[a.uri] and "single-nal" not in formats[a.uri]
