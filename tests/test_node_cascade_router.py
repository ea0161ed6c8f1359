"""The gateway's router with a conference split over nodes (mcu/nodes/cascade_placement.py,
cascades.py; docs/cascade.md "On media nodes"), the in-process transport playing three nodes
over a real redis-server for the registry:

- three sites, nodes of 2, 1 and 1 ports: no node holds the conference, so it is split: the
  root (node 5, the most room) is told to hold A and B, the leaf (node 6, the lower id of the
  two left) to hold C and to link to the root's announced cascade address;
- each site's call goes to its node; a call state of C counts only from node 6 (node 5's is
  dropped), and C joining is told to node 5 (`peer_site`); a control event goes to both;
  the site's node is what NodePool.serving (queryConfSiteMCUEx) answers;
- the leaf node leaves the registry: the conference moves whole, the root is told to end
  it, the terminal of the node that left is told its call is over (the root's terminals are
  told by the root), and it is split again over nodes 5 and 7, the joined sites called again
  each from its new node, the control state replayed to both.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from app.node_service import NodeIdentity, NodeService
from mcu.clock import ManualClock
from mcu.dial_in_limits import DialInLimitSettings, dial_in_limits
from mcu.events import SpeakerChanged
from mcu.layouts import layout_mode
from mcu.media.engine import MediaEngine
from mcu.model import SiteCallState
from mcu.nodes.held_dialer import HeldDialer
from mcu.nodes.messages import (
    CallSite,
    CallState,
    End,
    ForwardedEvent,
    NodeMessage,
    PeerSite,
    Start,
    parse_command,
)
from mcu.nodes.node_pool import NodePool
from mcu.nodes.node_record import NodeRecord, port_costs_json
from mcu.nodes.placed_conferences import PlacedConferences
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.transport import InProcessTransport
from mcu.port_costs import PortCosts
from mcu.runtime import ConferenceRuntime
from rtc.deadline import within
from tests.redis_server import redis_url
from tests.router_harness import router_of
from tests.test_runtime import BEGIN, A, B, C, FakeTerminal, make_runtime

__all__ = ["redis_url"]  # the fixture, used by name

ROOT, LEAF, SPARE = 5, 6, 7
PORTS = {ROOT: 2, LEAF: 1, SPARE: 1}


def record(node_id: int) -> NodeRecord:
    return NodeRecord(node_id, f"n{node_id}", "127.0.0.1", PORTS[node_id], 8,
                      port_costs_json(PortCosts()), cascade_port=4000 + node_id)


@pytest.fixture
async def registry(redis_url: str) -> AsyncIterator[NodeRegistry]:
    client = Redis.from_url(redis_url)
    registry = NodeRegistry(client, prefix=f"test-{uuid.uuid4().hex[:8]}")
    for node_id in PORTS:
        await registry.announce(record(node_id))
    try:
        yield registry
    finally:
        await client.aclose()


class Node:
    """What one node was told, read as it arrives."""

    def __init__(self, transport: InProcessTransport, node_id: int) -> None:
        self.commands = transport.commands(node_id)
        self.seen: list[NodeMessage] = []

    async def until(self, check, timeout: float = 10.0) -> list[NodeMessage]:
        """Read commands until `check(seen)` holds; all seen so far."""
        async def read() -> None:
            while not check(self.seen):
                self.seen.append(parse_command(await anext(self.commands)))

        await within(read(), timeout)
        return self.seen

    def of(self, kind: type) -> list:
        return [message for message in self.seen if isinstance(message, kind)]


async def until(check, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await within(poll(), timeout)


async def test_a_split_conference_calls_each_site_from_its_node_and_moves_whole(
        registry: NodeRegistry) -> None:
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    transport = InProcessTransport()
    lost: list[tuple[str, str, str]] = []
    async with router_of(runtime, registry, transport) as router:
        router.call_lost = lambda uri, call_id, reason: lost.append((uri, call_id, reason))
        nodes = {node_id: Node(transport, node_id) for node_id in PORTS}
        root, leaf, spare = nodes[ROOT], nodes[LEAF], nodes[SPARE]
        scheduler.book("300", [A, B, C], cp_resource=4)
        clock.set(BEGIN)
        runtime.reconcile()
        await root.until(lambda seen: len([m for m in seen if isinstance(m, CallSite)]) == 2)
        await leaf.until(lambda seen: any(isinstance(m, CallSite) for m in seen))
        (root_start,) = root.of(Start)
        (leaf_start,) = leaf.of(Start)
        assert (root_start.held, root_start.cascade_root) == ([A, B], "")
        assert (leaf_start.held, leaf_start.cascade_root) == ([C], f"127.0.0.1:{4000 + ROOT}")
        assert root.of(CallSite) == [CallSite("300", A), CallSite("300", B)]
        assert leaf.of(CallSite) == [CallSite("300", C)]
        conference = scheduler.get("300")
        pool = NodePool(router)
        assert {uri: pool.serving(conference, uri).id for uri in (A, B, C)} == {
            A: ROOT, B: ROOT, C: LEAF}

        def state(uri: str) -> SiteCallState:
            return runtime.status.site_statuses("300", [uri])[0].state

        transport.post_event(CallState(ROOT, "300", C, "NOT_JOINED", 109, "not mine"))
        for node_id, uri in ((ROOT, A), (ROOT, B), (LEAF, C)):
            transport.post_event(CallState(node_id, "300", uri, "IN_CONFERENCE",
                                           call_id=f"call-{uri}"))
        await until(lambda: all(state(uri) is SiteCallState.IN_CONFERENCE
                                for uri in (A, B, C)))
        assert router.dropped == 1  # C's state from the root, which does not call it
        await root.until(lambda seen: any(isinstance(m, PeerSite) for m in seen))
        assert root.of(PeerSite) == [PeerSite("300", C, True)]
        await leaf.until(lambda seen: len([m for m in seen if isinstance(m, PeerSite)]) == 2)
        assert leaf.of(PeerSite) == [PeerSite("300", A, True), PeerSite("300", B, True)]

        runtime.control.set_continuous_presence("300", "0", layout_mode("CP_4_1").value,
                                                [A, B, C])
        for node in (root, leaf):
            await node.until(lambda seen: any(isinstance(m, ForwardedEvent) for m in seen))
            (event,) = node.of(ForwardedEvent)
            assert event.name == "LayoutChanged" and event.fields["sub_pics"] == [A, B, C]

        # the leaf leaves: the conference moves whole, split again over the root and node 7
        root.seen.clear()
        await registry.withdraw(LEAF)
        await root.until(lambda seen: len([m for m in seen if isinstance(m, CallSite)]) == 2,
                         timeout=15)
        await spare.until(lambda seen: any(isinstance(m, CallSite) for m in seen))
        assert isinstance(root.seen[0], End) and root.seen[0] == End("300")
        (again,) = root.of(Start)
        assert (again.held, again.cascade_root) == ([A, B], "")
        (moved,) = spare.of(Start)
        assert (moved.held, moved.cascade_root) == ([C], f"127.0.0.1:{4000 + ROOT}")
        assert spare.of(CallSite) == [CallSite("300", C)]
        assert root.of(CallSite) == [CallSite("300", A), CallSite("300", B)]
        for node in (root, spare):  # the control state replayed before the calls
            assert any(isinstance(m, ForwardedEvent) and m.name == "LayoutChanged"
                       for m in node.seen)
        assert lost == [(C, f"call-{C}", f"media node {LEAF} left the registry")]
        assert pool.serving(conference, C).id == SPARE


async def test_a_site_of_the_leaf_becomes_the_speaker_at_the_root_node(
        registry: NodeRegistry) -> None:
    """The root node is a real NodeService (its own runtime over the conferences placed on
    it, its terminals A and B answering; a media engine left unstarted: no media here, the
    levels are reported as its root media reports them, the leaf's sites' with its own).
    The leaf site C, joined on node 6 (`peer_site`), is counted by the root's voice
    switching: loud, it becomes the speaker the root reports and the gateway's status
    names; muted at the gateway (SiteMuted forwarded to the root) it cannot be, and A
    takes over; unmuted and loud again it is the speaker again; once it left node 6 its
    level no longer counts, and A is the speaker though C's last level was the loudest."""
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    transport = InProcessTransport()
    async with router_of(runtime, registry, transport):
        node_clock = ManualClock(BEGIN)
        placed = PlacedConferences()
        node_runtime = ConferenceRuntime(placed, node_clock, call_timeout=30, speaker_hold=1.0)
        dialer = HeldDialer(node_runtime.registry)
        node_runtime.lifecycle.dialer = dialer
        for uri in (A, B):
            node_runtime.registry.register(FakeTerminal(uri))
        engine = MediaEngine(node_runtime)
        service = NodeService(
            NodeIdentity(ROOT, f"n{ROOT}", "127.0.0.1", PORTS[ROOT], 8, PortCosts()),
            node_runtime, placed, dialer, engine, transport, registry,
            dial_in_limits(node_clock, DialInLimitSettings()))
        serving = asyncio.get_running_loop().create_task(service.serve())
        speakers: list[str | None] = []
        runtime.subscribe(lambda event: speakers.append(event.speaking)
                          if isinstance(event, SpeakerChanged) else None)

        def state(uri: str) -> SiteCallState:
            return runtime.status.site_statuses("300", [uri])[0].state

        def speaking() -> str | None:
            return runtime.status.conference_status("300").speaking

        async def speaker_becomes(uri: str | None, levels: dict[str, float]) -> None:
            """Report the levels as the root's media does, about every 0.1 s of the node's
            clock, until the gateway's status names `uri` the speaker."""
            async def report() -> None:
                while speaking() != uri:
                    node_runtime.voice.report_audio_levels("300", levels)
                    node_clock.advance(timedelta(seconds=0.1))
                    await asyncio.sleep(0.01)

            await within(report(), 10)

        try:
            scheduler.book("300", [A, B, C], cp_resource=4)
            clock.set(BEGIN)
            runtime.reconcile()
            transport.post_event(CallState(LEAF, "300", C, "IN_CONFERENCE", call_id=f"call-{C}"))
            await until(lambda: all(state(uri) is SiteCallState.IN_CONFERENCE
                                    for uri in (A, B, C)))  # A and B: the root node's calls
            assert node_runtime.conferences.get("300") is not None
            assert set(node_runtime.conferences.get("300").sites) == {A, B}  # C is not its call

            await speaker_becomes(C, {A: 30, B: 0, C: 80})
            assert node_runtime.conferences.get("300").speaking == C
            assert speakers == [C]

            runtime.control.set_sites_mute("300", [C], True)
            await speaker_becomes(A, {A: 30, B: 0, C: 80})
            runtime.control.set_sites_mute("300", [C], False)
            await speaker_becomes(C, {A: 30, B: 0, C: 80})
            assert speakers == [C, A, C]

            transport.post_event(CallState(LEAF, "300", C, "NOT_JOINED", None, "hung up"))
            await until(lambda: state(C) is SiteCallState.NOT_JOINED)
            await speaker_becomes(A, {A: 30, B: 0, C: 95})
            for _ in range(20):  # C's level, still reported, never counts again
                node_runtime.voice.report_audio_levels("300", {A: 30, B: 0, C: 95})
                node_clock.advance(timedelta(seconds=0.1))
                await asyncio.sleep(0.01)
            assert speaking() == A and node_runtime.conferences.get("300").speaking == A
            assert C not in node_runtime.conferences.get("300").audio_levels
            assert speakers[-1] == A and C not in speakers[3:]
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await service.close()
            await engine.close()
