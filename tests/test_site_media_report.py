"""The negotiated encryption of each site in the console's health answer
(gateway/console/site_media.py, docs/console.md "Health"): WS/T 546's SiteStatusEx and the
eSDK's CDR have no member for it, so it is read over HTTP, from the outside: a conference
booked over SOAP (mediaEncryptType 0, auto) with a WebRTC terminal, a SIP room system that
offers SDES and one that offers plain RTP only; the health answer says DTLS-SRTP, SDES-SRTP
and RTP, which is what each far end itself negotiated.
"""

from __future__ import annotations

import asyncio

from mcu.model import MediaEncryptType as Encryption
from tests.conftest import DEMO
from tests.test_console import browser_session, log_in
from tests.test_sip_endpoint import (
    IN_CONFERENCE,
    book,
    eventually,
    room,
    site_statuses,
    webrtc_terminal,
    ws_url,
)


async def test_health_reports_each_sites_negotiated_encryption(
        gateway_server, soap, clock, rooms):  # noqa: F811
    a = webrtc_terminal("01800001", 41)
    await a.start(ws_url(gateway_server.base_url))
    try:
        srtp = await room(rooms, "room-sdes", 43, video_codecs=("h264",),
                          audio_codecs=("g722",), encryption=Encryption.AUTO)
        plain = await room(rooms, "room-plain", 44, video_codecs=("h263",),
                           audio_codecs=("pcmu",), encryption=Encryption.NONE)
        uris = [a.uri, srtp.uri, plain.uri]
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), uris, encrypt=0)
        await eventually(lambda: asyncio.to_thread(
            lambda: {s.status for s in site_statuses(soap, conf_id).values()} == {IN_CONFERENCE}
            and len(site_statuses(soap, conf_id)) == 3), "all three in conference")
        assert srtp.encrypted and not plain.encrypted  # what the far ends negotiated
        async with browser_session() as http:
            login = await log_in(http, gateway_server, DEMO[1], DEMO[0])
            assert login.status in (200, 302, 303)
            async with http.get(gateway_server.url(f"/console/health?conf={conf_id}")) as answer:
                assert answer.status == 200
                health = await answer.json()
        media = {site["uri"]: site for site in health["media"]}
        assert {uri: media[uri]["encryption"] for uri in uris} == {
            a.uri: "DTLS-SRTP", srtp.uri: "SDES-SRTP", plain.uri: "RTP"}
        assert not any(media[uri]["encryption_exempt"] for uri in uris)
        assert (media[srtp.uri]["video_codec"], media[srtp.uri]["audio_codec"]) == ("H264", "G722")
        assert (media[plain.uri]["video_codec"], media[plain.uri]["audio_codec"]) == ("H263", "PCMU")
        async with browser_session() as http:  # not logged in: refused, nothing said
            async with http.get(gateway_server.url(f"/console/health?conf={conf_id}")) as answer:
                assert answer.status == 401
    finally:
        await a.stop()
