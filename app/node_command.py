"""`mcu-sim node --redis URL --node-id N`: an MCU media node, until SIGINT/SIGTERM.

Its capacity is its settings' `[mcu] max_ports`, `[mcu.port_cost]` and `max_cp_resources`,
its media address `[mcu] media_address` (or --media-address), its place `[node] zone` (or
--zone), TLS on its cascade links `[node] cascade_tls`, SIP over TLS `[sip] tls_port` (or
--sip-tls-port); docs/deployment.md says what to start where. Settings it cannot use (a
bad zone, an unreadable certificate, a --sip-tls-port out of range) end it with status 2 and
the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path

from redis.exceptions import RedisError

from app.node_sip import node_sip_port
from app.node_tls import CascadeTlsError, cascade_tls
from gateway.settings import SettingsError, load_settings
from mcu.media.heap_trim import limit_malloc_arenas
from mcu.nodes.node_record import MAX_NODE_ID
from mcu.nodes.site_pins import PinError, check_zone
from sip.errors import SipListenError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", required=True, metavar="URL",
                        help="the platform's Redis, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--node-id", type=int, required=True, metavar="N",
                        help=f"this node's id, 1..{MAX_NODE_ID}: its MCU id (queryMCUInfoEx); "
                        "unique on the platform")
    parser.add_argument("--name", help="its MCU name (default node-N)")
    parser.add_argument("--config", type=Path, help="TOML settings overriding the defaults")
    parser.add_argument("--media-address", help="the IP address of its media ([mcu] "
                        "media_address): where terminals send their media")
    parser.add_argument("--data-dir", type=Path, help="recordings and live broadcasts "
                        "(default ./data)")
    parser.add_argument("--zone", help="where the node is ([node] zone): sites pinned to "
                        "this zone ([site_zones] of the gateway) get their media here")
    parser.add_argument("--sip-port", type=int, help="its SIP user agent's UDP/TCP port "
                        "(default: [sip] port when its config file sets one, else a free "
                        "one, announced in its registry record)")
    parser.add_argument("--sip-tls-port", type=int, metavar="PORT",
                        help="its SIP user agent's TLS port ([sip] tls_port; 0 a free one, "
                        "announced in its registry record as sip_tls_port; default: [sip] "
                        "tls_port of its config file, else no SIP over TLS)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not 1 <= args.node_id <= MAX_NODE_ID:
        print(f"mcu-sim node: --node-id must be 1..{MAX_NODE_ID}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config, media_address=args.media_address,
                                 data_dir=args.data_dir,
                                 sip_port=node_sip_port(args.config, args.sip_port))
        if args.zone is not None:
            settings = replace(settings, node=replace(
                settings.node, zone=check_zone(args.zone, "--zone")))
        if args.sip_tls_port is not None:
            if not 0 <= args.sip_tls_port <= 65535:
                raise SettingsError(f"--sip-tls-port {args.sip_tls_port} is not a TCP port")
            settings = replace(settings, sip=replace(settings.sip, tls_port=args.sip_tls_port))
        cascade_tls(settings)  # its files readable, before anything starts
    except (SettingsError, PinError, CascadeTlsError) as error:
        print(f"mcu-sim node: {error}", file=sys.stderr)
        return 2
    limit_malloc_arenas()  # a dedicated MCU process (mcu/media/heap_trim.py)
    try:
        asyncio.run(_node(settings, args.redis, args.node_id, args.name))
    except KeyboardInterrupt:
        pass
    except SipListenError as error:  # its SIP port taken (another node or SIP program)
        print(f"mcu-sim node: {error.strerror}", file=sys.stderr)
        return 2
    except (OSError, RedisError) as error:
        print(f"mcu-sim node: cannot reach Redis at {args.redis}: {error}", file=sys.stderr)
        return 2
    return 0


async def _node(settings, redis_url: str, node_id: int, name: str | None) -> None:
    from app.node_debug import install_stall_control
    from app.node_process import running_node

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    install_stall_control(loop)  # tests only: MCU_SIM_DEBUG_STALL_S (app/node_debug.py)
    async with running_node(settings, redis_url, node_id, name) as node:
        print(f"mcu-sim node {node.identity.node_id} ({node.identity.name}) media on "
              f"{node.identity.address}, registered in {redis_url}", flush=True)
        await stop.wait()
