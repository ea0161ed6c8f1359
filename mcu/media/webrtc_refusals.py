"""What a WebRTC call tells its terminal when refused, and why a call the terminal left failed:
the codes of signalling `error` messages (docs/signalling.md) and the CallFailure of a
`decline` or an early `bye`."""

from __future__ import annotations

from mcu.calls import CallFailure
from mcu.events import ErrorInfo
from rtc.signalling import UNKNOWN_CALL, CallMessage, Error

# Error codes of signalling `error` messages sent for calls (docs/signalling.md).
CONFERENCE_NOT_FOUND = "conference_not_found"
WRONG_PASSWORD = "wrong_password"
DIAL_IN_REFUSED = "dial_in_refused"
LOCKED = "locked"  # dial-in: too many failed attempts of this socket, URI or access code
NO_CAPACITY = "no_capacity"  # an ad-hoc conference could not start or grow: MCU capacity
BAD_SDP = "bad_sdp"
CODEC_MISMATCH = "codec_mismatch"  # dial-in: the offer has no codec the booking allows
NOT_JOINED = "not_joined"  # `stats` of a call whose site is not connected in its conference


def unknown_call(message: CallMessage) -> Error:
    """The `unknown_call` refusal of a message about a call the MCU does not have (a late
    answer, a stats report after the call ended), naming the message it refuses."""
    return Error(UNKNOWN_CALL, f"no such call: {message.type} {message.call_id!r}",
                 message.call_id)


def unanswered_bye_failure(reason: str) -> ErrorInfo:
    """Why a call the terminal left before it was in conference failed: its media could not
    be set up (116), or it gave up on the call (115)."""
    if "fail" in reason.lower():
        return CallFailure.NETWORK_ERROR.info(f"terminal: {reason}")
    return CallFailure.CALLEE_REJECTED.info(f"terminal: {reason}" if reason else "")


def decline_failure(reason: str) -> ErrorInfo:
    """A `decline`: busy (117) when its reason is "busy" (docs/signalling.md), else rejected
    (115), with the terminal's words."""
    if reason.strip().lower() == "busy":
        return CallFailure.CALLEE_BUSY.info(f"terminal: {reason}")
    return CallFailure.CALLEE_REJECTED.info(f"terminal: {reason}" if reason else "")
