"""A real browser as a terminal: Debian's Chromium, driven by Playwright, on the page the MCU
serves at /terminal (gateway/static/terminal.js speaks docs/signalling.md).

Chromium runs headless with fake media devices: its camera plays a Y4M file of the simulated
terminals' scene (terminals/scene.py: the site colour band and the marker card), so the
other terminals can read which site the browser is, and its microphone a beep. What it
decodes is read from the page's <video> element (drawn to a canvas, PNG, then the marker
reader of terminals/marker.py), as a person would see it.

WebRTC stays on loopback: Chromium leaves the loopback interface out of ICE unless
`--allow-loopback-in-peer-connection`, and hides host addresses behind mDNS names
(aioice on the MCU does not resolve them) unless the WebRtcHideLocalIpsWithMdns feature is
off. Playwright's own browser downloads are not used (`executable_path`).

Playwright is a test extra (pyproject.toml); `chromium_path()` is None when there is no
Chromium, `playwright_missing()` names what is missing.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import cv2
import numpy as np

from rtc.signalling_auth import lab_secret
from terminals.marker import MarkerReading, Rect, read_marker
from terminals.scene import CameraScene, site_colour_bgr

DEFAULT_CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # ICE on 127.0.0.1, with plain host candidates
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def chromium_path() -> str | None:
    """Chromium's executable (MCU_SIM_CHROMIUM overrides /usr/bin/chromium), or None."""
    candidate = os.environ.get("MCU_SIM_CHROMIUM", DEFAULT_CHROMIUM)
    if Path(candidate).is_file() and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("chromium")


def playwright_missing() -> str | None:
    """Why a browser terminal cannot run here (None: it can)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return f"no Chromium at {DEFAULT_CHROMIUM} (make chromium)"
    return None


# ------------------------------------------------------------------------- the camera file

def _bt601_tv_i420(bgr: np.ndarray) -> bytes:
    """One BGR picture as I420, BT.601 TV range: what Chromium assumes of a Y4M file."""
    rgb = bgr[..., ::-1].astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) / 1.772
    v = (r - y) / 1.402
    h, w = y.shape
    luma = np.clip(np.rint(16 + 219 * y), 0, 255).astype(np.uint8)

    def sub(plane: np.ndarray) -> np.ndarray:
        quarter = plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        return np.clip(np.rint(128 + 224 * quarter), 0, 255).astype(np.uint8)

    return luma.tobytes() + sub(u).tobytes() + sub(v).tobytes()


def write_camera_y4m(path: Path, site_index: int, name: str, width: int = 640,
                     height: int = 360, fps: int = 30, frames: int = 30) -> Path:
    """The scene of site `site_index` as a looping Y4M file (Chromium's fake camera)."""
    scene = CameraScene(site_index, name, width, height, frames)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n"
                  .encode())
        for picture in scene.frames():
            out.write(b"FRAME\n")
            out.write(_bt601_tv_i420(picture))
    return path


# ------------------------------------------------------------------------- colours

_BLACK_LUMA = 12  # a letterbox row or column: black, give or take the codec's noise
_FRAME_MARGIN = 0.03  # of the pane's size: wider than the speaker's highlight frame

def delta_e76(bgr_a: tuple[float, float, float], bgr_b: tuple[float, float, float]) -> float:
    """CIE76 colour difference of two sRGB colours (BGR order, 0..255)."""
    both = np.array([[bgr_a, bgr_b]], np.float32) / 255.0
    lab = cv2.cvtColor(both, cv2.COLOR_BGR2Lab)[0]
    return float(np.linalg.norm(lab[0] - lab[1]))


