"""The send ladder's ask (mcu/media/send_ladder.py) to a SIP site, over SIP and RTCP
(docs/sip_media.md, "Asking SIP sites for what their panes need"):

- RTCP TMMBR (RFC 5104), when the call negotiated `a=rtcp-fb:* ccm tmmbr` on its video: the
  bit rate the asked size and rate need (rtp/tmmbr.py picture_bitrate), sent at once (no
  transaction), repeated with the RTCP reports until the site's TMMBN states it;
- a re-INVITE (RFC 3264 section 8: the same session, our o= version + 1, every m-line as
  our last SDP had it, keys kept) whose main video m-line carries
  `a=imageattr:* send * recv [x=W,y=H]` (RFC 6236) and `a=framerate:F` (RFC 4566), when the
  site's SDP showed it understands image attributes (it stated a=imageattr on its video).

The ask's hysteresis is the ladder's (SendLadder.settle sends an ask only when it changes).
A re-offer that replaces the video session (the site's re-INVITE with another codec, SSRC or
port) does not change the ask, but the new session was never asked: `renew` asks it again
(a TMMBR to the new SSRC until its TMMBN; the image attributes are in our answer already).
At most one re-INVITE is in flight per dialog: a newer ask waits for it and is then offered
(only the newest: the ones in between are skipped). RFC 3261 section 14.1 glare: a 491 (the
site's own re-INVITE crossed ours, and it answered 491 while ours answers theirs 491) is
retried after a random 2.1-4 s when the MCU owns the Call-ID (it dialled out), 0-2 s when
the site does; our re-INVITE waits while we are still answering one of the site's. Any
other failure (488, 5xx, a timeout) or an answer that cannot be used leaves the call as it
was (section 14.1) and ends re-INVITE asks for that call: the MCU scales what it gets, and
TMMBR asks go on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

from mcu.media.send_ladder import SendAsk
from mcu.media.sip_call_media import readable_version, without_origin
from mcu.media.sip_reinvite import apply_plans, report
from rtp import imageattr, sdp
from rtp.content_negotiation import bfcp_index
from rtp.content_reoffer import side_lines
from rtp.imageattr import main_video
from rtp.negotiation import NegotiationError, accept_answer
from rtp.reoffer import next_origin
from rtp.tmmbr import picture_bitrate
from sip.errors import SipCallFailed

if TYPE_CHECKING:
    from mcu.media.sip_endpoint import SipCall
    from rtp.session import RtpSession

log = logging.getLogger(__name__)

GLARE_OWNER_S = (2.1, 4.0)  # RFC 3261 14.1: the Call-ID's owner waits this long after 491
GLARE_OTHER_S = (0.0, 2.0)  # ... and the other side this long
ANSWERING_POLL_S = 0.05


class SipAsker:
    """How one SIP call is asked for a size and rate: `ask` is its SiteMedia.ask_send."""

    def __init__(self, sip_call: SipCall) -> None:
        self.sip_call = sip_call
        self.wanted: SendAsk | None = None  # the ladder's latest ask
        self.offered: SendAsk | None = None  # the last ask a re-INVITE settled
        self.promised: tuple[int, int, int] | None = None  # the site's answer: what it sends
        self.reinvites_sent = 0
        self.glares = 0  # 491 answers to ours
        self.refused: str | None = None  # the failure that ended re-INVITE asks
        self.tmmbr_asks = 0
        self._asked_session: RtpSession | None = None  # the video session last asked
        self._task: asyncio.Task[None] | None = None

    @property
    def by_tmmbr(self) -> bool:
        session = self.sip_call.rtp.session_of("video")
        return session is not None and session.tmmbr_negotiated

    @property
    def by_reinvite(self) -> bool:
        return self.refused is None and self.sip_call.rtp.site_imageattr

    @property
    def can_ask(self) -> bool:
        return self.by_tmmbr or self.by_reinvite

    def ask(self, ask: SendAsk) -> None:
        """The ladder's ask: a TMMBR now, a re-INVITE unless one is under way (the newest
        ask is offered when it ends)."""
        self.wanted = ask
        session = self.sip_call.rtp.session_of("video")
        self._asked_session = session
        if session is not None and session.send_tmmbr(
                picture_bitrate(ask.width, ask.height, ask.fps)):
            self.tmmbr_asks += 1
        if self.by_reinvite and (self._task is None or self._task.done()):
            self._task = self.sip_call.service.spawn(
                self._reoffer_until_settled(), f"sip ask {self.sip_call.call.uri}")

    def renew(self) -> None:
        """After an offer/answer that may have changed the call's media (the site's
        re-INVITE, or the answer to ours): whether the call can be asked is worked out again
        (SiteMedia.ask_send), and a video session that is not the one last asked (a new
        codec, SSRC or port replaced it) is asked the current ask again: a TMMBR to its
        SSRC, repeated until the site's TMMBN states it, and a re-INVITE when the site
        takes image attributes and our last answer did not state this ask. The ladder
        itself sends nothing: to it the site's ask did not change."""
        call = self.sip_call
        if call.closed:
            return
        call.media.ask_send = self.ask if self.can_ask else None
        session = call.rtp.session_of("video")
        if self.wanted is None or session is None or session is self._asked_session:
            return
        self.ask(self.wanted)

    async def _reoffer_until_settled(self) -> None:
        call = self.sip_call
        while call.dialog is None and not call.closed:  # a dial-in not confirmed yet
            await asyncio.sleep(ANSWERING_POLL_S)
        while not call.closed and self.refused is None:
            want = self.wanted
            dialog = call.dialog
            if want is None or want == self.offered or dialog is None:
                return
            while dialog.answering and not dialog.terminated.is_set():
                await asyncio.sleep(ANSWERING_POLL_S)  # their re-INVITE first
            if dialog.terminated.is_set() or call.closed:
                return
            try:
                await self._reoffer(want)
            except SipCallFailed as failure:
                if failure.status == 491:
                    self.glares += 1
                    low, high = GLARE_OWNER_S if dialog.role == "uac" else GLARE_OTHER_S
                    await asyncio.sleep(random.uniform(low, high))
                    continue
                self._refuse(f"SIP {failure.status} {failure.reason}".strip())
                return
            except (NegotiationError, sdp.SdpError, UnicodeDecodeError) as error:
                self._refuse(f"unusable answer: {error}")
                return
            self.offered = want

    def _refuse(self, why: str) -> None:
        self.refused = why
        if not self.by_tmmbr:  # no way left to ask it: the ladder leaves it out (asked: null)
            self.sip_call.media.ask_send = None
        log.info("SIP site %s did not take the send ladder's re-INVITE (%s): the call "
                 "stays as it was, the MCU scales what it sends", self.sip_call.call.uri, why)

    async def _reoffer(self, ask: SendAsk) -> None:
        """One re-INVITE carrying `ask`; the site's answer applied like its own re-offers'
        (mcu/media/sip_reinvite.py): a medium it keeps as it was goes on untouched."""
        call = self.sip_call
        rtp = call.rtp
        dialog = call.dialog
        assert dialog is not None
        offer = sdp.parse(dialog.local_sdp.decode("utf-8"))
        video = main_video(offer)
        if video is None or video.port == 0:
            raise NegotiationError("bad-answer", "the call has no main video to ask about")
        lines = imageattr.ask_lines(ask.width, ask.height, ask.fps)
        imageattr.state(video, lines)
        floor = bfcp_index(offer)
        if floor is not None:  # the floor's connection goes on (RFC 4145)
            offer.media[floor].other = ["connection:existing" if line == "connection:new"
                                        else line for line in offer.media[floor].other]
        offer.origin = next_origin(rtp.local_origin or offer.origin, True)
        text = sdp.serialize(offer)
        self.reinvites_sent += 1
        body = await dialog.reinvite(text.encode())
        reply = sdp.parse(body.decode("utf-8"))
        side = side_lines(offer)  # the answer's content and BFCP m-lines are in their place
        plans = accept_answer(_without(offer, side), _without(reply, side), rtp.policy)
        rtp.local_origin, rtp.last_local = offer.origin, without_origin(text)
        rtp.remote_version, rtp.last_answer = readable_version(reply), None
        rtp.video_image_lines = lines  # our answers to the site's re-offers keep asking
        answered = main_video(reply)
        attrs = imageattr.attributes_of(answered) if answered is not None else []
        sent = next((imageattr.ImageAttr.largest(a.send) for a in attrs if a.send), None)
        if sent is not None and answered is not None:
            self.promised = (*sent, imageattr.framerate_of(answered) or ask.fps)
        await apply_plans(rtp, plans)
        report(call)
        if rtp.session_of("video") is not self._asked_session:  # the answer replaced it
            self.renew()


def _without(session: sdp.SessionDescription, indexes: set[int]) -> sdp.SessionDescription:
    """`session` without the m-lines at `indexes` (a declined content m-line of an answer
    says nothing that tells it from a video one: the offer's indexes do)."""
    return sdp.SessionDescription(session.origin, session.connection,
                                  [m for i, m in enumerate(session.media) if i not in indexes],
                                  session.name)
