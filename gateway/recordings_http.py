"""`GET /recordings` (the list, JSON) and `GET /recordings/<confId>/<file>` (the MP4, or
`.json` for its sidecar) for an authenticated session: the same JSESSIONID cookie as the
SOAP services (LoginRequest + Authenticate); without one, 401. Names that are not a
recording's answer 404 (nothing outside the recordings directory can be named).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from gateway.sessions import SessionStore
from gateway.soap import SESSION_COOKIE
from mcu.media.recording_catalogue import list_recordings, recording_file

RECORDINGS_PATH = "/recordings"


def install_recordings(app: web.Application, root: Path, sessions: SessionStore) -> None:
    def authenticated(request: web.Request) -> bool:
        return sessions.touch(request.cookies.get(SESSION_COOKIE)) is not None

    async def listing(request: web.Request) -> web.Response:
        if not authenticated(request):
            raise web.HTTPUnauthorized(text="log in first (LoginRequest, Authenticate)")
        found = await asyncio.to_thread(list_recordings, root)
        return web.json_response({"recordings": [item.as_json() for item in found]})

    async def download(request: web.Request) -> web.StreamResponse:
        if not authenticated(request):
            raise web.HTTPUnauthorized(text="log in first (LoginRequest, Authenticate)")
        name = request.match_info["name"]
        sidecar = name.endswith(".json")
        path = recording_file(root, request.match_info["conf_id"],
                              name[: -len(".json")] + ".mp4" if sidecar else name)
        if path is None or (sidecar and not path.with_suffix(".json").is_file()):
            raise web.HTTPNotFound(text="no such recording")
        return web.FileResponse(path.with_suffix(".json") if sidecar else path)

    app.router.add_get(RECORDINGS_PATH, listing)
    app.router.add_get(RECORDINGS_PATH + "/{conf_id}/{name}", download)
