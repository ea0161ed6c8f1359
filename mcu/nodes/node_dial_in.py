"""A call a media node took by itself (a SIP site dialling in at the node, after the gateway's
redirect: mcu/nodes/sip_redirect.py) becomes a call of the gateway's runtime, so its status,
timeouts, hang-up and call record are the embedded ones.

The node reports such a call as every call (`call_state`); its first state is CALLING (the
node's runtime accepted the dial-in: mcu/runtime/lifecycle.accept_dial_in). When that state
arrives for a site the gateway has no live call of, the gateway accepts a dial-in of its own
for the site (`adopt`) with a `NodeSite` as its endpoint; the node's later states move that
call as they move a dial-out's (ConferenceRouter._mirror). The gateway hanging it up
(disconnectSitesEx, the conference's end) goes to the node as for any call (NodeDialer:
`hangup`). A dial-in the gateway's runtime refuses (the site is not in the conference any
more, or has a live call) is hung up on the node at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mcu.calls import Call
from mcu.endpoints import TerminalDevice, undeclared_device
from mcu.errors import DomainError
from mcu.model import SiteCallState

if TYPE_CHECKING:
    from mcu.nodes.messages import CallState
    from mcu.nodes.router_core import RouterCore

log = logging.getLogger(__name__)

REFUSED = "the gateway refused the dial-in"


class NodeSite:
    """mcu.endpoints.Endpoint of a site whose call runs on a node (the gateway's view): the
    node does the call; hanging it up is the dialer's `hangup` to the node."""

    def __init__(self, uri: str, node_id: int, content_send: bool = False,
                 content_receive: bool = False) -> None:
        self._uri = uri
        self.node_id = node_id
        self.content_send = content_send  # a SIP call's content as the node reports it
        self.content_receive = content_receive

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def device(self) -> TerminalDevice:
        """A SIP site's: a content input when its call's content m-line lets it send (it may
        hold the floor), a second screen when it lets it receive; nothing else declared."""
        return undeclared_device(content_send=self.content_send,
                                 content_receive=self.content_receive)

    def offer_call(self, call: Call) -> None:  # a node's dial-in is never offered again
        call.reject()

    def call_ended(self, call: Call) -> None:
        """Nothing here: the runtime's dialer has told the node (ConferenceRouter.clear_call)."""


def adopt(router: RouterCore, state: CallState) -> Call | None:
    """The gateway's call for a dial-in the node reports (CALLING of a site without a live
    call here); None when the state is not that."""
    if state.call_state is not SiteCallState.CALLING:
        return None
    key = (state.conf_id, state.uri)
    known = router.calls.get(key)
    if known is not None and known.active:
        return None
    try:
        call = router.runtime.lifecycle.accept_dial_in(
            state.conf_id, NodeSite(state.uri, state.node_id, state.content_send,
                                    state.content_receive))
    except DomainError as error:
        log.warning("dial-in of %s to %s on node %d refused: %s", state.uri, state.conf_id,
                    state.node_id, error)
        router.hang_up_on_node(state.node_id, state.conf_id, state.uri, REFUSED)
        return None
    router.calls[key] = call
    log.info("dial-in of %s to %s taken by node %d", state.uri, state.conf_id, state.node_id)
    return call


def resume_sip_dial_ins(router: RouterCore, conf_id: str) -> list[Call]:
    """After a gateway restart, the SIP calls that dialled in at the node and still run there
    (their saved state: IN_CONFERENCE, with the node's SIP user agent) become the runtime's
    dial-ins again, in conference at once, so status, hang-up and records are the runtime's.
    A WebRTC dial-in waits for its terminal to register again instead
    (ConferenceRouter._resume_dial_ins): its relay endpoint carries its call. A site the
    runtime calls itself (a dial-out: ConferenceRouter.place_call mirrors its saved state)
    or that has a live call is left alone."""
    live = router.runtime.conferences.get(conf_id)
    if live is None:
        return []
    taken: list[Call] = []
    for (state_conf, uri), state in list(router.site_states.items()):
        if state_conf != conf_id or not state.sip \
                or state.call_state is not SiteCallState.IN_CONFERENCE \
                or (conf_id, uri) in router.calls:
            continue
        site = live.sites.get(uri)
        node_id = router.node_of(conf_id, uri)
        if site is None or node_id != state.node_id or (site.call is not None
                                                        and site.call.active):
            continue
        try:
            call = router.runtime.lifecycle.accept_dial_in(
                conf_id, NodeSite(uri, node_id, state.content_send, state.content_receive))
        except DomainError as error:
            log.warning("conference %s: the SIP dial-in of %s not taken back: %s", conf_id,
                        uri, error)
            continue
        router.calls[(conf_id, uri)] = call
        call.answer()
        taken.append(call)
        log.info("conference %s: the SIP dial-in of %s on node %d taken back", conf_id, uri,
                 node_id)
    return taken


def take_sip_content(router: RouterCore, call: Call, state: CallState) -> None:
    """A SIP call on a node (dialled out or in): the gateway's view of its device is the
    content its SDP settled as the node reports it (a NodeSite as the call's endpoint, set
    before the state moves the call, so the content floor reads it when the site joins);
    a joined site whose content changed (a re-INVITE) has its floor read again."""
    endpoint = call.endpoint
    if not state.sip or not (endpoint is None or isinstance(endpoint, NodeSite)):
        return
    if isinstance(endpoint, NodeSite) and (endpoint.content_send, endpoint.content_receive) \
            == (state.content_send, state.content_receive):
        return
    call.endpoint = NodeSite(state.uri, state.node_id, state.content_send,
                             state.content_receive)
    if call.state is SiteCallState.IN_CONFERENCE:
        router.runtime.devices.device_changed(state.uri)
