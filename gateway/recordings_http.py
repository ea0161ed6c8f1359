"""`GET /recordings` (the list, JSON) and `GET /recordings/<confId>/<file>` (the MP4, or
`.json` for its sidecar) for an authenticated session: the same JSESSIONID cookie as the
SOAP services (LoginRequest + Authenticate); without one, 401. Names that are not a
recording's answer 404 (nothing outside the recordings directory can be named). The
session's account sees and downloads only the recordings of the conferences it may read
(mcu/ownership.py; the rule is applied in mcu/media/recording_catalogue.py); another's
answers 404 like a name that is no recording (docs/gateway.md, "Recording").
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from gateway.sessions import SessionStore
from gateway.soap import SESSION_COOKIE
from mcu import ownership
from mcu.media.recording_catalogue import list_recordings, recording_file
from mcu.scheduler import Scheduler

RECORDINGS_PATH = "/recordings"


def install_recordings(app: web.Application, root: Path, sessions: SessionStore,
                       scheduler: Scheduler) -> None:
    def visible(request: web.Request) -> frozenset[str] | None:
        """The conferences the session's account may read (None: all); 401 without one."""
        session = sessions.touch(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise web.HTTPUnauthorized(text="log in first (LoginRequest, Authenticate)")
        return ownership.visible_ids(scheduler, session.actor)

    async def listing(request: web.Request) -> web.Response:
        readable = visible(request)
        found = await asyncio.to_thread(list_recordings, root, readable)
        return web.json_response({"recordings": [item.as_json() for item in found]})

    async def download(request: web.Request) -> web.StreamResponse:
        readable = visible(request)
        name = request.match_info["name"]
        sidecar = name.endswith(".json")
        path = recording_file(root, request.match_info["conf_id"],
                              name[: -len(".json")] + ".mp4" if sidecar else name, readable)
        if path is None or (sidecar and not path.with_suffix(".json").is_file()):
            raise web.HTTPNotFound(text="no such recording")
        return web.FileResponse(path.with_suffix(".json") if sidecar else path)

    app.router.add_get(RECORDINGS_PATH, listing)
    app.router.add_get(RECORDINGS_PATH + "/{conf_id}/{name}", download)
