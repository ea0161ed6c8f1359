"""Two media engines of one conference in one process, as two nodes would run it: the test
server (its gateway, runtime and media engine: the root) and a second signalling endpoint
with a media engine of its own on the same runtime (the leaf: the terminals that register
there are called through it, so their media is composed by the leaf engine), linked by a
cascade link over real RTP and a real control connection on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
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

    @property
    def root_signalling(self) -> str:
        return self.server.url("/signalling").replace("http", "ws", 1)

    async def link(self, conf_id: str, name: str = "leaf1") -> CascadeUplink:
        host, port = "127.0.0.1", self.listener.port
        return await CascadeUplink.connect(self.leaf, conf_id, host, port, name=name,
                                           link_format=LINK_FORMAT, ssl=self.client_ssl)


@asynccontextmanager
async def two_engines(data_dir: Path, *, tls: tuple[Any, Any] | None = None,
                      **settings_fields: object) -> AsyncIterator[TwoEngines]:
    """`tls`: (server, client) SSL contexts of the control connection."""
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=data_dir, call_timeout_seconds=8.0,
                             **settings_fields)
    async with running_server(settings, clock=clock) as server:
        server.clock = clock  # as tests/test_media_acceptance.py's book() reads it
        runtime = server.gateway.runtime
        leaf_app = web.Application()
        hub = install_signalling(
            leaf_app, runtime, "127.0.0.1",
            MediaSettings(mixed_speakers=settings.mixed_speakers),
            dial_in_settings(settings), terminal_auth_settings(settings))
        runner = web.AppRunner(leaf_app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        root = server.app[SIGNALLING].engine
        listener = CascadeListener(root, name="root", link_format=LINK_FORMAT,
                                   ssl=tls[0] if tls else None)
        await listener.start()
        try:
            yield TwoEngines(server, clock, root, hub.engine,
                             f"ws://{host}:{port}/signalling", listener, tls[1] if tls else None)
        finally:
            await listener.close()
            await runner.cleanup()
