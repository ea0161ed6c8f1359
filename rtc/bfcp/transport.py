"""BFCP over TCP (RFC 8855 section 6): the floor control server's listener and a small
participant client.

Messages are framed by their own header: 12 octets, then Payload Length x 4 octets. A
message larger than `MAX_MESSAGE_SIZE` is refused before its body is read. What happens on
bad input (docs/bfcp.md, "Transport"):

- a header with an unsupported version, the F bit, or a length past the bound: Error (12, 10
  or 13) and the connection is closed, since its framing can no longer be trusted;
- a whole message that does not decode (unknown primitive, bad attribute, grammar): Error
  with the decoder's code, and the connection goes on;
- a message for a conference that does not exist, or a user that is not in it, or for a
  conference/user other than the one the connection first spoke for: Error 1 or 2;
- a message started but not finished within `MESSAGE_TIMEOUT`: the connection is closed;
- the peer closing mid-message: the connection is closed.

Hello is answered with HelloAck and Goodbye with GoodbyeAck (then the connection closes)
here; every other message goes to the server's handler. An exception in the handler is
logged and answered with Error 14 (Generic error): one bad participant does not stop the
server nor the other connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import struct
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from rtc.bfcp import messages
from rtc.bfcp.codec import Attribute, BfcpError, Message, decode, encode, parse_header
from rtc.bfcp.tables import COMMON_HEADER_SIZE, ErrorCode, Primitive
from rtc.deadline import within

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE = 64 * 1024  # octets, header included; the 16-bit length would allow 256 KiB
MESSAGE_TIMEOUT = 10.0  # seconds from a message's first octet to its last
CLIENT_REQUEST_TIMEOUT = 5.0  # seconds a client waits for the answer to its request


class ConnectionClosed(Exception):
    """The peer closed, or the connection was closed, before a whole message arrived."""


@dataclass(frozen=True)
class FrameError(Exception):
    """A message refused while reading: the error to answer, the ids to answer with (taken
    positionally from the header's octets), and whether the framing is lost."""

    error: BfcpError
    conference_id: int
    transaction_id: int
    user_id: int
    framing_lost: bool


async def read_message(
    reader: asyncio.StreamReader,
    *,
    max_size: int = MAX_MESSAGE_SIZE,
    timeout: float = MESSAGE_TIMEOUT,
) -> Message | None:
    """The next message; None at the end of the stream between messages.

    Raises FrameError for a refused message and ConnectionClosed when the stream ends or
    stalls mid-message."""
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None
    try:
        rest = await within(reader.readexactly(COMMON_HEADER_SIZE - 1), timeout)
        raw_header = first + rest
        conference_id, transaction_id, user_id = struct.unpack_from("!IHH", raw_header, 4)
        try:
            header = parse_header(raw_header)
        except BfcpError as error:
            raise FrameError(error, conference_id, transaction_id, user_id, True) from None
        if header.message_size > max_size:
            too_long = BfcpError(
                ErrorCode.INCORRECT_MESSAGE_LENGTH,
                f"{header.message_size} octets, more than {max_size}",
            )
            raise FrameError(too_long, conference_id, transaction_id, user_id, True)
        body = await within(
            reader.readexactly(header.message_size - COMMON_HEADER_SIZE), timeout
        )
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError) as cause:
        raise ConnectionClosed(str(cause) or type(cause).__name__) from None
    try:
        return decode(raw_header + body)
    except BfcpError as error:
        raise FrameError(error, conference_id, transaction_id, user_id, False) from None


