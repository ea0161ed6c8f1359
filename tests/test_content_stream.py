"""The content (aux) stream end to end, from the outside: a real server (in this process),
real simulated terminals over signalling and WebRTC, SOAP through zeep built from the
reference WSDL.

- every call has a second video m-line for content (a=content:slides, a=label:content),
  dial-out and dial-in; a terminal without one (an old client) still gets its main picture;
- the token holder's content (setAuxStreamEx) reaches every other site's second stream,
  forwarded unchanged: the receivers read the sender's site, page and frame index from the
  decoded picture, with the source's sharpness and a bounded latency, while their main
  picture still shows faces;
- a receiver's keyframe request (PLI) on the second stream reaches the sender;
- the token moving to another site: the old holder's content stops reaching anyone, the new
  holder's arrives;
- isReceiveRemAuxStrmEx answers what the media does;
- SRTP on the second stream: no content payload crosses the wire in clear.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiortc.sdp import SessionDescription

from gateway.signalling import SIGNALLING
from mcu.model import ConferenceSpec, DialingMode, SiteCallState, SiteSpec, VideoFormat
from rtc import aiortc_hooks
from rtc.content_sdp import content_media, has_content_attributes
from terminals.client import SimulatedTerminal
from terminals.documents import DocumentKind
from terminals.marker import read_content_marker
from terminals.media_sources import VideoFormat as SentVideo
from terminals.run_command import terminal_uri
from tests import test_media_acceptance as acceptance
from tests.conftest import SoapClients, soap_clients

SMALL = SentVideo(320, 180, 15, 300_000)
CONTENT_SIZE = (640, 360)
WAIT_S = 40.0
FORWARDED_PSNR_DB = 35.0  # the source's own encode is ~40 dB on the text region


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT_S,
                     what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.1)


async def eventually_async(predicate: Callable[[], Awaitable[bool]], timeout: float = WAIT_S,
                           what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.2)


async def sees_a_face(viewer: SimulatedTerminal) -> bool:
    """Whether a pane of the viewer's main picture shows a camera marker (a face)."""
    return any(pane.site_index is not None for pane in await viewer.read_panes())


# the running server and its signalling URL, as the media acceptance tests have them
server = acceptance.server
signalling_url = acceptance.signalling_url


def terminal(index: int, **options) -> SimulatedTerminal:
    uri = terminal_uri("0188", index)
    defaults = dict(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                    video_format=SMALL, loop_frames=30, analyse_every=5,
                    content_size=CONTENT_SIZE)
    defaults.update(options)
    return SimulatedTerminal(**defaults)


def book(server, uris: list[str], dial_in: frozenset[str] = frozenset()) -> str:
    sites = [SiteSpec(uri, name=f"Site {uri}", video_format=VideoFormat.CIF4,
                      dialing_mode=DialingMode.SITE_CALLS_IN if uri in dial_in
                      else DialingMode.MCU_CALLS_SITE)
             for uri in uris]
    spec = ConferenceSpec("consultation", server.clock.now(), timedelta(hours=1), sites)
    conference = server.gateway.scheduler.schedule(spec)
    server.gateway.runtime.reconcile()
    return conference.conf_id


def joined(server, conf_id: str, uris: list[str]) -> bool:
    statuses = server.gateway.runtime.status.site_statuses(conf_id)
    return all(s.state is SiteCallState.IN_CONFERENCE for s in statuses if s.uri in uris)


async def soap(server) -> SoapClients:
    clients = await asyncio.to_thread(soap_clients, server.base_url)
    assert await asyncio.to_thread(clients.login, "demo", "Demo@123") == 0
    return clients


async def soap_call(service, operation: str, **arguments):
    answer = await asyncio.to_thread(getattr(service, operation), **arguments)
    return answer


async def start_all(server, terminals: list[SimulatedTerminal]) -> None:
    await asyncio.gather(*(t.start(signalling_url(server)) for t in terminals))


def content_from(viewer: SimulatedTerminal, sender: SimulatedTerminal) -> Callable[[], bool]:
    def check() -> bool:
        status = viewer.content_stats()
        return status.site_index == sender.site_index and status.psnr_db is not None
    return check


