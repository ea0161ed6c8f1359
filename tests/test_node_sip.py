"""SIP room systems in conferences that run on a media node (issue 18; docs/sip.md "SIP on
media nodes"), from the outside: a real redis-server, a real `mcu-sim node` process with its
own SIP port, `mcu-sim serve --redis` as a process (its SIP address the redirect to the
nodes), zeep clients of the reference WSDL, simulated SIP room systems (terminals/sip_room.py)
and WebRTC terminals reading the markers they decode.

- dial-out: the node's own SIP user agent calls the SIP sites (their dialogs' remote target
  is the node's SIP port, not the gateway's); every site, SIP and WebRTC, sees the four
  markers of the CP picture; the SOAP status shows the SIP sites in conference on node 1
  (queryConfSiteMCUEx); disconnectSitesEx sends the site the node's BYE, connectSitesEx
  calls it again, a BYE from a site makes it not joined;
- dial-in: a SIP site dialling the gateway's SIP address with the access code and password
  is redirected (302) to the node, joins there (its dialog is with the node), is shown in
  conference by the gateway and sees and is seen; the gateway's refusals are the embedded
  ones (403 Wrong Password, 404 Conference Not Found, 403 Not Booked), and change nothing;
  a node dialled directly with an unknown code answers 404 itself; disconnectSitesEx hangs
  the dialled-in site up from the node;
- content: the node is the BFCP floor server of its conferences; a SIP room granted the
  floor there has its pages decoded by the other room, and the gateway's SOAP view
  (queryConferencesStatusEx presentation, isSendAuxStreamEx) follows the node's floor;
- baresip (a real softphone, when installed) dialling the gateway follows the 302 to the
  node by itself, joins there, and it and a WebRTC terminal see each other's markers.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from rtc.bfcp.tables import RequestStatus
from sip.errors import SipCallFailed
from terminals.client import SimulatedTerminal
from terminals.documents import DocumentKind
from terminals.marker import read_marker
from terminals.sip_room import SipRoom
from tests.baresip import missing_reason
from tests.conftest import DEMO, SoapClients, soap_clients
from tests.redis_server import RedisServer
from tests.test_baresip import clips, phones  # noqa: F401 (fixtures)
from tests.test_nodes import SERVING, START_S, child, stop, terminal
from tests.test_sip_content import presentation, shows, sip_room
from tests.test_sip_endpoint import CP_4_1, IN_CONFERENCE, NOT_JOINED, book, panes, site_statuses

REDIRECT = re.compile(r"SIP redirect to the media nodes on 127\.0\.0\.1:(\d+)")
WAIT_S = 90.0  # calls and pictures through processes on a loaded 2-core machine
NODE_ID = 1


@dataclass
class SipPlatform:
    redis: RedisServer
    root: Path
    node: subprocess.Popen[str]
    gateway: subprocess.Popen[str]
    base_url: str
    gateway_sip: int  # the gateway's SIP address: the redirect
    node_sip: int  # the node's own SIP user agent

    def soap(self) -> SoapClients:
        clients = soap_clients(self.base_url)
        assert clients.login(*DEMO) == 0
        return clients

    def restart_gateway(self) -> None:
        """The gateway killed mid-conference (SIGKILL: nothing said to anyone) and started
        again on the same SOAP port; its new SIP address (a free port) read from its log."""
        log_path = self.root / "gateway.log"
        self.gateway.send_signal(signal.SIGKILL)
        self.gateway.wait(timeout=30)
        stop(self.gateway)
        seen = len(log_path.read_text())
        port = self.base_url.rsplit(":", 1)[1].split("/", 1)[0]
        self.gateway = child(["serve", "--redis", self.redis.url, "--port", port,
                              "--sip-port", "0", "--data-dir", str(self.root / "gateway"),
                              "--no-terminals"], log_path)
        assert self.gateway.stdout is not None
        for line in self.gateway.stdout:
            if SERVING.search(line):
                break
        deadline = time.monotonic() + START_S
        while True:
            found = REDIRECT.search(log_path.read_text()[seen:])
            if found:
                self.gateway_sip = int(found.group(1))
                return
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            assert self.gateway.poll() is None, log_path.read_text()[-3000:]
            time.sleep(0.3)


async def node_record(url: str) -> dict[str, object] | None:
    client = aioredis.Redis.from_url(url)
    try:
        text = await client.get(f"mcu:node:{NODE_ID}")
        return None if text is None else json.loads(text)
    finally:
        await client.aclose()


def wait_for_line(path: Path, pattern: re.Pattern[str],
                  process: subprocess.Popen[str]) -> re.Match[str]:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        found = pattern.search(path.read_text() if path.exists() else "")
        if found:
            return found
        assert process.poll() is None, path.read_text()[-3000:]
        time.sleep(0.3)
    raise AssertionError(f"{pattern.pattern} not in {path}")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipPlatform]:
    root = tmp_path_factory.mktemp("node-sip")
    server = RedisServer()
    server.start()
    node: subprocess.Popen[str] | None = None
    gateway: subprocess.Popen[str] | None = None
    try:
        config = root / "node.toml"
        config.write_text("[mcu]\nmax_ports = 16\nmax_cp_resources = 16\n"
                          "[sip]\nport = 0\n[bfcp]\nport = 0\n")
        node = child(["node", "--redis", server.url, "--node-id", str(NODE_ID), "--name",
                      "ward-sip", "--config", str(config), "--data-dir", str(root / "node")],
                     root / "node.log")
        deadline = time.monotonic() + START_S
        record = None
        while record is None or not record.get("sip_port"):
            assert time.monotonic() < deadline, "the node did not register with a SIP port"
            assert node.poll() is None, (root / "node.log").read_text()[-3000:]
            time.sleep(0.3)
            record = asyncio.run(node_record(server.url))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        gateway = child(["serve", "--redis", server.url, "--port", str(port), "--sip-port", "0",
                         "--data-dir", str(root / "gateway"), "--no-terminals"],
                        root / "gateway.log")
        assert gateway.stdout is not None
        base_url = ""
        for line in gateway.stdout:
            found = SERVING.search(line)
            if found:
                base_url = found.group(1)
                break
        assert base_url, (root / "gateway.log").read_text()[-3000:]
        sip = wait_for_line(root / "gateway.log", REDIRECT, gateway)
        made = SipPlatform(server, root, node, gateway, base_url, int(sip.group(1)),
                           int(str(record["sip_port"])))
        yield made
        gateway = made.gateway  # restarted by a test
    finally:
        for process in (gateway, node):
            if process is not None:
                stop(process)
        server.stop()



async def room(made: list[SipRoom], user: str, index: int, **options) -> SipRoom:
    sip_room = SipRoom(user, index, **options)
    await sip_room.start()
    made.append(sip_room)
    return sip_room


async def eventually(check, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        held = check()
        if asyncio.iscoroutine(held):
            held = await held
        if held:
            return
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.5)


def status_is(soap: SoapClients, conf_id: str, wanted: dict[str, int]):
    async def check() -> bool:
        found = await asyncio.to_thread(site_statuses, soap, conf_id)
        return {uri: found[uri].status for uri in wanted if uri in found} == wanted
    return check


def sees(viewer, expected: list[int]):
    async def check() -> bool:
        return [pane.site_index for pane in await viewer.read_panes()] == expected
    return check


def site_mcus(soap: SoapClients, conf_id: str) -> dict[str, int]:
    answer = soap.conf_mgr.queryConfSiteMCUEx(confId=conf_id)
    assert answer.resultCode == 0, answer
    return {item.siteUri: item.mcuId for item in answer.mcus}


def dialog_port(sip_room: SipRoom) -> int | None:
    """The port of the far end of the room's call (the remote target of its dialog)."""
    call = sip_room.call
    dialog = call.dialog if call is not None else None
    return dialog.remote_target.port if dialog is not None else None


