"""`mcu-sim serve`: the SOAP gateway over the scheduler, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from gateway.services import ENDPOINTS
from gateway.settings import SettingsError, load_settings, parse_account


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8080; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, help="where mcu.sqlite3 lives (default ./data)")
    parser.add_argument("--config", type=Path, help="TOML settings overriding the defaults")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="add an account (repeatable); only the password's SHA-256 is kept",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings(
            args.config, host=args.host, port=args.port, data_dir=args.data_dir
        )
        for text in args.account:
            settings = settings.with_account(*parse_account(text))
    except SettingsError as error:
        print(f"mcu-sim serve: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(settings) -> None:
    from gateway.server import running_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_server(settings) as server:
        print(f"mcu-sim serving on {server.base_url}", flush=True)
        for endpoint in ENDPOINTS:
            print("  " + "  ".join(server.url(path) for path in endpoint.paths), flush=True)
        await stop.wait()
