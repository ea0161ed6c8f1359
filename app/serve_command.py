"""`mcu-sim serve`: the SOAP gateway over the scheduler, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from app.loop_profile import run_profiled
from gateway.services import ENDPOINTS
from gateway.settings import (
    Settings,
    SettingsError,
    load_settings,
    parse_account,
    password_digest,
)
from mcu.adhoc import TemplateError
from mcu.media.heap_trim import limit_malloc_arenas
from mcu.store_api import StoreOpenError
from sip.errors import SipListenError

if TYPE_CHECKING:
    from rtc.signalling import Device

# For benchmarks: MCU_SIM_PROFILE=FILE profiles the event loop's thread on its CPU time
# (app/loop_profile.py) and writes the statistics to FILE when serve ends (SIGTERM/SIGINT).
# Read with `python -m pstats FILE`.
PROFILE_ENV = "MCU_SIM_PROFILE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8080; 0 picks a free one)")
    parser.add_argument("--sip-port", type=int,
                        help="the SIP user agent's UDP/TCP port (default 5060; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, help="where mcu.sqlite3 lives (default ./data)")
    parser.add_argument("--config", type=Path, help="TOML settings overriding the defaults")
    parser.add_argument("--redis", metavar="URL",
                        help="run the live conferences on the media nodes registered in this "
                        "Redis (mcu-sim node; docs/deployment.md); default: in this process")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NAME:PASSWORD[:admin]",
        help="add an account (repeatable), an operator unless ':admin' ends it "
        "(docs/gateway.md, Ownership and roles); only the password's SHA-256 is kept",
    )
    parser.add_argument(
        "--terminals",
        type=int,
        default=4,
        metavar="N",
        help="simulated terminals registered in this process (default 4), URIs 010100..",
    )
    parser.add_argument(
        "--no-terminals",
        dest="terminals",
        action="store_const",
        const=0,
        help="start no simulated terminals",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings(
            args.config, host=args.host, port=args.port, data_dir=args.data_dir,
            sip_port=args.sip_port,
        )
        for text in args.account:
            settings = settings.with_account(*parse_account(text))
    except SettingsError as error:
        print(f"mcu-sim serve: {error}", file=sys.stderr)
        return 2
    if args.terminals > 0 and not settings.terminal_provisioning_key:
        print("mcu-sim serve: the simulated terminals need [terminal_auth] provisioning_key "
              "(or --no-terminals)", file=sys.stderr)
        return 2
    if args.terminals == 0:  # a dedicated MCU: its calls' threads share two C heaps
        limit_malloc_arenas()
    try:
        run_profiled(lambda: asyncio.run(_serve(settings, args.terminals, args.redis)),
                     os.environ.get(PROFILE_ENV))
    except KeyboardInterrupt:
        pass
    except (TemplateError, StoreOpenError) as error:  # an [[adhoc]] code a stored conference
        print(f"mcu-sim serve: {error}", file=sys.stderr)  # holds; a store not to be opened
        return 2
    except SipListenError as error:  # the SIP port taken (another SIP program on 5060)
        print(f"mcu-sim serve: {error.strerror}", file=sys.stderr)
        return 2
    except RedisError as error:  # --redis: the platform's Redis not reachable
        print(f"mcu-sim serve: cannot reach Redis at {args.redis}: {error}", file=sys.stderr)
        return 2
    return 0


async def _serve(settings, terminal_count: int = 0, redis_url: str | None = None) -> None:
    from app.process import running_server

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with running_server(settings, redis_url=redis_url) as server:
        print(f"mcu-sim serving on {server.base_url}", flush=True)
        for endpoint in ENDPOINTS:
            print("  " + "  ".join(server.url(path) for path in endpoint.paths), flush=True)
        print(console_line(server.url("/"), settings), flush=True)
        terminals = await _start_terminals(server.base_url, settings, terminal_count)
        freeze_startup_objects()
        try:
            await stop.wait()
        finally:
            if terminals:
                from terminals.run_command import stop_terminals

                await stop_terminals(terminals)


def freeze_startup_objects() -> None:
    """What exists once the server is up (spyne's schemas, the app, the terminals' encoded
    loops) lives as long as the process: keep it out of the cyclic garbage collector's full
    passes, which otherwise stall the event loop ~40 ms each under media load (measured
    with gc.callbacks in the media benchmark's MCU)."""
    gc.collect()
    gc.freeze()


async def _start_terminals(base_url: str, settings, count: int) -> list:
    """The simulated terminals an integrator's system can call, registered like any
    endpoint: over the signalling WebSocket, from this process (serve is the composition
    root; the gateway itself never imports terminals)."""
    if count <= 0:
        return []
    from rtc.signalling_auth import provisioned_secret
    from terminals.device_description import describe
    from terminals.run_command import start_terminals

    signalling_url = base_url.replace("http", "ws", 1) + "/signalling"
    # Their credentials: the settings' own (a URI listed in [terminal_credentials] keeps its
    # secret to itself, so only provisioned URIs can be simulated here).
    key = settings.terminal_provisioning_key  # run() checked it is set
    terminals = await start_terminals(
        signalling_url, count, media_address=settings.media_address,
        secret_for=lambda uri: provisioned_secret(key, uri),
        device_for=lambda index: serve_mix_device(index, count),
    )
    for terminal in terminals:
        print(f"  simulated terminal {terminal.uri} ({terminal.name}, "
              f"{describe(terminal.device)}) registered", flush=True)
    return terminals


def serve_mix_device(index: int, count: int) -> Device:
    """make run's mix (docs/terminals.md): every terminal a single-screen room with a camera
    and a PC, except the last of two or more, a three-screen specialist room with a
    camera, a PC and a document camera."""
    from terminals.device_description import device_from_options

    if count >= 2 and index == count - 1:
        return device_from_options(3, ["camera", "pc", "doc-camera"], site_index=index,
                                   model="MCU-SIM Specialist Room")
    return device_from_options(1, ["camera", "pc"], site_index=index)


DEMO_ACCOUNT = ("demo", "Demo@123")  # the embedded account (gateway/defaults.toml)


def console_line(url: str, settings: Settings) -> str:
    """Where the web console is (docs/console.md); the demo account's log-in when it still
    has its embedded password."""
    name, password = DEMO_ACCOUNT
    if settings.accounts.get(name) == password_digest(password):
        return f"  console: {url} (log in as {name} / {password})"
    return f"  console: {url} (log in with a SOAP account)"