async def test_holder_content_is_forwarded_to_every_other_second_stream(server):
    a = terminal(1, content="radiograph")
    b = terminal(2, content="record")
    c = terminal(3)  # no content input: it only shows content
    terminals = [a, b, c]
    await start_all(server, terminals)
    try:
        conf_id = book(server, [t.uri for t in terminals])
        await eventually(lambda: joined(server, conf_id, [t.uri for t in terminals]),
                         what="all three in conference")
        # the SDP: a second video m-line for content, marked, in the invite and the answer
        for t in terminals:
            assert t.sdp_received is not None and t.sdp_sent is not None
            assert has_content_attributes(t.sdp_received) and has_content_attributes(t.sdp_sent)
        assert content_media(a.sdp_sent).direction == "sendrecv"
        assert content_media(c.sdp_sent).direction == "recvonly"
        assert a.content_codec == "H264"
        # the MCU states the content format on the content m-line (auxVideoFormat unset:
        # the default 1080p, capped at the booked 4CIF, slides at 5 fps: level 2.2) and the
        # booked 4CIF at 30 fps on the main one (level 3.1)
        videos = [m for m in SessionDescription.parse(a.sdp_received).media
                  if m.kind == "video"]
        levels = [{str(codec.parameters["profile-level-id"]) for codec in m.rtp.codecs
                   if codec.name == "H264"} for m in videos]
        assert levels == [{"42c01f"}, {"42c016"}]
        clients = await soap(server)
        site_mgr = clients.site_mgr
        # nothing is sent before anyone has the token
        assert (await soap_call(site_mgr, "isReceiveRemAuxStrmEx", siteUri=b.uri)).result == 0

        assert await soap_call(site_mgr, "setAuxStreamEx", siteUri=a.uri, controlCode=0) == 0
        assert a.start_content()
        for viewer in (b, c):
            await eventually(content_from(viewer, a), what=f"{viewer.uri} decodes A's content")
        for viewer in (b, c):
            status = await viewer.read_content()
            assert status.site_uri == a.uri and status.kind is DocumentKind.RADIOGRAPH
            assert status.page == 0 and status.frame_index is not None
            assert status.psnr_db is not None and status.psnr_db > FORWARDED_PSNR_DB, status
        await eventually(lambda: all(v.content_stats().latency_ms_p50 is not None
                                     for v in (b, c)), what="content latency")
        for viewer in (b, c):
            latency = viewer.content_stats().latency_ms_p50
            assert latency is not None and latency < 1500
        # the main picture still shows the faces (the camera markers), not the document
        assert await sees_a_face(b)
        # the media answers isReceiveRemAuxStrmEx
        assert (await soap_call(site_mgr, "isReceiveRemAuxStrmEx", siteUri=b.uri)).result == 1
        assert (await soap_call(site_mgr, "isReceiveRemAuxStrmEx", siteUri=c.uri)).result == 1
        assert (await soap_call(site_mgr, "isReceiveRemAuxStrmEx", siteUri=a.uri)).result == 0
        devices = server.gateway.runtime.devices
        assert devices.is_content_arriving(a.uri) and not devices.is_content_arriving(b.uri)

        # decoded at the MCU only when wanted (a CP pane, a transcode): the holder's content
        media = server.app[SIGNALLING].engine.conferences[conf_id]
        assert media.content_holder == a.uri and media.content_in.frames_received == 0
        media.content_decode_wanted = True
        await eventually(lambda: media.content_in.frame is not None, timeout=15,
                         what="the MCU decodes A's content")
        reading = read_content_marker(media.content_in.frame)
        assert reading is not None and reading.site_index == a.site_index
        media.content_decode_wanted = False

        # a receiver's PLI on the second stream reaches the sender
        track = a.content_track
        assert track is not None
        before = track.keyframe_requests
        await asyncio.sleep(0.4)  # past the forwarder's rate limit
        assert await c.request_content_keyframe() == 1
        await eventually(lambda: track.keyframe_requests > before, timeout=10,
                         what="the PLI reaches A")

        # B sharing too, without the token: its content reaches nobody
        assert b.start_content()
        await asyncio.sleep(1.5)
        assert c.content_stats().site_index == a.site_index
        assert devices.is_content_arriving(b.uri)

        # the token moves to B: A's content stops reaching anyone, B's arrives
        assert await soap_call(site_mgr, "setAuxStreamEx", siteUri=b.uri, controlCode=0) == 0
        await eventually(content_from(c, b), what="C decodes B's content")
        await eventually(content_from(a, b), what="A decodes B's content")
        frames_before = c.content.frames_decoded
        await asyncio.sleep(1.0)
        status = await c.read_content()
        assert status.site_index == b.site_index and status.kind is DocumentKind.RECORD
        assert c.content.frames_decoded > frames_before
        assert (await soap_call(site_mgr, "isReceiveRemAuxStrmEx", siteUri=a.uri)).result == 1
        assert (await soap_call(site_mgr, "isReceiveRemAuxStrmEx", siteUri=b.uri)).result == 0

        # the token released: nothing reaches the second streams any more
        assert await soap_call(site_mgr, "setAuxStreamEx", siteUri=b.uri, controlCode=1) == 0
        await asyncio.sleep(0.5)
        frames_after = c.content.frames_decoded
        await asyncio.sleep(1.5)
        assert c.content.frames_decoded == frames_after
        assert (await soap_call(site_mgr, "isReceiveRemAuxStrmEx", siteUri=c.uri)).result == 0
    finally:
        await asyncio.gather(*(t.stop() for t in terminals))


