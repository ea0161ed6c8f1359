"""Offer/answer of a room system's content stream and of the BFCP stream that governs it,
beside the audio and video rtp/negotiation.py settles (docs/sip.md, "Content and BFCP for
SIP sites").

- The content stream is a video m-line marked `a=content:slides` (RFC 4796) with an
  `a=label` (RFC 4574); an unmarked second video m-line is not content and is declined
  (port 0). It is negotiated like the main video (rtp/negotiation.answer, the same codec
  rules and the caller's SdesPolicy, rtp/sdes_policy.py) among the content codecs it is given.
- The BFCP stream is `m=application <port> TCP/BFCP *` (rtp/bfcp_sdp.py). One side is the
  floor control server (`ServerFloor`: the MCU), the other a client (`ClientFloor` is what a
  client learns: where to connect, with which conference and user id). The server answers
  `a=floorctrl:s-only`, `a=setup:passive` (the client opens the TCP connection),
  `a=connection:new`, `a=bfcpver:1`, its `confid`/`userid`, and `a=floorid:<id>
  mstrm:<label of its content m-line>`.
- What the server refuses (BfcpSdpError, a 488 for the SIP side): BFCP over UDP, TLS where
  the server is plain TCP or the reverse, a peer that can only be the server
  (`floorctrl:s-only`), a peer that will not open the connection (`setup:passive` or
  `holdconn`), BFCP versions without 1, a floorid naming a label no m-line has. A BFCP
  stream offered without a content stream is declined (port 0): there is nothing to govern.

`answer_call`, `offer_call` and `accept_call` split the SDP into its audio/video part (given
to rtp/negotiation with the other m-lines at port 0, so the m-line order is kept) and these
two m-lines, and put the answer back together in the offer's order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rtp.bfcp_sdp import (
    TCP_PROTOS,
    UDP_PROTOS,
    BfcpSdpError,
    BfcpStream,
    FloorStream,
    content_tags,
    is_bfcp,
    label_of,
    mark_content,
    parse_stream,
    stream_media,
)
from rtp.negotiation import (
    DEFAULT_AUDIO,
    DEFAULT_VIDEO,
    CodecOffer,
    MediaPlan,
    NegotiationError,
    accept_answer,
    answer,
    offer,
)
from rtp.sdes_policy import SdesPolicy
from rtp.sdp import MediaDescription, SessionDescription

CONTENT_LABEL = "content"  # our content m-line's a=label (the mstrm our a=floorid names)
CONTENT_TAG = "slides"
# the content codecs offered and accepted unless told: H.264 (High, constrained baseline;
# packetization mode 1) and VP8, the codecs the MCU's content paths forward and encode
DEFAULT_CONTENT_VIDEO: tuple[CodecOffer, ...] = tuple(
    codec for codec in DEFAULT_VIDEO
    if codec.name == "VP8" or (codec.name == "H264"
                               and codec.fmtp.get("packetization-mode") == "1"))
DISCARD_PORT = 9  # RFC 4145 section 4: the port of an m-line whose side only connects


@dataclass(frozen=True)
class ServerFloor:
    """The floor control server's side: where it listens and the ids the client is given."""

    host: str
    port: int
    tls: bool
    confid: int
    userid: int
    floor_id: int = 1

    @property
    def proto(self) -> str:
        return "TCP/TLS/BFCP" if self.tls else "TCP/BFCP"


@dataclass(frozen=True)
class ClientFloor:
    """What a floor participant learns from the server's SDP."""

    host: str
    port: int
    tls: bool
    confid: int
    userid: int
    floor_id: int
    label: str


@dataclass
class Settled:
    """What an offer/answer settled: the audio/video plans (rtp/negotiation), the content
    stream's plan (None: no content stream), and the BFCP stream: `floor_agreed` when both
    sides took it, `client_floor` (the client's view: where to connect) on the client side."""

    plans: list[MediaPlan]
    content: MediaPlan | None = None
    floor_agreed: bool = False
    client_floor: ClientFloor | None = None


