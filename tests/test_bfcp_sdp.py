"""RFC 8856 SDP for BFCP streams and the content m-line (rtp/bfcp_sdp.py,
rtp/content_negotiation.py), without a network:

- the example of RFC 8856 section 14 (the offerer the floor control server over TCP/TLS,
  floors 1 and 2 governing the streams labelled 10 and 11, and the answer of a client) and
  RFC 4583's form of it (`m-stream:`) parse to the values the RFCs describe and are written
  back line for line;
- every attribute's grammar refused with a message naming it (table below);
- the offer/answer rules of the MCU as floor control server (s-only, setup passive, its
  confid/userid, floorid naming its content label) against clients offering c-only, c-s or
  nothing; what it refuses (UDP, TLS mismatch, s-only, setup passive/holdconn, bfcpver 2);
- both directions between a server and a client of ours: the client learns where to connect
  and with which ids; content directions; an unmarked second video m-line declined.
"""

from __future__ import annotations

import pytest

from mcu.model import MediaEncryptType
from rtp import sdp
from rtp.bfcp_sdp import (
    BfcpSdpError,
    FloorStream,
    content_tags,
    label_of,
    parse_stream,
    stream_media,
)
from rtp.content_negotiation import (
    DEFAULT_CONTENT_VIDEO,
    ServerFloor,
    accept_call,
    answer_call,
    answer_direction,
    bfcp_index,
    content_index,
    offer_call,
)
from rtp.content_reoffer import keep_content_lines, main_part, masked, reanswer_content
from rtp.encryption_policy import SdesRule
from rtp.negotiation import NegotiationError, answer, offer
from rtp.reoffer import next_offer

# the MCU's SDES rule (rtp/encryption_policy.py) under each booked mediaEncryptType
AUTO, NONE = SdesRule(MediaEncryptType.AUTO), SdesRule(MediaEncryptType.NONE)

HEAD = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"

# RFC 8856 section 14: the offerer is the floor control server (s-only, passive), floors 1
# and 2 govern the audio (label 10) and video (label 11) streams; the answerer a client
RFC8856_OFFER_BFCP = [
    "m=application 50000 TCP/TLS/BFCP *",
    "a=setup:passive",
    "a=connection:new",
    "a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:"
    "BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2",
    "a=floorctrl:s-only",
    "a=confid:4321",
    "a=userid:1234",
    "a=floorid:1 mstrm:10",
    "a=floorid:2 mstrm:11",
    "a=bfcpver:1",
]
RFC8856_MEDIA = ["m=audio 50002 RTP/AVP 0", "a=label:10", "m=video 50004 RTP/AVP 31",
                 "a=label:11"]
RFC8856_ANSWER_BFCP = [
    "m=application 9 TCP/TLS/BFCP *",
    "a=setup:active",
    "a=connection:new",
    "a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:"
    "DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
    "a=floorctrl:c-only",
    "a=bfcpver:1",
]


def session(*lines: str) -> sdp.SessionDescription:
    return sdp.parse(HEAD + "\r\n".join(lines) + "\r\n")


def bfcp_of(text: sdp.SessionDescription):
    index = bfcp_index(text)
    assert index is not None
    return parse_stream(text.media[index])


def test_rfc_8856_example_offer_reads_as_the_rfc_describes():
    offer = session(*RFC8856_OFFER_BFCP, *RFC8856_MEDIA)
    stream = bfcp_of(offer)
    assert (stream.port, stream.proto, stream.tls) == (50000, "TCP/TLS/BFCP", True)
    assert stream.roles == ("s-only",)
    assert (stream.confid, stream.userid) == (4321, 1234)
    assert stream.floors == (FloorStream(1, ("10",)), FloorStream(2, ("11",)))
    assert (stream.setup, stream.connection, stream.versions) == ("passive", "new", (1,))
    assert stream.extra[0].startswith("fingerprint:sha-256 19:E2")
    assert [label_of(m) for m in offer.media] == [None, "10", "11"]


def test_rfc_8856_example_answer_reads_as_the_rfc_describes():
    answer = session(*RFC8856_ANSWER_BFCP, "m=audio 55000 RTP/AVP 0", "m=video 55002 RTP/AVP 31")
    stream = bfcp_of(answer)
    assert (stream.port, stream.roles, stream.setup, stream.connection) == (
        9, ("c-only",), "active", "new")
    assert (stream.confid, stream.userid, stream.floors, stream.versions) == (None, None, (), (1,))


