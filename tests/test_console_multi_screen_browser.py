"""The console's live view of a multi-screen site in a real browser: Debian's Chromium
(headless, Playwright) against a real running server with a three-screen simulated room
(register `device.screens` HD1..HD3, tests/test_terminal_device.py ROOM_DEVICE) and two
single-screen simulated sites, A speaking, B silent.

- the conference picture is CP_2_3 of A and B (setContinuousPresenceEx, zeep); A becomes
  the speaker; the room's screen 3 is set to its own camera (setVideoOutSrcEx hdOut 2,
  videoSrc 0), so its three screens show three different pictures (docs/runtime.md,
  "Multi-screen sites"): screen 1 the CP (A left, B right), screen 2 the speaker A full
  screen, screen 3 the room itself;
- the console's live view of the room has one <video> per screen plus the content, laid out
  side by side (one row, left to right in screen order), and each screen's pixels (canvas
  grab, terminals/marker.py) carry the markers of what that screen shows;
- the health panel lists the probes: the sites' receive reports, A's with its latency.

Screenshot under the test's temporary directory (console-live-room.png).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from mcu.layouts import layout_mode
from terminals.browser_terminal import ChromiumBrowser, playwright_missing
from terminals.client import SimulatedTerminal
from terminals.run_command import terminal_uri
from tests.test_console import (
    PASSWORD,
    SMALL,
    browser_session,
    csrf_of,
    eventually,
    scheduled_now,
    server,  # noqa: F401 - the fixture
    soap,  # noqa: F401 - the fixture
    soap_call,
)
from tests.test_console import log_in as http_log_in
from tests.test_console_browser import log_in
from tests.test_console_live_view_browser import read_panes
from tests.test_terminal_device import ROOM_DEVICE

pytestmark = pytest.mark.skipif(playwright_missing() is not None,
                                reason=f"no browser: {playwright_missing()}")

CP_2_3 = layout_mode("CP_2_3")  # two panes side by side
ROOM_INDEX, A_INDEX, B_INDEX = 44, 45, 46
ROOM, A, B = (terminal_uri("0188", index) for index in (ROOM_INDEX, A_INDEX, B_INDEX))
WHOLE = [(0.0, 0.0, 1.0, 1.0)]


@pytest.fixture
async def chromium() -> AsyncIterator[ChromiumBrowser]:
    async with ChromiumBrowser() as browser:
        yield browser


@pytest.fixture
async def sites(server) -> AsyncIterator[dict[str, SimulatedTerminal]]:  # noqa: F811
    common = dict(ring_delay_s=0.1, video_format=SMALL, loop_frames=10, decode_audio=False)
    terminals = {
        ROOM: SimulatedTerminal(uri=ROOM, name="Specialist room", site_index=ROOM_INDEX,
                                device=ROOM_DEVICE, analyse_every=1 << 30,
                                speech_schedule=((1.0, 0.0),), **common),
        A: SimulatedTerminal(uri=A, name="Site A", site_index=A_INDEX, analyse_every=3,
                             speech_schedule=((1.0, 0.8),), **common),
        B: SimulatedTerminal(uri=B, name="Site B", site_index=B_INDEX, analyse_every=1 << 30,
                             speech_schedule=((1.0, 0.0),), **common),
    }
    for sim in terminals.values():
        await sim.start(server.url("/signalling").replace("http", "ws", 1))
    try:
        yield terminals
    finally:
        for sim in terminals.values():
            await sim.stop()


async def sites_on(page, screen: int, rects) -> list[int | None]:
    return [r.site_index if r else None for r in await read_panes(page, rects, screen)]


async def test_the_live_view_of_a_three_screen_room_shows_its_screens_side_by_side(
        server, soap, sites, chromium, tmp_path: Path):  # noqa: F811
    async with browser_session() as http:
        await http_log_in(http, server)
        csrf = await csrf_of(http, server)
        conf_id = await scheduled_now(http, server, csrf, soap, [ROOM, A, B])
    await soap_call(soap, "setContinuousPresenceEx", service="conf_ctrl", confId=conf_id,
                    target="0", presenceMode=CP_2_3.value, subPics=[A, B])
    cp_rects = [tuple(pane.as_floats()) for pane in CP_2_3.panes]
    sites[A].set_panes(cp_rects)  # A sees the conference picture: reads (and times) both panes
    # voice activation holds a new speaker for its hold time on the injected clock
    runtime = server.gateway.runtime

    async def a_speaks() -> bool:
        runtime.clock.advance(timedelta(milliseconds=500))
        return runtime.conferences.get(conf_id).speaking == A

    await eventually(a_speaks, what="A is the speaker")
    answer = await asyncio.to_thread(soap.site_mgr.setVideoOutSrcEx, siteUri=ROOM, hdOut=2,
                                     videoSrc=0)
    assert answer == 0

    page = await chromium.new_page()
    await page.set_viewport_size({"width": 1366, "height": 1000})
    await log_in(page, server.base_url, PASSWORD)
    await page.wait_for_selector("#schedule-form")
    await page.goto(server.url(f"/?conf={conf_id}"))
    await page.wait_for_selector("#live-view:not([hidden])")
    await page.select_option("#live-viewpoint", ROOM)
    await page.click("#live-watch")
    await page.wait_for_function("window.liveView.state === 'watching'", timeout=30_000)
    assert await page.evaluate("window.liveView.tracks") == [
        "main screen", "screen 2", "screen 3", "content"]

    # each screen's pixels carry the markers of what that screen of the room shows
    expected = [(0, cp_rects, [A_INDEX, B_INDEX]), (1, WHOLE, [A_INDEX]),
                (2, WHOLE, [ROOM_INDEX])]
    for screen, rects, indices in expected:
        async def shows(screen: int = screen, rects=rects, indices=indices) -> bool:
            return await sites_on(page, screen, rects) == indices

        await eventually(shows, timeout=45, what=f"screen {screen + 1} shows {indices}: "
                         f"{await sites_on(page, screen, rects)}")
    # all three at once (not one after the other)
    assert [await sites_on(page, screen, rects) for screen, rects, _ in expected] == \
        [indices for _, _, indices in expected]

    # side by side: one row, left to right in screen order
    boxes = await page.evaluate("""() => [0, 1, 2, 3].map((i) => {
        const box = document.querySelector('#live-screens video[data-screen="' + i + '"]')
            .getBoundingClientRect();
        return [box.left, box.top, box.width];
    })""")
    lefts, tops, widths = zip(*boxes, strict=True)
    assert list(lefts) == sorted(lefts) and len(set(lefts)) == 4, boxes
    assert max(tops) - min(tops) < 1 and min(widths) > 100, boxes
    assert max(left + width for left, _, width in boxes) <= 1366, boxes

    # the health panel's probes: the sites' receive reports, A's with its latency
    await page.wait_for_function(
        "(uri) => window.liveHealth.last && window.liveHealth.last.probes.some("
        "(p) => p.uri === uri && p.main.latency_ms_p50 !== null)", arg=A, timeout=60_000)
    await page.wait_for_selector(f'#health-table tr[data-probe="{A}"]', timeout=5_000)
    row = await page.inner_text(f'#health-table tr[data-probe="{A}"]')
    assert A in row and " / " in row, row  # the latency cell: p50 / p95
    await page.wait_for_selector(f'#health-table tr[data-probe="{ROOM}"]', timeout=10_000)

    shot = tmp_path / "console-live-room.png"
    await page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 0