def content_index(session: SessionDescription) -> int | None:
    """The index of the content m-line: the first video m-line marked a=content:slides."""
    for index, media in enumerate(session.media):
        if media.kind == "video" and CONTENT_TAG in content_tags(media):
            return index
    return None


def bfcp_index(session: SessionDescription) -> int | None:
    return next((i for i, media in enumerate(session.media) if is_bfcp(media)), None)


def _only(session: SessionDescription, media: list[MediaDescription]) -> SessionDescription:
    return SessionDescription(session.origin, session.connection, media, session.name)


def _labels(session: SessionDescription) -> set[str]:
    return {label for media in session.media if (label := label_of(media)) is not None}


def check_floor_labels(stream: BfcpStream, session: SessionDescription) -> None:
    """Every a=floorid's mstrm must name an m-line's a=label in `session`."""
    labels = _labels(session)
    for floor in stream.floors:
        missing = [label for label in floor.labels if label not in labels]
        if missing:
            raise BfcpSdpError(f"a=floorid:{floor.floor_id} mstrm:{missing[0]} names no "
                               "m-line's a=label")


def check_transport(stream: BfcpStream, tls: bool | None) -> None:
    """BFCP over TCP, TLS as the MCU's floor server has it (`tls` None: either), version 1."""
    if stream.proto in UDP_PROTOS:
        raise BfcpSdpError(f"{stream.proto} is not supported: BFCP runs over TCP here "
                           f"({' or '.join(TCP_PROTOS)})")
    if tls is not None and stream.tls != tls:
        wanted = "TCP/TLS/BFCP" if tls else "TCP/BFCP"
        raise BfcpSdpError(f"{stream.proto} offered, the MCU's floor control server is {wanted}")
    if 1 not in stream.effective_versions:
        raise BfcpSdpError(f"a=bfcpver:{' '.join(map(str, stream.versions))}: BFCP version 1 "
                           "(the TCP version) is not among them")


def check_client(stream: BfcpStream) -> None:
    """The peer must be able to act as a floor control client and open the connection."""
    roles = stream.roles or ("c-only",)  # no a=floorctrl: a client (docs/sip.md)
    if "c-only" not in roles and "c-s" not in roles:
        raise BfcpSdpError(f"a=floorctrl:{' '.join(roles)}: the site can only be the floor "
                           "control server, and the MCU is the server")
    if stream.effective_setup not in ("active", "actpass"):
        raise BfcpSdpError(f"a=setup:{stream.setup}: the site will not open the BFCP "
                           "connection, and the MCU's floor control server only accepts one")


def server_stream(floor: ServerFloor, label: str | None, setup: str = "passive",
                  address: str | None = None) -> MediaDescription:
    """The MCU's BFCP m-line: the floor control server (s-only) of `floor`, the content
    stream `label` as its floor's mstrm."""
    floors = (FloorStream(floor.floor_id, (label,) if label else ()),)
    return stream_media(BfcpStream(
        port=floor.port, proto=floor.proto, roles=("s-only",), confid=floor.confid,
        userid=floor.userid, floors=floors, setup=setup, connection="new", versions=(1,),
        address=address))


def _client_stream(proto: str, setup: str = "active") -> MediaDescription:
    return stream_media(BfcpStream(port=DISCARD_PORT, proto=proto, roles=("c-only",),
                                   setup=setup, connection="new", versions=(1,)))


def _client_floor(stream: BfcpStream, session: SessionDescription,
                  media: MediaDescription) -> ClientFloor:
    """The server's BFCP stream as a client reads it (its offer or its answer)."""
    roles = stream.roles or ("c-only",)
    if "s-only" not in roles and "c-s" not in roles:
        raise BfcpSdpError(f"a=floorctrl:{' '.join(roles)}: the far end is no floor "
                           "control server")
    if stream.confid is None or stream.userid is None:
        raise BfcpSdpError("the floor control server's BFCP m-line lacks a=confid or a=userid")
    if not stream.floors:
        raise BfcpSdpError("the floor control server's BFCP m-line has no a=floorid")
    if stream.effective_setup not in ("passive", "actpass"):
        raise BfcpSdpError(f"a=setup:{stream.setup}: the floor control server will not "
                           "accept the BFCP connection")
    check_transport(stream, None)
    floor = stream.floors[0]
    return ClientFloor(session.connection_of(media), stream.port, stream.tls, stream.confid,
                       stream.userid, floor.floor_id, floor.labels[0] if floor.labels else "")


