"""The calls and terminals of conferences that run on media nodes (mcu/nodes/conference_router.py):
a site's call (dial-out or an admitted dial-in) handed to the node that runs its part, hung up
there, and the terminals' registrations and signalling relayed to the node of their call."""

from __future__ import annotations

import logging

from mcu.calls import Call, CallFailure
from mcu.endpoints import Endpoint
from mcu.errors import DomainError
from mcu.model import SiteCallState
from mcu.nodes.messages import (
    CallSite,
    DialIn,
    FromTerminal,
    HangUp,
    TerminalRegistered,
    TerminalVanished,
)
from mcu.nodes.node_dial_in import take_sip_content
from mcu.nodes.router_core import NO_ROOM, RouterCore

# the logger of mcu/nodes/conference_router.py, whose part this is: log records keep their name
log = logging.getLogger("mcu.nodes.conference_router")


class RouterCalls(RouterCore):
    """The router's calls and terminals."""

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
