"""The live-room check of a conference split over nodes (mcu/nodes/node_room.py): what is
added to it goes to its root, so it must fit on the root, whatever room the other nodes
have. The gateway's router with the in-process transport playing three nodes over a real
redis-server for the registry (as tests/test_node_cascade_router.py):

- three sites, nodes of 2, 1 and 1 ports: split, A and B on the root (node 5, full), C on
  the leaf (node 6, full); node 7 has a free port;
- a site added: CAPACITY_EXCEEDED naming the root, although node 7 has room (the scheduler's
  check, counting every node, would take it); a larger cpResouce than the root has left:
  refused the same way;
- a change that adds nothing to the root passes: the leaf's site removed, the name edited;
- a conference no node runs (not started yet) is left to placement.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from mcu.errors import DomainError, Fault
from mcu.model import Conference, SiteSpec
from mcu.nodes.messages import CallSite
from mcu.nodes.node_room import NodeRoom
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.transport import InProcessTransport
from tests.router_harness import router_of
from tests.test_node_cascade_router import LEAF, PORTS, ROOT, Node, redis_url, registry
from tests.test_runtime import BEGIN, A, B, C, make_runtime

__all__ = ["redis_url", "registry"]  # the fixtures, used by name

D = "01010123"


def with_sites(conference: Conference, uris: list[str]) -> Conference:
    (occurrence,) = conference.occurrences
    sites = [next((s for s in occurrence.sites if s.uri == uri), SiteSpec(uri, name=uri))
             for uri in uris]
    return replace(conference, spec=replace(conference.spec, sites=sites),
                   occurrences=[replace(occurrence, sites=sites)])


async def test_what_is_added_to_a_split_conference_must_fit_on_its_root(
        registry: NodeRegistry) -> None:
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    transport = InProcessTransport()
    async with router_of(runtime, registry, transport, run=False) as router:
        room = NodeRoom(router)
        nodes = {node_id: Node(transport, node_id) for node_id in PORTS}
        conference = scheduler.book("300", [A, B, C], cp_resource=4)
        later = scheduler.book("301", [D], begin=BEGIN + timedelta(hours=3))
        clock.set(BEGIN)
        runtime.reconcile()
        await nodes[ROOT].until(lambda seen: len([m for m in seen
                                                  if isinstance(m, CallSite)]) == 2)
        await nodes[LEAF].until(lambda seen: any(isinstance(m, CallSite) for m in seen))
        assert router.placements == {"300": ROOT}
        assert router.cascades.leaves("300") == (LEAF,)

        with pytest.raises(DomainError) as refused:
            room.check(with_sites(conference, [A, B, C, D]), BEGIN)
        assert refused.value.fault is Fault.CAPACITY_EXCEEDED
        assert f"media node {ROOT} " in str(refused.value)
        more_cp = replace(conference, spec=replace(conference.spec, cp_resource=16))
        with pytest.raises(DomainError) as refused:
            room.check(more_cp, BEGIN)
        assert refused.value.fault is Fault.CAPACITY_EXCEEDED
        assert "CP resources" in str(refused.value)

        room.check(with_sites(conference, [A, B]), BEGIN)  # the leaf's site removed
        room.check(replace(conference, spec=replace(conference.spec, name="renamed")), BEGIN)
        room.check(with_sites(conference, [A, C, D]), BEGIN)  # one root site for another
        room.check(with_sites(later, [D, A, B, C]), BEGIN)  # not running: placement's

