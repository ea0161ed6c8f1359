"""BFCP over TLS when the gateway runs HTTPS, end to end: the running MCU with a certificate
and key (a self-signed one made here with `cryptography`) serves SOAP and signalling over
HTTPS/WSS and its floor control server over TLS with the same certificate; the calls'
RFC 8856 floor parameters say TCP/TLS/BFCP; real simulated terminals (trusting that
certificate) open their BFCP connections over TLS, a floor request is granted and a second
one revokes the first; a plain-TCP Hello to the TLS port gets no BFCP answer and a closed
connection, and the floor server goes on."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.process import running_server
from gateway.settings import load_settings
from mcu.clock import ManualClock
from mcu.model import ConferenceSpec, SiteCallState, SiteSpec, VideoFormat
from rtc.bfcp.codec import Message, encode
from rtc.bfcp.tables import Primitive, RequestStatus
from rtc.bfcp.transport import BfcpClient
from rtc.deadline import within
from terminals.client import SimulatedTerminal
from terminals.media_sources import VideoFormat as SentVideo
from tests.conftest import DEMO, SoapClients, soap_clients
from tests.test_content_stream import eventually

SMALL = SentVideo(320, 180, 15, 300_000)
A, B = "0199001", "0199002"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator:
    cert, key = self_signed(tmp_path)
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path / "data", tls_cert=cert, tls_key=key)
    async with running_server(settings, clock=clock) as running:
        running.clock = clock
        running.cert = cert
        yield running


def terminal(uri: str, index: int, cert: Path) -> SimulatedTerminal:
    return SimulatedTerminal(
        uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1, video_format=SMALL,
        loop_frames=30, analyse_every=1 << 30, decode_video=False, decode_audio=False,
        content="radiograph", content_size=(640, 360), tls_ca=cert)


async def presentation_holder(clients: SoapClients, conf_id: str) -> str | None:
    """ConferenceStatusEx.presentation over SOAP (HTTPS): the floor holder."""
    answer = await asyncio.to_thread(clients.conf_mgr.queryConferencesStatusEx,
                                     confIds=[conf_id])
    return answer["conferenceStatuses"][0].presentation


async def plain_hello_answer(host: str, port: int, hello: bytes) -> bytes:
    """Send a BFCP Hello in clear to the port; everything that comes back until it closes."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(hello)
        await writer.drain()
        received = b""
        while chunk := await within(reader.read(4096), timeout=10):
            received += chunk
        return received
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_bfcp_over_tls_when_the_gateway_runs_https(https_server):
    server = https_server
    assert server.base_url.startswith("https://")
    address = server.gateway.runtime.content.bfcp_address
    assert address is not None and address.tls
    a, b = terminal(A, 51, server.cert), terminal(B, 52, server.cert)
    url = server.url("/signalling").replace("https", "wss", 1)
    await asyncio.gather(a.start(url), b.start(url))
    try:
        sites = [SiteSpec(uri, name=f"Site {uri}", video_format=VideoFormat.CIF4)
                 for uri in (A, B)]
        spec = ConferenceSpec("tls", server.clock.now(), timedelta(hours=1), sites)
        conf_id = server.gateway.scheduler.schedule(spec).conf_id
        server.gateway.runtime.reconcile()
        await eventually(lambda: a.floor is not None and b.floor is not None,
                         what="both BFCP connections (over TLS)")
        await eventually(lambda: all(
            s.state is SiteCallState.IN_CONFERENCE
            for s in server.gateway.runtime.status.site_statuses(conf_id)),
            what="both in conference")
        assert a.floor is not None and b.floor is not None
        for t in (a, b):
            params = t.floor.params
            assert params.transport == "TCP/TLS/BFCP"
            assert (params.host, params.port) == (address.host, address.port)
            client = t.floor._require()
            assert client._writer.get_extra_info("ssl_object") is not None  # TLS on the wire

        assert await a.request_floor() is RequestStatus.GRANTED
        await eventually(lambda: a.holds_floor and a.sending_content, what="A holds the floor")
        clients = await asyncio.to_thread(soap_clients, server.base_url, verify=str(server.cert))
        assert await asyncio.to_thread(clients.login, *DEMO) == 0
        assert await presentation_holder(clients, conf_id) == A

        # a plain-TCP Hello to the TLS port: no BFCP answer, the connection closed
        hello = encode(Message(Primitive.HELLO, a.floor.params.confid, 9,
                               a.floor.params.userid, ()))
        answer = await plain_hello_answer(address.host, address.port, hello)
        assert not answer.startswith(hello[:1])  # not a BFCP message (at most a TLS alert)
        assert answer == b"" or answer[0] == 0x15  # TLS alert record

        # the floor server goes on: B's request over TLS revokes A
        assert await b.request_floor() is RequestStatus.GRANTED
        await eventually(lambda: not a.holds_floor and RequestStatus.REVOKED in a.floor.statuses,
                         what="A revoked")
        assert await presentation_holder(clients, conf_id) == B
        # and a fresh TLS client is answered (HelloAck)
        verify = ssl.create_default_context(cafile=str(server.cert))
        fresh = await BfcpClient.connect(address.host, address.port, a.floor.params.confid,
                                         a.floor.params.userid, verify)
        try:
            ack = await fresh.request(Primitive.HELLO)
            assert ack.primitive is Primitive.HELLO_ACK
        finally:
            await fresh.close()
    finally:
        await asyncio.gather(a.stop(), b.stop())

