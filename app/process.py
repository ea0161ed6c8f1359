"""The whole simulator in one process: the store and scheduler over data_dir, the
conference runtime, the gateway's aiohttp application on its port, and the task that
starts and ends live conferences as the clock passes their times.

`running_server` is what `mcu-sim serve` and the demo run, and what tests start on an
ephemeral 127.0.0.1 port. The gateway itself (gateway/server.py) only builds the
application from what it is given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from app.node_gateway import nodes_for_gateway
from app.node_sip import start_sip_redirect
from app.sip_tls import sip_tls_contexts
from gateway.bfcp_floor import BfcpConference, FloorControlServer
from gateway.server import GATEWAY, Gateway, build_app, ssl_context
from gateway.settings import Settings, scheduler_settings
from gateway.signalling import SIGNALLING
from mcu.adhoc import AdhocConferences
from mcu.cdr import CallRecords
from mcu.clock import Clock, SystemClock
from mcu.floor import FloorChange
from mcu.media.sip_service import SipService
from mcu.runtime import SPEAKER_HOLD_SECONDS, ConferenceRuntime
from mcu.runtime.content_floor import BfcpAddress
from mcu.scheduler import Scheduler
from mcu.store_api import SchedulerStore, open_store

log = logging.getLogger("app.process")


def open_scheduler(settings: Settings, clock: Clock) -> tuple[SchedulerStore, Scheduler]:
    """(store, scheduler) over [store] url: SQLite in data_dir/mcu.sqlite3 by default."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.store_url, settings.data_dir)
    try:
        scheduler = Scheduler(
            store,
            clock,
            scheduler_settings(
                settings,
                tombstone_retention=timedelta(days=settings.tombstone_retention_days),
                reserved_access_codes=frozenset(t.access_code for t in settings.adhoc_templates),
            ),
        )
    except BaseException:
        store.close()
        raise
    return store, scheduler


@dataclass
class RunningServer:
    base_url: str  # e.g. http://127.0.0.1:41234 (https when TLS is set)
    app: web.Application
    sip: SipService | None = None  # the MCU's SIP user agent (None without a runtime's media)

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    def url(self, path: str) -> str:
        return self.base_url + path


@asynccontextmanager
async def running_server(
    settings: Settings,
    *,
    scheduler: Scheduler | None = None,
    runtime: ConferenceRuntime | None = None,
    clock: Clock | None = None,
    redis_url: str | None = None,
) -> AsyncIterator[RunningServer]:
    """The gateway listening on settings.host:settings.port (0: a free port) until exit.
    Without a scheduler, one is opened over settings.data_dir and closed afterwards.
    redis_url: the live conferences run on the media nodes registered there
    (app/node_gateway.py; no media, no SIP user agent in this process)."""
    clock = clock or SystemClock()
    store = None
    if scheduler is None:
        store, scheduler = open_scheduler(settings, clock)
    try:
        adhoc = AdhocConferences(scheduler, settings.adhoc_templates)
    except Exception:
        if store is not None:
            store.close()
        raise
    if runtime is None:
        runtime = ConferenceRuntime(
            scheduler,
            clock,
            call_timeout=settings.call_timeout_seconds,
            media_timeout=settings.media_timeout_seconds,
            speaker_hold=SPEAKER_HOLD_SECONDS,
            call_records=CallRecords(store) if store is not None else None,
        )
    app = build_app(settings, scheduler, runtime, clock, adhoc=adhoc, media=redis_url is None)
    floor_server = await start_floor_server(settings, runtime)
    # header_timeout: aiohttp closes a connection whose request has not arrived whole within
    # keepalive_timeout of its start or of the previous answer; lingering_time bounds the
    # draining of a body left unread (the SOAP handler bounds its own read: gateway/server.py)
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=settings.header_timeout_seconds,
        lingering_time=settings.body_timeout_seconds,
    )
    await runner.setup()
    # after the app's startup (the media engine subscribes then), so the engine has a
    # conference's media when the template's layout follows its ConferenceStarted; before
    # the first reconcile, so conferences kept across a restart get it too
    adhoc.attach(runtime)
    # the SIP user agent, and its dialer in front of the runtime's: before the first
    # reconcile, so SIP sites of conferences kept across a restart are called too
    nodes = AsyncExitStack()
    try:
        sip: SipService | None = None
        if redis_url is None:
            sip = await start_sip(settings, runtime, app)
        else:
            router = await nodes.enter_async_context(
                nodes_for_gateway(app, runtime, scheduler, redis_url, settings.node.pins))
            # SIP dial-ins redirected to the conference's node (app/node_sip.py)
            redirect = await start_sip_redirect(settings, runtime, router, app)
            nodes.push_async_callback(redirect.close)
    except BaseException:
        await nodes.aclose()
        await runner.cleanup()
        await floor_server.close()
        if store is not None:
            store.close()
        raise
    runtime.reconcile()
    lifecycle = asyncio.create_task(_follow_schedule(runtime), name="conference-lifecycle")
    try:
        site = web.TCPSite(
            runner, settings.host, settings.port, ssl_context=ssl_context(settings)
        )
        await site.start()
        host, port = runner.addresses[0][:2]
        scheme = "https" if settings.uses_tls else "http"
        yield RunningServer(f"{scheme}://{host}:{port}", app, sip)
    finally:
        lifecycle.cancel()
        if sip is not None:
            await sip.close()
        await nodes.aclose()
        await runner.cleanup()
        await floor_server.close()
        runtime.content.bfcp_address, runtime.content.publisher = None, None
        if store is not None:
            store.close()