SENDING = ("sendrecv", "sendonly")
RECEIVING = ("sendrecv", "recvonly")


def answer_direction(offered: str, ours: str) -> str:
    """The direction of our answer to an m-line offered `offered`, when we can do `ours`
    (RFC 3264 section 6.1: we send only what the offerer receives, and the reverse)."""
    send = offered in RECEIVING and ours in SENDING
    receive = offered in SENDING and ours in RECEIVING
    if send and receive:
        return "sendrecv"
    return "sendonly" if send else ("recvonly" if receive else "inactive")


def content_answer(offered: MediaDescription, session: SessionDescription, host: str,
                   port: int, policy: SdesPolicy, codecs: tuple[CodecOffer, ...],
                   direction: str) -> tuple[MediaDescription, MediaPlan | None]:
    """The answer to a content m-line (declined, port 0, when nothing fits) and its plan;
    `direction`: what we can do with content (sendrecv: send and show it)."""
    declined = MediaDescription(offered.kind, 0, offered.proto, offered.formats[:1])
    if offered.port == 0:
        return declined, None
    try:
        reply, plans = answer(_only(session, [offered]), host, {"video": port}, policy,
                              video=codecs, audio=())
    except NegotiationError:
        return declined, None
    media = reply.media[0]
    mark_content(media, label_of(offered) or CONTENT_LABEL)
    media.direction = answer_direction(offered.direction, direction)
    return media, dataclasses.replace(plans[0], direction=media.direction)


def answer_call(offer_sdp: SessionDescription, host: str, ports: dict[str, int],
                content_port: int | None, policy: SdesPolicy, *,
                video: tuple[CodecOffer, ...] = DEFAULT_VIDEO,
                audio: tuple[CodecOffer, ...] = DEFAULT_AUDIO,
                content_video: tuple[CodecOffer, ...] = DEFAULT_CONTENT_VIDEO,
                server: ServerFloor | None = None, client: bool = False,
                content_direction: str = "sendrecv",
                ) -> tuple[SessionDescription, Settled]:
    """Our answer to an offer that may carry a content and a BFCP m-line. `content_port`:
    our content RTP port (None: content declined); `server`: we are the floor control
    server (the MCU); `client`: we are a floor participant (a room system); neither: BFCP
    declined; `content_direction`: what we can do with content (sendrecv: send and show
    it). NegotiationError as rtp/negotiation.answer for the audio/video part;
    BfcpSdpError for BFCP or content lines we refuse."""
    content_at = content_index(offer_sdp)
    bfcp_at = bfcp_index(offer_sdp)
    masked = [dataclasses.replace(media, port=0) if i in (content_at, bfcp_at) else media
              for i, media in enumerate(offer_sdp.media)]
    reply, plans = answer(_only(offer_sdp, masked), host, ports, policy,
                          video=video, audio=audio)
    settled = Settled(plans)
    our_label: str | None = None
    if content_at is not None and content_port is not None:
        media, plan = content_answer(offer_sdp.media[content_at], offer_sdp, host,
                                     content_port, policy, content_video,
                                     content_direction)
        reply.media[content_at] = media
        settled.content = plan
        our_label = label_of(media) if plan is not None else None
    if bfcp_at is not None:
        offered = offer_sdp.media[bfcp_at]
        reply.media[bfcp_at] = MediaDescription("application", 0, offered.proto, ["*"])
        # an m-line offered at port 0 is not read; a live one's malformed lines are refused
        # whatever our role, and it is declined when no content stream was taken
        stream = parse_stream(offered) if offered.port != 0 else None
        if stream is not None:
            check_floor_labels(stream, offer_sdp)
        if stream is not None and settled.content is not None:
            if server is not None:
                check_transport(stream, server.tls)
                check_client(stream)
                reply.media[bfcp_at] = server_stream(
                    server, our_label, address=server.host if server.host != host else None)
                settled.floor_agreed = True
            elif client:
                settled.client_floor = _client_floor(stream, offer_sdp, offered)
                reply.media[bfcp_at] = _client_stream(stream.proto)
                settled.floor_agreed = True
    return reply, settled