def band_colour(picture: np.ndarray, rect: Rect) -> tuple[float, float, float]:
    """The median colour of the site-colour band at the top of the camera picture shown in a
    pane (BGR). The pane may letterbox the picture and frame it (the speaker's highlight):
    the picture is the pane's rows and columns, inside a margin that leaves the frame out,
    that are not black (a picture reaching the margin reaches the pane's edge); the band is
    its top ninth (terminals/scene.py), sampled in the middle of its height, left of the
    site name written at its centre."""
    height, width = picture.shape[:2]
    if isinstance(rect, Sequence):
        x, y, w, h = (float(v) for v in rect)
    else:
        x, y, w, h = float(rect.x), float(rect.y), float(rect.w), float(rect.h)
    pane = picture[int(height * y) : int(height * (y + h)), int(width * x) : int(width * (x + w))]
    pane_h, pane_w = pane.shape[:2]
    my, mx = max(1, int(pane_h * _FRAME_MARGIN)), max(1, int(pane_w * _FRAME_MARGIN))
    luma = cv2.cvtColor(pane[my:-my, mx:-mx], cv2.COLOR_BGR2GRAY)
    rows = np.flatnonzero(luma.mean(axis=1) > _BLACK_LUMA)
    cols = np.flatnonzero(luma.mean(axis=0) > _BLACK_LUMA)
    if rows.size == 0 or cols.size == 0:
        return (0.0, 0.0, 0.0)
    top = 0 if rows[0] == 0 else int(rows[0]) + my
    bottom = pane_h if rows[-1] == luma.shape[0] - 1 else int(rows[-1]) + my + 1
    left = 0 if cols[0] == 0 else int(cols[0]) + mx
    right = pane_w if cols[-1] == luma.shape[1] - 1 else int(cols[-1]) + mx + 1
    band = (bottom - top) / 9
    shown_w = right - left
    region = pane[top + int(band * 0.35) : top + int(band * 0.75),
                  left + int(shown_w * 0.05) : left + int(shown_w * 0.17)].reshape(-1, 3)
    return tuple(float(c) for c in np.median(region, axis=0))  # type: ignore[return-value]


def expected_band_colour(site_index: int) -> tuple[float, float, float]:
    return tuple(float(c) for c in site_colour_bgr(site_index))  # type: ignore[return-value]


# ------------------------------------------------------------------------- the browser

@dataclass
class VideoStats:
    codec: str | None
    sdp_fmtp_line: str
    width: int
    height: int
    fps: float
    frames_decoded: int
    frames_sent: int


class ChromiumBrowser:
    """One headless Chromium (Playwright); pages are terminals. Use as an async context."""

    def __init__(self, camera_y4m: Path | None = None, executable: str | None = None) -> None:
        self.camera_y4m = camera_y4m
        self.executable = executable or chromium_path() or DEFAULT_CHROMIUM
        self._playwright: Any = None
        self._browser: Any = None

    async def __aenter__(self) -> ChromiumBrowser:
        from playwright.async_api import async_playwright

        args = list(CHROMIUM_ARGS)
        if self.camera_y4m is not None:
            args.append(f"--use-file-for-fake-video-capture={self.camera_y4m}")
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=self.executable, headless=True, args=args)
        except BaseException:
            await self._playwright.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()

    async def new_page(self) -> Any:
        """A blank page in its own browser context (cookies not shared with other pages)."""
        context = await self._browser.new_context()
        return await context.new_page()

    async def terminal(self, base_url: str, uri: str, secret: str | None = None,
                       **parameters: str | int) -> BrowserTerminal:
        """A new page at base_url/terminal?uri=...; registered when this returns. Its
        signalling secret (None: the public lab key's for `uri`) goes in the URL's fragment,
        which the browser keeps to itself; the page answers the MCU's challenge with it."""
        page = await self._browser.new_page()
        query = urlencode({"uri": uri, **{k: str(v) for k, v in parameters.items()}})
        fragment = urlencode({"secret": secret if secret is not None else lab_secret(uri)})
        await page.goto(f"{base_url}/terminal?{query}#{fragment}")
        terminal = BrowserTerminal(page, uri)
        # Entered, not current: a page that dials in may be registered, calling and refused
        # (idle again) within one poll.
        await terminal.wait_entered({"registered"}, timeout=15)
        return terminal


