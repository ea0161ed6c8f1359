"""The MCU's SIP registrar with digest accounts ([sip_accounts]: user -> HA1) and its SIP over
TLS ([sip] tls_port), from the outside: a real server (in-process, SOAP with zeep), our own
SIP user agents and simulated room systems (terminals/sip_room.py) on loopback.

- [sip_accounts] and [sip] keys read from a settings file; bad values refused with a message
  naming the key;
- REGISTER without credentials: 401 with a challenge in the algorithms the account holds
  (MD5 only for an MD5 account: what baresip 1.0.0 can answer); a wrong password 403; a user
  without an account 403 after answering the challenge; the right password bound, and the
  number then called by a conference booking it;
- no accounts and `open_registrar = false`: every REGISTER 403, nothing bound;
- TLS: a room calls the conference's access code at `sips:` on the MCU's TLS port and joins,
  decodes video; the MCU's BYE (disconnectSitesEx) reaches it on the same TLS connection;
  without [tls] the MCU makes a self-signed certificate and keeps it across restarts, with
  [tls] it presents that certificate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.process import RunningServer
from gateway.settings import Settings, SettingsError, load_settings
from sip.accounts import SipAccounts
from sip.digest import account_ha1, parse_auth
from sip.errors import SipCallFailed
from terminals.sip_room import SipRoom
from tests.conftest import ServerThread
from tests.sip_helpers import RawUdp, make_ua
from tests.test_bfcp_tls import self_signed
from tests.test_sip_endpoint import IN_CONFERENCE, book, eventually, wait_status

REALM = "mcu-sim"
BOTH_USER, BOTH_PASSWORD = "1001", "s3cret-1001"
MD5_USER, MD5_PASSWORD = "1002", "s3cret-1002"


@pytest.fixture
def gateway_settings(tmp_path: Path) -> Settings:
    """Two accounts (one with both HA1s, one MD5 only); SIP over TLS on an ephemeral port
    with the self-signed certificate the MCU makes (no [tls]: the gateway stays HTTP)."""
    settings = load_settings(port=0, data_dir=tmp_path / "data").with_sip_account(
        BOTH_USER, BOTH_PASSWORD)
    accounts = dict(settings.sip.accounts.table)
    accounts[MD5_USER] = {"MD5": account_ha1("MD5", MD5_USER, REALM, MD5_PASSWORD)}
    return dataclasses.replace(
        settings, sip=dataclasses.replace(settings.sip, tls_port=0, accounts=SipAccounts(accounts)))


def test_sip_settings_from_a_file(tmp_path: Path) -> None:
    md5 = account_ha1("MD5", "7001", "lab", "pw")
    sha = account_ha1("SHA-256", "7001", "lab", "pw")
    config = tmp_path / "mcu.toml"
    config.write_text(f'[sip]\ntls_port = 5071\nrealm = "lab"\nopen_registrar = false\n'
                      f'[sip_accounts]\n"7001" = ["{md5}", "{sha.upper()}"]\n"7002" = "{md5}"\n')
    settings = load_settings(config)
    assert settings.sip.tls_port == 5071 and settings.sip.realm == "lab"
    assert settings.sip.open_registrar is False
    assert settings.sip.accounts.algorithms_of("7001") == ("SHA-256", "MD5")
    assert settings.sip.accounts.ha1("7001", "SHA-256") == sha  # kept lower-case
    assert settings.sip.accounts.algorithms_of("7002") == ("MD5",)
    defaults = load_settings()
    assert defaults.sip.tls_port is None and defaults.sip.open_registrar is True
    assert not defaults.sip.accounts
    for text, named in (('[sip]\ntls_port = 70000\n', "tls_port"),
                        ('[sip]\ntls_port = true\n', "tls_port"),
                        ('[sip]\nopen_registrar = "yes"\n', "open_registrar"),
                        ('[sip]\nrealm = "a:b"\n', "realm"),
                        ('[sip]\nsecret = 1\n', "unknown keys in [sip]"),
                        ('[sip_accounts]\n"7001" = "abc"\n', "7001"),
                        (f'[sip_accounts]\n"7001" = ["{md5}", "{md5}"]\n', "two MD5"),
                        (f'[sip_accounts]\n"70@01" = "{md5}"\n', "70@01"),
                        ('[sip_accounts]\n"7001" = 5\n', "7001")):
        config.write_text(text)
        with pytest.raises(SettingsError, match=re.escape(named)):
            load_settings(config)


async def challenge_algorithms(port: int, user: str) -> list[str]:
    """The algorithms of the 401's challenges to a REGISTER for `user` without credentials
    (sent from a raw socket, so every header of the answer is seen)."""
    raw = await RawUdp.open()
    try:
        raw.send((f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
                  f"Via: SIP/2.0/UDP 127.0.0.1:{raw.port};branch=z9hG4bKreg{user}\r\n"
                  f"From: <sip:{user}@127.0.0.1>;tag=r1\r\nTo: <sip:{user}@127.0.0.1>\r\n"
                  f"Call-ID: reg-{user}\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
                  f"Contact: <sip:{user}@127.0.0.1:{raw.port}>\r\nContent-Length: 0\r\n\r\n"
                  ).encode(), port)
        answer = await raw.answer()
    finally:
        raw.close()
    assert answer.status == 401
    challenges = [parse_auth(c)[1] for c in answer.headers.get_all("WWW-Authenticate")]
    assert {c["realm"] for c in challenges} == {REALM}
    return [c["algorithm"] for c in challenges]


async def test_registration_needs_the_accounts_password(gateway_server: RunningServer) -> None:
    assert gateway_server.sip is not None
    registrar = f"sip:127.0.0.1:{gateway_server.sip.port}"
    aor = f"sip:{BOTH_USER}@127.0.0.1"
    port = gateway_server.sip.port
    # no credentials: 401; an account holding both HA1s gets both challenges, SHA-256
    # first; an MD5-only account MD5 only (all baresip 1.0.0 can answer); a user without an
    # account both, like any
    assert await challenge_algorithms(port, BOTH_USER) == ["SHA-256", "MD5"]
    assert await challenge_algorithms(port, MD5_USER) == ["MD5"]
    assert await challenge_algorithms(port, "4242") == ["SHA-256", "MD5"]
    ua = make_ua(BOTH_USER)
    async with ua:
        with pytest.raises(SipCallFailed) as caught:
            await ua.register(registrar, aor)
        assert caught.value.status == 401
        with pytest.raises(SipCallFailed) as caught:
            await ua.register(registrar, aor, password="wrong")
        assert caught.value.status == 403
        # a user without an account: challenged like any, refused once it answers
        with pytest.raises(SipCallFailed) as caught:
            await ua.register(registrar, "sip:4242@127.0.0.1", password="guess")
        assert caught.value.status == 403
        # another user's account for this address-of-record: refused
        with pytest.raises(SipCallFailed) as caught:
            await ua.register(registrar, aor, password=MD5_PASSWORD, username=MD5_USER)
        assert caught.value.status == 403
        assert gateway_server.sip.registrar.lookup(aor) == []  # nothing refused was bound
        assert await ua.register(registrar, aor, password=BOTH_PASSWORD, expires=600) == 600
        assert await ua.register(registrar, f"sip:{MD5_USER}@127.0.0.1",
                                 password=MD5_PASSWORD, expires=600) == 600


async def test_a_room_registered_with_digest_is_called_by_its_number(
        gateway_server: RunningServer, soap, clock) -> None:
    assert gateway_server.sip is not None
    registrar = f"sip:127.0.0.1:{gateway_server.sip.port}"
    room = SipRoom(MD5_USER, 31)
    await room.start()
    try:
        with pytest.raises(SipCallFailed) as caught:
            await room.register(registrar, f"sip:{MD5_USER}@127.0.0.1", password="wrong")
        assert caught.value.status == 403
        assert gateway_server.sip.registrar.lookup(f"sip:{MD5_USER}@127.0.0.1") == []
        await room.register(registrar, f"sip:{MD5_USER}@127.0.0.1", password=MD5_PASSWORD)
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [MD5_USER])
        await wait_status(soap, conf_id, MD5_USER, IN_CONFERENCE, "the registered number")
        assert room.calls_answered == 1
    finally:
        await room.close()


@pytest.fixture
def closed_registrar(tmp_path: Path, clock) -> Iterator[RunningServer]:
    settings = load_settings(port=0, data_dir=tmp_path / "closed")
    settings = dataclasses.replace(settings, sip=dataclasses.replace(settings.sip,
                                                                     open_registrar=False))
    thread = ServerThread(settings, clock)
    server = thread.start()
    try:
        yield server
    finally:
        thread.stop()


async def test_without_accounts_a_closed_registrar_binds_nobody(
        closed_registrar: RunningServer) -> None:
    assert closed_registrar.sip is not None
    ua = make_ua("8001")
    async with ua:
        with pytest.raises(SipCallFailed) as caught:
            await ua.register(f"sip:127.0.0.1:{closed_registrar.sip.port}",
                              "sip:8001@127.0.0.1", password="anything")
        assert (caught.value.status, caught.value.reason) == (403, "Registration Closed")
    assert closed_registrar.sip.registrar.lookup("sip:8001@127.0.0.1") == []
    assert closed_registrar.sip.tls_port is None  # no [sip] tls_port: no TLS listener


def _room_tls(gateway_settings: Settings, tmp_path: Path) -> tuple[ssl.SSLContext,
                                                                   ssl.SSLContext]:
    """The room's own certificate (which the MCU does not trust) and a client context that
    trusts the one the MCU made in its data dir."""
    own_cert, own_key = self_signed(tmp_path / "room")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(own_cert, own_key)
    client = ssl.create_default_context(
        cafile=str(gateway_settings.data_dir / "sip-tls" / "cert.pem"))
    return server, client


async def test_a_room_dials_in_over_tls_and_is_hung_up_on_the_same_connection(
        gateway_server: RunningServer, gateway_settings: Settings, soap, clock,
        tmp_path: Path) -> None:
    assert gateway_server.sip is not None and gateway_server.sip.tls_port is not None
    (tmp_path / "room").mkdir()
    room = SipRoom("room-tls", 32, tls=_room_tls(gateway_settings, tmp_path))
    await room.start()
    try:
        booked = f"sip:room-tls@127.0.0.1:{room.ua.transports.ports['TLS']}"  # its From
        conf_id, code = await asyncio.to_thread(book, soap, clock.now(), [booked],
                                                password="424242", dial_in=frozenset({booked}))
        dialog = await room.dial(f"sips:{code}*424242@127.0.0.1:{gateway_server.sip.tls_port}")
        assert dialog.transport == "TLS"
        await wait_status(soap, conf_id, booked, IN_CONFERENCE, "the TLS caller in conference")
        room.set_panes(None)
        await eventually(lambda: room.video.frames_decoded > 5, "video decoded over the TLS call")
        answer = await asyncio.to_thread(soap.conf_mgr.disconnectSitesEx, confId=conf_id,
                                         siteUris=[booked])
        assert answer == 0
        # the room has no certificate the MCU trusts: the BYE came on the caller's connection
        await eventually(lambda: room.call is None, "the MCU's BYE over TLS")
        assert dialog.ended_by == "remote"
    finally:
        await room.close()


def test_sip_tls_without_a_certificate_makes_a_self_signed_one(tmp_path: Path, clock) -> None:
    settings = load_settings(port=0, data_dir=tmp_path / "data")
    settings = dataclasses.replace(settings, sip=dataclasses.replace(settings.sip, tls_port=0))
    thread = ServerThread(settings, clock)
    server = thread.start()
    try:
        assert server.sip is not None and server.sip.tls_port is not None
        cert = tmp_path / "data" / "sip-tls" / "cert.pem"
        key = tmp_path / "data" / "sip-tls" / "key.pem"
        assert cert.is_file() and key.stat().st_mode & 0o077 == 0
        # a client that trusts that certificate completes a TLS handshake with the SIP port
        context = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", server.sip.tls_port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version() is not None
        first = cert.read_bytes()
    finally:
        thread.stop()
    thread = ServerThread(settings, clock)  # a restart keeps the same certificate
    thread.start()
    thread.stop()
    assert cert.read_bytes() == first


def test_sip_tls_presents_the_gateways_tls_certificate(tmp_path: Path, clock) -> None:
    cert, key = self_signed(tmp_path)
    settings = load_settings(port=0, data_dir=tmp_path / "data")
    settings = dataclasses.replace(settings, tls_cert=cert, tls_key=key,
                                   sip=dataclasses.replace(settings.sip, tls_port=0))
    thread = ServerThread(settings, clock)
    server = thread.start()
    try:
        assert server.sip is not None and server.sip.tls_port is not None
        context = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", server.sip.tls_port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(
                    cert.read_text())
        assert not (tmp_path / "data" / "sip-tls").exists()  # nothing self-signed made
    finally:
        thread.stop()
