"""SIP transports (RFC 3261 section 18): UDP, TCP and TLS on one host, each listening on its
own port. Datagrams are one message each (octets past Content-Length discarded); streams are
framed by Content-Length, which they must carry. A message the codec refuses is answered, when
it is a request, with the codec's status and reason on the way it came (source address for
UDP, the connection for TCP/TLS), with whatever Via, From, To, Call-ID and CSeq could be read;
a refused response is dropped (section 18.1.2). A stream that breaks framing is answered and
closed, as its next message cannot be found any more."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import cast

from rtc.deadline import within
from sip.errors import SipParseError
from sip.grammar import RULES_BY_NAME, Limits
from sip.message import (
    DEFAULT_LIMITS,
    Request,
    Response,
    content_length,
    parse_datagram,
    parse_head,
    split_head,
)

log = logging.getLogger(__name__)

RELIABLE = frozenset({"TCP", "TLS"})


@dataclass
class Peer:
    """Where a message came from or goes: the transport, the remote address and, on TCP/TLS,
    the connection it travels on."""

    transport: str
    addr: tuple[str, int]
    connection: StreamConnection | None = None

    @property
    def reliable(self) -> bool:
        return self.transport in RELIABLE


MessageHandler = Callable[[Request | Response, Peer], None]


class StreamConnection:
    def __init__(self, transport: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, owner: Transports) -> None:
        self.transport = transport
        self.reader = reader
        self.writer = writer
        self.owner = owner
        peer = writer.get_extra_info("peername")
        self.addr: tuple[str, int] = (peer[0], peer[1])
        self.closed = False

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.writer.write(data)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError, asyncio.TimeoutError):
            await within(self.writer.wait_closed(), 2)

    async def serve(self) -> None:
        owner, limits = self.owner, self.owner.limits
        buffer = b""
        try:
            while True:
                split = split_head(buffer, limits) if buffer.strip(b"\r\n") else None
                if split is None:
                    timeout = owner.read_timeout if buffer.strip(b"\r\n") else None
                    data = await within(self.reader.read(65_536), timeout)
                    if not data:
                        return
                    buffer += data
                    continue
                head, rest = split
                message = parse_head(head, limits)
                length = content_length(message)
                if length is None:
                    raise SipParseError(400, "Missing Content-Length",
                                        "a stream message must carry Content-Length")
                if length > limits.max_body:
                    raise SipParseError(413, "Request Entity Too Large",
                                        f"body of {length} octets")
                while len(rest) < length:
                    data = await within(self.reader.read(65_536), owner.read_timeout)
                    if not data:
                        return
                    rest += data
                message.body, buffer = rest[:length], rest[length:]
                owner.deliver(message, Peer(self.transport, self.addr, self))
        except SipParseError as error:
            owner.refuse(buffer, error, lambda data: self.send(data))
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            owner.forget(self)
            await self.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: Transports) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner.datagram(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable and the like
        log.debug("SIP UDP error: %s", exc)


@dataclass
class TransportSettings:
    host: str = "127.0.0.1"
    udp_port: int | None = 5060  # None: no UDP
    tcp_port: int | None = 5060
    tls_port: int | None = 5061  # listened on only when server_ssl is given
    server_ssl: ssl.SSLContext | None = None
    client_ssl: ssl.SSLContext | None = None
    limits: Limits = field(default_factory=Limits)
    read_timeout: float = 32.0  # a started stream message must complete within this
    # test hook: a datagram this returns True for is not sent (a lossy network)
    drop: Callable[[bytes], bool] | None = None


class Transports:
    def __init__(self, settings: TransportSettings, handler: MessageHandler) -> None:
        self.settings = settings
        self.limits = settings.limits or DEFAULT_LIMITS
        self.read_timeout = settings.read_timeout
        self.handler = handler
        self.ports: dict[str, int] = {}
        self._udp: _Datagrams | None = None
        self._servers: list[asyncio.Server] = []
        self._connections: dict[tuple[str, tuple[str, int]], StreamConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def host(self) -> str:
        return self.settings.host

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        if s.udp_port is not None:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(s.host, s.udp_port))
            self._udp = protocol
            self.ports["UDP"] = transport.get_extra_info("sockname")[1]
        if s.tcp_port is not None:
            server = await asyncio.start_server(
                lambda r, w: self._accepted("TCP", r, w), s.host, s.tcp_port)
            self._servers.append(server)
            self.ports["TCP"] = server.sockets[0].getsockname()[1]
        if s.tls_port is not None and s.server_ssl is not None:
            server = await asyncio.start_server(
                lambda r, w: self._accepted("TLS", r, w), s.host, s.tls_port,
                ssl=s.server_ssl, ssl_handshake_timeout=10)
            self._servers.append(server)
            self.ports["TLS"] = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self._connections.values()):
            await connection.close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await within(server.wait_closed(), 2)
        if self._udp and self._udp.transport:
            self._udp.transport.close()

    # receiving
    def datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            message = parse_datagram(data, self.limits)
        except SipParseError as error:
            self.refuse(data, error, lambda raw: self._sendto(raw, addr))
            return
        self.deliver(message, Peer("UDP", addr))

    def deliver(self, message: Request | Response, peer: Peer) -> None:
        try:
            self.handler(message, peer)
        except SipParseError as error:  # a header the core reads turned out malformed
            if isinstance(message, Request):
                self.send(error_response(message, error.status, error.reason), peer)
        except Exception:  # the UA must go on answering whatever one message did
            log.exception("SIP: handling a %s failed", type(message).__name__)

    def refuse(self, data: bytes, error: SipParseError, send: Callable[[bytes], None]) -> None:
        response = raw_error_response(data, error)
        log.info("SIP: refused a message: %s", error)
        if response is not None:
            send(response.encode())

    def _accepted(self, transport: str, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
        connection = StreamConnection(transport, reader, writer, self)
        self._connections[(transport, connection.addr)] = connection
        self._spawn(connection.serve())

    def forget(self, connection: StreamConnection) -> None:
        key = (connection.transport, connection.addr)
        if self._connections.get(key) is connection:
            del self._connections[key]

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # sending
    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.settings.drop is not None and self.settings.drop(data):
            return
        if self._udp and self._udp.transport and not self._udp.transport.is_closing():
            try:  # addresses are resolved before (peer_for): a name here would block on DNS
                ipaddress.ip_address(addr[0])
                self._udp.transport.sendto(data, addr)
            except (OSError, ValueError, TypeError) as exc:
                log.debug("SIP: cannot send to %s: %s", addr, exc)

    def send(self, message: Request | Response, peer: Peer) -> None:
        """Send on an existing path: UDP to the address, a stream on its connection."""
        data = message.encode()
        if peer.transport == "UDP":
            self._sendto(data, peer.addr)
        elif peer.connection is not None and not peer.connection.closed:
            peer.connection.send(data)
        else:
            self._spawn(self._send_new(data, peer.transport, peer.addr))

    async def _send_new(self, data: bytes, transport: str, addr: tuple[str, int]) -> None:
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.TimeoutError):
            (await self.connect(transport, addr)).send(data)

    async def connect(self, transport: str, addr: tuple[str, int]) -> StreamConnection:
        existing = self._connections.get((transport, addr))
        if existing is not None and not existing.closed:
            return existing
        ssl_context = self.settings.client_ssl if transport == "TLS" else None
        if transport == "TLS" and ssl_context is None:
            raise OSError("no TLS client context")
        reader, writer = await within(asyncio.open_connection(
            addr[0], addr[1], ssl=ssl_context,
            server_hostname=addr[0] if ssl_context else None), 10)
        connection = StreamConnection(transport, reader, writer, self)
        self._connections[(transport, addr)] = connection
        self._spawn(connection.serve())
        return connection

    async def peer_for(self, transport: str, addr: tuple[str, int]) -> Peer:
        """A path to a new destination (a UAC request): the host resolved without blocking
        the loop, a connection opened for streams. OSError when it cannot be reached."""
        addr = (await resolve(addr[0], addr[1]), addr[1])
        if transport == "UDP":
            return Peer("UDP", addr)
        return Peer(transport, addr, await self.connect(transport, addr))

    def sent_by(self, transport: str) -> str:
        return f"{self.host}:{self.ports[transport]}"


async def resolve(host: str, port: int, timeout: float = 5.0) -> str:
    """An IP address for a URI's host: a literal as is, a name through the loop's resolver
    (no RFC 3263 NAPTR/SRV). OSError when it does not resolve."""
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        infos = await within(asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_DGRAM), timeout)
    except (UnicodeError, ValueError) as exc:
        raise OSError(f"bad host {host!r}") from exc
    if not infos:
        raise OSError(f"{host!r} does not resolve")
    return str(infos[0][4][0])


def error_response(request: Request, status: int, reason: str,
                   to_tag: str | None = None) -> Response:
    """A response to a parsed request (section 8.2.6): Via, From, To, Call-ID and CSeq
    copied; `to_tag` added to a To that has no tag yet."""
    response = Response(status=status, reason=reason)
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name):
            if name == "To" and to_tag and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={to_tag}"
            response.headers.add(name, value)
    return response


def raw_error_response(data: bytes, error: SipParseError) -> Response | None:
    """The answer to bytes the codec refused: None for something that is not a request (a
    response is never answered); otherwise a response with the identifying headers found by a
    lenient line scan, so the sender can match it to its transaction when they were sound."""
    text = data.lstrip(b"\r\n").split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = text.split("\r\n")
    if not lines or lines[0].startswith("SIP/"):
        return None
    response = Response(status=error.status, reason=error.reason)
    wanted = {"via", "from", "to", "call-id", "cseq"}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        rule = RULES_BY_NAME.get(name.strip().lower())
        if colon and rule and rule.name.lower() in wanted and len(line) <= 1024:
            response.headers.add(rule.name, value.strip())
    return response
