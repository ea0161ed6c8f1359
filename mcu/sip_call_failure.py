"""The MCU's callFailedReason for a SIP call that ended without a 2xx (the table is in
docs/sip.md): SIP final statuses mapped onto the platform's call failure codes of
mcu/calls.py CallFailure. It lives in mcu/ because the codes are the platform's: sip/ knows
SIP, not the MCU."""

from __future__ import annotations

from mcu.calls import CallFailure
from sip.errors import SipCallFailed

_BY_STATUS: dict[int, CallFailure] = {
    404: CallFailure.CALLEE_OFFLINE,  # Not Found
    410: CallFailure.CALLEE_OFFLINE,  # Gone
    480: CallFailure.CALLEE_OFFLINE,  # Temporarily Unavailable (not registered / logged in)
    484: CallFailure.CALLEE_OFFLINE,  # Address Incomplete
    604: CallFailure.CALLEE_OFFLINE,  # Does Not Exist Anywhere
    486: CallFailure.CALLEE_BUSY,  # Busy Here
    600: CallFailure.CALLEE_BUSY,  # Busy Everywhere
    403: CallFailure.CALLEE_REJECTED,  # Forbidden
    603: CallFailure.CALLEE_REJECTED,  # Decline
    408: CallFailure.NO_ANSWER,  # Request Timeout sent by the callee's side
    487: CallFailure.NO_ANSWER,  # Request Terminated: our CANCEL (the ringing timed out)
    415: CallFailure.CODEC_MISMATCH,  # Unsupported Media Type
    488: CallFailure.CODEC_MISMATCH,  # Not Acceptable Here (no acceptable SDP)
    606: CallFailure.CODEC_MISMATCH,  # Not Acceptable
}


def call_failure(status: int, *, local: bool = False) -> CallFailure:
    """The failure code for a final status; `local` is a timeout of our own transaction
    (timer B: nothing answered at all), which is a network failure, not an unanswered call."""
    if local:
        return CallFailure.NETWORK_ERROR
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return CallFailure.NETWORK_ERROR  # any other 3xx-6xx: 5xx, 401/407 we cannot answer...


def failure_of(error: SipCallFailed) -> CallFailure:
    return call_failure(error.status, local=error.local)
