"""SIP over TLS through the gateway's redirect to the media nodes (docs/sip.md "SIP over TLS
through the redirect"), from the outside: a real redis-server, two real `mcu-sim node`
processes started with `--sip-tls-port 0` (each takes a free TLS port and announces it in its
registry record), `mcu-sim serve --redis` as a process with `[sip] tls_port = 0` (its SIP
redirect then listens for TLS too), zeep clients of the reference WSDL and simulated SIP room
systems (terminals/sip_room.py) whose client TLS context trusts only the certificates the
gateway and the nodes made in their data directories (no [tls]: self-signed, app/sip_tls.py),
so every TLS connection is verified.

- the two nodes announce distinct, listening TLS ports (`sip_tls_port`);
- a room dialling `sips:<code>*<password>@<gateway TLS port>` is redirected to the TLS port
  of the node that runs the conference (its dialog's remote target and connection are that
  port, over TLS), is in conference on that node in the SOAP view (queryConfSiteMCUEx), and
  it and a SIP room the node called over UDP see each other's markers;
- a room that dials `sip:...;transport=tls` (no `sips:`) is redirected the same way, keeps
  TLS and decodes the conference's video;
- the gateway's refusals come back over TLS with the embedded statuses (404 Conference Not
  Found, 403 Wrong Password, 403 Not Booked) and change nothing;
- `mcu-sim node --sip-tls-port` out of range ends the node with status 2 and the reason;
- self-signed certificates made for the same address (the gateway's and each node's on one
  machine) carry key identifiers, so a client that trusts several of them verifies each.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from sip.certificates import self_signed as mcu_self_signed
from sip.errors import SipCallFailed
from terminals.sip_room import SipRoom
from tests.conftest import DEMO, SoapClients, soap_clients
from tests.redis_server import RedisServer
from tests.test_bfcp_tls import self_signed
from tests.test_node_sip import dialog_port, eventually, sees, site_mcus, status_is
from tests.test_nodes import PROJECT, SERVING, START_S, child, stop
from tests.test_sip_endpoint import IN_CONFERENCE, book, panes, site_statuses

REDIRECT = re.compile(
    r"SIP redirect to the media nodes on 127\.0\.0\.1:(\d+) \(UDP, TCP, TLS on (\d+)\)")
NODE_IDS = (1, 2)


@dataclass
class TlsPlatform:
    redis: RedisServer
    root: Path
    processes: list[subprocess.Popen[str]]
    base_url: str
    gateway_tls: int  # the gateway's SIP TLS port: the redirect over TLS
    node_tls: dict[int, int]  # node id: its SIP TLS port (its registry record)
    node_sip: dict[int, int]  # node id: its SIP UDP/TCP port

    def soap(self) -> SoapClients:
        clients = soap_clients(self.base_url)
        assert clients.login(*DEMO) == 0
        return clients

    def trusted(self) -> list[Path]:
        """The certificates the gateway and the nodes made for their SIP over TLS."""
        return [self.root / "gateway" / "sip-tls" / "cert.pem",
                *(self.root / f"node{node_id}" / "sip-tls" / "cert.pem" for node_id in NODE_IDS)]


async def node_records(url: str) -> dict[int, dict[str, object]]:
    client = aioredis.Redis.from_url(url)
    try:
        found: dict[int, dict[str, object]] = {}
        for node_id in NODE_IDS:
            text = await client.get(f"mcu:node:{node_id}")
            if text is not None:
                found[node_id] = json.loads(text)
        return found
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsPlatform]:
    root = tmp_path_factory.mktemp("node-sip-tls")
    server = RedisServer()
    server.start()
    processes: list[subprocess.Popen[str]] = []
    try:
        config = root / "node.toml"  # one file for both nodes: their ports all free ones
        config.write_text("[mcu]\nmax_ports = 16\nmax_cp_resources = 16\n"
                          "[sip]\nport = 0\n[bfcp]\nport = 0\n")
        for node_id in NODE_IDS:
            processes.append(child(
                ["node", "--redis", server.url, "--node-id", str(node_id), "--name",
                 f"ward-tls-{node_id}", "--config", str(config), "--sip-tls-port", "0",
                 "--data-dir", str(root / f"node{node_id}")], root / f"node{node_id}.log"))
        deadline = time.monotonic() + START_S
        records: dict[int, dict[str, object]] = {}
        while len(records) < len(NODE_IDS) or not all(
                record.get("sip_tls_port") for record in records.values()):
            assert time.monotonic() < deadline, f"the nodes did not register TLS: {records}"
            for process, node_id in zip(processes, NODE_IDS, strict=True):
                assert process.poll() is None, (root / f"node{node_id}.log").read_text()[-3000:]
            time.sleep(0.3)
            records = asyncio.run(node_records(server.url))
        gateway_config = root / "gateway.toml"
        gateway_config.write_text("[sip]\ntls_port = 0\n")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        gateway = child(["serve", "--redis", server.url, "--port", str(port), "--sip-port", "0",
                         "--config", str(gateway_config), "--data-dir", str(root / "gateway"),
                         "--no-terminals"], root / "gateway.log")
        processes.append(gateway)
        assert gateway.stdout is not None
        base_url = ""
        for line in gateway.stdout:
            found = SERVING.search(line)
            if found:
                base_url = found.group(1)
                break
        assert base_url, (root / "gateway.log").read_text()[-3000:]
        deadline = time.monotonic() + START_S
        redirect = None
        while redirect is None:
            assert time.monotonic() < deadline, (root / "gateway.log").read_text()[-3000:]
            assert gateway.poll() is None, (root / "gateway.log").read_text()[-3000:]
            redirect = REDIRECT.search((root / "gateway.log").read_text())
            time.sleep(0.3)
        yield TlsPlatform(
            server, root, processes, base_url, int(redirect.group(2)),
            {node_id: int(str(records[node_id]["sip_tls_port"])) for node_id in NODE_IDS},
            {node_id: int(str(records[node_id]["sip_port"])) for node_id in NODE_IDS})
    finally:
        for process in reversed(processes):
            stop(process)
        server.stop()



def room_tls(platform: TlsPlatform, directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The room's own certificate, and a client context that trusts only the gateway's and
    the nodes' (verifying each TLS connection's certificate and address)."""
    directory.mkdir(parents=True, exist_ok=True)
    own_cert, own_key = self_signed(directory)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(own_cert, own_key)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname, CERT_REQUIRED
    for cert in platform.trusted():
        client.load_verify_locations(cafile=str(cert))
    return server, client


