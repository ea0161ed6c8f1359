"""The RTP side of one SIP call (rtp/): its UDP sockets, bound before the SDP is written; the
offer or answer made from them under the booking's mediaEncryptType and videoProtocol; and,
once the SDP has
settled, the sessions that feed the call's SiteMedia like a WebRTC call's tracks do.

With the content stream and its floor (rtp/content_negotiation.py, mcu/media/sip_content.py):
a third port pair for the content m-line (a=content:slides), offered and answered among
CONTENT_VIDEO, and the BFCP m-line with the MCU as the floor control server (`floor`, the
call's RFC 8856 values) when the process runs a BFCP server.

Incoming: an IncomingTrack per session, handed to SiteMedia.receive (its pictures into the
conference's frame slot, its audio into the mix). Outgoing: an RtpSender per session reading
the site's SiteVideoTrack (the encoder group's packets, already in the negotiated codec:
the group's OutputFormat carries it) and SiteAudioTrack (the mix: Opus packets, or frames
the sender encodes to G.722/G.711).
"""

from __future__ import annotations

import asyncio

from mcu.encryption_policy import MediaSecurity
from mcu.media.sip_content import SipContent
from mcu.media.site_media import SiteMedia
from mcu.model import VideoProtocol
from rtp import sdp
from rtp.codecs import offered_sizes
from rtp.content_negotiation import (
    DEFAULT_CONTENT_VIDEO,
    ServerFloor,
    Settled,
    accept_call,
    answer_call,
    offer_call,
)
from rtp.negotiation import (
    DEFAULT_AUDIO,
    DEFAULT_VIDEO,
    CodecOffer,
    Encryption,
    MediaPlan,
    NegotiationError,
)
from rtp.session import MediaSockets, RtpSession
from rtp.tracks import IncomingTrack, RtpSender

# The video codecs an encoder group can produce (mcu/media/video_encoders.py ENCODERS): VP9
# is left out of the MCU's offers and answers (no group encoder for it). H.264 is offered in
# packetization mode 1 only: the groups' x264 does not cap its slices to one packet.
MCU_VIDEO: tuple[CodecOffer, ...] = tuple(
    codec for codec in DEFAULT_VIDEO
    if codec.name != "VP9" and codec.fmtp.get("packetization-mode", "1") == "1")
MCU_AUDIO: tuple[CodecOffer, ...] = DEFAULT_AUDIO
# the content stream's codecs: H.264 (packetization mode 1) and VP8, the codecs the content
# forwarder and the content encoder groups carry, whatever the booked videoProtocol of the
# main stream (auxVideoProtocol is not negotiated: mcu/media/content_format.py)
CONTENT_VIDEO: tuple[CodecOffer, ...] = DEFAULT_CONTENT_VIDEO

# The booked videoProtocol (SiteInfoEx) -> the video codecs offered and accepted; AUTO (or
# none booked): every one of MCU_VIDEO. H.265: none (the MCU encodes no H.265).
_BY_PROTOCOL: dict[VideoProtocol, tuple[str, ...]] = {
    VideoProtocol.H261: ("H261",),
    VideoProtocol.H263: ("H263", "H263-1998"),
    VideoProtocol.H264: ("H264",),
    VideoProtocol.H264_HP: ("H264",),
    VideoProtocol.H265: (),
}


def video_offers_for(protocol: VideoProtocol | None) -> tuple[CodecOffer, ...]:
    """The video codecs of a booking's videoProtocol, in MCU_VIDEO's order; H.264 HP only
    with a High profile-level-id. NegotiationError (no-common-codec) when the MCU has none."""
    if protocol is None or protocol is VideoProtocol.AUTO:
        return MCU_VIDEO
    names = _BY_PROTOCOL.get(protocol, ())
    offers = tuple(codec for codec in MCU_VIDEO if codec.name in names and (
        protocol is not VideoProtocol.H264_HP
        or codec.fmtp.get("profile-level-id", "").lower().startswith("64")))
    if not offers:
        raise NegotiationError("no-common-codec",
                               f"booked videoProtocol {protocol.name}: the MCU sends no such video")
    return offers


# negotiated SDP encoding name -> the codec name SiteMedia and the mixer use
_AUDIO_NAMES = {"OPUS": "OPUS", "G722": "G722", "PCMU": "PCMU", "PCMA": "PCMA"}


