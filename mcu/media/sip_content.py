"""The content (aux) stream of one SIP call at the MCU (docs/sip.md, "Content and BFCP for
SIP sites"): the content m-line's RTP session, fed and read like a WebRTC call's second
video m-line (mcu/media/site_media.py):

- what the site sends (while it holds the floor) arrives ENCODED: the session hands every
  reassembled frame to the site's ContentTap (`SiteMedia.take_content`), which gives it to
  the conference (forwarded unchanged to the other sites when it is the holder's) and says
  whether it is to be decoded too (a CP pane, a site without a second stream, a transcode);
  decoded pictures go to `SiteMedia.content_picture`; the conference's keyframe requests go
  to the site as RTCP PLI/FIR (`RtpSession.request_keyframe`);
- what it receives is the site's `content_out` (the forwarder's packets or a content
  encoder group's), packetized by an RtpSender; the site's PLI/FIR ask that source.

The direction the SDP settled (our view) says which: we receive when the site sends
(sendrecv/recvonly), we send when it shows content (sendrecv/sendonly). The floor's
BFCP identity of the call (`server_floor`) is what the SDP's BFCP m-line tells the site.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcu.media.site_media import SiteMedia
from rtp.content_negotiation import ServerFloor
from rtp.negotiation import MediaPlan
from rtp.session import MediaSockets, RtpSession
from rtp.tracks import RtpSender

if TYPE_CHECKING:
    from mcu.runtime.content_floor import ContentFloors

RECEIVING = ("sendrecv", "recvonly")  # our direction: the site sends content
SENDING = ("sendrecv", "sendonly")  # we send: the site shows content


def server_floor(floors: ContentFloors, conf_id: str, uri: str) -> ServerFloor | None:
    """The RFC 8856 values of this call's floor (mcu/runtime/content_floor.py: the process's
    BFCP server, the conference's BFCP id, the site's user id); None when no BFCP server
    listens or the conference is not live."""
    identity = floors.bfcp_identity(conf_id, uri)
    if identity is None:
        return None
    address = identity.address
    return ServerFloor(address.host, address.port, address.tls, identity.conference_id,
                       identity.user_id, identity.floor_id)


class SipContent:
    """The content session of one SIP call."""

    def __init__(self, media: SiteMedia, sockets: MediaSockets) -> None:
        self.media = media
        self.sockets = sockets
        self.plan: MediaPlan | None = None
        self.session: RtpSession | None = None
        self.sender: RtpSender | None = None

    def describe(self, plan: MediaPlan | None) -> None:
        """Tell the SiteMedia what the content m-line settled (before the call is in
        conference: the conference routes content by it). None: no content stream."""
        self.plan = plan
        media = self.media
        if plan is None:
            media.content_codec = None
            media.content_send = media.content_receive = False
            return
        media.content_codec = plan.codec.name.upper()
        media.content_send = plan.direction in RECEIVING
        media.content_receive = plan.direction in SENDING

    def start(self) -> None:
        """Run the content session (its sockets are closed when no content was settled)."""
        plan, media = self.plan, self.media
        if plan is None:
            self.sockets.close()
            return
        session = RtpSession(self.sockets, plan, cname=f"mcu-sim-{media.uri}-content")
        self.session = session
        if media.content_send:
            tap = media.take_content(session.request_keyframe)
            codec = media.content_codec or plan.codec.name.upper()
            session.on_encoded_frame = lambda data, stamp: tap.admit(codec, data, stamp)
            session.on_frame = media.content_picture
        session.start()
        if media.content_receive:
            sender = RtpSender(session, media.content_out)
            sender.on_keyframe_request = media.content_out.request_keyframe
            sender.start()
            self.sender = sender

    @property
    def encrypted(self) -> bool | None:
        """Whether the content stream is SRTP (None: no content stream)."""
        return None if self.plan is None else self.plan.encrypted

    async def close(self) -> None:
        if self.sender is not None:
            await self.sender.stop()
        if self.session is not None:
            await self.session.close()
        else:
            self.sockets.close()