async def tls_room(platform: TlsPlatform, made: list[SipRoom], user: str, index: int,
                   directory: Path, **options) -> SipRoom:
    sip_room = SipRoom(user, index, tls=room_tls(platform, directory), **options)
    await sip_room.start()
    made.append(sip_room)
    return sip_room


def tls_uri(sip_room: SipRoom) -> str:
    """The URI a TLS caller is booked by: its From, which names its TLS port."""
    return f"sip:{sip_room.user}@127.0.0.1:{sip_room.ua.transports.ports['TLS']}"


def test_a_sip_tls_port_out_of_range_ends_the_node_with_status_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "node", "--redis", "redis://127.0.0.1:1/0",
         "--node-id", "1", "--sip-tls-port", "70000", "--data-dir", str(tmp_path)],
        cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "--sip-tls-port 70000 is not a TCP port" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_client_trusting_several_self_signed_certificates_verifies_each(
        tmp_path: Path) -> None:
    pairs = [mcu_self_signed(tmp_path / name, "127.0.0.1") for name in ("gateway", "n1", "n2")]
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for cert, _ in pairs:
        client.load_verify_locations(cafile=str(cert))
    for cert, key in pairs:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(str(cert), str(key))
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                            ssl=server_context)
        try:
            port = server.sockets[0].getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client,
                                                      server_hostname="127.0.0.1")
            peer = writer.get_extra_info("peercert")
            assert peer is not None and peer["subject"] == ((("commonName", "127.0.0.1"),),)
            writer.close()
        finally:
            server.close()
            await server.wait_closed()


