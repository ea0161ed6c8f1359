"""SIP room systems in the MCU (mcu/media/sip_endpoint.py, docs/sip.md "In the MCU"), from the
outside: conferences booked and watched over SOAP (zeep from the reference WSDL), the far
ends simulated SIP room systems built from our own sip/ + rtp/ (terminals/sip_room.py) next
to WebRTC simulated terminals.

- dial-out of a SIP H.264 (High) site and a SIP H.263 site into a conference with two WebRTC
  terminals: every site sees the four markers of the CP picture and hears the others;
  queryConfSitesStatusEx shows the SIP sites in conference; a BYE from a SIP site ends its
  call (not joined) and the MCU's disconnectSitesEx sends the site a BYE;
- dial-in by access code (`sip:<code>*<password>@mcu`): joined, seen and heard; a wrong
  password and an unknown code are refused with 403 / 404, the site's status unchanged;
- mediaEncryptType 1 (force) with a plain-only SIP site: not joined with 12378; a site that
  offers crypto is called with SDES-SRTP;
- a site answering 486 is not joined with 117; a site offering only codecs the MCU has not
  (refused 488 by the site) with 131088;
- a numeric URI registered with the MCU's registrar is called at its contact;
- the booked videoProtocol: H.263 negotiated with a site that prefers H.264; a site without
  the booked H.261 not joined with 131088.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from mcu.calls import CallFailure
from mcu.layouts import layout_mode
from mcu.model import MediaEncryptType as Encryption
from rtp.negotiation import CodecOffer
from sip.errors import SipCallFailed
from terminals.client import SimulatedTerminal
from terminals.media_sources import VideoFormat
from terminals.sip_room import SipRoom

WAIT_S = 40.0
IN_CONFERENCE, NOT_JOINED, CALLING = 2, 3, 4  # siteStatus of queryConfSitesStatusEx
CIF4 = 1  # videoFormat 4CIF (eSDK numbering)
CP_4_1 = 11  # presenceMode: four panes, 2x2
SMALL = VideoFormat(640, 360, 15, 500_000)
HEARD = 0.05  # a talker's level (SpeechSynth's scale) taken as heard


async def eventually(predicate: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        held = predicate()
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def ws_url(base_url: str) -> str:
    return base_url.replace("http", "ws", 1) + "/signalling"


def panes(layout: int) -> list[tuple[float, ...]]:
    return [tuple(pane.as_floats()) for pane in layout_mode(layout).panes]


def book(soap, begin, sites: list[str], *, encrypt: int = 0, password: str = "",
         dial_in: frozenset[str] = frozenset(),
         protocols: dict[str, int] | None = None) -> tuple[str, str]:
    """(confId, accessCode) of a conference of these site URIs, all type 7 (SIP);
    `protocols`: videoProtocol by URI (else auto)."""
    info = {
        "name": "SIP rooms", "beginTime": begin, "duration": timedelta(hours=1),
        "mediaEncryptType": encrypt, "cpResouce": 4, "presentation": 0, "rate": "1024k",
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0,
                   "dialingMode": 1 if uri in dial_in else 0, "videoFormat": CIF4,
                   "videoProtocol": (protocols or {}).get(uri, 0)}
                  for uri in sites],
    }
    if password:
        info["password"] = password
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=info)
    assert answer.resultCode == 0
    return answer.conferenceInfo.confId, answer.conferenceInfo.accessCode


def site_statuses(soap, conf_id: str) -> dict[str, object]:
    answer = soap.conf_mgr.queryConfSitesStatusEx(confId=conf_id, siteUris=[])
    assert answer.resultCode == 0
    return {site.uri: site for site in answer.siteStatuses}


def status_of(soap, conf_id: str, uri: str) -> int | None:
    site = site_statuses(soap, conf_id).get(uri)
    return None if site is None else site.status


async def wait_status(soap, conf_id: str, uri: str, status: int, what: str) -> None:
    await eventually(lambda: asyncio.to_thread(lambda: status_of(soap, conf_id, uri) == status),
                     what)


async def statuses(soap, conf_id: str) -> dict[str, object]:
    return await asyncio.to_thread(site_statuses, soap, conf_id)


def webrtc_terminal(uri: str, index: int) -> SimulatedTerminal:
    return SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                             video_format=SMALL, loop_frames=30, analyse_every=1 << 30)



async def room(made: list[SipRoom], user: str, index: int, **options) -> SipRoom:
    sip_room = SipRoom(user, index, **options)
    await sip_room.start()
    made.append(sip_room)
    return sip_room


def hears(listener, talkers: list[int]) -> bool:
    """Every one of `talkers` is heard in the listener's last second of audio."""
    levels = listener.audio.heard(talkers)
    return all(levels.get(talker, 0.0) > HEARD for talker in talkers)