def offer_call(host: str, ports: dict[str, int], content_port: int | None,
               policy: SdesPolicy, *,
               video: tuple[CodecOffer, ...] = DEFAULT_VIDEO,
               audio: tuple[CodecOffer, ...] = DEFAULT_AUDIO,
               content_video: tuple[CodecOffer, ...] = DEFAULT_CONTENT_VIDEO,
               server: ServerFloor | None = None, client_proto: str | None = None,
               content_direction: str = "sendrecv", avpf: bool = True) -> SessionDescription:
    """Our offer: audio and video (rtp/negotiation.offer), then the content m-line when
    `content_port` is given, then the BFCP m-line: as the server (`server`) or as a client
    (`client_proto`: "TCP/BFCP" or "TCP/TLS/BFCP"); none without a content m-line. `avpf`:
    the RTP m-lines' profile, as rtp/negotiation.offer."""
    session = offer(host, ports, policy, video=video, audio=audio, avpf=avpf)
    if content_port is None:
        return session
    content = offer(host, {"video": content_port}, policy, video=content_video,
                    audio=(), avpf=avpf).media[0]
    mark_content(content, CONTENT_LABEL)
    content.direction = content_direction
    session.media.append(content)
    if server is not None:
        session.media.append(server_stream(
            server, CONTENT_LABEL, setup="passive",
            address=server.host if server.host != host else None))
    elif client_proto is not None:
        session.media.append(_client_stream(client_proto, setup="active"))
    return session


def accept_call(our_offer: SessionDescription, reply: SessionDescription,
                policy: SdesPolicy) -> Settled:
    """What the answer to our offer (offer_call) settles. NegotiationError as
    rtp/negotiation.accept_answer; BfcpSdpError for BFCP lines that break the rules."""
    if len(reply.media) != len(our_offer.media):
        raise NegotiationError("bad-answer", "the answer's m-lines do not match the offer's")
    content_at = content_index(our_offer)
    bfcp_at = bfcp_index(our_offer)
    main = [i for i in range(len(our_offer.media)) if i not in (content_at, bfcp_at)]
    settled = Settled(accept_answer(_only(our_offer, [our_offer.media[i] for i in main]),
                                    _only(reply, [reply.media[i] for i in main]), policy))
    if content_at is not None and reply.media[content_at].port != 0:
        theirs = reply.media[content_at]
        if theirs.kind != "video":
            raise NegotiationError("bad-answer", "the answer's content m-line is not video")
        settled.content = accept_answer(_only(our_offer, [our_offer.media[content_at]]),
                                        _only(reply, [theirs]), policy)[0]
    if bfcp_at is not None and reply.media[bfcp_at].port != 0:  # port 0: declined
        theirs = reply.media[bfcp_at]
        if not is_bfcp(theirs):
            raise BfcpSdpError(f"the answer's BFCP m-line is m={theirs.kind} {theirs.proto}")
        stream = parse_stream(theirs)
        if settled.content is not None:
            ours = parse_stream(our_offer.media[bfcp_at])
            check_floor_labels(stream, reply)
            if "s-only" in ours.roles:  # we are the server: the site must be a client
                check_transport(stream, ours.tls)
                check_client(stream)
            else:  # we are a client: the answer is the server's
                settled.client_floor = _client_floor(stream, reply, theirs)
            settled.floor_agreed = True
    return settled
