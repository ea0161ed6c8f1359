"""The web console in a real browser: Debian's Chromium (headless, Playwright) against a
real running server with two simulated terminals, the effects read back with SOAP (zeep
from the reference WSDL). Screenshots of each step are saved under the test's temporary
directory (tmp_path/console-*.png).

- log in from the form, schedule a conference now with the simulated terminals from the
  console's form; the sites' rows become "in_conference" without a reload (live updates);
- pick CP_2_1 from the layout picker, drag the two sites into its panes, apply:
  getContinuousPresenceParamEx answers the mode and the panes in that order, and the page
  shows the layout without a reload;
- mute a site from its row: queryConfSitesStatusEx reports it muted;
- three wrong passwords lock the account: the console says so, the right password is then
  refused too.

Chromium: `make chromium`; the tests skip only when there is no Chromium or no playwright.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcu.layouts import layout_mode
from terminals.browser_terminal import ChromiumBrowser, playwright_missing
from tests.test_console import (
    IN_CONFERENCE,
    PASSWORD,
    USER,
    conference_status,
    eventually,
    server,  # noqa: F401 - the fixture
    sims,  # noqa: F401 - the fixture
    site_status,
    soap,  # noqa: F401 - the fixture
    soap_call,
)

pytestmark = pytest.mark.skipif(playwright_missing() is not None,
                                reason=f"no browser: {playwright_missing()}")

CP_2_1 = layout_mode("CP_2_1")


@pytest.fixture
async def chromium() -> AsyncIterator[ChromiumBrowser]:
    async with ChromiumBrowser() as browser:
        yield browser


async def log_in(page, base_url: str, password: str) -> None:
    await page.goto(f"{base_url}/")
    assert page.url.endswith("/login")
    await page.fill("input[name=user]", USER)
    await page.fill("input[name=password]", password)
    await page.click("#login-form button")


async def test_schedule_lay_out_and_mute_from_the_console(server, soap, sims, chromium,  # noqa: F811
                                                          tmp_path: Path):
    a, b = (sim.uri for sim in sims)
    page = await chromium.new_page()
    await page.set_viewport_size({"width": 1366, "height": 900})
    await log_in(page, server.base_url, PASSWORD)
    await page.wait_for_selector("#schedule-form")
    await page.screenshot(path=tmp_path / "console-1-logged-in.png", full_page=True)

    await page.fill("#schedule-form input[name=name]", "From the browser")
    for uri in (a, b):
        await page.check(f'#schedule-form input[name=site][value="{uri}"]')
    await page.click("#schedule-form button[type=submit]")
    try:
        await page.wait_for_url("**/?conf=*", timeout=15_000)
    except Exception as error:
        raise AssertionError(await page.text_content("#status")) from error
    conf_id = page.url.split("conf=", 1)[1]
    assert (await conference_status(soap, conf_id)).name == "From the browser"
    await page.evaluate("window.notReloaded = true")
    for uri in (a, b):  # the rows follow the calls through the live updates (a call set up
        # on a loaded 2-core machine can take most of 30 s: the MCU dials both sites)
        await page.wait_for_selector(f'tr[data-site="{uri}"][data-state="in_conference"]',
                                     timeout=60_000)
        assert (await site_status(soap, conf_id, uri)).status == IN_CONFERENCE
    await page.screenshot(path=tmp_path / "console-2-ongoing.png", full_page=True)

    await page.click(f'.mode[data-name="{CP_2_1.name}"]')
    assert await page.locator("#pane-canvas .pane").count() == CP_2_1.pane_count
    await page.locator(f'.chips .chip[data-uri="{b}"]').drag_to(
        page.locator('#pane-canvas .pane[data-pane="0"]'))
    await page.locator(f'.chips .chip[data-uri="{a}"]').drag_to(
        page.locator('#pane-canvas .pane[data-pane="1"]'))
    await page.screenshot(path=tmp_path / "console-3-layout-picker.png", full_page=True)
    await page.click("#layout-apply")

    async def laid_out() -> bool:
        param = await soap_call(soap, "getContinuousPresenceParamEx", confId=conf_id, target="0")
        return param.presenceMode == CP_2_1.value and list(param.subPics or []) == [b, a]

    await eventually(laid_out, timeout=10, what="the picker's layout in getContinuousPresenceParamEx")
    await page.wait_for_selector(f'b[data-fact=layout]:text("{CP_2_1.name}")', timeout=10_000)

    await page.click(f'tr[data-site="{a}"] form[data-action=mute] button')
    await page.wait_for_selector(f'tr[data-site="{a}"][data-muted="1"]', timeout=10_000)
    assert (await site_status(soap, conf_id, a)).isMute == 0  # 0 = muted (WS/T 546 table 9)
    assert (await site_status(soap, conf_id, b)).isMute == 1
    assert await page.evaluate("window.notReloaded === true")
    await page.screenshot(path=tmp_path / "console-4-muted.png", full_page=True)
    assert all((tmp_path / f"console-{n}").exists() for n in (
        "1-logged-in.png", "2-ongoing.png", "3-layout-picker.png", "4-muted.png"))


async def test_three_bad_logins_lock_the_account(server, chromium, tmp_path: Path):  # noqa: F811
    page = await chromium.new_page()
    for attempt in range(3):
        await log_in(page, server.base_url, f"wrong {attempt}")
        await page.wait_for_selector("#login-error")
    assert "locked" in (await page.text_content("#login-error") or "")
    await log_in(page, server.base_url, PASSWORD)
    await page.wait_for_selector("#login-error")
    assert "locked" in (await page.text_content("#login-error") or "")
    assert page.url.endswith("/login")
    await page.screenshot(path=tmp_path / "console-locked.png")
    assert (tmp_path / "console-locked.png").exists()
