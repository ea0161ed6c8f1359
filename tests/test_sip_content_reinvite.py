"""Re-INVITEs from a SIP site that has the content and BFCP m-lines (docs/sip.md, "Content
and BFCP for SIP sites", re-INVITEs; rtp/content_reoffer.py), from the outside: the MCU in
this process, a conference booked over SOAP (zeep from the reference WSDL) with two SIP room
systems (terminals/sip_room.py) dialled out, one sharing by BFCP, the other decoding its pages
(site, document read from the content marker).

- the sharing room holds and resumes its audio and video by re-INVITE (its content and BFCP
  m-lines offered again as they were): both are accepted, the MCU's answer keeps its content
  m-line (a=content:slides, the same key) and its BFCP m-line (the same confid/userid), and
  the other room keeps decoding the sharer's pages, which still holds the floor and can
  release it over the same BFCP connection;
- re-offers that remove the content stream (port 0), remove the BFCP stream (port 0) or change
  the content stream (another port) are answered 488, and nothing changes: the pages still
  reach the other room, the codecs stay as they were and the floor is still held.
"""

from __future__ import annotations

import pytest

from rtc.bfcp.tables import RequestStatus
from rtp import sdp
from rtp.bfcp_sdp import parse_stream
from rtp.content_negotiation import bfcp_index, content_index
from rtp.reoffer import next_origin
from sip.errors import SipCallFailed
from terminals.documents import DocumentKind
from tests.test_sip_content import conference, made, shows, wait_presentation  # noqa: F401
from tests.test_sip_endpoint import eventually


def content_lines(body: bytes) -> tuple[sdp.MediaDescription, sdp.MediaDescription]:
    session = sdp.parse(body.decode())
    content_at, bfcp_at = content_index(session), bfcp_index(session)
    assert content_at is not None and bfcp_at is not None
    return session.media[content_at], session.media[bfcp_at]


async def pages_keep_coming(viewer, sharer_index: int) -> None:
    """The viewer decodes new pictures of the sharer's pages."""
    receiver = viewer.content.receiver
    before = receiver.frames_decoded
    await eventually(lambda: receiver.frames_decoded > before + 3, "new content pictures")
    await eventually(shows(viewer, sharer_index, DocumentKind.RADIOGRAPH),
                     "the sharer's page decoded")


def changed(room, change) -> bytes:
    """The room's last SDP, its version incremented and `change` applied to it."""
    call = room.call
    assert call is not None and call.dialog is not None
    session = sdp.parse(call.dialog.local_sdp.decode())
    session.origin = next_origin(session.origin, True)
    change(session)
    return sdp.serialize(session).encode()


def content_port_zero(session: sdp.SessionDescription) -> None:
    at = content_index(session)
    assert at is not None
    session.media[at].port = 0


def bfcp_port_zero(session: sdp.SessionDescription) -> None:
    at = bfcp_index(session)
    assert at is not None
    session.media[at].port = 0


def content_port_moved(session: sdp.SessionDescription) -> None:
    at = content_index(session)
    assert at is not None
    session.media[at].port += 2


async def test_hold_and_resume_keep_the_content_and_changes_to_it_get_488(
        gateway_server, soap, clock, made):  # noqa: F811
    conf_id, s1, s2, w = await conference(gateway_server, soap, clock, made)
    assert await s1.request_floor() is RequestStatus.GRANTED
    await wait_presentation(soap, conf_id, s1.uri, "S1 the presentation holder")
    await eventually(shows(s2, 31, DocumentKind.RADIOGRAPH), "S2 decodes S1's page")
    first_content, first_bfcp = content_lines(s1.call.dialog.remote_sdp)
    first_stream = parse_stream(first_bfcp)
    negotiated = dict(s1.negotiated)

    # hold: audio and video a=sendonly, content and BFCP offered again as they were
    held = await s1.reinvite(direction="sendonly")
    assert held.count(b"a=recvonly") == 2
    content, bfcp = content_lines(held)
    in_use = s1.call.content.plan  # the room's content session (the MCU's key is its remote)
    assert content.port == first_content.port and content.crypto == [in_use.remote_crypto]
    assert content.direction == first_content.direction
    stream = parse_stream(bfcp)
    assert (stream.port, stream.confid, stream.userid) == (
        first_stream.port, first_stream.confid, first_stream.userid)
    await pages_keep_coming(s2, 31)
    assert s1.holds_floor and s1.sending_content

    resumed = await s1.reinvite(direction="sendrecv")
    assert resumed.count(b"a=recvonly") == 0
    await pages_keep_coming(s2, 31)

    # re-offers adding, removing or changing the content or BFCP m-line: 488, nothing changed
    for change in (content_port_zero, bfcp_port_zero, content_port_moved):
        with pytest.raises(SipCallFailed) as refused:
            await s1.call.dialog.reinvite(changed(s1, change))
        assert refused.value.status == 488, change.__name__
        assert s1.negotiated == negotiated
        await pages_keep_coming(s2, 31)
        assert s1.holds_floor

    # the floor connection the first SDP negotiated still works
    assert await s1.release_floor() is RequestStatus.RELEASED
    await wait_presentation(soap, conf_id, None, "the floor free")
