"""What the players' tests share (tests/test_players_browser.py, tests/test_players_vlc.py):
a recorded and live-broadcast conference of four real terminals on a real server, and where
the players are.

The conference: four simulated terminals (site markers in their pictures; the first emits
the sync pattern, a white flash and a click every 2 s), booked on the running server, the
layout CP_4_1 with the four sites in a known order (setContinuousPresenceEx over SOAP), the
recording (setRecordBroadEx) and the live broadcast (setDirectBroadEx) started over SOAP
(zeep from the reference WSDL). The recorder's picture is 640x360 (the format of sites
booked AUTO set so, as in tests/test_recording_changes.py), to keep the CPU low: its panes
are 320x180, where the markers read.

The players: hls.js from the npm registry at HLSJS_VERSION (`make hlsjs` fetches it into
.cache/, checked against its sha256), Debian's Chromium (`make chromium`) and Debian's VLC
(`make vlc`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from app.child_process import dies_with_parent
from gateway.signalling import SIGNALLING
from mcu.layouts import layout_mode
from mcu.model import VideoFormat
from terminals.client import SimulatedTerminal
from terminals.marker import read_marker
from terminals.media_sources import VideoFormat as SentVideo
from terminals.sync_pattern import SyncPattern
from tests.conftest import SoapClients
from tests.test_content_stream import book, joined, soap, soap_call, start_all, terminal
from tests.test_live_broadcast import fetch_playlist, live_url
from tests.test_media_acceptance import eventually
from tests.test_recording_lifecycle import files_of, gone_within

PROJECT = Path(__file__).resolve().parents[1]
HLSJS_VERSION = "1.6.15"  # the Makefile's HLSJS_VERSION
HLSJS = PROJECT / ".cache" / f"hls.js-{HLSJS_VERSION}" / "hls.min.js"
CVLC = "/usr/bin/cvlc"
QUAD = "CP_4_1"
RECORDED_SIZE = (640, 360)
SMALL = SentVideo(320, 180, 15, 300_000)
FLASHING = SentVideo(320, 180, 30, 300_000)  # the sync pattern's frame grid
START, STOP = 0, 1


def hlsjs_missing() -> str | None:
    """Why hls.js is not here (None: it is)."""
    if HLSJS.is_file():
        return None
    return (f"no hls.js {HLSJS_VERSION} at {HLSJS.relative_to(PROJECT)}: `make hlsjs` "
            "fetches it with npm (it could not, or was not run)")


def vlc_missing() -> str | None:
    if Path(CVLC).is_file() and shutil.which("setpriv"):
        return None
    return f"no VLC at {CVLC} (make vlc installs Debian's vlc-bin and vlc-plugin-base)"


def quad_panes() -> list[tuple[float, ...]]:
    return [tuple(pane.as_floats()) for pane in layout_mode(QUAD).panes]


def quad_sites(picture: np.ndarray) -> list[int | None]:
    """The site index read in each CP_4_1 pane of a picture (BGR or grey)."""
    readings = [read_marker(picture, pane) for pane in quad_panes()]
    return [reading.site_index if reading is not None else None for reading in readings]


@dataclass
class PlayedConference:
    """The running conference the players read."""

    server: Any
    conf_id: str
    sites: list[SimulatedTerminal]
    soap: SoapClients
    player_url: str  # /live/<confId>/index.m3u8?token=...: what a player is given

    @property
    def expected(self) -> list[int]:
        """The site index in each CP_4_1 pane, in pane order."""
        return [site.site_index for site in self.sites]

    @property
    def session_cookie(self) -> str:
        cookie = self.soap.session_id
        assert cookie is not None
        return cookie

    async def finish_recording(self) -> Path:
        """Stop the recording (setRecordBroadEx 1) and the file once closed."""
        call = self.soap.terminal_conf_ctrl
        assert await soap_call(call, "setRecordBroadEx", siteUri=self.sites[0].uri,
                               action=STOP) == 0
        await gone_within(self.conf_id, 30)
        (path,) = files_of(self.server.data_dir, self.conf_id)
        return path


@asynccontextmanager
async def recorded_live_conference(server: Any, first_index: int) -> AsyncIterator[
        PlayedConference]:
    """Four terminals (site indexes first_index..+3) in CP_4_1, recorded and broadcast,
    with a playlist of at least 3 segments; the terminals stopped at the end."""
    engine = server.app[SIGNALLING].engine
    engine.settings = replace(engine.settings, default_format=VideoFormat.P360)
    sites = [terminal(first_index, video_format=FLASHING, sync_pattern=SyncPattern(2.0),
                      decode_video=False, decode_audio=False)]
    # the others silent: the flashing site's clicks are the mix's loudest sound
    sites += [terminal(first_index + n, video_format=SMALL, decode_video=False,
                       decode_audio=False, speech_schedule=((1.0, 0.0),))
              for n in (1, 2, 3)]
    await start_all(server, sites)
    try:
        uris = [site.uri for site in sites]
        conf_id = book(server, uris)
        clients = await soap(server)
        await eventually(lambda: joined(server, conf_id, uris), timeout=90, what="all joined")
        assert await soap_call(clients.conf_ctrl, "setContinuousPresenceEx", confId=conf_id,
                               target="0", presenceMode=layout_mode(QUAD).value,
                               subPics=uris) == 0
        call = clients.terminal_conf_ctrl
        assert await soap_call(call, "setRecordBroadEx", siteUri=uris[0], action=START) == 0
        assert await soap_call(call, "setDirectBroadEx", siteUri=uris[0], action=START) == 0
        url = await asyncio.to_thread(live_url, server.base_url, clients.http, conf_id)
        await asyncio.to_thread(fetch_playlist, server.base_url, url, 3, 120)
        yield PlayedConference(server, conf_id, sites, clients, url)
    finally:
        for site in sites:
            await site.stop()


def decode_png(data_url: str) -> np.ndarray:
    """A `data:image/png;base64,...` URL as a BGR picture."""
    import base64

    import cv2

    data = base64.b64decode(data_url.split(",", 1)[1])
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None, "the grab is no PNG"
    return picture


# ----------------------------------------------------------------------------- VLC

@dataclass
class VlcRun:
    returncode: int | None  # None: still running at the deadline, then stopped
    output: str


def vlc_workdir() -> Path:
    """A directory VLC (run as `nobody`) can read and write: /tmp/mcu-vlc-*."""
    directory = Path(tempfile.mkdtemp(prefix="mcu-vlc-"))
    directory.chmod(0o777)
    return directory


def run_cvlc(source: str, sout: str, seconds: float, extra: Sequence[str] = ()) -> VlcRun:
    """cvlc (no interface) playing `source` into the stream output `sout`, as the user
    nobody (VLC refuses to run as root), stopped after `seconds` at the latest (a live
    stream never ends: --run-time stops it first)."""
    command = [CVLC, "-I", "dummy", "--no-interact", "--play-and-exit",
               "--no-video-title-show", *extra, source, "--sout", sout, "vlc://quit"]
    if os.geteuid() == 0:
        # the parent death signal after the change of user: the kernel clears one set before
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                   "--reset-env", "--pdeathsig", "KILL", *command]
    else:
        command = dies_with_parent(command)
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               text=True)
    try:
        output, _ = process.communicate(timeout=seconds)
        return VlcRun(process.returncode, output)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        return VlcRun(None, output)


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
