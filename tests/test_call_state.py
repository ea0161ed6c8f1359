"""Call state from the outside: a site is in conference once its media path is up, whether or
not it sends, and a call that fails says why (queryConfSitesStatusEx over SOAP, with real
terminals on /signalling).

- a receive-only terminal (no camera, no microphone: recvonly transceivers) is in
  conference (status 2) within a few seconds, dialled out and dialling in, decodes the CP
  picture with the other sites' markers in its panes and hears them;
- every failure has its callFailedReason: declined 115, busy 117, never answered 129 (call
  timeout), offline 109, no common codec 131088, ICE 118 and DTLS 12378, both when the layer
  fails outright and when it does not connect within the media timeout, which starts at the
  answer (a late answer is not "no answer");
- the ICE servers setting: validated at start-up, announced in `registered`, used by the
  MCU's peer connections (a STUN server on loopback sees its binding requests).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aioice import stun
from aiortc import RTCSessionDescription

from app.demo.soap_client import EsdkClient, check
from app.process import running_server
from gateway.settings import SettingsError, load_settings
from mcu.calls import CallFailure
from mcu.clock import ManualClock
from mcu.layouts import layout_mode
from mcu.model import SiteCallState
from rtc.deadline import within
from rtc.ice import IceServer
from rtc.signalling import Answer, Capabilities, Decline, Register, Ringing
from tests.signalling_helpers import send_register
from tests.test_media_acceptance import (
    book,
    eventually,
    eventually_async,
    panes_of,
    signalling_url,
    site_indices,
    terminal,
)
from tests.test_media_engine import PeerTerminal

CALL_TIMEOUT = 4.0
MEDIA_TIMEOUT = 2.0
IN_CONFERENCE_WITHIN_S = 5.0  # "a few seconds" on a loaded 2-core machine
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=CALL_TIMEOUT,
                             media_timeout_seconds=MEDIA_TIMEOUT)
    async with running_server(settings, clock=clock) as running:
        running.clock = clock
        yield running


async def soap_client(server) -> EsdkClient:
    client = await asyncio.to_thread(EsdkClient.connect, server.base_url)
    await asyncio.to_thread(client.login, "demo", "Demo@123")
    return client


async def soap_status(soap: EsdkClient, conf_id: str, uri: str):
    answer = await asyncio.to_thread(soap.conf_mgr.queryConfSitesStatusEx,
                                     confId=conf_id, siteUris=[uri])
    return check(answer, "queryConfSitesStatusEx").siteStatuses[0]


async def soap_wait_status(soap: EsdkClient, conf_id: str, uri: str, status: int,
                           timeout: float) -> float:
    """Poll queryConfSitesStatusEx until the site has `status`; the seconds it took."""
    started = time.monotonic()
    while (await soap_status(soap, conf_id, uri)).status != status:
        if time.monotonic() - started > timeout:
            site = await soap_status(soap, conf_id, uri)
            raise AssertionError(f"{uri} still status {site.status} after {timeout} s: {site}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


# ---------------------------------------------------------------------------- receive-only


@pytest.mark.parametrize("direction", ["dial-out", "dial-in"])
async def test_a_receive_only_terminal_is_in_conference_and_receives_the_conference(
        server, direction):
    """Two sending terminals and one with no camera and no microphone: that one is in
    conference (status 2) within a few seconds of its call, although it never sends a
    frame; it decodes the CP_2_1 picture of the other two (their markers in its panes) and
    hears both. The MCU's side of its call is sendonly."""
    a, b = terminal(31, decode_video=False), terminal(32, decode_video=False)
    viewer = terminal(33, send_video=False, send_audio=False)
    everyone = [a, b, viewer]
    for t in everyone:
        await t.start(signalling_url(server))
    try:
        dial_in = frozenset({viewer.uri}) if direction == "dial-in" else frozenset()
        conf_id = book(server, [a.uri, b.uri, viewer.uri], dial_in=dial_in,
                       password="135790", cp_resource=4)
        soap = await soap_client(server)
        for sender in (a, b):
            await soap_wait_status(soap, conf_id, sender.uri, 2, timeout=20)
        if direction == "dial-in":
            access_code = server.gateway.scheduler.get(conf_id).access_code
            started = time.monotonic()
            assert await viewer.join(access_code, "135790") == conf_id
            took = time.monotonic() - started + await soap_wait_status(
                soap, conf_id, viewer.uri, 2, timeout=IN_CONFERENCE_WITHIN_S)
        else:
            took = await soap_wait_status(soap, conf_id, viewer.uri, 2,
                                          timeout=IN_CONFERENCE_WITHIN_S)
        assert took < IN_CONFERENCE_WITHIN_S
        assert (await soap_status(soap, conf_id, viewer.uri)).callFailedReason is None

        # what the MCU negotiated: it sends both kinds, receives nothing from this site
        (session,) = server.gateway.runtime.registry.lookup(viewer.uri).sessions.values()
        assert {t.kind: t.currentDirection for t in session.pc.getTransceivers()} == {
            "audio": "sendonly", "video": "sendonly"}

        answer = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode("CP_2_1").value, subPics=[a.uri, b.uri])
        check(answer, "setContinuousPresenceEx")
        viewer.set_panes(panes_of("CP_2_1"))

        async def sees_both() -> bool:
            return await site_indices(viewer) == [a.site_index, b.site_index]

        await eventually_async(sees_both, what="the receive-only terminal decodes A and B")
        await eventually(lambda: viewer.heard().get(a.uri, 0) > 0.3
                         and viewer.heard().get(b.uri, 0) > 0.3, what="it hears A and B")
        assert viewer.stats().frames_sent == 0
        # it is still in conference: nothing expects media from it
        assert (await soap_status(soap, conf_id, viewer.uri)).status == 2
    finally:
        for t in everyone:
            await t.stop()