class SipCallMedia:
    def __init__(self, host: str, media: SiteMedia, encryption: Encryption,
                 sockets: dict[str, MediaSockets], content: SipContent | None = None) -> None:
        self.host = host
        self.content = content  # the content stream's session (None: no content port)
        self.floor: ServerFloor | None = None  # the call's BFCP values (None: no BFCP)
        self.settled: Settled | None = None
        self.media = media
        self.encryption = encryption
        self.protocol = media.spec.video_protocol
        self.sockets = sockets
        self.sessions: list[RtpSession] = []
        self.senders: list[RtpSender] = []
        self.plans: list[MediaPlan] = []
        self._offer: sdp.SessionDescription | None = None
        self.closed = False

    @classmethod
    async def bind(cls, host: str, media: SiteMedia, encryption: Encryption) -> SipCallMedia:
        """An even/odd UDP port pair for audio, one for video and one for content on
        `host`."""
        bound: list[MediaSockets] = []
        try:
            for _ in range(3):
                bound.append(await MediaSockets.bind(host))
        except OSError:
            for sockets in bound:
                sockets.close()
            raise
        audio, video, content = bound
        return cls(host, media, encryption, {"audio": audio, "video": video},
                   SipContent(media, content))

    def _ports(self) -> dict[str, int]:
        return {kind: sockets.port for kind, sockets in self.sockets.items()}

    def _content_port(self) -> int | None:
        return self.content.sockets.port if self.content is not None else None

    def offer(self) -> bytes:
        """Our offer (dial-out): audio, video, content and the BFCP stream."""
        self._offer = offer_call(self.host, self._ports(), self._content_port(),
                                 self.encryption, video=video_offers_for(self.protocol),
                                 audio=MCU_AUDIO, content_video=CONTENT_VIDEO,
                                 server=self.floor)
        return sdp.serialize(self._offer).encode()

    def accept(self, body: bytes) -> list[MediaPlan]:
        """The plans the site's answer settles; SdpError or NegotiationError when it
        cannot be used."""
        assert self._offer is not None, "accept() after offer()"
        reply = sdp.parse(_text(body))
        self.settled = accept_call(self._offer, reply, self.encryption)
        # our offer has video: an answer declining it (port 0) declines the booked protocol
        return self._video_as_booked(True, self.settled.plans)

    def answer(self, body: bytes) -> tuple[bytes, list[MediaPlan]]:
        """Our answer to the site's offer (dial-in) and its plans; SdpError or
        NegotiationError when the offer cannot be used."""
        site_offer = sdp.parse(_text(body))
        reply, settled = answer_call(site_offer, self.host, self._ports(), self._content_port(),
                                     self.encryption, video=video_offers_for(self.protocol),
                                     audio=MCU_AUDIO, content_video=CONTENT_VIDEO,
                                     server=self.floor)
        self.settled = settled
        offers_video = any(m.kind == "video" and m.port != 0 for m in site_offer.media)
        return sdp.serialize(reply).encode(), self._video_as_booked(offers_video, settled.plans)

    def _video_as_booked(self, video_offered: bool, plans: list[MediaPlan]) -> list[MediaPlan]:
        """With a videoProtocol booked, a call where video was offered must get it in that
        protocol: its video declined for want of it fails the call (no-common-codec) rather
        than leaving the site in the conference without video."""
        booked = self.protocol not in (None, VideoProtocol.AUTO)
        if booked and video_offered and not any(plan.kind == "video" for plan in plans):
            assert self.protocol is not None
            raise NegotiationError("no-common-codec",
                                   f"booked videoProtocol {self.protocol.name}: the site's "
                                   "video has none of its codecs")
        return plans

    def describe(self, plans: list[MediaPlan]) -> None:
        """Tell the SiteMedia what the SDP settled (before the call is in conference: the
        conference puts the site in the encoder group of that codec and size)."""
        for plan in plans:
            name = plan.codec.name.upper()
            if plan.kind == "video":
                self.media.video_codec = name
                self.media.video_sizes = tuple(offered_sizes(plan.codec))
            else:
                self.media.audio_codec = _AUDIO_NAMES.get(name, name)
        if self.content is not None:
            self.content.describe(self.settled.content if self.settled else None)

    def start(self, plans: list[MediaPlan]) -> None:
        """Run the sessions the SDP settled (sockets of a declined medium are closed)."""
        self.plans = plans
        settled = {plan.kind for plan in plans}
        for kind in [kind for kind in self.sockets if kind not in settled]:
            self.sockets.pop(kind).close()
        for plan in plans:
            session = RtpSession(self.sockets[plan.kind], plan, cname=f"mcu-sim-{self.media.uri}")
            session.start()
            self.sessions.append(session)
            if plan.direction in ("sendrecv", "recvonly"):  # the site sends: we receive
                self.media.receive(IncomingTrack(session))
            if plan.direction in ("sendrecv", "sendonly"):  # we send
                if plan.kind == "video":
                    sender = RtpSender(session, self.media.video_out)
                    sender.on_keyframe_request = self.media.video_out.request_keyframe
                else:
                    sender = RtpSender(session, self.media.audio_out)
                sender.start()
                self.senders.append(sender)
        if self.content is not None:
            self.content.start()

    @property
    def security(self) -> MediaSecurity | None:
        """What the settled media is protected with (None before the SDP settled)."""
        if not self.plans:
            return None
        content = self.content.encrypted if self.content is not None else None
        if all(plan.encrypted for plan in self.plans) and content is not False:
            return MediaSecurity.SDES_SRTP
        return MediaSecurity.PLAIN

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sender in self.senders:
            await sender.stop()
        await asyncio.gather(*(session.close() for session in self.sessions),
                             return_exceptions=True)
        if self.content is not None:
            await self.content.close()
        started = {id(session.sockets) for session in self.sessions}
        for sockets in self.sockets.values():
            if id(sockets) not in started:
                sockets.close()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise sdp.SdpError(f"the SDP is not UTF-8: {error}") from None
