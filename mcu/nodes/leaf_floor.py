"""The content floor of a conference split over nodes (docs/sip.md "SIP on media nodes",
"The node is the floor's authority"): every node of it runs a BFCP floor server its own
sites ask, and the ROOT node is the single authority that orders the changes.

- A participant's request at the root is granted there, as on a conference that is not
  split; the root reports its floor (`floor`, messages.FloorHeld).
- A participant's request at a LEAF is granted by the leaf's floor server at once (its BFCP
  answer and its media), and is a request to the root: the leaf reports it with its own
  request number (`request`) and the holder it left (`before`), and remembers it as
  pending; the gateway relays it to the root only (`floor_state`, messages.FloorState,
  naming the leaf and the number); the root's floor takes it as a participant's request
  made there (the last to reach the root wins; refused while the floor is locked to another
  site; a release only of the holder the leaf released, not of one the root granted since)
  and the root reports its floor ANSWERING that request, also when nothing moved (a
  refused request: the leaf follows the root's floor, its participant is revoked).
- The gateway follows the root's reports only (its runtime's view: queryConferencesStatusEx,
  isSendAuxStreamEx) and relays each one to every leaf as it is (`floor_state`). A leaf
  follows them, reports nothing back, and while a request of its own is pending it passes
  over every state of the root that does not answer it: those the root had before it took
  the request, which the leaf's own grant already superseded. So two near-simultaneous
  requests at two nodes end on one holder at every node and in the gateway's view, and no
  node's floor goes back to a holder it left (the leaf's grant is never overturned by a
  state older than itself).
- A decision of the gateway (setAuxStreamEx, lockPresentationEx, a holder's call ending) goes
  to the root only (the runtime's PresentationChanged; conference_router.py), whose report
  reaches the leaves as above.

`LeafFloors` is the node's side (which of its conferences it is a leaf of, its pending
request); `take_floor_state` applies a relayed state on a node; `relays` is the gateway's
side, what a node's report becomes.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

from mcu.events import PresentationChanged
from mcu.floor import Floor, FloorError
from mcu.nodes.messages import FloorHeld, FloorState
from mcu.nodes.node_floor import reach
from mcu.runtime import ConferenceRuntime

log = logging.getLogger(__name__)

MAX_REQUEST = 2**31 - 1


class LeafFloors:
    """On a node: the conferences it is a leaf of (their `start` named the root's cascade
    listener) and, for each, the number of the request of its own that the root has not
    answered yet."""

    def __init__(self) -> None:
        self._leaf_of: set[str] = set()
        self._pending: dict[str, int] = {}
        self._numbers = itertools.count(1)

    def linked(self, conf_id: str) -> None:
        self._leaf_of.add(conf_id)

    def forget(self, conf_id: str) -> None:
        self._leaf_of.discard(conf_id)
        self._pending.pop(conf_id, None)

    def is_leaf(self, conf_id: str) -> bool:
        return conf_id in self._leaf_of

    def request(self, conf_id: str) -> int:
        """A participant's change at this leaf, to be reported: its number, now pending."""
        number = next(self._numbers)
        if number > MAX_REQUEST:
            self._numbers = itertools.count(2)
            number = 1
        self._pending[conf_id] = number
        return number

    def takes(self, state: FloorState, node_id: int) -> bool:
        """Whether this leaf follows the root's `state`: not while a request of its own is
        pending that the state does not answer (the root had it before the request)."""
        pending = self._pending.get(state.conf_id)
        if pending is None:
            return True
        if state.leaf == node_id and state.request == pending:
            del self._pending[state.conf_id]
            return True
        return False


@dataclass(frozen=True)
class Taken:
    """What a node did with a relayed floor state: its floor moved (`moved`: the node's
    runtime is told, for its media) and the report it owes the gateway (the root's answer to
    a leaf's request), if any."""

    moved: bool
    report: FloorHeld | None


def take_floor_state(runtime: ConferenceRuntime, state: FloorState, node_id: int,
                     leaves: LeafFloors) -> Taken:
    """A relayed floor state on this node: on a leaf, the root's floor (followed unless a
    request of the leaf's own is pending that it does not answer); on the root, a leaf's
    request (taken, and answered with the root's floor, also when nothing moved). The node's
    BFCP participants are told the changes."""
    live = runtime.conferences.get(state.conf_id)
    if live is None:
        return Taken(False, None)
    leaf = leaves.is_leaf(state.conf_id)
    if leaf and not leaves.takes(state, node_id):
        log.info("node %d: floor of %s as the root had it before this leaf's request: passed",
                 node_id, state.conf_id)
        return Taken(False, None)
    floor = live.content_floor
    try:
        changes = [] if not leaf and state.leaf is not None and refused(floor, state) \
            else reach(floor, state.holder, state.locked)
    except FloorError as error:
        log.warning("node %d: floor of %s as relayed: %s", node_id, state.conf_id, error)
        changes = []
    publisher = runtime.content.publisher
    if publisher is not None and live.bfcp_conference_id:
        for change in changes:
            if change.changed:
                publisher(live.bfcp_conference_id, change)
    moved = any(change.changed for change in changes)
    if leaf or state.leaf is None:
        return Taken(moved, None)
    return Taken(moved, FloorHeld(node_id, live.conf_id, floor.holder, floor.locked,
                                  leaf=state.leaf, request=state.request))


def refused(floor: Floor, request: FloorState) -> bool:
    """Whether the root's floor refuses a leaf's request as it would its own participant's:
    a grant while the floor is locked to another site, a release of a holder that no longer
    holds it here (the root granted another since)."""
    if request.holder is None:
        return floor.holder != request.before
    return floor.locked and floor.holder != request.holder


def relays(report: FloorHeld, root: int, leaves: tuple[int, ...]) -> list[tuple[int, FloorState]]:
    """On the gateway, a split conference's node reported its floor: a leaf's report goes to
    the root only (a request), the root's to every leaf (its floor, with the request it
    answers). Never back to the reporter."""
    state = FloorState(report.conf_id, report.holder, report.locked,
                       leaf=report.node_id if report.node_id != root else report.leaf,
                       request=report.request, before=report.before)
    if report.node_id == root:
        return [(leaf, state) for leaf in leaves]
    return [(root, state)] if report.node_id in leaves else []


def presentation_of(state: FloorState) -> PresentationChanged:
    """The runtime event a node's media follows for a relayed floor state."""
    return PresentationChanged(state.conf_id, state.holder, state.locked)