# ---------------------------------------------------------------------------- failures


class BlackHole(asyncio.DatagramProtocol):
    """A UDP port that swallows everything: an address ICE checks never get an answer from."""


class FailingTerminal(PeerTerminal):
    """A terminal that rings, then fails its call in one way (`how`), after `answer_delay`:

    decline-busy / decline   `decline` with reason "busy" / "not now"
    never                    rings until the MCU gives up
    no-candidates            answers with no ICE candidate at all (ICE fails at once)
    black-hole               answers with its candidate moved to a port that never answers,
                             and closes its own ICE agent (so no check comes from it): the
                             MCU's checks go unanswered, ICE is not connected within the
                             media timeout
    bad-fingerprint          answers with a DTLS fingerprint that is not its certificate's
                             (the handshake's check fails at once)
    both-dtls-servers        answers "a=setup:active" but waits as a DTLS server itself: ICE
                             connects, no side starts the handshake (DTLS never connects)
    """

    def __init__(self, uri: str, how: str, answer_delay: float = 0.0,
                 capabilities: Capabilities | None = None) -> None:
        super().__init__(uri)
        self.how, self.answer_delay = how, answer_delay
        self.capabilities = capabilities or Capabilities()
        self.hole: asyncio.DatagramTransport | None = None

    async def register(self, session: aiohttp.ClientSession, url: str) -> None:
        self.ws = await session.ws_connect(url)
        await send_register(self.ws, Register(self.uri, f"site {self.uri}",
                                              capabilities=self.capabilities))
        self.tasks.append(asyncio.create_task(self._read()))

    async def _answer(self, invite: dict) -> None:
        call_id = invite["call_id"]
        await self.ws.send_str(Ringing(call_id).to_json())
        if self.how == "never":
            return
        await asyncio.sleep(self.answer_delay)
        if self.how.startswith("decline"):
            reason = "busy" if self.how == "decline-busy" else "not now"
            await self.ws.send_str(Decline(call_id, reason).to_json())
            return
        pc = self._new_peer_connection()
        await pc.setRemoteDescription(RTCSessionDescription(invite["sdp"], "offer"))
        answer = await pc.createAnswer()
        local = answer.sdp
        if self.how == "both-dtls-servers":
            local = local.replace("a=setup:active", "a=setup:passive")
        await pc.setLocalDescription(RTCSessionDescription(local, "answer"))
        sdp = answer.sdp if self.how == "both-dtls-servers" else pc.localDescription.sdp
        if self.how == "no-candidates":
            sdp = "".join(line for line in sdp.splitlines(keepends=True)
                          if not line.startswith("a=candidate:"))
        elif self.how == "black-hole":
            self.hole, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                BlackHole, local_addr=("127.0.0.1", 0))
            port = self.hole.get_extra_info("sockname")[1]
            sdp = re.sub(r"(a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 )\d+",
                         lambda m: f"{m.group(1)}{port}", sdp)
        elif self.how == "bad-fingerprint":
            sdp = re.sub(r"(a=fingerprint:sha-256 )(\S+)",
                         lambda m: m.group(1) + ":".join(["AB"] * 32), sdp)
        await self.ws.send_str(Answer(call_id, sdp).to_json())
        if self.how == "black-hole":
            await pc.close()  # its own checks would reach the MCU from its real port

    async def close(self) -> None:
        if self.hole is not None:
            self.hole.close()
        await super().close()


