"""SIP on a media node (`mcu-sim node`): the node's own SIP user agent, as the embedded MCU's
(mcu/media/sip_service.py: the same SipService, dialer and dial-in), on the node's
`[mcu] media_address` at its own `[sip] port`, over the node's runtime and media engine.

- Dial-out: the node's runtime calls the SIP sites of the conferences placed on it with
  this user agent (the SipDialer in front of the node's HeldDialer), so the SIP dialog and
  the RTP of each call go straight between site and node; each call state goes back to the
  gateway as every node call's does (`call_state`, app/node_service.py).
- Dial-in: a site that dials `sip:<accessCode>[*<password>]@<node>:<port>` is admitted by
  the node's runtime with the embedded rules (mcu/media/sip_dial_in.py); the gateway's
  SIP address answers such an INVITE with 302 and this node's Contact
  (mcu/nodes/sip_redirect.py), and takes the call into its view when the node reports it
  (mcu/nodes/node_dial_in.py).

The node announces its SIP port in its registry record (`sip_port`, and `sip_tls_port` when
it listens for TLS), which is how the gateway knows where to redirect. docs/sip.md, "SIP on media nodes".
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from app.sip_tls import sip_tls_contexts
from gateway.server import dial_in_settings
from gateway.settings import Settings
from gateway.signalling import SIGNALLING
from mcu.attempt_limits import AttemptLimits
from mcu.dial_in_limits import dial_in_limits
from mcu.floor import FloorChange
from mcu.media.engine import MediaEngine
from mcu.media.sip_service import SipService
from mcu.nodes.conference_router import ConferenceRouter
from mcu.nodes.leaf_floor import LeafFloors
from mcu.nodes.messages import FloorHeld
from mcu.nodes.sip_redirect import SipRedirect
from mcu.nodes.transport import NodeTransport
from mcu.runtime import ConferenceRuntime

log = logging.getLogger("app.node")


async def start_node_sip(settings: Settings, runtime: ConferenceRuntime, engine: MediaEngine,
                         dial_in_limits: AttemptLimits) -> SipService:
    """The node's SIP user agent listening (UDP and TCP on media_address:[sip] port, TLS on
    [sip] tls_port when set), its dialer in front of the runtime's; SipListenError when the
    port cannot be had (give each node of a machine its own [sip] port, or 0)."""
    server_ssl, client_ssl = sip_tls_contexts(settings)
    sip = SipService(runtime, engine, settings.media_address, settings.sip_port, dial_in_limits,
                     tls_port=settings.sip.tls_port, server_ssl=server_ssl,
                     client_ssl=client_ssl, realm=settings.sip.realm,
                     accounts=settings.sip.accounts, open_registrar=settings.sip.open_registrar)
    await sip.start()
    runtime.lifecycle.dialer = sip.dialer(runtime.lifecycle.dialer)
    return sip


async def start_sip_redirect(settings: Settings, runtime: ConferenceRuntime,
                             router: ConferenceRouter, app: web.Application) -> SipRedirect:
    """The gateway's SIP address with media nodes (mcu/nodes/sip_redirect.py): UDP and TCP
    on media_address:[sip] port, TLS on [sip] tls_port when set (the embedded MCU's
    certificate: app/sip_tls.py), its dial-in limits the signalling's (one count per
    platform address), its registrar as the embedded one's."""
    hub = app.get(SIGNALLING)
    limits = hub.dial_in_limits if hub is not None else dial_in_limits(
        runtime.clock, dial_in_settings(settings))
    server_ssl, _ = sip_tls_contexts(settings)
    redirect = SipRedirect(runtime, router, settings.media_address, settings.sip_port, limits,
                           tls_port=settings.sip.tls_port, server_ssl=server_ssl,
                           realm=settings.sip.realm, accounts=settings.sip.accounts,
                           open_registrar=settings.sip.open_registrar)
    await redirect.start()
    return redirect


def floor_reports(runtime: ConferenceRuntime, transport: NodeTransport, node_id: int,
                  leaves: LeafFloors | None = None) -> Callable[[int, FloorChange], None]:
    """What the node's BFCP floor server tells after each participant's change: the floor's
    holder and lock, posted to the gateway (`floor`, mcu/nodes/node_floor.py) when either
    moved. On a leaf of a split conference (`leaves`), the report is a request to the root,
    numbered and pending until the root answers it (mcu/nodes/leaf_floor.py)."""

    def report(bfcp_conference_id: int, change: FloorChange) -> None:
        live = runtime.content.bfcp_conference(bfcp_conference_id)
        if live is None or not (change.holder_changed
                                or change.locked_before != change.locked_after):
            return
        if leaves is not None and leaves.is_leaf(live.conf_id):
            transport.post_event(FloorHeld(node_id, live.conf_id, live.content_floor.holder,
                                           live.content_floor.locked,
                                           request=leaves.request(live.conf_id),
                                           before=change.holder_before))
            return
        transport.post_event(FloorHeld(node_id, live.conf_id, live.content_floor.holder,
                                       live.content_floor.locked))

    return report


def node_sip_port(config: Path | None, given: int | None) -> int | None:
    """The SIP port of `mcu-sim node`: --sip-port when given; the config file's [sip] port
    when it sets one (None: the settings' own); else 0, a free port, since several nodes
    share a machine and the gateway reads each node's port from its registry record (a
    node's SIP address needs fixing only for a firewall or a site that dials it directly).
    A config file that cannot be read is left to load_settings to report."""
    if given is not None:
        return given
    if config is None:
        return 0
    try:
        table = tomllib.loads(Path(config).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    section = table.get("sip")
    return None if isinstance(section, dict) and "port" in section else 0
