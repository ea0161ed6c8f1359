"""Content and its floor for SIP room systems (docs/sip.md, "Content and BFCP for SIP sites"),
from the outside: the MCU running in this process, conferences booked and driven over SOAP
(zeep from the reference WSDL), SIP room systems (terminals/sip_room.py: our sip/ + rtp/ +
rtc/bfcp) with a content m-line and a BFCP m-line, next to a WebRTC simulated terminal.

- a SIP room asks for the floor over the BFCP connection its SDP negotiated (RFC 8856), is
  granted, and a WebRTC site and another SIP site decode its pages (site, document, page read
  from the content marker of the decoded pictures), while a SIP room without a content m-line
  sees them in its main picture (content large, the speaker small, as a WebRTC site without
  a second stream); its release frees the floor and its content stops;
- a WebRTC site holding the floor: the SIP rooms decode its content; setAuxStreamEx (SOAP)
  grants a SIP room (told over BFCP, its pages replace the WebRTC site's at the others, the
  WebRTC site revoked), setAuxStreamEx off releases it (told RELEASED, it stops sending);
- bad BFCP input from a SIP site (malformed, wrong confid, wrong userid) is answered with the
  BFCP Error primitive and changes nothing: the floor stays free, the room's own requests
  still work;
- a dial-in whose BFCP lines the MCU refuses is answered 488 with the reason, the site not
  joined with 131088, nothing else changed; the same room with good lines joins and shares.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest

from mcu.calls import CallFailure
from mcu.media.pictures import CONTENT_WITH_SPEAKER
from rtc.bfcp import messages
from rtc.bfcp.codec import Message, encode
from rtc.bfcp.tables import ErrorCode, Primitive, RequestStatus
from rtp import sdp
from rtp.content_negotiation import bfcp_index
from sip.errors import SipCallFailed
from terminals.client import SimulatedTerminal
from terminals.documents import DocumentKind
from terminals.marker import read_content_marker
from terminals.media_sources import VideoFormat
from terminals.sip_room import SipRoom
from tests.test_content_floor import error_code, raw_exchange
from tests.test_sip_endpoint import (
    IN_CONFERENCE,
    NOT_JOINED,
    book,
    eventually,
    site_statuses,
    wait_status,
    ws_url,
)

SMALL = VideoFormat(320, 180, 10, 300_000)
CONTENT_SIZE = (640, 360)


def webrtc(uri: str, index: int) -> SimulatedTerminal:
    return SimulatedTerminal(
        uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1, video_format=SMALL,
        loop_frames=30, analyse_every=1 << 30, decode_video=False, decode_audio=False,
        content="record", content_size=CONTENT_SIZE)


def sip_room(user: str, index: int, **content) -> SipRoom:
    return SipRoom(user, index, video_codecs=("h264",), audio_codecs=("pcmu",),
                   video_size=(320, 240), fps=10, video_bitrate=200_000,
                   content_size=CONTENT_SIZE, **content)


@pytest.fixture
async def made() -> AsyncIterator[list]:
    """Rooms and terminals a test makes, closed at the end."""
    things: list = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, SipRoom):
            await thing.close()
        else:
            await thing.stop()


async def start_room(made: list, room: SipRoom) -> SipRoom:
    await room.start()
    made.append(room)
    return room


def presentation(soap, conf_id: str) -> str | None:
    answer = soap.conf_mgr.queryConferencesStatusEx(confIds=[conf_id])
    return answer["conferenceStatuses"][0].presentation


async def wait_presentation(soap, conf_id: str, holder: str | None, what: str) -> None:
    await eventually(lambda: asyncio.to_thread(lambda: presentation(soap, conf_id) == holder),
                     what)


def shows(viewer, site_index: int, kind: DocumentKind):
    """The viewer's latest content picture carries `site_index`'s marker on a `kind` page."""
    async def check() -> bool:
        status = await viewer.read_content()
        return status.site_index == site_index and status.kind is kind
    return check


async def conference(gateway_server, soap, clock, made, *, plain_room: bool = False):
    """A conference of a SIP room with a content input and a second screen (S1), a SIP room
    that only shows content (S2) and a WebRTC terminal with a content input (W), all
    dialled out and in conference with their floor connections up; with `plain_room`, also
    a SIP room without content m-line (S3) as the fourth site."""
    s1 = await start_room(made, sip_room("room-share", 31, content="radiograph",
                                         receive_content=True))
    s2 = await start_room(made, sip_room("room-view", 32, receive_content=True))
    w = webrtc("01770033", 33)
    await w.start(ws_url(gateway_server.base_url))
    made.append(w)
    uris = [s1.uri, s2.uri, w.uri]
    if plain_room:
        uris.append((await start_room(made, sip_room("room-plain", 35))).uri)
    conf_id, code = await asyncio.to_thread(book, soap, clock.now(), uris)
    await eventually(lambda: asyncio.to_thread(
        lambda: {s.status for s in site_statuses(soap, conf_id).values()} == {IN_CONFERENCE}
        and len(site_statuses(soap, conf_id)) == len(uris)), "all in conference")
    await eventually(lambda: s1.floor_connected and s2.floor_connected and w.floor is not None,
                     "every site's BFCP connection")
    assert s1.negotiated["content"] == "H264" and s2.negotiated["content"] == "H264"
    return conf_id, s1, s2, w


async def test_a_sip_room_shares_by_bfcp_and_every_site_decodes_its_pages(
        gateway_server, soap, clock, made):
    conf_id, s1, s2, w = await conference(gateway_server, soap, clock, made, plain_room=True)
    s3 = made[-1]
    assert "content" not in s3.negotiated  # no content m-line: one video stream
    assert await asyncio.to_thread(presentation, soap, conf_id) is None
    assert not s1.sending_content
    # S1 presses "share": BFCP FloorRequest on the connection its SDP negotiated
    assert await s1.request_floor() is RequestStatus.GRANTED
    assert s1.holds_floor
    await wait_presentation(soap, conf_id, s1.uri, "S1 the presentation holder")
    assert s1.sending_content
    # the WebRTC site and the other SIP room decode S1's pages (the radiograph first)
    await eventually(shows(w, 31, DocumentKind.RADIOGRAPH), "W decodes S1's radiograph page")
    await eventually(shows(s2, 31, DocumentKind.RADIOGRAPH), "S2 decodes S1's radiograph page")
    content_pane = CONTENT_WITH_SPEAKER.panes[0]

    def s3_sees_content() -> bool:
        frame = s3.video.last_frame
        reading = read_content_marker(frame, content_pane) if frame is not None else None
        return reading is not None and (reading.site_index, reading.kind) == (
            31, DocumentKind.RADIOGRAPH)

    await eventually(s3_sees_content, "S3 sees S1's page in its main picture")
    site_mgr = soap.site_mgr
    await eventually(lambda: asyncio.to_thread(
        lambda: site_mgr.isSendAuxStreamEx(siteUri=s1.uri).result == 1), "isSendAuxStreamEx S1")
    await eventually(lambda: asyncio.to_thread(
        lambda: site_mgr.isReceiveRemAuxStrmEx(siteUri=s2.uri).result == 1),
        "isReceiveRemAuxStrmEx S2")
    # S1 stops sharing: the floor is free, its content stops reaching the others
    assert await s1.release_floor() is RequestStatus.RELEASED
    assert not s1.holds_floor and not s1.sending_content
    await wait_presentation(soap, conf_id, None, "the floor free")
    await eventually(lambda: not s2.content.receiver.receiving(1.0)
                     and not w.content.receiving(1.0), "no content after the release")


async def test_a_webrtc_holder_reaches_sip_rooms_and_soap_grants_and_releases_a_room(
        gateway_server, soap, clock, made):
    conf_id, s1, s2, w = await conference(gateway_server, soap, clock, made)
    assert await w.request_floor() is RequestStatus.GRANTED
    await wait_presentation(soap, conf_id, w.uri, "W the presentation holder")
    for room, name in ((s1, "S1"), (s2, "S2")):
        await eventually(shows(room, 33, DocumentKind.RECORD), f"{name} decodes W's page")
    # the chair (setAuxStreamEx on) gives the floor to S1: told over BFCP, W revoked
    site_mgr = soap.site_mgr
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=s1.uri, controlCode=0) == 0
    await eventually(lambda: s1.holds_floor, "S1 granted over BFCP")
    await eventually(lambda: not w.holds_floor, "W revoked")
    assert w.floor.last_status is RequestStatus.REVOKED
    await wait_presentation(soap, conf_id, s1.uri, "S1 the holder")
    await eventually(shows(s2, 31, DocumentKind.RADIOGRAPH), "S2 decodes S1's page")
    await eventually(shows(w, 31, DocumentKind.RADIOGRAPH), "W decodes S1's page")
    # setAuxStreamEx off: S1 told RELEASED, it stops sending, the floor is free
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=s1.uri, controlCode=1) == 0
    await eventually(lambda: not s1.holds_floor, "S1 released")
    assert s1.content_call.floor.last_status is RequestStatus.RELEASED
    assert not s1.sending_content
    await wait_presentation(soap, conf_id, None, "the floor free")
    await eventually(lambda: not s2.content.receiver.receiving(1.0), "S2 gets no content")


async def test_bad_bfcp_input_from_a_sip_site_is_answered_with_error_and_changes_nothing(
        gateway_server, soap, clock, made):
    conf_id, s1, s2, _ = await conference(gateway_server, soap, clock, made)
    floor = s1.content_call.floor.params  # what S1's SDP negotiated
    address = gateway_server.gateway.runtime.content.bfcp_address
    assert (floor.host, floor.port) == (address.host, address.port)
    # malformed: a FloorRequest whose FLOOR-ID attribute runs past the message
    malformed = bytes([1 << 5, Primitive.FLOOR_REQUEST]) + struct.pack(
        "!HIHH", 1, floor.confid, 9, floor.userid) + bytes([2 << 1 | 1, 0xFF, 0, 0])
    assert error_code(await raw_exchange(address, malformed)) == ErrorCode.UNABLE_TO_PARSE_MESSAGE
    request = messages.floor_request(0, 0, 0, floor.floorid).attributes
    wrong_conference = encode(Message(Primitive.FLOOR_REQUEST, floor.confid + 1000, 9,
                                      floor.userid, request))
    assert error_code(await raw_exchange(address, wrong_conference)) == (
        ErrorCode.CONFERENCE_DOES_NOT_EXIST)
    wrong_user = encode(Message(Primitive.FLOOR_REQUEST, floor.confid, 9, 999, request))
    assert error_code(await raw_exchange(address, wrong_user)) == ErrorCode.USER_DOES_NOT_EXIST
    # nothing changed: the floor is free, nobody was told anything
    assert await asyncio.to_thread(presentation, soap, conf_id) is None
    assert not s1.holds_floor and not s2.holds_floor
    assert s1.content_call.floor.statuses == [] and s2.content_call.floor.statuses == []
    # and the room's own floor connection still works
    assert await s1.request_floor() is RequestStatus.GRANTED
    await wait_presentation(soap, conf_id, s1.uri, "S1 the holder")


def with_bfcp_lines(room: SipRoom, ports: dict[str, int], content_port: int,
                    change: dict[str, str], proto: str | None = None) -> bytes:
    """The room's offer with attributes of its BFCP m-line replaced (name -> new value)."""
    offer = room.offer_of(ports, content_port)
    media = offer.media[bfcp_index(offer)]
    if proto is not None:
        media.proto = proto
    media.other = [f"{name}:{change[name]}" if name in change else attribute
                   for attribute in media.other
                   for name in [attribute.partition(":")[0]]]
    return sdp.serialize(offer).encode()


