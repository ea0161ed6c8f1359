"""The web console at `/` (docs/console.md): log-in with the SOAP accounts, the
conferences and terminals with live updates, control actions and the layout picker.

Routes (every one but the log-in page and the static files needs a console session; a
visitor without one is sent to /login, or answered 401 on the fragment, event and action
routes):
- GET / (the console), GET/POST /login, POST /logout;
- GET /console/fragments?conf=ID: the live parts of the page as HTML (JSON of strings);
- GET /console/health?conf=ID: the conference's health (gateway/console/health.py), JSON;
- GET /console/events: server-sent events, one `changed` per runtime event or booking
  change (gateway/console/live.py);
- POST /console/live/{open,answer,close}: the live view's WebRTC viewer
  (gateway/console/live_view.py); CSRF token required; JSON as the actions;
- POST /console/action/NAME: a control action (gateway/console/actions.py) or `schedule`
  (gateway/console/booking.py); CSRF token required; answers JSON {resultCode, message}:
  200 for 0, 400 for a refusal (the SOAP result code), 403 without a right CSRF token.
"""

from __future__ import annotations

import functools
import logging
from importlib import resources
from typing import TYPE_CHECKING

from aiohttp import web

from gateway import result_codes
from gateway.console import pages, views
from gateway.console.actions import Domain, Form, run_action
from gateway.console.auth import CSRF_FIELD, CSRF_HEADER, ConsoleAuth
from gateway.console.booking import schedule
from gateway.console.health import HealthHistory
from gateway.console.live import event_stream
from gateway.console.live_view import live_request
from gateway.console.site_media import negotiated_media
from gateway.metrics import METRICS
from gateway.sessions import Session
from mcu.errors import DomainError
from mcu.media.live_viewer_sessions import LiveViewerSessions
from mcu.model import ALLOWED_CP_RESOURCES

if TYPE_CHECKING:
    from gateway.server import Gateway
    from mcu.media.engine import MediaEngine

log = logging.getLogger("gateway.console")

LOGIN_MESSAGES = {
    result_codes.ACCOUNT_LOCKED: "This account is locked after too many wrong passwords.",
    result_codes.TOO_MANY_SESSIONS: "This account has too many sessions open.",
}
WRONG_LOGIN = "Wrong user name or password."
_STATIC = {"console.js": "text/javascript", "console.css": "text/css",
           "live_view.js": "text/javascript"}


def _static(name: str) -> str:
    return resources.files("gateway").joinpath("static", name).read_text(encoding="utf-8")


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