async def test_sip_sites_called_by_the_node_see_everyone_and_answer_in_soap(
        platform: SipPlatform, rooms: list[SipRoom]) -> None:
    soap = await asyncio.to_thread(platform.soap)
    a, b = terminal("0302001", 21), terminal("0302002", 22)
    ws = platform.base_url.replace("http", "ws", 1) + "/signalling"
    terminals: list[SimulatedTerminal] = [a, b]
    for t in terminals:
        await t.start(ws)
    try:
        high = await room(rooms, "node-room-h264", 23, video_codecs=("h264",),
                          audio_codecs=("g722",))
        h263 = await room(rooms, "node-room-h263", 24, video_codecs=("h263",),
                          audio_codecs=("pcmu",))
        uris = [a.uri, b.uri, high.uri, h263.uri]
        conf_id, _ = await asyncio.to_thread(book, soap, datetime.now(UTC), uris)
        await eventually(status_is(soap, conf_id, dict.fromkeys(uris, IN_CONFERENCE)),
                         "all four in conference")
        # the SIP calls are the node's: their dialogs are with its SIP port
        assert dialog_port(high) == platform.node_sip != platform.gateway_sip
        assert dialog_port(h263) == platform.node_sip
        assert high.negotiated == {"audio": "G722", "video": "H264"}
        assert h263.negotiated == {"audio": "PCMU", "video": "H263"}
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == dict.fromkeys(uris, NODE_ID)
        answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx,
                                         confId=conf_id, target="0", presenceMode=CP_4_1,
                                         subPics=uris)
        assert answer == 0
        viewers = [("A", a), ("B", b), ("SIP H.264", high), ("SIP H.263", h263)]
        for _, viewer in viewers:
            viewer.set_panes(panes(CP_4_1))
        for name, viewer in viewers:
            await eventually(sees(viewer, [21, 22, 23, 24]), f"{name} sees the four markers")

        # the gateway hangs up a SIP site: the node's BYE reaches it
        answer = await asyncio.to_thread(soap.conf_mgr.disconnectSitesEx, confId=conf_id,
                                         siteUris=[high.uri])
        assert answer == 0
        await eventually(lambda: high.call is None, "the H.264 site got the node's BYE")
        await eventually(status_is(soap, conf_id, {high.uri: NOT_JOINED}),
                         "the H.264 site not joined")
        # and calls it again from the node
        answer = await asyncio.to_thread(soap.conf_mgr.connectSitesEx, confId=conf_id,
                                         siteUris=[high.uri])
        assert answer == 0
        await eventually(status_is(soap, conf_id, {high.uri: IN_CONFERENCE}),
                         "the H.264 site in conference again")
        assert dialog_port(high) == platform.node_sip
        assert high.calls_answered == 2
        high.set_panes(panes(CP_4_1))
        await eventually(sees(high, [21, 22, 23, 24]), "the H.264 site sees the four again")
        # a BYE from a site: not joined, the others stay
        await h263.hang_up()
        await eventually(status_is(soap, conf_id, {h263.uri: NOT_JOINED, a.uri: IN_CONFERENCE,
                                                   high.uri: IN_CONFERENCE}),
                         "the H.263 site not joined after its BYE")
    finally:
        for t in terminals:
            await t.stop()


