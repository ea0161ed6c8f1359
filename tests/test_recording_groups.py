"""The recorder's encoder group from the outside (mcu/media/recorder_groups.py): a real
server, real terminals, the conference booked and recorded over SOAP (zeep from the
reference WSDL), the encoder count read from GET /metrics (`mcu_sim_encoder_groups`) and the
file read back with PyAV.

- sites booked at the recorder's size (1080p30, the default format) at a rate of their own:
  recording adds no encode (the count stays 1 while the recording runs), and the file is
  the sites' picture at 1920x1080, decodable from its first picture;
- sites booked at another size (4CIF): the recorder gets a group of its own (the count goes
  from 1 to 2) and the file is at the recorder's size all the same.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app.process import running_server
from gateway.settings import load_settings
from mcu.clock import ManualClock
from mcu.model import SiteCallState, VideoFormat
from tests.conftest import DEMO, soap_clients
from tests.test_media_acceptance import eventually, signalling_url, states, terminal
from tests.test_restart_persistence import conference

START, STOP = 0, 1
SITE_RATE = "1536k"  # not the recorder's own bitrate (1080p30's default, 1866k)
HELD_S = 4.0  # how long the count is watched while recording


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=600.0)
    async with running_server(settings, clock=clock) as running:
        running.clock = clock
        running.data_dir = tmp_path
        yield running


def scrape_encoder_groups(base_url: str) -> int:
    """Blocking (on a thread: the server runs on the test's loop): GET /metrics's
    mcu_sim_encoder_groups."""
    http = requests.Session()
    http.trust_env = False
    text = http.get(base_url + "/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mcu_sim_encoder_groups":
                return int(sample.value)
    raise AssertionError("no mcu_sim_encoder_groups in /metrics")


async def encoder_groups(base_url: str) -> int:
    return await asyncio.to_thread(scrape_encoder_groups, base_url)


async def encoder_groups_become(base_url: str, wanted: int, timeout: float = 60) -> int:
    """The count once it is `wanted` (or the last read after `timeout`)."""
    deadline = time.monotonic() + timeout
    count = await encoder_groups(base_url)
    while count != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        count = await encoder_groups(base_url)
    return count


def booked_site(uri: str, video_format: VideoFormat, rate: str) -> dict:
    return {"name": f"site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
            "videoFormat": int(video_format), "rate": rate}


def recording_of(data_dir: Path, conf_id: str) -> Path:
    (path,) = sorted((data_dir / "recordings" / conf_id).glob("*.mp4"))
    return path


def main_track(path: Path) -> tuple[tuple[int, int], int, int]:
    """((width, height) of the main track's decoded pictures, how many, how many failed)."""
    sizes, decoded = set(), 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            sizes.add((frame.width, frame.height))
            decoded += 1
    with av.open(str(path)) as container:
        packets = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    assert len(sizes) == 1, sizes
    return sizes.pop(), decoded, packets - decoded


async def record_and_count(server, video_format: VideoFormat) -> tuple[int, list[int], Path]:
    """Two terminals booked at `video_format` and SITE_RATE, recorded for HELD_S: (the
    encoder count before the start, the counts read while recording, the file)."""
    a, b = terminal(53, decode_video=False), terminal(54, decode_video=False)
    for t in (a, b):
        await t.start(signalling_url(server))
    soap = await asyncio.to_thread(soap_clients, server.base_url)
    assert await asyncio.to_thread(soap.login, *DEMO) == 0
    call = soap.terminal_conf_ctrl
    try:
        booked = await asyncio.to_thread(
            soap.conf_mgr.scheduleConfEx, scheduleConf=conference(
                "recorded", server.clock.now(), [],
                sites=[booked_site(t.uri, video_format, SITE_RATE) for t in (a, b)]))
        assert booked.resultCode == 0
        conf_id = booked.conferenceInfo.confId
        server.gateway.runtime.reconcile()
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="both in conference")
        before = await encoder_groups_become(server.base_url, 1)  # the sites' one group
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=START) == 0
        await eventually(lambda: any((server.data_dir / "recordings" / conf_id).glob("*.mp4"))
                         and recording_of(server.data_dir, conf_id).stat().st_size > 20_000,
                         what="a fragment on disk", timeout=60)
        counts = []
        deadline = time.monotonic() + HELD_S
        while time.monotonic() < deadline:
            counts.append(await encoder_groups(server.base_url))
            await asyncio.sleep(0.5)
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=STOP) == 0
        path = recording_of(server.data_dir, conf_id)
        await eventually(lambda: not [t for t in threading.enumerate()
                                      if t.name == f"recorder {conf_id}"],
                         what="the file closed")
    finally:
        for t in (a, b):
            await t.stop()
    return before, counts, path


async def test_sites_at_the_recorders_size_share_their_group_with_it(server):
    before, counts, path = await record_and_count(server, VideoFormat.HD1080P30)
    assert before == 1
    assert counts and set(counts) == {1}, counts  # no second encode while recording
    size, decoded, undecodable = await asyncio.to_thread(main_track, path)
    assert size == (1920, 1080)
    assert decoded > 3 * 10 and undecodable == 0, (decoded, undecodable)


async def test_sites_at_another_size_leave_the_recorder_its_own_group(server):
    before, counts, path = await record_and_count(server, VideoFormat.CIF4)
    assert before == 1
    assert counts and set(counts) == {2}, counts  # the recorder's own 1080p encode
    size, decoded, undecodable = await asyncio.to_thread(main_track, path)
    assert size == (1920, 1080)  # the recorder's size, not the sites' 704x576
    assert decoded > 3 * 10 and undecodable == 0, (decoded, undecodable)
