"""The node registry, placements and site states in Redis (redis-py's asyncio client).

Keys (all under `prefix`, default "mcu"; docs/runtime.md, "Nodes"):

| key | type | written by | holds |
|---|---|---|---|
| `{prefix}:node:{id}` | string, PX `RECORD_TTL_MS` | the node, every `HEARTBEAT_S` | its `NodeRecord` (JSON) |
| `{prefix}:placements` | hash conf_id -> node id | the gateway, when a conference starts | where each live conference runs (the root of a split one) |
| `{prefix}:cascade:{conf_id}` | string (cascade_record.py) | the gateway, when a conference is split or its booking changes | the leaves of a conference split over nodes and the sites each holds |
| `{prefix}:sites:{conf_id}` | hash uri -> JSON | the node, on each call state change | the call state of every site it called |
| `{prefix}:state:{conf_id}` | hash subject -> JSON | the gateway, on each forwarded event | the conference's control state (state_replay.py) |

Liveness: a node renews its record every second with a TTL of three, from a thread of its
own (heartbeat.py); a node that stops (SIGKILL, a loop stuck for heartbeat.LOOP_STALL_S, a
lost network) drops out of Redis within `RECORD_TTL_MS`, and out
of the gateway's view at its next refresh (`REFRESH_S` later at most): queryMCUInfoEx stops
listing it within `GONE_WITHIN_S`. A record the schema refuses is logged and dropped, never
placed on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis

from mcu.nodes.node_record import NodeRecord, NodeRecordError, parse_record

log = logging.getLogger(__name__)

REDIS_PREFIX = "mcu"  # every key of the platform starts with it
HEARTBEAT_S = 1.0  # a node renews its record this often
RECORD_TTL_MS = 3000  # and the record lives this long unless renewed
REFRESH_S = 1.0  # the gateway re-reads the registry this often
GONE_WITHIN_S = RECORD_TTL_MS / 1000 + REFRESH_S  # a dead node is unlisted within this


class NodeRegistry:
    def __init__(self, redis: Redis, prefix: str = "mcu") -> None:
        self.redis = redis
        self.prefix = prefix

    def record_key(self, node_id: int) -> str:
        return f"{self.prefix}:node:{node_id}"

    @property
    def placements_key(self) -> str:
        return f"{self.prefix}:placements"

    def sites_key(self, conf_id: str) -> str:
        return f"{self.prefix}:sites:{conf_id}"

    # ------------------------------------------------------------------ nodes

    async def announce(self, record: NodeRecord) -> None:
        """The node's record, alive for RECORD_TTL_MS unless announced again."""
        await self.redis.set(self.record_key(record.node_id), record.to_json(),
                             px=RECORD_TTL_MS)

    async def withdraw(self, node_id: int) -> None:
        """A node that stops cleanly leaves at once rather than after its TTL."""
        await self.redis.delete(self.record_key(node_id))

    async def live_nodes(self) -> list[NodeRecord]:
        """Every node whose record is alive, in id order; bad records logged and dropped
        (also one stored under another node's key)."""
        keys = [key async for key in self.redis.scan_iter(match=f"{self.prefix}:node:*",
                                                          count=1000)]
        if not keys:
            return []
        values = await self.redis.mget(keys)
        nodes: list[NodeRecord] = []
        for key, value in zip(keys, values, strict=True):
            if value is None:  # expired between the scan and the read
                continue
            name = key.decode() if isinstance(key, bytes) else str(key)
            try:
                record = parse_record(value)
            except NodeRecordError as error:
                log.warning("registry entry %s dropped: %s", name, error)
                continue
            if name != self.record_key(record.node_id):
                log.warning("registry entry %s dropped: it holds node %d", name, record.node_id)
                continue
            nodes.append(record)
        return sorted(nodes, key=lambda node: node.node_id)

    # ------------------------------------------------------------------ placements

    def cascade_key(self, conf_id: str) -> str:
        return f"{self.prefix}:cascade:{conf_id}"

    async def place(self, conf_id: str, node_id: int, leaves: str | None = None) -> None:
        """The conference runs on `node_id` (the root when split); `leaves`: its leaves
        (cascade_record.leaves_json), None when it is not split. One transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.placements_key, conf_id, str(node_id))
            if leaves is None:
                pipe.delete(self.cascade_key(conf_id))
            else:
                pipe.set(self.cascade_key(conf_id), leaves)
            await pipe.execute()

    async def cascade(self, conf_id: str) -> str | None:
        """The saved leaves of a split conference (read through cascade_record.parse_leaves),
        None when it is not split."""
        value = await self.redis.get(self.cascade_key(conf_id))
        if value is None:
            return None
        return value.decode(errors="replace") if isinstance(value, bytes) else str(value)

    def state_key(self, conf_id: str) -> str:
        return f"{self.prefix}:state:{conf_id}"

    async def unplace(self, conf_id: str) -> None:
        await self.redis.hdel(self.placements_key, conf_id)
        await self.redis.delete(self.sites_key(conf_id), self.state_key(conf_id),
                                self.cascade_key(conf_id))

    async def save_state(self, conf_id: str, key: str, event: str) -> None:
        """The last forwarded event (messages.ForwardedEvent, JSON) of this subject."""
        await self.redis.hset(self.state_key(conf_id), key, event)

    async def state(self, conf_id: str) -> list[str]:
        """The conference's saved events (read through messages.parse_command)."""
        raw: Mapping[Any, Any] = await self.redis.hgetall(self.state_key(conf_id))
        return [value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                for value in raw.values()]

    async def placements(self) -> dict[str, int]:
        """conf_id -> node id; entries that are not a node id are logged and dropped."""
        raw: Mapping[Any, Any] = await self.redis.hgetall(self.placements_key)
        found: dict[str, int] = {}
        for conf, node in raw.items():
            conf_id = conf.decode() if isinstance(conf, bytes) else str(conf)
            text = node.decode() if isinstance(node, bytes) else str(node)
            if not text.isdigit():
                log.warning("placement of %s dropped: %r is not a node id", conf_id, text[:40])
                continue
            found[conf_id] = int(text)
        return found

    # ------------------------------------------------------------------ site states

    async def save_site(self, conf_id: str, uri: str, state: str) -> None:
        """The site's last call_state message (messages.CallState, JSON)."""
        await self.redis.hset(self.sites_key(conf_id), uri, state)

    async def sites(self, conf_id: str) -> dict[str, str]:
        """uri -> the JSON a node saved (read through messages.parse_site_state)."""
        raw: Mapping[Any, Any] = await self.redis.hgetall(self.sites_key(conf_id))
        return {
            (uri.decode() if isinstance(uri, bytes) else str(uri)):
            (value.decode(errors="replace") if isinstance(value, bytes) else str(value))
            for uri, value in raw.items()
        }