async def test_a_sip_dial_in_is_redirected_to_the_node_running_the_conference(
        platform: SipPlatform, rooms: list[SipRoom]) -> None:
    soap = await asyncio.to_thread(platform.soap)
    caller = await room(rooms, "node-room-in", 25, video_codecs=("h264-cb",),
                        audio_codecs=("opus",))
    dialled = await room(rooms, "node-room-out", 26, video_codecs=("vp8",),
                         audio_codecs=("g722",))
    stranger = await room(rooms, "node-room-stranger", 27)
    booked_uri = f"sip:node-room-in@127.0.0.1:{caller.ua.transports.ports['UDP']}"
    conf_id, code = await asyncio.to_thread(
        book, soap, datetime.now(UTC), [booked_uri, dialled.uri], password="246810",
        dial_in=frozenset({booked_uri}))
    gateway = f"127.0.0.1:{platform.gateway_sip}"
    await eventually(status_is(soap, conf_id, {dialled.uri: IN_CONFERENCE}),
                     "the dial-out site in conference")
    before = (await asyncio.to_thread(site_statuses, soap, conf_id))[booked_uri].status
    assert before != IN_CONFERENCE
    # the gateway's refusals: the embedded statuses, nothing changed
    with pytest.raises(SipCallFailed) as wrong:
        await caller.dial(f"sip:{code}*111111@{gateway}")
    assert (wrong.value.status, wrong.value.reason) == (403, "Wrong Password")
    with pytest.raises(SipCallFailed) as unknown:
        await caller.dial(f"sip:99999999*246810@{gateway}")
    assert (unknown.value.status, unknown.value.reason) == (404, "Conference Not Found")
    # the node itself refuses what it does not run
    with pytest.raises(SipCallFailed) as at_node:
        await caller.dial(f"sip:99999999@127.0.0.1:{platform.node_sip}")
    assert (at_node.value.status, at_node.value.reason) == (404, "Conference Not Found")
    found = await asyncio.to_thread(site_statuses, soap, conf_id)
    assert found[booked_uri].status == before

    # the right code and password: redirected to the node, joined there
    await caller.dial(f"sip:{code}*246810@{gateway}")
    assert dialog_port(caller) == platform.node_sip
    await eventually(status_is(soap, conf_id, {booked_uri: IN_CONFERENCE}),
                     "the dialled-in site in conference")
    assert caller.negotiated == {"audio": "opus", "video": "H264"}
    assert await asyncio.to_thread(site_mcus, soap, conf_id) == {booked_uri: NODE_ID,
                                                                 dialled.uri: NODE_ID}
    # a site not booked in it (after the success above: fewer than the dial-in limits'
    # three failures from one address, which would hold the next attempt back a second)
    with pytest.raises(SipCallFailed) as not_booked:
        await stranger.dial(f"sip:{code}*246810@{gateway}")
    assert (not_booked.value.status, not_booked.value.reason) == (403, "Not Booked")
    assert stranger.uri not in await asyncio.to_thread(site_statuses, soap, conf_id)
    answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                     target="0", presenceMode=2,
                                     subPics=[booked_uri, dialled.uri])
    assert answer == 0
    for viewer in (caller, dialled):
        viewer.set_panes(panes(2))
    for viewer in (caller, dialled):
        await eventually(sees(viewer, [25, 26]), f"{viewer.user} sees both markers")
    # the gateway restarted mid-conference: the node keeps both calls, and the restarted
    # gateway takes the dialled-in one back from the node's saved state (no terminal
    # registers for it: it is a SIP call) as it takes the dial-out back
    await asyncio.to_thread(platform.restart_gateway)
    soap = await asyncio.to_thread(platform.soap)
    await eventually(status_is(soap, conf_id, {booked_uri: IN_CONFERENCE,
                                               dialled.uri: IN_CONFERENCE}),
                     "both sites in conference in the restarted gateway's view")
    assert await asyncio.to_thread(site_mcus, soap, conf_id) == {booked_uri: NODE_ID,
                                                                 dialled.uri: NODE_ID}
    assert caller.call is not None and dialog_port(caller) == platform.node_sip
    for viewer in (caller, dialled):
        await eventually(sees(viewer, [25, 26]), f"{viewer.user} still sees both markers")
    # the (restarted) gateway hangs the dialled-in site up: the node sends the BYE
    answer = await asyncio.to_thread(soap.conf_mgr.disconnectSitesEx, confId=conf_id,
                                     siteUris=[booked_uri])
    assert answer == 0
    await eventually(lambda: caller.call is None, "the dialled-in site got the node's BYE")
    await eventually(status_is(soap, conf_id, {booked_uri: NOT_JOINED,
                                               dialled.uri: IN_CONFERENCE}),
                     "the dialled-in site not joined, the other still in")


