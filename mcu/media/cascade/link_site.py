"""The other engine as one site of this engine's conference: a SiteMedia whose pictures and
audio come and go over RTP (rtp/, the same sessions a SIP room system's call runs on:
mcu/media/sip_call_media.py), H.264 and Opus, SDES-SRTP by default.

It joins the conference media like a call does (its output format from its SiteSpec: the
link's format, by default the engine's default format, at the conference's rate or the
format's default bit rate), but it is no site of
the runtime's: no call state, no status, and the conference media's `joined` gets its URI
from here, not from a SiteCallStateChanged.
"""

from __future__ import annotations

import logging

from mcu.calls import Call
from mcu.media.conference_media import ConferenceMedia
from mcu.media.sip_call_media import SipCallMedia
from mcu.media.site_media import SiteMedia
from mcu.model import MediaEncryptType, SiteSpec, VideoFormat, VideoProtocol
from rtp.negotiation import MediaPlan

log = logging.getLogger(__name__)

LINK_SCHEME = "cascade:"


def link_uri(name: str) -> str:
    """The URI of a cascade link's site ("cascade:" + the other engine's name)."""
    return LINK_SCHEME + name


class LinkSite:
    def __init__(self, conference: ConferenceMedia, uri: str, rtp: SipCallMedia) -> None:
        self.conference = conference
        self.uri = uri
        self.rtp = rtp
        self.media = rtp.media
        self.joined = False

    @classmethod
    async def bind(cls, conference: ConferenceMedia, uri: str, host: str,
                   encryption: MediaEncryptType = MediaEncryptType.FORCE,
                   video_format: VideoFormat | None = None, rate: str | None = None) -> LinkSite:
        """Its UDP sockets on `host` (one pair for audio, one for video); the picture it is
        sent at `video_format` (None: the engine's default format) and `rate` (None: the
        conference's, else the format's default)."""
        spec = SiteSpec(uri, name=uri, rate=rate, video_format=video_format,
                        video_protocol=VideoProtocol.H264)
        call = Call(conference.conf_id, spec, on_change=lambda _: None)
        rtp = await SipCallMedia.bind(host, SiteMedia(call), encryption)
        return cls(conference, uri, rtp)

    def offer(self) -> str:
        return self.rtp.offer().decode()

    def answer(self, offer: str) -> str:
        """Our answer to the other engine's offer; the sessions start (SdpError,
        NegotiationError when the offer cannot be used)."""
        body, plans = self.rtp.answer(offer.encode())
        self._join(plans)
        return body.decode()

    def accept(self, answer: str) -> None:
        """The other engine's answer to our offer; the sessions start."""
        self._join(self.rtp.accept(answer.encode()))

    def _join(self, plans: list[MediaPlan]) -> None:
        if {plan.kind for plan in plans} != {"audio", "video"}:
            raise ValueError("a cascade link needs both audio and video")
        self.rtp.describe(plans)
        self.rtp.start(plans)
        self.conference.add_site(self.media)
        if self.uri not in self.conference.joined:
            self.conference.joined.append(self.uri)
        self.joined = True

    @property
    def rtp_stats(self) -> dict[str, int]:
        """Packets sent and received over the link's sessions."""
        sent = sum(session.stats.packets_sent for session in self.rtp.sessions)
        received = sum(session.stats.packets_received for session in self.rtp.sessions)
        return {"packets_sent": sent, "packets_received": received}

    async def close(self) -> None:
        """Out of the conference's pictures and mix, sessions closed."""
        if self.joined:
            self.joined = False
            if self.uri in self.conference.joined:
                self.conference.joined.remove(self.uri)
            self.conference.remove_site(self.media)
        else:
            self.media.close()
        await self.rtp.close()
