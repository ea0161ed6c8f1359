"""Re-INVITEs from a SIP site (mcu/media/sip_reinvite.py, docs/sip.md "Re-INVITEs from a
site"), from the outside: a conference booked over SOAP (zeep from the reference WSDL) with a
WebRTC terminal and a simulated SIP room system (terminals/sip_room.py) that offers again
inside its call; what each end decodes is read from the pictures' markers, and the encoder
groups from /stats/media.

- a session refresh (the same o= version) is answered with the same answer and changes no
  RTP session (the room's decoded stream keeps its source);
- hold (a=sendonly): answered a=recvonly, the MCU stops sending (the room decodes no more
  pictures and receives no more audio; the site is in no encoder group) while the site's own
  picture is still seen by the WebRTC terminal; resume: the room decodes both markers again;
- another codec list (H.263 only): the site moves from the WebRTC terminal's H.264 group (one
  encoder for both before: encode-once) to an H.263 group, and decodes both markers in H.263;
- an offer the MCU cannot accept (VP9 only): 488, and the call goes on as it was.
"""

from __future__ import annotations

import asyncio

import pytest
import requests

from mcu.layouts import layout_mode
from mcu.model import MediaEncryptType as Encryption
from sip.errors import SipCallFailed
from tests.test_sip_endpoint import (
    IN_CONFERENCE,
    book,
    eventually,
    room,
    sees,
    status_of,
    webrtc_terminal,
    ws_url,
)

CP_2_1 = layout_mode("CP_2_1")
PANES = [tuple(pane.as_floats()) for pane in CP_2_1.panes]


def groups_of(base_url: str, uri: str) -> list[str]:
    """The formats of the encoder groups `uri` receives (/stats/media)."""
    answer = requests.get(f"{base_url}/stats/media", timeout=10)
    answer.raise_for_status()
    return [group["format"] for conference in answer.json()["conferences"]
            for group in conference["groups"] if uri in group["sites"]]


async def groups(base_url: str, uri: str) -> list[str]:
    return await asyncio.to_thread(groups_of, base_url, uri)


async def still_for(seconds: float, count) -> bool:
    """`count()` did not change over `seconds`."""
    before = count()
    await asyncio.sleep(seconds)
    return count() == before


async def test_refresh_hold_resume_codec_change_and_refusal(gateway_server, soap, clock, rooms):  # noqa: F811
    base = gateway_server.base_url
    a = webrtc_terminal("01780001", 41)
    await a.start(ws_url(base))
    try:
        site = await room(rooms, "room-reinvite", 43, video_codecs=("h264", "h263"),
                          audio_codecs=("g722", "pcmu"), encryption=Encryption.AUTO)
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [a.uri, site.uri])
        for uri in (a.uri, site.uri):
            await eventually(lambda uri=uri: asyncio.to_thread(
                lambda: status_of(soap, conf_id, uri) == IN_CONFERENCE), f"{uri} in conference")
        assert site.negotiated == {"audio": "G722", "video": "H264"}
        assert site.encrypted  # SDES-SRTP under mediaEncryptType 0: keys kept below
        answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                         target="0", presenceMode=CP_2_1.value,
                                         subPics=[a.uri, site.uri])
        assert answer == 0
        for viewer in (a, site):
            viewer.set_panes(PANES)
        for viewer, name in ((a, "the WebRTC terminal"), (site, "the SIP room")):
            await eventually(sees(viewer, [41, 43]), f"{name} sees both markers")
        # encode-once across protocols: both receive the one H.264 group
        await eventually(lambda: groups(base, site.uri), "the site in a group")
        assert await groups(base, site.uri) == await groups(base, a.uri)

        # a session refresh: the same answer twice, the same RTP sessions
        call = site.call
        assert call is not None
        video = next(s for s in call.sessions if s.kind == "video")
        source = video.remote_ssrc
        first = await site.reinvite(refresh=True)
        second = await site.reinvite(refresh=True)
        assert first == second
        decoded = site.video.frames_decoded
        await eventually(lambda: site.video.frames_decoded > decoded + 10,
                         "pictures after the refresh")
        assert next(s for s in site.call.sessions if s.kind == "video").remote_ssrc == source
        assert video in site.call.sessions  # the room's session went on too

        # hold: the MCU sends nothing (no pictures, no audio), the site is in no group
        held = await site.reinvite(direction="sendonly")
        assert held.count(b"a=recvonly") == 2
        audio = next(s for s in site.call.sessions if s.kind == "audio")
        await asyncio.sleep(1.0)  # what was on its way arrives
        assert await still_for(2.0, lambda: site.video.frames_decoded), "pictures on hold"
        assert await still_for(1.0, lambda: audio.stats.packets_received), "audio on hold"
        assert await groups(base, site.uri) == []
        # the site still sends: the WebRTC terminal sees its marker
        await eventually(sees(a, [41, 43]), "the held site still seen")
        assert status_of(soap, conf_id, site.uri) == IN_CONFERENCE

        # resume: pictures and audio again, both markers read
        resumed = await site.reinvite(direction="sendrecv")
        assert b"a=sendrecv" in resumed
        decoded = site.video.frames_decoded
        await eventually(lambda: site.video.frames_decoded > decoded + 10, "pictures resumed")
        received = audio.stats.packets_received
        await eventually(lambda: audio.stats.packets_received > received + 25, "audio resumed")
        await eventually(sees(site, [41, 43]), "the resumed site sees both markers")

        # another codec list: H.263 only -> its own H.263 group, markers decoded in H.263
        await site.reinvite(video_codecs=("h263",))
        assert site.negotiated == {"audio": "G722", "video": "H263"}
        assert site.encrypted
        await eventually(lambda: asyncio.to_thread(
            lambda: [f.split(" ")[0] for f in groups_of(base, site.uri)] == ["H263"]),
            "the site moved to an H.263 group")
        assert [f.split(" ")[0] for f in await groups(base, a.uri)] == ["H264"]
        decoded = site.video.frames_decoded
        await eventually(lambda: site.video.frames_decoded > decoded + 10, "H.263 decoded")
        await eventually(sees(site, [41, 43]), "both markers in the H.263 pictures")
        assert (site.video.last_frame.width, site.video.last_frame.height) == (704, 576)
        await eventually(sees(a, [41, 43]), "the WebRTC terminal still sees the site")

        # an offer the MCU cannot take (VP9 only): 488, the call as it was
        with pytest.raises(SipCallFailed) as refused:
            await site.reinvite(video_codecs=("vp9",))
        assert refused.value.status == 488
        assert site.negotiated == {"audio": "G722", "video": "H263"}
        decoded = site.video.frames_decoded
        await eventually(lambda: site.video.frames_decoded > decoded + 10,
                         "pictures after the refused offer")
        await eventually(sees(site, [41, 43]), "both markers after the refused offer")
        assert status_of(soap, conf_id, site.uri) == IN_CONFERENCE
    finally:
        await a.stop()
