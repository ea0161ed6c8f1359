"""The aiohttp application: SOAP endpoints (POST) and their WSDL (GET ?wsdl), and the
terminals' signalling WebSocket and the browser terminal's page (/terminal) when a runtime
is given.

`build_app` puts settings, scheduler, runtime and clock into one `Gateway` that every
service method reaches through `request_context(ctx).gateway`. The process that opens the
scheduler and runs the application is app/process.py.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.console import install_console
from gateway.enum_numbering import EnumNumbering
from gateway.live_http import install_live
from gateway.metrics import SoapMetrics, install_metrics
from gateway.password_key import PasswordKey
from gateway.recordings_http import install_recordings
from gateway.services import ENDPOINTS, Endpoint, all_services
from gateway.sessions import SessionStore
from gateway.settings import Settings
from gateway.signalling import SIGNALLING, install_signalling
from gateway.soap import (
    SESSION_COOKIE,
    SoapAnswer,
    SoapDispatcher,
    SoapFault,
    WsdlDocuments,
    fault_envelope,
    screen_body,
    soap_version_of,
)
from gateway.soap import RequestContext as SoapRequestContext
from gateway.terminal_page import install_terminal_page
from mcu.adhoc import AdhocConferences
from mcu.clock import Clock, SystemClock
from mcu.dial_in_limits import DialInLimitSettings
from mcu.mcus import Mcu, McuPool, McuStatus, McuType, ResourceKind
from mcu.media.engine import MediaSettings
from mcu.organizations import OrganizationTree
from mcu.terminal_credentials import TerminalAuthSettings

if TYPE_CHECKING:
    from mcu.runtime import ConferenceRuntime
    from mcu.scheduler import Scheduler

log = logging.getLogger("gateway.server")

_READ_CHUNK = 64 * 1024


@dataclass
class Gateway:
    """Everything a service method may use, built once per server."""

    settings: Settings
    scheduler: Scheduler
    runtime: ConferenceRuntime | None  # None: booking only, no live conferences
    clock: Clock
    sessions: SessionStore
    numbering: EnumNumbering
    password_key: PasswordKey
    mcus: McuPool
    organizations: OrganizationTree
    adhoc: AdhocConferences  # the ad-hoc conference templates (mcu/adhoc.py)


GATEWAY = web.AppKey("gateway", Gateway)


def build_app(
    settings: Settings,
    scheduler: Scheduler,
    runtime: ConferenceRuntime | None = None,
    clock: Clock | None = None,
    *,
    adhoc: AdhocConferences | None = None,
    media: bool = True,
) -> web.Application:
    """adhoc: the templates, as app/process.py attaches them to the runtime; without it,
    settings.adhoc_templates over this scheduler (answered by SOAP, dialled by nobody).
    media=False: the live conferences' media runs on media nodes (app/node_gateway.py)."""
    clock = clock or SystemClock()
    gateway = Gateway(
        settings=settings,
        scheduler=scheduler,
        runtime=runtime,
        clock=clock,
        sessions=SessionStore(
            clock=clock,
            accounts=dict(settings.accounts),
            roles=dict(settings.account_roles),
            timeout=timedelta(seconds=settings.session_timeout_seconds),
            lock_attempts=settings.lock_attempts,
            lock_duration=timedelta(minutes=settings.lock_minutes),
            unknown_user_attempts=settings.unknown_user_attempts,
            max_per_account=settings.max_sessions_per_account,
        ),
        numbering=EnumNumbering(settings.enum_numbering),
        password_key=PasswordKey(settings.data_dir),
        mcus=McuPool([media_mcu(settings, online=runtime is not None)]),
        organizations=OrganizationTree(settings.organizations),
        adhoc=adhoc if adhoc is not None else AdhocConferences(scheduler, settings.adhoc_templates),
    )
    dispatcher = SoapDispatcher(all_services())
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[GATEWAY] = gateway
    metrics = install_metrics(
        app, settings, gateway.sessions, runtime,
        lambda: app[SIGNALLING].engine if SIGNALLING in app else None)
    for endpoint in ENDPOINTS:
        post = _soap_handler(gateway, dispatcher, metrics.soap)
        get = _wsdl_handler(endpoint)
        for path in endpoint.paths:
            app.router.add_post(path, post)
            app.router.add_get(path, get)
    if runtime is not None:
        install_signalling(app, runtime, settings.media_address,
                           MediaSettings(mixed_speakers=settings.mixed_speakers,
                                         send_ladder=settings.send_ladder,
                                         voice_gate=settings.voice_gate,
                                         ice_servers=settings.ice_servers,
                                         recordings_dir=settings.data_dir / "recordings",
                                         live_dir=settings.data_dir / "live"),
                           dial_in_settings(settings), terminal_auth_settings(settings),
                           media=media)
        install_terminal_page(app)  # the browser terminal, same origin as /signalling
        install_recordings(app, settings.data_dir / "recordings", gateway.sessions,
                           scheduler)
        install_live(app, settings.data_dir / "live", gateway.sessions, runtime.recording,
                     scheduler)
        install_console(app, gateway)  # the web console at / (docs/console.md)
    return app


