"""The content floor of a conference on a media node: the node is the BFCP floor control server
of its conferences (its own listener on its media address, app/node_sip.py), so a SIP room
or a terminal on the node asks the node for the floor and the node's media switches the
content at once. The gateway keeps its view (queryConferencesStatusEx's presentation,
isSendAuxStreamEx) from the node's reports: after each change its floor server makes, the
node reports who holds the floor (`floor`, messages.FloorHeld) and the gateway's runtime
takes that state (`follow_node_floor`), announcing it as PresentationChanged like any floor
change (which goes back to the node as a forwarded event: its media already has it, and the
node's floor is at that state already, so nothing moves twice). A change the gateway decides
(setAuxStreamEx, lockPresentationEx) reaches the node as that same event; the node's floor
takes it and tells its BFCP participants (`follow_gateway_floor`). Two participants' requests
at the node in quick succession can cross the first one's echo: the floor flips back to the
first holder and then to the second when the second's echo arrives (ending where the node's
last grant put it).

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


def follow_gateway_floor(runtime: ConferenceRuntime, event: PresentationChanged) -> None:
    """On the node: its floor takes the state the gateway's runtime decided (setAuxStreamEx,
    lockPresentationEx, a holder leaving; or its own report coming back, which changes
    nothing), and its BFCP participants are told the changes (their notices), as the
    embedded chair's changes are."""
    live = runtime.conferences.get(event.conf_id)
    if live is None:
        return
    try:
        changes = reach(live.content_floor, event.holder, event.locked)
    except FloorError as error:
        log.warning("floor of %s as the gateway decided it: %s", event.conf_id, error)
        return
    publisher = runtime.content.publisher
    if publisher is not None and live.bfcp_conference_id:
        for change in changes:
            if change.changed:
                publisher(live.bfcp_conference_id, change)


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
