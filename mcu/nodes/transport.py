"""How messages travel between the gateway and its nodes: a thin interface, two carriers.

`NodeTransport` moves message texts (messages.py) and never interprets them: the gateway
posts commands to a node and reads every node's events; a node reads its own commands and
posts events. Posting is synchronous (the runtime's listeners and dialer are), in order: one
writer task drains an outbox. The reader parses and validates (messages.py); a message it
refuses is logged and dropped by the reader, which goes on with the next.

- `RedisTransport`: Redis streams (XADD / XREAD). `{prefix}:cmd:{node id}` per node (a node
  clears its own stream when it starts: a restarted node owes nothing to the commands of its
  previous life), `{prefix}:events` for all nodes; both trimmed to about STREAM_MAXLEN
  entries. Streams rather than pub/sub: an entry waits for a reader that is busy or
  reconnecting, where pub/sub would drop it; and Redis counts the entries ever added
  (XINFO STREAM entries-added), which is how the traffic per conference is measured.
- `InProcessTransport`: asyncio queues, for a gateway and nodes in one process (tests of
  the routing without Redis).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from mcu.nodes.messages import NodeMessage

log = logging.getLogger(__name__)

STREAM_MAXLEN = 10_000  # entries kept per stream (approximate trimming)
READ_BLOCK_MS = 1000  # a reader's XREAD waits at most this long, then loops
OUTBOX_LIMIT = 10_000  # messages waiting to be written; beyond it new ones are dropped (logged)
FIELD = b"m"  # the one field of a stream entry: the message's JSON text


class NodeTransport(ABC):
    def __init__(self) -> None:
        self.posted = 0  # messages posted by this side
        self.dropped = 0  # messages dropped because the outbox was full

    @abstractmethod
    def post_command(self, node_id: int, message: NodeMessage) -> None: ...

    @abstractmethod
    def post_event(self, message: NodeMessage) -> None: ...

    @abstractmethod
    def commands(self, node_id: int) -> AsyncIterator[str]:
        """A node's commands, in order, from when it started reading."""

    @abstractmethod
    def events(self) -> AsyncIterator[str]:
        """Every node's events, in order, from when the gateway started reading."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Start the writer (after the event loop runs)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Write what is queued (bounded) and stop."""


class InProcessTransport(NodeTransport):
    def __init__(self) -> None:
        super().__init__()
        self._commands: dict[int, asyncio.Queue[str]] = {}
        self._events: asyncio.Queue[str] = asyncio.Queue()

    def _queue(self, node_id: int) -> asyncio.Queue[str]:
        return self._commands.setdefault(node_id, asyncio.Queue())

    def post_command(self, node_id: int, message: NodeMessage) -> None:
        self.posted += 1
        self._queue(node_id).put_nowait(message.to_json())

    def post_event(self, message: NodeMessage) -> None:
        self.posted += 1
        self._events.put_nowait(message.to_json())

    def post_raw_event(self, text: str) -> None:
        """Any text as an event (tests: what a broken node might send)."""
        self._events.put_nowait(text)

    async def commands(self, node_id: int) -> AsyncIterator[str]:
        queue = self._queue(node_id)
        while True:
            yield await queue.get()

    async def events(self) -> AsyncIterator[str]:
        while True:
            yield await self._events.get()


class RedisTransport(NodeTransport):
    def __init__(self, redis: Redis, prefix: str = "mcu") -> None:
        super().__init__()
        self.redis = redis
        self.prefix = prefix
        self._outbox: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue(OUTBOX_LIMIT)
        self._writer: asyncio.Task[None] | None = None

    def command_stream(self, node_id: int) -> str:
        return f"{self.prefix}:cmd:{node_id}"

    @property
    def event_stream(self) -> str:
        return f"{self.prefix}:events"

    def _post(self, stream: str, message: NodeMessage) -> None:
        try:
            self._outbox.put_nowait((stream, message.to_json()))
            self.posted += 1
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("node transport outbox full: %s to %s dropped", message.kind, stream)

    def post_command(self, node_id: int, message: NodeMessage) -> None:
        self._post(self.command_stream(node_id), message)

    def post_event(self, message: NodeMessage) -> None:
        self._post(self.event_stream, message)

    async def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write(),
                                                                  name="node transport")

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if not self._outbox.full():
            self._outbox.put_nowait(None)  # what is queued is written first
            await asyncio.wait({writer}, timeout=2.0)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)

    async def _write(self) -> None:
        while True:
            item = await self._outbox.get()
            if item is None:
                return
            stream, text = item
            try:
                await self.redis.xadd(stream, {FIELD: text.encode()}, maxlen=STREAM_MAXLEN,
                                      approximate=True)
            except Exception:  # Redis away: logged, the next message tries again
                log.exception("node transport: XADD to %s failed", stream)

    async def clear_commands(self, node_id: int) -> None:
        await self.redis.delete(self.command_stream(node_id))

    async def commands(self, node_id: int) -> AsyncIterator[str]:
        async for text in self._read(self.command_stream(node_id), "0-0"):
            yield text

    async def events(self) -> AsyncIterator[str]:
        latest = await self.redis.xrevrange(self.event_stream, count=1)
        start = _text(latest[0][0]) if latest else "0-0"
        async for text in self._read(self.event_stream, start):
            yield text

    async def _read(self, stream: str, last_id: str) -> AsyncIterator[str]:
        while True:
            try:
                answer: Any = await self.redis.xread({stream: last_id}, count=256,
                                                     block=READ_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node transport: XREAD of %s failed; retrying", stream)
                await asyncio.sleep(1.0)
                continue
            for _, entries in answer or ():
                for entry_id, entry in entries:
                    last_id = _text(entry_id)
                    value = entry.get(FIELD) if isinstance(entry, dict) else None
                    if not isinstance(value, bytes):
                        log.warning("%s entry %s dropped: no %r field", stream, last_id,
                                    FIELD.decode())
                        continue
                    try:
                        yield value.decode()
                    except UnicodeDecodeError:
                        log.warning("%s entry %s dropped: not UTF-8", stream, last_id)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
