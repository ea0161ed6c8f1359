"""Placing a conference some of whose sites are pinned to a zone or a node (site_pins.py;
docs/deployment.md "Pinning sites to nodes").

Each pinned site (in booking order, before the others) goes to a live node its pin admits (a node of that zone, or that node): the
conference's nodes already used first, else the one with the most free port units (ties: the
lower id), where its port units fit. The sites no pin names go, in booking order, to the
conference's nodes already used (most free units first), else to any node with room. One
node used: the conference runs on it as any conference. Several: it is split over them as
cascade_placement.py splits a conference too large for one node (the same `Part`s, the
root first): the root is the used node with the most free units that has the conference's
cpResouce free (it composes the conference picture); every used node must take cascade
links.

A pinned zone with no live node, or without room for its sites, is not worked around: the
conference is not placed (its calls fail with 116 and the reason) and is tried again at
every registry refresh, as a conference that finds no room (the choice of docs/deployment.md:
a site pinned to a place is never given media elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mcu.model import SiteSpec
from mcu.nodes.cascade_placement import Part
from mcu.nodes.node_record import NodeRecord
from mcu.nodes.placement import Need, Reservations, free_on
from mcu.nodes.site_pins import Pin


def place_pinned(nodes: Sequence[NodeRecord], need: Need, reservations: Reservations,
                 pins: Mapping[str, Pin]) -> list[Part] | str:
    """The parts of the conference (the root's first; one part: on one node), or the reason
    it cannot be placed now."""
    free = {node.node_id: free_on(node, reservations) for node in nodes}
    used: dict[int, list[SiteSpec]] = {}  # node id -> its sites, in the order first used

    def ordered(candidates: Sequence[NodeRecord]) -> list[NodeRecord]:
        return sorted(candidates, key=lambda node: (node.node_id not in used,
                                                    -free[node.node_id][0], node.node_id))

    def fits(node: NodeRecord, site: SiteSpec) -> bool:
        taken = [*used.get(node.node_id, []), site]
        return node.costs().of_sites(taken) <= free[node.node_id][0]

    pinned_first = [site for site in need.sites if site.uri in pins] + \
        [site for site in need.sites if site.uri not in pins]
    for site in pinned_first:
        pin = pins.get(site.uri)
        candidates = list(nodes) if pin is None else \
            [node for node in nodes if pin.admits(node.node_id, node.zone)]
        if not candidates:
            return f"no live media node in {pin}"
        target = next((node for node in ordered(candidates) if fits(node, site)), None)
        if target is None:
            where = f" in {pin}" if pin is not None else ""
            return f"no live media node{where} has room for site {site.uri}"
        used.setdefault(target.node_id, []).append(site)
    by_id = {node.node_id: node for node in nodes}
    roots = sorted((node_id for node_id in used
                    if free[node_id][1] >= need.cp_resource),
                   key=lambda node_id: (-free[node_id][0], node_id))
    if not roots:
        return "no node of the conference's pinned places has its cpResouce free"
    root = roots[0]
    order = [root, *(node_id for node_id in used if node_id != root)]
    if len(order) > 1:
        without = [node_id for node_id in order if not by_id[node_id].cascade_port]
        if without:
            return f"node {without[0]} takes no cascade links"
    return [Part(by_id[node_id], tuple(used[node_id])) for node_id in order]