async def start_sip(settings: Settings, runtime: ConferenceRuntime,
                    app: web.Application) -> SipService | None:
    """The MCU's SIP user agent on media_address:[sip] port (UDP and TCP; TLS on [sip]
    tls_port when set: app/sip_tls.py), calling SIP sites and answering SIP dial-ins
    (mcu/media/sip_service.py), its registrar checking [sip_accounts]; its dialer takes the
    runtime's calls first and hands the others to the dialer there was. None when the app
    has no media engine (no runtime)."""
    hub = app.get(SIGNALLING)
    if hub is None:
        return None
    server_ssl, client_ssl = sip_tls_contexts(settings)
    sip = SipService(runtime, hub.engine, settings.media_address, settings.sip_port,
                     hub.dial_in_limits, tls_port=settings.sip.tls_port, server_ssl=server_ssl,
                     client_ssl=client_ssl, realm=settings.sip.realm,
                     accounts=settings.sip.accounts, open_registrar=settings.sip.open_registrar)
    await sip.start()
    runtime.lifecycle.dialer = sip.dialer(runtime.lifecycle.dialer)
    return sip


async def start_floor_server(
        settings: Settings, runtime: ConferenceRuntime,
        after_change: Callable[[int, FloorChange], None] | None = None) -> FloorControlServer:
    """The content floor's BFCP server on media_address:[bfcp] port (TLS when the gateway
    runs HTTPS), routing each BFCP conference id to its live conference's Floor; the
    runtime hands its address to calls and its changes to the participants. after_change:
    told each change a participant made, once the runtime has it (a media node reports it
    to the gateway: app/node_sip.py)."""

    def conference_of(bfcp_conference_id: int) -> BfcpConference | None:
        live = runtime.content.bfcp_conference(bfcp_conference_id)
        return None if live is None else BfcpConference(live.content_floor, live.bfcp_users)

    async def on_change(bfcp_conference_id: int, change: FloorChange) -> None:
        runtime.content.changed_by_bfcp(bfcp_conference_id, change)
        if after_change is not None:
            after_change(bfcp_conference_id, change)

    server = FloorControlServer(conference_of, on_change)
    tls = ssl_context(settings)
    host, port = await server.start(settings.media_address, settings.bfcp_port, tls)
    publishing: set[asyncio.Task[None]] = set()

    def publish(bfcp_conference_id: int, change: FloorChange) -> None:
        task = asyncio.create_task(server.publish(bfcp_conference_id, change), name="bfcp publish")
        publishing.add(task)
        task.add_done_callback(publishing.discard)

    runtime.content.bfcp_address = BfcpAddress(host, port, tls is not None)
    runtime.content.publisher = publish
    log.info("BFCP floor control server on %s:%d%s", host, port, " (TLS)" if tls else "")
    return server


async def _follow_schedule(runtime: ConferenceRuntime, interval: float = 1.0) -> None:
    """Start and end live conferences as the clock passes their begin and end times."""
    while True:
        await asyncio.sleep(interval)
        try:
            runtime.reconcile()
        except Exception:  # one bad conference must not stop every other one's life cycle
            log.exception("reconcile failed")
