"""Room on the node that holds a running conference, for a change to its booking.

The scheduler's capacity check counts every live node together (their max_ports summed:
app/node_gateway.py follow_capacity), which is right for a booking that has not started:
placement puts it on a node with room when it starts (placement.py), or splits it over
several. A conference that runs already is on its node: a site added to it (addSiteToConfEx,
editConferenceEx with more sites, a terminal dialling an ad-hoc template's code that joins
the ongoing conference: mcu/adhoc.py) or a larger cpResouce must fit on THAT node, else the
node would hold more than its max_ports / max_cp_resources. When the conference is split over
nodes, what is added goes to its root (cascades.py: a site added is on no leaf), so it must
fit on the root.

`NodeRoom.check` is the scheduler's live-room hook (Scheduler.live_room), called with the
changed conference before it is committed: CAPACITY_EXCEEDED (the code the embedded MCU
answers when its ports run out: 1347444739 over SOAP, `no_capacity` to a dialling terminal)
when the node has no room for the increase, and the booking is left unchanged.

A conference not running yet, or not placed (it waits for room: the router places it when a
node has room), is left to placement. A change that adds nothing (an edit of its name, a
prolongation, a removed site) always passes. The increase is counted at the node's own cost
per format, against what the node reports it holds (its record, once a second) plus what the
gateway placed on it since (Reservations).

Not done: putting the added site on a leaf on another node with room (a new cascade link for
a running conference); the site is refused instead (docs/deployment.md, "A site added to a
running conference").
"""

from __future__ import annotations

from datetime import datetime

from mcu import series
from mcu.errors import DomainError, Fault
from mcu.model import Conference, ConferenceState, SiteSpec
from mcu.nodes.conference_router import ConferenceRouter
from mcu.nodes.node_record import NodeRecord


class NodeRoom:
    """The live-room check of the conferences placed on media nodes (the router's view)."""

    def __init__(self, router: ConferenceRouter) -> None:
        self.router = router

    def check(self, conference: Conference, now: datetime) -> None:
        """CAPACITY_EXCEEDED when the running conference's node (its root when split) has
        no room for what the change adds to it."""
        conf_id = conference.conf_id
        root = self.router.placements.get(conf_id)
        live = self.router.runtime.conferences.get(conf_id)
        if root is None or live is None:
            return
        state, occurrence = series.state_at(conference, now)
        if state is not ConferenceState.ONGOING:
            return
        node = self.router.nodes.get(root)
        if node is None:  # gone: the router moves the conference, placed where it fits
            return
        costs = node.costs()
        before = costs.of_sites(self._sites_on(conf_id, live.occurrence.sites, root, root))
        after = costs.of_sites(self._sites_on(conf_id, occurrence.sites, root, root))
        more_units = after - before
        more_cp = conference.spec.cp_resource - live.conference.spec.cp_resource
        used_units, used_cp = self._used(node)
        free_units = node.port_units() - used_units
        free_cp = node.max_cp_resources - used_cp
        if more_units > 0 and more_units > free_units:
            raise DomainError(
                Fault.CAPACITY_EXCEEDED,
                f"media node {root} ({node.name}), which runs conference {conf_id}, has "
                f"{max(free_units, 0)} free port units; the change needs {more_units}")
        if more_cp > 0 and more_cp > free_cp:
            raise DomainError(
                Fault.CAPACITY_EXCEEDED,
                f"media node {root} ({node.name}), which runs conference {conf_id}, has "
                f"{max(free_cp, 0)} free CP resources; the change needs {more_cp}")

    def _used(self, node: NodeRecord) -> tuple[int, int]:
        """(port units, CP resources) in use on the node: the larger of what its record
        says plus what was placed on it since (Reservations), and what the gateway's own
        view holds there (the running conferences' booked sites on that node: it follows a
        change at once, where the record follows within a heartbeat)."""
        placed_units, placed_cp = self.router.reservations.held(node)
        reported_units = node.ports_used + placed_units
        reported_cp = node.cp_used + placed_cp
        costs = node.costs()
        own_units = own_cp = 0
        for live in self.router.runtime.conferences.all():
            root = self.router.placements.get(live.conf_id)
            if root is None:
                continue
            held = self._sites_on(live.conf_id, live.occurrence.sites, root, node.node_id)
            own_units += costs.of_sites(held)
            if root == node.node_id:
                own_cp += live.conference.spec.cp_resource
        return max(reported_units, own_units), max(reported_cp, own_cp)

    def _sites_on(self, conf_id: str, sites: list[SiteSpec], root: int,
                  node_id: int) -> list[SiteSpec]:
        """The conference's sites that node `node_id` holds (a leaf's own, else the
        root's)."""
        return [site for site in sites
                if self.router.cascades.node_of(conf_id, site.uri, root) == node_id]
