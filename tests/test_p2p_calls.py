"""Point-to-point calls: a registered simulated terminal calls another through the MCU's
signalling; the MCU relays offer and answer, the media flows terminal to terminal (each
decodes the other's marker and hears its voice); the hang-up writes a record that
queryPointToPointCDREx answers (zeep, reference WSDL). Bad `call` messages are answered with
signalling errors and change nothing. A call not answered within the call timeout is ended by
the platform (bye to both, record 129).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta

import aiohttp
import pytest

from gateway.settings import load_settings
from mcu.clock import ManualClock
from terminals.client import CallRefused, SimulatedTerminal
from terminals.media_sources import VideoFormat as SentVideo
from tests.conftest import DEMO, ServerThread, soap_clients
from tests.signalling_helpers import auth_for, read_challenge, send_register
from tests.test_cdr import ws_url

SMALL = SentVideo(640, 360, 15, 500_000)
WAIT_S = 40.0
DAY = timedelta(days=1)


async def eventually_async(predicate: Callable, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def terminal(uri: str, index: int) -> SimulatedTerminal:
    return SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                             video_format=SMALL, loop_frames=30, analyse_every=1)


def p2p_records(soap, begin, uri=None, per_page=10, page=1):
    config = {"beginTime": begin, "duration": DAY,
              "pageParam": {"numberPerPage": per_page, "currentPage": page}}
    if uri is not None:
        config["endPoint"] = {"type": 7, "siteUri": uri}
    return soap.conf_mgr.queryPointToPointCDREx(queryConfig=config)


async def test_a_p2p_call_carries_media_both_ways_and_leaves_a_record(
        gateway_server, soap, clock):
    caller, callee = terminal("0187001", 50), terminal("0187002", 51)
    for t in (caller, callee):
        await t.start(ws_url(gateway_server.base_url))
        t.set_panes([(0.0, 0.0, 1.0, 1.0)])
    try:
        began = clock.now()
        await caller.call(callee.uri, rate="1024k")

        async def each_sees_the_other() -> bool:
            seen = [(await t.read_panes())[0].site_index for t in (caller, callee)]
            return seen == [51, 50]

        await eventually_async(each_sees_the_other, "each decodes the other's marker")

        async def each_hears_the_other() -> bool:
            return (caller.heard().get(callee.uri, 0) > 0.25
                    and callee.heard().get(caller.uri, 0) > 0.25)

        await eventually_async(each_hears_the_other, "each hears the other")
        # no conference is involved: the platform only relayed the signalling
        assert gateway_server.gateway.runtime.conferences.ids() == []
        ongoing = await asyncio.to_thread(p2p_records, soap, began - timedelta(minutes=1))
        assert ongoing.resultCode == 0 and not ongoing.cdr

        clock.advance(timedelta(seconds=40))
        await callee.hang_up()
        await eventually_async(lambda: _idle(caller), "the caller hears the bye")

        answer = await asyncio.to_thread(p2p_records, soap, began - timedelta(minutes=1))
        assert answer.resultCode == 0 and answer.pageInfo.totalRecords == 1
        (record,) = answer.cdr
        assert (record.callingUri, record.callingProtocol, record.calledUri,
                record.calledProtocol, record.rate) == (caller.uri, 7, callee.uri, 7, "1024k")
        assert record.startTime == began
        assert record.endTime - record.startTime == timedelta(seconds=40)
        stored = gateway_server.gateway.runtime.call_records.point_to_point(
            began, DAY, None, 10, 1).records[0]
        assert stored.media.video_codec == caller.stats().video_codec
        assert stored.media.audio_codec == "OPUS"
        assert (stored.end.code, stored.end.reason) == (0, "hang up")

        # endPoint filter: either end selects the call, a third URI none
        for uri, count in ((caller.uri, 1), (callee.uri, 1), ("0187999", 0)):
            found = await asyncio.to_thread(p2p_records, soap, began - timedelta(minutes=1), uri)
            assert found.pageInfo.totalRecords == count
        # a multipoint query does not answer it
        multipoint = await asyncio.to_thread(soap.conf_mgr.queryMultiPointCDREx, queryConfig={
            "beginTime": began - timedelta(minutes=1), "duration": DAY,
            "pageParam": {"numberPerPage": 5, "currentPage": 1}})
        assert multipoint.pageInfo.totalRecords == 0
    finally:
        for t in (caller, callee):
            await t.stop()


async def _idle(t: SimulatedTerminal) -> bool:
    return t.state == "idle"


async def test_a_declined_p2p_call_is_refused_and_recorded(gateway_server, soap, clock):
    caller, callee = terminal("0187003", 52), terminal("0187004", 53)
    callee.answer_mode = "decline"
    for t in (caller, callee):
        await t.start(ws_url(gateway_server.base_url))
    try:
        began = clock.now()
        try:
            await caller.call(callee.uri)
        except CallRefused as refusal:
            assert "declined" in str(refusal)
        else:
            raise AssertionError("a declined call was answered")
        answer = await asyncio.to_thread(p2p_records, soap, began - timedelta(minutes=1))
        (record,) = answer.cdr
        assert record.startTime == record.endTime == began  # never answered
        stored = gateway_server.gateway.runtime.call_records.point_to_point(
            began, DAY, None, 10, 1).records[0]
        assert stored.end.code == 115  # callee rejected
    finally:
        for t in (caller, callee):
            await t.stop()


async def test_bad_call_messages_are_answered_with_errors_and_change_nothing(
        gateway_server, soap, clock):
    other = terminal("0187006", 54)
    await other.start(ws_url(gateway_server.base_url))
    runtime = gateway_server.gateway.runtime
    try:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(ws_url(gateway_server.base_url)) as ws:

            async def send(message: dict) -> dict:
                await ws.send_str(json.dumps(message))
                while True:
                    reply = json.loads((await ws.receive(timeout=10)).data)
                    if reply["type"] not in ("ping", "pong"):
                        return reply

            offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
            challenge = await read_challenge(ws)
            unregistered = await send({"type": "call", "call_id": "c0", "to": other.uri,
                                       "sdp": offer})
            assert (unregistered["type"], unregistered["code"]) == ("error", "unauthorized")
            assert (await send({"type": "register", "uri": "0187005", "name": "raw",
                                "auth": auth_for("0187005", challenge)}))["type"] == "registered"
            cases = [
                ({"type": "call", "call_id": "c1", "to": "0187999", "sdp": offer},
                 "unknown_callee"),
                ({"type": "call", "call_id": "c2", "to": "0187005", "sdp": offer},
                 "call_refused"),
                ({"type": "call", "call_id": "c3", "to": other.uri, "sdp": "hello"}, "bad_sdp"),
                ({"type": "call", "call_id": "c4", "sdp": offer}, "malformed"),
                ({"type": "call", "call_id": "c5", "to": 17, "sdp": offer}, "malformed"),
                ({"type": "call", "call_id": "  ", "to": other.uri, "sdp": offer},
                 "call_refused"),
                ({"type": "call", "call_id": "", "to": other.uri, "sdp": offer},
                 "malformed"),  # the schema: call_id is 1..128 characters
                ({"type": "answer", "call_id": "c9", "sdp": offer}, "unknown_call"),
            ]
            for message, code in cases:
                reply = await send(message)
                assert (reply["type"], reply["code"]) == ("error", code), message
            # nothing changed: no call open, the other terminal was never invited
            assert runtime.p2p.calls_of("0187005") == []
            assert runtime.p2p.calls_of(other.uri) == []
            assert other.state == "idle"
        answer = await asyncio.to_thread(p2p_records, soap, clock.now() - timedelta(hours=1))
        assert answer.pageInfo.totalRecords == 0
    finally:
        await other.stop()


RING_TIMEOUT_S = 1.5


async def test_an_unanswered_p2p_call_ends_at_the_call_timeout(tmp_path):
    """[mcu] call_timeout_seconds applies to point-to-point calls: a callee that rings but
    never answers is sent `bye` "no answer", so is the caller, and the record says 129. A
    call answered in time is not cut by it."""
    settings = load_settings(port=0, data_dir=tmp_path / "data",
                             call_timeout_seconds=RING_TIMEOUT_S)
    clock = ManualClock()
    thread = ServerThread(settings, clock)
    server = thread.start()
    try:
        soap = await asyncio.to_thread(soap_clients, server.base_url)
        assert await asyncio.to_thread(soap.login, *DEMO) == 0
        runtime = server.gateway.runtime
        offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(ws_url(server.base_url)) as caller, \
                http.ws_connect(ws_url(server.base_url)) as callee:
            for ws, uri in ((caller, "0187101"), (callee, "0187102")):
                await send_register(ws, {"type": "register", "uri": uri, "name": uri})
                assert (await _next(ws))["type"] == "registered"

            placed = clock.now()
            await caller.send_str(json.dumps(
                {"type": "call", "call_id": "ring-1", "to": "0187102", "sdp": offer}))
            sent = time.monotonic()
            invite = await _next(callee)
            assert (invite["type"], invite["call_id"], invite["caller"]) == (
                "invite", "ring-1", "0187101")
            await callee.send_str(json.dumps({"type": "ringing", "call_id": "ring-1"}))
            assert (await _next(caller))["type"] == "ringing"
            clock.advance(timedelta(seconds=7))  # the record's times are on the server clock

            # nobody answers: at the timeout both ends are told, the call is gone
            to_caller, to_callee = await _next(caller), await _next(callee)
            waited = time.monotonic() - sent
            for bye in (to_caller, to_callee):
                assert bye == {"type": "bye", "call_id": "ring-1", "reason": "no answer"}
            assert RING_TIMEOUT_S - 0.2 <= waited < RING_TIMEOUT_S + 3.0
            assert runtime.p2p.calls_of("0187101") == runtime.p2p.calls_of("0187102") == []
            # an answer after it is too late: there is no call to answer any more
            await callee.send_str(json.dumps({"type": "answer", "call_id": "ring-1",
                                              "sdp": offer}))
            late = await _next(callee)
            assert (late["type"], late["code"]) == ("error", "unknown_call")

            answer = await asyncio.to_thread(p2p_records, soap, placed - timedelta(minutes=1))
            assert answer.resultCode == 0 and answer.pageInfo.totalRecords == 1
            (record,) = answer.cdr
            assert (record.callingUri, record.calledUri) == ("0187101", "0187102")
            assert record.startTime == placed  # never answered: start is the placing
            assert record.endTime == placed + timedelta(seconds=7)
            stored = runtime.call_records.point_to_point(placed, DAY, None, 10, 1).records[0]
            assert (stored.end.code, stored.end.reason) == (
                129, f"not answered within {RING_TIMEOUT_S:g} s")
            assert stored.times.answered is None

            # a call answered in time outlives the timeout and ends by its bye
            await caller.send_str(json.dumps(
                {"type": "call", "call_id": "ring-2", "to": "0187102", "sdp": offer}))
            assert (await _next(callee))["type"] == "invite"
            await callee.send_str(json.dumps({"type": "answer", "call_id": "ring-2",
                                              "sdp": offer}))
            assert (await _next(caller))["type"] == "answer"
            with pytest.raises(TimeoutError):
                await _next(caller, timeout=RING_TIMEOUT_S + 1.0)
            assert [call.call_id for call in runtime.p2p.calls_of("0187101")] == ["ring-2"]
            await caller.send_str(json.dumps({"type": "bye", "call_id": "ring-2"}))
            assert (await _next(callee))["type"] == "bye"
            ended = runtime.call_records.point_to_point(placed, DAY, None, 10, 1).records
            assert [(r.call_id, r.end.code) for r in ended] == [("ring-1", 129), ("ring-2", 0)]
    finally:
        thread.stop()


async def _next(ws, timeout: float = 10.0) -> dict:
    """The next message that is not a heartbeat (ping answered so the socket stays alive)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads((await ws.receive()).data)
            if message["type"] == "ping":
                await ws.send_str(json.dumps({"type": "pong", "seq": message.get("seq")}))
            elif message["type"] != "pong":
                return message