REFUSED_LINES = [
    ({"floorctrl": "s-only"}, None, "only be the floor control server"),
    ({"setup": "passive"}, None, "will not open the BFCP connection"),
    ({"bfcpver": "2"}, None, "version 1"),
    ({"floorctrl": "c-only x-only"}, None, "floorctrl"),
    ({}, "UDP/BFCP", "UDP/BFCP is not supported"),
]


async def test_dial_ins_with_bfcp_lines_the_mcu_refuses_get_488_with_the_reason(
        gateway_server, soap, clock, made):
    room = await start_room(made, sip_room("room-in", 34, content="radiograph",
                                           receive_content=True))
    booked = f"sip:room-in@127.0.0.1:{room.ua.transports.ports['UDP']}"
    conf_id, code = await asyncio.to_thread(book, soap, clock.now(), [booked],
                                            password="246810", dial_in=frozenset({booked}))
    mcu = f"sip:{code}*246810@127.0.0.1:{gateway_server.sip.port}"  # the password in the URI
    for change, proto, why in REFUSED_LINES:
        body = with_bfcp_lines(room, {"audio": 40000, "video": 40002}, 40004, change, proto)
        with pytest.raises(SipCallFailed) as refused:
            await room.ua.invite(mcu, body)
        assert refused.value.status == 488, why
        assert refused.value.reason.startswith("Not Acceptable Here: BFCP: ")
        assert why in refused.value.reason
        await wait_status(soap, conf_id, booked, NOT_JOINED, "the refused site not joined")
        status = (await asyncio.to_thread(site_statuses, soap, conf_id))[booked]
        assert status.callFailedReason.errCode == CallFailure.CODEC_MISMATCH
        assert await asyncio.to_thread(presentation, soap, conf_id) is None
    # the same room with its own lines joins, negotiates its floor and may share
    await room.dial(mcu)
    await wait_status(soap, conf_id, booked, IN_CONFERENCE, "the room in conference")
    await eventually(lambda: room.floor_connected, "the room's BFCP connection")
    assert await room.request_floor() is RequestStatus.GRANTED
    await wait_presentation(soap, conf_id, booked, "the dialled-in room the holder")