def test_each_node_announces_its_own_listening_tls_port(platform: TlsPlatform) -> None:
    ports = platform.node_tls
    assert len(set(ports.values())) == len(NODE_IDS)
    assert all(port not in platform.node_sip.values() for port in ports.values())
    for node_id, port in ports.items():
        context = ssl.create_default_context(
            cafile=str(platform.root / f"node{node_id}" / "sip-tls" / "cert.pem"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.version() is not None


async def test_a_tls_dial_in_is_redirected_to_the_node_s_tls_port_and_joins_there(
        platform: TlsPlatform, rooms: list[SipRoom], tmp_path: Path) -> None:
    soap = await asyncio.to_thread(platform.soap)
    caller = await tls_room(platform, rooms, "tls-room-in", 41, tmp_path / "in",
                            video_codecs=("h264-cb",), audio_codecs=("opus",))
    plain = await tls_room(platform, rooms, "tls-room-plain", 42, tmp_path / "plain",
                           video_codecs=("vp8",), audio_codecs=("g722",))
    stranger = await tls_room(platform, rooms, "tls-room-stranger", 43, tmp_path / "stranger")
    dialled = SipRoom("tls-room-out", 44, video_codecs=("vp8",), audio_codecs=("g722",))
    await dialled.start()
    rooms.append(dialled)
    booked, booked_plain = tls_uri(caller), tls_uri(plain)
    conf_id, code = await asyncio.to_thread(
        book, soap, datetime.now(UTC), [booked, booked_plain, dialled.uri], password="135790",
        dial_in=frozenset({booked, booked_plain}))
    await eventually(status_is(soap, conf_id, {dialled.uri: IN_CONFERENCE}),
                     "the dial-out site in conference")
    node_id = (await asyncio.to_thread(site_mcus, soap, conf_id))[dialled.uri]
    assert node_id in NODE_IDS
    before = await asyncio.to_thread(site_statuses, soap, conf_id)
    gateway = f"127.0.0.1:{platform.gateway_tls}"
    # the gateway's refusals over TLS: the embedded statuses, nothing changed
    with pytest.raises(SipCallFailed) as unknown:
        await caller.dial(f"sips:99999999*135790@{gateway}")
    assert (unknown.value.status, unknown.value.reason) == (404, "Conference Not Found")
    with pytest.raises(SipCallFailed) as wrong:
        await caller.dial(f"sips:{code}*111111@{gateway}")
    assert (wrong.value.status, wrong.value.reason) == (403, "Wrong Password")
    found = await asyncio.to_thread(site_statuses, soap, conf_id)
    assert found[booked].status == before[booked].status != IN_CONFERENCE

    # the right code and password: redirected to the node's TLS port, joined there
    dialog = await caller.dial(f"sips:{code}*135790@{gateway}")
    assert dialog.transport == "TLS"
    assert dialog.remote_target.scheme == "sips"
    assert dialog_port(caller) == platform.node_tls[node_id] != platform.gateway_tls
    assert dialog.peer is not None and dialog.peer.addr[1] == platform.node_tls[node_id]
    await eventually(status_is(soap, conf_id, {booked: IN_CONFERENCE}),
                     "the TLS caller in conference")
    assert await asyncio.to_thread(site_mcus, soap, conf_id) == {
        booked: node_id, booked_plain: node_id, dialled.uri: node_id}
    # a site not booked in it (after the success: fewer than the dial-in limits' three
    # failures from one address), over TLS in the `sip:;transport=tls` form
    with pytest.raises(SipCallFailed) as not_booked:
        await stranger.dial(f"sip:{code}*135790@{gateway};transport=tls")
    assert (not_booked.value.status, not_booked.value.reason) == (403, "Not Booked")
    assert tls_uri(stranger) not in await asyncio.to_thread(site_statuses, soap, conf_id)

    answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                     target="0", presenceMode=2,
                                     subPics=[booked, dialled.uri])
    assert answer == 0
    for viewer in (caller, dialled):
        viewer.set_panes(panes(2))
    for viewer in (caller, dialled):
        await eventually(sees(viewer, [41, 44]), f"{viewer.user} sees both markers")

    # a caller that knows no `sips:` dials `sip:...;transport=tls`: kept on TLS at the node
    # (a new SOAP session: the markers may take longer than the gateway's idle timeout)
    soap = await asyncio.to_thread(platform.soap)
    dialog = await plain.dial(f"sip:{code}*135790@{gateway};transport=tls")
    assert dialog.transport == "TLS"
    assert dialog_port(plain) == platform.node_tls[node_id]
    await eventually(status_is(soap, conf_id, {booked_plain: IN_CONFERENCE}),
                     "the transport=tls caller in conference")
    plain.set_panes(None)
    await eventually(lambda: plain.video.frames_decoded > 5,
                     "video decoded by the transport=tls caller")
