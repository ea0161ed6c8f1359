"""The send ladder's asks to SIP sites (mcu/media/sip_ask.py; docs/sip_media.md, "Asking SIP
sites for what their panes need"), from the outside: a conference booked and laid out over
SOAP (zeep from the reference WSDL), simulated SIP room systems (terminals/sip_room.py) on
loopback that send pre-encoded loops, GET /stats/media for what the MCU asked and decodes.

- four SIP rooms (720p15 cameras) in a 1080p CP_4_1 conference: each is asked for
  960x540@30; the two that take image attributes get it by re-INVITE, the one that takes
  only TMMBR by RTCP alone, and the MCU then decodes 960x540 from those three; the fourth
  notes the asks and keeps sending 1280x720 (the MCU scales it); the markers of all four
  read in the composed picture;
- CP_16_1: each is asked for 480x270@15 (after the downgrade hold), the MCU decodes
  480x270 from the three that follow, and the first four panes still read;
- the shown site switched back and forth every second (setBroadcastSiteEx) does not flap:
  each of the two switched sites is re-INVITEd at most once in that time (its upgrade);
  every re-INVITE a room received is one ask, never a storm;
- a room answering the MCU's re-INVITE 488: its call goes on as it was, it is not
  re-INVITEd again and the MCU scales its own 1280x720;
- glare: the room meets the MCU's first re-INVITE with one of its own; both are answered
  491, both retry after RFC 3261's wait, both end up answered 200, the ask is followed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import requests

from mcu.layouts import layout_mode
from sip.useragent import SipReject
from terminals.media_sources import VideoFormat
from terminals.sip_room import SipRoom
from tests.test_sip_endpoint import (
    IN_CONFERENCE,
    eventually,
    panes,
    room,
    sees,
    status_of,
)

HD1080P30 = 3  # videoFormat (eSDK numbering)
CP_4_1 = layout_mode("CP_4_1").value
CP_16_1 = layout_mode("CP_16_1").value
CAMERA = dict(video_size=(1280, 720), fps=15, video_bitrate=1_200_000)
WAIT_S = 90.0


def book_1080p(soap, begin, uris: list[str], cp_resource: int = 4) -> str:
    info = {
        "name": "SIP ladder", "beginTime": begin, "duration": timedelta(hours=1),
        "mediaEncryptType": 0, "cpResouce": cp_resource, "presentation": 0, "rate": "1920k",
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": HD1080P30, "videoProtocol": 0} for uri in uris],
    }
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=info)
    assert answer.resultCode == 0
    return answer.conferenceInfo.confId


def inputs_of(base_url: str, conf_id: str) -> dict[str, dict]:
    """GET /stats/media's `inputs` of the conference: per site what was asked and decoded."""
    answer = requests.get(f"{base_url}/stats/media", timeout=10)
    answer.raise_for_status()
    return next((c["inputs"] for c in answer.json()["conferences"]
                 if c["conf_id"] == conf_id), {})


def inputs_are(base_url: str, conf_id: str, expected: dict[str, dict]):
    async def check() -> bool:
        inputs = await asyncio.to_thread(inputs_of, base_url, conf_id)
        # the video's ask and decoded size (an entry also counts the site's voice frames)
        return all({key: inputs.get(uri, {}).get(key) for key in want} == want
                   for uri, want in expected.items())
    return check


async def in_conference(soap, conf_id: str, uris: list[str]) -> None:
    for uri in uris:
        await eventually(lambda uri=uri: asyncio.to_thread(
            lambda: status_of(soap, conf_id, uri) == IN_CONFERENCE), f"{uri} in conference",
            WAIT_S)