def sees(viewer, expected: list[int]) -> Callable[[], object]:
    async def check() -> bool:
        return [pane.site_index for pane in await viewer.read_panes()] == expected
    return check


async def test_sip_h264_and_h263_sites_dialled_out_see_and_hear_everyone(
        gateway_server, soap, clock, rooms):
    a = webrtc_terminal("01770001", 41)
    b = webrtc_terminal("01770002", 42)
    for t in (a, b):
        await t.start(ws_url(gateway_server.base_url))
    try:
        high = await room(rooms, "room-h264", 43, video_codecs=("h264",),
                          audio_codecs=("g722", "pcmu"), video_size=(704, 576))
        h263 = await room(rooms, "room-h263", 44, video_codecs=("h263",),
                          audio_codecs=("pcmu",))
        uris = [a.uri, b.uri, high.uri, h263.uri]
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), uris)
        await eventually(lambda: asyncio.to_thread(
            lambda: {s.status for s in site_statuses(soap, conf_id).values()} == {IN_CONFERENCE}
            and len(site_statuses(soap, conf_id)) == 4), "all four in conference")
        assert high.negotiated == {"audio": "G722", "video": "H264"}
        assert h263.negotiated == {"audio": "PCMU", "video": "H263"}
        answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                         target="0", presenceMode=CP_4_1, subPics=uris)
        assert answer == 0
        expected = [41, 42, 43, 44]
        for viewer in (a, b, high, h263):
            viewer.set_panes(panes(CP_4_1))
        for name, viewer in (("A", a), ("B", b), ("SIP H.264", high), ("SIP H.263", h263)):
            await eventually(sees(viewer, expected), f"{name} sees the four markers")
        # everyone hears the three others (N-1 mixes)
        talkers = {41: a, 42: b, 43: high, 44: h263}
        for index, listener in talkers.items():
            others = [other for other in talkers if other != index]
            await eventually(lambda listener=listener, others=others: hears(listener, others),
                             f"site {index} hears {others}")
        # the H.264 site at the booked 4CIF, the H.263 site at 4CIF (its fmtp allows it)
        assert (high.video.last_frame.width, high.video.last_frame.height) == (704, 576)
        assert (h263.video.last_frame.width, h263.video.last_frame.height) == (704, 576)
        # a BYE from the H.263 site: not joined, the others go on
        await h263.hang_up()
        await wait_status(soap, conf_id, h263.uri, NOT_JOINED, "the H.263 site not joined after its BYE")
        assert (await statuses(soap, conf_id))[high.uri].status == IN_CONFERENCE
        # the MCU hangs the H.264 site up: it gets a BYE
        answer = await asyncio.to_thread(soap.conf_mgr.disconnectSitesEx, confId=conf_id,
                                         siteUris=[high.uri])
        assert answer == 0
        await eventually(lambda: high.call is None, "the H.264 site got the MCU's BYE")
    finally:
        for t in (a, b):
            await t.stop()


