"""What a gateway restarted mid-conference reads back from Redis before its first reconcile
(docs/runtime.md "Nodes", "Gateway restart"): the live nodes, the placements on them, the
leaves of each conference split over nodes (cascade_record.py), the call state of every site
the nodes saved and each conference's control state (the last forwarded event of each
subject, state_replay.py). Everything is read through its declared schema; an entry the
schema refuses is logged and dropped.

A placement on a node that is not live is dropped (the conference is placed again when it
starts); so is a split one with a leaf that is not live (or whose saved leaves are refused):
its nodes that are live are listed in `stale`, to be told to end it before it is placed
again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mcu.events import ConferenceEvent
from mcu.nodes.cascade_record import parse_leaves
from mcu.nodes.event_codec import decode_event
from mcu.nodes.messages import (
    CallState,
    ForwardedEvent,
    NodeMessageError,
    parse_command,
    parse_event,
)
from mcu.nodes.node_record import NodeRecord
from mcu.nodes.registry import NodeRegistry

log = logging.getLogger(__name__)


@dataclass
class SavedView:
    nodes: list[NodeRecord]
    placements: dict[str, int] = field(default_factory=dict)  # conf_id -> (root) node id
    leaves: dict[str, dict[int, tuple[str, ...]]] = field(default_factory=dict)
    site_states: dict[tuple[str, str], CallState] = field(default_factory=dict)
    state: dict[str, list[ConferenceEvent]] = field(default_factory=dict)
    stale: list[tuple[int, str]] = field(default_factory=list)  # (node id, conf_id) to end


async def read_saved_view(registry: NodeRegistry) -> SavedView:
    view = SavedView(await registry.live_nodes())
    live = {node.node_id for node in view.nodes}
    for conf_id, node_id in (await registry.placements()).items():
        if node_id not in live:
            continue
        text = await registry.cascade(conf_id)
        if text is not None:
            try:
                leaves = parse_leaves(text)
            except NodeMessageError as error:
                log.warning("saved placement of %s dropped: %s", conf_id, error)
                leaves = {}
            if not leaves or any(leaf not in live for leaf in leaves):
                log.warning("conference %s: a node of its split placement left meanwhile: "
                            "it is ended on the others and placed again", conf_id)
                view.stale += [(node, conf_id) for node in sorted({node_id, *leaves})
                               if node in live]
                continue
            view.leaves[conf_id] = leaves
        view.placements[conf_id] = node_id
        view.site_states.update(await _site_states(registry, conf_id))
        view.state[conf_id] = await _control_state(registry, conf_id)
    return view


async def _site_states(registry: NodeRegistry,
                       conf_id: str) -> dict[tuple[str, str], CallState]:
    found = {}
    for uri, text in (await registry.sites(conf_id)).items():
        try:
            state = parse_event(text)
        except NodeMessageError as error:
            log.warning("saved state of %s in %s dropped: %s", uri, conf_id, error)
            continue
        if isinstance(state, CallState) and state.uri == uri:
            found[(conf_id, uri)] = state
    return found


async def _control_state(registry: NodeRegistry, conf_id: str) -> list[ConferenceEvent]:
    saved = []
    for text in await registry.state(conf_id):
        try:
            command = parse_command(text)
            if not isinstance(command, ForwardedEvent):
                raise NodeMessageError("not an event")
            saved.append(decode_event(command))
        except NodeMessageError as error:
            log.warning("saved state of %s dropped: %s", conf_id, error)
    return saved
