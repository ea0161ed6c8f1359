"""Terminal signalling on /signalling: registration, malformed input, the heartbeat, call
outcomes (decline, vanish, re-register) and dial-in, against a real running server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import aiohttp
import pytest

from app.process import running_server
from gateway.settings import load_settings
from gateway.signalling import SIGNALLING, with_registered_terminals
from mcu.calls import CallFailure
from mcu.clock import ManualClock
from mcu.events import SiteCallStateChanged
from mcu.model import (
    ConferenceSpec,
    DialingMode,
    DirectorySite,
    SiteCallState,
    SiteSpec,
    VideoFormat,
)
from rtc.deadline import within
from rtc.signalling import (
    HEARTBEAT_INTERVAL_S,
    HEARTBEAT_MISSES,
    HeartbeatSchedule,
    Join,
    Pong,
    Register,
)
from tests.signalling_helpers import read_challenge, send_register
from tests.test_media_engine import (
    BLUE_RGB,
    RED_RGB,
    PeerTerminal,
    SolidColourCamera,
    ToneMicrophone,
    eventually,
    near,
)

A, B, C = "01010086", "01010010", "01010099"
HEARTBEAT = 0.3  # seconds (the product's is 2 s); three missed beats, 0.9 s, outlast a loop stalled by a busy machine


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=2.0,
                             media_timeout_seconds=2.0)
    async with running_server(settings, clock=clock) as running:
        running.app[SIGNALLING].heartbeat_interval = HEARTBEAT
        running.clock = clock
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def next_message(ws: aiohttp.ClientWebSocketResponse, skip_pings: bool = True) -> dict:
    while True:
        frame = await within(ws.receive(), 5)
        assert frame.type is aiohttp.WSMsgType.TEXT, frame
        message = json.loads(frame.data)
        if not (skip_pings and message["type"] == "ping"):
            return message


def schedule(server, uris: list[str], **fields) -> str:
    sites = [
        SiteSpec(uri, name=f"site {uri}", video_format=VideoFormat.CIF,
                 dialing_mode=DialingMode.SITE_CALLS_IN)
        for uri in uris
    ]
    spec = ConferenceSpec("consult", server.clock.now(), timedelta(hours=1), sites, **fields)
    conference = server.gateway.scheduler.schedule(spec)
    server.gateway.runtime.reconcile()
    return conference.conf_id


def errors(terminal: PeerTerminal) -> list[dict]:
    return [message for message in terminal.messages if message["type"] == "error"]


def site_states(server, conf_id: str) -> dict[str, SiteCallState]:
    return {s.uri: s.state for s in server.gateway.runtime.status.site_statuses(conf_id)}


# ---------------------------------------------------------------------------- registration


async def test_register_makes_the_terminal_reachable_and_listed(server, http):
    ws = await http.ws_connect(server.url("/signalling"))
    await send_register(ws, Register(A, "Ward 3", 7))
    # no ICE servers configured (loopback): the list is there, empty
    assert await next_message(ws) == {"type": "registered", "uri": A, "ice_servers": []}
    runtime = server.gateway.runtime
    assert A in runtime.registry
    listed = with_registered_terminals([DirectorySite(B, "Directory site")], runtime)
    assert [(site.uri, site.name) for site in listed] == [(B, "Directory site"), (A, "Ward 3")]
    # the same URI in the directory is listed once, as the directory has it
    assert len(with_registered_terminals([DirectorySite(A, "Booked name")], runtime)) == 1
    await ws.close()
    await eventually(lambda: A not in runtime.registry, what="unregistered on close")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"type": "teleport"}', "malformed"),
        ('{"type": "register", "name": "no uri"}', "malformed"),
        ('{"type": "register", "uri": "", "name": "empty"}', "malformed"),
        ('{"type": "answer", "call_id": 5, "sdp": "x"}', "malformed"),
        ('{"type": "answer", "call_id": "c1", "sdp": "x"}', "unauthorized"),
        ('{"type": "invite", "call_id": "c", "conf_id": "1", "conf_name": "n", "sdp": ""}',
         "unauthorized"),  # before authentication anything but register/ping is refused
    ],
)
async def test_malformed_or_misplaced_messages_get_an_error_and_the_connection_stays(
    server, http, frame, code
):
    ws = await http.ws_connect(server.url("/signalling"))
    challenge = await read_challenge(ws)
    await ws.send_str(frame)
    answer = await next_message(ws)
    assert answer["type"] == "error" and answer["code"] == code
    # still open and usable: the challenge still stands (nothing consumed it)
    await send_register(ws, Register(A, "after the error"), challenge=challenge)
    assert await next_message(ws) == {"type": "registered", "uri": A, "ice_servers": []}
    await ws.close()


async def test_binary_frames_and_unknown_calls_are_refused_politely(server, http):
    ws = await http.ws_connect(server.url("/signalling"))
    challenge = await read_challenge(ws)
    await ws.send_bytes(b"\x00\x01")
    assert (await next_message(ws))["code"] == "malformed"
    await send_register(ws, Register(A, "x"), challenge=challenge)
    await next_message(ws)
    await ws.send_str('{"type": "bye", "call_id": "nope"}')
    assert await next_message(ws) == {
        "type": "error", "code": "unknown_call", "message": "no such call: bye 'nope'",
        "call_id": "nope"
    }
    await ws.send_str('{"type": "ping", "seq": 7}')
    assert await next_message(ws) == {"type": "pong", "seq": 7}
    await ws.close()


async def test_a_silent_terminal_is_dropped_after_three_heartbeats(server, http):
    ws = await http.ws_connect(server.url("/signalling"))
    await send_register(ws, Register(A, "x"))
    pings = 0
    while True:  # never answer: the MCU pings, then closes the socket
        frame = await within(ws.receive(), 5)
        if frame.type is not aiohttp.WSMsgType.TEXT:
            break
        pings += json.loads(frame.data)["type"] == "ping"
    assert pings >= 2
    assert A not in server.gateway.runtime.registry


def hung_peer_detected_at(last_heard: float) -> tuple[float, list[float]]:
    """Run the heartbeat loop's steps (gateway and terminal alike) in simulated loop time,
    starting at 0, for a peer whose last message came at `last_heard`: when it is given up,
    and when it was pinged."""
    schedule, now, pings = HeartbeatSchedule(), 0.0, []
    for _ in range(100):
        now = max(now, schedule.next_wake(now, last_heard))
        if schedule.is_gone(now, last_heard):
            return now, pings
        if schedule.take_ping(now):
            pings.append(now)
    raise AssertionError(f"never given up; pinged at {pings}")


@pytest.mark.parametrize("last_heard", [0.0, 0.5, 1.99, 2.01, 3.7])
def test_a_hung_peer_is_given_up_three_intervals_after_its_last_message(last_heard):
    """The deadline is checked when it falls, not at the next ping: 6 s after the peer's last
    message (the product's 2 s x 3), never up to an interval later (8 s)."""
    limit = HEARTBEAT_INTERVAL_S * HEARTBEAT_MISSES
    detected, pings = hung_peer_detected_at(last_heard)
    assert detected == pytest.approx(last_heard + limit)
    assert pings and all(b - a == pytest.approx(HEARTBEAT_INTERVAL_S)
                         for a, b in pairwise(pings))


async def test_a_terminal_answering_pings_stays_registered(server, http):
    terminal = PeerTerminal(A)
    await terminal.register(http, server.url("/signalling"))
    await asyncio.sleep(HEARTBEAT * 10)
    assert A in server.gateway.runtime.registry
    assert terminal.received.count("ping") >= 5
    await terminal.close()


# ---------------------------------------------------------------------------- calls


async def test_declined_and_unreachable_calls_end_not_joined_with_a_reason(server, http):
    decliner = PeerTerminal(A, declines=True)
    await decliner.register(http, server.url("/signalling"))
    await eventually(lambda: A in server.gateway.runtime.registry)
    conf_id = schedule(server, [A, C])
    server.gateway.runtime.lifecycle.connect_sites(conf_id, [A, C])
    await eventually(lambda: site_states(server, conf_id)[A] is SiteCallState.NOT_JOINED,
                     what="declined")
    statuses = {s.uri: s for s in server.gateway.runtime.status.site_statuses(conf_id)}
    assert statuses[A].call_failed_reason.code == CallFailure.CALLEE_REJECTED
    # C never registered: the call times out as callee offline (call_timeout 2 s)
    await eventually(lambda: site_states(server, conf_id)[C] is SiteCallState.NOT_JOINED,
                     what="timeout")
    statuses = {s.uri: s for s in server.gateway.runtime.status.site_statuses(conf_id)}
    assert statuses[C].call_failed_reason.code == CallFailure.CALLEE_OFFLINE
    await decliner.close()


async def test_a_vanished_terminal_leaves_the_conference_which_goes_on(server, http):
    red, blue = PeerTerminal(A, RED_RGB), PeerTerminal(B, BLUE_RGB)
    for terminal in (red, blue):
        await terminal.register(http, server.url("/signalling"))
    runtime = server.gateway.runtime
    await eventually(lambda: A in runtime.registry and B in runtime.registry)
    conf_id = schedule(server, [A, B], cp_resource=4)
    runtime.control.set_continuous_presence(conf_id, "0", 2, [A, B])
    runtime.lifecycle.connect_sites(conf_id, [A, B])
    both = {A: SiteCallState.IN_CONFERENCE, B: SiteCallState.IN_CONFERENCE}
    await eventually(lambda: site_states(server, conf_id) == both, what="both joined")
    await eventually(lambda: blue.picture is not None and near(blue.colour_at(0.25, 0.5), RED_RGB),
                     what="red in blue's left pane")

    red.silent = True  # hung: stops answering the heartbeat
    await eventually(lambda: site_states(server, conf_id)[A] is SiteCallState.NOT_JOINED,
                     what="A dropped")
    assert A not in runtime.registry
    assert site_states(server, conf_id)[B] is SiteCallState.IN_CONFERENCE
    # A's pane shows the grey "no video" placeholder, B's pane still B
    await eventually(lambda: max(blue.colour_at(0.25, 0.5)) < 90
                     and near(blue.colour_at(0.75, 0.5), BLUE_RGB), what="placeholder")
    await red.close()

    # A comes back: registers again and can be called again
    again = PeerTerminal(A, RED_RGB)
    await again.register(http, server.url("/signalling"))
    await eventually(lambda: A in runtime.registry)
    assert runtime.lifecycle.connect_sites(conf_id, [A]) == [A]
    await eventually(lambda: site_states(server, conf_id) == both, what="A back")
    await eventually(lambda: near(blue.colour_at(0.25, 0.5), RED_RGB), what="red back")
    for terminal in (again, blue):
        await terminal.close()


async def test_a_closed_socket_hangs_up_at_once(server, http):
    red = PeerTerminal(A, RED_RGB)
    await red.register(http, server.url("/signalling"))
    runtime = server.gateway.runtime
    await eventually(lambda: A in runtime.registry)
    conf_id = schedule(server, [A])
    runtime.lifecycle.connect_sites(conf_id, [A])
    await eventually(lambda: site_states(server, conf_id)[A] is SiteCallState.IN_CONFERENCE)
    await red.ws.close()
    await eventually(lambda: site_states(server, conf_id)[A] is SiteCallState.NOT_JOINED)
    await red.close()


async def test_ending_the_conference_sends_bye_to_every_site(server, http):
    red, blue = PeerTerminal(A, RED_RGB), PeerTerminal(B, BLUE_RGB)
    for terminal in (red, blue):
        await terminal.register(http, server.url("/signalling"))
    runtime = server.gateway.runtime
    await eventually(lambda: A in runtime.registry and B in runtime.registry)
    conf_id = schedule(server, [A, B])
    runtime.lifecycle.connect_sites(conf_id, [A, B])
    await eventually(lambda: set(site_states(server, conf_id).values())
                     == {SiteCallState.IN_CONFERENCE})
    server.gateway.scheduler.delete(conf_id)
    runtime.reconcile()
    await eventually(lambda: "bye" in red.received and "bye" in blue.received, what="bye")
    assert conf_id not in server.app[SIGNALLING].engine.conferences
    for terminal in (red, blue):
        await terminal.close()


# ---------------------------------------------------------------------------- dial-in


async def test_dial_in_with_access_code_and_password(server, http):
    blue = PeerTerminal(B, BLUE_RGB)
    await blue.register(http, server.url("/signalling"))
    runtime = server.gateway.runtime
    await eventually(lambda: B in runtime.registry)
    conf_id = schedule(server, [A, B], password="123456")
    conference = server.gateway.scheduler.get(conf_id)

    await blue.dial_in("99999999", "123456", call_id="wrong-code")
    await eventually(lambda: "error" in blue.received)
    assert errors(blue)[-1]["code"] == "conference_not_found"
    await blue.dial_in(conference.access_code, "000000", call_id="wrong-password")
    await eventually(lambda: blue.received.count("error") == 2)
    assert errors(blue)[-1]["code"] == "wrong_password"
    assert site_states(server, conf_id)[B] is SiteCallState.NOT_JOINED

    await blue.dial_in(conference.access_code, "123456", call_id="good")
    await eventually(lambda: "joined" in blue.received, what="joined")
    joined = next(m for m in blue.messages if m["type"] == "joined")
    assert joined["call_id"] == "good" and joined["conf_id"] == conf_id
    await eventually(lambda: site_states(server, conf_id)[B] is SiteCallState.IN_CONFERENCE,
                     what="in conference once media flows")
    # B is alone: its CP_None picture is itself
    await eventually(lambda: blue.picture is not None and near(blue.colour_at(0.5, 0.5), BLUE_RGB),
                     what="own picture")
    await blue.close()


class StalledDialIn(PeerTerminal):
    """Dials in with a real aiortc offer, then never applies the MCU's `joined` answer: no
    DTLS, no media. With `no_candidates`, its offer carries no ICE candidate at all."""

    no_candidates: bool = False

    async def dial_in(self, access_code: str, password: str, call_id: str = "stalled") -> None:
        pc = self._new_peer_connection()
        pc.addTransceiver(ToneMicrophone(self.amplitude), direction="sendrecv")
        pc.addTransceiver(SolidColourCamera(self.rgb), direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        if self.no_candidates:
            sdp = "".join(line for line in sdp.splitlines(keepends=True)
                          if not line.startswith("a=candidate:"))
        await self.ws.send_str(Join(call_id, access_code, password, sdp).to_json())

    async def _read(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame.data)
            self.received.append(message["type"])
            self.messages.append(message)
            if message["type"] == "ping":
                await self.ws.send_str(Pong(message["seq"]).to_json())


@pytest.mark.parametrize("no_candidates", [False, True])
async def test_a_dial_in_is_in_conference_only_once_its_media_path_is_up(
        server, http, no_candidates):
    """An accepted join is not yet in conference (that needs ICE and DTLS connected); a
    dial-in whose ICE never connects (the terminal never uses the answer, or offered no
    candidate) ends not joined with the ICE reason (118) after the media timeout, and the
    terminal gets bye."""
    stalled = StalledDialIn(C)
    stalled.no_candidates = no_candidates
    await stalled.register(http, server.url("/signalling"))
    runtime = server.gateway.runtime
    await eventually(lambda: C in runtime.registry)
    conf_id = schedule(server, [C], password="123456")
    conference = server.gateway.scheduler.get(conf_id)
    changes: list[SiteCallStateChanged] = []
    unsubscribe = runtime.subscribe(
        lambda e: changes.append(e) if isinstance(e, SiteCallStateChanged) else None)
    try:
        await stalled.dial_in(conference.access_code, "123456")
        await eventually(lambda: "joined" in stalled.received, what="joined")
        await eventually(lambda: site_states(server, conf_id)[C] is SiteCallState.NOT_JOINED,
                         timeout=10, what="failed (the media timeout is 2 s)")
        assert [e.state for e in changes] == [SiteCallState.CALLING, SiteCallState.NOT_JOINED]
        failed = runtime.status.site_statuses(conf_id, [C])[0].call_failed_reason
        assert failed is not None and failed.code == CallFailure.ICE_FAILED == 118
        assert "ICE" in failed.description
        await eventually(lambda: "bye" in stalled.received, what="the terminal is told")
        assert C in runtime.registry  # it can dial in again
    finally:
        unsubscribe()
        await stalled.close()
