"""The platform's SIP address when conferences run on media nodes (`mcu-sim serve --redis`):
the gateway's SIP user agent on media_address:[sip] port answers a dial-in INVITE with
302 Moved Temporarily and the Contact of the node that runs the conference
(`sip:<the dialled user part>@<node address>:<node sip_port>`, RFC 3261 sections 8.1.3.4
and 21.3.3); the caller sends its INVITE again there, and the node admits it with the
embedded rules (mcu/media/sip_dial_in.py). Signalling and media then go site <-> node.

Chosen over a proxy on the gateway because a redirect is what SIP user agents follow by
themselves (room systems; baresip's libre sipsess re-sends the INVITE to the first Contact
of a 3xx; our SipUserAgent.invite does too) and it keeps the gateway out of the call: no
dialog state, no Via rewriting, no BYE or re-INVITE through it. docs/sip.md, "SIP on media
nodes".

What the gateway checks before it redirects (each refusal the embedded status, so a caller
sees the same answers as from one process; the dial-in limits count them here):

    too many failed attempts (locked or delayed)    403 "Dial-in Locked"
    no ongoing conference has the access code,      404 "Conference Not Found"
    and no ad-hoc template has it
    the caller is not booked in it                  403 "Not Booked"
    wrong password in the URI                       403 "Wrong Password"
    the site is in the conference already           486 "Already In Conference"
    an ad-hoc template's refusals                   as mcu/media/sip_adhoc.py
    the conference is on no live node with SIP      503 "No Media Node"
    (not placed yet, or its node has no SIP port)
    the INVITE came over TLS (or to a `sips:` URI)  503 "No TLS Media Node"
    and the conference's node has no SIP over TLS

A password to be keyed by DTMF, the SDP and everything after the answer are the node's.
The gateway's registrar (REGISTER) is kept as in one process.

Over TLS ([sip] tls_port of the gateway: the same checks, limits and answers on the TLS
listener): an INVITE that reached the gateway over TLS (its top Via's transport, which the
caller writes for the connection it sends on, RFC 3261 section 18.1.1) or to a `sips:` URI
is sent to the node's TLS port (its record's `sip_tls_port`) and nowhere else: Contact
`sips:<user>@<node>:<tls port>` when it dialled `sips:` (RFC 5630: `sips:` means TLS on
every hop; it deprecates `transport=tls`), `sip:<user>@<node>:<tls
port>;transport=tls` when it dialled `sip:` over TLS (a caller that knows no `sips:`, as
baresip's `sip:...;transport=tls`, gets the form it used). The plain address is never
offered to such a caller: a node without SIP over TLS is refused with 503 "No TLS Media
Node" rather than downgrading a call whose caller asked for TLS (docs/sip.md).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Protocol

from mcu.attempt_limits import AttemptLimits
from mcu.dial_in_limits import ACCESS_CODE, SOCKET, URI
from mcu.errors import DomainError
from mcu.media.sip_adhoc import admit_adhoc
from mcu.model import Conference
from mcu.nodes.node_record import NodeRecord
from mcu.runtime import ConferenceRuntime
from sip.accounts import SipAccounts
from sip.errors import SipListenError
from sip.message import Request
from sip.registrar import Registrar
from sip.transport import TransportSettings
from sip.useragent import SipReject, SipUserAgent, UaSettings
from sip.values import SipUri

log = logging.getLogger(__name__)

# an ad-hoc conference just started: its node is told at once; the redirect waits (this
# long at most) for the node's record to list it, so the INVITE the caller sends there
# finds the conference running
PLACED_WAIT_S = 5.0
NO_NODE = SipReject(503, "No Media Node")
NO_TLS_NODE = SipReject(503, "No TLS Media Node")


class NodeView(Protocol):
    """What the redirect reads of mcu/nodes/conference_router.ConferenceRouter."""

    nodes: dict[int, NodeRecord]

    def node_of(self, conf_id: str, uri: str) -> int | None: ...


class SipRedirect:
    def __init__(self, runtime: ConferenceRuntime, nodes: NodeView, host: str, port: int,
                 limits: AttemptLimits, *, tls_port: int | None = None,
                 server_ssl: ssl.SSLContext | None = None, realm: str = "mcu-sim",
                 accounts: SipAccounts | None = None, open_registrar: bool = True) -> None:
        """UDP and TCP on host:port; TLS on host:tls_port when it is given (0: an
        ephemeral port; needs server_ssl, the certificate the callers verify)."""
        if tls_port is not None and server_ssl is None:
            raise ValueError("a SIP TLS port needs a server certificate (server_ssl)")
        self.runtime = runtime
        self.nodes = nodes
        self.limits = limits
        self.host = host
        self.configured_port = port
        self.configured_tls_port = tls_port
        self.registrar = Registrar(realm, accounts=accounts, open_registration=open_registrar)
        self.ua = SipUserAgent(
            UaSettings(user="mcu", transports=TransportSettings(
                host, udp_port=port, tcp_port=port, tls_port=tls_port,
                server_ssl=server_ssl if tls_port is not None else None)),
            on_invite=self.on_invite, registrar=self.registrar)
        self.redirected = 0  # INVITEs answered 302

    @property
    def port(self) -> int:
        return self.ua.transports.ports["UDP"]

    @property
    def tls_port(self) -> int | None:
        """The TLS listener's port (None without TLS)."""
        return self.ua.transports.ports.get("TLS")

    async def start(self) -> None:
        try:
            await self.ua.start()
        except OSError as error:
            await self.ua.close()
            tls = self.configured_tls_port is not None
            raise SipListenError(
                error.errno, f"cannot listen for SIP on {self.host}:{self.configured_port}"
                f"{f' (TLS {self.configured_tls_port})' if tls else ''}: "
                f"{error.strerror or error} (choose another port with --sip-port or [sip] "
                f"port{' / tls_port' if tls else ''}; 0 takes any free one)") from error
        tls_text = f", TLS on {self.tls_port}" if self.tls_port is not None else ""
        log.info("SIP redirect to the media nodes on %s:%d (UDP, TCP%s)", self.host,
                 self.port, tls_text)

    async def close(self) -> None:
        await self.ua.close()

    async def on_invite(self, request: Request) -> SipReject:
        """302 to the node of the conference the INVITE dials, or the refusal."""
        user = request.request_uri.user or ""
        code, star, password = user.partition("*")
        caller = request.from_.uri
        via = request.top_via
        source = str(via.params.get("received") or via.host)
        keys = {SOCKET: f"sip:{source}", URI: caller.aor, ACCESS_CODE: code}
        if self.limits.refusal(keys) is not None:
            return SipReject(403, "Dial-in Locked")
        probing = {SOCKET: keys[SOCKET], URI: keys[URI]}
        with_port = f"{caller.aor}:{caller.port}" if caller.port is not None else ""
        candidates = [caller.aor, with_port, caller.user or ""]
        runtime = self.runtime
        template = runtime.adhoc.template(code) if runtime.adhoc is not None and code else None
        if template is not None:
            admitted = admit_adhoc(runtime, self.limits, template, request, candidates,
                                   password if star else None, keys)
            if isinstance(admitted, SipReject):
                return admitted
            conference, site_uri = admitted
        else:
            found = live_with_code(runtime, code) if code else None
            live = runtime.conferences.get(found.conf_id) if found is not None else None
            if found is None or live is None:
                self.limits.failed(probing)
                return SipReject(404, "Conference Not Found")
            conference = found
            booked = next((uri for uri in candidates if uri and uri in live.sites), None)
            if booked is None:
                self.limits.failed(probing)
                return SipReject(403, "Not Booked")
            site_uri = booked
            by_dtmf = bool(conference.password) and not star  # the node asks for it
            if conference.password and not by_dtmf and password != conference.password:
                self.limits.failed(keys)
                return SipReject(403, "Wrong Password")
            if not by_dtmf:
                self.limits.succeeded(probing)
            site = live.sites[site_uri]
            if site.call is not None and site.call.active:
                return SipReject(486, "Already In Conference")
        node = await self._node_running(conference.conf_id, site_uri)
        if node is None:
            log.warning("SIP dial-in to %s: no live media node with SIP runs it",
                        conference.conf_id)
            return NO_NODE
        contact = node_contact(request, user, node)
        if contact is None:
            log.warning("SIP dial-in over TLS to %s: node %d has no SIP over TLS",
                        conference.conf_id, node.node_id)
            return NO_TLS_NODE
        self.redirected += 1
        log.info("SIP dial-in of %s to %s: redirected to node %d (%s)", site_uri,
                 conference.conf_id, node.node_id, contact)
        return SipReject(302, "Moved Temporarily", contact=str(contact))

    async def _node_running(self, conf_id: str, uri: str) -> NodeRecord | None:
        """The live node that calls `uri` in the conference, with a SIP port, once its
        record lists the conference (PLACED_WAIT_S at most); None when there is none."""
        deadline = asyncio.get_running_loop().time() + PLACED_WAIT_S
        while True:
            node_id = self.nodes.node_of(conf_id, uri)
            node = self.nodes.nodes.get(node_id) if node_id is not None else None
            if node is not None and node.sip_port and conf_id in node.conferences:
                return node
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(0.1)


def node_contact(request: Request, user: str, node: NodeRecord) -> SipUri | None:
    """Where the caller of `request` is sent on `node` (module docstring): its TLS port when
    the INVITE came over TLS or to a `sips:` URI (None when the node has none), else its
    UDP/TCP port on the transport the INVITE came on."""
    transport = request.top_via.transport.upper()
    scheme = request.request_uri.scheme
    params: dict[str, str | None] = {}
    if transport == "TLS" or scheme == "sips":
        if not node.sip_tls_port:
            return None
        if scheme != "sips":
            params["transport"] = "tls"
        return SipUri(scheme, user or None, node.address, node.sip_tls_port, params)
    if transport == "TCP":
        params["transport"] = "tcp"
    return SipUri("sip", user or None, node.address, node.sip_port, params)


def live_with_code(runtime: ConferenceRuntime, access_code: str) -> Conference | None:
    """The live conference whose access code this is (the lookup of
    mcu/media/webrtc_endpoint.find_live_conference, kept here so the domain core imports no
    media library: tests/test_core_imports.py)."""
    for conf_id in runtime.conferences.ids():
        try:
            conference = runtime.scheduler.get(conf_id)
        except DomainError:
            continue
        if conference.access_code == access_code:
            return conference
    return None