async def test_dial_in_by_access_code_and_password(gateway_server, soap, clock, rooms):
    caller = await room(rooms, "room-in", 51, video_codecs=("h264-cb",),
                        audio_codecs=("opus",))
    dialled = await room(rooms, "room-out", 52, video_codecs=("vp8",), audio_codecs=("g722",))
    booked_uri = f"sip:room-in@127.0.0.1:{caller.ua.transports.ports['UDP']}"
    conf_id, code = await asyncio.to_thread(
        book, soap, clock.now(), [booked_uri, dialled.uri], password="246810",
        dial_in=frozenset({booked_uri}))
    mcu = f"127.0.0.1:{gateway_server.sip.port}"
    await wait_status(soap, conf_id, dialled.uri, IN_CONFERENCE, "the dial-out site in conference")
    before = status_of(soap, conf_id, booked_uri)
    assert before != IN_CONFERENCE
    with pytest.raises(SipCallFailed) as wrong:
        await caller.dial(f"sip:{code}*111111@{mcu}")
    assert (wrong.value.status, wrong.value.reason) == (403, "Wrong Password")
    with pytest.raises(SipCallFailed) as unknown:
        await caller.dial(f"sip:99999999*246810@{mcu}")
    assert unknown.value.status == 404
    assert status_of(soap, conf_id, booked_uri) == before  # refusals change nothing
    await caller.dial(f"sip:{code}*246810@{mcu}")
    await wait_status(soap, conf_id, booked_uri, IN_CONFERENCE, "the dial-in site in conference")
    assert caller.negotiated == {"audio": "opus", "video": "H264"}
    answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                     target="0", presenceMode=2, subPics=[booked_uri, dialled.uri])
    assert answer == 0
    for viewer in (caller, dialled):
        viewer.set_panes(panes(2))
    for viewer in (caller, dialled):
        await eventually(sees(viewer, [51, 52]), f"{viewer.user} sees both markers")
    await eventually(lambda: hears(caller, [52]), "the caller hears the other")
    await eventually(lambda: hears(dialled, [51]), "the other hears the caller")


async def test_a_site_not_booked_cannot_dial_in(gateway_server, soap, clock, rooms):
    booked = await room(rooms, "room-booked", 53)
    stranger = await room(rooms, "room-stranger", 54)
    conf_id, code = await asyncio.to_thread(book, soap, clock.now(), [booked.uri],
                                            dial_in=frozenset({booked.uri}))
    with pytest.raises(SipCallFailed) as refused:
        await stranger.dial(f"sip:{code}@127.0.0.1:{gateway_server.sip.port}")
    assert (refused.value.status, refused.value.reason) == (403, "Not Booked")
    assert stranger.uri not in site_statuses(soap, conf_id)


async def test_force_encryption_refuses_a_plain_only_site_and_uses_srtp_with_one_that_offers_it(
        gateway_server, soap, clock, rooms):
    plain = await room(rooms, "room-plain", 55, encryption=Encryption.NONE)
    secure = await room(rooms, "room-srtp", 56, encryption=Encryption.AUTO)
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [plain.uri, secure.uri],
                                         encrypt=1)
    await wait_status(soap, conf_id, plain.uri, NOT_JOINED, "the plain-only site not joined")
    status = site_statuses(soap, conf_id)[plain.uri]
    assert status.callFailedReason.errCode == CallFailure.DTLS_FAILED
    await wait_status(soap, conf_id, secure.uri, IN_CONFERENCE, "the SRTP site in conference")
    assert secure.encrypted
    secure.set_panes(None)
    await eventually(lambda: secure.video.frames_decoded > 5, "SRTP video decoded")


async def test_busy_and_codec_mismatch_reasons(gateway_server, soap, clock, rooms):
    busy = await room(rooms, "room-busy", 57, refuse=486)
    # a site with no video and no audio codec the MCU has in common: answered 488 by it
    mismatch = await room(rooms, "room-mismatch", 58, video_codecs=("h264",),
                          audio_codecs=("pcma",))
    mismatch.video_offers = ()
    mismatch.audio_offers = ()
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [busy.uri, mismatch.uri])
    await eventually(lambda: asyncio.to_thread(
        lambda: {s.status for s in site_statuses(soap, conf_id).values()} == {NOT_JOINED}),
        "both not joined")
    reasons = {uri: s.callFailedReason.errCode for uri, s in site_statuses(soap, conf_id).items()}
    assert reasons == {busy.uri: CallFailure.CALLEE_BUSY,
                       mismatch.uri: CallFailure.CODEC_MISMATCH}


