"""The whole placement of a conference split over nodes, as saved in Redis for a gateway that
restarts (registry.py `{prefix}:cascade:{conf_id}`, beside the root in `placements`).

One declared schema (rtc/signalling_schema.py field specs): the gateway writes
`leaves_json`, a restarted gateway reads it through `parse_leaves`; a value the schema
refuses is a `NodeMessageError` (the gateway logs it and places the conference again, as
one whose nodes are gone). The root's sites are not listed: a site of the booking that no
leaf holds is the root's (cascades.py), so a site added to the booking later is the root's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from mcu.nodes.messages import MAX_LEVEL_SITES, NODE_ID, URI, NodeMessageError
from rtc.signalling_schema import ListOf, Nested, SchemaError, build, loads, spec

MAX_LEAVES = 64


@dataclass(frozen=True)
class LeafPart:
    node_id: int = spec(NODE_ID)
    uris: list[str] = spec(ListOf(URI, max_items=MAX_LEVEL_SITES))


@dataclass(frozen=True)
class SavedCascade:
    leaves: list[LeafPart] = spec(ListOf(Nested(LeafPart), max_items=MAX_LEAVES, min_items=1))


def leaves_json(leaves: Mapping[int, Sequence[str]]) -> str:
    """The leaves (node id -> the sites it holds) as saved."""
    saved = {"leaves": [asdict(LeafPart(node_id, list(uris)))
                        for node_id, uris in sorted(leaves.items())]}
    return json.dumps(saved, separators=(",", ":"))


def parse_leaves(text: str | bytes) -> dict[int, tuple[str, ...]]:
    """node id -> its sites, or NodeMessageError naming what the schema refuses (also a
    site listed on two leaves)."""
    try:
        saved: SavedCascade = build(SavedCascade, loads(text), "cascade")
    except (SchemaError, UnicodeDecodeError) as error:
        raise NodeMessageError(str(error)) from None
    leaves: dict[int, tuple[str, ...]] = {}
    seen: set[str] = set()
    for part in saved.leaves:
        if part.node_id in leaves:
            raise NodeMessageError(f"cascade: node {part.node_id} listed twice")
        if seen & set(part.uris):
            raise NodeMessageError(f"cascade: a site of node {part.node_id} is on two leaves")
        seen.update(part.uris)
        leaves[part.node_id] = tuple(part.uris)
    return leaves