async def test_a_terminal_without_a_content_mline_keeps_its_main_picture(server):
    """An old client: it dials in offering one video m-line (and is called with two, one of
    which it answers inactive); it gets no content but sees the faces."""
    a = terminal(4, content="radiograph")
    old_in = terminal(5, content_mline=False)
    old_out = terminal(6, content_mline=False)
    terminals = [a, old_in, old_out]
    await start_all(server, terminals)
    try:
        conf_id = book(server, [t.uri for t in terminals], dial_in=frozenset({old_in.uri}))
        access_code = server.gateway.scheduler.get(conf_id).access_code
        password = server.gateway.scheduler.get(conf_id).password or ""
        await old_in.join(access_code, password)
        await eventually(lambda: joined(server, conf_id, [t.uri for t in terminals]),
                         what="all three in conference")
        assert content_media(old_in.sdp_sent) is None
        assert content_media(old_in.sdp_received) is None  # answered with one video m-line
        answer = content_media(old_out.sdp_sent)
        assert answer is not None and answer.direction == "inactive"
        clients = await soap(server)
        assert await soap_call(clients.site_mgr, "setAuxStreamEx", siteUri=a.uri,
                               controlCode=0) == 0
        assert a.start_content()
        for viewer in (old_in, old_out):
            await eventually_async(lambda v=viewer: sees_a_face(v),
                                   what=f"{viewer.uri} sees a face")
        await asyncio.sleep(1.0)
        assert old_in.content.frames_decoded == 0 and old_out.content.frames_decoded == 0
        for viewer in (old_in, old_out):
            answer = await soap_call(clients.site_mgr, "isReceiveRemAuxStrmEx",
                                     siteUri=viewer.uri)
            assert answer.result == 0
    finally:
        await asyncio.gather(*(t.stop() for t in terminals))


async def test_content_is_srtp_on_the_wire(server):
    """Every RTP datagram that crosses loopback during the content exchange is SRTP: the
    sender's content payload (its encoded loop's bytes) never appears in clear."""
    a = terminal(7, content="record")
    b = terminal(8)
    terminals = [a, b]
    await start_all(server, terminals)
    seen: list[bytes] = []

    def keep(data: bytes) -> bool:
        if len(data) > 200 and 128 <= data[0] <= 191:  # RTP/RTCP (RFC 7983)
            seen.append(bytes(data))
        return True

    restore = aiortc_hooks.filter_datagrams(keep, keep)
    try:
        conf_id = book(server, [t.uri for t in terminals])
        await eventually(lambda: joined(server, conf_id, [t.uri for t in terminals]),
                         what="both in conference")
        clients = await soap(server)
        assert await soap_call(clients.site_mgr, "setAuxStreamEx", siteUri=a.uri,
                               controlCode=0) == 0
        assert a.start_content()
        await eventually(content_from(b, a), what="B decodes A's content")
    finally:
        restore()
        await asyncio.gather(*(t.stop() for t in terminals))
    source = a.content_source
    assert source is not None
    loops = source.encode(a.content_codec or "H264")
    # 32-byte chunks from inside the encoded frames (past the NAL headers)
    probes = [bytes(packet[200:232]) for loop in loops for packet in loop.packets
              if len(packet) > 400]
    assert probes and len(seen) > 50
    wire = b"".join(seen)
    assert not any(probe in wire for probe in probes)