async def test_a_sip_room_shares_content_through_the_node_s_floor_server(
        platform: SipPlatform, rooms: list[SipRoom]) -> None:
    soap = await asyncio.to_thread(platform.soap)
    s1 = sip_room("node-room-share", 28, content="radiograph", receive_content=True)
    s2 = sip_room("node-room-view", 29, receive_content=True)
    for each in (s1, s2):
        await each.start()
        rooms.append(each)
    conf_id, _ = await asyncio.to_thread(book, soap, datetime.now(UTC), [s1.uri, s2.uri])
    await eventually(status_is(soap, conf_id, {s1.uri: IN_CONFERENCE, s2.uri: IN_CONFERENCE}),
                     "both rooms in conference")
    await eventually(lambda: s1.floor_connected and s2.floor_connected,
                     "both rooms' BFCP connections (to the node's floor server)")
    assert await asyncio.to_thread(presentation, soap, conf_id) is None
    # S1 presses "share": the node grants it, its media passes the pages to S2
    assert await s1.request_floor() is RequestStatus.GRANTED
    await eventually(shows(s2, 28, DocumentKind.RADIOGRAPH), "S2 decodes S1's radiograph page")
    # the gateway's view follows the node's floor
    await eventually(lambda: asyncio.to_thread(lambda: presentation(soap, conf_id) == s1.uri),
                     "the gateway shows S1 as the presentation holder")
    await eventually(lambda: asyncio.to_thread(
        lambda: soap.site_mgr.isSendAuxStreamEx(siteUri=s1.uri).result == 1),
        "isSendAuxStreamEx S1")
    # S1 stops: the floor is free at the node and in the gateway's view
    assert await s1.release_floor() is RequestStatus.RELEASED
    await eventually(lambda: asyncio.to_thread(lambda: presentation(soap, conf_id) is None),
                     "the floor free in the gateway's view")
    await eventually(lambda: not s2.content.receiver.receiving(1.0),
                     "no content after the release")
    # the chair (setAuxStreamEx on, through the gateway) gives S1 the floor: the node's
    # call_state told the gateway S1's call has a content m-line, the node's floor server
    # tells S1 over BFCP, its pages reach S2; the room without a content input is refused
    site_mgr = soap.site_mgr
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=s1.uri, controlCode=0) == 0
    await eventually(lambda: s1.holds_floor, "S1 granted over BFCP by the node")
    await eventually(lambda: asyncio.to_thread(lambda: presentation(soap, conf_id) == s1.uri),
                     "the gateway shows S1 as the holder")
    await eventually(shows(s2, 28, DocumentKind.RADIOGRAPH), "S2 decodes S1's page again")
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=s2.uri,
                                   controlCode=0) != 0
    # setAuxStreamEx off: S1 told RELEASED by the node, it stops sending, nothing shown
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=s1.uri, controlCode=1) == 0
    await eventually(lambda: not s1.holds_floor, "S1 released by the node")
    assert s1.content_call.floor.last_status is RequestStatus.RELEASED
    assert not s1.sending_content
    await eventually(lambda: asyncio.to_thread(lambda: presentation(soap, conf_id) is None),
                     "the floor free in the gateway's view")
    await eventually(lambda: not s2.content.receiver.receiving(1.0),
                     "no content after setAuxStreamEx off")
    # lockPresentationEx: the floor locked to S1 at the node; S2 cannot take it there
    assert await asyncio.to_thread(soap.conf_ctrl.lockPresentationEx, confId=conf_id,
                                   siteUri=s1.uri) == 0
    await eventually(lambda: s1.holds_floor, "S1 granted by the lock")
    await eventually(shows(s2, 28, DocumentKind.RADIOGRAPH), "S2 decodes S1's locked page")


