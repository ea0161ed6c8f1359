"""The gateway's side of the media nodes (mcu/nodes/conference_router.py) with the in-process
transport playing the node, over a real redis-server for the registry: a conference that
starts is placed on the live node and the node is told (`start`, then `call` for each site);
the node's call states move the runtime's calls (status, failure code); its speaker becomes
the conference's; a control operation reaches the node as a forwarded event and is saved as
the conference's state; the placement is in Redis; events the schema refuses, or from a node
that does not hold the conference, are counted and dropped while everything goes on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from mcu.layouts import layout_mode
from mcu.model import SiteCallState
from mcu.nodes.messages import (
    CallSite,
    CallState,
    ForwardedEvent,
    NodeMessage,
    Speaker,
    Start,
    parse_command,
)
from mcu.nodes.node_record import NodeRecord, port_costs_json
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.transport import InProcessTransport
from mcu.port_costs import PortCosts
from rtc.deadline import within
from tests.redis_server import redis_url
from tests.router_harness import router_of
from tests.test_runtime import BEGIN, A, B, make_runtime

__all__ = ["redis_url"]  # the fixture, used by name

NODE = 5


@pytest.fixture
async def registry(redis_url: str) -> AsyncIterator[NodeRegistry]:
    client = Redis.from_url(redis_url)
    registry = NodeRegistry(client, prefix=f"test-{uuid.uuid4().hex[:8]}")
    await registry.announce(NodeRecord(NODE, "ward", "127.0.0.1", 4, 8,
                                       port_costs_json(PortCosts())))
    try:
        yield registry
    finally:
        await client.aclose()


async def next_command(commands: AsyncIterator[str]) -> NodeMessage:
    return parse_command(await within(anext(commands), timeout=10))


async def until(check, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await within(poll(), timeout)


async def test_the_router_places_relays_and_drops_what_the_schema_refuses(
        registry: NodeRegistry) -> None:
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    transport = InProcessTransport()
    commands = transport.commands(NODE)
    async with router_of(runtime, registry, transport) as router:
        assert set(router.nodes) == {NODE}
        scheduler.book("100", [A, B], cp_resource=2)
        clock.set(BEGIN)
        runtime.reconcile()
        start = await next_command(commands)
        assert isinstance(start, Start)
        conference, occurrence = start.decoded()
        assert conference.conf_id == "100" and [s.uri for s in occurrence.sites] == [A, B]
        calls = [await next_command(commands), await next_command(commands)]
        assert calls == [CallSite("100", A), CallSite("100", B)]
        for _ in range(100):  # written by a task of the router
            if await registry.placements():
                break
            await asyncio.sleep(0.05)
        assert await registry.placements() == {"100": NODE}

        transport.post_event(CallState(NODE, "100", A, "RINGING"))
        transport.post_event(CallState(NODE, "100", A, "IN_CONFERENCE", call_id="c1"))
        transport.post_event(CallState(NODE, "100", B, "NOT_JOINED", 109, "callee offline"))

        def state(uri: str) -> SiteCallState:
            return runtime.status.site_statuses("100", [uri])[0].state

        await until(lambda: state(A) is SiteCallState.IN_CONFERENCE
                    and state(B) is SiteCallState.NOT_JOINED)
        (b,) = runtime.status.site_statuses("100", [B])
        assert b.call_failed_reason is not None and b.call_failed_reason.code == 109

        for bad in ("not json", '{"kind": "call_state"}', '{"kind": "start"}',
                    CallState(NODE + 1, "100", A, "NOT_JOINED").to_json()):
            transport.post_raw_event(bad)
        transport.post_event(Speaker(NODE, "100", A))
        live = runtime.conferences.get("100")
        assert live is not None
        await until(lambda: live.speaking == A)
        assert router.dropped == 4
        assert state(A) is SiteCallState.IN_CONFERENCE

        cp_2_1 = layout_mode("CP_2_1").value
        runtime.control.set_continuous_presence("100", "0", cp_2_1, [A, B])
        forwarded = await next_command(commands)
        assert isinstance(forwarded, ForwardedEvent) and forwarded.name == "LayoutChanged"
        assert forwarded.fields["sub_pics"] == [A, B]

        async def saved() -> list[str]:
            return await registry.state("100")

        for _ in range(100):
            if await saved():
                break
            await asyncio.sleep(0.05)
        (text,) = await saved()
        assert parse_command(text) == forwarded
