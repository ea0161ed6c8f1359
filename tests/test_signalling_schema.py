"""Every field of every signalling message against its declared schema (rtc/signalling_schema):
refused input gets `malformed` over a real /signalling socket, which stays open (a ping still
gets its pong) and changes nothing; a handler that fails answers `internal` and keeps the
socket; a site whose call fails to be placed does not stop the others being called."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from app.process import running_server
from gateway.settings import load_settings
from gateway.signalling import SIGNALLING
from mcu.calls import Call, CallFailure
from mcu.clock import ManualClock
from mcu.endpoints import undeclared_device
from mcu.model import ConferenceSpec, SiteCallState, SiteSpec
from rtc.deadline import within
from rtc.signalling import (
    MESSAGE_TYPES,
    Capabilities,
    Ping,
    ReceiveStats,
    Register,
    SignallingError,
    StreamReceipt,
    parse_message,
)
from rtc.signalling_schema import MAX_DEPTH, SEQ_MAX, schema_of
from tests.signalling_helpers import send_register

A, B = "01010086", "01010010"
BROKEN = "01010001"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    settings = load_settings(port=0, data_dir=tmp_path)
    async with running_server(settings, clock=ManualClock()) as running:
        yield running


@pytest.fixture
async def ws(server) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as http:
        socket = await http.ws_connect(server.url("/signalling"), max_msg_size=0)
        yield socket
        await socket.close()


async def next_message(ws: aiohttp.ClientWebSocketResponse) -> dict:
    while True:
        frame = await within(ws.receive(), 5)
        assert frame.type is aiohttp.WSMsgType.TEXT, frame
        message = json.loads(frame.data)
        if message["type"] not in ("ping", "challenge"):  # challenges: send_register's
            return message


async def still_open(ws: aiohttp.ClientWebSocketResponse, seq: int = 41) -> None:
    await ws.send_str(Ping(seq).to_json())
    assert await next_message(ws) == {"type": "pong", "seq": seq}


async def refused(ws: aiohttp.ClientWebSocketResponse, frame: str) -> dict:
    await ws.send_str(frame)
    answer = await next_message(ws)
    assert answer["type"] == "error" and answer["code"] == "malformed", answer
    await still_open(ws)
    return answer


def register(**changes) -> str:
    return json.dumps({"type": "register", "uri": A, "name": "Ward 3", **changes})


# --------------------------------------------------------------------------- the schema


def test_every_field_of_every_message_declares_its_spec():
    for cls in [*MESSAGE_TYPES.values(), Capabilities]:
        assert set(schema_of(cls)) == {f.name for f in fields(cls)}, cls


def test_valid_messages_still_parse_and_unknown_keys_are_ignored():
    message = parse_message(register(capabilities={"video_codecs": ["VP8"], "extra": 1},
                                     colour="blue"))
    assert message == Register(A, "Ward 3", 7, Capabilities(video_codecs=["VP8"]))
    assert parse_message(json.dumps({"type": "ping", "seq": SEQ_MAX})) == Ping(SEQ_MAX)
    nested = {"type": "ping", "seq": 1, "x": json.loads("[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2))}
    assert parse_message(json.dumps(nested)) == Ping(1)


def test_a_receive_report_parses_with_fractions_and_nulls():
    message = parse_message(json.dumps({
        "type": "stats", "call_id": "c", "main": {"fps": 29.97, "latency_ms_p50": 80,
                                                   "latency_ms_p95": 120.5},
        "content": {"fps": 5, "latency_ms_p50": None, "latency_ms_p95": None}}))
    assert message == ReceiveStats("c", StreamReceipt(29.97, 80.0, 120.5),
                                   StreamReceipt(5.0, None, None))
    assert isinstance(message.main.latency_ms_p50, float)
    assert parse_message(message.to_json()) == message
    assert parse_message(json.dumps({"type": "stats", "call_id": "c", "main": {"fps": 0},
                                     "content": None})).content is None


# Wrong types, lengths and ranges in every message type (the MCU parses them all alike).
BAD_MESSAGES = [
    register(capabilities="lots"),
    register(capabilities=["H264"]),
    register(capabilities={"video_codecs": 5}),
    register(capabilities={"audio_codecs": [{"x": 1}]}),
    register(capabilities={"audio_codecs": ["opus"] * 17}),
    register(capabilities={"video_codecs": ["H" * 17]}),
    register(uri="1" * 129),
    register(uri="   "),
    register(uri=None),
    register(name="n" * 257),
    register(name="line\x00break"),
    register(name="\ud800"),
    register(site_type="7"),
    register(site_type=-1),
    register(site_type=True),
    register(site_type=1.5),
    json.dumps({"type": "registered", "uri": A, "ice_servers": [{"urls": 5}]}),
    json.dumps({"type": "registered", "uri": A, "ice_servers": [{"urls": "stun:x", "k": 1}]}),
    json.dumps({"type": "invite", "call_id": "c", "conf_id": "1", "conf_name": "n", "sdp": 1}),
    json.dumps({"type": "invite", "call_id": "c", "conf_id": "1" * 65, "conf_name": "n",
                "sdp": ""}),
    json.dumps({"type": "ringing", "call_id": ""}),
    json.dumps({"type": "ringing", "call_id": "c" * 129}),
    json.dumps({"type": "ringing"}),
    json.dumps({"type": "answer", "call_id": "c", "sdp": "v=0\r\n" + "a" * 65536}),
    json.dumps({"type": "answer", "call_id": "c", "sdp": ["v=0"]}),
    json.dumps({"type": "decline", "call_id": "c", "reason": "r" * 1025}),
    json.dumps({"type": "decline", "call_id": "c", "reason": 3}),
    json.dumps({"type": "join", "call_id": "c", "access_code": 123, "password": "",
                "sdp": ""}),
    json.dumps({"type": "join", "call_id": "c", "access_code": "1", "password": "p" * 65,
                "sdp": ""}),
    json.dumps({"type": "joined", "call_id": "c", "conf_id": {}, "sdp": ""}),
    json.dumps({"type": "call", "call_id": "c", "to": "", "sdp": ""}),
    json.dumps({"type": "call", "call_id": "c", "to": B, "sdp": "", "rate": "9" * 17}),
    json.dumps({"type": "bye", "call_id": 7}),
    json.dumps({"type": "ping", "seq": -1}),
    json.dumps({"type": "ping", "seq": SEQ_MAX + 1}),
    json.dumps({"type": "ping", "seq": "1"}),
    json.dumps({"type": "ping", "seq": 1.0}),
    '{"type": "ping", "seq": NaN}',
    json.dumps({"type": "pong", "seq": None}),
    json.dumps({"type": "error", "code": "", "message": "m"}),
    json.dumps({"type": "error", "code": "c", "message": "m", "call_id": 5}),
    json.dumps({"type": ["register"]}),
    json.dumps({"type": None}),
    "[" * 100_000 + "]" * 100_000,
    '{"type": "ping", "seq": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"type": "ping", "seq": 1, "x": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}",
    '{"type": "ping", "seq": ' + "9" * 5000 + "}",
    '{"type": "ping", "seq": 1, "x": ' + "9" * 5000 + "}",
    '{"type": "ping", "seq": 1, "x": 1e' + "9" * 5000 + "}",
]


BAD_REPORTS = [  # `stats` (docs/signalling.md, "Receive statistics")
    *(json.dumps({"type": "stats", "call_id": "c", **fields}) for fields in (
        {},  # no main
        {"main": {}},  # no fps
        {"main": {"fps": -1}},
        {"main": {"fps": 241}},
        {"main": {"fps": "25"}},
        {"main": {"fps": True}},
        {"main": {"fps": 25, "latency_ms_p50": 80}},  # p95 missing: both or neither
        {"main": {"fps": 25, "latency_ms_p50": 80, "latency_ms_p95": 60}},  # p95 < p50
        {"main": {"fps": 25, "latency_ms_p50": -1, "latency_ms_p95": 60}},
        {"main": {"fps": 25, "latency_ms_p50": 80, "latency_ms_p95": 60_001}},
        {"main": [25]},
        {"main": {"fps": 25}, "content": {"fps": 1e300}},
        {"main": {"fps": 25}, "content": "none"},
    )),
    '{"type": "stats", "call_id": "c", "main": {"fps": NaN}}',
    '{"type": "stats", "call_id": "c", "main": {"fps": Infinity}}',
]


@pytest.mark.parametrize("frame", BAD_MESSAGES + BAD_REPORTS,
                         ids=range(len(BAD_MESSAGES) + len(BAD_REPORTS)))
def test_the_parser_refuses_with_a_signalling_error(frame):
    with pytest.raises(SignallingError):
        parse_message(frame)


async def test_refused_messages_get_malformed_and_the_socket_stays_open(server, ws):
    for frame in BAD_MESSAGES:
        await refused(ws, frame)
    assert len(server.gateway.runtime.registry) == 0  # nothing registered by any of them


async def test_a_refused_register_changes_nothing(server, ws):
    await send_register(ws, Register(A, "Ward 3"))
    assert (await next_message(ws))["type"] == "registered"
    endpoint = server.gateway.runtime.registry.lookup(A)
    async with aiohttp.ClientSession() as http:
        other = await http.ws_connect(server.url("/signalling"))
        for capabilities in ("lots", ["H264"], {"video_codecs": 5}, {"audio_codecs": [{"x": 1}]}):
            answer = await refused(other, register(capabilities=capabilities))
            assert "capabilities" in answer["message"]
        await other.close()
    assert server.gateway.runtime.registry.lookup(A) is endpoint  # not replaced
    assert len(server.gateway.runtime.registry) == 1
    await still_open(ws, 7)


async def test_a_failing_handler_answers_internal_and_keeps_the_socket(server, ws, monkeypatch):
    hub = server.app[SIGNALLING]

    def explode(*_args) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hub.p2p, "place", explode)
    await send_register(ws, Register(A, "Ward 3"))
    assert (await next_message(ws))["type"] == "registered"
    await ws.send_str(json.dumps({"type": "call", "call_id": "c1", "to": B, "sdp": "v=0"}))
    answer = await next_message(ws)
    assert answer == {"type": "error", "code": "internal",
                      "message": "call failed: RuntimeError", "call_id": "c1"}
    await still_open(ws)
    assert A in server.gateway.runtime.registry


# ------------------------------------------------------- each call attempt isolated


class AnsweringTerminal:
    """An endpoint that answers every call at once."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.device = undeclared_device()
        self.offers = 0

    def offer_call(self, call: Call) -> None:
        self.offers += 1
        call.answer(self)

    def call_ended(self, call: Call) -> None:
        pass


