"""Call detail records through zeep from the reference WSDL: queryMultiPointCDREx answers a
record for every real call of simulated terminals once it ended (its fields, filters and
pages), and the records survive a SIGKILL and restart of `mcu-sim serve` on the same data
directory. Point-to-point records: tests/test_p2p_calls.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import result_codes
from mcu.errors import Fault
from terminals.client import SimulatedTerminal
from terminals.media_sources import VideoFormat as SentVideo
from tests.conftest import DEMO, TESTER, SoapClients
from tests.test_restart_persistence import ServerProcess, start

SMALL = SentVideo(640, 360, 15, 500_000)
WAIT_S = 40.0
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
BAD_TIME = result_codes.result_code(Fault.BAD_TIME)
DAY = timedelta(days=1)


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def terminal(uri: str, index: int) -> SimulatedTerminal:
    return SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                             video_format=SMALL, loop_frames=30, analyse_every=1 << 30,
                             decode_video=False)


def ws_url(base_url: str) -> str:
    return base_url.replace("http", "ws", 1) + "/signalling"


def book(soap: SoapClients, name: str, begin: datetime, uris: list[str], **extra) -> str:
    info = {
        "name": name, "beginTime": begin, "duration": timedelta(hours=1),
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0, "rate": "1920k",
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": 1} for uri in uris],
        **extra,
    }
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=info)
    assert answer.resultCode == 0
    return answer.conferenceInfo.confId


def multipoint(soap: SoapClients, begin: datetime, duration: timedelta = DAY,
               site_uri: str | None = None, per_page: int = 10, page: int = 1):
    config = {"beginTime": begin, "duration": duration,
              "pageParam": {"numberPerPage": per_page, "currentPage": page}}
    if site_uri is not None:
        config["siteUri"] = site_uri
    return soap.conf_mgr.queryMultiPointCDREx(queryConfig=config)


def site_states(soap: SoapClients, conf_id: str) -> dict[str, int]:
    answer = soap.conf_mgr.queryConfSitesStatusEx(confId=conf_id)
    return {status.uri: status.status for status in answer.siteStatuses or []}


IN_CONFERENCE = 2


async def test_a_real_multipoint_call_leaves_a_record_when_it_ends(gateway_server, soap,
                                                                 soap_login, clock):
    uris = ["0188001", "0188002"]
    booker = soap_login(*TESTER)  # books; `soap` (demo) queries: the creator is the booker
    terminals = [terminal(uri, 40 + i) for i, uri in enumerate(uris)]
    for t in terminals:
        await t.start(ws_url(gateway_server.base_url))
    try:
        began = clock.now()
        conf_id = await asyncio.to_thread(book, booker, "CDR rounds", began, uris,
                                          billCode="ward-7")
        runtime = gateway_server.gateway.runtime
        await eventually(lambda: all(s.state.value == IN_CONFERENCE
                                     for s in runtime.status.site_statuses(conf_id)),
                         "both in conference")
        # nothing is recorded while the calls go on
        ongoing = await asyncio.to_thread(multipoint, soap, began - timedelta(hours=1))
        assert ongoing.resultCode == 0 and not ongoing.cdr
        assert ongoing.pageInfo.totalRecords == 0

        clock.advance(timedelta(seconds=50))
        hung_up = await asyncio.to_thread(
            soap.conf_mgr.disconnectSitesEx, confId=conf_id, siteUris=[uris[0]])
        assert hung_up == 0
        await eventually(lambda: terminals[0].state == "idle", "hung up")
        answer = await asyncio.to_thread(multipoint, soap, began - timedelta(hours=1))
        assert answer.resultCode == 0
        assert answer.pageInfo.totalRecords == 1 and answer.pageInfo.totalPages == 1
        (record,) = answer.cdr
        assert (record.siteUri, record.siteName, record.siteType) == (uris[0], f"Site {uris[0]}", 7)
        assert (record.conferenceId, record.conferenceName, record.billCode) == (
            conf_id, "CDR rounds", "ward-7")
        assert record.conferenceCreater == TESTER[0]  # the account that booked it
        assert record.rate == "1920k"  # the rate its media was encoded at
        assert record.startTime == began  # answered at once on the manual clock
        assert record.endTime - record.startTime == timedelta(seconds=50)

        # the domain record keeps what the wire has no member for
        stored = gateway_server.gateway.runtime.call_records.multipoint(
            began, DAY, uris[0], 10, 1).records[0]
        assert stored.media.video_codec in ("H264", "VP8")
        assert stored.media.audio_codec == "OPUS"
        assert stored.media.video_format == "704x576@30"  # videoFormat 1: 4CIF
        assert stored.direction.name == "DIAL_OUT"
        assert (stored.end.code, stored.end.reason) == (
            0, "disconnected by the MCU (disconnectSitesEx)")

        # the conference ending ends the other call: its record follows
        clock.advance(timedelta(seconds=20))
        gone = await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id)
        assert gone == 0
        await eventually(lambda: terminals[1].state == "idle", "conference ended")
        both = await asyncio.to_thread(multipoint, soap, began - timedelta(hours=1))
        assert [r.siteUri for r in both.cdr] == uris
        assert both.cdr[1].endTime - both.cdr[1].startTime == timedelta(seconds=70)

        # filters and pages
        one = await asyncio.to_thread(multipoint, soap, began - timedelta(hours=1),
                                      site_uri=uris[1])
        assert [r.siteUri for r in one.cdr] == [uris[1]]
        page2 = await asyncio.to_thread(multipoint, soap, began - timedelta(hours=1),
                                        per_page=1, page=2)
        assert [r.siteUri for r in page2.cdr] == [uris[1]]
        assert (page2.pageInfo.totalPages, page2.pageInfo.currentPage,
                page2.pageInfo.totalRecords) == (2, 2, 2)
        past = await asyncio.to_thread(multipoint, soap, began - timedelta(hours=1),
                                       per_page=1, page=3)
        assert past.cdr == [] or past.cdr is None
        assert past.pageInfo.totalRecords == 2
        later = await asyncio.to_thread(multipoint, soap, began + timedelta(seconds=1))
        assert not later.cdr and later.pageInfo.totalRecords == 0
    finally:
        for t in terminals:
            await t.stop()


@pytest.mark.parametrize("change", [
    {"pageParam": {"numberPerPage": 0, "currentPage": 1}},
    {"pageParam": {"numberPerPage": 5, "currentPage": 0}},
    {"duration": timedelta(0)},
])
def test_a_malformed_cdr_query_is_refused(soap, change):
    config = {"beginTime": datetime(2026, 1, 1, tzinfo=UTC), "duration": DAY,
              "pageParam": {"numberPerPage": 5, "currentPage": 1}, **change}
    answer = soap.conf_mgr.queryMultiPointCDREx(queryConfig=config)
    assert answer.resultCode in (OUT_OF_RANGE, BAD_TIME) and not answer.cdr
    p2p = soap.conf_mgr.queryPointToPointCDREx(queryConfig=config)
    assert p2p.resultCode == answer.resultCode


def test_a_p2p_query_needs_a_known_end_point_type(soap):
    config = {"beginTime": datetime(2026, 1, 1, tzinfo=UTC), "duration": DAY,
              "endPoint": {"type": 99, "siteUri": "0188001"},
              "pageParam": {"numberPerPage": 5, "currentPage": 1}}
    assert soap.conf_mgr.queryPointToPointCDREx(queryConfig=config).resultCode == OUT_OF_RANGE


async def test_records_survive_a_kill_and_restart(tmp_path: Path):
    data_dir = tmp_path / "data"
    processes: list[ServerProcess] = []
    uris = ["0189001", "0189002"]
    terminals = [terminal(uri, 44 + i) for i, uri in enumerate(uris)]
    try:
        soap = await asyncio.to_thread(start, processes, data_dir)
        for t in terminals:
            await t.start(ws_url(processes[0].base_url))
        began = datetime.now(UTC)
        conf_id = await asyncio.to_thread(book, soap, "before the crash", began, uris)
        deadline = time.monotonic() + WAIT_S
        while await asyncio.to_thread(site_states, soap, conf_id) != dict.fromkeys(
                uris, IN_CONFERENCE):
            assert time.monotonic() < deadline, "both in conference"
            await asyncio.sleep(0.3)
        assert await asyncio.to_thread(
            soap.conf_mgr.disconnectSitesEx, confId=conf_id, siteUris=[uris[0]]) == 0
        await eventually(lambda: terminals[0].state == "idle", "hung up")
        before = await asyncio.to_thread(multipoint, soap, began - timedelta(minutes=1))
        assert [r.siteUri for r in before.cdr] == [uris[0]]
        assert before.cdr[0].conferenceCreater == DEMO[0]  # start() logs in as demo
        await asyncio.to_thread(processes[0].kill)  # the other call is cut by the crash

        soap = await asyncio.to_thread(start, processes, data_dir)
        after = await asyncio.to_thread(multipoint, soap, began - timedelta(minutes=1))
        assert after.resultCode == 0
        assert [(r.siteUri, r.conferenceId, r.conferenceName, r.conferenceCreater,
                 r.startTime, r.endTime) for r in after.cdr] == [
            (r.siteUri, r.conferenceId, r.conferenceName, r.conferenceCreater, r.startTime,
             r.endTime) for r in before.cdr]
    finally:
        for t in terminals:
            await t.stop()
        for process in processes:
            process.stop()
