"""The errors of the SIP layer: a message refused by the codec or the UA core (carrying the
status and reason phrase of the response it is answered with), a call that failed, and a
port the user agent cannot listen on."""

from __future__ import annotations


class SipParseError(ValueError):
    """A message that cannot be accepted; `status` and `reason` are the SIP response it is
    answered with (400 Bad Request and the header at fault, 413, 505, 513...)."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{status} {reason}" + (f": {detail}" if detail else ""))
        self.status = status
        self.reason = reason
        self.detail = detail


class SipCallFailed(Exception):
    """An INVITE (or another request of the UAC) that ended without a 2xx: `status` is the
    final SIP status (408 when the transaction timed out locally, `local` then True)."""

    def __init__(self, status: int, reason: str, *, local: bool = False) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.local = local


class SipListenError(OSError):
    """The user agent cannot listen on its address (the port taken by another program, or
    not ours to bind): the message names the address and how to choose another port."""
