"""`mcu-sim node --redis URL --node-id N`: an MCU media node, until SIGINT/SIGTERM.

Its capacity is its settings' `[mcu] max_ports`, `[mcu.port_cost]` and `max_cp_resources`,
its media address `[mcu] media_address` (or --media-address); docs/deployment.md says what
to start where.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from redis.exceptions import RedisError

from gateway.settings import SettingsError, load_settings
from mcu.media.heap_trim import limit_malloc_arenas
from mcu.nodes.node_record import MAX_NODE_ID


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


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if not 1 <= args.node_id <= MAX_NODE_ID:
        print(f"mcu-sim node: --node-id must be 1..{MAX_NODE_ID}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config, media_address=args.media_address,
                                 data_dir=args.data_dir)
    except SettingsError as error:
        print(f"mcu-sim node: {error}", file=sys.stderr)
        return 2
    limit_malloc_arenas()  # a dedicated MCU process (mcu/media/heap_trim.py)
    try:
        asyncio.run(_node(settings, args.redis, args.node_id, args.name))
    except KeyboardInterrupt:
        pass
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
