"""A SIP site's re-INVITE (RFC 3261 section 14, RFC 3264 section 8): the site offers again
inside its call, and the MCU answers by what changed (docs/sip.md, "Re-INVITEs from a
site"):

    the o= version of the site's previous SDP   a session refresh: our previous answer,
    (nothing changed)                           byte for byte; nothing in the media changes
    a=sendonly / a=inactive (hold)              answered recvonly / inactive; the MCU stops
                                                sending that medium (video: the site leaves
                                                its encoder group); a=sendrecv resumes it
    another codec, payload type, key, address   that medium's RTP session is replaced on the
    or port                                     same ports; a new video codec moves the site
                                                to the encoder group of that codec (the
                                                group key: encode-once holds)
    a medium's port 0                           the site removed it: its session ends
    a medium it had that the MCU cannot accept  488; the call stays exactly as it was
    (no common codec, encryption not as
    booked, not the booked videoProtocol), or
    an SDP that does not parse
    a content or BFCP m-line added, removed     488; the call stays exactly as it was (the
    or changed                                  content stream and the floor are kept as the
                                                first offer/answer settled them)

Keys (SDES) are kept for a medium whose offered key did not change (rtp/reoffer.py
keep_keys), so a hold does not re-key; our o= version goes up only when our answer differs
from the last SDP we sent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mcu.media.sip_call_media import (
    CONTENT_VIDEO,
    MCU_AUDIO,
    SipCallMedia,
    readable_version,
    video_offers_for,
    without_origin,
)
from rtp import sdp
from rtp.content_reoffer import masked, reanswer_content
from rtp.imageattr import understands_imageattr
from rtp.negotiation import MediaPlan, NegotiationError, answer
from rtp.reoffer import SENDING, keep_keys, next_origin, same_session
from sip.dialog import Dialog
from sip.useragent import SipReject

if TYPE_CHECKING:
    from mcu.media.sip_endpoint import SipCall
    from mcu.media.sip_service import SipService

log = logging.getLogger(__name__)


async def on_reinvite(service: SipService, dialog: Dialog, body: bytes) -> bytes | SipReject:
    """The UA's re-INVITE handler: the call of that dialog answers it (488 for a dialog
    that is no call of ours any more, or a call that is closing)."""
    sip_call = next((each for each in service.calls
                     if each.dialog is dialog and not each.closed), None)
    if sip_call is None:
        return SipReject(488, "Not Acceptable Here")
    try:
        reply = await reanswer(sip_call.rtp, body)
    except (NegotiationError, sdp.SdpError) as error:
        log.info("SIP re-INVITE of %s refused (488), the call unchanged: %s",
                 sip_call.call.uri, error)
        return SipReject(488, "Not Acceptable Here")
    report(sip_call)
    sip_call.asker.renew()  # a replaced video session is asked again (mcu/media/sip_ask.py)
    return reply


def report(sip_call: SipCall) -> None:
    """The call detail record's negotiated media after the change."""
    if not sip_call.closed and sip_call.call.active:
        sip_call.report()


async def reanswer(rtp: SipCallMedia, body: bytes) -> bytes:
    """Our answer to the site's new offer, the media changed to match it; NegotiationError
    or SdpError (488) with nothing changed when it cannot be accepted."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise sdp.SdpError(f"the SDP is not UTF-8: {error}") from None
    if not text.strip():  # no offer in the re-INVITE: RFC 3261 14.2 asks us for one
        raise sdp.SdpError("a re-INVITE without an offer is not taken by the MCU")
    site_offer = sdp.parse(text)
    version = readable_version(site_offer)
    if version is not None and version == rtp.remote_version and rtp.last_answer is not None:
        return rtp.last_answer  # a session refresh
    reply, plans = _answer(rtp, site_offer)
    # what the send ladder asked stays asked in our answer (mcu/media/sip_ask.py)
    rtp.site_imageattr = understands_imageattr(site_offer)
    rtp.state_image_attributes(reply, rtp.site_imageattr)
    rtp.describe(plans)  # the next tick puts the site in the group of its new codec
    await _apply(rtp, plans)
    text_out = sdp.serialize(reply)
    changed = without_origin(text_out) != rtp.last_local
    reply.origin = next_origin(rtp.local_origin or reply.origin, changed)
    text_out = sdp.serialize(reply)
    rtp.local_origin, rtp.last_local = reply.origin, without_origin(text_out)
    rtp.remote_version = version
    rtp.last_answer = text_out.encode()
    return rtp.last_answer


def _answer(rtp: SipCallMedia, site_offer: sdp.SessionDescription
            ) -> tuple[sdp.SessionDescription, list[MediaPlan]]:
    """Our answer and its plans, under the same rules as the call's first answer, on the
    ports the call has (a medium without them is declined); NegotiationError when a medium
    the call has would be lost to anything but the site's own port 0, or when the content
    or BFCP m-line is added, removed or changed (rtp/content_reoffer.py; BfcpSdpError for
    BFCP lines that break the rules)."""
    ports = rtp.ports()
    video = video_offers_for(rtp.protocol) if "video" in ports else ()
    audio = MCU_AUDIO if "audio" in ports else ()
    main = masked(site_offer)  # the content and BFCP m-lines: reanswer_content
    reply, plans = answer(main, rtp.host, ports, rtp.policy, video=video, audio=audio)
    settled = {plan.kind for plan in plans}
    for kind in {plan.kind for plan in rtp.plans} - settled:
        offered = [m for m in main.media if m.kind == kind and m.port != 0]
        if offered:
            raise NegotiationError(*_why_refused(rtp, site_offer, offered[0]))
    plans = keep_keys(plans, reply, rtp.plans)  # before the content m-line is put in
    if rtp.settled is not None:
        content_port = rtp.content.sockets.port if rtp.content is not None else None
        reanswer_content(site_offer, reply, rtp.settled, rtp.host, content_port, rtp.policy,
                         server=rtp.floor, content_video=CONTENT_VIDEO)
    return reply, plans


def _why_refused(rtp: SipCallMedia, site_offer: sdp.SessionDescription,
                 media: sdp.MediaDescription) -> tuple[str, str]:
    """The reason and message of the one medium the re-offer loses."""
    alone = sdp.SessionDescription(site_offer.origin, site_offer.connection, [media])
    try:
        answer(alone, rtp.host, rtp.ports(), rtp.policy,
               video=video_offers_for(rtp.protocol), audio=MCU_AUDIO)
    except NegotiationError as error:
        return error.reason, f"the re-offer's {media.kind}: {error}"
    return "no-common-codec", f"the re-offer's {media.kind} cannot be taken"


async def apply_plans(rtp: SipCallMedia, plans: list[MediaPlan]) -> None:
    """The plans of an answer to the MCU's own re-offer (mcu/media/sip_ask.py), applied as
    a site's re-offer's are."""
    rtp.describe(plans)
    await _apply(rtp, plans)


async def _apply(rtp: SipCallMedia, plans: list[MediaPlan]) -> None:
    """Each medium changed as little as the new plan needs."""
    before = {plan.kind: plan for plan in rtp.plans}
    for plan in plans:
        old = before.get(plan.kind)
        if old is not None and same_session(old, plan):
            rtp.plans = [p if p.kind != plan.kind else plan for p in rtp.plans]
            session = rtp.session_of(plan.kind)
            if session is not None:
                session.set_direction(plan.direction)
            rtp.set_sending(plan.kind, plan.direction in SENDING)
        else:
            await rtp.replace(plan)
    for kind in set(before) - {plan.kind for plan in plans}:
        await rtp.drop(kind)
