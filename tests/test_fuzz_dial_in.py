"""Fuzzing the dial-in SDP path (docs/security.md, "Fuzzing"): a booked site joins an
ongoing conference with the right access code (and mostly the right password) and a real
WebRTC offer (audio and video, as a browser sends), mutated line by line: lines dropped,
duplicated, truncated, replaced by junk (any UTF-8, control characters included) or given
another value. The socket and the server are tests/test_fuzz_signalling.py's.

Properties, for every join:
- it is answered for its call_id within ANSWER_WITHIN_S: `joined`, or an `error` with a code
  of JOIN_OUTCOMES (never `internal`); `malformed` exactly when the schema refuses the
  message (a control character in the SDP), `wrong_password` for a wrong password otherwise;
- a refused join leaves nothing behind: the site not joined, no call session on the MCU;
  a joined call hangs up cleanly with `bye`;
- the socket is kept: a `ping` afterwards gets its `pong`.

What this found: a join whose SDP the schema refused was answered `malformed` without its
call_id, so a terminal (and the first draft of this test) waited for an answer to that call
forever; it now carries the call_id (rtc/signalling.py, SignallingError.call_id).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from hypothesis import event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.process import RunningServer
from gateway.settings import Settings
from mcu.clock import ManualClock
from mcu.model import SiteCallState
from rtc.signalling import SignallingError, parse_message
from tests.conftest import SoapClients
from tests.signalling_helpers import webrtc_offer, without_dial_in_limits
from tests.test_fuzz_signalling import REGISTERED_URI, SignallingTarget

ANSWER_WITHIN_S = 20.0  # the MCU's negotiation bound (10 s) plus the shared machine's slack
JOIN_OUTCOMES = frozenset({"bad_sdp", "codec_mismatch", "wrong_password", "malformed"})


@st.composite
def mutated_sdp(draw: st.DrawFn, base: str) -> str:
    lines = base.splitlines()
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "dup", "junk", "value", "truncate"]))
        if kind == "drop":
            del lines[at]
        elif kind == "dup":
            lines.insert(at, lines[at])
        elif kind == "junk":
            lines[at] = draw(st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"),
                                     max_size=40))
        elif kind == "value":  # the line's key kept, its value replaced
            key = lines[at].split("=", 1)[0] if "=" in lines[at] else "a"
            lines[at] = key + "=" + draw(st.sampled_from(
                ["", "0", "-1", "99999999999999999999", "x y z", "rtpmap:96", "audio 9",
                 "video 0 RTP/AVP", "group:BUNDLE", "fingerprint:sha-256 ZZ", "rtpmap:96 /"]))
        else:
            lines = lines[:at]
        if not lines:
            lines = [""]
    return "\r\n".join(lines) + "\r\n"


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    # the dial-in attempt limits are not under test here (tests/test_dial_in_limits.py):
    # lifted, so that every `join` reaches the conference, its password and its SDP
    return without_dial_in_limits(gateway_settings)


@pytest.fixture
def signalling(gateway_server: RunningServer) -> Iterator[SignallingTarget]:
    target = SignallingTarget(gateway_server)
    try:
        yield target
    finally:
        target.close()


@pytest.fixture
def dial_in(signalling: SignallingTarget, soap: SoapClients,
            clock: ManualClock) -> tuple[str, str, str, str]:
    """(conf_id, access code, password, a real offer): an ongoing conference that books the
    fuzzer's registered terminal as a dial-in site."""
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf={
        "name": "fuzz dial-in", "beginTime": clock.now(), "duration": timedelta(hours=2),
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0, "rate": "1920k",
        "sites": [{"name": "fuzz", "uri": REGISTERED_URI, "type": 4, "from": 0,
                   "dialingMode": 1}],
    })
    assert answer.resultCode == 0, answer
    info = answer.conferenceInfo
    offer = signalling.loop.run_until_complete(webrtc_offer())
    return info.confId, info.accessCode, info.password, offer


async def answer_to(ws: aiohttp.ClientWebSocketResponse, text: str, call_id: str) -> dict[str, Any]:
    """Send `text`; the first message the MCU sends about `call_id` (the answer to a join
    comes from its negotiation task, possibly after other messages)."""
    await ws.send_str(text)
    while True:
        frame = await ws.receive(timeout=ANSWER_WITHIN_S)
        assert frame.type is aiohttp.WSMsgType.TEXT, f"socket dropped: {frame}"
        reply = json.loads(frame.data)
        if reply.get("call_id") == call_id:
            return reply


def left_nothing(signalling: SignallingTarget, conf_id: str) -> bool:
    endpoint = signalling.hub.connections[REGISTERED_URI].endpoint
    states = {status.uri: status.state
              for status in signalling.hub.runtime.status.site_statuses(conf_id)}
    return (endpoint is not None and not endpoint.sessions
            and states[REGISTERED_URI] is SiteCallState.NOT_JOINED)


async def until(predicate: Any, what: str, timeout: float = ANSWER_WITHIN_S) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


# ci: 50 examples (a join is a real negotiation; the 50 take a few seconds);
# `make fuzz` (the fuzz profile): 1,500
@hypothesis_settings(max_examples=max(10, hypothesis_settings().max_examples // 2))
@given(data=st.data())
def test_dial_in_offers_are_answered_and_leave_nothing_behind(
    signalling: SignallingTarget, dial_in: tuple[str, str, str, str], data: st.DataObject
) -> None:
    conf_id, access_code, password, offer = dial_in
    signalling.seq += 1
    call_id = f"fuzz-join-{signalling.seq}"
    sdp = data.draw(st.one_of(mutated_sdp(offer), st.just(offer)), label="sdp")
    given_password = data.draw(st.sampled_from([password, password, password, "wrong"]),
                               label="password")
    join = json.dumps({"type": "join", "call_id": call_id, "access_code": access_code,
                       "password": given_password, "sdp": sdp})
    try:
        parse_message(join)
        schema_refuses = False
    except SignallingError:
        schema_refuses = True
    ws = signalling.sockets["registered"]
    answer = signalling.loop.run_until_complete(answer_to(ws, join, call_id))
    event(answer["type"] if answer["type"] != "error" else f"error {answer['code']}")
    parse_message(json.dumps(answer))  # what the MCU sends keeps the schema too
    if schema_refuses:
        assert (answer["type"], answer.get("code")) == ("error", "malformed"), answer
    elif answer["type"] == "error":
        assert answer["code"] in JOIN_OUTCOMES - {"malformed"}, answer
        if given_password != password:
            assert answer["code"] == "wrong_password", answer
    else:
        assert answer["type"] == "joined", answer
        assert given_password == password
        bye = json.dumps({"type": "bye", "call_id": call_id, "reason": "fuzz"})
        replies = signalling.exchange("registered", bye)
        assert not [r for r in replies if r["type"] == "error" and r.get("call_id") == call_id]
    signalling.loop.run_until_complete(
        until(lambda: left_nothing(signalling, conf_id), "the call cleaned up"))
    # the socket still answers, and nothing the MCU sent since was a failure of its own
    later = signalling.exchange("registered", json.dumps({"type": "pong", "seq": 0}))
    assert not [r for r in later if r["type"] == "error" and r["code"] == "internal"], later
