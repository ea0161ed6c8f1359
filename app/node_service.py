"""What a media node does with the gateway's commands, and what it reports back.

The node runs a whole conference runtime of its own (mcu/runtime/) over the conferences
placed on it (mcu/nodes/placed_conferences.py), the media engine of those conferences
(mcu/media/engine.py) and, for each terminal relayed to it, the same WebRtcEndpoint the
embedded MCU gives a terminal: the WebRTC calls, their media and the pictures are made
here, by the code of one process. What differs is the path of the signalling: the
terminal's socket is on the gateway, so a message for it is posted as `to_terminal` and
the gateway writes it to the socket; the terminal's messages about its call arrive as
`signal`. The SDP offer the terminal receives carries this node's ICE candidates
(`[mcu] media_address` of the node): the media goes straight between terminal and node.

Commands (mcu/nodes/messages.py) are validated before they act; one the schema refuses, or
that names a conference or terminal the node does not have, is logged and dropped.
Reports: each call state change (`call_state`, also saved in Redis for a gateway that
restarts), the speaker the node's voice switching chose (`speaker`; in a conference split
over nodes it counts the sites joined on other nodes too, mcu/nodes/node_voice.py) and the audio levels
its media measures (`levels`, each report: about ten a second per conference).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from app.node_cascade import NodeCascades
from gateway.terminal_device import device_of
from mcu.attempt_limits import AttemptLimits
from mcu.calls import CallFailure
from mcu.endpoints import TerminalDevice
from mcu.errors import DomainError
from mcu.events import (
    AudioSwitchChanged,
    ConferenceEvent,
    PresentationChanged,
    RuntimeEvent,
    SiteCallStateChanged,
    SiteMuted,
    SpeakerChanged,
)
from mcu.media.engine import MediaEngine
from mcu.media.sip_endpoint import SipEndpoint
from mcu.media.webrtc_endpoint import Registration, WebRtcEndpoint
from mcu.model import SiteCallState
from mcu.nodes.event_codec import decode_event
from mcu.nodes.held_dialer import HeldDialer
from mcu.nodes.leaf_floor import LeafFloors, presentation_of, take_floor_state
from mcu.nodes.messages import (
    CallSite,
    CallState,
    DialIn,
    End,
    FloorState,
    ForwardedEvent,
    FromTerminal,
    HangUp,
    Levels,
    NodeMessage,
    NodeMessageError,
    PeerSite,
    Speaker,
    Start,
    TerminalRegistered,
    TerminalVanished,
    ToTerminal,
    parse_command,
)
from mcu.nodes.node_floor import follow_gateway_floor
from mcu.nodes.node_record import NodeRecord, port_costs_json
from mcu.nodes.node_voice import NodeVoiceSwitching, PeerSites
from mcu.nodes.placed_conferences import PlacedConferences
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.transport import NodeTransport
from mcu.port_costs import PortCosts
from mcu.runtime import ConferenceRuntime
from rtc.signalling import (
    Answer,
    Bye,
    Decline,
    Error,
    Join,
    Message,
    ReceiveStats,
    Register,
    Ringing,
    SignallingError,
    parse_message,
)

log = logging.getLogger("app.node")

DIAL_IN_ON_NODES = "dial_in_refused"  # webrtc_endpoint's code for a refused join


@dataclass(frozen=True)
class NodeIdentity:
    """Who the node is and what it has (its settings)."""

    node_id: int
    name: str
    address: str
    max_ports: int
    max_cp_resources: int
    port_costs: PortCosts
    zone: str = ""  # where it is ([node] zone, --zone): sites pinned there come to it


class NodeService:
    def __init__(self, identity: NodeIdentity, runtime: ConferenceRuntime,
                 placed: PlacedConferences, dialer: HeldDialer, engine: MediaEngine,
                 transport: NodeTransport, registry: NodeRegistry,
                 dial_in_limits: AttemptLimits, cascades: NodeCascades | None = None) -> None:
        """cascades: this node's cascade listener and links (None: it takes no part in
        conferences split over nodes)."""
        self.identity = identity
        self.cascades = cascades
        self.runtime = runtime
        self.placed = placed
        self.dialer = dialer
        self.engine = engine
        self.transport = transport
        self.registry = registry
        self.dial_in_limits = dial_in_limits
        # told this node's record whenever what it holds changes, and every second (the
        # heartbeat thread's publish, mcu/nodes/heartbeat.py)
        self.on_record: Callable[[NodeRecord], None] | None = None
        self.sip_port = 0  # the node's SIP user agent's port, once listening (app/node_sip.py)
        self.sip_tls_port = 0  # and its TLS port (0: no SIP over TLS)
        self.dropped = 0  # commands refused by the schema or naming what the node lacks
        self.closing: set[WebRtcEndpoint] = set()
        self._saves: asyncio.Queue[CallState] = asyncio.Queue()
        self._ending: set[asyncio.Task[None]] = set()  # cascade links being closed
        self._unsubscribe = runtime.subscribe(self.on_runtime_event)
        self.peers = PeerSites()  # sites of this node's conferences joined on other nodes
        self.leaf_floors = LeafFloors()  # the split conferences it is a leaf of: their floor
        self.voice = NodeVoiceSwitching(runtime.conferences, runtime.clock,
                                        runtime.voice.speaker_hold, self.peers,
                                        self.report_levels)
        runtime.voice = self.voice

    # ------------------------------------------------------------------ registry

    def record(self) -> NodeRecord:
        """This node's registry record: identity, capacity and what its conferences hold."""
        costs = self.identity.port_costs
        placed = self.placed.ongoing()
        return NodeRecord(
            node_id=self.identity.node_id,
            name=self.identity.name,
            address=self.identity.address,
            max_ports=self.identity.max_ports,
            max_cp_resources=self.identity.max_cp_resources,
            port_costs=port_costs_json(costs),
            ports_used=sum(costs.of_sites(occurrence.sites) for _, occurrence in placed),
            cp_used=sum(conference.spec.cp_resource for conference, _ in placed),
            conferences=[conference.conf_id for conference, _ in placed],
            cascade_port=self.cascades.port if self.cascades is not None else 0,
            zone=self.identity.zone,
            sip_port=self.sip_port,
            sip_tls_port=self.sip_tls_port,
        )

    def publish_record(self) -> None:
        """The record as it is now, to the heartbeat (which beats on its own thread)."""
        if self.on_record is not None:
            self.on_record(self.record())

    async def publish_records(self, interval: float) -> None:
        """Publish the record now and every `interval` seconds, until cancelled: the load
        the heartbeat reports, and the sign that this loop still runs."""
        while True:
            self.publish_record()
            await asyncio.sleep(interval)

    async def save_states(self) -> None:
        """Each call state, in order, into the conference's site hash (for a gateway that
        restarts), until cancelled."""
        while True:
            state = await self._saves.get()
            if state.conf_id not in self.placed:
                continue
            try:
                await self.registry.save_site(state.conf_id, state.uri, state.to_json())
            except Exception:
                log.exception("node %d: saving the state of %s failed",
                              self.identity.node_id, state.uri)

    # ------------------------------------------------------------------ commands

    async def serve(self) -> None:
        """Follow the node's command stream until cancelled."""
        async for text in self.transport.commands(self.identity.node_id):
            try:
                self.handle(text)
            except Exception:  # one command must not stop the node
                log.exception("node %d: command failed", self.identity.node_id)

    def handle(self, text: str) -> None:
        try:
            command = parse_command(text)
            self._act(command)
        except NodeMessageError as error:
            self.dropped += 1
            log.warning("node %d: command dropped: %s", self.identity.node_id, error)

    def _act(self, command: NodeMessage) -> None:
        match command:
            case Start():
                conference, occurrence = command.decoded()
                if command.held:  # a split conference: this node holds and calls its part
                    held = set(command.held)
                    occurrence = replace(occurrence, sites=[
                        site for site in occurrence.sites if site.uri in held])
                if command.cascade_root and self.cascades is None:
                    raise NodeMessageError("start: this node takes no cascade links")
                if self.placed.add(conference, occurrence):
                    log.info("node %d: conference %s starts", self.identity.node_id,
                             command.conf_id)
                    self.runtime.reconcile()
                    self.publish_record()
                elif self.placed.update(conference, occurrence):  # its booking changed
                    log.info("node %d: conference %s follows its booking",
                             self.identity.node_id, command.conf_id)
                    self.runtime.reconcile()
                    self.publish_record()
                if command.cascade_root:
                    self.leaf_floors.linked(command.conf_id)  # the root orders its floor
                if command.cascade_root and self.cascades is not None:
                    try:
                        self.cascades.link(command.conf_id, command.cascade_root)
                    except ValueError as error:
                        raise NodeMessageError(str(error)) from None
            case End():
                if self.cascades is not None:
                    self._spawn_end(command.conf_id)
                self.peers.forget(command.conf_id)
                self.leaf_floors.forget(command.conf_id)
                if self.placed.remove(command.conf_id):
                    log.info("node %d: conference %s ends", self.identity.node_id,
                             command.conf_id)
                    self.runtime.reconcile()
                    self.publish_record()
            case CallSite():
                self._running(command.conf_id)
                try:
                    self.runtime.lifecycle.connect_sites(command.conf_id, [command.uri])
                except DomainError as error:
                    raise NodeMessageError(f"call {command.uri}: {error}") from None
            case HangUp():
                self._running(command.conf_id)
                live = self.runtime.conferences.get(command.conf_id)
                site = live.sites.get(command.uri) if live is not None else None
                if site is None:
                    raise NodeMessageError(f"hangup: {command.uri} is not in {command.conf_id}")
                if site.call is not None and site.call.hang_up_local(command.reason):
                    self.dialer.clear_call(site.call)
            case ForwardedEvent():
                self._follow(decode_event(command))
            case FloorState():
                self._floor_state(command)
            case PeerSite():
                self._peer(command)
            case TerminalRegistered():
                self._terminal(command.uri, command.register)
            case FromTerminal():
                self._from_terminal(command.uri, command.message)
            case DialIn():
                self._dial_in(command)
            case TerminalVanished():
                endpoint = self.runtime.registry.unregister(command.uri)
                if isinstance(endpoint, WebRtcEndpoint):
                    endpoint.vanished()
                    self.closing.add(endpoint)

    def _peer(self, command: PeerSite) -> None:
        """A site of the conference joined or left on another node: this node's media and
        voice switching count it (node_voice.py), so a site of any node can be the
        speaker."""
        self._running(command.conf_id)
        live = self.runtime.conferences.get(command.conf_id)
        if live is not None and command.uri in live.sites:
            raise NodeMessageError(f"peer_site: {command.uri} is called by this node")
        if not self.peers.set_joined(command.conf_id, command.uri, command.joined):
            return
        if self.cascades is not None:
            self.cascades.peer(command.conf_id, command.uri, command.joined)
        if not command.joined:
            self.voice.peer_left(command.conf_id, command.uri)

    def _spawn_end(self, conf_id: str) -> None:
        assert self.cascades is not None
        uplink = self.cascades.end(conf_id)
        if uplink is None:
            return
        task = asyncio.get_running_loop().create_task(uplink.close())
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    def _running(self, conf_id: str) -> None:
        if self.runtime.conferences.get(conf_id) is None:
            raise NodeMessageError(f"conference {conf_id} does not run on this node")

    def _follow(self, event: ConferenceEvent) -> None:
        """A decision of the gateway's runtime: the node's state where its own voice
        switching reads it (mute, the audio switch's gate), then its media."""
        live = self.runtime.conferences.get(event.conf_id)
        if live is None:
            raise NodeMessageError(f"event for {event.conf_id}, which does not run here")
        if isinstance(event, SiteMuted) and event.uri in live.sites:
            live.sites[event.uri].muted = event.muted
        elif isinstance(event, SiteMuted):  # a site another node holds, if joined there
            self.peers.set_muted(event.conf_id, event.uri, event.muted)
        elif isinstance(event, AudioSwitchChanged):
            live.audio_switch, live.switch_gate = event.enabled, event.gate
        elif isinstance(event, PresentationChanged):  # the node's BFCP floor follows
            report = follow_gateway_floor(self.runtime, event, self.identity.node_id)
            if report is not None and not self.leaf_floors.is_leaf(event.conf_id):
                self.transport.post_event(report)
        self.runtime.events.emit(event)  # type: ignore[arg-type]

    def _floor_state(self, state: FloorState) -> None:
        """The floor of a conference split over nodes, relayed by the gateway
        (mcu/nodes/leaf_floor.py): on a leaf the root's, on the root a leaf's request (which
        it answers)."""
        self._running(state.conf_id)
        taken = take_floor_state(self.runtime, state, self.identity.node_id, self.leaf_floors)
        if taken.report is not None:
            self.transport.post_event(taken.report)
        if taken.moved:
            self.runtime.events.emit(presentation_of(state))  # its media follows

    def _terminal(self, uri: str, register_text: str) -> None:
        try:
            register = parse_message(register_text)
        except SignallingError as error:
            raise NodeMessageError(f"terminal {uri}: {error}") from None
        if not isinstance(register, Register) or register.uri != uri:
            raise NodeMessageError(f"terminal {uri}: not that terminal's register message")
        if self.runtime.registry.lookup(uri) is not None:
            return  # known: its endpoint and calls go on (the gateway restarted)
        endpoint = WebRtcEndpoint(
            Registration.of(register), self._sender(uri), self.engine, self.runtime,
            device_of(register.device, register.capabilities),
            dial_in_limits=self.dial_in_limits, socket_key=f"node-relay:{uri}",
        )
        self.runtime.registry.register(endpoint)
        self.dialer.registered(uri)

    def _dial_in(self, command: DialIn) -> None:
        """A `join` the gateway admitted (docs/runtime.md "Nodes", Dial-in): this node's
        runtime takes the call and the terminal's endpoint answers its offer, as the
        embedded MCU's does after its checks (WebRtcEndpoint.accept_join). A site booked
        after the conference started here (an ad-hoc template's code) is added first. A
        call this node cannot take is reported NOT_JOINED (116) at once, so the gateway's
        call fails without waiting for its timeout."""
        self._running(command.conf_id)
        endpoint = self.runtime.registry.lookup(command.uri)
        if not isinstance(endpoint, WebRtcEndpoint):
            raise NodeMessageError(f"dial_in from {command.uri}, which is not relayed here")
        try:
            join = parse_message(command.join)
        except SignallingError as error:
            raise NodeMessageError(f"dial_in from {command.uri}: {error}") from None
        if not isinstance(join, Join):
            raise NodeMessageError(f"dial_in from {command.uri}: not a join message")
        live = self.runtime.conferences.get(command.conf_id)
        if live is not None and command.uri not in live.sites:
            if self.placed.add_site(command.conf_id, command.site()):
                self.runtime.reconcile()
        endpoint.accept_join(join, command.conf_id)
        if join.call_id not in endpoint.sessions:  # refused (the terminal was told why)
            failure = CallFailure.NETWORK_ERROR.info("the media node refused the dial-in")
            self.transport.post_event(CallState(
                self.identity.node_id, command.conf_id, command.uri,
                SiteCallState.NOT_JOINED.name, failure.code, failure.description,
                join.call_id))

    def _sender(self, uri: str) -> Callable[[Message], None]:
        node_id = self.identity.node_id

        def send(message: Message) -> None:
            self.transport.post_event(ToTerminal(node_id, uri, message.to_json()))

        return send

    def _from_terminal(self, uri: str, text: str) -> None:
        endpoint = self.runtime.registry.lookup(uri)
        if not isinstance(endpoint, WebRtcEndpoint):
            raise NodeMessageError(f"signal from {uri}, which is not relayed here")
        try:
            message = parse_message(text)
        except SignallingError as error:
            raise NodeMessageError(f"signal from {uri}: {error}") from None
        match message:
            case Ringing() | Answer() | Decline() | Bye():
                endpoint.on_call_message(message)
            case ReceiveStats():
                endpoint.on_stats(message)
            case Join():  # a join reaches a node as `dial_in`, once the gateway admitted it
                endpoint.send(Error(DIAL_IN_ON_NODES, "a join is admitted by the gateway, "
                                    "not relayed", message.call_id))
            case _:
                raise NodeMessageError(f"signal from {uri}: {message.type} is not about a call")

    # ------------------------------------------------------------------ reports

    def on_runtime_event(self, event: RuntimeEvent) -> None:
        node_id = self.identity.node_id
        if isinstance(event, SiteCallStateChanged):
            sip = self._sip_device(event.conf_id, event.uri)
            state = CallState(node_id, event.conf_id, event.uri, event.state.name,
                              event.reason.code if event.reason else None,
                              event.reason.description[:512] if event.reason else "",
                              self._call_id(event.conf_id, event.uri), sip is not None,
                              sip is not None and sip.has_content_input,
                              sip is not None and sip.content_receive)
            self.transport.post_event(state)
            self._saves.put_nowait(state)
        elif isinstance(event, SpeakerChanged):
            self.transport.post_event(Speaker(node_id, event.conf_id, event.speaking))

    def _sip_device(self, conf_id: str, uri: str) -> TerminalDevice | None:
        """The device of the site's call in the conference when that call is with this
        node's SIP user agent (its content as the call's SDP settled it); None otherwise."""
        live = self.runtime.conferences.get(conf_id)
        site = live.sites.get(uri) if live is not None else None
        if site is None or site.call is None or not isinstance(site.call.endpoint, SipEndpoint):
            return None
        return site.call.endpoint.device

    def _call_id(self, conf_id: str, uri: str) -> str:
        """The signalling call id of the site's call in the conference ("" before its
        invite, or when its endpoint is gone)."""
        endpoint = self.runtime.registry.lookup(uri)
        if not isinstance(endpoint, WebRtcEndpoint):
            return ""
        return next((call_id for call_id, session in endpoint.sessions.items()
                     if session.call.conf_id == conf_id), "")

    def report_levels(self, conf_id: str, levels: Mapping[str, float]) -> None:
        self.transport.post_event(Levels(
            self.identity.node_id, conf_id,
            {uri: max(0, min(100, round(level))) for uri, level in levels.items()}))

    async def close(self) -> None:
        self._unsubscribe()
        await asyncio.gather(*self._ending, return_exceptions=True)
        if self.cascades is not None:
            await self.cascades.close()
        for endpoint in self.runtime.registry.endpoints():
            if isinstance(endpoint, WebRtcEndpoint):
                endpoint.vanished()
                self.closing.add(endpoint)
        await asyncio.gather(*(endpoint.wait_closed() for endpoint in self.closing))

