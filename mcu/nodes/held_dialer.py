"""A node's dialer: calls a site through the endpoint its terminal's relayed registration
made (mcu.calls.Dialer). The gateway relays the registration just before it asks for the
call, but the node's runtime dials a conference's sites as soon as the conference starts:
a call placed before its terminal's registration arrived is held and offered when it does
(still within the call timeout, which fails it as callee offline otherwise)."""

from __future__ import annotations

from mcu.calls import Call
from mcu.endpoints import EndpointRegistry


class HeldDialer:
    def __init__(self, registry: EndpointRegistry) -> None:
        self.registry = registry
        self.held: dict[str, Call] = {}  # uri -> the call waiting for its terminal

    def place_call(self, call: Call) -> None:
        endpoint = self.registry.lookup(call.uri)
        if endpoint is None:
            self.held[call.uri] = call
            return
        self.held.pop(call.uri, None)
        call.endpoint = endpoint
        endpoint.offer_call(call)

    def clear_call(self, call: Call) -> None:
        if self.held.get(call.uri) is call:
            del self.held[call.uri]
        if call.endpoint is not None:
            call.endpoint.call_ended(call)

    def registered(self, uri: str) -> None:
        """The terminal's registration arrived: a call held for it is offered now."""
        call = self.held.pop(uri, None)
        if call is not None and call.active:
            self.place_call(call)
