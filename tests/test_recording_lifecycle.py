"""The recorder's life from the outside (a real server, setRecordBroadEx and
queryBroadInfoEx over SOAP with zeep from the reference WSDL): every recorder ends, its
thread gone and its file closed (playable), within recorder.JOIN_TIMEOUT_S when the
recording is stopped, when its conference ends, and when the server stops; a recorder
that fails (here: its directory cannot be made, a disk error) is reported as not
recording (recordBroadStatus 0), its failure is in the log and a new start records again.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from app.process import running_server
from gateway.settings import load_settings
from mcu.clock import ManualClock
from mcu.media.recorder import JOIN_TIMEOUT_S
from tests.conftest import DEMO, soap_clients
from tests.test_media_acceptance import book, eventually

START, STOP = 0, 1


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=600.0)
    async with running_server(settings, clock=clock) as running:
        running.clock = clock
        running.data_dir = tmp_path
        yield running


def recorder_threads(conf_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"recorder {conf_id}" and t.is_alive()]


def files_of(data_dir: Path, conf_id: str) -> list[Path]:
    return sorted((data_dir / "recordings" / conf_id).glob("*.mp4"))


def video_packets(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


async def gone_within(conf_id: str, seconds: float) -> float:
    """How long the conference's recorder threads took to end (fails past `seconds`)."""
    began = time.monotonic()
    while recorder_threads(conf_id):
        assert time.monotonic() - began < seconds, f"recorder of {conf_id} still running"
        await asyncio.sleep(0.1)
    return time.monotonic() - began


async def test_every_recorder_ends_on_stop_on_conference_end_and_on_server_stop(tmp_path):
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=600.0)
    async with running_server(settings, clock=clock) as server:
        server.clock = clock
        soap = await asyncio.to_thread(soap_clients, server.base_url)
        assert await asyncio.to_thread(soap.login, *DEMO) == 0
        call, mgr = soap.terminal_conf_ctrl, soap.conf_mgr
        first = book(server, ["81001", "81002"])
        second = book(server, ["81003"])

        # stopped by setRecordBroadEx
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="81001", action=START) == 0
        assert len(recorder_threads(first)) == 1
        await eventually(lambda: bool(files_of(tmp_path, first))
                         and files_of(tmp_path, first)[0].stat().st_size > 20_000,
                         what="a fragment on disk", timeout=60)
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="81001", action=STOP) == 0
        await gone_within(first, JOIN_TIMEOUT_S)
        assert video_packets(files_of(tmp_path, first)[0]) > 0

        # ended with its conference (delScheduledConfEx of the ongoing conference)
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="81002", action=START) == 0
        assert len(recorder_threads(first)) == 1
        await eventually(lambda: len(files_of(tmp_path, first)) == 2, what="a second file")
        await asyncio.sleep(2)
        answer = await asyncio.to_thread(mgr.delScheduledConfEx, confId=first,
                                         beginTime=None)
        assert answer == 0
        await gone_within(first, JOIN_TIMEOUT_S)
        sidecar = json.loads(files_of(tmp_path, first)[1].with_suffix(".json").read_text())
        assert sidecar["stopped_at"] is not None and sidecar["errors"] == []

        # still recording when the server stops
        assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="81003", action=START) == 0
        await eventually(lambda: bool(files_of(tmp_path, second)), what="the file")
        await asyncio.sleep(2)
        assert len(recorder_threads(second)) == 1
    # running_server has returned: the recorder finished inside the server's shutdown
    assert recorder_threads(second) == []
    sidecar = json.loads(files_of(tmp_path, second)[0].with_suffix(".json").read_text())
    assert sidecar["stopped_at"] is not None
    assert video_packets(files_of(tmp_path, second)[0]) > 0


async def test_a_failed_recorder_is_reported_not_recording_and_a_start_records_again(
        server, caplog):
    soap = await asyncio.to_thread(soap_clients, server.base_url)
    assert await asyncio.to_thread(soap.login, *DEMO) == 0
    call = soap.terminal_conf_ctrl
    conf_id = book(server, ["82001"])
    # the conference's recordings directory cannot be made: a file is in its place
    blocker = server.data_dir / "recordings" / conf_id
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")
    assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="82001", action=START) == 0
    info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri="82001")).broadInfo
    assert (info.recordBroad, info.recordBroadStatus) == (1, 0)  # supported, not recording
    await asyncio.sleep(1)
    info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri="82001")).broadInfo
    assert info.recordBroadStatus == 0
    assert any("failed" in record.getMessage() and conf_id in record.getMessage()
               for record in caplog.records if record.name == "mcu.media.recorder")

    # the disk is fixed: a start records again, into a file, and is reported recording
    blocker.unlink()
    assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="82001", action=START) == 0
    info = (await asyncio.to_thread(call.queryBroadInfoEx, siteUri="82001")).broadInfo
    assert info.recordBroadStatus == 1
    await eventually(lambda: bool(files_of(server.data_dir, conf_id))
                     and files_of(server.data_dir, conf_id)[0].stat().st_size > 20_000,
                     what="the new recording on disk", timeout=60)
    assert await asyncio.to_thread(call.setRecordBroadEx, siteUri="82001", action=STOP) == 0
    await gone_within(conf_id, JOIN_TIMEOUT_S)
    (path,) = files_of(server.data_dir, conf_id)
    assert video_packets(path) > 0
    assert json.loads(path.with_suffix(".json").read_text())["errors"] == []