@pytest.mark.parametrize("lines", [RFC8856_OFFER_BFCP, RFC8856_ANSWER_BFCP])
def test_rfc_8856_examples_are_written_back_line_for_line(lines):
    stream = bfcp_of(session(*lines))
    written = sdp.serialize(sdp.SessionDescription("x 1 1 IN IP4 192.0.2.1", "192.0.2.1",
                                                   [stream_media(stream)]))
    body = [line for line in written.split("\r\n")[5:] if line and line != "a=sendrecv"]
    # our writer puts the attributes in the table's order, the others (fingerprint) last
    assert sorted(body) == sorted(lines)
    assert parse_stream(stream_media(stream)) == stream


def test_rfc_4583_m_stream_form_is_read():
    stream = bfcp_of(session("m=application 50000 TCP/BFCP *", "a=setup:passive",
                             "a=connection:new", "a=floorctrl:s-only", "a=confid:4321",
                             "a=userid:1234", "a=floorid:1 m-stream:10",
                             "a=floorid:2 m-stream:11", *RFC8856_MEDIA))
    assert stream.floors == (FloorStream(1, ("10",)), FloorStream(2, ("11",)))
    assert stream.effective_versions == (1,)  # no a=bfcpver over TCP: version 1


BAD_LINES = [
    (["a=floorctrl:x-only"], "floorctrl"),
    (["a=floorctrl:c-only c-only"], "twice"),
    (["a=floorctrl:c-only", "a=floorctrl:c-s"], "appears twice"),
    (["a=floorctrl"], "no value"),
    (["a=confid:0"], "confid"),
    (["a=confid:abc"], "confid"),
    (["a=confid:4294967296"], "confid"),
    (["a=userid:65536"], "userid"),
    (["a=userid:-1"], "userid"),
    (["a=floorid:x mstrm:10"], "floorid"),
    (["a=floorid:1 stream:10"], "mstrm"),
    (["a=floorid:1 mstrm:"], "label"),
    (["a=floorid:1 mstrm:10", "a=floorid:1 mstrm:11"], "same floor twice"),
    (["a=setup:sometimes"], "setup"),
    (["a=setup:active passive"], "one value"),
    (["a=connection:maybe"], "connection"),
    (["a=bfcpver:9"], "bfcpver"),
    (["a=bfcpver:1 1"], "twice"),
]


@pytest.mark.parametrize(("lines", "named"), BAD_LINES)
def test_malformed_attributes_are_refused_naming_the_attribute(lines, named):
    offer = session("m=application 50000 TCP/BFCP *", *lines, *RFC8856_MEDIA)
    with pytest.raises(BfcpSdpError, match=named):
        bfcp_of(offer)


def test_format_must_be_a_star():
    with pytest.raises(BfcpSdpError, match="format"):
        parse_stream(session("m=application 50000 TCP/BFCP 1").media[0])


# ------------------------------------------------------------------ the MCU as server

SERVER = ServerFloor("192.0.2.9", 6000, tls=False, confid=77, userid=3, floor_id=1)


def client_offer(*bfcp_lines: str, proto: str = "TCP/BFCP", content: bool = True) -> str:
    lines = [
        "m=audio 40000 RTP/AVP 0",
        "m=video 40002 RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1",
        "m=video 40004 RTP/AVP 96",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1",
        *(["a=content:slides", "a=label:12"] if content else []),
        f"m=application 40006 {proto} *",
        *bfcp_lines,
    ]
    return HEAD + "\r\n".join(lines) + "\r\n"


def mcu_answers(text: str):
    return answer_call(sdp.parse(text), "192.0.2.9", {"audio": 5000, "video": 5002}, 5004,
                       NONE, content_video=DEFAULT_CONTENT_VIDEO, server=SERVER)


@pytest.mark.parametrize("roles", [["a=floorctrl:c-only"], ["a=floorctrl:c-s"],
                                   ["a=floorctrl:c-only s-only"], []])
def test_the_mcu_answers_a_client_as_floor_control_server(roles):
    reply, settled = mcu_answers(client_offer(*roles, "a=setup:active", "a=connection:new",
                                              "a=bfcpver:1 2"))
    assert settled.floor_agreed and settled.content is not None
    assert settled.content.codec.name == "H264"
    stream = bfcp_of(reply)
    assert (stream.port, stream.proto, stream.roles) == (6000, "TCP/BFCP", ("s-only",))
    assert (stream.confid, stream.userid, stream.setup, stream.connection, stream.versions) == (
        77, 3, "passive", "new", (1,))
    # the floor governs our content m-line, labelled as the site labelled its own
    content = reply.media[content_index(reply)]
    assert content_tags(content) == ("slides",) and label_of(content) == "12"
    assert stream.floors == (FloorStream(1, ("12",)),)
    assert [m.port for m in reply.media] == [5000, 5002, 5004, 6000]


