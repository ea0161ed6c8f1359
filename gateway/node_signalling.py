"""The terminals' signalling when conferences run on media nodes (docs/runtime.md, "Nodes").

A terminal registers with the gateway exactly as with the embedded MCU (same socket, same
messages, same authentication). Its endpoint here is a `NodeRelayEndpoint`: the gateway
makes no media. When the runtime calls the site, the conference's node makes the call with
its own WebRtcEndpoint; the node's messages for the terminal (invite with the node's SDP
offer, bye, errors) arrive through the router (`deliver`), are checked against the
signalling schema and written to the terminal's socket; the terminal's messages about the
call (ringing, answer, decline, bye, stats) go to that node. The media goes between the
terminal and the node: the offer's ICE candidates are the node's.

What stays on the gateway: registration, the heartbeat, the device and its inputs, camera
and stream-source commands, querySitesEx, and the admission of a dial-in (`join`): the
embedded rules (WebRtcEndpoint.on_join: the access code of an ongoing conference or of an
ad-hoc template, a booked site, the password, the dial-in limits) with the same errors; an
admitted join's call is the runtime's, and the offer goes to the conference's node
(`dial_in`), which answers it with `joined` (its ICE candidates). No live node runs the
conference: `no_capacity`, and the call fails with 116.
When the node of a terminal's call leaves the registry, the gateway sends the terminal a
`bye` for that call (the node cannot), so the terminal is free for the call from the node
its conference moves to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.signalling import SignallingHub
from gateway.terminal_device import device_of
from mcu.calls import Call
from mcu.errors import DomainError
from mcu.media.webrtc_endpoint import (
    DIAL_IN_REFUSED,
    NO_CAPACITY,
    Registration,
    WebRtcEndpoint,
)
from mcu.media.webrtc_refusals import unknown_call
from mcu.nodes.conference_router import NO_ROOM, ConferenceRouter
from rtc.signalling import (
    Answer,
    Bye,
    CallMessage,
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

log = logging.getLogger("gateway.node_signalling")

class NodeRelayEndpoint(WebRtcEndpoint):
    """A registered terminal whose calls are made by media nodes: what it says about a call
    goes to the node of that call (mcu/nodes/conference_router.py)."""

    def __init__(self, message: Register, send: Callable[[Message], None], hub: SignallingHub,
                 router: ConferenceRouter, socket_key: str) -> None:
        super().__init__(Registration.of(message), send, hub.engine, hub.runtime,
                         device_of(message.device, message.capabilities),
                         dial_in_limits=hub.dial_in_limits, socket_key=socket_key)
        self.router = router
        router.registered(message.uri, message.to_json(), self)

    def _relay(self, message: CallMessage) -> None:
        if not self.router.from_terminal(self.uri, message.to_json()):
            self.send(unknown_call(message))

    # the runtime's dialer is the router's: these are never reached with media nodes
    def offer_call(self, call: Call) -> None:
        raise RuntimeError("calls to a relayed terminal are placed by its node")

    def call_ended(self, call: Call) -> None:
        """The node hangs up (the router told it) and sends the terminal its bye."""

    def call_over(self, reason: str) -> None:
        """The node tells the terminal itself."""

    def on_ringing(self, message: Ringing) -> None:
        self._relay(message)

    def on_answer(self, message: Answer) -> None:
        self._relay(message)

    def on_decline(self, message: Decline) -> None:
        self._relay(message)

    def on_bye(self, message: Bye) -> None:
        self._relay(message)

    def on_stats(self, message: ReceiveStats) -> None:
        self._relay(message)

    def accept_join(self, message: Join, conf_id: str) -> None:
        """A `join` admitted here by the embedded rules (WebRtcEndpoint.on_join: access
        code, booked site, password, ad-hoc template, dial-in limits): the gateway's runtime
        takes the call, the conference's node answers the offer."""
        try:
            call = self.runtime.lifecycle.accept_dial_in(conf_id, self)
        except DomainError as error:
            self.send(Error(DIAL_IN_REFUSED, str(error), message.call_id))
            return
        if not self.router.dial_in(call, message.to_json()):  # on no live node: why
            self.send(Error(NO_CAPACITY, self.router.unplaced.get(conf_id, NO_ROOM),
                            message.call_id))

    def vanished(self) -> None:
        self.router.vanished(self.uri)


def relay_terminals(hub: SignallingHub, router: ConferenceRouter) -> None:
    """Terminals registering with `hub` get NodeRelayEndpoints; the nodes' messages for
    them are written to their sockets."""

    def factory(message: Register, send: Callable[[Message], None],
                socket_key: str) -> WebRtcEndpoint:
        return NodeRelayEndpoint(message, send, hub, router, socket_key)

    def deliver(uri: str, text: str) -> None:
        try:
            message = parse_message(text)
        except SignallingError as error:
            log.warning("a node's message for %s dropped: %s", uri, error)
            return
        connection = hub.connections.get(uri)
        if connection is not None:
            connection.send(message)

    def call_lost(uri: str, call_id: str, reason: str) -> None:
        connection = hub.connections.get(uri)
        if connection is not None:
            connection.send(Bye(call_id, reason))

    hub.endpoint_factory = factory
    router.deliver = deliver
    router.call_lost = call_lost