FAILURES = [
    # how, answer delay, code, words of its discription, fails within (s from the booking)
    ("decline", 0.0, CallFailure.CALLEE_REJECTED, "not now", 3.0),
    ("decline-busy", 0.0, CallFailure.CALLEE_BUSY, "busy", 3.0),
    ("never", 0.0, CallFailure.NO_ANSWER, "did not answer", CALL_TIMEOUT + 3.0),
    ("no-candidates", 0.0, CallFailure.ICE_FAILED, "ICE failed", 3.0),
    ("bad-fingerprint", 0.0, CallFailure.DTLS_FAILED, "DTLS failed", 3.0),
    ("black-hole", 0.0, CallFailure.ICE_FAILED, "ICE not connected 2 s after the answer",
     MEDIA_TIMEOUT + 3.0),
    ("both-dtls-servers", 0.0, CallFailure.DTLS_FAILED,
     "DTLS not connected 2 s after the answer", MEDIA_TIMEOUT + 3.0),
]


@pytest.mark.parametrize(("how", "delay", "code", "words", "within"), FAILURES,
                         ids=[f[0] for f in FAILURES])
async def test_a_failed_call_says_why_in_its_status(server, how, delay, code, words, within):
    uri = "01770040"
    failing = FailingTerminal(uri, how, delay)
    runtime = server.gateway.runtime
    async with aiohttp.ClientSession() as http:
        await failing.register(http, server.url("/signalling"))
        try:
            await eventually(lambda: uri in runtime.registry, what="registered")
            booked = time.monotonic()
            conf_id = book(server, [uri])  # dialled at once
            soap = await soap_client(server)
            took = await soap_wait_status(soap, conf_id, uri, int(SiteCallState.NOT_JOINED),
                                          timeout=within + 5)
            assert time.monotonic() - booked < within, took
            reason = (await soap_status(soap, conf_id, uri)).callFailedReason
            assert reason is not None, how
            assert reason.errCode == code, reason
            assert words in reason.discription, reason
            await eventually(lambda: "bye" in failing.received or how.startswith("decline"),
                             what="the terminal is told the call is over")
            assert uri in runtime.registry  # only the call failed
        finally:
            await failing.close()


async def test_the_call_timeout_ends_at_the_answer_and_the_media_timeout_starts_there(server):
    """Answer 3 s after ringing (the call timeout is 4 s), to an address that never answers
    ICE: the call fails with the ICE reason 2 s (the media timeout) after the answer, at
    about 5 s, not with 129 at 4 s."""
    uri = "01770041"
    late = FailingTerminal(uri, "black-hole", answer_delay=3.0)
    runtime = server.gateway.runtime
    async with aiohttp.ClientSession() as http:
        await late.register(http, server.url("/signalling"))
        try:
            await eventually(lambda: uri in runtime.registry, what="registered")
            booked = time.monotonic()
            conf_id = book(server, [uri])
            soap = await soap_client(server)
            await soap_wait_status(soap, conf_id, uri, int(SiteCallState.NOT_JOINED), timeout=12)
            failed_after = time.monotonic() - booked
            reason = (await soap_status(soap, conf_id, uri)).callFailedReason
            assert reason.errCode == CallFailure.ICE_FAILED, reason
            assert failed_after >= 3.0 + MEDIA_TIMEOUT - 0.3, failed_after
        finally:
            await late.close()


async def test_an_unregistered_site_is_offline_and_no_common_codec_is_a_capability_failure(
        server):
    """109 for a site no terminal registered (after the call timeout); 131088 for a terminal
    whose declared audio codecs the MCU has none of (at once, no invite sent)."""
    uri = "01770042"
    narrow = FailingTerminal(uri, "never", capabilities=Capabilities(audio_codecs=["AMR-WB"]))
    runtime = server.gateway.runtime
    async with aiohttp.ClientSession() as http:
        await narrow.register(http, server.url("/signalling"))
        try:
            await eventually(lambda: uri in runtime.registry, what="registered")
            conf_id = book(server, [uri, "01770043"])
            soap = await soap_client(server)
            await soap_wait_status(soap, conf_id, uri, 3, timeout=3)
            reason = (await soap_status(soap, conf_id, uri)).callFailedReason
            assert reason.errCode == CallFailure.CODEC_MISMATCH == 131088, reason
            assert "no common audio codec" in reason.discription
            assert "invite" not in narrow.received
            await soap_wait_status(soap, conf_id, "01770043", 3, timeout=CALL_TIMEOUT + 3)
            reason = (await soap_status(soap, conf_id, "01770043")).callFailedReason
            assert reason.errCode == CallFailure.CALLEE_OFFLINE == 109, reason
        finally:
            await narrow.close()


# ---------------------------------------------------------------------------- ICE servers


