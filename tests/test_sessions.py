"""TP.Common login protocol, sessions, lockout, and both SOAP versions (shared/reference/README.md)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from datetime import timedelta

import pytest
import requests
from lxml import etree
from requests.adapters import HTTPAdapter

from app.process import running_server
from gateway import result_codes
from gateway.sessions import client_proof, expected_proof
from gateway.settings import SettingsError, load_settings, parse_account, password_digest
from mcu.ownership import Role
from tests.conftest import DEMO, TESTER, TNS, envelope, soap_clients

SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"


def test_proof_follows_the_reference_formula():
    challenge = bytes(range(16))
    h1 = hashlib.sha256(b"Demo@123").hexdigest()
    manual = base64.b64encode(hashlib.sha256((h1 + challenge.hex()).encode()).digest()).decode()
    assert client_proof("Demo@123", base64.b64encode(challenge).decode()) == manual
    assert base64.b64encode(expected_proof(h1, challenge)).decode() == manual


def test_login_request_answers_a_challenge_and_sets_a_cookie(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    answer = clients.common.LoginRequest(userName="demo", clientType="API", version=1)
    assert answer.resultCode == 0
    assert answer.hashType == "SHA256"
    assert len(answer.randomSequence) == 16
    assert clients.session_id


def test_correct_proof_authenticates_with_a_new_session_id(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    challenge = clients.common.LoginRequest(userName="demo", clientType="API", version=1)
    login_cookie = clients.session_id
    proof = expected_proof(password_digest(DEMO[1]), challenge.randomSequence)
    assert clients.common.Authenticate(encryptPassword=proof) == 0
    assert clients.session_id and clients.session_id != login_cookie
    assert clients.common.KeepAlive() == 0
    # the pre-login id died with the Authenticate
    stale = soap_clients(gateway_server.base_url)
    stale.http.cookies.set("JSESSIONID", login_cookie)
    assert stale.common.KeepAlive() == result_codes.SESSION_INVALID


def test_calls_without_a_session_get_571052032(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    assert clients.common.KeepAlive() == result_codes.SESSION_INVALID
    assert clients.common.Logout() == result_codes.SESSION_INVALID
    clients.http.cookies.set("JSESSIONID", "NOT-A-SESSION")
    assert clients.common.KeepAlive() == result_codes.SESSION_INVALID


def test_a_challenged_but_unauthenticated_session_is_not_a_session(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    clients.common.LoginRequest(userName="demo", clientType="API", version=1)
    assert clients.common.KeepAlive() == result_codes.SESSION_INVALID


def test_authenticate_without_login_request(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    assert clients.common.Authenticate(encryptPassword=b"x" * 32) == result_codes.SESSION_INVALID


def test_wrong_proof_and_unknown_user_codes(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    assert clients.login("demo", "wrong-password") == result_codes.WRONG_PASSWORD
    answer = clients.common.LoginRequest(userName="nobody", clientType="API", version=1)
    assert answer.resultCode == result_codes.UNKNOWN_USER
    assert answer.randomSequence is None


def test_three_wrong_proofs_lock_the_user_for_30_minutes(gateway_server, clock):
    clients = soap_clients(gateway_server.base_url)
    assert clients.login("demo", "bad-1") == result_codes.WRONG_PASSWORD
    assert clients.login("demo", "bad-2") == result_codes.WRONG_PASSWORD
    assert clients.login("demo", "bad-3") == result_codes.ACCOUNT_LOCKED
    # locked: even the right password; the lock is the user's, not the address's
    assert clients.login(*DEMO) == result_codes.ACCOUNT_LOCKED
    assert clients.login(*TESTER) == 0
    clock.advance(timedelta(minutes=29))
    assert clients.login(*DEMO) == result_codes.ACCOUNT_LOCKED
    clock.advance(timedelta(minutes=1, seconds=1))
    assert clients.login(*DEMO) == 0
    assert clients.common.KeepAlive() == 0


class _FromAddress(HTTPAdapter):
    """Connections from another loopback address (Linux routes all of 127/8 to lo)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        return super().init_poolmanager(*args, **kwargs)


def _clients_from(gateway_server, source: str):
    clients = soap_clients(gateway_server.base_url)
    clients.http.mount("http://", _FromAddress(source))
    return clients


def test_the_user_lock_holds_from_every_address(gateway_server, clock):
    first = _clients_from(gateway_server, "127.0.0.2")
    second = _clients_from(gateway_server, "127.0.0.3")
    assert first.login("demo", "bad-1") == result_codes.WRONG_PASSWORD
    assert second.login("demo", "bad-2") == result_codes.WRONG_PASSWORD
    assert first.login("demo", "bad-3") == result_codes.ACCOUNT_LOCKED
    assert second.login(*DEMO) == result_codes.ACCOUNT_LOCKED
    # the tester behind either address is not affected
    assert first.login(*TESTER) == 0 and second.login(*TESTER) == 0
    clock.advance(timedelta(minutes=30, seconds=1))
    assert second.login(*DEMO) == 0


def test_unknown_names_lock_only_their_address_and_only_for_unknown_names(
    gateway_server, clock
):
    guesser = _clients_from(gateway_server, "127.0.0.2")
    neighbour = _clients_from(gateway_server, "127.0.0.3")

    def begin(clients, name: str) -> int:
        return clients.common.LoginRequest(userName=name, clientType="API", version=1).resultCode

    # 20 unknown names (unknown_user_attempts) are answered as unknown; the 21st is locked
    for n in range(20):
        assert begin(guesser, f"nobody-{n}") == result_codes.UNKNOWN_USER
    assert begin(guesser, "nobody-20") == result_codes.ACCOUNT_LOCKED
    # the address is locked for unknown names only: its known users still log in
    assert guesser.login(*DEMO) == 0
    assert guesser.login(*TESTER) == 0
    # another address is counted apart
    assert begin(neighbour, "nobody-x") == result_codes.UNKNOWN_USER
    clock.advance(timedelta(minutes=29))
    assert begin(guesser, "nobody-21") == result_codes.ACCOUNT_LOCKED
    clock.advance(timedelta(minutes=1, seconds=1))
    assert begin(guesser, "nobody-22") == result_codes.UNKNOWN_USER