def terminal_auth_settings(settings: Settings) -> TerminalAuthSettings:
    """[terminal_auth] and [terminal_credentials]: who may register on the signalling."""
    return TerminalAuthSettings(
        realm=settings.terminal_realm,
        provisioning_key=settings.terminal_provisioning_key,
        credentials=dict(settings.terminal_credentials),
        lock_attempts=settings.terminal_lock_attempts,
        lock_minutes=settings.terminal_lock_minutes,
    )


def dial_in_settings(settings: Settings) -> DialInLimitSettings:
    """[dial_in] of the settings, for the signalling's dial-in limits."""
    return DialInLimitSettings(
        lock_attempts=settings.dial_in_lock_attempts,
        code_lock_attempts=settings.dial_in_code_lock_attempts,
        lock_minutes=settings.dial_in_lock_minutes,
        delay_after=settings.dial_in_delay_after,
        delay_seconds=settings.dial_in_delay_seconds,
        max_delay_seconds=settings.dial_in_max_delay_seconds,
    )


def media_mcu(settings: Settings, online: bool) -> Mcu:
    """This process's media plane as the MCU of queryMCUInfoEx (mcu/mcus.py)."""
    return Mcu(
        id=settings.mcu_id,
        name=settings.mcu_name,
        type=McuType.SOFTWARE,
        address=settings.media_address,
        domain_name=settings.mcu_domain_name or settings.media_address,
        status=McuStatus.ONLINE if online else McuStatus.OFFLINE,
        capacity={
            ResourceKind.PORTS: settings.max_ports,
            ResourceKind.CP_RESOURCES: settings.max_cp_resources,
        },
        port_costs=settings.port_costs,
    )


def _soap_handler(gateway: Gateway, dispatcher: SoapDispatcher, metrics: SoapMetrics):
    limit = gateway.settings.max_body_bytes
    body_timeout = gateway.settings.body_timeout_seconds
    secure = gateway.settings.uses_tls

    async def soap_post(request: web.Request) -> web.Response:
        """Answer, then count and time it (gateway/metrics.py) by the operation and the
        resultCode the dispatch recorded in the request's context."""
        started = time.perf_counter()
        call = SoapRequestContext(
            gateway=gateway,
            client_address=request.remote or "",
            session_id=request.cookies.get(SESSION_COOKIE),
        )
        try:
            return await answer_request(request, call)
        finally:
            metrics.observe(call.operation, call.result_code, time.perf_counter() - started)

    async def answer_request(request: web.Request, call: SoapRequestContext) -> web.Response:
        content_type = request.headers.get("Content-Type", "")
        version = soap_version_of(content_type)
        if version is None:
            return _fault_response(
                11,
                SoapFault.client(
                    "ContentType",
                    f"content type {content_type!r} is not SOAP: send text/xml (SOAP 1.1) "
                    "or application/soap+xml (SOAP 1.2)",
                    http_status=415,
                ),
            )
        try:
            async with asyncio.timeout(body_timeout):
                body = await _read_limited(request, limit)
        except TimeoutError:
            response = _fault_response(
                version,
                SoapFault.client(
                    "Timeout", f"the request body did not arrive within {body_timeout:g} s", 408
                ),
            )
            # answered, then closed at once: no lingering for a body this slow
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            if request.transport is not None:
                request.transport.close()
            return response
        if body is None:
            return _fault_response(
                version,
                SoapFault.client("TooLarge", f"the request is over {limit} bytes", 413),
            )
        refused = screen_body(body, content_type)
        if refused is not None:
            return _fault_response(version, refused)
        try:
            answer = dispatcher.answer(version, body, call)
        except Exception:
            log.exception("SOAP request failed")
            answer = SoapAnswer(*fault_envelope(version, SoapFault(False, "Server", "Internal Error")))
        if answer.status != 200:  # a fault, whatever the service had recorded before it
            call.result_code = None
        response = web.Response(
            status=answer.status, body=answer.body, headers={"Content-Type": answer.content_type}
        )
        if answer.new_session_id:
            response.set_cookie(
                SESSION_COOKIE, answer.new_session_id, path="/", httponly=True, secure=secure
            )
        return response

    return soap_post


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` (announced or actual)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _fault_response(version: int, fault: SoapFault) -> web.Response:
    status, content_type, body = fault_envelope(version, fault)
    return web.Response(status=status, body=body, headers={"Content-Type": content_type})


def _wsdl_handler(endpoint: Endpoint):
    documents = (
        WsdlDocuments(endpoint.name, list(endpoint.services), endpoint.namespace)
        if endpoint.services
        else None
    )

    async def wsdl_get(request: web.Request) -> web.Response:
        if not any(key.lower() == "wsdl" for key in request.query):
            return web.Response(
                status=404, text=f"{endpoint.name}: POST SOAP requests here; GET ?wsdl for the WSDL"
            )
        if documents is None:
            return web.Response(status=404, text=f"{endpoint.name}: no operations served yet")
        url = f"{request.scheme}://{request.host}{request.path}"
        return web.Response(
            body=documents.document(url), headers={"Content-Type": "text/xml; charset=utf-8"}
        )

    return wsdl_get


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.uses_tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    return context