class BrowserTerminal:
    """One page of terminal.js: its state, its decoded picture, its stats."""

    def __init__(self, page: Any, uri: str) -> None:
        self.page = page
        self.uri = uri

    async def state(self) -> str:
        return str(await self.page.evaluate("window.terminal.state"))

    async def wait_state(self, states: set[str], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while (state := await self.state()) not in states:
            if time.monotonic() > deadline:
                log = await self.page.evaluate("window.terminal.log.join('\\n')")
                raise TimeoutError(f"browser {self.uri} is {state}, not {sorted(states)}:\n{log}")
            await asyncio.sleep(0.2)
        return state

    async def entered(self) -> list[str]:
        """Every state the page has entered, in order (its log's "state ..." lines)."""
        lines = await self.page.evaluate("window.terminal.log")
        return [str(line).split(" state ", 1)[1] for line in lines if " state " in str(line)]

    async def wait_entered(self, states: set[str], timeout: float = 30) -> str:
        """The first of `states` the page has entered, waiting for it up to `timeout` s
        (wait_state waits for one to be the current state)."""
        deadline = time.monotonic() + timeout
        while not (seen := [s for s in await self.entered() if s in states]):
            if time.monotonic() > deadline:
                log = await self.page.evaluate("window.terminal.log.join('\\n')")
                raise TimeoutError(f"browser {self.uri} never entered {sorted(states)}:\n{log}")
            await asyncio.sleep(0.2)
        return seen[0]

    async def errors(self) -> list[dict]:
        return list(await self.page.evaluate("window.terminal.errors"))

    async def send_video_requests(self) -> list[dict]:
        """The MCU's `send_video` requests the page received: {width, height, fps, scale,
        applied} each (scale: its camera sender's scaleResolutionDownBy)."""
        return list(await self.page.evaluate("window.terminal.sendVideo"))

    async def source_commands(self) -> list[dict]:
        """The MCU's `sources` messages the page received: {main, aux, obeyed} each."""
        return list(await self.page.evaluate("window.terminal.sources"))

    async def reports_sent(self) -> list[dict]:
        """The `stats` messages the page sent (its receive reports), the last 100."""
        return list(await self.page.evaluate("window.terminal.reportsSent"))

    async def join(self, access_code: str, password: str = "") -> None:
        """Dial in (the page sends `join`) to the conference with that access code."""
        await self.page.evaluate("([code, password]) => window.terminal.join(code, password)",
                                 [access_code, password])

    async def hang_up(self) -> None:
        await self.page.evaluate("window.terminal.hangUp()")

    async def picture(self) -> np.ndarray | None:
        """What the <video> element shows now, as a BGR picture at its decoded size."""
        url = await self.page.evaluate("window.terminal.grab()")
        if not url:
            return None
        data = base64.b64decode(url.split(",", 1)[1])
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    async def read_panes(self, rects: Sequence[Rect]) -> list[MarkerReading | None]:
        """The site marker read in each pane of the picture shown now."""
        picture = await self.picture()
        if picture is None:
            return [None] * len(rects)
        return await asyncio.to_thread(lambda: [read_marker(picture, rect) for rect in rects])

    async def video_stats(self) -> VideoStats | None:
        stats = await self.page.evaluate("window.terminal.videoStats()")
        if not stats:
            return None
        return VideoStats(stats["codec"], stats["sdpFmtpLine"], stats["width"], stats["height"],
                          stats["fps"], stats["framesDecoded"], stats["framesSent"])

    async def audio_level(self) -> float | None:
        """What Chromium says of the audio it receives: `audioLevel` (0..1, linear, 1 is
        0 dBov) of the audio receiver's synchronization source, which the spec takes from
        the packets' RFC 6464 level and leaves out when they state none; None then, or
        before any audio."""
        level = await self.page.evaluate(
            """() => {
              const pc = window.terminal.pc;
              const receiver = pc && pc.getReceivers().find(
                (r) => r.track && r.track.kind === "audio");
              const sources = receiver ? receiver.getSynchronizationSources() : [];
              return sources.length && sources[0].audioLevel !== undefined
                ? sources[0].audioLevel : null;
            }""")
        return None if level is None else float(level)

    async def close(self) -> None:
        await self.page.close()