REFUSED = [
    (client_offer("a=floorctrl:s-only", "a=setup:active"), "only be the floor control server"),
    (client_offer("a=floorctrl:c-only", "a=setup:passive"), "will not open"),
    (client_offer("a=floorctrl:c-only", "a=setup:holdconn"), "will not open"),
    (client_offer("a=floorctrl:c-only", "a=bfcpver:2"), "version 1"),
    (client_offer("a=floorctrl:c-only", proto="UDP/BFCP"), "UDP/BFCP is not supported"),
    (client_offer("a=floorctrl:c-only", proto="TCP/TLS/BFCP"), "the MCU's floor control server is TCP/BFCP"),
    (client_offer("a=floorctrl:c-only", "a=floorid:1 mstrm:99"), "names no m-line"),
    (client_offer("a=confid:seven"), "confid"),
]


@pytest.mark.parametrize(("text", "why"), REFUSED)
def test_what_the_mcu_refuses_is_named(text, why):
    with pytest.raises(BfcpSdpError, match=why):
        mcu_answers(text)


def test_bfcp_without_a_content_stream_is_declined_not_refused():
    reply, settled = mcu_answers(client_offer("a=floorctrl:c-only", content=False))
    assert not settled.floor_agreed and settled.content is None
    assert reply.media[bfcp_index(reply)].port == 0
    # the unmarked second video m-line is not content: declined, the main video kept
    assert [m.port for m in reply.media] == [5000, 5002, 0, 0]


def test_server_and_client_agree_either_way():
    host = "192.0.2.9"
    # the MCU offers (dial-out), a room answers as client
    mcu_offer = offer_call(host, {"audio": 5000, "video": 5002}, 5004, AUTO,
                           server=SERVER)
    text = sdp.serialize(mcu_offer)
    assert "a=floorctrl:s-only" in text and "a=floorid:1 mstrm:content" in text
    room_reply, room = answer_call(sdp.parse(text), "192.0.2.20",
                                   {"audio": 7000, "video": 7002}, 7004, AUTO,
                                   client=True, content_direction="sendrecv")
    assert room.client_floor is not None
    assert (room.client_floor.host, room.client_floor.port, room.client_floor.confid,
            room.client_floor.userid, room.client_floor.label) == (host, 6000, 77, 3, "content")
    mcu = accept_call(mcu_offer, sdp.parse(sdp.serialize(room_reply)), AUTO)
    assert mcu.floor_agreed and mcu.content is not None and mcu.content.encrypted
    assert [plan.kind for plan in mcu.plans] == ["audio", "video"]
    # a room offers (dial-in) as client, receive only; the MCU answers as server
    room_offer = offer_call("192.0.2.20", {"audio": 7000, "video": 7002}, 7004,
                            AUTO, client_proto="TCP/BFCP",
                            content_direction="recvonly")
    reply, settled = answer_call(sdp.parse(sdp.serialize(room_offer)), host,
                                 {"audio": 5000, "video": 5002}, 5004, AUTO,
                                 server=SERVER)
    assert settled.floor_agreed and settled.content is not None
    assert settled.content.direction == "sendonly"  # the MCU sends content, never receives
    back = accept_call(room_offer, sdp.parse(sdp.serialize(reply)), AUTO)
    assert back.client_floor is not None and back.client_floor.port == 6000
    assert back.content is not None and back.content.direction == "recvonly"


def test_a_site_answering_as_server_fails_the_mcus_offer():
    mcu_offer = offer_call("192.0.2.9", {"audio": 5000, "video": 5002}, 5004, NONE,
                           server=SERVER)
    room_reply, _ = answer_call(sdp.parse(sdp.serialize(mcu_offer)), "192.0.2.20",
                                {"audio": 7000, "video": 7002}, 7004, NONE,
                                client=True)
    bfcp = room_reply.media[bfcp_index(room_reply)]
    bfcp.other = [a.replace("c-only", "s-only") for a in bfcp.other]
    with pytest.raises(BfcpSdpError, match="only be the floor control server"):
        accept_call(mcu_offer, sdp.parse(sdp.serialize(room_reply)), NONE)


@pytest.mark.parametrize(("offered", "ours", "answered"), [
    ("sendrecv", "sendrecv", "sendrecv"), ("sendrecv", "recvonly", "recvonly"),
    ("sendonly", "sendrecv", "recvonly"), ("recvonly", "recvonly", "inactive"),
    ("inactive", "sendrecv", "inactive"), ("recvonly", "sendrecv", "sendonly"),
])
def test_content_direction_of_the_answer(offered, ours, answered):
    assert answer_direction(offered, ours) == answered


