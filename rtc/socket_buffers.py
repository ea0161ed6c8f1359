"""Receive buffers of the media (ICE) UDP sockets, large enough to ride out a late event loop.

One asyncio loop reads every UDP socket of a process. When the machine is starved the loop
reads late, the kernel queues the datagrams meanwhile, and a full queue drops them
(`netstat -su` RcvbufErrors; /proc/net/udp `drops`): RTP of a 1080p content keyframe
(~80 datagrams at once), and STUN consent checks, whose loss ends the call. aioice asks
for 256 KiB with SO_RCVBUF; `enlarge_receive_buffer` asks for `RECEIVE_BUFFER_BYTES`.

SO_RCVBUF is capped by /proc/sys/net/core/rmem_max (212992 bytes on a stock kernel);
SO_RCVBUFFORCE, allowed with CAP_NET_ADMIN, is not. So: SO_RCVBUFFORCE when permitted,
else SO_RCVBUF (then the kernel gives at most rmem_max). Either way the kernel doubles the
value for its bookkeeping, and `getsockopt(SO_RCVBUF)` reports the doubled figure.
"""

from __future__ import annotations

import socket
import sys
from typing import Protocol

RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
RMEM_MAX = "/proc/sys/net/core/rmem_max"
# Linux's SO_RCVBUFFORCE (asm-generic/socket.h); Python's socket module does not name it.
SO_RCVBUFFORCE: int | None = (getattr(socket, "SO_RCVBUFFORCE", 33) if sys.platform == "linux"
                              else None)


class BufferedSocket(Protocol):
    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...

    def getsockopt(self, level: int, option: int, /) -> int: ...


def enlarge_receive_buffer(sock: BufferedSocket, size: int = RECEIVE_BUFFER_BYTES) -> int:
    """Ask for a `size`-byte receive buffer on `sock` (never shrinking it): SO_RCVBUFFORCE
    when the process may, else SO_RCVBUF (capped by rmem_max). Returns the buffer the kernel
    reports afterwards (twice the usable size, as Linux books overhead)."""
    current = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if current >= 2 * size:
        return current
    if SO_RCVBUFFORCE is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
            return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except PermissionError:
            pass  # no CAP_NET_ADMIN: the capped option below
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def rmem_max() -> int | None:
    """The kernel's cap on SO_RCVBUF, when this system exposes it."""
    try:
        with open(RMEM_MAX, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None
