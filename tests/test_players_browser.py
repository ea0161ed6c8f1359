"""The live broadcast and the recording played in a real browser: Debian's Chromium
(headless, Playwright) against a real server whose conference of four real terminals
(markers, one with the sync pattern) is recorded and broadcast over SOAP (tests/players.py).

- hls.js (HLSJS_VERSION from the npm registry, `make hlsjs`) plays the player URL that
  GET /live gives (`/live/<confId>/index.m3u8?token=...`, no cookie) in a <video>: its
  currentTime advances, hls.js reports no fatal error, Chromium decodes video and audio
  bytes, and pictures drawn from the <video> into a canvas show the four sites' markers in
  their CP_4_1 panes;
- the finished MP4, downloaded by Chromium itself from `/recordings/<confId>/<name>.mp4`
  with the SOAP session's JSESSIONID cookie (Chromium's own MP4 demuxer and its FFmpeg's
  H.264 and AAC decoders): its duration is the file's, it plays (currentTime advances, audio
  decoded), and pictures at several times show the four markers.

The page is served on the gateway's origin (Playwright answers one path of it, /players-test/,
with the page and hls.js; every other request reaches the gateway), so hls.js reads /live as
a page served beside the gateway would: the gateway sends no CORS headers (docs/gateway.md,
"Players").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from terminals.browser_terminal import ChromiumBrowser, playwright_missing
from terminals.sync_pattern import DEFAULT_PERIOD_S
from tests.players import (
    HLSJS,
    HLSJS_VERSION,
    RECORDED_SIZE,
    PlayedConference,
    decode_png,
    hlsjs_missing,
    quad_sites,
    recorded_live_conference,
)
from tests.test_recording_lifecycle import server

__all__ = ["server"]
pytestmark = [
    pytest.mark.skipif(playwright_missing() is not None,
                       reason=f"no browser: {playwright_missing()}"),
    pytest.mark.skipif(hlsjs_missing() is not None, reason=str(hlsjs_missing())),
]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>players</title>
<script src="/players-test/hls.min.js"></script></head>
<body><video id="video" muted autoplay playsinline width="640" height="360"></video>
<script>
const video = document.getElementById("video");
window.player = {
  hlsVersion: (window.Hls && Hls.version) || null,
  mse: window.MediaSource && MediaSource.isTypeSupported(
    'video/mp4; codecs="avc1.42C01E, mp4a.40.2"'),
  errors: [], fatal: null, fragments: 0,
  playHls(url) {
    const hls = new Hls({liveSyncDurationCount: 3});
    hls.on(Hls.Events.ERROR, (event, data) => {
      this.errors.push(`${data.type} ${data.details} fatal=${data.fatal}`);
      if (data.fatal) this.fatal = `${data.type} ${data.details}`;
    });
    hls.on(Hls.Events.FRAG_BUFFERED, () => { this.fragments += 1; });
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
    hls.loadSource(url);
    hls.attachMedia(video);
  },
  playFile(url) { video.src = url; video.play(); },
  state() {
    return {time: video.currentTime, duration: video.duration, paused: video.paused,
            width: video.videoWidth, height: video.videoHeight, ready: video.readyState,
            error: video.error && `${video.error.code} ${video.error.message}`,
            videoBytes: video.webkitVideoDecodedByteCount || 0,
            audioBytes: video.webkitAudioDecodedByteCount || 0};
  },
  seek(time) {
    return new Promise((resolve) => {
      video.addEventListener("seeked", () => resolve(video.currentTime), {once: true});
      video.pause();
      video.currentTime = time;
    });
  },
  grab() {
    if (!video.videoWidth) return null;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    return canvas.toDataURL("image/png");
  },
};
</script></body></html>
"""


@pytest.fixture
async def chromium() -> AsyncIterator[ChromiumBrowser]:
    async with ChromiumBrowser() as browser:
        yield browser


async def player_page(browser: ChromiumBrowser, base_url: str):
    """A page on the gateway's origin with hls.js loaded (its own browser context)."""
    page = await browser.new_page()
    script = HLSJS.read_bytes()

    async def answer(route) -> None:
        if route.request.url.endswith("/hls.min.js"):
            await route.fulfill(body=script, content_type="text/javascript")
        else:
            await route.fulfill(body=PAGE, content_type="text/html")

    await page.route(f"{base_url}/players-test/**", answer)
    await page.goto(f"{base_url}/players-test/index.html")
    assert await page.evaluate("window.player.hlsVersion") == HLSJS_VERSION
    return page


async def state(page) -> dict:
    return dict(await page.evaluate("window.player.state()"))


async def grab_sites(page) -> list[int | None]:
    shot = await page.evaluate("window.player.grab()")
    if not shot:
        return [None] * 4
    picture = decode_png(shot)
    assert picture.shape[1::-1] == RECORDED_SIZE, picture.shape
    return await asyncio.to_thread(quad_sites, picture)


