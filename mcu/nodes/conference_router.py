"""The gateway's side of the nodes: where each live conference runs and what goes to it.

The gateway keeps the one authoritative runtime (mcu/runtime/: validation, live state, the
status queries) and no media. `ConferenceRouter` follows that runtime:

- a conference that starts is placed on the least loaded live node with room for it
  (placement.py) and the node is told (`start`); one that ends, `end`; the events its media
  mirrors (layouts, mute, broadcast, ...: event_codec.py) go to that node as they happen;
- its calls: `NodeDialer` is the runtime's dialer. Placing a call relays the terminal's
  registration to the node and asks it to call the site; the node's endpoint does the
  WebRTC call and reports the call's states back, which move the gateway's own `Call` (so
  the runtime's state machine, timeouts and call records are the ones of one process);
- from the nodes (transport.py, messages.py: validated, bad ones logged and dropped, as are
  messages of a node that no longer holds the conference): call states, the speaker and
  audio levels into the runtime, and signalling messages for the terminals
  (`deliver`, the gateway's signalling: gateway/node_signalling.py);
- the registry is read every REFRESH_S: the live nodes (the MCU pool, node_pool.py; the
  scheduler's capacity is their sum) and a retry of conferences that found no room;
- a node that leaves the registry (it stopped reporting: killed, frozen, cut off): the calls
  of its conferences end ("media node N left the registry"), their terminals are told, and
  each conference is placed again on a node with room, its sites that were in conference
  called again from there (failover; `_node_lost`). A node that comes back is told to end
  the conferences that are no longer placed on it.

A conference that no live node has room for is split over two or more nodes when their
room together holds its sites (cascade_placement.py, cascades.py): the root holds its place
in `placements`, each node is told the sites it calls, each leaf the address of the root's
cascade listener; the events go to all of them, each site's calls to its node, and a site
joining or leaving on one node is told to the others (`peer_site`) so their media count it.

A gateway restarted mid-conference rebuilds this view from Redis before its first reconcile
(`load`, saved_view.py: placements with a split conference's leaves, site call states,
control state); the runtime starts the conference again, the router restores that state
into it (state_replay.py; the content floor once its holder's call is back) and
re-announces it to each of its nodes (node_starts.py); each call placed again takes the
state the node reports. Nothing is sent to the terminals: their media goes on at the node.
A booking edited while its conference runs (BookingChanged) is announced the same way:
each node's runtime follows it as the embedded one does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from mcu.calls import Call, CallFailure
from mcu.endpoints import Endpoint
from mcu.errors import DomainError
from mcu.events import (
    BookingChanged,
    ConferenceEnded,
    ConferenceEvent,
    ConferenceStarted,
    ErrorInfo,
    PresentationChanged,
    RuntimeEvent,
    SpeakerChanged,
)
from mcu.live_conference import LiveConference
from mcu.model import Conference, Occurrence, SiteCallState
from mcu.nodes.cascade_placement import Part, split
from mcu.nodes.cascade_record import leaves_json
from mcu.nodes.cascades import Cascades
from mcu.nodes.event_codec import encode_event, forwarded
from mcu.nodes.leaf_floor import relays
from mcu.nodes.messages import (
    CallSite,
    CallState,
    DialIn,
    End,
    FloorHeld,
    FromTerminal,
    HangUp,
    Levels,
    NodeMessageError,
    PeerSite,
    Speaker,
    Start,
    TerminalRegistered,
    TerminalVanished,
    ToTerminal,
    parse_event,
)
from mcu.nodes.node_dial_in import adopt, resume_sip_dial_ins, take_sip_content
from mcu.nodes.node_floor import follow_node_floor
from mcu.nodes.node_record import NodeRecord
from mcu.nodes.node_starts import node_starts
from mcu.nodes.pinned_placement import place_pinned
from mcu.nodes.placement import Need, Reservations, choose_node
from mcu.nodes.registry import REFRESH_S, NodeRegistry
from mcu.nodes.saved_view import read_saved_view
from mcu.nodes.site_pins import SitePins
from mcu.nodes.state_replay import SavedFloors, replay_events, restore, state_key
from mcu.nodes.transport import NodeTransport
from mcu.runtime import ConferenceRuntime

log = logging.getLogger(__name__)

NO_ROOM = "no live media node has room for the conference"


class ConferenceRouter:
    def __init__(self, runtime: ConferenceRuntime, registry: NodeRegistry,
                 transport: NodeTransport,
                 capacity: Callable[[list[NodeRecord]], None] | None = None) -> None:
        """capacity: told the live nodes at every refresh (the scheduler's capacity)."""
        self.runtime = runtime
        self.registry = registry
        self.transport = transport
        self.capacity = capacity
        self.nodes: dict[int, NodeRecord] = {}  # live, as last read
        self.placements: dict[str, int] = {}  # conf_id -> node id
        self.reservations = Reservations()
        self.calls: dict[tuple[str, str], Call] = {}  # (conf_id, uri) -> the runtime's call
        self.site_states: dict[tuple[str, str], CallState] = {}  # as the nodes report
        self.registrations: dict[str, str] = {}  # uri -> its `register` message (JSON)
        self.terminal_nodes: dict[str, int] = {}  # uri -> the node of its latest call
        # a signalling message (JSON text) for a registered terminal; set by the gateway
        self.deliver: Callable[[str, str], None] | None = None
        # a terminal's call ended because its node left (uri, call id, reason): the gateway
        # tells the terminal (the node cannot)
        self.call_lost: Callable[[str, str, str], None] | None = None
        self._redial: dict[str, list[str]] = {}  # conf_id -> sites to call again once placed
        # conf_id -> its control state saved before a restart, restored when it starts again
        self.saved_state: dict[str, list[ConferenceEvent]] = {}
        self.saved_floors = SavedFloors()  # the content floor of each, given back
        self._saves: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        self.stopping = False  # the gateway is shutting down: its terminals are not gone
        self.dropped = 0  # node events refused by the schema (or from a stale node)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self.cascades = Cascades()  # conferences split over nodes: their leaves and sites
        self.pins = SitePins()  # sites pinned to a zone or node ([site_zones]; site_pins.py)
        self.unplaced: dict[str, str] = {}  # conf_id -> why its pins found no node (for now)
        # the node whose floor report the runtime is following: its PresentationChanged is
        # not sent back to that node (node_floor.py: the node is the floor's authority)
        self._floor_from: int | None = None

    # ------------------------------------------------------------------ start / stop

    async def load(self) -> None:
        """The registry's view (saved_view.py): live nodes, placements on them (a split
        conference's leaves too), their sites' call states, the conferences' control
        state."""
        view = await read_saved_view(self.registry)
        self.nodes = {node.node_id: node for node in view.nodes}
        if self.capacity is not None:
            self.capacity(view.nodes)
        self.placements = view.placements
        for conf_id, leaves in view.leaves.items():
            self.cascades.restore(conf_id, leaves)
        self.site_states.update(view.site_states)
        self.saved_state.update(view.state)
        for node_id, conf_id in view.stale:
            self.transport.post_command(node_id, End(conf_id))

    def attach(self) -> None:
        """Follow the runtime and place its calls (before its first reconcile)."""
        self._unsubscribe = self.runtime.subscribe(self.on_runtime_event)
        self.runtime.lifecycle.dialer = NodeDialer(self)

    async def run(self) -> None:
        """Read the nodes' events and refresh the registry, until cancelled."""
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._read_events(), name="node events")
        saver = loop.create_task(self._save_states(), name="node state saver")
        try:
            while True:
                await asyncio.sleep(REFRESH_S)
                try:
                    await self.refresh_nodes()
                    self._place_waiting()
                except Exception:  # Redis away: the view stays as it was, retried next time
                    log.exception("node registry refresh failed")
        finally:
            reader.cancel()
            saver.cancel()

    async def _save_states(self) -> None:
        """The forwarded events into Redis, in order (one writer), until cancelled."""
        while True:
            conf_id, key, text = await self._saves.get()
            if conf_id not in self.placements and self.runtime.conferences.get(conf_id) is None:
                continue  # ended meanwhile
            try:
                await self.registry.save_state(conf_id, key, text)
            except Exception:
                log.exception("saving the state of %s failed", conf_id)

    async def close(self) -> None:
        self.stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await asyncio.gather(*self._tasks, return_exceptions=True)

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

    # ------------------------------------------------------------------ runtime events

    def on_runtime_event(self, event: RuntimeEvent) -> None:
        if isinstance(event, ConferenceStarted):
            self._place(event.conf_id)
        elif isinstance(event, ConferenceEnded):
            self._ended(event.conf_id)
        elif isinstance(event, BookingChanged):
            self._booking_changed(event.conf_id)
        elif forwarded(event):
            assert isinstance(event, ConferenceEvent)
            message = encode_event(event)
            node_id = self.placements.get(event.conf_id)
            if node_id is not None:
                targets: tuple[int, ...] = (node_id, *self.cascades.leaves(event.conf_id))
                if isinstance(event, PresentationChanged):
                    # the root orders the floor of a split conference: a decision goes to it
                    # only, and its report to the leaves (leaf_floor.py); never an echo of a
                    # node's own report back to it (node_floor.py)
                    targets = () if self._floor_from == node_id else (node_id,)
                for target in targets:
                    self.transport.post_command(target, message)
            self._saves.put_nowait((event.conf_id, state_key(event), message.to_json()))

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

    # ------------------------------------------------------------------ calls

    def node_of(self, conf_id: str, uri: str) -> int | None:
        """The node that calls the site: its part's node when the conference is split."""
        return self.cascades.node_of(conf_id, uri, self.placements.get(conf_id))

    def place_call(self, call: Call) -> None:
        node_id = self.node_of(call.conf_id, call.uri)
        if node_id is None:
            call.reject(CallFailure.NETWORK_ERROR.info(self.unplaced.get(call.conf_id,
                                                                         NO_ROOM)))
            return
        self.calls[(call.conf_id, call.uri)] = call
        registration = self.registrations.get(call.uri)
        if registration is not None:
            self.transport.post_command(node_id, TerminalRegistered(call.uri, registration))
        self.terminal_nodes[call.uri] = node_id
        self.transport.post_command(node_id, CallSite(call.conf_id, call.uri))
        known = self.site_states.get((call.conf_id, call.uri))
        if known is not None and known.call_state is not SiteCallState.NOT_JOINED:
            take_sip_content(self, call, known)  # node_dial_in.py
            self._mirror(call, known)  # the node runs this site's call already (a restart)
            live = self.runtime.conferences.get(call.conf_id)
            if live is not None and call.state is SiteCallState.IN_CONFERENCE \
                    and self.saved_floors.back(live, call.uri):
                log.info("conference %s: the content floor is %s's again", call.conf_id,
                         call.uri)

    def dial_in(self, call: Call, join: str) -> bool:
        """A terminal's `join` (JSON text), admitted by the gateway's runtime as the embedded
        MCU admits it, whose call `call` the runtime took: handed to the node that runs the
        site's part of the conference, which answers the offer (its ICE candidates: the
        media goes to the node). False, the call failed (116): no live node runs it."""
        live = self.runtime.conferences.get(call.conf_id)
        node_id = self.node_of(call.conf_id, call.uri)
        if node_id is None or live is None:
            call.reject(CallFailure.NETWORK_ERROR.info(self.unplaced.get(call.conf_id,
                                                                         NO_ROOM)))
            return False
        self.calls[(call.conf_id, call.uri)] = call
        registration = self.registrations.get(call.uri)
        if registration is not None:
            self.transport.post_command(node_id, TerminalRegistered(call.uri, registration))
        self.terminal_nodes[call.uri] = node_id
        self.transport.post_command(node_id, DialIn.of(live.conference, live.occurrence,
                                                       call.uri, join))
        return True

    def clear_call(self, call: Call) -> None:
        key = (call.conf_id, call.uri)
        if self.calls.get(key) is call:
            del self.calls[key]
        node_id = self.node_of(call.conf_id, call.uri)
        if node_id is not None:
            self.transport.post_command(node_id, HangUp(call.conf_id, call.uri,
                                                        call.end_reason or "MCU hung up"))

    def hang_up_on_node(self, node_id: int, conf_id: str, uri: str, reason: str) -> None:
        """Hang up a call the node has and the gateway's runtime has not."""
        self.transport.post_command(node_id, HangUp(conf_id, uri, reason))

    @staticmethod
    def _mirror(call: Call, state: CallState) -> None:
        """The node's call moved: the runtime's call follows."""
        match state.call_state:
            case SiteCallState.RINGING:
                call.ringing()
            case SiteCallState.IN_CONFERENCE:
                call.answer()
            case SiteCallState.NOT_JOINED:
                if state.failure_code is not None and call.state in (
                        SiteCallState.CALLING, SiteCallState.RINGING):
                    call.reject(ErrorInfo(state.failure_code, state.failure_text))
                else:
                    call.hang_up_remote(state.failure_text or "site left")

    # ------------------------------------------------------------------ terminals

    def registered(self, uri: str, register: str, endpoint: Endpoint | None = None) -> None:
        """A terminal registered with the gateway (its `register` message, accepted);
        `endpoint`: its relay endpoint, which takes back a dial-in call its node still runs
        (`_resume_dial_ins`)."""
        self.registrations[uri] = register
        node_id = self.terminal_nodes.get(uri)
        if node_id is not None:
            self.transport.post_command(node_id, TerminalRegistered(uri, register))
        if endpoint is not None:
            self._resume_dial_ins(uri, endpoint)

    def _resume_dial_ins(self, uri: str, endpoint: Endpoint) -> None:
        """After a gateway restart, a site whose call its node reported in conference (the
        state saved in Redis) and that the runtime calls no more (it dialled in: the runtime
        places no call to it) gets its call back when its terminal registers again: taken as
        a dial-in, in conference at once, so the status, CDR and hang-up are the runtime's
        again. The node's call and media never stopped."""
        for (conf_id, site_uri), state in list(self.site_states.items()):
            if site_uri != uri or state.call_state is not SiteCallState.IN_CONFERENCE \
                    or (conf_id, uri) in self.calls:
                continue
            live = self.runtime.conferences.get(conf_id)
            site = live.sites.get(uri) if live is not None else None
            node_id = self.node_of(conf_id, uri)
            if site is None or node_id is None or (site.call is not None and site.call.active):
                continue
            try:
                call = self.runtime.lifecycle.accept_dial_in(conf_id, endpoint)
            except DomainError as error:
                log.warning("conference %s: the dial-in of %s not taken back: %s", conf_id,
                            uri, error)
                continue
            self.calls[(conf_id, uri)] = call
            self.terminal_nodes[uri] = node_id
            self._mirror(call, state)

    def from_terminal(self, uri: str, message: str) -> bool:
        """A call message of a terminal, for the node of its latest call; False: none."""
        node_id = self.terminal_nodes.get(uri)
        if node_id is None:
            return False
        self.transport.post_command(node_id, FromTerminal(uri, message))
        return True

    def vanished(self, uri: str) -> None:
        """The terminal's signalling is gone from a running gateway: its node call ends."""
        self.registrations.pop(uri, None)
        node_id = self.terminal_nodes.pop(uri, None)
        if node_id is not None and not self.stopping:
            self.transport.post_command(node_id, TerminalVanished(uri))

    # ------------------------------------------------------------------ node events

    async def _read_events(self) -> None:
        async for text in self.transport.events():
            try:
                self.on_node_event(text)
            except Exception:  # one event must not stop the reader
                log.exception("node event failed")

    def on_node_event(self, text: str) -> None:
        try:
            message = parse_event(text)
        except NodeMessageError as error:
            self.dropped += 1
            log.warning("node event dropped: %s", error)
            return
        if isinstance(message, ToTerminal):
            if self.deliver is not None:
                self.deliver(message.uri, message.message)
            return
        assert isinstance(message, CallState | Speaker | Levels | FloorHeld)
        # a split conference: a call state only from the site's node (the others do not
        # call it), the speaker and the levels from the root (it reports the leaves'
        # sites'), the floor from any of its nodes (leaf_floor.py)
        expected = self.node_of(message.conf_id, message.uri) \
            if isinstance(message, CallState) else self.placements.get(message.conf_id)
        if isinstance(message, FloorHeld) and \
                message.node_id in self.cascades.leaves(message.conf_id):
            expected = message.node_id
        if expected != message.node_id:
            self.dropped += 1
            log.info("%s of %s from node %d dropped: not placed there", message.kind,
                     message.conf_id, message.node_id)
            return
        if isinstance(message, CallState):
            key = (message.conf_id, message.uri)
            self.site_states[key] = message
            call = adopt(self, message) or self.calls.get(key)  # a dial-in at the node
            if call is not None:
                take_sip_content(self, call, message)  # node_dial_in.py
                self._mirror(call, message)
            self._tell_peers(message)
        elif isinstance(message, FloorHeld):
            root = self.placements.get(message.conf_id)
            leaves = self.cascades.leaves(message.conf_id)
            if root is not None and leaves:  # split: relayed (leaf_floor.py)
                for node_id, state in relays(message, root, leaves):
                    self.transport.post_command(node_id, state)
            if message.node_id != root:
                return  # a leaf's request: the root orders it, its answer is followed
            self._floor_from = message.node_id
            try:
                follow_node_floor(self.runtime, message)  # node_floor.py
            finally:
                self._floor_from = None
        elif isinstance(message, Speaker):
            live = self.runtime.conferences.get(message.conf_id)
            if live is not None and (message.uri is None or message.uri in live.sites) \
                    and live.speaking != message.uri:
                live.speaking = message.uri
                self.runtime.events.emit(SpeakerChanged(live.conf_id, message.uri))
        else:
            live = self.runtime.conferences.get(message.conf_id)
            if live is not None:
                for uri, level in message.levels.items():
                    site = live.sites.get(uri)
                    if site is not None and site.connected:
                        live.audio_levels[uri] = level

    def _tell_peers(self, state: CallState) -> None:
        """A site of a split conference joined or left: the other nodes' media follow."""
        if state.conf_id not in self.cascades or state.call_state not in (
                SiteCallState.IN_CONFERENCE, SiteCallState.NOT_JOINED):
            return
        joined = state.call_state is SiteCallState.IN_CONFERENCE
        root = self.placements.get(state.conf_id)
        for node_id in (root, *self.cascades.leaves(state.conf_id)):
            if node_id is not None and node_id != state.node_id:
                self.transport.post_command(node_id, PeerSite(state.conf_id, state.uri, joined))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("node registry write failed: %r", task.exception())


class NodeDialer:
    """The runtime's dialer when conferences run on nodes (mcu.calls.Dialer)."""

    def __init__(self, router: ConferenceRouter) -> None:
        self.router = router

    def place_call(self, call: Call) -> None:
        self.router.place_call(call)

    def clear_call(self, call: Call) -> None:
        self.router.clear_call(call)
