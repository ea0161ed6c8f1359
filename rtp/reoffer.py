"""A new offer inside an existing session (RFC 3264 section 8): what both ends of a SIP call
need to tell a session refresh from a change, and to change only what changed.

- `origin_version`: the o= line's (username, session id, version); an offer with the same
  version as the offerer's previous SDP is a refresh (section 8: "the version MUST be
  incremented" only when the description changed), answered with the previous answer.
- `same_session`: whether a medium's new plan can run on its current RTP session (only the
  direction differs: hold and resume start or stop sending, nothing else); anything else
  (codec, payload type, fmtp, address, port, keys, DTMF type) needs a new session on the
  same sockets.
- `keep_keys`: an answerer keeps its SDES key for a medium whose offered key did not change
  (RFC 4568 section 7.1.4: a re-offer need not re-key), so a hold is not a re-key.
- `next_offer`: the offerer's side: the previous session id with the version incremented
  and, per medium, the previous offer's crypto lines (the keys in use), so a re-offer that
  changes the direction or the codecs does not change keys.
- `next_origin`: our own o= line for the next SDP we send, its version incremented only
  when the description changed.
"""

from __future__ import annotations

from dataclasses import replace

from rtp.negotiation import MediaPlan
from rtp.sdp import SdpError, SessionDescription

SENDING = frozenset({"sendrecv", "sendonly"})  # a plan's direction in which we send
RECEIVING = frozenset({"sendrecv", "recvonly"})  # ... in which we receive


def origin_version(session: SessionDescription) -> tuple[str, str, int]:
    """(username, session id, version) of the o= line; SdpError when it is not
    `username sess-id sess-version nettype addrtype address` with a numeric version."""
    fields = session.origin.split()
    if len(fields) != 6 or not fields[2].isdigit():
        raise SdpError(f"o= line is not 'username sess-id sess-version nettype addrtype "
                       f"address': {session.origin!r}")
    return fields[0], fields[1], int(fields[2])


def next_origin(previous: str, changed: bool) -> str:
    """`previous` o= value with its version incremented when `changed`."""
    fields = previous.split()
    if changed and len(fields) == 6 and fields[2].isdigit():
        fields[2] = str(int(fields[2]) + 1)
    return " ".join(fields)


def same_session(old: MediaPlan, new: MediaPlan) -> bool:
    """Everything but the direction is unchanged: the medium's RTP session goes on. The
    other payload types of the same codec a dial-out call's first answer settled (MediaPlan
    same_codec_types, from our offer's list) are not a change: an answer to the site's
    re-offer lists only the site's."""
    return old.same_as(replace(new, direction=old.direction))


def keep_keys(plans: list[MediaPlan], reply: SessionDescription,
              previous: list[MediaPlan]) -> list[MediaPlan]:
    """`plans` (and the answer `reply` stating them) with our previous key for every medium
    whose offered key is the one in use."""
    before = {plan.kind: plan for plan in previous}
    kept = []
    for plan in plans:
        old = before.get(plan.kind)
        if (old is not None and old.local_crypto is not None
                and plan.remote_crypto is not None and plan.remote_crypto == old.remote_crypto):
            plan = replace(plan, local_crypto=old.local_crypto)
            for media in reply.media:
                if media.kind == plan.kind and media.port != 0:
                    media.crypto = [old.local_crypto]
        kept.append(plan)
    return kept


def next_offer(previous: SessionDescription, fresh: SessionDescription) -> SessionDescription:
    """`fresh` (a new offer made from scratch) as the next offer of the session `previous`
    was the last SDP of ours in: its session id, the version incremented, and the crypto
    lines `previous` had for each medium that keeps being encrypted."""
    keys = {media.kind: media.crypto for media in previous.media if media.port != 0}
    for media in fresh.media:
        if media.crypto and keys.get(media.kind):
            media.crypto = list(keys[media.kind])
    fresh.origin = next_origin(previous.origin, True)
    return fresh