def test_a_success_resets_the_wrong_proof_count(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    assert clients.login("demo", "bad") == result_codes.WRONG_PASSWORD
    assert clients.login("demo", "bad") == result_codes.WRONG_PASSWORD
    assert clients.login(*DEMO) == 0
    assert clients.login("demo", "bad") == result_codes.WRONG_PASSWORD
    assert clients.login(*DEMO) == 0


def test_session_expires_60_s_after_its_last_request(soap, clock):
    clock.advance(timedelta(seconds=40))
    assert soap.common.KeepAlive() == 0  # refreshes
    clock.advance(timedelta(seconds=40))
    assert soap.common.KeepAlive() == 0
    clock.advance(timedelta(seconds=61))
    assert soap.common.KeepAlive() == result_codes.SESSION_INVALID


def test_logout_ends_the_session(soap):
    assert soap.common.Logout() == 0
    assert soap.common.KeepAlive() == result_codes.SESSION_INVALID


def test_sessions_are_independent(soap, soap_login):
    other = soap_login(*TESTER)
    assert other.session_id != soap.session_id
    assert other.common.Logout() == 0
    assert soap.common.KeepAlive() == 0


def test_soap12_request_is_answered_in_soap12(gateway_server, post_raw):
    body = envelope("<smc:LoginRequest><userName>demo</userName></smc:LoginRequest>", 12)
    response = post_raw(body, content_type='application/soap+xml; charset=utf-8')
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/soap+xml")
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{SOAP12_ENV}}}Envelope"
    answer = root.find(f"{{{SOAP12_ENV}}}Body/{{{TNS}}}LoginRequestResponse")
    assert answer is not None
    assert answer.findtext("resultCode") == "0"
    assert "JSESSIONID=" in response.headers["Set-Cookie"]


def test_whole_login_flow_in_soap12(gateway_server, post_raw):
    first = post_raw(
        envelope("<smc:LoginRequest><userName>demo</userName></smc:LoginRequest>", 12),
        content_type="application/soap+xml",
    )
    challenge = re.search(rb"<randomSequence>([^<]+)</randomSequence>", first.content).group(1)
    proof = client_proof(DEMO[1], challenge.decode())
    second = post_raw(
        envelope(f"<smc:Authenticate><encryptPassword>{proof}</encryptPassword></smc:Authenticate>", 12),
        content_type="application/soap+xml",
        cookies={"JSESSIONID": first.cookies["JSESSIONID"]},
    )
    assert b"<resultCode>0</resultCode>" in second.content
    third = post_raw(
        envelope("<smc:KeepAlive/>", 12),
        content_type="application/soap+xml",
        cookies={"JSESSIONID": second.cookies["JSESSIONID"]},
    )
    assert third.headers["Content-Type"].startswith("application/soap+xml")
    assert b"<resultCode>0</resultCode>" in third.content


def test_ws_t_546_paths_serve_the_same_operations(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    common = clients.client.create_service(
        f"{{{TNS}}}TP.Commonbinding", gateway_server.url("/services/common")
    )
    challenge = common.LoginRequest(userName="demo", clientType="API", version=1)
    proof = expected_proof(password_digest(DEMO[1]), challenge.randomSequence)
    assert common.Authenticate(encryptPassword=proof) == 0
    assert common.KeepAlive() == 0


def test_settings_store_only_password_digests():
    settings = load_settings().with_account("alice", "Secret#1")
    assert settings.accounts["alice"] == hashlib.sha256(b"Secret#1").hexdigest()
    assert "Secret#1" not in repr(settings)
    assert settings.accounts["demo"] == hashlib.sha256(b"Demo@123").hexdigest()
    assert parse_account("bob:pa:ss") == ("bob", "pa:ss", Role.OPERATOR)
    with pytest.raises(SettingsError):
        parse_account("no-password")


def test_config_file_overrides_defaults_and_flags_override_both(tmp_path):
    config = tmp_path / "gw.toml"
    config.write_text(
        '[server]\nport = 9090\n[sessions]\ntimeout_seconds = 5\n'
        f'[accounts]\nops = "{password_digest("Ops@2024")}"\n'
    )
    settings = load_settings(config, port=7070)
    assert settings.port == 7070
    assert settings.session_timeout_seconds == 5
    assert set(settings.accounts) == {"demo", "ops"}
    config.write_text("[server]\nprot = 1\n")
    with pytest.raises(SettingsError):
        load_settings(config)
    config.write_text('[accounts]\nops = "plain-password"\n')
    with pytest.raises(SettingsError):
        load_settings(config)


async def test_https_with_a_certificate_and_key(tmp_path, clock):
    cert, key = _self_signed(tmp_path)
    settings = load_settings(port=0, data_dir=tmp_path / "data", tls_cert=cert, tls_key=key)
    async with running_server(settings, clock=clock) as server:
        assert server.base_url.startswith("https://")
        import asyncio

        clients = soap_clients(server.base_url, verify=str(cert))
        code = await asyncio.to_thread(clients.login, *DEMO)
        assert code == 0
        assert await asyncio.to_thread(clients.common.KeepAlive) == 0
        with pytest.raises(requests.exceptions.SSLError):
            await asyncio.to_thread(requests.get, server.url("/services/common?wsdl"), timeout=10)


def _self_signed(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