async def test_two_quick_floor_requests_at_the_node_end_on_the_last_without_a_flip(
        platform: SipPlatform, rooms: list[SipRoom]) -> None:
    """Two rooms press "share" one right after the other at the node's floor server: the
    second holds the floor, and neither room's floor (its BFCP request statuses, the node's
    notices) nor the gateway's view ever goes back to the first."""
    soap = await asyncio.to_thread(platform.soap)
    first = sip_room("node-room-first", 30, content="radiograph", receive_content=True)
    second = sip_room("node-room-second", 31, content="record", receive_content=True)
    for each in (first, second):
        await each.start()
        rooms.append(each)
    conf_id, _ = await asyncio.to_thread(book, soap, datetime.now(UTC),
                                         [first.uri, second.uri])
    await eventually(status_is(soap, conf_id, {first.uri: IN_CONFERENCE,
                                               second.uri: IN_CONFERENCE}),
                     "both rooms in conference")
    await eventually(lambda: first.floor_connected and second.floor_connected,
                     "both rooms' BFCP connections")
    # both press "share" at once (the second request sent before the first one's answer):
    # both are granted, the one the node takes last holds the floor
    pressed = asyncio.ensure_future(first.request_floor())
    await asyncio.sleep(0)
    answers = await asyncio.gather(pressed, second.request_floor())
    assert answers == [RequestStatus.GRANTED, RequestStatus.GRANTED]
    await eventually(lambda: RequestStatus.REVOKED in floor_statuses(first) + floor_statuses(
        second), "one of the two revoked by the other's grant")
    if RequestStatus.REVOKED in floor_statuses(second):  # the node took them the other way
        first, second = second, first
    # the gateway's view, sampled until it settles: never back to the first once the second
    seen: list[str | None] = []

    async def settled() -> bool:
        seen.append(await asyncio.to_thread(presentation, soap, conf_id))
        return seen[-1] == second.uri

    await eventually(settled, "the gateway shows the second room as the holder")
    kind = {30: DocumentKind.RADIOGRAPH, 31: DocumentKind.RECORD}
    await eventually(shows(first, second.site_index, kind[second.site_index]),
                     "the first decodes the second's page")
    # a while for any echo to cross: the node's floor must not move again
    for _ in range(10):
        seen.append(await asyncio.to_thread(presentation, soap, conf_id))
        await asyncio.sleep(0.5)
    assert seen[seen.index(second.uri):] == [second.uri] * len(seen[seen.index(second.uri):])
    assert floor_statuses(first) == [RequestStatus.GRANTED, RequestStatus.REVOKED]
    assert floor_statuses(second) == [RequestStatus.GRANTED]
    assert second.holds_floor and not first.holds_floor and not first.sending_content
    await eventually(shows(first, second.site_index, kind[second.site_index]),
                     "the first still decodes the second's")
    assert await second.release_floor() is RequestStatus.RELEASED
    # ended, so its ports on the node are free for the next test's conference
    assert await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id) == 0

    async def node_freed() -> bool:
        found = await node_record(platform.redis.url)
        return found is not None and conf_id not in str(found.get("conferences"))

    await eventually(node_freed, "the node's record without the ended conference")


