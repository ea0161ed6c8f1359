"""A simulated SIP room system's content (docs/sip.md, "Content and BFCP for SIP sites"):
the second video m-line marked a=content:slides (RFC 4796) and the BFCP m-line with the
room as floor control client (RFC 8856, rtp/content_negotiation.py); per call, the content
RTP session, the BFCP floor participant (terminals/floor_client.py over rtc/bfcp) connected
with what the MCU's SDP said, the document pages sent while the room holds the floor
(terminals/content_source.py) and what it receives decoded and read (content markers:
site, page, frame; terminals/content_receiver.py).

`RoomContent` is the room's: its pages, its receiver, the codecs of its content m-line.
`RoomContentCall` is one call's: `start(plan, floor)` once the SDP settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import av

from rtc.bfcp.tables import RequestStatus
from rtc.bfcp.transport import ConnectionClosed
from rtc.encoded_frames import is_keyframe
from rtc.signalling import FloorParams
from rtp.content_negotiation import ClientFloor
from rtp.negotiation import CodecOffer, MediaPlan
from rtp.session import MediaSockets, RtpSession
from rtp.tracks import IncomingTrack, RtpSender
from terminals.client import ContentKind, content_pages
from terminals.content_receiver import ContentReceiver, ContentStatus
from terminals.content_source import ContentSource, ContentTrack
from terminals.floor_client import FloorParticipant, FloorRefused

log = logging.getLogger(__name__)

# the room's content codecs (its content encoder: terminals/content_source.py encodes
# H.264 constrained baseline and VP8)
CONTENT_CODECS: dict[str, CodecOffer] = {
    "h264": CodecOffer("H264", {"profile-level-id": "42e01f", "packetization-mode": "1"}),
    "vp8": CodecOffer("VP8"),
}
RECEIVING = ("sendrecv", "recvonly")
SENDING = ("sendrecv", "sendonly")


class FlaggedContentTrack(ContentTrack):
    """The content track with each packet's keyframe flag set (an RtpSender waits for a
    keyframe before it sends anything, and after a PLI)."""

    def __init__(self, source: ContentSource, codec: str, uri: str) -> None:
        super().__init__(source, uri=uri)
        self.codec = codec

    async def recv(self) -> av.Packet:
        packet = await super().recv()
        packet.is_keyframe = is_keyframe(self.codec, bytes(packet))
        return packet


class RoomContent:
    """A room's content: `kind` the document its pages start with (None: no content input),
    `receive` whether it shows received content on a second screen."""

    def __init__(self, site_index: int, kind: ContentKind | None, receive: bool,
                 size: tuple[int, int] = (1280, 720), page_seconds: float = 5.0,
                 codecs: Sequence[str] = ("h264",)) -> None:
        unknown = [name for name in codecs if name.lower() not in CONTENT_CODECS]
        if unknown:
            raise ValueError(f"unknown content codec {unknown[0]!r}: one of "
                             f"{', '.join(CONTENT_CODECS)}")
        self.offers = tuple(CONTENT_CODECS[name.lower()] for name in codecs)
        self.source = (ContentSource(site_index, content_pages(kind), *size,
                                     page_seconds=page_seconds) if kind is not None else None)
        self.receive = receive
        self.receiver = ContentReceiver(analyse_every=1 << 30, source_size=size)

    @property
    def direction(self) -> str:
        """The content m-line's direction from the room's side."""
        sends = self.source is not None
        if sends and self.receive:
            return "sendrecv"
        return "sendonly" if sends else ("recvonly" if self.receive else "inactive")

    async def read(self) -> ContentStatus:
        """The content marker of the latest content picture received (site, page, frame)."""
        return await self.receiver.analyse_latest()


class RoomContentCall:
    """One call's content stream and floor."""

    def __init__(self, content: RoomContent, sockets: MediaSockets, uri: str) -> None:
        self.content = content
        self.sockets = sockets
        self.uri = uri
        self.plan: MediaPlan | None = None
        self.session: RtpSession | None = None
        self.sender: RtpSender | None = None
        self.track: FlaggedContentTrack | None = None
        self.floor: FloorParticipant | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, plan: MediaPlan | None, floor: ClientFloor | None) -> None:
        """Run what the SDP settled: the content session (None: the MCU declined the content
        m-line; its sockets are closed) and the floor connection (None: no BFCP)."""
        self.plan = plan
        if plan is None:
            self.sockets.close()
            return
        session = RtpSession(self.sockets, plan, cname=f"{self.uri}-content")
        session.start()
        self.session = session
        if plan.direction in RECEIVING and self.content.receive:
            incoming = IncomingTrack(session)
            self._tasks.append(asyncio.create_task(self.content.receiver.consume(incoming),
                                                   name="room content in"))
        source = self.content.source
        if plan.direction in SENDING and source is not None:
            codec = plan.codec.name.upper()
            self.track = FlaggedContentTrack(source, codec, self.uri)
            self.sender = RtpSender(session, self.track)
            self.sender.on_keyframe_request = self.track.request_keyframe
            self._tasks.append(asyncio.create_task(self._prepare(source, codec),
                                                   name="room content loops"))
        if floor is not None:
            self._tasks.append(asyncio.create_task(self._connect_floor(floor),
                                                   name="room floor"))

    async def _prepare(self, source: ContentSource, codec: str) -> None:
        """The pages' loops encoded (in a worker thread), then the sender waits for the
        floor."""
        loops = await source.prepare(codec)
        if self.track is not None and self.sender is not None:
            self.track.use_loops(loops)
            self.sender.start()

    async def _connect_floor(self, floor: ClientFloor) -> None:
        """The BFCP connection to the floor control server the SDP named (Hello, then
        FloorQuery to learn a chair grant made before). One that cannot be opened is logged
        as an error and the call goes on without it: the room then never learns of a grant,
        so it sends no content (`floor_connected` stays False)."""
        params = FloorParams(
            floorctrl="s-only", confid=floor.confid, userid=floor.userid,
            floorid=floor.floor_id, label=floor.label or "content",
            transport="TCP/TLS/BFCP" if floor.tls else "TCP/BFCP",
            host=floor.host, port=floor.port)
        participant = FloorParticipant(params, on_floor=self._on_floor)
        try:
            await participant.connect()
        except (OSError, ConnectionClosed, TimeoutError, FloorRefused) as error:
            log.error("%s: no BFCP connection to %s:%d: %s", self.uri, floor.host, floor.port,
                      error)
            await participant.close()
            return
        self.floor = participant

    async def _on_floor(self, granted: bool) -> None:
        """The floor granted: the pages are sent; released or revoked: nothing is."""
        if self.track is None:
            return
        if granted:
            self.track.start_sending()
        else:
            self.track.stop_sending()

    @property
    def holds_floor(self) -> bool:
        return self.floor is not None and self.floor.holds_floor

    @property
    def sending(self) -> bool:
        return self.track is not None and self.track.sending

    async def request_floor(self) -> RequestStatus:
        """BFCP FloorRequest (a person pressing "share"): GRANTED or DENIED; FloorRefused
        for the server's Error, ConnectionClosed without a floor connection."""
        if self.floor is None:
            raise ConnectionClosed("this call has no BFCP floor")
        return await self.floor.request()

    async def release_floor(self) -> RequestStatus | None:
        if self.floor is None:
            return None
        return await self.floor.release()

    async def close(self) -> None:
        if self.floor is not None:
            with contextlib.suppress(Exception):
                await self.floor.close()
        if self.track is not None:
            self.track.stop()
        if self.sender is not None:
            await self.sender.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
        else:
            self.sockets.close()
