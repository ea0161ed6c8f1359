"""The demo's browser terminal (`mcu-sim demo --browser`): Debian's Chromium on the MCU's
/terminal page (terminals/browser_terminal.py), booked as a fifth site that dials in
(dialingMode 1, access code and password of scheduleConfEx's answer) after the four simulated
ones are in (so the automatic CP assignment keeps showing those four), camera on
(a Y4M of its own scene), microphone off (its beep would compete with the talkers the
voice-switching step compares).

What report.json says of it (`"browser"`): the codec, size and rate it decodes (getStats),
the site read in each pane of its picture, and the largest colour error (delta E, CIE76) of
the panes' site colour bands against what those sites sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from terminals.browser_terminal import (
    BrowserTerminal,
    ChromiumBrowser,
    band_colour,
    delta_e76,
    expected_band_colour,
    write_camera_y4m,
)
from terminals.marker import MarkerReading, Rect, read_marker

BROWSER_SITE_INDEX = 8  # its camera's marker: apart from the simulated sites 0..3
BROWSER_URI = "01019908"
BROWSER_NAME = "Browser"


@dataclass
class BrowserSite:
    browser: ChromiumBrowser
    terminal: BrowserTerminal
    uri: str = BROWSER_URI
    name: str = BROWSER_NAME


@contextlib.asynccontextmanager
async def browser_site(base_url: str, scratch: Path, codec: str = "H264"
                       ) -> AsyncIterator[BrowserSite]:
    # 15 fps: Chromium's encoder and decoder share the 2 cores with the MCU and four terminals.
    # H.264, as the simulated terminals: the browser then shares their encoder group (one
    # encoder for the CP picture), where VP8 would cost the MCU a second encoder.
    camera = write_camera_y4m(scratch / "browser-camera.y4m", BROWSER_SITE_INDEX, BROWSER_NAME,
                              fps=15)
    async with ChromiumBrowser(camera) as browser:
        terminal = await browser.terminal(base_url, BROWSER_URI, name=BROWSER_NAME,
                                          codecs=codec, mic=0)
        yield BrowserSite(browser, terminal)


async def browser_record(terminal: BrowserTerminal, rects: Sequence[Rect],
                         uri_of_index: dict[int, str], snapshot: Path | None = None
                         ) -> dict[str, Any]:
    """report.json's "browser": what the page decodes now (its picture written to
    `snapshot` when given). A pane's colour error is measured when its marker is read (the
    site, hence the colour it sent, is known); `colour_delta_e` lists them pane by pane."""
    stats = await terminal.video_stats()
    picture = await terminal.picture()
    if picture is None:
        readings: list[MarkerReading | None] = [None] * len(rects)
    else:
        readings = await asyncio.to_thread(lambda: [read_marker(picture, r) for r in rects])
        if snapshot is not None:
            await asyncio.to_thread(cv2.imwrite, str(snapshot), picture)
    errors = [
        None if picture is None or reading is None else round(delta_e76(
            band_colour(picture, rect), expected_band_colour(reading.site_index)), 2)
        for reading, rect in zip(readings, rects, strict=True)
    ]
    measured = [e for e in errors if e is not None]
    return {
        "uri": terminal.uri,
        "codec": stats.codec if stats else None,
        "width": stats.width if stats else 0,
        "height": stats.height if stats else 0,
        "fps": round(stats.fps, 1) if stats else 0.0,
        "panes": [uri_of_index.get(r.site_index, f"site {r.site_index}") if r else None
                  for r in readings],
        "colour_delta_e_max": max(measured) if measured else None,
        "colour_delta_e": errors,
        "snapshot": snapshot.name if snapshot is not None and picture is not None else None,
    }
