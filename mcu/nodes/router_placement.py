"""Where each live conference runs (mcu/nodes/conference_router.py): placed on the least loaded
live node with room (pins honoured, split over nodes when none has room alone), told to its
nodes again when its booking changes, placed again when its node leaves the registry (its
sites called again from the new node), ended on its nodes when it ends."""

from __future__ import annotations

import logging
from dataclasses import replace

from mcu.errors import DomainError
from mcu.live_conference import LiveConference
from mcu.model import Conference, Occurrence, SiteCallState
from mcu.nodes.cascade_placement import Part, split
from mcu.nodes.cascade_record import leaves_json
from mcu.nodes.event_codec import encode_event
from mcu.nodes.messages import End, Start
from mcu.nodes.node_dial_in import resume_sip_dial_ins
from mcu.nodes.node_starts import node_starts
from mcu.nodes.pinned_placement import place_pinned
from mcu.nodes.placement import Need, choose_node
from mcu.nodes.registry import REFRESH_S
from mcu.nodes.router_core import NO_ROOM, RouterCore
from mcu.nodes.state_replay import replay_events, restore

# the logger of mcu/nodes/conference_router.py, whose part this is: log records keep their name
log = logging.getLogger("mcu.nodes.conference_router")


class RouterPlacement(RouterCore):
    """The router's placement of conferences on nodes."""

    async def refresh_nodes(self) -> None:
        nodes = await self.registry.live_nodes()
        gone = set(self.nodes) - {node.node_id for node in nodes}
        self.nodes = {node.node_id: node for node in nodes}
        for node_id in sorted(gone):
            self._node_lost(node_id)
        for node in nodes:  # a node that was taken for gone but came back: not its any more
            for conf_id in node.conferences:
                if self.placements.get(conf_id) != node.node_id and \
                        node.node_id not in self.cascades.leaves(conf_id):
                    self.transport.post_command(node.node_id, End(conf_id))
        self.reservations.settle(nodes)
        if self.capacity is not None:
            self.capacity(nodes)

    def _node_lost(self, node_id: int) -> None:
        """The node left the registry: the calls of its conferences (a split conference's
        on all its nodes) end ("media node N left"), their terminals are told, and each conference is placed again at once if a
        node has room (else at a later refresh); the sites that were in conference are
        called again from the new node (`_redial`)."""
        log.warning("media node %d left the registry", node_id)
        reason = f"media node {node_id} left the registry"
        lost = [conf for conf, node in self.placements.items() if node == node_id]
        lost += [conf for conf in self.cascades.conferences_of(node_id) if conf not in lost]
        for conf_id in lost:
            # a split conference moves whole: its other nodes end it (and tell their own
            # sites' terminals); the gateway tells the terminals of the node that left
            on_lost = {key[1] for key in self.site_states
                       if key[0] == conf_id and self.node_of(conf_id, key[1]) == node_id}
            others = {self.placements.get(conf_id), *self.cascades.leaves(conf_id)}
            for other in sorted(n for n in others if n is not None and n != node_id):
                self.transport.post_command(other, End(conf_id))
            self.cascades.drop(conf_id)
            self.reservations.drop(conf_id)
            self.placements.pop(conf_id, None)
            for key in [key for key in self.site_states if key[0] == conf_id]:
                state = self.site_states.pop(key)
                if state.call_id and state.call_state is not SiteCallState.NOT_JOINED \
                        and self.call_lost is not None and key[1] in on_lost:
                    self.call_lost(key[1], state.call_id, reason)
            joined = []
            for key in [key for key in self.calls if key[0] == conf_id]:
                call = self.calls.pop(key)
                self.site_states.pop(key, None)
                if call.state is SiteCallState.IN_CONFERENCE:
                    joined.append(call.uri)
                if call.active:
                    call.hang_up_remote(reason)
            self._redial[conf_id] = joined
        for uri in [uri for uri, node in self.terminal_nodes.items() if node == node_id]:
            del self.terminal_nodes[uri]

    def _place(self, conf_id: str) -> None:
        live = self.runtime.conferences.get(conf_id)
        if live is None:
            return
        start = Start.of(live.conference, live.occurrence)
        node_id = self.placements.get(conf_id)
        if node_id is not None and node_id in self.nodes:  # placed before a restart
            saved = self.saved_state.pop(conf_id, [])
            restore(live, saved)
            self.saved_floors.keep(conf_id, saved)
            self._announce(live)
            resume_sip_dial_ins(self, conf_id)  # node_dial_in.py
            return
        need = Need(conf_id, tuple(live.occurrence.sites), live.conference.spec.cp_resource)
        pinned = self.pins.pins_of(site.uri for site in need.sites)
        if pinned:  # some sites' media must be in a place (pinned_placement.py)
            placed = place_pinned(list(self.nodes.values()), need, self.reservations, pinned)
            if isinstance(placed, str):
                if self.unplaced.get(conf_id) != placed:
                    log.warning("conference %s: %s (retried every %.0f s)", conf_id, placed,
                                REFRESH_S)
                self.unplaced[conf_id] = placed  # its calls fail with this reason
                self.placements.pop(conf_id, None)
                return
            node = placed[0].node if len(placed) == 1 else None
            parts: list[Part] | None = placed if len(placed) > 1 else None
        else:
            node = choose_node(list(self.nodes.values()), need, self.reservations)
            parts = None if node is not None else \
                split(list(self.nodes.values()), need, self.reservations)
        self.unplaced.pop(conf_id, None)
        if node is not None:
            self.placements[conf_id] = node.node_id
            self.reservations.add(node.node_id, need)
            self.transport.post_command(node.node_id, start)
            self._spawn(self.registry.place(conf_id, node.node_id))
            log.info("conference %s placed on node %d (%s)", conf_id, node.node_id, node.name)
            targets = [node.node_id]
        else:
            if parts is None:
                log.warning("conference %s: %s (retried every %.0f s)", conf_id, NO_ROOM,
                            REFRESH_S)
                self.placements.pop(conf_id, None)
                return
            self._place_cascade(live.conference, live.occurrence, parts)
            targets = [part.node.node_id for part in parts]
        if conf_id in self._redial:  # moved from a node that left: its state, then its sites
            for event in replay_events(live):
                for target in targets:
                    self.transport.post_command(target, encode_event(event))
        again = self._redial.pop(conf_id, [])
        if again:
            try:
                self.runtime.lifecycle.connect_sites(conf_id, again)
            except DomainError as error:
                log.warning("conference %s: calling %s again failed: %s", conf_id, again, error)

    def _place_cascade(self, conference: Conference, occurrence: Occurrence,
                       parts: list[Part]) -> None:
        """The conference over several nodes (cascade_placement.py): the root first, then
        each leaf told the root's cascade address; each node holds and calls its part."""
        conf_id = conference.conf_id
        root = parts[0].node
        self.placements[conf_id] = root.node_id
        self.cascades.add(conf_id, parts)
        start = Start.of(conference, occurrence)
        for index, part in enumerate(parts):
            cp = conference.spec.cp_resource if index == 0 else 0
            self.reservations.add(part.node.node_id, Need(conf_id, part.sites, cp))
            upstream = "" if index == 0 else f"{root.address}:{root.cascade_port}"
            self.transport.post_command(part.node.node_id, replace(
                start, held=list(part.uris), cascade_root=upstream))
        self._spawn(self.registry.place(conf_id, root.node_id,
                                        leaves_json(self.cascades.parts(conf_id))))
        log.info("conference %s split over nodes %s (root %d)", conf_id,
                 ", ".join(f"{part.node.node_id}: {len(part.sites)} sites" for part in parts),
                 root.node_id)

    def _announce(self, live: LiveConference) -> None:
        root = self.placements.get(live.conf_id)
        if root is not None:
            for node_id, start in node_starts(live, root, self.cascades, self.nodes):
                self.transport.post_command(node_id, start)

    def _booking_changed(self, conf_id: str) -> None:
        """The running conference's booking changed: its nodes follow it (a conference that
        waits for room is placed with its new booking when it finds some)."""
        live = self.runtime.conferences.get(conf_id)
        root = self.placements.get(conf_id)
        if live is None or root is None:
            return
        if conf_id in self.cascades:
            self.cascades.keep(conf_id, {site.uri for site in live.occurrence.sites})
            self._spawn(self.registry.place(conf_id, root,
                                            leaves_json(self.cascades.parts(conf_id))))
        self._announce(live)
        log.info("conference %s: its booking changed, told to its nodes", conf_id)

    def _place_waiting(self) -> None:
        """Conferences that found no room (or whose node left): placed when one has room.
        Placements of conferences the runtime does not run (they ended while the gateway
        was down): their node is told to end them."""
        for conf_id in [c for c in self.placements if self.runtime.conferences.get(c) is None]:
            self._ended(conf_id)
        for live in self.runtime.conferences.all():
            node_id = self.placements.get(live.conf_id)
            if node_id is None or node_id not in self.nodes:
                self.placements.pop(live.conf_id, None)
                self._place(live.conf_id)

    def _ended(self, conf_id: str) -> None:
        node_id = self.placements.pop(conf_id, None)
        self.unplaced.pop(conf_id, None)
        for leaf in self.cascades.drop(conf_id):
            self.transport.post_command(leaf, End(conf_id))
        self._redial.pop(conf_id, None)
        self.saved_floors.forget(conf_id)
        self.reservations.drop(conf_id)
        for key in [key for key in self.calls if key[0] == conf_id]:
            del self.calls[key]
        for key in [key for key in self.site_states if key[0] == conf_id]:
            del self.site_states[key]
        if node_id is not None:
            self.transport.post_command(node_id, End(conf_id))
        self._spawn(self.registry.unplace(conf_id))
