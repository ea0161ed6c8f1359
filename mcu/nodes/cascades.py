"""The gateway's view of the conferences split over nodes (cascade_placement.py): which node
holds which site, and which nodes besides the root run each conference.

The router keeps a conference's root in its `placements` (as for any conference: the node
whose events are the conference's speaker, and what a restarted gateway finds); this holds
the rest: every leaf node of the conference and the sites each holds. A site not listed
here is the root's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from mcu.nodes.cascade_placement import Part


class Cascades:
    def __init__(self) -> None:
        self._sites: dict[str, dict[str, int]] = {}  # conf_id -> leaf site uri -> node id
        self._leaves: dict[str, tuple[int, ...]] = {}  # conf_id -> leaf node ids

    def add(self, conf_id: str, parts: Sequence[Part]) -> None:
        """The conference's parts, the root's first."""
        leaves = parts[1:]
        self._leaves[conf_id] = tuple(part.node.node_id for part in leaves)
        self._sites[conf_id] = {uri: part.node.node_id for part in leaves for uri in part.uris}

    def restore(self, conf_id: str, leaves: Mapping[int, Sequence[str]]) -> None:
        """The leaves as saved in Redis (cascade_record.py), for a restarted gateway."""
        self._leaves[conf_id] = tuple(leaves)
        self._sites[conf_id] = {uri: node_id for node_id, uris in leaves.items()
                                for uri in uris}

    def parts(self, conf_id: str) -> dict[int, tuple[str, ...]]:
        """Each leaf node of the conference -> the sites it holds (booking order)."""
        sites = self._sites.get(conf_id, {})
        return {leaf: tuple(uri for uri, node_id in sites.items() if node_id == leaf)
                for leaf in self._leaves.get(conf_id, ())}

    def keep(self, conf_id: str, booked: Collection[str]) -> None:
        """The booking changed: its leaves forget the sites no longer booked (a site added
        is the root's: it is on no leaf)."""
        sites = self._sites.get(conf_id)
        if sites is not None:
            self._sites[conf_id] = {uri: node_id for uri, node_id in sites.items()
                                    if uri in booked}

    def drop(self, conf_id: str) -> tuple[int, ...]:
        """Forget the conference; its leaf node ids."""
        self._sites.pop(conf_id, None)
        return self._leaves.pop(conf_id, ())

    def __contains__(self, conf_id: object) -> bool:
        return conf_id in self._leaves

    def leaves(self, conf_id: str) -> tuple[int, ...]:
        return self._leaves.get(conf_id, ())

    def node_of(self, conf_id: str, uri: str, root: int | None) -> int | None:
        """The node that holds (calls) the site: a leaf's, else the root."""
        return self._sites.get(conf_id, {}).get(uri, root)

    def conferences_of(self, node_id: int) -> list[str]:
        """The conferences the node is a leaf of."""
        return [conf_id for conf_id, leaves in self._leaves.items() if node_id in leaves]
