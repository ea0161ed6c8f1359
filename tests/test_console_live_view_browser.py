"""The console's live view in a real browser: Debian's Chromium (headless, Playwright)
against a real running server with two simulated terminals.

- log in, schedule a conference now with the two terminals from the console's form;
- Watch the conference picture: the browser is a receive-only WebRTC viewer; its <video>
  is drawn into a canvas (getImageData) and the site markers are read from those pixels
  (terminals/marker.py): first the default picture (CP_None: one site full screen), then,
  after CP_2_3 with the two sites is applied from the layout picker, each site's marker in
  its half, so the browser decodes the CP picture with the right sites and follows the
  layout;
- the viewer shares the sites' encoder group (/stats/media: its track is a receiver of the
  group of the conference picture, no group of its own) and is absent from
  queryConfSitesStatusEx (zeep, the reference WSDL);
- its audio track is there and not silent (WebAudio analyser RMS);
- a site's viewpoint: its main screen and its content, side by side;
- Stop closes the viewer: its track leaves the group.

Screenshots under the test's temporary directory (console-live-*.png).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from mcu.layouts import layout_mode
from terminals.browser_terminal import ChromiumBrowser, playwright_missing
from terminals.marker import MarkerReading, read_marker
from tests.test_console import (
    IN_CONFERENCE,
    PASSWORD,
    eventually,
    server,  # noqa: F401 - the fixture
    sims,  # noqa: F401 - the fixture
    site_status,
    soap,  # noqa: F401 - the fixture
    soap_call,
)
from tests.test_console_browser import log_in

pytestmark = pytest.mark.skipif(playwright_missing() is not None,
                                reason=f"no browser: {playwright_missing()}")

CP_2_3 = layout_mode("CP_2_3")  # two panes side by side


@pytest.fixture
async def chromium() -> AsyncIterator[ChromiumBrowser]:
    async with ChromiumBrowser() as browser:
        yield browser


async def grab(page, screen: int = 0) -> np.ndarray | None:
    """The live view's screen as the browser decodes it: BGR pixels of a canvas grab."""
    shot = await page.evaluate("(i) => window.liveView.grab(i)", screen)
    if not shot:
        return None
    rgba = np.frombuffer(base64.b64decode(shot["rgba"]), np.uint8)
    rgba = rgba.reshape(shot["height"], shot["width"], 4)
    return np.ascontiguousarray(rgba[:, :, 2::-1])


async def read_panes(page, rects, screen: int = 0) -> list[MarkerReading | None]:
    picture = await grab(page, screen)
    if picture is None:
        return [None] * len(rects)
    return await asyncio.to_thread(lambda: [read_marker(picture, rect) for rect in rects])


async def media_groups(running) -> list[dict]:
    async with aiohttp.ClientSession() as http, http.get(running.url("/stats/media")) as answer:
        stats = await answer.json()
    return [group for conference in stats["conferences"] for group in conference["groups"]]


