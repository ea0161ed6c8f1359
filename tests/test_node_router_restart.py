"""The gateway's router restarted during a conference split over nodes, and the booking of a
running conference edited (mcu/nodes/conference_router.py, saved_view.py, node_starts.py,
cascade_record.py; docs/runtime.md "Nodes"), with the in-process transport playing three
nodes over a real redis-server for the registry:

- a conference split over nodes 5 (root: A, B) and 6 (leaf: C) has its whole placement in
  Redis; a second router over a second runtime (the restarted gateway) reads it back: each
  site is served by its node again (NodePool.serving), the root is told its part and the
  leaf its part and the root's cascade address, each site's call goes to its own node and
  takes the state that node saved, a call state of C counts only from the leaf, the layout
  saved before the restart is the live one, and a control event goes to both nodes;
- the booking edited while it runs (B removed, D added): B's call is hung up on the root,
  the root is told its new part (A and D: a site added is the root's), the leaf its own
  (C), and the placement saved in Redis follows;
- a saved split whose leaf left meanwhile: the root is told to end it, and it is placed
  again from scratch;
- the saved leaves are read through their schema: what it refuses is no placement;
- the content floor saved before a restart goes back to its holder once its call is back.
"""

from __future__ import annotations

import asyncio

import pytest

from mcu.layouts import layout_mode
from mcu.live_conference import LiveConference
from mcu.model import SiteCallState
from mcu.nodes.cascade_record import leaves_json, parse_leaves
from mcu.nodes.messages import (
    CallSite,
    CallState,
    End,
    ForwardedEvent,
    HangUp,
    NodeMessageError,
    Start,
)
from mcu.nodes.node_pool import NodePool
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.state_replay import SavedFloors
from mcu.nodes.transport import InProcessTransport
from mcu.runtime import ConferenceRuntime
from tests.router_harness import router_of
from tests.test_node_cascade_router import LEAF, PORTS, ROOT, Node, redis_url, registry
from tests.test_runtime import BEGIN, A, B, C, make_runtime

__all__ = ["redis_url", "registry"]  # the fixtures, used by name

D = "01010077"


async def saved_placement(registry: NodeRegistry, conf_id: str) -> dict[int, tuple[str, ...]]:
    for _ in range(200):  # written by a task of the router
        text = await registry.cascade(conf_id)
        if text is not None:
            return parse_leaves(text)
        await asyncio.sleep(0.02)
    raise AssertionError("no saved placement")


async def test_a_restarted_router_rebuilds_a_split_conference_and_follows_its_booking(
        registry: NodeRegistry) -> None:
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    transport = InProcessTransport()
    async with router_of(runtime, registry, transport):
        scheduler.book("300", [A, B, C], cp_resource=4)
        clock.set(BEGIN)
        runtime.reconcile()
        assert await saved_placement(registry, "300") == {LEAF: (C,)}
        assert await registry.placements() == {"300": ROOT}
        # what the nodes saved of their calls, and a layout the gateway forwarded and saved
        for node_id, uri in ((ROOT, A), (ROOT, B), (LEAF, C)):
            state = CallState(node_id, "300", uri, "IN_CONFERENCE", call_id=f"call-{uri}")
            await registry.save_site("300", uri, state.to_json())
        cp_4_1 = layout_mode("CP_4_1").value
        runtime.control.set_continuous_presence("300", "0", cp_4_1, [C, A, B])
        for _ in range(200):
            if await registry.state("300"):
                break
            await asyncio.sleep(0.02)
        assert await registry.state("300")

    # the gateway restarts: a new runtime over the same bookings, a new router
    runtime = ConferenceRuntime(scheduler, clock, call_timeout=30)
    transport = InProcessTransport()
    async with router_of(runtime, registry, transport) as router:
        nodes = {node_id: Node(transport, node_id) for node_id in PORTS}
        root, leaf = nodes[ROOT], nodes[LEAF]
        runtime.reconcile()
        await root.until(lambda seen: len([m for m in seen if isinstance(m, CallSite)]) == 2)
        await leaf.until(lambda seen: any(isinstance(m, CallSite) for m in seen))
        (root_start,) = root.of(Start)
        (leaf_start,) = leaf.of(Start)
        assert (root_start.held, root_start.cascade_root) == ([A, B], "")
        assert (leaf_start.held, leaf_start.cascade_root) == ([C], f"127.0.0.1:{4000 + ROOT}")
        assert root.of(CallSite) == [CallSite("300", A), CallSite("300", B)]
        assert leaf.of(CallSite) == [CallSite("300", C)]
        assert transport._queue(7).empty()  # the spare node is told nothing
        conference = scheduler.get("300")
        pool = NodePool(router)
        assert {uri: pool.serving(conference, uri).id for uri in (A, B, C)} == {
            A: ROOT, B: ROOT, C: LEAF}

        def state(uri: str) -> SiteCallState:
            return runtime.status.site_statuses("300", [uri])[0].state

        assert all(state(uri) is SiteCallState.IN_CONFERENCE for uri in (A, B, C))
        cp = runtime.status.cp_param("300", "0")
        assert (cp.mode, list(cp.sub_pics)) == (cp_4_1, [C, A, B])
        # C's state counts from the leaf only
        transport.post_event(CallState(ROOT, "300", C, "NOT_JOINED", 109, "not mine"))
        await asyncio.sleep(0.2)
        assert state(C) is SiteCallState.IN_CONFERENCE and router.dropped == 1
        runtime.control.set_sites_mute("300", [C], True)
        for node in (root, leaf):
            await node.until(lambda seen: any(isinstance(m, ForwardedEvent) for m in seen))
            (event,) = node.of(ForwardedEvent)
            assert event.name == "SiteMuted" and event.fields["uri"] == C

        # the booking changes while it runs: B out, D in
        root.seen.clear()
        leaf.seen.clear()
        scheduler.book("300", [A, C, D], cp_resource=4)
        runtime.reconcile()
        await root.until(lambda seen: any(isinstance(m, Start) for m in seen))
        await leaf.until(lambda seen: any(isinstance(m, Start) for m in seen))
        assert root.of(HangUp) and root.of(HangUp)[0].uri == B
        (root_start,) = root.of(Start)
        (leaf_start,) = leaf.of(Start)
        assert (root_start.held, root_start.cascade_root) == ([A, D], "")
        assert (leaf_start.held, leaf_start.cascade_root) == ([C], f"127.0.0.1:{4000 + ROOT}")
        assert [site.uri for site in root_start.decoded()[1].sites] == [A, C, D]
        assert pool.serving(scheduler.get("300"), D).id == ROOT
        assert await saved_placement(registry, "300") == {LEAF: (C,)}
        assert B not in {s.uri for s in runtime.status.site_statuses("300")}