class StunServer(asyncio.DatagramProtocol):
    """Answers STUN binding requests with the sender's address (a STUN server on loopback);
    keeps where they came from."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = stun.parse_message(data)
        except ValueError:
            return
        if request.message_method != stun.Method.BINDING:
            return
        self.requests.append(addr)
        response = stun.Message(message_method=stun.Method.BINDING,
                                message_class=stun.Class.RESPONSE,
                                transaction_id=request.transaction_id)
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


def ice_config(tmp_path: Path, entries: str) -> Path:
    config = tmp_path / "mcu.toml"
    config.write_text(f"[mcu]\nice_servers = [\n{entries}]\n", "utf-8")
    return config


async def test_configured_ice_servers_are_announced_in_registered(tmp_path: Path):
    """A STUN URL and a TURN table: `registered` carries them as browser RTCIceServer
    dictionaries, and the simulated terminal takes them for its calls."""
    stun_url, turn_url = "stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"
    config = ice_config(tmp_path, f'"{stun_url}",\n{{ urls = ["{turn_url}"], '
                                  'username = "mcu", credential = "secret" },\n')
    settings = load_settings(config, port=0, data_dir=tmp_path)
    assert settings.ice_servers == (IceServer((stun_url,)),
                                    IceServer((turn_url,), "mcu", "secret"))
    async with running_server(settings) as server, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.url("/signalling"))
        await send_register(ws, Register("01770050", "raw"))
        assert await within(ws.receive_json(), 5) == {
            "type": "registered", "uri": "01770050", "ice_servers": [
                {"urls": [stun_url]},
                {"urls": [turn_url], "username": "mcu", "credential": "secret"}]}
        await ws.close()
        listener = terminal(50, send_video=False, send_audio=False, decode_video=False)
        await listener.start(signalling_url(server))
        try:
            assert listener.ice_servers == settings.ice_servers
        finally:
            await listener.stop()


async def test_the_mcu_calls_with_the_configured_stun_server(tmp_path: Path):
    """The MCU's peer connection of a call asks the configured STUN server for its
    reflexive address while it gathers (a STUN server on loopback sees the binding request
    come from the MCU's candidate port); the call is in conference as without it."""
    loop = asyncio.get_running_loop()
    transport, stun_server = await loop.create_datagram_endpoint(
        StunServer, local_addr=("127.0.0.1", 0))
    stun_url = f"stun:127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    settings = load_settings(ice_config(tmp_path, f'"{stun_url}",\n'), port=0,
                             data_dir=tmp_path, call_timeout_seconds=CALL_TIMEOUT)
    clock = ManualClock()
    try:
        async with running_server(settings, clock=clock) as server:
            server.clock = clock
            # a PeerTerminal ignores the announced servers: every request comes from the MCU
            peer = PeerTerminal("01770052")
            async with aiohttp.ClientSession() as http:
                await peer.register(http, server.url("/signalling"))
                try:
                    runtime = server.gateway.runtime
                    await eventually(lambda: peer.uri in runtime.registry, what="registered")
                    conf_id = book(server, [peer.uri])
                    soap = await soap_client(server)
                    await soap_wait_status(soap, conf_id, peer.uri, 2, timeout=20)
                    # the MCU gathered with the STUN server: a binding request from the
                    # address of its side of the call
                    (session,) = runtime.registry.lookup(peer.uri).sessions.values()
                    mcu_ports = {c.port for t in session.pc.getTransceivers()
                                 for c in t.sender.transport.transport.iceGatherer
                                 .getLocalCandidates()}
                    assert {port for _, port in stun_server.requests} & mcu_ports, (
                        stun_server.requests, mcu_ports)
                finally:
                    await peer.close()
    finally:
        transport.close()


@pytest.mark.parametrize(("value", "words"), [
    ('"stun:host:3478"', "a list of URLs"),
    ('["http://host"]', "not a STUN or TURN URL"),
    ('["turn:host:3478"]', "needs a username and a credential"),
    ('["turn:user:pass@host:3478"]', "carries no user"),
    ('["stun:host:70000"]', "port 70000"),
    ('["stuns:host"]', "stuns"),
    ('["turn:host?transport=sctp"]', "transport"),
    ('[{ urls = "stun:host", password = "x" }]', "unknown keys"),
])
def test_bad_ice_servers_are_refused_at_start_up_with_a_clear_error(tmp_path: Path, value, words):
    config = tmp_path / "mcu.toml"
    config.write_text(f"[mcu]\nice_servers = {value}\n", "utf-8")
    with pytest.raises(SettingsError, match=r"\[mcu\] ice_servers") as error:
        load_settings(config)
    assert words in str(error.value)


def test_serve_refuses_bad_ice_servers_and_a_zero_media_timeout(tmp_path: Path):
    for text, words in [('[mcu]\nice_servers = ["turn:host"]\n', "ice_servers"),
                        ("[mcu]\nmedia_timeout_seconds = 0\n", "media_timeout_seconds")]:
        config = tmp_path / "bad.toml"
        config.write_text(text, "utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve", "--sip-port", "0", "--config", str(config), "--port", "0",
             "--data-dir", str(tmp_path / "data")],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert words in done.stderr