def floor_statuses(sip_room: SipRoom) -> list[RequestStatus]:
    """Every status the room's floor requests had, in order (its BFCP answers and the node's
    FloorRequestStatus notices)."""
    content = sip_room.content_call
    assert content is not None and content.floor is not None
    return list(content.floor.statuses)


@pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")
async def test_baresip_follows_the_redirect_to_the_node(
        platform: SipPlatform, phones, clips) -> None:  # noqa: F811
    """A real softphone (Debian's baresip, tests/baresip.py) dialling the gateway's SIP
    address follows the 302 to the node by itself and joins the conference there."""
    soap = await asyncio.to_thread(platform.soap)
    other = terminal("0302011", 30)
    await other.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    try:
        phone = await phones("node-dial-in", user="bare-node", clip=clips(31))
        booked = phone.uri
        conf_id, code = await asyncio.to_thread(
            book, soap, datetime.now(UTC), [other.uri, booked], password="445566",
            dial_in=frozenset({booked}))
        await eventually(status_is(soap, conf_id, {other.uri: IN_CONFERENCE}),
                         "the terminal in conference")
        await phone.dial(f"sip:{code}*445566@127.0.0.1:{platform.gateway_sip}")
        await phone.event("CALL_ESTABLISHED")
        await eventually(status_is(soap, conf_id, {booked: IN_CONFERENCE}),
                         "baresip in conference on the node")
        # the gateway answered it 302 (its media and dialog are the node's: the gateway
        # runs none)
        assert f"SIP dial-in of {booked} to {conf_id}: redirected to node {NODE_ID}" in \
            (platform.root / "gateway.log").read_text()
        answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx,
                                         confId=conf_id, target="0", presenceMode=2,
                                         subPics=[other.uri, booked])
        assert answer == 0
        rects = panes(2)
        other.set_panes(rects)
        await eventually(sees(other, [30, 31]), "the terminal sees baresip's marker")

        async def baresip_sees_both() -> bool:
            picture = await phone.snapshot()
            readings = [read_marker(picture, rect) for rect in rects]
            return [r.site_index if r else None for r in readings] == [30, 31]

        await eventually(baresip_sees_both, "baresip's snapshot shows both markers")
    finally:
        await other.stop()