async def test_a_saved_split_whose_leaf_left_is_ended_and_placed_again(
        registry: NodeRegistry) -> None:
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    await registry.place("400", ROOT, leaves_json({9: [C]}))  # node 9 is not live
    transport = InProcessTransport()
    async with router_of(runtime, registry, transport, run=False) as router:
        assert "400" not in router.placements and "400" not in router.cascades
        root = Node(transport, ROOT)
        scheduler.book("400", [A, B, C], cp_resource=4)
        clock.set(BEGIN)
        runtime.reconcile()
        await root.until(lambda seen: any(isinstance(m, Start) for m in seen))
        assert root.seen[0] == End("400")  # the old split ended first, then placed again


def test_the_saved_leaves_are_read_through_their_schema() -> None:
    assert parse_leaves(leaves_json({6: [C], 7: [A, B]})) == {6: (C,), 7: (A, B)}
    for bad in ("not json", "{}", '{"leaves": []}', '{"leaves": [{"node_id": 0, "uris": []}]}',
                '{"leaves": [{"node_id": 6, "uris": ["a"]}, {"node_id": 6, "uris": []}]}',
                '{"leaves": [{"node_id": 6, "uris": ["a"]}, {"node_id": 7, "uris": ["a"]}]}',
                '{"leaves": [{"node_id": 6, "uris": [""]}]}'):
        with pytest.raises(NodeMessageError):
            parse_leaves(bad)


async def test_the_saved_content_floor_goes_back_to_its_holder_when_its_call_is_back() -> None:
    from mcu.events import PresentationChanged

    clock, scheduler, runtime = make_runtime()
    conference = scheduler.book("500", [A, B])
    live = LiveConference(conference, conference.occurrences[0])
    floors = SavedFloors()
    floors.keep("500", [PresentationChanged("500", B, False), PresentationChanged("500", A, True)])
    assert not floors.back(live, B)  # not the last holder
    assert live.presentation is None
    assert floors.back(live, A)
    assert (live.presentation, live.presentation_locked) == (A, True)
    assert not floors.back(live, A)  # given back once
    floors.keep("500", [PresentationChanged("500", A, False),
                        PresentationChanged("500", None, False)])
    assert not floors.back(LiveConference(conference, conference.occurrences[0]), A)  # free


async def test_the_runtime_tells_a_booking_change_once_even_one_made_in_place() -> None:
    """Lifecycle._follow_booking emits BookingChanged when the booking it follows changed
    (whether the scheduler answers a new object or changed the one it had), once, and
    nothing while it stays the same."""
    from mcu.events import BookingChanged
    from mcu.model import SiteSpec

    clock, scheduler, runtime = make_runtime(call_timeout=30)
    told: list[str] = []
    runtime.subscribe(lambda event: told.append(event.conf_id)
                      if isinstance(event, BookingChanged) else None)
    scheduler.book("600", [A, B])
    clock.set(BEGIN)
    runtime.reconcile()
    runtime.reconcile()
    assert told == []  # started, unchanged
    occurrence = scheduler.conferences["600"].occurrences[0]
    occurrence.sites.append(SiteSpec(C, name="late"))  # changed in place
    runtime.reconcile()
    runtime.reconcile()
    assert told == ["600"]
    scheduler.book("600", [A, C], hours=3)  # a new object: B out, the end moved
    runtime.reconcile()
    assert told == ["600", "600"]
    assert {s.uri for s in runtime.status.site_statuses("600")} == {A, C}
