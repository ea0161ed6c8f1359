"""The nodes' part in the floor of a conference split over nodes (mcu/nodes/leaf_floor.py),
both crossings played in a fixed order: two node runtimes (the root holds A and B, the leaf
C), each with the floor reports its BFCP server makes (app/node_sip.py floor_reports) and the
notices its participants are sent; the messages the gateway would relay are handed over by
hand, in the order of the crossing:

- C asks at the leaf while A asks at the root: the root's report of A reaches the leaf before
  the root's answer to C; the leaf passes over it, the root takes C last: C holds at both,
  C's notices are GRANTED alone (no flip to A and back), A's GRANTED then REVOKED;
- the root took C's request first, A asks at the root after it: A holds at both, C is
  REVOKED at the leaf when the root's state reaches it;
- the root takes a leaf's request as its own participant's: refused while the floor is
  locked to another site (the leaf then follows the root: C REVOKED, A holds, locked); a
  release of C that crossed A's grant at the root does not release A.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.node_sip import floor_reports
from mcu.floor import FloorChange
from mcu.nodes.leaf_floor import LeafFloors, take_floor_state
from mcu.nodes.messages import FloorHeld, FloorState, NodeMessage
from mcu.runtime import ConferenceRuntime
from mcu.runtime.content_floor import BfcpAddress
from rtc.bfcp.tables import RequestStatus
from tests.test_runtime import BEGIN, A, B, C, make_runtime

ROOT, LEAF = 5, 6


@dataclass
class Posted:
    """What a node posts to the gateway (the transport's post_event)."""

    events: list[NodeMessage] = field(default_factory=list)

    def post_event(self, message: NodeMessage) -> None:
        self.events.append(message)


@dataclass
class FakeNode:
    node_id: int
    runtime: ConferenceRuntime
    leaves: LeafFloors
    posted: Posted
    notices: list[tuple[str, RequestStatus]]

    requests: dict[str, int] = field(default_factory=dict)  # uri -> its last request id

    def press(self, uri: str) -> None:
        """The participant's FloorRequest at this node's floor server (as
        gateway/bfcp_floor.py runs it: the floor, the runtime, then the report)."""
        live = self.runtime.conferences.get("300")
        request, change = live.content_floor.participant_request(uri)
        self.requests[uri] = request.request_id
        self._bfcp(change)

    def release(self, uri: str) -> None:
        """The participant's FloorRelease of its last request."""
        live = self.runtime.conferences.get("300")
        self._bfcp(live.content_floor.participant_release(uri, self.requests[uri]))

    def _bfcp(self, change: FloorChange) -> None:
        live = self.runtime.conferences.get("300")
        self._told(change)
        self.runtime.content.changed_by_bfcp(live.bfcp_conference_id, change)
        floor_reports(self.runtime, self.posted, self.node_id,  # type: ignore[arg-type]
                      self.leaves)(live.bfcp_conference_id, change)

    def take(self, state: FloorState) -> None:
        taken = take_floor_state(self.runtime, state, self.node_id, self.leaves)
        if taken.report is not None:
            self.posted.post_event(taken.report)

    def _told(self, change: FloorChange) -> None:
        self.notices.extend((notice.site, notice.status) for notice in change.notices)

    @property
    def holder(self) -> str | None:
        return self.runtime.conferences.get("300").content_floor.holder

    def report(self) -> FloorHeld:
        (report,) = self.posted.events
        self.posted.events.clear()
        assert isinstance(report, FloorHeld)
        return report


def node(node_id: int, sites: list[str], leaf: bool) -> FakeNode:
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    scheduler.book("300", sites, cp_resource=4)
    clock.set(BEGIN)
    runtime.reconcile()
    runtime.content.bfcp_address = BfcpAddress("127.0.0.1", 5000 + node_id, False)
    live = runtime.conferences.get("300")
    for uri in sites:
        runtime.content.bfcp_identity("300", uri)
        live.content_floor.join(uri, has_content_input=True)
    leaves = LeafFloors()
    if leaf:
        leaves.linked("300")
    made = FakeNode(node_id, runtime, leaves, Posted(), [])
    runtime.content.publisher = lambda _, change: made._told(change)
    return made


def of(node: FakeNode, site: str) -> list[RequestStatus]:
    """The statuses the node told `site`'s floor requests, in order (its own participants'
    notices; a site of another node has no BFCP connection here to be told)."""
    return [status for uri, status in node.notices if uri == site]


def relayed(report: FloorHeld) -> FloorState:
    """The gateway's relay of a report (leaf_floor.relays: a leaf's names itself)."""
    leaf = report.node_id if report.node_id == LEAF else report.leaf
    return FloorState(report.conf_id, report.holder, report.locked, leaf, report.request,
                      report.before)


async def test_a_leaf_request_crossing_a_root_grant_ends_on_the_leaf_without_a_flip() -> None:
    root, leaf = node(ROOT, [A, B], leaf=False), node(LEAF, [C], leaf=True)
    leaf.press(C)
    root.press(A)
    from_leaf, from_root = leaf.report(), root.report()
    assert (from_leaf.holder, from_leaf.request) == (C, 1)
    assert (from_root.holder, from_root.leaf, from_root.request) == (A, None, 0)
    leaf.take(relayed(from_root))  # the root's A, older than C's request: passed over
    assert leaf.holder == C and leaf.posted.events == []
    root.take(relayed(from_leaf))  # the root takes C's request last, and answers it
    answer = root.report()
    assert (answer.holder, answer.leaf, answer.request) == (C, LEAF, 1)
    leaf.take(relayed(answer))
    assert root.holder == leaf.holder == C
    assert of(leaf, C) == [RequestStatus.GRANTED]
    assert of(root, A) == [RequestStatus.GRANTED, RequestStatus.REVOKED]
    # the leaf follows the root again: A asks at the root, C is revoked at the leaf
    root.press(A)
    leaf.take(relayed(root.report()))
    assert leaf.holder == A and of(leaf, C) == [RequestStatus.GRANTED, RequestStatus.REVOKED]


async def test_a_root_grant_after_the_leaf_request_wins_and_revokes_it() -> None:
    root, leaf = node(ROOT, [A, B], leaf=False), node(LEAF, [C], leaf=True)
    leaf.press(C)
    root.take(relayed(leaf.report()))
    answer = root.report()
    root.press(A)
    later = root.report()
    leaf.take(relayed(answer))
    assert leaf.holder == C
    leaf.take(relayed(later))
    assert root.holder == leaf.holder == A
    assert of(leaf, C) == [RequestStatus.GRANTED, RequestStatus.REVOKED]
    assert leaf.posted.events == []  # a leaf reports nothing after following the root


async def test_the_root_refuses_a_leaf_request_against_its_lock() -> None:
    root, leaf = node(ROOT, [A, B], leaf=False), node(LEAF, [C], leaf=True)
    root.runtime.conferences.get("300").content_floor.lock(A)  # the leaf not told yet
    leaf.press(C)
    root.take(relayed(leaf.report()))
    answer = root.report()
    assert (answer.holder, answer.locked, answer.request) == (A, True, 1)
    leaf.take(relayed(answer))
    assert (root.holder, leaf.holder) == (A, A)
    assert leaf.runtime.conferences.get("300").content_floor.locked
    assert of(leaf, C) == [RequestStatus.GRANTED, RequestStatus.REVOKED]


async def test_a_leaf_release_crossing_a_root_grant_leaves_the_root_s_holder() -> None:
    root, leaf = node(ROOT, [A, B], leaf=False), node(LEAF, [C], leaf=True)
    leaf.press(C)
    root.take(relayed(leaf.report()))
    leaf.take(relayed(root.report()))
    assert root.holder == leaf.holder == C
    root.press(A)  # A takes it at the root while C lets go at the leaf
    leaf.release(C)
    granted, released = root.report(), leaf.report()
    assert (released.holder, released.before, released.request) == (None, C, 2)
    leaf.take(relayed(granted))  # older than the release: passed over
    assert leaf.holder is None
    root.take(relayed(released))  # C no longer holds at the root: A keeps it
    answer = root.report()
    assert (answer.holder, answer.request) == (A, 2)
    leaf.take(relayed(answer))
    assert root.holder == leaf.holder == A
    assert of(root, A) == [RequestStatus.GRANTED]
