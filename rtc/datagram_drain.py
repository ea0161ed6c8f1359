"""UDP sockets read in batches: up to `DATAGRAMS_PER_WAKEUP` datagrams per readiness event.

asyncio's selector datagram transport (`_SelectorDatagramTransport._read_ready`) reads ONE
datagram each time the selector reports the socket readable, and the selector is polled
once per loop pass. A loop pass on a busy media process takes milliseconds (decoding,
encoding, compositing callbacks between two polls), so a socket is read at most a few
hundred times a second, whatever is queued: when 1080p content and main video arrive
faster than that, the kernel queue grows (megabytes were measured on the demo's sockets)
and a STUN answer or consent check waits behind all of it, its latency growing without
bound until RFC 7675 consent expires and the call ends.

`drain_when_readable(transport)` registers, in place of the transport's own reader, one
that reads until the socket is empty (EAGAIN) or `DATAGRAMS_PER_WAKEUP` datagrams were read,
handing each to the protocol's `datagram_received` exactly as asyncio does, with asyncio's
error handling (`error_received` for an OSError, the transport's fatal error otherwise). The
cap keeps one flooded socket from holding the loop; a socket with more left is reported
readable again at the next pass. Only asyncio's selector transport is changed; any other
(uvloop, the proactor) is left as it is.

This reaches into asyncio's private transport state (`_sock`, `_protocol`, `_conn_lost`,
`_fatal_error`, `max_size`, the loop's `_add_reader`); tests/test_datagram_drain.py checks
they still exist in the running Python.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import time
import weakref
from collections.abc import Callable
from typing import Any

DATAGRAMS_PER_WAKEUP = 64

_SELECTOR_DATAGRAM_TRANSPORT: type[Any] = (
    asyncio.selector_events._SelectorDatagramTransport)  # type: ignore[attr-defined]


# When each drained transport last read a datagram (time.monotonic()), for diagnostics.
_last_read: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def last_read_age(transport: asyncio.BaseTransport) -> float | None:
    """Seconds since a drained transport last read a datagram; None if it never did (or is
    not drained)."""
    read_at = _last_read.get(transport)
    return None if read_at is None else time.monotonic() - read_at


def open_selector_transport(transport: asyncio.BaseTransport) -> Any | None:
    """`transport` if it is asyncio's selector datagram transport and still open (its
    private state may be used), else None."""
    if type(transport) is not _SELECTOR_DATAGRAM_TRANSPORT:
        return None
    selector_transport: Any = transport
    if selector_transport._conn_lost or selector_transport._sock is None:
        return None
    return selector_transport


def _read_with(transport: asyncio.BaseTransport, callback: Callable[..., None],
               *args: Any) -> bool:
    """`callback(transport, *args)` as what the loop calls when the socket is readable, in
    place of the reader asyncio registered (the loop keeps one reader per descriptor)."""
    selector_transport = open_selector_transport(transport)
    if selector_transport is None:
        return False
    selector_transport._loop._add_reader(selector_transport._sock_fd, callback,
                                         selector_transport, *args)
    return True


def drain_when_readable(transport: asyncio.BaseTransport) -> bool:
    """Make `transport` read up to `DATAGRAMS_PER_WAKEUP` datagrams per readiness event.
    True when it now does (a selector datagram transport, still open), False when it was
    left as it was."""
    return _read_with(transport, read_ready)


BatchReader = Callable[[Any], "int | None"]


def read_in_batches_with(transport: asyncio.BaseTransport, reader: BatchReader) -> bool:
    """Make `reader(transport)` what reads `transport`'s socket when it is readable: it
    returns how many datagrams it read, or None to have them read by `read_ready` this
    time. True when it now does (a selector datagram transport, still open)."""
    return _read_with(transport, batch_ready, reader)


def batch_ready(transport: Any, reader: BatchReader) -> None:
    """What the selector calls for a socket of `read_in_batches_with`: its reader, with
    `read_ready`'s error handling, or `read_ready` when the reader declines."""
    if transport._conn_lost:
        return
    try:
        count = reader(transport)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        _read_failed(transport, exc)
        return
    if count is None:
        read_ready(transport)
    elif count:
        _last_read[transport] = time.monotonic()


def read_ready(transport: Any) -> None:
    """What the selector calls when the transport's socket is readable: asyncio's
    `_read_ready`, repeated until EAGAIN or `DATAGRAMS_PER_WAKEUP` datagrams."""
    sock = transport._sock
    for count in range(DATAGRAMS_PER_WAKEUP):
        if transport._conn_lost:
            return
        try:
            data, addr = sock.recvfrom(transport.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            _read_failed(transport, exc)
            return
        if count == 0:
            _last_read[transport] = time.monotonic()
        transport._protocol.datagram_received(data, addr)


def _read_failed(transport: Any, exc: BaseException) -> None:
    """asyncio's handling of a failed read: an OSError goes to the protocol's
    `error_received` (the socket stays), any other error is the transport's fatal error."""
    if isinstance(exc, OSError):
        transport._protocol.error_received(exc)
    else:
        transport._fatal_error(exc, "Fatal read error on datagram transport")
