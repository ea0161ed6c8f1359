"""The RTP side of one SIP call (rtp/): its UDP sockets, bound before the SDP is written; the
offer or answer made from them under the booking's mediaEncryptType and videoProtocol; and,
once the SDP has
settled, the sessions that feed the call's SiteMedia like a WebRTC call's tracks do.

Incoming: an IncomingTrack per session, handed to SiteMedia.receive (its pictures into the
conference's frame slot, its audio into the mix). Outgoing: an RtpSender per session reading
the site's SiteVideoTrack (the encoder group's packets, already in the negotiated codec:
the group's OutputFormat carries it) and SiteAudioTrack (the mix: Opus packets, or frames
the sender encodes to G.722/G.711).
"""

from __future__ import annotations

import asyncio

from mcu.encryption_policy import MediaSecurity
from mcu.media.site_media import SiteMedia
from mcu.model import VideoProtocol
from rtp import sdp
from rtp.codecs import offered_sizes
from rtp.negotiation import (
    DEFAULT_AUDIO,
    DEFAULT_VIDEO,
    CodecOffer,
    Encryption,
    MediaPlan,
    NegotiationError,
    accept_answer,
    answer,
    offer,
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
                 sockets: dict[str, MediaSockets]) -> None:
        self.host = host
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
        """An even/odd UDP port pair for audio and one for video on `host`."""
        audio = await MediaSockets.bind(host)
        try:
            video = await MediaSockets.bind(host)
        except OSError:
            audio.close()
            raise
        return cls(host, media, encryption, {"audio": audio, "video": video})

    def _ports(self) -> dict[str, int]:
        return {kind: sockets.port for kind, sockets in self.sockets.items()}

    def offer(self) -> bytes:
        """Our offer (dial-out): RTP/AVP (RTP/SAVP under force) with a=rtcp-fb lines, not
        the AVPF profiles, which an answerer without AVPF refuses outright (baresip 1.0.0
        answers 488 to RTP/AVPF, and to RTP/SAVPF even when it requires SRTP); the feedback
        both sides list is used whatever the profile (docs/sip.md, "Calling the simulator
        from baresip")."""
        self._offer = offer(self.host, self._ports(), self.encryption,
                            video=video_offers_for(self.protocol), audio=MCU_AUDIO, avpf=False)
        return sdp.serialize(self._offer).encode()

    def accept(self, body: bytes) -> list[MediaPlan]:
        """The plans the site's answer settles; SdpError or NegotiationError when it
        cannot be used."""
        assert self._offer is not None, "accept() after offer()"
        reply = sdp.parse(_text(body))
        # our offer has video: an answer declining it (port 0) declines the booked protocol
        return self._video_as_booked(True, accept_answer(self._offer, reply, self.encryption))

    def answer(self, body: bytes) -> tuple[bytes, list[MediaPlan]]:
        """Our answer to the site's offer (dial-in) and its plans; SdpError or
        NegotiationError when the offer cannot be used."""
        site_offer = sdp.parse(_text(body))
        reply, plans = answer(site_offer, self.host, self._ports(), self.encryption,
                              video=video_offers_for(self.protocol), audio=MCU_AUDIO)
        offers_video = any(m.kind == "video" and m.port != 0 for m in site_offer.media)
        return sdp.serialize(reply).encode(), self._video_as_booked(offers_video, plans)

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

    @property
    def security(self) -> MediaSecurity | None:
        """What the settled media is protected with (None before the SDP settled)."""
        if not self.plans:
            return None
        if all(plan.encrypted for plan in self.plans):
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
        started = {id(session.sockets) for session in self.sessions}
        for sockets in self.sockets.values():
            if id(sockets) not in started:
                sockets.close()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise sdp.SdpError(f"the SDP is not UTF-8: {error}") from None