def _room_reoffer(room_sdp: sdp.SessionDescription, port_change: int = 0
                  ) -> sdp.SessionDescription:
    """The room's re-offer: audio and video afresh, its content and BFCP m-lines kept."""
    fresh = offer("192.0.2.20", {"audio": 7000 + port_change, "video": 7002}, AUTO)
    return keep_content_lines(room_sdp, next_offer(main_part(room_sdp), fresh))


def _reanswer(site_offer: sdp.SessionDescription, settled) -> sdp.SessionDescription:
    reply, _ = answer(masked(site_offer), "192.0.2.9", {"audio": 5000, "video": 5002}, AUTO)
    reanswer_content(site_offer, reply, settled, "192.0.2.9", 5004, AUTO, server=SERVER)
    return reply


def test_a_reoffer_keeping_content_and_bfcp_is_answered_with_them_unchanged():
    room_offer = offer_call("192.0.2.20", {"audio": 7000, "video": 7002}, 7004, AUTO,
                            client_proto="TCP/BFCP")
    room_sdp = sdp.parse(sdp.serialize(room_offer))
    first, settled = answer_call(room_sdp, "192.0.2.9", {"audio": 5000, "video": 5002}, 5004,
                                 AUTO, server=SERVER)
    again = _room_reoffer(room_sdp, port_change=10)  # its audio moved: a change it may make
    assert [m.kind for m in again.media] == ["audio", "video", "video", "application"]
    assert again.media[2] == room_sdp.media[2] and again.media[3] == room_sdp.media[3]
    assert again.media[1].crypto == room_sdp.media[1].crypto  # the main video's key kept
    reply = _reanswer(sdp.parse(sdp.serialize(again)), settled)
    # our content m-line: the same key as in the first answer; the same BFCP server values
    assert reply.media[2].crypto == first.media[2].crypto and reply.media[2].port == 5004
    assert "content:slides" in reply.media[2].other
    stream = parse_stream(reply.media[3])
    assert (stream.port, stream.confid, stream.userid) == (6000, 77, 3)
    assert reply.media[0].port == 5000


@pytest.mark.parametrize(("change", "why"), [
    ("content port 0", "drops the call's content stream"),
    ("content moved", "changes the content stream"),
    ("bfcp port 0", "removes the call's BFCP stream"),
    ("bfcp removed", "removes the call's BFCP stream"),
    ("bfcp server", "can only be the floor control server"),
])
def test_a_reoffer_removing_or_changing_content_or_bfcp_is_refused(change, why):
    room_offer = offer_call("192.0.2.20", {"audio": 7000, "video": 7002}, 7004, AUTO,
                            client_proto="TCP/BFCP")
    room_sdp = sdp.parse(sdp.serialize(room_offer))
    _, settled = answer_call(room_sdp, "192.0.2.9", {"audio": 5000, "video": 5002}, 5004,
                             AUTO, server=SERVER)
    again = sdp.parse(sdp.serialize(_room_reoffer(room_sdp)))
    if change == "content port 0":
        again.media[2].port = 0
    elif change == "content moved":
        again.media[2].port = 7010
    elif change == "bfcp port 0":
        again.media[3].port = 0
    elif change == "bfcp removed":
        del again.media[3]
    else:
        again.media[3].other = [a.replace("floorctrl:c-only", "floorctrl:s-only")
                                for a in again.media[3].other]
    with pytest.raises((NegotiationError, BfcpSdpError)) as refused:
        _reanswer(again, settled)
    assert why in str(refused.value)


def test_a_reoffer_adding_content_to_a_call_without_it_is_refused():
    plain = offer("192.0.2.20", {"audio": 7000, "video": 7002}, AUTO)
    plain_sdp = sdp.parse(sdp.serialize(plain))
    _, settled = answer_call(plain_sdp, "192.0.2.9", {"audio": 5000, "video": 5002}, 5004,
                             AUTO, server=SERVER)
    assert settled.content is None
    with_content = offer_call("192.0.2.20", {"audio": 7000, "video": 7002}, 7004, AUTO,
                              client_proto="TCP/BFCP")
    with pytest.raises(NegotiationError) as refused:
        _reanswer(sdp.parse(sdp.serialize(with_content)), settled)
    assert refused.value.reason == "content-change"
    # the same call's re-offer without content is answered (nothing to keep)
    reply = _reanswer(plain_sdp, settled)
    assert [m.port for m in reply.media] == [5000, 5002]
