"""One end of a cascade link's control connection: framed, checked messages both ways.

Reading: each line is decoded by protocol.decode; a refused one is answered with an `error`
naming why and handed to nobody (the link goes on), a line over MAX_LINE_BYTES ends the
connection (its end cannot be found). Writing is synchronous (the tick loop's hooks send
levels and speakers): a peer that stops reading for WRITE_BUFFER_LIMIT bytes ends the link
rather than grow the buffer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from mcu.media.cascade.protocol import (
    MAX_LINE_BYTES,
    Bye,
    Error,
    ProtocolError,
    decode,
    encode,
    reason,
)
from rtc.deadline import within

log = logging.getLogger(__name__)

WRITE_BUFFER_LIMIT = 256 * 1024
HANDSHAKE_TIMEOUT_S = 10.0  # hello -> welcome


class ControlChannel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False
        self.refused = 0  # messages refused (answered with an error)
        self.received_errors: list[str] = []  # the reasons of the peer's `error` messages

    @classmethod
    async def open(cls, host: str, port: int, ssl: Any = None) -> ControlChannel:
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl,
                                                       limit=MAX_LINE_BYTES + 1)
        return cls(reader, writer)

    def send(self, message: Any) -> None:
        if self.closed or self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            log.warning("cascade peer stopped reading: the link ends")
            self.abort()
            return
        if isinstance(message, Error | Bye):  # an exception's text: made to fit its field
            message = type(message)(reason(message.reason))
        self.writer.write(encode(message))

    async def receive(self, strict: bool = False) -> Any:
        """The next accepted message; None when the connection ended. A refused message is
        answered with an error and skipped, or (strict: the handshake) raises ProtocolError."""
        while not self.closed:
            try:
                line = await self.reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return None
            except asyncio.LimitOverrunError:
                self.send(Error(f"a line over {MAX_LINE_BYTES} bytes: the link ends"))
                self.abort()
                return None
            except (ConnectionError, OSError):
                return None
            try:
                message = decode(line)
            except ProtocolError as error:
                self.refused += 1
                if strict:
                    raise
                self.send(Error(str(error)))
                continue
            if isinstance(message, Error):
                self.received_errors.append(message.reason)
                log.info("cascade peer refused a message: %s", message.reason)
                continue
            return message
        return None

    async def first(self, expected: type, timeout: float = HANDSHAKE_TIMEOUT_S) -> Any:
        """The handshake's message: anything else (or nothing in time) ends the link with
        ProtocolError."""
        try:
            message = await within(self.receive(strict=True), timeout)
        except TimeoutError:
            raise ProtocolError(f"no {expected.__name__.lower()} within {timeout:g} s") from None
        if not isinstance(message, expected):
            reason = self.received_errors[-1] if self.received_errors else \
                f"expected {expected.__name__.lower()}, got {type(message).__name__.lower()}"
            raise ProtocolError(reason)
        return message

    async def follow(self, handle: Callable[[Any], None]) -> None:
        """Hand every accepted message to `handle` until the connection or a `bye` ends."""
        while True:
            message = await self.receive()
            if message is None or isinstance(message, Bye):
                return
            try:
                handle(message)
            except ProtocolError as error:
                self.refused += 1
                self.send(Error(str(error)))

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    async def close(self, reason: str = "") -> None:
        if self.closed:
            return
        self.send(Bye(reason))
        self.closed = True
        self.writer.close()
        try:
            await within(self.writer.wait_closed(), 2.0)
        except (TimeoutError, ConnectionError, OSError):
            pass