class BrokenTerminal(AnsweringTerminal):
    """An endpoint whose offer raises, as one registered with unusable capabilities did."""

    def offer_call(self, call: Call) -> None:
        self.offers += 1
        raise AttributeError("'str' object has no attribute 'audio_codecs'")


def wait_for(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_site_whose_call_raises_does_not_stop_the_others(gateway_server, soap):
    gateway = gateway_server.gateway
    broken, healthy = BrokenTerminal(BROKEN), [AnsweringTerminal(A), AnsweringTerminal(B)]
    for endpoint in (broken, *healthy):
        gateway.runtime.registry.register(endpoint)
    spec = ConferenceSpec(
        name="consultation", begin=gateway.clock.now(), duration=timedelta(hours=1),
        sites=[SiteSpec(uri, name=f"site {uri}") for uri in (BROKEN, A, B)],
    )
    conf_id = gateway.scheduler.schedule(spec).conf_id  # started, and dialled, by the server

    def statuses() -> dict:
        answer = soap.conf_mgr.queryConfSitesStatusEx(confId=conf_id)
        return {site.uri: site for site in answer.siteStatuses or []}

    wait_for(lambda: statuses().get(B) is not None
             and statuses()[B].status == SiteCallState.IN_CONFERENCE, "the healthy sites")
    sites = statuses()
    assert sites[A].status == SiteCallState.IN_CONFERENCE
    assert sites[BROKEN].status == SiteCallState.NOT_JOINED
    reason = sites[BROKEN].callFailedReason
    assert reason.errCode == CallFailure.NETWORK_ERROR
    assert "AttributeError" in reason.discription and "audio_codecs" in reason.discription

    # connectSitesEx: 0 for the attempts, the broken one fails the same way, the others
    # (already joined) are left as they are
    assert soap.conf_mgr.connectSitesEx(confId=conf_id, siteUris=[BROKEN, A, B]) == 0
    sites = statuses()
    assert broken.offers == 2 and [t.offers for t in healthy] == [1, 1]
    assert sites[BROKEN].status == SiteCallState.NOT_JOINED
    assert sites[BROKEN].callFailedReason.errCode == CallFailure.NETWORK_ERROR
    assert sites[A].status == sites[B].status == SiteCallState.IN_CONFERENCE
