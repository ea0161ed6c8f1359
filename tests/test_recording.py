"""Recording (setRecordBroadEx) from the outside: real terminals in a conference on a real
server, the recording started and stopped over SOAP (zeep from the reference WSDL), the
file read back with PyAV's demuxer and decoder.

- the MP4 has the main picture (H.264), the content track (H.264) and the full mix (AAC);
  its video and audio durations agree; its frames decode and show the conference picture
  (the sites' markers read in their panes, before and after a layout change);
- the JSON sidecar lists the sites, the layout change and the floor;
- queryBroadInfoEx reports the recording while it runs, and not after the stop; a start
  while recording and a stop while not recording change nothing and answer 0;
- a server killed with SIGKILL in the middle leaves a playable file; started again, the
  conference records on into a new file (the state is in the store);
- bad inputs: a site of no conference, a conference booked without recording.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
import requests

from app.process import running_server
from gateway import result_codes
from gateway.settings import load_settings
from mcu.clock import ManualClock
from mcu.errors import Fault
from mcu.layouts import layout_mode
from mcu.model import SiteCallState
from terminals.marker import read_marker
from tests.conftest import DEMO, soap_clients
from tests.test_media_acceptance import (
    book,
    eventually,
    panes_of,
    signalling_url,
    states,
    terminal,
)
from tests.test_restart_persistence import ServerProcess, conference

START, STOP = 0, 1
RECORDING_NOT_SUPPORTED = result_codes.result_code(Fault.RECORDING_NOT_SUPPORTED)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=4.0)
    async with running_server(settings, clock=clock) as running:
        running.clock = clock
        running.data_dir = tmp_path
        yield running


def recordings(data_dir: Path, conf_id: str) -> list[Path]:
    return sorted((data_dir / "recordings" / conf_id).glob("*.mp4"))


def probe(path: Path) -> dict:
    """What PyAV's demuxer and decoder read from the file: the codecs of its streams, the
    duration of each (from its packets' timestamps), and the decoded main-picture frames."""
    with av.open(str(path)) as container:
        streams = container.streams
        codecs = [stream.codec_context.name for stream in streams]
        ends: dict[int, float] = {}
        for packet in container.demux():
            if packet.pts is not None and packet.duration is not None:
                end = float((packet.pts + packet.duration) * packet.time_base)
                ends[packet.stream.index] = max(ends.get(packet.stream.index, 0.0), end)
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    return {"codecs": codecs, "durations": ends, "frames": frames}


def sites_in(frame, layout: str) -> list[int | None]:
    readings = [read_marker(frame, pane) for pane in panes_of(layout)]
    return [reading.site_index if reading is not None else None for reading in readings]


async def test_a_recording_holds_the_conference_picture_the_mix_and_a_sidecar(server):
    a, b = terminal(40, decode_video=False), terminal(41, decode_video=False)
    for t in (a, b):
        await t.start(signalling_url(server))
    soap = await asyncio.to_thread(soap_clients, server.base_url)
    assert await asyncio.to_thread(soap.login, *DEMO) == 0
    call = soap.terminal_conf_ctrl
    try:
        conf_id = book(server, [a.uri, b.uri], cp_resource=4)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="both in conference")
        control = server.gateway.runtime.control
        control.set_continuous_presence(conf_id, "0", layout_mode("CP_2_1").value, [a.uri, b.uri])
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=START) == 0
        info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri=b.uri)).broadInfo
        assert (info.recordBroad, info.recordBroadStatus) == (1, 1)
        # a second start changes nothing: still one file
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=b.uri, action=START) == 0
        await asyncio.sleep(4)
        control.set_continuous_presence(conf_id, "0", layout_mode("CP_2_1").value, [b.uri, a.uri])
        await asyncio.sleep(4)
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=STOP) == 0
        info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri=a.uri)).broadInfo
        assert (info.recordBroad, info.recordBroadStatus) == (1, 0)
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri=a.uri, action=STOP) == 0
        await eventually(lambda: len(recordings(server.data_dir, conf_id)) == 1
                         and recordings(server.data_dir, conf_id)[0].with_suffix(".json").exists())
        path = recordings(server.data_dir, conf_id)[0]
        sidecar = json.loads(path.with_suffix(".json").read_text())
        await eventually(lambda: json.loads(path.with_suffix(".json").read_text())["stopped_at"]
                         is not None, what="the sidecar closed")
        sidecar = json.loads(path.with_suffix(".json").read_text())
    finally:
        for t in (a, b):
            await t.stop()
    await asyncio.sleep(1)  # the recorder's thread closes the file
    await asyncio.to_thread(check_listing_and_download, server.base_url, soap.http, path, conf_id)
    found = await asyncio.to_thread(probe, path)
    assert found["codecs"] == ["h264", "h264", "aac"]
    video, audio = found["durations"][0], found["durations"][2]
    assert 6.0 < video < 10.0, found["durations"]
    assert abs(video - audio) < 0.2, found["durations"]
    frames = found["frames"]
    assert len(frames) > 6 * 10  # decodable frames, at least 10 a second
    assert frames[0].shape == (1080, 1920)  # the recorder's fixed size
    # the conference picture: A left and B right at first, swapped after the change
    early = [sites_in(frame, "CP_2_1") for frame in frames[len(frames) // 8: len(frames) // 3]]
    late = [sites_in(frame, "CP_2_1") for frame in frames[-len(frames) // 4:]]
    assert [a.site_index, b.site_index] in early, early
    assert [b.site_index, a.site_index] in late, late
    assert {site["uri"] for site in sidecar["sites"]} == {a.uri, b.uri}
    assert [entry["sub_pics"] for entry in sidecar["layouts"]][-1] == [b.uri, a.uri]
    assert sidecar["file"] == path.name and sidecar["conf_id"] == conf_id


def check_listing_and_download(base_url: str, http: requests.Session, path: Path,
                               conf_id: str) -> None:
    """GET /recordings and the download, with the SOAP session's cookie; 401 without it; 404
    for names that are no recording's."""
    anonymous = requests.Session()
    anonymous.trust_env = False
    assert anonymous.get(base_url + "/recordings").status_code == 401
    url = f"{base_url}/recordings/{conf_id}/{path.name}"
    assert anonymous.get(url).status_code == 401
    (listed,) = http.get(base_url + "/recordings").json()["recordings"]
    assert (listed["conf_id"], listed["name"]) == (conf_id, path.name)
    assert listed["size"] == path.stat().st_size
    assert listed["tracks"] == ["h264", "h264", "aac"] and 6.0 < listed["duration_s"] < 10.5
    assert listed["sidecar"]["conf_id"] == conf_id
    downloaded = http.get(url)
    assert downloaded.status_code == 200 and downloaded.content == path.read_bytes()
    assert http.get(url.replace(".mp4", ".json")).json()["conf_id"] == conf_id
    for bad in ("../mcu.sqlite3", "..%2Fmcu.sqlite3", "x.mp4"):
        assert http.get(f"{base_url}/recordings/{conf_id}/{bad}").status_code == 404
    # the command line lists the same
    listing = subprocess.run(
        [sys.executable, "-m", "app.cli", "recordings", "--data-dir", str(path.parents[2])],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    assert json.loads(listing.stdout)["recordings"] == [listed]


def test_a_server_killed_mid_recording_leaves_a_playable_file_and_records_on(tmp_path):
    data_dir = tmp_path / "data"
    process = ServerProcess(data_dir)
    later = None
    try:
        soap = soap_clients(process.base_url)
        assert soap.login(*DEMO) == 0
        begin = datetime.now(UTC) - timedelta(minutes=1)
        booked = soap.conf_mgr.scheduleConfEx(
            scheduleConf=conference("recorded", begin, ["62001", "62002"]))
        assert booked.resultCode == 0
        conf_id = booked.conferenceInfo.confId
        assert soap.terminal_conf_ctrl.setRecordBroadEx(siteUri="62001", action=START) == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # some fragments on disk
            files = recordings(data_dir, conf_id)
            if files and files[0].stat().st_size > 50_000:
                break
            time.sleep(0.5)
        time.sleep(3)
        process.kill()
        (first,) = recordings(data_dir, conf_id)
        found = probe(first)
        assert found["codecs"] == ["h264", "h264", "aac"]
        assert found["durations"][0] > 1.0 and len(found["frames"]) > 10

        later = ServerProcess(data_dir)
        soap = soap_clients(later.base_url)
        assert soap.login(*DEMO) == 0
        info = soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri="62002").broadInfo
        assert (info.recordBroad, info.recordBroadStatus) == (1, 1)
        deadline = time.monotonic() + 60
        while len(recordings(data_dir, conf_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(recordings(data_dir, conf_id)) == 2  # a new file, the first one kept
        assert soap.terminal_conf_ctrl.setRecordBroadEx(siteUri="62002", action=STOP) == 0
        time.sleep(2)
        second = recordings(data_dir, conf_id)[1]
        assert probe(second)["codecs"] == ["h264", "h264", "aac"]
        assert probe(first)["durations"] == found["durations"]  # the first file untouched
    finally:
        process.stop()
        if later is not None:
            later.stop()


def test_a_site_booked_in_a_conference_not_running_is_in_no_conference(soap):
    """setRecordBroadEx names a site; one whose conference has not begun is in none (the
    unknown site and isRecording 0 are in tests/test_conf_ctrl.py)."""
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    booked = soap.conf_mgr.scheduleConfEx(scheduleConf=conference("later", tomorrow, ["63001"]))
    assert booked.resultCode == 0
    assert (soap.terminal_conf_ctrl.setRecordBroadEx(siteUri="63001", action=START)
            == result_codes.result_code(Fault.SITE_NOT_IN_CONFERENCE))
    assert (soap.terminal_conf_ctrl.queryBroadInfoEx(siteUri="63001").resultCode
            == result_codes.result_code(Fault.SITE_NOT_IN_CONFERENCE))