def install_console(app: web.Application, gateway: Gateway) -> None:
    runtime = gateway.runtime
    if runtime is None:
        return
    auth = ConsoleAuth(gateway.sessions, secure=gateway.settings.uses_tls)
    viewers: list[LiveViewerSessions] = []  # made at the first live view (the engine's)

    def live_viewers() -> LiveViewerSessions:
        if not viewers:
            from gateway.signalling import SIGNALLING

            viewers.append(LiveViewerSessions(app[SIGNALLING].engine, runtime,
                                              tuple(gateway.settings.ice_servers)))
        return viewers[0]

    def engine() -> MediaEngine | None:
        from gateway.signalling import SIGNALLING

        return app[SIGNALLING].engine if SIGNALLING in app else None

    health = HealthHistory(engine, app[METRICS].cpu_seconds, runtime.receive_reports,
                           functools.partial(negotiated_media, runtime))

    async def close_viewers(_: web.Application) -> None:
        await health.close()
        if viewers:
            await viewers[0].close_all()
    domain = Domain(runtime, gateway.scheduler)

    def fragments(session: Session, selected: str | None) -> dict[str, str]:
        actor = session.actor
        detail = views.detail(gateway.scheduler, runtime, actor, selected) if selected else None
        return {
            "conferences": pages.conferences_fragment(
                views.conferences(gateway.scheduler, runtime, actor), selected),
            "detail": pages.detail_fragment(detail),
            "terminals": pages.terminals_fragment(views.terminals(runtime)),
            "picker": pages.layout_picker(detail),
        }

    async def index(request: web.Request) -> web.StreamResponse:
        session = auth.session_of(request)
        if session is None:
            raise web.HTTPSeeOther("/login")
        selected = request.query.get("conf") or None
        parts = fragments(session, selected)
        names = views.site_names(gateway.scheduler, views.terminals(runtime))
        form = pages.schedule_form(names, sorted(ALLOWED_CP_RESOURCES),
                                   gateway.settings.default_cp_resource)
        detail = (views.detail(gateway.scheduler, runtime, session.actor, selected)
                  if selected else None)
        return _html(pages.console_page(
            session.user, session.role.value, auth.csrf_token(session), parts["conferences"],
            parts["detail"], parts["picker"], parts["terminals"], form, selected,
            pages.live_view_section(detail)))

    async def login_form(request: web.Request) -> web.StreamResponse:
        if auth.session_of(request) is not None:
            raise web.HTTPSeeOther("/")
        return _html(pages.login_page())

    async def login(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return _html(pages.login_page("Log-in from another site refused."), 403)
        form = await request.post()
        user, password = form.get("user"), form.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            return _html(pages.login_page(WRONG_LOGIN), 400)
        outcome = auth.log_in(user.strip(), password, request.remote or "")
        if outcome.session is None:
            message = LOGIN_MESSAGES.get(outcome.result_code, WRONG_LOGIN)
            return _html(pages.login_page(message), 403 if outcome.locked else 401)
        response = web.HTTPSeeOther("/")
        auth.set_cookie(response, outcome.session)
        raise response

    async def logout(request: web.Request) -> web.StreamResponse:
        session = auth.session_of(request)
        if session is not None:
            form = await request.post()
            token = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
            if not auth.csrf_ok(session, token if isinstance(token, str) else None):
                return web.json_response({"message": "CSRF token missing or wrong"}, status=403)
            auth.log_out(session)
            if viewers:
                viewers[0].close_owner(session.session_id)
        response = web.HTTPSeeOther("/login")
        auth.clear_cookie(response)
        raise response

    async def fragment(request: web.Request) -> web.StreamResponse:
        session = auth.session_of(request)
        if session is None:
            return web.json_response({"message": "log in first"}, status=401)
        return web.json_response(fragments(session, request.query.get("conf") or None),
                                 headers={"Cache-Control": "no-store"})

    async def events(request: web.Request) -> web.StreamResponse:
        session = auth.session_of(request)
        if session is None:
            return web.json_response({"message": "log in first"}, status=401)
        return await event_stream(request, runtime, gateway.scheduler, gateway.sessions,
                                  session.session_id)

    async def action(request: web.Request) -> web.StreamResponse:
        session = auth.session_of(request)
        if session is None:
            return web.json_response({"message": "log in first"}, status=401)
        fields = await request.post()
        token = request.headers.get(CSRF_HEADER) or fields.get(CSRF_FIELD)
        if not auth.csrf_ok(session, token if isinstance(token, str) else None):
            return web.json_response({"message": "CSRF token missing or wrong"}, status=403)
        name = request.match_info["name"]
        answer: dict[str, object] = {"resultCode": result_codes.OK, "message": "done"}
        try:
            if name == "schedule":
                names = views.site_names(gateway.scheduler, views.terminals(runtime))
                answer["confId"] = schedule(
                    Form(fields), session.user, gateway.scheduler, runtime, gateway.clock,
                    gateway.settings.default_cp_resource, names)
            else:
                run_action(name, fields, session.actor, domain)
        except DomainError as error:
            log.info("console %s refused: %s", name, error)
            code = result_codes.result_code(error.fault)
            return web.json_response({"resultCode": code, "message": str(error)}, status=400)
        return web.json_response(answer)

    async def health_get(request: web.Request) -> web.StreamResponse:
        session = auth.session_of(request)
        if session is None:
            return web.json_response({"message": "log in first"}, status=401)
        conf_id = request.query.get("conf", "")
        if views.detail(gateway.scheduler, runtime, session.actor, conf_id) is None:
            return web.json_response({"message": "no such conference of yours"}, status=404)
        health.asked()
        return web.json_response(health.report(conf_id), headers={"Cache-Control": "no-store"})

    async def live(request: web.Request) -> web.StreamResponse:
        session = auth.session_of(request)
        if session is None:
            return web.json_response({"message": "log in first"}, status=401)
        fields = await request.post()
        token = request.headers.get(CSRF_HEADER) or fields.get(CSRF_FIELD)
        if not auth.csrf_ok(session, token if isinstance(token, str) else None):
            return web.json_response({"message": "CSRF token missing or wrong"}, status=403)
        name = request.match_info["name"]
        try:
            answer = await live_request(name, Form(fields), session.actor, session.session_id,
                                        live_viewers(), gateway.scheduler, runtime)
        except DomainError as error:
            log.info("console live %s refused: %s", name, error)
            code = result_codes.result_code(error.fault)
            return web.json_response({"resultCode": code, "message": str(error)}, status=400)
        return web.json_response({"resultCode": result_codes.OK, **answer},
                                 headers={"Cache-Control": "no-store"})

    def static_route(name: str, content_type: str):
        body = _static(name)

        async def serve(_: web.Request) -> web.StreamResponse:
            return web.Response(text=body, content_type=content_type, charset="utf-8",
                                headers={"Cache-Control": "no-cache"})

        return serve

    app.router.add_get("/", index)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/console/fragments", fragment)
    app.router.add_get("/console/events", events)
    app.router.add_post("/console/action/{name}", action)
    app.router.add_post("/console/live/{name}", live)
    app.router.add_get("/console/health", health_get)
    app.on_shutdown.append(close_viewers)
    for name, content_type in _STATIC.items():
        app.router.add_get(f"{pages.STATIC}/{name}", static_route(name, content_type))
