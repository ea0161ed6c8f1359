"""Two media engines of one conference in one process, as two nodes would run it: the test
server (its gateway, runtime and media engine: the root) and a second signalling endpoint
with a media engine of its own on the same runtime (the leaf: the terminals that register
there are called through it, so their media is composed by the leaf engine), linked by a
cascade link over real RTP and a real control connection on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from app.process import RunningServer, running_server
from gateway.server import dial_in_settings, terminal_auth_settings
from gateway.settings import load_settings
from gateway.signalling import SIGNALLING, install_signalling
from mcu.clock import ManualClock
from mcu.media.cascade.leaf import CascadeUplink
from mcu.media.cascade.root import CascadeListener
from mcu.media.engine import MediaEngine, MediaSettings
from mcu.model import VideoFormat

LINK_FORMAT = VideoFormat.CIF4  # the sites' booked format: the same picture on both sides


@dataclass
class TwoEngines:
    server: RunningServer
    clock: ManualClock
    root: MediaEngine
    leaf: MediaEngine
    leaf_signalling: str  # ws://.../signalling of the leaf's terminals
    listener: CascadeListener
    client_ssl: Any = None  # the uplink's TLS context when the listener has one
    more: list[tuple[MediaEngine, str]] = field(default_factory=list)  # further leaves

    @property
    def root_signalling(self) -> str:
        return self.server.url("/signalling").replace("http", "ws", 1)

    async def link(self, conf_id: str, name: str = "leaf1",
                   leaf: MediaEngine | None = None) -> CascadeUplink:
        host, port = "127.0.0.1", self.listener.port
        return await CascadeUplink.connect(leaf or self.leaf, conf_id, host, port, name=name,
                                           link_format=LINK_FORMAT, ssl=self.client_ssl)


@asynccontextmanager
async def two_engines(data_dir: Path, *, tls: tuple[Any, Any] | None = None, leaves: int = 1,
                      **settings_fields: object) -> AsyncIterator[TwoEngines]:
    """`tls`: (server, client) SSL contexts of the control connection; `leaves`: how many
    leaf engines (the first is `leaf`, the others in `more`)."""
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=data_dir, call_timeout_seconds=8.0,
                             **settings_fields)
    async with running_server(settings, clock=clock) as server:
        server.clock = clock  # as tests/test_media_acceptance.py's book() reads it
        runtime = server.gateway.runtime
        runners: list[web.AppRunner] = []
        leaf_engines: list[tuple[MediaEngine, str]] = []
        try:
            for _ in range(leaves):
                leaf_app = web.Application()
                hub = install_signalling(
                    leaf_app, runtime, "127.0.0.1",
                    MediaSettings(mixed_speakers=settings.mixed_speakers),
                    dial_in_settings(settings), terminal_auth_settings(settings))
                runner = web.AppRunner(leaf_app)
                await runner.setup()
                runners.append(runner)
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                host, port = runner.addresses[0][:2]
                leaf_engines.append((hub.engine, f"ws://{host}:{port}/signalling"))
            root = server.app[SIGNALLING].engine
            listener = CascadeListener(root, name="root", link_format=LINK_FORMAT,
                                       ssl=tls[0] if tls else None)
            await listener.start()
            try:
                (leaf, leaf_url), *more = leaf_engines
                yield TwoEngines(server, clock, root, leaf, leaf_url, listener,
                                 tls[1] if tls else None, more)
            finally:
                await listener.close()
        finally:
            for runner in runners:
                await runner.cleanup()
