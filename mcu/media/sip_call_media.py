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

from mcu.media.sip_content import SipContent
from mcu.media.site_media import SiteMedia
from mcu.model import MediaEncryptType, VideoProtocol
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
from rtp.encryption_policy import MediaSecurity, SdesRule
from rtp.imageattr import any_size_line, main_video, state, understands_imageattr
from rtp.negotiation import (
    DEFAULT_AUDIO,
    DEFAULT_VIDEO,
    CodecOffer,
    MediaPlan,
    NegotiationError,
)
from rtp.reoffer import SENDING, origin_version
from rtp.session import MediaSockets, RtpSession
from rtp.tracks import IncomingTrack, RtpSender

# The video codecs an encoder group can produce (mcu/media/video_encoders.py ENCODERS): VP9
# is left out of the MCU's offers and answers (no group encoder for it). H.264 in
# packetization mode 1 and, after it, constrained baseline in mode 0 (single NAL units: a
# site taking only mode 0 gets a group whose x264 caps its slices, OutputFormat.single_nal).
MCU_VIDEO: tuple[CodecOffer, ...] = tuple(
    codec for codec in DEFAULT_VIDEO if codec.name != "VP9")
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
    def __init__(self, host: str, media: SiteMedia, encryption: MediaEncryptType,
                 sockets: dict[str, MediaSockets], content: SipContent | None = None) -> None:
        self.host = host
        self.content = content  # the content stream's session (None: no content port)
        self.floor: ServerFloor | None = None  # the call's BFCP values (None: no BFCP)
        self.settled: Settled | None = None
        self.media = media
        self.encryption = encryption
        self.policy = SdesRule(encryption)  # the booking's rule, for rtp's negotiation
        self.protocol = media.spec.video_protocol
        self.sockets = sockets
        self.sessions: list[RtpSession] = []
        self.senders: list[RtpSender] = []
        self.plans: list[MediaPlan] = []
        self._offer: sdp.SessionDescription | None = None
        self._stopping: list[asyncio.Future[None]] = []  # senders being stopped
        # the SDP state a re-INVITE is judged against (mcu/media/sip_reinvite.py): our o=
        # line, the site's last o= (username, id, version), our last answer's bytes (None
        # while we were the offerer) and our last SDP without its o= line
        self.local_origin = ""
        self.remote_version: tuple[str, str, int] | None = None
        self.last_answer: bytes | None = None
        self.last_local = ""
        # RFC 6236 image attributes (mcu/media/sip_ask.py): whether the site's SDP states
        # them (it is then asked by re-INVITE), and what our main video states in every SDP
        # we send (any size until the send ladder asked the site for one)
        self.site_imageattr = False
        self.video_image_lines: list[str] = [any_size_line()]
        self.closed = False

    @classmethod
    async def bind(cls, host: str, media: SiteMedia,
                   encryption: MediaEncryptType) -> SipCallMedia:
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

    def ports(self) -> dict[str, int]:
        """Our RTP port of each medium still open."""
        return self._ports()

    def _ports(self) -> dict[str, int]:
        return {kind: sockets.port for kind, sockets in self.sockets.items()}

    def _content_port(self) -> int | None:
        return self.content.sockets.port if self.content is not None else None

    def offer(self) -> bytes:
        """Our offer (dial-out): audio, video, content and the BFCP stream. RTP/AVP
        (RTP/SAVP under force) with a=rtcp-fb lines, not the AVPF profiles, which an answerer
        without AVPF refuses outright (baresip 1.0.0 answers 488 to RTP/AVPF, and to
        RTP/SAVPF even when it requires SRTP); the feedback both sides list is used whatever
        the profile (docs/sip.md, "Calling the simulator from baresip")."""
        self._offer = offer_call(self.host, self._ports(), self._content_port(), self.policy,
                                 video=video_offers_for(self.protocol), audio=MCU_AUDIO,
                                 content_video=CONTENT_VIDEO, server=self.floor, avpf=False)
        self.state_image_attributes(self._offer, True)
        text = sdp.serialize(self._offer)
        self.local_origin, self.last_local = self._offer.origin, without_origin(text)
        return text.encode()

    def accept(self, body: bytes) -> list[MediaPlan]:
        """The plans the site's answer settles; SdpError or NegotiationError when it
        cannot be used."""
        assert self._offer is not None, "accept() after offer()"
        reply = sdp.parse(_text(body))
        self.site_imageattr = understands_imageattr(reply)
        self.remote_version = readable_version(reply)
        self.settled = accept_call(self._offer, reply, self.policy)
        # our offer has video: an answer declining it (port 0) declines the booked protocol
        return self._video_as_booked(True, self.settled.plans)

    def answer(self, body: bytes) -> tuple[bytes, list[MediaPlan]]:
        """Our answer to the site's offer (dial-in) and its plans; SdpError or
        NegotiationError when the offer cannot be used."""
        site_offer = sdp.parse(_text(body))
        reply, settled = answer_call(site_offer, self.host, self._ports(), self._content_port(),
                                     self.policy, video=video_offers_for(self.protocol),
                                     audio=MCU_AUDIO, content_video=CONTENT_VIDEO,
                                     server=self.floor)
        self.settled = settled
        self.site_imageattr = understands_imageattr(site_offer)
        self.state_image_attributes(reply, self.site_imageattr)
        offers_video = any(m.kind == "video" and m.port != 0 for m in site_offer.media)
        plans = self._video_as_booked(offers_video, settled.plans)
        text = sdp.serialize(reply)
        self.local_origin, self.last_local = reply.origin, without_origin(text)
        self.remote_version = readable_version(site_offer)
        self.last_answer = text.encode()
        return self.last_answer, plans

    def state_image_attributes(self, ours: sdp.SessionDescription, stated: bool) -> None:
        """Our main video's image attributes in an SDP of ours: only in an offer, or in an
        answer to an SDP that states them (RFC 6236 section 3.2)."""
        video = main_video(ours)
        if stated and video is not None and video.port != 0:
            state(video, list(self.video_image_lines))

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
                self.media.video_single_nal = (
                    name == "H264" and plan.codec.packetization_mode == 0)
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
            self._run(plan)
        if self.content is not None:
            self.content.start()

    def _run(self, plan: MediaPlan) -> None:
        """One medium's session on its sockets: whatever the site sends received (a site
        that may not send, sends nothing), ours sent when the plan's direction lets us
        send."""
        session = RtpSession(self.sockets[plan.kind], plan, cname=f"mcu-sim-{self.media.uri}")
        session.start()
        self.sessions.append(session)
        self.media.receive(IncomingTrack(session))
        self.set_sending(plan.kind, plan.direction in SENDING)

    def session_of(self, kind: str) -> RtpSession | None:
        return next((session for session in self.sessions if session.kind == kind), None)

    def set_sending(self, kind: str, send: bool) -> None:
        """Start or stop sending `kind` (a hold stops it, a resume starts it again). Video
        on hold takes the site out of every encoder group (SiteMedia.video_held)."""
        session = self.session_of(kind)
        sender = next((each for each in self.senders if each.session.kind == kind), None)
        if kind == "video":
            self.media.video_held = not send
        if not send or session is None:
            if sender is not None:
                self.senders.remove(sender)
                self._stopping.append(asyncio.ensure_future(sender.stop()))
            return
        if sender is not None:
            return
        if kind == "video":
            sender = RtpSender(session, self.media.video_out)
            sender.on_keyframe_request = self.media.video_out.request_keyframe
        else:
            sender = RtpSender(session, self.media.audio_out)
        sender.start()
        self.senders.append(sender)
        if kind == "video":  # a resumed or new session starts at the group's next keyframe
            self.media.video_out.request_keyframe()

    async def replace(self, plan: MediaPlan) -> None:
        """A new session for `plan`'s medium on the same sockets (its codec, keys or peer
        changed): the old one's sender stopped and the session closed first."""
        old = self.session_of(plan.kind)
        if old is not None:
            self.set_sending(plan.kind, False)
            await self._settle()
            self.sessions.remove(old)
            await old.close(keep_sockets=True)
        if plan.kind == "video":  # out of its old group: the next tick's regroup places it
            self.media.video_out.join_group(None)
        self.plans = [*(p for p in self.plans if p.kind != plan.kind), plan]
        self._run(plan)
        new = self.session_of(plan.kind)
        if old is not None and new is not None:  # its old stream gives way to a new SSRC
            new.replaced_source = old.remote_ssrc

    async def drop(self, kind: str) -> None:
        """The site removed the medium (port 0 in its re-offer): its session and sockets end."""
        session = self.session_of(kind)
        self.set_sending(kind, False)
        await self._settle()
        if session is not None:
            self.sessions.remove(session)
            await session.close()
        sockets = self.sockets.pop(kind, None)
        if sockets is not None:
            sockets.close()
        self.plans = [plan for plan in self.plans if plan.kind != kind]
        if kind == "video":  # no video any more: no encoder group feeds the site
            self.media.video_codec = None
        else:
            self.media.audio_codec = None

    async def _settle(self) -> None:
        stopping, self._stopping = self._stopping, []
        await asyncio.gather(*stopping, return_exceptions=True)

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
        await self._settle()
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


def without_origin(text: str) -> str:
    """An SDP's text without its o= line: what tells whether our description changed."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("o="))


def readable_version(session: sdp.SessionDescription) -> tuple[str, str, int] | None:
    """The o= line's (username, id, version), None when it is not the RFC's six fields."""
    try:
        return origin_version(session)
    except sdp.SdpError:
        return None