async def test_live_view_of_the_conference_picture(server, soap, sims, chromium,  # noqa: F811
                                                   tmp_path: Path):
    a, b = (sim.uri for sim in sims)
    index = {sim.uri: sim.site_index for sim in sims}
    page = await chromium.new_page()
    await page.set_viewport_size({"width": 1366, "height": 1000})
    await log_in(page, server.base_url, PASSWORD)
    await page.wait_for_selector("#schedule-form")
    await page.fill("#schedule-form input[name=name]", "Live view")
    for uri in (a, b):
        await page.check(f'#schedule-form input[name=site][value="{uri}"]')
    await page.click("#schedule-form button[type=submit]")
    await page.wait_for_url("**/?conf=*", timeout=15_000)
    conf_id = page.url.split("conf=", 1)[1]
    for uri in (a, b):
        try:
            await page.wait_for_selector(f'tr[data-site="{uri}"][data-state="in_conference"]',
                                         timeout=60_000)
        except Exception as error:
            raise AssertionError(await page.inner_html("#detail")) from error
    await page.reload()  # the live view section of the now ongoing conference
    await page.wait_for_selector("#live-view:not([hidden])")

    groups_before = await media_groups(server)
    await page.select_option("#live-viewpoint", "conference")
    await page.click("#live-watch")
    await page.wait_for_function("window.liveView.state === 'watching'", timeout=30_000)

    # the default picture (CP_None): one site full screen, read from the browser's pixels
    async def full_screen_site() -> bool:
        reading = (await read_panes(page, [(0.0, 0.0, 1.0, 1.0)]))[0]
        return reading is not None and reading.site_index in index.values()

    await eventually(full_screen_site, timeout=30, what="a site's marker in the live view")

    # the viewer rides the sites' group of the conference picture: no group of its own
    groups = await media_groups(server)
    assert len(groups) == len(groups_before), (groups_before, groups)
    cp_groups = [g for g in groups if g["picture"] == "cp:"]
    assert any(a in g["sites"] and any(s.startswith("viewer:") for s in g["sites"])
               for g in cp_groups), groups

    # CP_2_3 from the picker, a left and b right: the browser's picture changes to both
    await page.click(f'.mode[data-name="{CP_2_3.name}"]')
    await page.locator(f'.chips .chip[data-uri="{a}"]').drag_to(
        page.locator('#pane-canvas .pane[data-pane="0"]'))
    await page.locator(f'.chips .chip[data-uri="{b}"]').drag_to(
        page.locator('#pane-canvas .pane[data-pane="1"]'))
    await page.click("#layout-apply")
    rects = [tuple(pane.as_floats()) for pane in CP_2_3.panes]

    async def both_sites() -> bool:
        readings = await read_panes(page, rects)
        return [r.site_index if r else None for r in readings] == [index[a], index[b]]

    await eventually(both_sites, timeout=30, what="both sites in the live view's CP_2_3")

    # the viewer is no site: queryConfSitesStatusEx lists the two booked sites only
    answer = await soap_call(soap, "queryConfSitesStatusEx", confId=conf_id)
    assert sorted(status.uri for status in answer.siteStatuses) == sorted([a, b])
    assert all([(await site_status(soap, conf_id, uri)).status == IN_CONFERENCE
                for uri in (a, b)])

    # the audio: the full mix of the two sites, heard by the browser (not silence)
    assert await page.evaluate("window.liveView.audio !== null")
    rms = await page.evaluate("window.liveView.audioRms(1500)")
    assert rms is not None and rms > 0.003, rms

    # the health panel: the conference's groups and a plot drawn from its history
    await page.wait_for_function("window.liveHealth.last && window.liveHealth.last.groups.length"
                                 " && window.liveHealth.drawn >= 2", timeout=15_000)
    await page.screenshot(path=tmp_path / "console-live-view.png", full_page=True)

    # a site's viewpoint: its main screen and its content side by side
    await page.select_option("#live-viewpoint", a)
    await page.click("#live-watch")
    # the previous viewer's "watching" is gone by the time the click returns: the new one is
    # opening with no tracks or, read late (a busy machine), connecting or watching with its
    # own tracks; never the conference viewer's
    state, tracks = await page.evaluate("[window.liveView.state, window.liveView.tracks]")
    assert (state, tracks) == ("opening", []) or (
        state in ("connecting", "watching") and tracks == ["main screen", "content"]), (
        state, tracks)
    await page.wait_for_function("window.liveView.state === 'watching'", timeout=30_000)
    assert await page.evaluate("window.liveView.tracks") == ["main screen", "content"]

    async def site_screen() -> bool:
        readings = await read_panes(page, rects)
        return [r.site_index if r else None for r in readings] == [index[a], index[b]]

    await eventually(site_screen, timeout=30, what="site a's main screen in the live view")
    await page.screenshot(path=tmp_path / "console-live-site.png", full_page=True)

    # Stop: the viewer leaves; no group keeps a viewer receiver
    await page.click("#live-stop")

    async def no_viewer() -> bool:
        return not any(s.startswith("viewer:") for g in await media_groups(server)
                       for s in g["sites"])

    await eventually(no_viewer, timeout=10, what="the viewer gone from the groups")
    assert (tmp_path / "console-live-view.png").exists()
