"""The RTP side of one SIP call (rtp/): its UDP sockets, bound before the SDP is written; the
offer or answer made from them under the booking's mediaEncryptType; and, once the SDP has
settled, the sessions that feed the call's SiteMedia like a WebRTC call's tracks do.

Incoming: an IncomingTrack per session, handed to SiteMedia.receive (its pictures into the
conference's frame slot, its audio into the mix). Outgoing: an RtpSender per session reading
the site's SiteVideoTrack (the encoder group's packets, already in the negotiated codec:
the group's OutputFormat carries it) and SiteAudioTrack (the mix: Opus packets, or frames
the sender encodes to G.722/G.711).
"""

from __future__ import annotations

import asyncio

from mcu.media.site_media import SiteMedia
from rtp import sdp
from rtp.codecs import offered_sizes
from rtp.negotiation import (
    DEFAULT_AUDIO,
    DEFAULT_VIDEO,
    CodecOffer,
    Encryption,
    MediaPlan,
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

# negotiated SDP encoding name -> the codec name SiteMedia and the mixer use
_AUDIO_NAMES = {"OPUS": "OPUS", "G722": "G722", "PCMU": "PCMU", "PCMA": "PCMA"}


class SipCallMedia:
    def __init__(self, host: str, media: SiteMedia, encryption: Encryption,
                 sockets: dict[str, MediaSockets]) -> None:
        self.host = host
        self.media = media
        self.encryption = encryption
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
        """Our offer (dial-out)."""
        self._offer = offer(self.host, self._ports(), self.encryption,
                            video=MCU_VIDEO, audio=MCU_AUDIO)
        return sdp.serialize(self._offer).encode()

    def accept(self, body: bytes) -> list[MediaPlan]:
        """The plans the site's answer settles; SdpError or NegotiationError when it
        cannot be used."""
        assert self._offer is not None, "accept() after offer()"
        reply = sdp.parse(_text(body))
        return accept_answer(self._offer, reply, self.encryption)

    def answer(self, body: bytes) -> tuple[bytes, list[MediaPlan]]:
        """Our answer to the site's offer (dial-in) and its plans; SdpError or
        NegotiationError when the offer cannot be used."""
        reply, plans = answer(sdp.parse(_text(body)), self.host, self._ports(),
                              self.encryption, video=MCU_VIDEO, audio=MCU_AUDIO)
        return sdp.serialize(reply).encode(), plans

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
    def encrypted(self) -> bool:
        return bool(self.plans) and all(plan.encrypted for plan in self.plans)

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
