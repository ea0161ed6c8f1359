"""How a simulated SIP room answers a re-INVITE from the MCU (RFC 3264 section 8), and retries
its own on glare (RFC 3261 section 14.1); docs/sip_media.md, "Asking SIP sites for what their
panes need".

- The answer is made as its first one was (rtp/negotiation.answer over the audio and video
  m-lines, its own codecs and encryption), keeping its key for every medium whose offered
  key did not change (rtp/reoffer.keep_keys) and its previous content and BFCP m-lines
  unchanged: a re-offer that only asks for another size changes no RTP session.
- Image attributes: a room that states them (`asks` holds "imageattr") takes the offer's
  `recv` size and `a=framerate` on its main video as the MCU's ask, and states what it
  sends (`send [x=W,y=H]`, a=framerate) in its answer.
- Glare: with `glare_next` set, the next MCU re-INVITE is met by a re-offer of the room's
  own, sent before the MCU's is answered 491, as two room systems re-offering at the same
  moment do; each side then retries after RFC 3261's random wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from rtp import imageattr, sdp
from rtp.content_reoffer import masked, side_lines
from rtp.negotiation import NegotiationError, answer
from rtp.reoffer import keep_keys, next_origin
from sip.dialog import Dialog
from sip.errors import SipCallFailed
from sip.useragent import SipReject
from terminals.sip_room_ladder import Ask

if TYPE_CHECKING:
    from terminals.sip_room import RoomCall, SipRoom

GLARE_OWNER_S = (2.1, 4.0)  # RFC 3261 14.1, the Call-ID's owner
GLARE_OTHER_S = (0.0, 2.0)
GLARE_ATTEMPTS = 5
GLARE_HEAD_START_S = 0.1  # the room's own re-INVITE is on its way before it answers 491


async def _quietly(work: Coroutine[Any, Any, bytes]) -> None:
    """A re-INVITE of the room's own whose outcome is kept in room.own_reinvites only."""
    with contextlib.suppress(SipCallFailed):
        await work


def ask_in(session: sdp.SessionDescription, payload_type: int) -> Ask | None:
    """The MCU's ask in an SDP of its: the main video's `recv` size and a=framerate."""
    video = imageattr.main_video(session)
    if video is None or video.port == 0:
        return None
    attribute = imageattr.for_payload(video, payload_type)
    size = imageattr.ImageAttr.largest(attribute.recv) if attribute is not None else None
    if size is None:
        return None
    return Ask("imageattr", size[0], size[1], imageattr.framerate_of(video) or 30)


def shape(room: SipRoom, ours: sdp.SessionDescription, *, offer: bool,
          peer_states: bool = True) -> None:
    """The room's own SDP as its `asks` say: without `ccm tmmbr` when it takes no TMMBR;
    image attributes on its main video when it takes them (in an answer only when the
    peer's SDP stated them): what it sends, or any size before it sends a loop."""
    for media in ours.media:
        if media.kind == "video" and "tmmbr" not in room.asks:
            for values in media.rtcp_fb.values():
                values.discard("ccm tmmbr")
    video = imageattr.main_video(ours)
    if video is None or video.port == 0 or "imageattr" not in room.asks:
        return
    if not offer and not peer_states:
        return
    ladder = room.ladder
    if ladder is None:
        imageattr.state(video, [imageattr.any_size_line()])
        return
    sending = ladder.sending
    imageattr.state(video, imageattr.promise_lines(sending.width, sending.height, sending.fps))


def take_ask(room: SipRoom, call: RoomCall, session: sdp.SessionDescription) -> None:
    """Follow the ask an SDP of the MCU's carries (when the room takes image attributes)."""
    video_plan = next((plan for plan in call.plans if plan.kind == "video"), None)
    if room.ladder is None or "imageattr" not in room.asks or video_plan is None:
        return
    ask = ask_in(session, video_plan.codec.payload_type)
    if ask is not None:
        room.ladder.take(ask)


async def answer_reoffer(room: SipRoom, dialog: Dialog, body: bytes) -> bytes | SipReject:
    """The room's UA's re-INVITE handler."""
    call = room.call
    if call is None or call.dialog is not dialog:
        return SipReject(481, "Call/Transaction Does Not Exist")
    room.reinvites_received += 1
    if room.glare_next:
        room.glare_next = False
        room.spawn(_quietly(room.reinvite()))  # ours crosses theirs: both get 491
        await asyncio.sleep(GLARE_HEAD_START_S)
        room.glares_answered += 1
        return SipReject(491, "Request Pending")
    try:
        offer = sdp.parse(body)
        ports = {kind: sockets.port for kind, sockets in call.sockets.items()}
        reply, plans = answer(masked(offer), room.host, ports, room.policy,
                              video=room.video_offers, audio=room.audio_offers)
        plans = keep_keys(plans, reply, call.plans)
    except (sdp.SdpError, NegotiationError, ValueError):
        return SipReject(488, "Not Acceptable Here")
    previous = sdp.parse(dialog.local_sdp)
    for index in side_lines(offer):  # content and BFCP: as they were
        if index < len(previous.media) and index < len(reply.media):
            reply.media[index] = copy.deepcopy(previous.media[index])
    await call.apply(plans)
    take_ask(room, call, offer)
    shape(room, reply, offer=False, peer_states=imageattr.understands_imageattr(offer))
    reply.origin = next_origin(previous.origin, True)
    return sdp.serialize(reply).encode()


async def reinvite_retrying(dialog: Dialog, body: bytes, outcomes: list[str]) -> bytes:
    """`dialog.reinvite(body)`, retried on 491 after RFC 3261 14.1's random wait (up to
    GLARE_ATTEMPTS times); any other failure raises SipCallFailed. Each attempt's final
    status is appended to `outcomes`."""
    for attempt in range(GLARE_ATTEMPTS):
        try:
            answer_body = await dialog.reinvite(body)
            outcomes.append("200")
            return answer_body
        except SipCallFailed as failure:
            outcomes.append(str(failure.status))
            if failure.status != 491 or attempt == GLARE_ATTEMPTS - 1:
                raise
            low, high = GLARE_OWNER_S if dialog.role == "uac" else GLARE_OTHER_S
            await asyncio.sleep(random.uniform(low, high))
    raise AssertionError("unreachable")