async def test_sip_sites_are_asked_for_their_panes_and_send_them(
        gateway_server, soap, clock, rooms):  # noqa: F811
    base = gateway_server.base_url
    viewer = await room(rooms, "ask-viewer", 60, ladder=True, **CAMERA)
    second = await room(rooms, "ask-second", 61, ladder=True, decode_video=False, **CAMERA)
    by_tmmbr = await room(rooms, "ask-tmmbr", 62, ladder=True, asks=("tmmbr",),
                          decode_video=False, **CAMERA)
    deaf = await room(rooms, "ask-deaf", 63, ladder=True, honour_asks=False,
                      decode_video=False, **CAMERA)
    sites: list[SipRoom] = [viewer, second, by_tmmbr, deaf]
    uris = [site.uri for site in sites]
    conf_id = await asyncio.to_thread(book_1080p, soap, clock.now(), uris, 16)
    await in_conference(soap, conf_id, uris)
    assert all(site.negotiated["video"] == "H264" for site in sites)

    # CP_4_1 at 1080p: 960x540 panes
    assert await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                   target="0", presenceMode=CP_4_1, subPics=uris) == 0
    followed = {"asked": "960x540@30", "decoded": "960x540"}
    await eventually(inputs_are(base, conf_id, {
        viewer.uri: followed, second.uri: followed, by_tmmbr.uri: followed,
        deaf.uri: {"asked": "960x540@30", "decoded": "1280x720"}}),
        "960x540 asked of all four and decoded from the three that follow", WAIT_S)
    for site in (viewer, second):  # asked both ways: TMMBR at once, and a re-INVITE
        await eventually(lambda site=site: {(a.how, a.width, a.height)
                                            for a in site.ladder.asks} >= {
            ("imageattr", 960, 540), ("tmmbr", 960, 540)}, "the re-INVITE's ask", WAIT_S)
    assert by_tmmbr.reinvites_received == 0  # asked by RTCP alone
    assert {(a.how, a.width, a.height) for a in by_tmmbr.ladder.asks} >= {("tmmbr", 960, 540)}
    tmmbr_video = next(s for s in by_tmmbr.call.sessions if s.kind == "video")
    assert tmmbr_video.stats.tmmbn_sent >= 1  # notified back: it follows the limit
    assert deaf.ladder.switches == [] and deaf.ladder.asks  # asked, and ignored
    viewer.set_panes(panes(CP_4_1))
    await eventually(sees(viewer, [60, 61, 62, 63]), "the four markers in CP_4_1", WAIT_S)

    # CP_16_1: 480x270 panes, asked after the downgrade hold, at 15 fps
    assert await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                   target="0", presenceMode=CP_16_1, subPics=uris) == 0
    small = {"asked": "480x270@15", "decoded": "480x270"}
    await eventually(inputs_are(base, conf_id, {
        viewer.uri: small, second.uri: small, by_tmmbr.uri: small,
        deaf.uri: {"asked": "480x270@15", "decoded": "1280x720"}}),
        "480x270 asked of all four and decoded from the three that follow", WAIT_S)
    assert [(f.width, f.height, f.fps) for f in second.ladder.switches][-1] == (480, 270, 15)
    viewer.set_panes(panes(CP_16_1))

    async def first_four() -> bool:
        return [p.site_index for p in await viewer.read_panes()][:4] == [60, 61, 62, 63]
    await eventually(first_four, "the four markers in their CP_16_1 panes", WAIT_S)

    # the shown site switched back and forth: no re-INVITE storm
    before = {site.uri: site.reinvites_received for site in sites}
    for turn in range(8):
        shown = second if turn % 2 == 0 else viewer
        assert await asyncio.to_thread(soap.conf_ctrl.setBroadcastSiteEx, confId=conf_id,
                                       siteUri=shown.uri, isBroadcast=0) == 0
        await asyncio.sleep(1.0)
    during = {site.uri: site.reinvites_received - before[site.uri] for site in sites}
    assert during[second.uri] <= 1 and during[viewer.uri] <= 1, during
    assert during[by_tmmbr.uri] == 0 and during[deaf.uri] == 0, during
    for site in (viewer, second):  # one re-INVITE per ask, each ask a change
        imageattr_asks = [a for a in site.ladder.asks if a.how == "imageattr"]
        assert site.reinvites_received == len(imageattr_asks) <= 5, site.ladder.asks
        assert all(a != b for a, b in zip(imageattr_asks, imageattr_asks[1:], strict=False))
    assert all(site.call is not None for site in sites)


