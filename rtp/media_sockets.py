"""The UDP sockets of one m-line (MediaSockets), bound before the SDP is written; an RtpSession
(rtp/session.py) takes them, and a re-INVITE's next session of the m-line may take them over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

from rtc.datagram_drain import drain_when_readable
from rtc.socket_buffers import enlarge_receive_buffer

# the logger of rtp/session.py, whose part this is: log records keep their name
log = logging.getLogger("rtp.session")


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Any, bool], None], rtcp: bool) -> None:
        self.on_datagram = on_datagram
        self.rtcp = rtcp
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a keyframe's burst must not overflow the kernel's queue
            enlarge_receive_buffer(sock)
        drain_when_readable(transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, addr, self.rtcp)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        log.debug("rtp socket error: %s", exc)


def drop_datagram(data: bytes, addr: Any, rtcp: bool) -> None:
    """Datagrams before a session takes the sockets (or after it closed) are dropped."""


class MediaSockets:
    """The UDP sockets of one m-line, bound before the SDP is written (their ports go in it):
    RTP on an even port and RTCP on the next one."""

    def __init__(self, host: str, rtp: _Endpoint, rtcp: _Endpoint) -> None:
        self.host = host
        self.rtp = rtp
        self.rtcp = rtcp
        self.target: Callable[[bytes, Any, bool], None] = drop_datagram
        rtp.on_datagram = rtcp.on_datagram = self._dispatch

    def _dispatch(self, data: bytes, addr: Any, rtcp: bool) -> None:
        self.target(data, addr, rtcp)

    @property
    def port(self) -> int:
        assert self.rtp.transport is not None
        return int(self.rtp.transport.get_extra_info("sockname")[1])

    @classmethod
    async def bind(cls, host: str = "127.0.0.1", attempts: int = 50) -> MediaSockets:
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            rtp = _Endpoint(drop_datagram, False)
            await loop.create_datagram_endpoint(lambda: rtp, local_addr=(host, 0))  # noqa: B023
            assert rtp.transport is not None
            port = rtp.transport.get_extra_info("sockname")[1]
            if port % 2 == 0 and port < 65535:
                rtcp = _Endpoint(drop_datagram, True)
                try:
                    await loop.create_datagram_endpoint(lambda: rtcp,  # noqa: B023
                                                        local_addr=(host, port + 1))
                except OSError:
                    rtp.transport.close()
                    continue
                return cls(host, rtp, rtcp)
            rtp.transport.close()
        raise OSError(f"no free even/odd UDP port pair on {host}")

    def close(self) -> None:
        for endpoint in (self.rtp, self.rtcp):
            if endpoint.transport is not None:
                endpoint.transport.close()