async def test_a_number_registered_with_the_mcu_is_called_at_its_contact(
        gateway_server, soap, clock, rooms):
    registered = await room(rooms, "8001", 59)
    mcu = f"127.0.0.1:{gateway_server.sip.port}"
    await registered.register(f"sip:{mcu}", "sip:8001@127.0.0.1")
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), ["8001"])
    await wait_status(soap, conf_id, "8001", IN_CONFERENCE, "the registered number in conference")
    assert registered.calls_answered == 1


async def test_a_dial_in_with_no_common_codec_is_refused_488_and_not_joined(
        gateway_server, soap, clock, rooms):
    caller = await room(rooms, "room-nocodec", 60)
    booked_uri = f"sip:room-nocodec@127.0.0.1:{caller.ua.transports.ports['UDP']}"
    conf_id, code = await asyncio.to_thread(book, soap, clock.now(), [booked_uri],
                                            password="135790", dial_in=frozenset({booked_uri}))
    # an offer whose only codec is one the MCU does not take (H.264 packetization mode 2)
    caller.video_offers = (CodecOffer("H264", {"profile-level-id": "42e01f",
                                               "packetization-mode": "2"}),)
    caller.audio_offers = ()
    with pytest.raises(SipCallFailed) as refused:
        await caller.dial(f"sip:{code}*135790@127.0.0.1:{gateway_server.sip.port}")
    assert refused.value.status == 488
    await wait_status(soap, conf_id, booked_uri, NOT_JOINED, "the caller not joined")
    status = site_statuses(soap, conf_id)[booked_uri]
    assert status.callFailedReason.errCode == CallFailure.CODEC_MISMATCH


async def test_the_password_keyed_by_dtmf_after_the_answer(gateway_server, soap, clock, rooms):
    right = await room(rooms, "room-dtmf", 45, audio_codecs=("pcmu",))
    wrong = await room(rooms, "room-dtmf-wrong", 46, audio_codecs=("g722",))
    uris = [f"sip:{r.user}@127.0.0.1:{r.ua.transports.ports['UDP']}" for r in (right, wrong)]
    conf_id, code = await asyncio.to_thread(book, soap, clock.now(), uris, password="864200",
                                            dial_in=frozenset(uris))
    mcu = f"127.0.0.1:{gateway_server.sip.port}"
    await right.dial(f"sip:{code}@{mcu}")  # answered: the password is keyed next
    await asyncio.sleep(1.0)
    assert status_of(soap, conf_id, uris[0]) == CALLING  # not in the conference before it
    await right.send_digits("864200#")
    await wait_status(soap, conf_id, uris[0], IN_CONFERENCE, "in conference after the password")
    await wrong.dial(f"sip:{code}@{mcu}")
    await wrong.send_digits("111111#")
    await wait_status(soap, conf_id, uris[1], NOT_JOINED, "not joined after a wrong password")
    status = site_statuses(soap, conf_id)[uris[1]]
    assert status.callFailedReason.errCode == CallFailure.CALLEE_REJECTED
    await eventually(lambda: wrong.call is None, "the wrong one got the MCU's BYE")
    assert status_of(soap, conf_id, uris[0]) == IN_CONFERENCE


async def test_the_booked_video_protocol_is_the_one_negotiated_or_the_call_fails(
        gateway_server, soap, clock, rooms):
    both = await room(rooms, "room-h264-h263", 47, video_codecs=("h264", "h263"))
    only_h264 = await room(rooms, "room-only-h264", 48, video_codecs=("h264",))
    uris = [both.uri, only_h264.uri]
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), uris, protocols={
        both.uri: 2, only_h264.uri: 1})  # H.263, H.261
    await wait_status(soap, conf_id, both.uri, IN_CONFERENCE, "the H.263 booking joined")
    assert both.negotiated["video"] == "H263"  # not its preferred H.264
    both.set_panes(None)
    await eventually(lambda: both.video.frames_decoded > 5, "H.263 video decoded")
    await wait_status(soap, conf_id, only_h264.uri, NOT_JOINED, "the H.261 booking refused")
    status = site_statuses(soap, conf_id)[only_h264.uri]
    assert status.callFailedReason.errCode == CallFailure.CODEC_MISMATCH
    # it answered audio only (video declined, port 0): the MCU hung up with BYE
    await eventually(lambda: only_h264.call is None, "the audio-only answer hung up")
