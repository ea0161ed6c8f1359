"""A media node's heartbeat, on a thread of its own (docs/deployment.md "Liveness").

The node's record (node_record.py) must be renewed in Redis every HEARTBEAT_S, or it expires
after RECORD_TTL_MS and the gateway takes the node for gone: its calls end and its
conferences move. The node's event loop is also its media loop (decoding, composing, aiortc's
per-packet work), and under CPU starvation it ran seconds late: a heartbeat on it missed the
TTL and healthy nodes were declared gone. So the beats are sent here, by a daemon thread with
its own blocking Redis connection, whatever the loop is doing.

What a beat says is still the loop's truth: the loop publishes its record (an immutable
`NodeRecord`: capacity, the conferences placed on it and what they hold) whenever it changes
and once a second (`publish`); the thread sends the last one published with its own beat
count. A reference swap is atomic, so the thread never sees a half-made record.

A loop that is busy is not a dead node, but a loop that does not run at all serves nobody:
the thread stops beating when the loop has published nothing for `stall_s` (LOOP_STALL_S,
ten times the TTL), so a node whose loop is stuck for good leaves the registry and its
conferences move; it beats again (and is told to end what moved) if its loop comes back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from redis import Redis

from mcu.nodes.node_record import NodeRecord
from mcu.nodes.registry import HEARTBEAT_S, RECORD_TTL_MS

log = logging.getLogger(__name__)

LOOP_STALL_S = 30.0  # a loop silent this long is stuck, not busy: the node stops beating


class Heartbeat:
    def __init__(self, redis_url: str, key: str, record: NodeRecord, *,
                 interval: float = HEARTBEAT_S, ttl_ms: int = RECORD_TTL_MS,
                 stall_s: float = LOOP_STALL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """key: the record's registry key (NodeRegistry.record_key); record: the first one
        to announce."""
        self.redis_url = redis_url
        self.key = key
        self.interval = interval
        self.ttl_ms = ttl_ms
        self.stall_s = stall_s
        self.clock = clock
        self.beat = 0  # beats sent (a restarted node starts at 1 again)
        self.failed = 0  # beats Redis did not take
        self._record = record
        self._published = clock()
        self._stalled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ the loop's side

    def publish(self, record: NodeRecord) -> None:
        """The node's record as it is now (called on the node's loop)."""
        self._record = record
        self._published = self.clock()

    # ------------------------------------------------------------------ the thread

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="node heartbeat",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """No beat after this returns (blocks up to one Redis timeout)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.interval * 3)

    def _run(self) -> None:
        # the timeouts bound one beat: a Redis that does not answer costs one beat, not more
        client = Redis.from_url(self.redis_url, socket_timeout=self.interval,
                                socket_connect_timeout=self.interval)
        try:
            due = self.clock()
            while not self._stop.is_set():
                self.send_beat(client)
                due += self.interval
                now = self.clock()
                if due < now:  # this thread itself was late (a starved machine): no burst
                    due = now
                self._stop.wait(due - now)
        finally:
            client.close()

    def send_beat(self, client: Redis) -> bool:
        """One beat: the last published record under the key with the TTL; False when the
        loop is stuck (nothing sent) or Redis did not take it."""
        silent = self.clock() - self._published
        if silent > self.stall_s:
            if not self._stalled:
                log.error("node %d: its event loop has not run for %.0f s: heartbeat "
                          "stopped, the node will leave the registry",
                          self._record.node_id, silent)
                self._stalled = True
            return False
        if self._stalled:
            log.warning("node %d: its event loop runs again: heartbeat resumed",
                        self._record.node_id)
            self._stalled = False
        self.beat += 1
        record = replace(self._record, beat=self.beat)
        try:
            client.set(self.key, record.to_json(), px=self.ttl_ms)
        except Exception:  # Redis away or slow: the next beat tries again
            self.failed += 1
            log.exception("node %d: heartbeat %d failed", record.node_id, self.beat)
            return False
        return True
