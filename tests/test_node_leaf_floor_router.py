"""The gateway's part in the floor of a conference split over nodes (mcu/nodes/leaf_floor.py),
the in-process transport playing the root (node 5: A, B) and the leaf (node 6: C) over a
real redis-server for the registry, as tests/test_node_cascade_router.py:

- a leaf's report is a request: relayed to the root only (`floor_state` naming the leaf and
  its number), the gateway's view unchanged until the root answers;
- the root's answer is followed (presentation, isSendAuxStreamEx's holder) and relayed to the
  leaf as it is; nothing goes back to the root (no echo);
- a root's own report is relayed to the leaf too; a decision of the gateway
  (unlockPresentationEx, setAuxStreamEx) goes to the root only, never to the leaf;
- refused: a report from a node that is not one of the conference's, a `floor_state` or
  `floor` the schema refuses.
"""

from __future__ import annotations

import asyncio

import pytest

from mcu.nodes.messages import (
    CallState,
    FloorHeld,
    FloorState,
    ForwardedEvent,
    NodeMessageError,
    parse_command,
    parse_event,
)
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.transport import InProcessTransport
from tests.router_harness import router_of
from tests.test_node_cascade_router import LEAF, PORTS, ROOT, Node, redis_url, registry, until  # noqa: F401
from tests.test_runtime import BEGIN, A, B, C, make_runtime


def floor_of(node: Node) -> list:
    """The floor messages the node was told: relayed states and forwarded presentations."""
    return [m for m in node.seen if isinstance(m, FloorState) or (
        isinstance(m, ForwardedEvent) and m.name == "PresentationChanged")]


async def test_leaf_requests_go_to_the_root_and_the_root_s_floor_to_the_leaves(
        registry: NodeRegistry) -> None:  # noqa: F811
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    transport = InProcessTransport()
    async with router_of(runtime, registry, transport) as router:
        nodes = {node_id: Node(transport, node_id) for node_id in PORTS}
        root, leaf = nodes[ROOT], nodes[LEAF]
        scheduler.book("300", [A, B, C], cp_resource=4)
        clock.set(BEGIN)
        runtime.reconcile()
        for node_id, uri in ((ROOT, A), (ROOT, B), (LEAF, C)):
            transport.post_event(CallState(node_id, "300", uri, "IN_CONFERENCE"))
        live = runtime.conferences.get("300")
        await until(lambda: all(live.sites[uri].connected for uri in (A, B, C)))
        await root.until(lambda seen: len(seen) >= 4)  # start, calls A B, peer C
        await leaf.until(lambda seen: len(seen) >= 4)  # start, call C, peers A B
        root.seen.clear()
        leaf.seen.clear()

        # the leaf granted C: a request, to the root only; the view waits for the answer
        transport.post_event(FloorHeld(LEAF, "300", C, False, request=1))
        await root.until(lambda seen: bool(floor_of(root)))
        assert floor_of(root) == [FloorState("300", C, False, leaf=LEAF, request=1)]
        await asyncio.sleep(0.2)
        assert live.presentation is None and floor_of(leaf) == []
        # the root answers: followed, relayed to the leaf, nothing back to the root
        transport.post_event(FloorHeld(ROOT, "300", C, False, leaf=LEAF, request=1))
        await until(lambda: live.presentation == C)
        await leaf.until(lambda seen: bool(floor_of(leaf)))
        assert floor_of(leaf) == [FloorState("300", C, False, leaf=LEAF, request=1)]
        # a change of the root's own (A granted there): followed and relayed as it is
        transport.post_event(FloorHeld(ROOT, "300", A, True))
        await until(lambda: live.presentation == A and live.presentation_locked)
        await leaf.until(lambda seen: len(floor_of(leaf)) == 2)
        assert floor_of(leaf)[1] == FloorState("300", A, True)
        await asyncio.sleep(0.2)
        assert floor_of(root) == [FloorState("300", C, False, leaf=LEAF, request=1)]
        # the gateway decides (unlockPresentationEx): to the root only
        runtime.control.unlock_presentation("300")
        await root.until(lambda seen: len(floor_of(root)) == 2)
        decided = floor_of(root)[1]
        assert isinstance(decided, ForwardedEvent)
        assert (decided.fields["holder"], decided.fields["locked"]) == (A, False)
        await asyncio.sleep(0.2)
        assert len(floor_of(leaf)) == 2
        # a leaf's release names the holder it left, for the root to judge
        transport.post_event(FloorHeld(LEAF, "300", None, False, request=2, before=C))
        await root.until(lambda seen: len(floor_of(root)) == 3)
        assert floor_of(root)[2] == FloorState("300", None, False, leaf=LEAF, request=2,
                                               before=C)
        assert live.presentation == A
        # a node that is not one of the conference's: dropped
        dropped = router.dropped
        transport.post_event(FloorHeld(7, "300", B, False, request=3))
        await until(lambda: router.dropped == dropped + 1)
        assert live.presentation == A and len(floor_of(root)) == 3


@pytest.mark.parametrize("text", [
    '{"kind":"floor_state","conf_id":"300","holder":"x","leaf":0}',
    '{"kind":"floor_state","conf_id":"300","request":-1}',
    '{"kind":"floor_state","conf_id":"","holder":null}',
    '{"kind":"floor_state","conf_id":"300","locked":"yes"}',
])
def test_a_floor_state_the_schema_refuses_is_an_error(text: str) -> None:
    with pytest.raises(NodeMessageError):
        parse_command(text)


def test_floor_reports_carry_the_request_they_make_or_answer() -> None:
    report = FloorHeld(ROOT, "300", C, False, leaf=LEAF, request=7)
    assert parse_event(report.to_json()) == report
    with pytest.raises(NodeMessageError):
        parse_event('{"kind":"floor","node_id":5,"conf_id":"300","request":2147483648}')
