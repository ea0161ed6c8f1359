"""The browser terminal: GET /terminal serves a page (gateway/static/terminal.html and
terminal.js) that speaks docs/signalling.md to this server's /signalling, same origin, so a
browser joins conferences with no other software (docs/terminals.md, "From a browser").

The files are package data, read once through importlib.resources; the page takes its
parameters from the URL (terminal.js lists them). Served only with the signalling, i.e. when
the server has a runtime.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

TERMINAL_PATH = "/terminal"
_FILES = {
    TERMINAL_PATH: ("terminal.html", "text/html"),
    "/terminal.js": ("terminal.js", "text/javascript"),
}


def _static(name: str) -> str:
    return resources.files("gateway").joinpath("static", name).read_text(encoding="utf-8")


def install_terminal_page(app: web.Application) -> None:
    for path, (name, content_type) in _FILES.items():
        body = _static(name)

        async def serve(_: web.Request, body: str = body, content_type: str = content_type
                        ) -> web.Response:
            # no-cache: a page from an older server version must not outlive it in a browser
            return web.Response(text=body, content_type=content_type, charset="utf-8",
                                headers={"Cache-Control": "no-cache"})

        app.router.add_get(path, serve)
