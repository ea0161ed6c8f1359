"""The live broadcasts over HTTP (setDirectBroadEx starts them; mcu/media/live_hls.py).

- `GET /live` (the SOAP session's JSESSIONID cookie; 401 without): the running broadcasts
  of the conferences the session's account may read (mcu/ownership.py, as for the
  recordings), JSON, each with its player URL `/live/<confId>/index.m3u8?token=<token>`.
- `GET /live/<confId>/index.m3u8` and `/live/<confId>/segment<N>.ts`: with the session
  cookie of an account that may read the conference, or with the broadcast's token
  (`?token=`, whoever holds it: it is what a player is given), so that ffplay, VLC or hls.js
  open the URL without a SOAP login. A playlist fetched with a token names its segments with
  the same token. A wrong token answers 401; a conference not broadcasting, one the
  session's account may not read, or a name that is no playlist or segment of it, 404 (a
  stopped broadcast's playlist is gone at once; another account's broadcast is not revealed).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from aiohttp import web

from gateway.sessions import SessionStore
from gateway.soap import SESSION_COOKIE
from mcu import ownership
from mcu.media.live_hls import PLAYLIST, live_directory
from mcu.scheduler import Scheduler

LIVE_PATH = "/live"
_SEGMENT = re.compile(r"segment\d{1,20}\.ts")
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"


class LiveBroadcasts(Protocol):
    """What the runtime tells about running broadcasts (mcu/runtime/recording.py)."""

    def live_broadcasts(self) -> dict[str, str]: ...

    def live_token_valid(self, conf_id: str, token: str | None) -> bool: ...

    def is_live(self, conf_id: str) -> bool: ...


def player_url(conf_id: str, token: str) -> str:
    return f"{LIVE_PATH}/{quote(conf_id, safe='')}/{PLAYLIST}?token={quote(token, safe='')}"


def with_token(playlist: str, token: str) -> str:
    """The playlist with every segment URI carrying the token."""
    suffix = "?token=" + quote(token, safe="")
    return "\n".join(line + suffix if line.strip() and not line.startswith("#") else line
                     for line in playlist.split("\n"))


def install_live(app: web.Application, root: Path, sessions: SessionStore,
                 broadcasts: LiveBroadcasts, scheduler: Scheduler) -> None:
    def visible(request: web.Request, why: str) -> frozenset[str] | None:
        """The conferences the session's account may read (None: all); 401 without one."""
        session = sessions.touch(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise web.HTTPUnauthorized(text=why)
        return ownership.visible_ids(scheduler, session.actor)

    async def listing(request: web.Request) -> web.Response:
        readable = visible(request, "log in first (LoginRequest, Authenticate)")
        found = [{"conf_id": conf_id, "url": player_url(conf_id, token)}
                 for conf_id, token in sorted(broadcasts.live_broadcasts().items())
                 if readable is None or conf_id in readable]
        return web.json_response({"broadcasts": found})

    async def stream(request: web.Request) -> web.StreamResponse:
        conf_id, name = request.match_info["conf_id"], request.match_info["name"]
        token = request.query.get("token")
        readable: frozenset[str] | None = None
        if token is not None:
            if not broadcasts.live_token_valid(conf_id, token):
                raise web.HTTPUnauthorized(text="not this broadcast's token")
        else:
            readable = visible(request, "log in first, or give the broadcast's ?token=")
        if (not broadcasts.is_live(conf_id) or not (name == PLAYLIST or _SEGMENT.fullmatch(name))
                or (readable is not None and conf_id not in readable)):
            raise web.HTTPNotFound(text="no such live stream")
        path = live_directory(root, conf_id) / name
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError:  # not written yet, or slid out of the window
            raise web.HTTPNotFound(text="no such live stream") from None
        if name != PLAYLIST:
            return web.Response(body=body, content_type=SEGMENT_TYPE)
        text = body.decode("utf-8")
        if token is not None:
            text = with_token(text, token)
        return web.Response(text=text, content_type=PLAYLIST_TYPE,
                            headers={"Cache-Control": "no-cache"})

    app.router.add_get(LIVE_PATH, listing)
    app.router.add_get(LIVE_PATH + "/{conf_id}/{name}", stream)
