"""Which live node takes a conference when it starts: the least loaded node with room for
its sites (their port units at that node's cost per format) and its cpResouce.

A node's record reports its load once a second; a conference placed since then is not in it
yet. `Reservations` holds what the gateway placed on each node until the node's own record
lists that conference, so two conferences starting within one heartbeat are not both put
in the same last free ports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mcu.model import SiteSpec
from mcu.nodes.node_record import NodeRecord


@dataclass(frozen=True)
class Need:
    """What one conference holds on a node."""

    conf_id: str
    sites: tuple[SiteSpec, ...]
    cp_resource: int

    def units_on(self, node: NodeRecord) -> int:
        return node.costs().of_sites(self.sites)


class Reservations:
    """Conferences placed on a node that its record does not list yet."""

    def __init__(self) -> None:
        self._pending: dict[int, dict[str, Need]] = {}

    def add(self, node_id: int, need: Need) -> None:
        self._pending.setdefault(node_id, {})[need.conf_id] = need

    def drop(self, conf_id: str) -> None:
        for pending in self._pending.values():
            pending.pop(conf_id, None)

    def settle(self, nodes: Iterable[NodeRecord]) -> None:
        """Forget reservations a node's record now counts (or of nodes that are gone)."""
        live = {node.node_id: node for node in nodes}
        for node_id in list(self._pending):
            node = live.get(node_id)
            if node is None:
                del self._pending[node_id]
                continue
            for conf_id in [c for c in self._pending[node_id] if c in node.conferences]:
                del self._pending[node_id][conf_id]

    def held(self, node: NodeRecord) -> tuple[int, int]:
        """(port units, CP resources) reserved on the node beyond its record."""
        pending = [need for conf_id, need in self._pending.get(node.node_id, {}).items()
                   if conf_id not in node.conferences]
        return (sum(need.units_on(node) for need in pending),
                sum(need.cp_resource for need in pending))


def free_on(node: NodeRecord, reservations: Reservations) -> tuple[int, int]:
    """(port units, CP resources) free on the node now."""
    units, cp = reservations.held(node)
    return (node.port_units() - node.ports_used - units,
            node.max_cp_resources - node.cp_used - cp)


def choose_node(nodes: Sequence[NodeRecord], need: Need,
                reservations: Reservations) -> NodeRecord | None:
    """The least loaded node (after its reservations; ties: the lower id) on which the
    conference fits; None when it fits on none."""
    best: tuple[float, int, NodeRecord] | None = None
    for node in nodes:
        free_units, free_cp = free_on(node, reservations)
        if need.units_on(node) > free_units or need.cp_resource > free_cp:
            continue
        units, cp = reservations.held(node)
        load = max((node.ports_used + units) / node.port_units(),
                   (node.cp_used + cp) / node.max_cp_resources)
        key = (load, node.node_id, node)
        if best is None or key[:2] < best[:2]:
            best = key
    return None if best is None else best[2]
