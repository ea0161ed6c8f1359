"""Helpers for the SIP tests: user agents on ephemeral loopback ports with short timers, a TLS
pair of contexts from a self-signed certificate, and a raw socket client that sends bytes and
reads the parsed answer."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtc.deadline import within
from sip.errors import SipParseError
from sip.message import Response, parse_datagram, split_head
from sip.transaction import Timers
from sip.transport import TransportSettings
from sip.useragent import SipUserAgent, UaSettings
from tests.test_bfcp_tls import self_signed

FAST = Timers(t1=0.02, t2=0.16, t4=0.2, d_min=0.0)


def tls_contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = self_signed(directory)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def make_ua(user: str, *, tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
            drop: Callable[[bytes], bool] | None = None, timers: Timers = FAST,
            **handlers: Any) -> SipUserAgent:
    transports = TransportSettings(
        udp_port=0, tcp_port=0, tls_port=0 if tls else None,
        server_ssl=tls[0] if tls else None, client_ssl=tls[1] if tls else None, drop=drop)
    return SipUserAgent(UaSettings(user=user, transports=transports, timers=timers), **handlers)


class RawUdp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)

    @classmethod
    async def open(cls) -> RawUdp:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        return protocol

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def answer(self, timeout: float = 3.0) -> Response:
        return lenient(await within(self.received.get(), timeout))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


_LEFTOVER: dict[int, bytes] = {}


async def read_stream_response(reader: asyncio.StreamReader, timeout: float = 3.0) -> Response:
    """The next response on a stream (the answers here carry no body: Content-Length 0);
    what follows it in the same read is kept for the next call."""
    buffer = _LEFTOVER.pop(id(reader), b"")
    while True:
        split = split_head(buffer)
        if split is not None:
            head, rest = split
            if rest:
                _LEFTOVER[id(reader)] = rest
            return lenient(head + b"\r\n\r\n")
        data = await within(reader.read(65536), timeout)
        if not data:
            raise ConnectionError("closed without an answer")
        buffer += data


def lenient(data: bytes) -> Response:
    """A response as sent, without the codec's checks: an answer to a request that lacked
    mandatory headers cannot hold them either (it copies what the request had)."""
    try:
        message = parse_datagram(data)
        assert isinstance(message, Response)
        return message
    except SipParseError:
        pass
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    version, status, reason = lines[0].split(" ", 2)
    assert version == "SIP/2.0"
    response = Response(status=int(status), reason=reason)
    for line in lines[1:]:
        name, _, value = line.partition(":")
        response.headers.add(name.strip(), value.strip())
    return response


def request(method: str = "OPTIONS", *, port: int = 5999, transport: str = "UDP",
            extra: str = "", body: bytes = b"", content_length: int | None = None,
            cseq_method: str | None = None, call_id: str = "raw-1") -> bytes:
    length = len(body) if content_length is None else content_length
    head = (f"{method} sip:u@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} 127.0.0.1:{port};branch=z9hG4bK{call_id}\r\n"
            f"From: <sip:raw@127.0.0.1>;tag=r1\r\nTo: <sip:u@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 {cseq_method or method}\r\nMax-Forwards: 70\r\n"
            f"{extra}Content-Length: {length}\r\n\r\n")
    return head.encode() + body
