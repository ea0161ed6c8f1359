"""Terminals authenticate to the signalling (docs/signalling.md, "Authentication"): a real
server on 127.0.0.1, real WebSockets, querySitesEx/connectSitesEx over SOAP with zeep from
the reference WSDL.

- no credential: everything but register and ping is refused `unauthorized`, nothing is
  registered, querySitesEx does not list it;
- a wrong secret or an unknown URI: `unauthorized` (the same answer), a fresh challenge, and
  after [terminal_auth] lock_attempts the socket and the URI are `locked` (the right secret
  too);
- the right secret: registered and callable (connectSitesEx invites it);
- a hijack attempt of a registered URI without its secret changes nothing (the real
  terminal still gets its invite); with the secret it replaces the old socket, which is told
  and closed;
- `mcu-sim serve`'s in-process terminals register with the embedded defaults;
- settings and the terminals' secret options.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from app.process import running_server
from app.serve_command import _start_terminals
from gateway.settings import Settings, SettingsError, load_settings
from mcu.clock import ManualClock
from mcu.model import ConferenceSpec, DialingMode, SiteSpec, VideoFormat
from rtc.signalling_auth import (
    LAB_PROVISIONING_KEY,
    digest_ha1,
    digest_response,
    lab_secret,
    provisioned_secret,
)
from terminals.client import RegistrationRefused, SimulatedTerminal
from terminals.run_command import secret_source, stop_terminals
from tests.conftest import DEMO, soap_clients
from tests.signalling_helpers import auth_for, read_challenge

WARD = "01990001"
WARD_SECRET = "ward secret 1"
LOCK_ATTEMPTS = 3


def settings_for(tmp_path: Path, **overrides) -> Settings:
    """Only WARD is known (its HA1 listed), no provisioning key; a low lock limit."""
    settings = load_settings(port=0, data_dir=tmp_path / "data", terminal_provisioning_key="",
                             terminal_lock_attempts=LOCK_ATTEMPTS, **overrides)
    return settings.with_terminal_secret(WARD, WARD_SECRET)


@pytest.fixture
async def server(tmp_path: Path, clock: ManualClock) -> AsyncIterator:
    async with running_server(settings_for(tmp_path), clock=clock) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def next_message(ws: aiohttp.ClientWebSocketResponse) -> dict:
    while True:
        message = await ws.receive_json(timeout=10)
        if message["type"] not in ("ping", "pong"):
            return message


def register(uri: str, auth: dict | None = None) -> str:
    message = {"type": "register", "uri": uri, "name": f"site {uri}"}
    if auth is not None:
        message["auth"] = auth
    return json.dumps(message)


async def soap(server):
    clients = await asyncio.to_thread(soap_clients, server.base_url)
    assert await asyncio.to_thread(clients.login, *DEMO) == 0
    return clients


async def listed_uris(server) -> set[str]:
    clients = await soap(server)
    answer = await asyncio.to_thread(clients.conf_mgr.querySitesEx)
    assert answer.resultCode == 0
    return {site.uri for site in (answer.siteInfos or [])}


def book_dial_in(server, uris: list[str]) -> str:
    clock = server.gateway.runtime.clock
    """A conference now whose sites call in (the MCU calls them only on connectSitesEx)."""
    sites = [SiteSpec(uri, name=f"site {uri}", video_format=VideoFormat.CIF,
                      dialing_mode=DialingMode.SITE_CALLS_IN) for uri in uris]
    spec = ConferenceSpec("auth", clock.now(), timedelta(hours=1), sites)
    conference = server.gateway.scheduler.schedule(spec)
    server.gateway.runtime.reconcile()
    return conference.conf_id


async def connect(server, conf_id: str, uri: str) -> int:
    clients = await soap(server)
    return await asyncio.to_thread(clients.conf_mgr.connectSitesEx, confId=conf_id,
                                   siteUris=[uri])


async def registered_socket(http, server, uri: str = WARD, secret: str = WARD_SECRET):
    ws = await http.ws_connect(server.url("/signalling"))
    challenge = await read_challenge(ws)
    await ws.send_str(register(uri, auth_for(uri, challenge, secret)))
    assert (await next_message(ws))["type"] == "registered"
    return ws


async def test_the_challenge_is_a_fresh_sha256_nonce_per_socket(server, http):
    first = await read_challenge(await http.ws_connect(server.url("/signalling")))
    second = await read_challenge(await http.ws_connect(server.url("/signalling")))
    assert first["realm"] == second["realm"] == "mcu-sim"
    assert first["algorithm"] == "SHA-256"
    assert len(first["nonce"]) >= 32 and first["nonce"] != second["nonce"]


async def test_without_a_credential_everything_is_refused_and_nothing_registered(server, http):
    ws = await http.ws_connect(server.url("/signalling"))
    challenge = await read_challenge(ws)
    offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    refused = [
        {"type": "call", "call_id": "c1", "to": WARD, "sdp": offer},
        {"type": "join", "call_id": "j1", "access_code": "80000001", "password": "", "sdp": offer},
        {"type": "answer", "call_id": "a1", "sdp": offer},
        {"type": "ringing", "call_id": "r1"},
        {"type": "decline", "call_id": "d1"},
        {"type": "bye", "call_id": "b1"},
        {"type": "invite", "call_id": "i1", "conf_id": "1", "conf_name": "x", "sdp": offer},
    ]
    for message in refused:
        await ws.send_str(json.dumps(message))
        answer = await next_message(ws)
        assert (answer["type"], answer["code"], answer["call_id"]) == (
            "error", "unauthorized", message["call_id"]), message
    # a register without auth, for a known URI: refused, not counted (no guess made)
    for _ in range(LOCK_ATTEMPTS + 1):
        await ws.send_str(register(WARD))
        assert (await next_message(ws))["code"] == "unauthorized"
    await ws.send_str(json.dumps({"type": "ping", "seq": 3}))  # ping is allowed
    assert await ws.receive_json(timeout=10) == {"type": "pong", "seq": 3}
    assert WARD not in server.gateway.runtime.registry
    assert len(server.gateway.runtime.registry) == 0
    assert WARD not in await listed_uris(server)
    # nothing was counted and the first challenge still stands: the right secret registers
    await ws.send_str(register(WARD, auth_for(WARD, challenge, WARD_SECRET)))
    assert (await next_message(ws))["type"] == "registered"
    await ws.close()


async def test_wrong_secret_and_unknown_uri_get_the_same_answer_then_a_lock(server, http):
    ws = await http.ws_connect(server.url("/signalling"))
    challenge = await read_challenge(ws)
    nonces = {challenge["nonce"]}
    answers = []
    for uri, secret in [(WARD, "wrong"), ("01990999", "anything"), (WARD, "wrong")]:
        await ws.send_str(register(uri, auth_for(uri, challenge, secret)))
        answers.append(await next_message(ws))
        challenge = await read_challenge(ws)  # a fresh challenge for the next try
        nonces.add(challenge["nonce"])
    assert answers[0] == answers[1] == {
        "type": "error", "code": "unauthorized",
        "message": "unknown uri or wrong digest response", "call_id": None}
    assert answers[2]["code"] == "unauthorized"  # the 3rd failure locks the socket
    assert len(nonces) == 4
    # locked: the right secret is refused too, on this socket ...
    await ws.send_str(register(WARD, auth_for(WARD, challenge, WARD_SECRET)))
    locked = await next_message(ws)
    assert locked["code"] == "locked" and "socket" in locked["message"]
    # ... and the URI (2 failures) is not locked yet: a new socket registers it
    await registered_socket(http, server)
    assert WARD in server.gateway.runtime.registry


async def test_a_uri_is_locked_after_failures_from_several_sockets(server, http, clock):
    for _ in range(LOCK_ATTEMPTS):
        ws = await http.ws_connect(server.url("/signalling"))
        challenge = await read_challenge(ws)
        await ws.send_str(register(WARD, auth_for(WARD, challenge, "guess")))
        assert (await next_message(ws))["code"] == "unauthorized"
        await ws.close()
    ws = await http.ws_connect(server.url("/signalling"))
    challenge = await read_challenge(ws)
    await ws.send_str(register(WARD, auth_for(WARD, challenge, WARD_SECRET)))
    locked = await next_message(ws)
    assert locked["code"] == "locked" and "uri" in locked["message"]
    assert "retry in 900 s" in locked["message"]  # lock_minutes 15
    assert WARD not in server.gateway.runtime.registry
    clock.advance(timedelta(minutes=15))  # the lock ends
    assert await registered_socket(http, server)


async def test_a_nonce_answers_one_register_only(server, http):
    """A register seen on the wire cannot be replayed: each socket has its own nonce, and a
    refused try (here: a replay on the same socket) gets a new one."""
    ws = await http.ws_connect(server.url("/signalling"))
    challenge = await read_challenge(ws)
    spoken = register(WARD, auth_for(WARD, challenge, WARD_SECRET))
    await ws.send_str(spoken)
    assert (await next_message(ws))["type"] == "registered"
    replay = await http.ws_connect(server.url("/signalling"))
    await read_challenge(replay)
    await replay.send_str(spoken)
    assert (await next_message(replay))["code"] == "unauthorized"
    assert server.gateway.runtime.registry.lookup(WARD) is not None


async def test_the_right_secret_registers_and_the_terminal_is_called(server, http):
    ws = await registered_socket(http, server)
    assert WARD in await listed_uris(server)
    conf_id = book_dial_in(server, [WARD])
    assert await connect(server, conf_id, WARD) == 0
    invite = await next_message(ws)
    assert (invite["type"], invite["conf_id"]) == ("invite", conf_id)


async def test_a_hijack_without_the_secret_fails_and_the_real_terminal_is_invited(server, http):
    real = await registered_socket(http, server)
    endpoint = server.gateway.runtime.registry.lookup(WARD)
    attacker = await http.ws_connect(server.url("/signalling"))
    challenge = await read_challenge(attacker)
    await attacker.send_str(register(WARD, auth_for(WARD, challenge, "guessed")))
    assert (await next_message(attacker))["code"] == "unauthorized"
    # a response computed from the realm and nonce without the secret: refused as well
    await read_challenge(attacker)
    await attacker.send_str(register(WARD, {"response": "0" * 64}))
    assert (await next_message(attacker))["code"] == "unauthorized"
    assert server.gateway.runtime.registry.lookup(WARD) is endpoint
    conf_id = book_dial_in(server, [WARD])
    assert await connect(server, conf_id, WARD) == 0
    assert (await next_message(real))["type"] == "invite"
    await asyncio.sleep(0.3)
    assert not [m for m in await drain(attacker) if m["type"] == "invite"]


async def drain(ws: aiohttp.ClientWebSocketResponse) -> list[dict]:
    messages = []
    while True:
        try:
            messages.append(await ws.receive_json(timeout=0.2))
        except TimeoutError:
            return messages


async def test_the_secret_from_another_socket_replaces_the_old_registration(server, http):
    old = await registered_socket(http, server)
    new = await registered_socket(http, server)
    told = await next_message(old)
    assert (told["type"], told["code"]) == ("error", "replaced")
    closing = await old.receive(timeout=10)
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4001
    conf_id = book_dial_in(server, [WARD])
    assert await connect(server, conf_id, WARD) == 0
    assert (await next_message(new))["type"] == "invite"


async def test_a_simulated_terminal_with_a_wrong_secret_is_refused_and_stops(server):
    terminal = SimulatedTerminal(WARD, "ward", 1, secret="not it", loop_frames=4,
                                 send_video=False)
    with pytest.raises(RegistrationRefused, match="unauthorized"):
        await terminal.start(server.url("/signalling").replace("http", "ws", 1), timeout=10)
    await asyncio.sleep(1.5)  # it does not retry (each retry would count a failure)
    assert terminal.refusal is not None and not terminal.registered
    await terminal.stop()
    right = SimulatedTerminal(WARD, "ward", 1, secret=WARD_SECRET, loop_frames=4,
                              send_video=False)
    await right.start(server.url("/signalling").replace("http", "ws", 1), timeout=10)
    assert WARD in server.gateway.runtime.registry
    await right.stop()


async def test_serve_terminals_register_with_the_embedded_defaults(tmp_path):
    """`mcu-sim serve` / `make run`: the embedded defaults' provisioning key gives the
    in-process terminals their credentials; querySitesEx lists them."""
    settings = load_settings(port=0, data_dir=tmp_path / "data")
    assert settings.terminal_provisioning_key == LAB_PROVISIONING_KEY
    async with running_server(settings, clock=ManualClock()) as server:
        terminals = await _start_terminals(server.base_url, settings, 1)
        try:
            assert [t.uri for t in terminals] == ["010100"]
            assert "010100" in server.gateway.runtime.registry
            assert "010100" in await listed_uris(server)
        finally:
            await stop_terminals(terminals)


def test_digest_is_sha256_of_ha1_and_nonce():
    ha1 = digest_ha1("01010086", "mcu-sim", "s3cret")
    assert ha1 == hashlib.sha256(b"01010086:mcu-sim:s3cret").hexdigest()
    assert digest_response(ha1, "n") == hashlib.sha256(f"{ha1}:n".encode()).hexdigest()
    assert lab_secret("x") == provisioned_secret(LAB_PROVISIONING_KEY, "x")


def test_the_embedded_key_is_the_lab_key_terminals_default_to():
    assert load_settings().terminal_provisioning_key == LAB_PROVISIONING_KEY


def test_terminal_credentials_settings_are_checked(tmp_path):
    config = tmp_path / "mcu.toml"
    config.write_text('[terminal_credentials]\n"0101" = "not hex"\n')
    with pytest.raises(SettingsError, match="terminal_credentials"):
        load_settings(config)
    ha1 = digest_ha1("0101", "ward realm", "pw")
    config.write_text(f'[terminal_auth]\nrealm = "ward realm"\nprovisioning_key = ""\n'
                      f'[terminal_credentials]\n"0101" = "{ha1.upper()}"\n')
    settings = load_settings(config)
    assert settings.terminal_credentials == {"0101": ha1}
    assert settings.terminal_provisioning_key == ""
    config.write_text('[terminal_auth]\nrealm = "a:b"\n')
    with pytest.raises(SettingsError, match="realm"):
        load_settings(config)


def test_the_terminals_command_secret_options(monkeypatch):
    monkeypatch.delenv("MCU_SIM_TERMINAL_SECRET", raising=False)
    monkeypatch.delenv("MCU_SIM_PROVISIONING_KEY", raising=False)
    assert secret_source(None, None)("0101") == lab_secret("0101")
    assert secret_source("pw", None)("0101") == "pw"
    assert secret_source(None, "k")("0101") == provisioned_secret("k", "0101")
    monkeypatch.setenv("MCU_SIM_TERMINAL_SECRET", "from env")
    assert secret_source(None, None)("0101") == "from env"
    with pytest.raises(ValueError):
        secret_source("", None)
