"""libsrtp as the C extensions call it (rtc/batch_receive.c, rtc/batch_send.c): the
addresses of `srtp_protect` and `srtp_unprotect` in the libsrtp that pylibsrtp's cffi
binding links, and the `srtp_t` of a pylibsrtp session (aiortc's DTLS transport's own), so
the C works on the very SRTP state that pylibsrtp and aiortc use."""

from __future__ import annotations

import pylibsrtp
from pylibsrtp._binding import ffi, lib


def _function_address(name: str) -> int:
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))


SRTP_PROTECT = _function_address("srtp_protect")
SRTP_UNPROTECT = _function_address("srtp_unprotect")


def session_address(session: pylibsrtp.Session) -> int:
    """The srtp_t of a pylibsrtp session, as an address."""
    return int(ffi.cast("uintptr_t", session._srtp[0]))