async def test_glare_both_retry_and_the_ask_is_followed(gateway_server, soap, clock, rooms):  # noqa: F811
    base = gateway_server.base_url
    crossing = await room(rooms, "ask-glare", 50, ladder=True, decode_video=False, **CAMERA)
    crossing.glare_next = True  # meets the MCU's first re-INVITE with its own
    other = await room(rooms, "ask-other", 51, ladder=True, decode_video=False, **CAMERA)
    uris = [crossing.uri, other.uri]
    conf_id = await asyncio.to_thread(book_1080p, soap, clock.now(), uris)
    await in_conference(soap, conf_id, uris)
    assert await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                   target="0", presenceMode=CP_4_1, subPics=uris) == 0
    followed = {"asked": "960x540@30", "decoded": "960x540"}
    await eventually(inputs_are(base, conf_id, {crossing.uri: followed}),
                     "the crossing room asked for 960x540 and sending it", WAIT_S)
    assert crossing.glares_answered == 1
    # its own re-INVITE was answered 491 by the MCU, then retried and answered 200
    await eventually(lambda: crossing.own_reinvites == ["491", "200"],
                     "the room's own re-INVITE retried", WAIT_S)
    # the MCU's was answered 491, then retried after its wait: the room took the ask then
    await eventually(lambda: crossing.reinvites_received >= 2, "the MCU's retry", WAIT_S)
    assert ("imageattr", 960, 540) in {(a.how, a.width, a.height) for a in crossing.ladder.asks}
    assert crossing.call is not None and status_of(soap, conf_id, crossing.uri) == IN_CONFERENCE


def test_a_room_refuses_unknown_ask_kinds():
    with pytest.raises(ValueError, match="remb"):
        SipRoom("bad-asks", 1, ladder=True, asks=("remb",))
    assert SipRoom("plain", 2).asks == frozenset()  # no ladder: its SDP states none
    assert VideoFormat(1280, 720, 15, 1_200_000) == SipRoom(
        "loops", 3, ladder=True, **CAMERA).ladder.own


async def test_a_site_refusing_the_reinvite_keeps_its_call_and_is_not_asked_again(
        gateway_server, soap, clock, rooms):  # noqa: F811
    """A room that states image attributes but answers the MCU's re-INVITEs 488 (and takes no
    TMMBR): its call goes on as it was, it keeps sending its own 1280x720 (the MCU scales
    it), and after the refusal it is re-INVITEd no more, whatever the layout does."""
    base = gateway_server.base_url
    refusing = await room(rooms, "ask-refuse", 52, ladder=True, asks=("imageattr",),
                          decode_video=False, **CAMERA)
    refused: list[bytes] = []

    async def refuse(dialog, body: bytes) -> SipReject:
        refused.append(body)
        return SipReject(488, "Not Acceptable Here")

    refusing.ua.on_reinvite = refuse
    other = await room(rooms, "ask-watch", 53, ladder=True, decode_video=False, **CAMERA)
    uris = [refusing.uri, other.uri]
    conf_id = await asyncio.to_thread(book_1080p, soap, clock.now(), uris, 16)
    await in_conference(soap, conf_id, uris)
    for mode in (CP_4_1, CP_16_1):
        assert await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                       target="0", presenceMode=mode, subPics=uris) == 0
        await eventually(lambda: refused, "the MCU's re-INVITE", WAIT_S)
        await asyncio.sleep(6.0)  # past the downgrade hold: a smaller ask is due by now
    assert len(refused) == 1 and b"a=imageattr" in refused[0]
    inputs = await asyncio.to_thread(inputs_of, base, conf_id)
    assert inputs[refusing.uri]["decoded"] == "1280x720"  # its own, scaled by the MCU
    assert inputs[refusing.uri]["asked"] is None  # no way left to ask it
    assert refusing.ladder.switches == []
    assert refusing.call is not None and status_of(soap, conf_id, refusing.uri) == IN_CONFERENCE
