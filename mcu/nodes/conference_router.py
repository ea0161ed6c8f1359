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

from mcu.calls import Call
from mcu.events import (
    BookingChanged,
    ConferenceEnded,
    ConferenceEvent,
    ConferenceStarted,
    PresentationChanged,
    RuntimeEvent,
    SpeakerChanged,
)
from mcu.model import SiteCallState
from mcu.nodes.event_codec import encode_event, forwarded
from mcu.nodes.leaf_floor import relays
from mcu.nodes.messages import (
    CallState,
    End,
    FloorHeld,
    Levels,
    NodeMessageError,
    PeerSite,
    Speaker,
    ToTerminal,
    parse_event,
)
from mcu.nodes.node_dial_in import adopt, take_sip_content
from mcu.nodes.node_floor import follow_node_floor
from mcu.nodes.registry import REFRESH_S
from mcu.nodes.router_calls import RouterCalls
from mcu.nodes.router_core import NO_ROOM, RouterCore
from mcu.nodes.router_placement import RouterPlacement
from mcu.nodes.saved_view import read_saved_view
from mcu.nodes.state_replay import state_key

log = logging.getLogger(__name__)

# the parts' names, re-exported: importers use this module's names (a new module imports from
# the part that defines one)
__all__ = ["NO_ROOM", "ConferenceRouter", "NodeDialer", "RouterCalls", "RouterCore",
           "RouterPlacement"]


class ConferenceRouter(RouterPlacement, RouterCalls):
    """The gateway's side of the nodes (this module's docstring): its state and shared parts
    in router_core.py, placement in router_placement.py, calls and terminals in
    router_calls.py; here its life and the events from the runtime and from the nodes."""

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


class NodeDialer:
    """The runtime's dialer when conferences run on nodes (mcu.calls.Dialer)."""

    def __init__(self, router: ConferenceRouter) -> None:
        self.router = router

    def place_call(self, call: Call) -> None:
        self.router.place_call(call)

    def clear_call(self, call: Call) -> None:
        self.router.clear_call(call)