async def until_markers(page, conference: PlayedConference, timeout: float) -> list:
    """Grab the <video>'s picture until the four markers read in their panes; every grab's
    readings (the assertion's message when they never do)."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sites = await grab_sites(page)
        seen.append(sites)
        if sites == conference.expected:
            return seen
        await asyncio.sleep(0.5)
    raise AssertionError(f"the markers {conference.expected} never read: {seen}")


async def check_hls(page, conference: PlayedConference) -> None:
    assert await page.evaluate("window.player.mse"), "Chromium's MSE lacks H.264/AAC"
    await page.evaluate("(url) => window.player.playHls(url)", conference.player_url)
    deadline = time.monotonic() + 90
    while (now := await state(page))["time"] < 1.0:
        fatal = await page.evaluate("window.player.fatal")
        assert fatal is None, (fatal, await page.evaluate("window.player.errors"))
        assert time.monotonic() < deadline, ("hls.js never played", now,
                                             await page.evaluate("window.player.errors"))
        await asyncio.sleep(0.5)
    began, wall = now["time"], time.monotonic()
    await until_markers(page, conference, 60)
    await asyncio.sleep(max(0.0, 6.0 - (time.monotonic() - wall)))
    later = await state(page)
    played = later["time"] - began
    # live playback keeps going: at least half of the wall time (a starved machine stalls
    # a little), and never ahead of it
    elapsed = time.monotonic() - wall
    assert 0.5 * elapsed <= played <= elapsed + 1.0, (played, elapsed, later)
    assert later["videoBytes"] > 0 and later["audioBytes"] > 0, later
    assert (later["width"], later["height"]) == RECORDED_SIZE, later
    assert await page.evaluate("window.player.fatal") is None, \
        await page.evaluate("window.player.errors")
    assert await page.evaluate("window.player.fragments") >= 3
    print(f"hls.js: played {played:.2f} s in {elapsed:.2f} s, {later}, non-fatal errors: "
          f"{await page.evaluate('window.player.errors')}")


def media_duration(path: Path) -> float:
    """The main picture's duration in the file (its packets' end), read with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        end = max(float((packet.pts + packet.duration) * packet.time_base)
                  for packet in container.demux(stream) if packet.pts is not None)
    return end


def seek_times(duration: float, count: int = 4) -> list[float]:
    """`count` times in the file, 1.25 flash periods apart (centred), so that each falls at
    another quarter of the sync pattern's 2 s period and its white flash (FLASH_FRAMES
    frames) can whiten the first site's pane in one of them at most. (At 0.3, 0.5, 0.7 and
    0.9 of a 15 s file they were 3.006 s apart: two phases only, and a flash at one of them
    whitened two of the four.)"""
    spacing = 1.25 * DEFAULT_PERIOD_S
    assert duration > (count - 1) * spacing + 1.0, f"a {duration:.1f} s file is too short"
    first = (duration - (count - 1) * spacing) / 2
    return [first + index * spacing for index in range(count)]


async def check_mp4(page, conference: PlayedConference, path: Path) -> None:
    await page.context.add_cookies([{"name": "JSESSIONID", "value": conference.session_cookie,
                                     "url": conference.server.base_url}])
    url = f"/recordings/{conference.conf_id}/{path.name}"
    await page.evaluate("(url) => window.player.playFile(url)", url)
    await page.wait_for_function("window.player.state().time > 1.0 || "
                                 "window.player.state().error", timeout=60_000)
    now = await state(page)
    assert now["error"] is None, now
    duration = await asyncio.to_thread(media_duration, path)
    assert abs(now["duration"] - duration) < 0.5, (now, duration)
    assert (now["width"], now["height"]) == RECORDED_SIZE, now
    await asyncio.sleep(2)
    later = await state(page)
    assert later["time"] > now["time"] + 0.5, (now, later)
    assert later["videoBytes"] > 0 and later["audioBytes"] > 0, later
    # pictures at several times of the file: the four markers, each in its pane
    readings = {}
    for at in seek_times(now["duration"]):
        at = await page.evaluate("(t) => window.player.seek(t)", at)
        readings[round(at, 2)] = await grab_sites(page)
    matching = [at for at, sites in readings.items() if sites == conference.expected]
    print(f"MP4 in Chromium: {now} then {later}; duration in the file {duration:.3f} s; "
          f"markers at {readings}")
    assert len(matching) >= 3, readings  # a flash may whiten one site's pane in one


async def test_hls_js_and_chromium_play_the_live_stream_and_the_recording(server, chromium):
    async with recorded_live_conference(server, 21) as conference:
        page = await player_page(chromium, server.base_url)
        await check_hls(page, conference)
        await page.close()
        path = await conference.finish_recording()
        page = await player_page(chromium, server.base_url)
        await check_mp4(page, conference, path)
        await page.close()
