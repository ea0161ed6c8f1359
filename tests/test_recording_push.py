"""A conference booked with a recorderAddr naming an RTMP URL gets its recording pushed
there as well (mcu/media/recording_push.py), from the outside: a real terminal in a real
server's conference, setRecordBroadEx over SOAP (zeep from the reference WSDL), and a
local RTMP listener on 127.0.0.1 (libavformat's rtmp protocol in listen mode, through
PyAV) that receives the stream and decodes it:

- the received stream is H.264 + AAC and its pictures show the conference's picture (the
  terminal's marker read in its pane), while the local file is written as always;
- an unreachable recorderAddr does not break the local recording: the file is playable,
  and the sidecar records the push's failure.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest

from app.process import running_server
from gateway.settings import load_settings
from mcu.clock import ManualClock
from mcu.layouts import layout_mode
from mcu.model import SiteCallState
from terminals.marker import read_marker
from tests.conftest import DEMO, soap_clients
from tests.test_media_acceptance import book, eventually, panes_of, signalling_url, states, terminal
from tests.test_recording_lifecycle import files_of, gone_within, video_packets

START, STOP = 0, 1


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=600.0)
    async with running_server(settings, clock=clock) as running:
        running.clock = clock
        running.data_dir = tmp_path
        yield running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RtmpListener:
    """One RTMP publication received on 127.0.0.1 and decoded on a thread: the codecs of
    its streams and the site index read in the single pane of its pictures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.codecs: list[str] = []
        self.frames = 0
        self.sites: list[int | None] = []
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="rtmp listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pane = panes_of("CP_1_1")[0]
        try:
            # rtmp's own listen timeout (s); PyAV's timeout= (an interrupt callback) would
            # stall the handshake with a publisher in the same process
            container: Any = av.open(self.url, "r", format="flv",
                                     options={"listen": "1", "timeout": "60"})
            with container:
                self.codecs = [stream.codec_context.name for stream in container.streams]
                for frame in container.decode(video=0):
                    self.frames += 1
                    if self.frames % 5 == 0:
                        reading = read_marker(frame.to_ndarray(format="gray"), pane)
                        self.sites.append(reading.site_index if reading else None)
        except (av.error.FFmpegError, OSError) as error:  # the publisher closed (or never came)
            self.error = repr(error)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


async def test_the_recording_is_pushed_to_an_rtmp_recorder_addr_and_decodes(server):
    url = f"rtmp://127.0.0.1:{free_port()}/live/conference"
    listener = RtmpListener(url)
    a = terminal(44, decode_video=False)
    await a.start(signalling_url(server))
    soap = await asyncio.to_thread(soap_clients, server.base_url)
    assert await asyncio.to_thread(soap.login, *DEMO) == 0
    call = soap.terminal_conf_ctrl
    try:
        conf_id = book(server, [a.uri], recorder_addr=url)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="in conference")
        server.gateway.runtime.control.set_continuous_presence(
            conf_id, "0", layout_mode("CP_1_1").value, [a.uri])
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=START) == 0
        await eventually(lambda: listener.frames > 60, what="pictures received over RTMP",
                         timeout=60)
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=STOP) == 0
        await gone_within(conf_id, 20)
    finally:
        await a.stop()
    await asyncio.to_thread(listener.join, 30)
    assert listener.codecs == ["h264", "aac"]
    assert listener.sites.count(a.site_index) > len(listener.sites) // 2, listener.sites
    (path,) = files_of(server.data_dir, conf_id)
    assert video_packets(path) > 0  # the local file as always
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["push"] == {"url": url, "error": None}


async def test_an_unreachable_recorder_addr_leaves_the_local_recording_whole(server):
    url = f"rtmp://127.0.0.1:{free_port()}/live/nobody"  # nothing listens there
    soap = await asyncio.to_thread(soap_clients, server.base_url)
    assert await asyncio.to_thread(soap.login, *DEMO) == 0
    call = soap.terminal_conf_ctrl
    conf_id = book(server, ["83001"], recorder_addr=url)
    assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="83001", action=START) == 0

    def push_failed() -> bool:
        files = files_of(server.data_dir, conf_id)
        if not files or not files[0].with_suffix(".json").exists():
            return False
        push = json.loads(files[0].with_suffix(".json").read_text())["push"]
        return push is not None and push["error"] is not None

    await eventually(push_failed, what="the push's failure in the sidecar", timeout=60)
    await asyncio.sleep(3)  # the file goes on after the push failed
    info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri="83001")).broadInfo
    assert info.recordBroadStatus == 1  # the recording itself is fine
    assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="83001", action=STOP) == 0
    await gone_within(conf_id, 20)
    (path,) = files_of(server.data_dir, conf_id)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["push"]["url"] == url and "Connection refused" in sidecar["push"]["error"]
    assert sidecar["errors"] == []
    with av.open(str(path)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "h264", "aac"]
        assert sum(1 for _ in container.decode(video=0)) > 30
