"""The content floor of a conference on a media node: the node is the BFCP floor control server
of its conferences (its own listener on its media address, app/node_sip.py), so a SIP room
or a terminal on the node asks the node for the floor and the node's media switches the
content at once. The gateway keeps its view (queryConferencesStatusEx's presentation,
isSendAuxStreamEx) from the node's reports: after each change its floor server makes, the
node reports who holds the floor (`floor`, messages.FloorHeld) and the gateway's runtime
takes that state (`follow_node_floor`), announcing it as PresentationChanged like any floor
change. A change the gateway decides (setAuxStreamEx, lockPresentationEx, a holder's call
ending) reaches the node as that same event; the node's floor takes it and tells its BFCP
participants (`follow_gateway_floor`).

The node is the single authority over the floor of its conferences: its floor's order of
changes is the order. So the gateway never sends a node's own report back to it: a
PresentationChanged the gateway's runtime emits while following a node's `floor` report is
not forwarded to that node (ConferenceRouter._floor_from). A conference split over nodes:
the root is that authority, and the leaves' requests and the root's floor are relayed
between them (leaf_floor.py). Without that echo, two participants' requests at the node in quick
succession cannot cross the first one's echo: the floor goes to the first, then to the second,
and stays there, at the node and in the gateway's view, which takes the node's reports in
their order (one Redis stream). When a decision of the gateway crosses a participant's request
at the node (the node granted B while the gateway's X was on its way), the node applies what
arrives last (X) and reports its floor after that change too, so the gateway's view, which
followed B meanwhile, ends where the node's floor is (X): the last decision at the node wins,
and the gateway's view can pass through B once on the way.

`reach` moves a Floor (mcu/floor.py) to a given holder and lock with the chair's operations:
the site the node granted has a content input (the node checked its call's content m-line),
so the gateway's floor takes it as declared.
"""

from __future__ import annotations

import logging

from mcu.events import PresentationChanged
from mcu.floor import Floor, FloorChange, FloorError
from mcu.nodes.messages import FloorHeld
from mcu.runtime import ConferenceRuntime

log = logging.getLogger(__name__)


def reach(floor: Floor, holder: str | None, locked: bool) -> list[FloorChange]:
    """The chair's operations that bring `floor` to (holder, locked), done; FloorError when
    the floor refuses one (it is then left as that operation found it)."""
    changes: list[FloorChange] = []
    if (floor.holder, floor.locked) == (holder, locked):
        return changes
    if floor.locked and floor.holder != holder:
        changes.append(floor.unlock())
    if holder is None:
        if floor.holder is not None:
            changes.append(floor.chair_release(floor.holder))
        return changes
    changes.append(floor.join(holder, has_content_input=True))
    changes.append(floor.lock(holder) if locked else floor.chair_grant(holder))
    if not locked and floor.locked:
        changes.append(floor.unlock())
    return changes


def follow_gateway_floor(runtime: ConferenceRuntime, event: PresentationChanged,
                         node_id: int) -> FloorHeld | None:
    """On the node: its floor takes the state the gateway's runtime decided (setAuxStreamEx,
    lockPresentationEx, a holder leaving), and its BFCP participants are told the changes
    (their notices), as the embedded chair's changes are. When the floor moved, the report
    of where it is now (for the gateway: its view ends where the node's floor is, also when
    the decision crossed a participant's request); None when nothing moved."""
    live = runtime.conferences.get(event.conf_id)
    if live is None:
        return None
    try:
        changes = reach(live.content_floor, event.holder, event.locked)
    except FloorError as error:
        log.warning("floor of %s as the gateway decided it: %s", event.conf_id, error)
        return None
    publisher = runtime.content.publisher
    if publisher is not None and live.bfcp_conference_id:
        for change in changes:
            if change.changed:
                publisher(live.bfcp_conference_id, change)
    if not any(change.changed for change in changes):
        return None
    return FloorHeld(node_id, live.conf_id, live.content_floor.holder, live.content_floor.locked)


def follow_node_floor(runtime: ConferenceRuntime, report: FloorHeld) -> None:
    """The gateway's floor of the conference takes the state its node reports."""
    live = runtime.conferences.get(report.conf_id)
    if live is None:
        return
    if report.holder is not None and report.holder not in live.sites:
        log.warning("floor of %s on node %d: %s is not a site of it", report.conf_id,
                    report.node_id, report.holder)
        return
    floor = live.content_floor
    before = (floor.holder, floor.locked)
    try:
        reach(floor, report.holder, report.locked)
    except FloorError as error:
        log.warning("floor of %s as node %d reports it: %s", report.conf_id, report.node_id,
                    error)
    if (floor.holder, floor.locked) != before:
        runtime.events.emit(PresentationChanged(live.conf_id, floor.holder, floor.locked))
