"""A conference no single live node has room for, split over two or more nodes linked by a
cascade (mcu/media/cascade/, docs/cascade.md "On media nodes").

`split` is tried only when placement.choose_node finds no node with room for the whole
conference. The **root** is the node with the most free port units (ties: the lower id)
among the nodes that take cascade links (their record announces a `cascade_port`); it gets
the conference's cpResouce (it composes the conference picture) and as many of the booked
sites, in booking order, as its free units hold. The remaining sites go, in booking order,
to the other cascade-capable nodes, the one with the most free units first, each taking as
many as fit. A conference whose sites do not all fit on the nodes together is not split
(None: it waits for room as any conference that finds none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mcu.model import SiteSpec
from mcu.nodes.node_record import NodeRecord
from mcu.nodes.placement import Need, Reservations, free_on


@dataclass(frozen=True)
class Part:
    """The sites one node of a cascaded conference holds (and calls)."""

    node: NodeRecord
    sites: tuple[SiteSpec, ...]

    @property
    def uris(self) -> tuple[str, ...]:
        return tuple(site.uri for site in self.sites)


def split(nodes: Sequence[NodeRecord], need: Need,
          reservations: Reservations) -> list[Part] | None:
    """The parts (the root's first) of a conference over two or more nodes, or None."""
    free = {node.node_id: free_on(node, reservations) for node in nodes
            if node.cascade_port}
    by_room = sorted((node for node in nodes if node.node_id in free),
                     key=lambda node: (-free[node.node_id][0], node.node_id))
    roots = [node for node in by_room if free[node.node_id][1] >= need.cp_resource]
    if not roots:
        return None
    root = roots[0]
    order = [root, *(node for node in by_room if node is not root)]
    left = list(need.sites)
    parts: list[Part] = []
    for node in order:
        if not left:
            break
        room = free[node.node_id][0]
        cost = node.costs()
        taken: list[SiteSpec] = []
        while left and cost.of_sites([*taken, left[0]]) <= room:
            taken.append(left.pop(0))
        if node is root and not taken:
            return None  # the root must hold at least one site
        if taken:
            parts.append(Part(node, tuple(taken)))
    if left or len(parts) < 2:
        return None
    return parts