class BfcpConnection:
    """One participant's TCP connection as the server sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.conference_id: int | None = None  # bound by the first accepted message
        self.user_id: int | None = None
        self._lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    async def send(self, message: Message) -> None:
        """Write one message; nothing when the connection is already closed."""
        if self.writer.is_closing():
            return
        async with self._lock:
            self.writer.write(encode(message))
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


UsersOf = Callable[[int], Collection[int] | None]  # a conference id -> its user ids, or None
Handler = Callable[[BfcpConnection, Message], Awaitable[None]]
OnClose = Callable[[BfcpConnection], Awaitable[None]]


class BfcpServer:
    """The floor control server's TCP (or TLS) listener.

    `users_of(conference_id)` says which conferences exist and their users (from the
    confid/userid the signalling handed out); `handler` gets every accepted message other
    than Hello and Goodbye; `on_close` runs once per connection that had been bound to a
    (conference, user), when it closes for any reason (a vanished site releases its floor).
    """

    def __init__(
        self,
        users_of: UsersOf,
        handler: Handler,
        *,
        on_close: OnClose | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        message_timeout: float = MESSAGE_TIMEOUT,
    ) -> None:
        self._users_of = users_of
        self._handler = handler
        self._on_close = on_close
        self._max_size = max_message_size
        self._timeout = message_timeout
        self._server: asyncio.Server | None = None
        self.connections: set[BfcpConnection] = set()

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[str, int]:
        """Listen; the bound (host, port). With TLS, a client that has not completed its
        handshake within the message timeout (a plain-TCP or silent peer) is closed."""
        self._server = await asyncio.start_server(
            self._serve, host, port, ssl=ssl_context,
            ssl_handshake_timeout=self._timeout if ssl_context is not None else None)
        address = self._server.sockets[0].getsockname()
        return address[0], address[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            await connection.close()
        if self._server is not None:
            await self._server.wait_closed()

    def connection_of(self, conference_id: int, user_id: int) -> BfcpConnection | None:
        """The open connection bound to that user, for server-initiated notices."""
        for connection in self.connections:
            if (connection.conference_id, connection.user_id) == (conference_id, user_id):
                if not connection.closed:
                    return connection
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = BfcpConnection(reader, writer)
        self.connections.add(connection)
        try:
            while await self._serve_one(connection):
                pass
        except Exception:  # the connection dies, the server does not
            log.exception("BFCP connection %s failed", connection.peer)
        finally:
            self.connections.discard(connection)
            await connection.close()
            if self._on_close is not None and connection.user_id is not None:
                try:
                    await self._on_close(connection)
                except Exception:
                    log.exception("BFCP on_close for %s failed", connection.peer)

    async def _serve_one(self, connection: BfcpConnection) -> bool:
        """Read and answer one message; False when the connection is to close."""
        try:
            message = await read_message(
                connection.reader, max_size=self._max_size, timeout=self._timeout
            )
        except ConnectionClosed:
            return False
        except FrameError as refused:
            log.info("BFCP %s: %s", connection.peer, refused.error)
            await connection.send(
                messages.error(
                    refused.conference_id,
                    refused.transaction_id,
                    refused.user_id,
                    refused.error.code,
                    refused.error.reason,
                    refused.error.unknown_attributes,
                )
            )
            return not refused.framing_lost
        if message is None:
            return False
        refusal = self._check_identity(connection, message)
        if refusal is not None:
            await connection.send(
                messages.error(
                    message.conference_id, message.transaction_id, message.user_id, *refusal
                )
            )
            return True
        if message.primitive is Primitive.HELLO:
            await connection.send(messages.hello_ack(message))
            return True
        if message.primitive is Primitive.GOODBYE:
            await connection.send(messages.reply_to(message, Primitive.GOODBYE_ACK))
            return False
        try:
            await self._handler(connection, message)
        except Exception:
            log.exception("BFCP handler failed on %s", message.primitive.name)
            await connection.send(
                messages.error(
                    message.conference_id,
                    message.transaction_id,
                    message.user_id,
                    ErrorCode.GENERIC_ERROR,
                    "the floor control server failed on this request",
                )
            )
        return True

    def _check_identity(
        self, connection: BfcpConnection, message: Message
    ) -> tuple[ErrorCode, str] | None:
        """Error 1/2 for an unknown conference or user, or one other than the connection's;
        binds the connection to the first (conference, user) accepted."""
        bound = connection.conference_id
        if bound is not None and message.conference_id != bound:
            return ErrorCode.CONFERENCE_DOES_NOT_EXIST, "not this connection's conference"
        if connection.user_id is not None and message.user_id != connection.user_id:
            return ErrorCode.USER_DOES_NOT_EXIST, "not this connection's user"
        users = self._users_of(message.conference_id)
        if users is None:
            return ErrorCode.CONFERENCE_DOES_NOT_EXIST, f"conference {message.conference_id}"
        if message.user_id not in users:
            return ErrorCode.USER_DOES_NOT_EXIST, f"user {message.user_id}"
        connection.conference_id = message.conference_id
        connection.user_id = message.user_id
        return None


class BfcpClient:
    """A floor participant over TCP: requests wait for the answer in their transaction;
    server-initiated messages (transaction id 0) land in `notices`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conference_id: int,
        user_id: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.conference_id = conference_id
        self.user_id = user_id
        self.notices: asyncio.Queue[Message] = asyncio.Queue()
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._transaction_ids = itertools.cycle(range(1, 0x10000))
        self._reading = asyncio.create_task(self._read_loop())
        self.closed = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        conference_id: int,
        user_id: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> BfcpClient:
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context)
        return cls(reader, writer, conference_id, user_id)

    async def request(
        self,
        primitive: Primitive,
        *attributes: Attribute,
        timeout: float = CLIENT_REQUEST_TIMEOUT,
    ) -> Message:
        """Send a request in a new transaction; the server's answer (possibly an Error)."""
        if self.closed.is_set():
            raise ConnectionClosed("BFCP connection closed")
        transaction_id = next(tid for tid in self._transaction_ids if tid not in self._pending)
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[transaction_id] = answer
        try:
            message = Message(
                primitive, self.conference_id, transaction_id, self.user_id, attributes
            )
            self._writer.write(encode(message))
            await self._writer.drain()
            return await within(answer, timeout)
        finally:
            self._pending.pop(transaction_id, None)

    async def send_raw(self, data: bytes) -> None:
        """Write octets as they are (tests of the server's handling of bad input)."""
        self._writer.write(data)
        await self._writer.drain()

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    message = await read_message(self._reader, timeout=MESSAGE_TIMEOUT)
                except FrameError as refused:  # a server we cannot parse: give up on it
                    log.warning("BFCP client: bad message from the server: %s", refused.error)
                    return
                if message is None:
                    return
                waiter = self._pending.get(message.transaction_id)
                if message.transaction_id != 0 and waiter is not None and not waiter.done():
                    waiter.set_result(message)
                else:
                    self.notices.put_nowait(message)
        except (ConnectionClosed, ConnectionError):
            return
        finally:
            self.closed.set()
            for waiter in self._pending.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionClosed("BFCP connection closed"))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self._writer.wait_closed()
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading
