"""Re-offers (RFC 3264 section 8) of a call that has the content and BFCP m-lines
(rtp/content_negotiation.py): both ends keep those two m-lines as they were (docs/sip.md,
"Content and BFCP for SIP sites", re-INVITEs).

- The offerer's side (`keep_content_lines`): a re-offer of audio and video built afresh
  (rtp/reoffer.next_offer on `main_part` of the previous SDP) gets the previous SDP's content
  and BFCP m-lines back, unchanged, in their place.
- The answerer's side (`reanswer_content`): the re-offer's content m-line must settle the very
  plan the content stream runs on (codec, payload type, address, port, the peer's key,
  direction; our key is kept when the peer's did not change) and its BFCP m-line must still
  be a floor control client's of ours when the floor was agreed. A re-offer that adds,
  removes or changes either raises NegotiationError ("content-change"): the SIP side answers
  488 and nothing changes. Where no content stream was settled, a content m-line at port 0
  (or none) is declined again, as is a BFCP m-line.
"""

from __future__ import annotations

import copy
import dataclasses

from rtp.bfcp_sdp import label_of, parse_stream
from rtp.content_negotiation import (
    DEFAULT_CONTENT_VIDEO,
    ServerFloor,
    Settled,
    bfcp_index,
    check_client,
    check_floor_labels,
    check_transport,
    content_answer,
    content_index,
    server_stream,
)
from rtp.negotiation import CodecOffer, NegotiationError
from rtp.sdes_policy import SdesPolicy
from rtp.sdp import MediaDescription, SessionDescription

CONTENT_CHANGE = "content-change"


def side_lines(session: SessionDescription) -> set[int]:
    """The indexes of the content and BFCP m-lines of `session`."""
    return {i for i in (content_index(session), bfcp_index(session)) if i is not None}


def main_part(session: SessionDescription) -> SessionDescription:
    """`session` without its content and BFCP m-lines (a copy)."""
    side = side_lines(session)
    return SessionDescription(session.origin, session.connection,
                              [m for i, m in enumerate(session.media) if i not in side],
                              session.name)


def masked(session: SessionDescription) -> SessionDescription:
    """`session` with its content and BFCP m-lines at port 0 (m-line order kept), the part
    rtp/negotiation.answer is given."""
    side = side_lines(session)
    return SessionDescription(
        session.origin, session.connection,
        [dataclasses.replace(m, port=0) if i in side else m
         for i, m in enumerate(session.media)], session.name)


def keep_content_lines(previous: SessionDescription,
                       fresh: SessionDescription) -> SessionDescription:
    """`fresh` (a re-offer of audio and video) with `previous`'s content and BFCP m-lines
    put back, unchanged, where they were."""
    kept = {i: copy.deepcopy(previous.media[i]) for i in side_lines(previous)}
    rest = iter(fresh.media)
    media: list[MediaDescription] = []
    for i in range(len(previous.media)):
        if i in kept:
            media.append(kept[i])
        elif (line := next(rest, None)) is not None:
            media.append(line)
    media.extend(rest)
    fresh.media = media
    return fresh


def _change(message: str) -> NegotiationError:
    return NegotiationError(CONTENT_CHANGE, message)


def reanswer_content(site_offer: SessionDescription, reply: SessionDescription,
                     settled: Settled, host: str, content_port: int | None,
                     policy: SdesPolicy, *, server: ServerFloor | None,
                     content_video: tuple[CodecOffer, ...] = DEFAULT_CONTENT_VIDEO,
                     content_direction: str = "sendrecv") -> None:
    """Fill `reply` (our answer to `masked(site_offer)`) with the content and BFCP m-lines
    of a re-offer that keeps them as `settled` has them; NegotiationError (content-change)
    or BfcpSdpError when it adds, removes or changes them."""
    content_at, bfcp_at = content_index(site_offer), bfcp_index(site_offer)
    old = settled.content
    our_label: str | None = None
    if old is None:
        if content_at is not None and site_offer.media[content_at].port != 0:
            raise _change("the re-offer adds a content stream the call does not have")
    else:
        if content_at is None or content_port is None:
            raise _change("the re-offer removes the call's content stream")
        media, plan = content_answer(site_offer.media[content_at], site_offer, host,
                                     content_port, policy, content_video, content_direction)
        if plan is None:
            raise _change("the re-offer drops the call's content stream or offers it with "
                          "nothing the MCU can take")
        if old.local_crypto is not None and plan.remote_crypto == old.remote_crypto:
            plan = dataclasses.replace(plan, local_crypto=old.local_crypto)
            media.crypto = [old.local_crypto]
        if not old.same_as(plan):
            raise _change("the re-offer changes the content stream (codec, payload type, "
                          "address, port, key or direction), which the call keeps as it is")
        reply.media[content_at] = media
        our_label = label_of(media)
    if bfcp_at is None:
        if settled.floor_agreed:
            raise _change("the re-offer removes the call's BFCP stream")
        return
    offered = site_offer.media[bfcp_at]
    reply.media[bfcp_at] = MediaDescription("application", 0, offered.proto, ["*"])
    if not settled.floor_agreed:
        if offered.port != 0 and old is not None:
            raise _change("the re-offer adds a BFCP stream the call does not have")
        return
    if offered.port == 0 or server is None:
        raise _change("the re-offer removes the call's BFCP stream")
    stream = parse_stream(offered)
    check_floor_labels(stream, site_offer)
    check_transport(stream, server.tls)
    check_client(stream)
    reply.media[bfcp_at] = server_stream(
        server, our_label, address=server.host if server.host != host else None)
