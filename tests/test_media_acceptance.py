"""Acceptance of the media plane from the outside, with the real simulated terminals
(terminals/, in this process or as an `mcu-sim terminals` process) against a real running
server: what the terminals decode (site markers read in the panes) and hear (per-talker
levels), and what the site statuses say.

- a terminal process that is killed (or hangs) is detected within 10 s with the product's
  heartbeat, its pane goes to the placeholder, the conference goes on, and it can be called
  again;
- an ICE or DTLS failure ends the call not joined with its callFailedReason (118, 12378);
- a `bye` before the call is in conference fails it: 116 (media failed) or 115;
- a conference whose begin time arrives calls its dial-out sites; its end hangs them all up;
- dial-in (dialingMode 1) with access code and password; setSitesQuietEx and
  setConfSiteVolumeEx over SOAP change what the sites hear; hideConfSiteLocalVideoEx /
  displayConfSiteLocalVideoEx put a site's panes on the placeholder and back;
- keyframe requests (RTCP PLI) from the sites of one encoder group give one keyframe per
  interval, the later ones deferred;
- only the loudest sites (mixed_speakers) are mixed, and a louder one takes a place;
- a declined call (115) and one never answered (129) end not joined with their reason;
- G.722, when a terminal offers only it, carries the audio both ways; a terminal declaring
  only G.722 (or G.711) is called with that codec; one declaring none the MCU has is refused.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest
from aiortc import RTCRtpSender, RTCSessionDescription

from app.child_process import dies_with_parent
from app.demo.soap_client import EsdkClient, check
from app.process import running_server
from gateway.settings import load_settings
from gateway.signalling import SIGNALLING
from mcu.calls import CallFailure
from mcu.clock import ManualClock
from mcu.layouts import layout_mode
from mcu.model import ConferenceSpec, DialingMode, SiteCallState, SiteSpec, VideoFormat
from rtc.signalling import Answer, Bye, Capabilities, Join, Register, Ringing
from terminals.client import CallRefused, SimulatedTerminal
from terminals.media_sources import VideoFormat as SentVideo
from terminals.run_command import terminal_uri
from tests.signalling_helpers import send_register
from tests.test_media_engine import PeerTerminal, SolidColourCamera, ToneMicrophone

SMALL = SentVideo(640, 360, 15, 500_000)
DETECTION_LIMIT_S = 10.0  # the bound for a vanished terminal
WAIT_S = 40.0
PLACEHOLDER_LUMA = 48  # mcu.media.compositor.PLACEHOLDER_GREY


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.1)


async def eventually_async(predicate, timeout: float = WAIT_S, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=4.0)
    async with running_server(settings, clock=clock) as running:
        running.clock = clock
        yield running


def signalling_url(server) -> str:
    return server.url("/signalling").replace("http", "ws", 1)


def terminal(index: int, **options) -> SimulatedTerminal:
    uri = terminal_uri("0177", index)
    defaults = dict(uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1,
                    video_format=SMALL, loop_frames=30, analyse_every=1 << 30)
    defaults.update(options)
    return SimulatedTerminal(**defaults)


def book(server, uris: list[str], *, begin=None, dial_in: frozenset[str] = frozenset(),
         **fields) -> str:
    sites = [
        SiteSpec(uri, name=f"Site {uri}", video_format=VideoFormat.CIF4,
                 dialing_mode=DialingMode.SITE_CALLS_IN if uri in dial_in
                 else DialingMode.MCU_CALLS_SITE)
        for uri in uris
    ]
    spec = ConferenceSpec("acceptance", begin or server.clock.now(), timedelta(hours=1), sites,
                          **fields)
    conference = server.gateway.scheduler.schedule(spec)
    server.gateway.runtime.reconcile()
    return conference.conf_id


def states(server, conf_id: str) -> dict[str, SiteCallState]:
    return {s.uri: s.state for s in server.gateway.runtime.status.site_statuses(conf_id)}


def status_of(server, conf_id: str, uri: str):
    return server.gateway.runtime.status.site_statuses(conf_id, [uri])[0]


def panes_of(layout: str) -> list[tuple[float, ...]]:
    return [tuple(pane.as_floats()) for pane in layout_mode(layout).panes]


async def site_indices(viewer: SimulatedTerminal) -> list[int | None]:
    return [pane.site_index for pane in await viewer.read_panes()]


async def soap_client(server) -> EsdkClient:
    client = await asyncio.to_thread(EsdkClient.connect, server.base_url)
    await asyncio.to_thread(client.login, "demo", "Demo@123")
    return client


# ---------------------------------------------------------------------------- vanishing


def start_terminal_process(server, index: int, count: int = 1) -> subprocess.Popen:
    """`mcu-sim terminals --count N --server URL` in its own process."""
    command = [
        sys.executable, "-m", "app.cli", "terminals", "--count", str(count),
        "--server", signalling_url(server), "--uri-prefix", "0177", "--start-index", str(index),
        "--ring-delay", "0.1", "--video-size", "640x360", "--fps", "15", "--no-decode",
        "--analyse-every", "1000000", "--stats-interval", "3600",
    ]
    return subprocess.Popen(dies_with_parent(command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=Path(__file__).resolve().parents[1], env=os.environ.copy())


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(10)


def pane_luma(viewer: SimulatedTerminal, rect: tuple[float, ...], path: Path) -> float:
    assert viewer.snapshot(str(path))
    picture = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    h, w = picture.shape
    x, y, pw, ph = rect
    # the centre of the pane, away from the "No video" caption's edges
    region = picture[int(h * (y + ph * 0.1)):int(h * (y + ph * 0.3)),
                     int(w * (x + pw * 0.1)):int(w * (x + pw * 0.9))]
    return float(np.median(region))


@pytest.mark.parametrize("how", ["killed", "hung"])
async def test_a_terminal_process_that_vanishes_is_detected_within_10_s(server, tmp_path, how):
    """The product's heartbeat (2 s, 3 misses): a killed process (its sockets closed by the
    kernel) or a hung one (SIGSTOP: sockets open, nothing answers) leaves the conference within
    10 s; its pane shows the placeholder; the other site stays in and keeps receiving fresh
    pictures; once the process runs again, connectSitesEx calls it back in."""
    runtime = server.gateway.runtime
    gone_index, viewer_index = 1, 2
    gone_uri = terminal_uri("0177", gone_index)
    process = start_terminal_process(server, gone_index, count=1)
    viewer = terminal(viewer_index)
    await viewer.start(signalling_url(server))
    viewer_uri = viewer.uri
    layout = panes_of("CP_2_1")
    viewer.set_panes(layout)
    try:
        await eventually(lambda: gone_uri in runtime.registry, what="the process registers")
        # registered terminals are listed by querySitesEx (SOAP, as an integrator sees them)
        soap = await soap_client(server)
        listed = await asyncio.to_thread(soap.conf_mgr.querySitesEx)
        assert {gone_uri, viewer_uri} <= {site.uri for site in check(listed, "q").siteInfos}

        conf_id = book(server, [gone_uri, viewer_uri], cp_resource=4)
        runtime.control.set_continuous_presence(conf_id, "0", layout_mode("CP_2_1").value,
                                        [gone_uri, viewer_uri])
        both = {gone_uri: SiteCallState.IN_CONFERENCE, viewer_uri: SiteCallState.IN_CONFERENCE}
        await eventually(lambda: states(server, conf_id) == both, what="both in conference")
        await eventually_async(
            lambda: _reads(viewer, [gone_index, viewer_index]), what="both panes read")

        vanished_at = time.monotonic()
        if how == "killed":
            process.kill()
        else:
            os.kill(process.pid, signal.SIGSTOP)
        await eventually(lambda: states(server, conf_id)[gone_uri] is SiteCallState.NOT_JOINED,
                         timeout=DETECTION_LIMIT_S + 5, what="the vanished site dropped")
        detected_after = time.monotonic() - vanished_at
        assert detected_after < DETECTION_LIMIT_S, detected_after
        assert gone_uri not in runtime.registry
        assert status_of(server, conf_id, gone_uri).call_failed_reason is None  # it left

        # the conference goes on: the viewer is still in, its own pane keeps changing frames,
        # and the vanished site's pane shows the grey "no video" placeholder
        assert states(server, conf_id)[viewer_uri] is SiteCallState.IN_CONFERENCE
        await eventually_async(lambda: _reads(viewer, [None, viewer_index]),
                               what="placeholder in the vanished site's pane")
        before = (await viewer.read_panes())[1].frame_index
        await asyncio.sleep(0.5)
        assert (await viewer.read_panes())[1].frame_index != before, "the viewer's pane froze"
        assert abs(pane_luma(viewer, layout[0], tmp_path / "placeholder.png")
                   - PLACEHOLDER_LUMA) < 20
        assert viewer.state == "in_call"

        # it comes back and is called again
        if how == "hung":
            os.kill(process.pid, signal.SIGCONT)  # it reconnects by itself...
        else:
            process = start_terminal_process(server, gone_index, count=1)
        await eventually(lambda: gone_uri in runtime.registry, what="registered again")
        assert runtime.lifecycle.connect_sites(conf_id, [gone_uri]) == [gone_uri]
        await eventually(lambda: states(server, conf_id) == both, what="called again")
        await eventually_async(lambda: _reads(viewer, [gone_index, viewer_index]),
                               what="the site's picture back in its pane")
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
        stop_process(process)
        await viewer.stop()


async def _reads(viewer: SimulatedTerminal, expected: list[int | None]) -> bool:
    return await site_indices(viewer) == expected


# ---------------------------------------------------------------------------- ICE / DTLS


class BrokenMediaTerminal(PeerTerminal):
    """Answers with an SDP the MCU cannot connect to: no ICE candidate at all, or a DTLS
    fingerprint that is not its certificate's. Never sends `bye` itself."""

    def __init__(self, uri: str, breakage: str) -> None:
        super().__init__(uri)
        self.breakage = breakage

    async def _answer(self, invite: dict) -> None:
        await self.ws.send_str(Ringing(invite["call_id"]).to_json())
        pc = self._new_peer_connection()
        await pc.setRemoteDescription(RTCSessionDescription(invite["sdp"], "offer"))
        pc.addTrack(ToneMicrophone(1000))
        pc.addTrack(SolidColourCamera((128, 128, 128)))
        await pc.setLocalDescription(await pc.createAnswer())
        sdp = pc.localDescription.sdp
        if self.breakage == "ice":
            sdp = "".join(line for line in sdp.splitlines(keepends=True)
                          if not line.startswith("a=candidate:"))
        else:
            sdp = re.sub(r"(a=fingerprint:sha-256 )(\S+)",
                         lambda m: m.group(1) + ":".join(["AB"] * 32), sdp)
        await self.ws.send_str(Answer(invite["call_id"], sdp).to_json())


@pytest.mark.parametrize(("breakage", "code"), [("ice", CallFailure.ICE_FAILED),
                                                ("dtls", CallFailure.DTLS_FAILED)])
async def test_an_ice_or_dtls_failure_ends_not_joined_with_its_reason(server, breakage, code):
    runtime = server.gateway.runtime
    uri = "01770009"
    broken = BrokenMediaTerminal(uri, breakage)
    async with aiohttp.ClientSession() as http:
        await broken.register(http, server.url("/signalling"))
        try:
            await eventually(lambda: uri in runtime.registry)
            conf_id = book(server, [uri])  # dialled at once (begin now, dialingMode 0)
            await eventually(lambda: states(server, conf_id)[uri] is SiteCallState.NOT_JOINED,
                             timeout=3.5, what="failed before the call timeout (4 s)")
            reason = status_of(server, conf_id, uri).call_failed_reason
            assert reason is not None and reason.code == code, reason
            assert breakage.upper() in reason.description
            await eventually(lambda: "bye" in broken.received, what="the terminal is told")
            assert uri in runtime.registry  # only the call failed: it can be called again
        finally:
            await broken.close()


class LeavingBeforeMediaTerminal(PeerTerminal):
    """Rings, then sends `bye` with its reason before the call is in conference: after its
    answer (a real aiortc SDP) when its media failed, or still ringing when it gives up."""

    def __init__(self, uri: str, reason: str, answer_first: bool) -> None:
        super().__init__(uri)
        self.reason, self.answer_first = reason, answer_first

    async def _answer(self, invite: dict) -> None:
        call_id = invite["call_id"]
        await self.ws.send_str(Ringing(call_id).to_json())
        if self.answer_first:
            pc = self._new_peer_connection()
            await pc.setRemoteDescription(RTCSessionDescription(invite["sdp"], "offer"))
            pc.addTrack(ToneMicrophone(1000))
            pc.addTrack(SolidColourCamera((128, 128, 128)))
            await pc.setLocalDescription(await pc.createAnswer())
            await self.ws.send_str(Answer(call_id, pc.localDescription.sdp).to_json())
        await self.ws.send_str(Bye(call_id, self.reason).to_json())


@pytest.mark.parametrize(("reason", "answer_first", "code"), [
    ("media failed", True, CallFailure.NETWORK_ERROR),
    ("cancelled", False, CallFailure.CALLEE_REJECTED),
])
async def test_a_bye_before_the_call_is_in_conference_fails_it_with_a_reason(
        server, reason, answer_first, code):
    """queryConfSitesStatusEx (SOAP): not joined, with callFailedReason 116 when the terminal
    says its media failed, 115 when it just gave up; not a plain hang-up."""
    runtime = server.gateway.runtime
    uri = "01770012"
    leaving = LeavingBeforeMediaTerminal(uri, reason, answer_first)
    async with aiohttp.ClientSession() as http:
        await leaving.register(http, server.url("/signalling"))
        try:
            await eventually(lambda: uri in runtime.registry)
            conf_id = book(server, [uri])
            await eventually(lambda: "invite" in leaving.received, what="invited")
            await eventually(lambda: states(server, conf_id)[uri] is SiteCallState.NOT_JOINED,
                             timeout=3.5, what="failed before the call timeout (4 s)")
            soap = await soap_client(server)
            answer = await asyncio.to_thread(soap.conf_mgr.queryConfSitesStatusEx,
                                             confId=conf_id, siteUris=[uri])
            site = check(answer, "queryConfSitesStatusEx").siteStatuses[0]
            assert site.callFailedReason is not None, site
            assert site.callFailedReason.errCode == code
            assert reason in site.callFailedReason.discription
            assert uri in runtime.registry  # only the call failed: it can be called again
        finally:
            await leaving.close()


# ---------------------------------------------------------------------------- begin and end


async def test_a_conference_whose_begin_time_arrives_calls_its_sites_and_its_end_hangs_up(server):
    clock, runtime = server.clock, server.gateway.runtime
    terminals = [terminal(3, decode_video=False), terminal(4, decode_video=False)]
    for t in terminals:
        await t.start(signalling_url(server))
    uris = [t.uri for t in terminals]
    try:
        begin = clock.now() + timedelta(minutes=10)
        conf_id = book(server, uris, begin=begin)
        await asyncio.sleep(1.5)  # the server's schedule follower runs every second
        assert conf_id not in runtime.conferences.ids()
        assert all(t.state == "idle" for t in terminals)

        clock.set(begin + timedelta(seconds=1))  # the begin time arrives: no SOAP call
        in_conference = {uri: SiteCallState.IN_CONFERENCE for uri in uris}
        await eventually(lambda: conf_id in runtime.conferences.ids()
                         and states(server, conf_id) == in_conference, what="dialled at begin")
        await eventually(lambda: all(t.state == "in_call" for t in terminals))
        # each hears the other (media flows), not itself
        await eventually(lambda: all(t.heard().get(other.uri, 0) > 0.25
                                     for t in terminals for other in terminals if other is not t),
                         what="each hears the other")
        assert all(t.heard().get(t.uri, 0) < 0.05 for t in terminals)

        clock.set(begin + timedelta(hours=1, seconds=2))  # its end time: every site hung up
        await eventually(lambda: all(t.state == "idle" for t in terminals), what="hung up")
        assert conf_id not in runtime.conferences.ids()
        assert conf_id not in server.app[SIGNALLING].engine.conferences
    finally:
        for t in terminals:
            await t.stop()


# ---------------------------------------------------------------------------- dial-in, audio


async def test_dial_in_quiet_and_volume_through_real_terminals(server):
    """A and B are called; C dials in (dialingMode 1) with the access code and password.
    setSitesQuietEx C: C hears silence, the others still hear C. setConfSiteVolumeEx A 100:
    the others hear A twice as loud as B; A 0: nobody hears A."""
    runtime = server.gateway.runtime
    a, b = terminal(5, decode_video=False), terminal(6, decode_video=False)
    c = terminal(7)
    everyone = [a, b, c]
    for t in everyone:
        await t.start(signalling_url(server))
    try:
        conf_id = book(server, [a.uri, b.uri, c.uri], dial_in=frozenset({c.uri}),
                       password="246810", cp_resource=4)
        access_code = server.gateway.scheduler.get(conf_id).access_code
        joined = {a.uri: SiteCallState.IN_CONFERENCE, b.uri: SiteCallState.IN_CONFERENCE}
        await eventually(lambda: {u: s for u, s in states(server, conf_id).items()
                                  if u != c.uri} == joined, what="A and B called")
        assert states(server, conf_id)[c.uri] is SiteCallState.NOT_JOINED  # not called

        with pytest.raises(CallRefused):
            await c.join(access_code, "000000")
        assert states(server, conf_id)[c.uri] is SiteCallState.NOT_JOINED
        assert await c.join(access_code, "246810") == conf_id
        await eventually(lambda: states(server, conf_id)[c.uri] is SiteCallState.IN_CONFERENCE)
        # C sees A and B (CP_2_1 with subPics), so its media flows both ways
        runtime.control.set_continuous_presence(conf_id, "0", layout_mode("CP_2_1").value,
                                        [a.uri, b.uri])
        c.set_panes(panes_of("CP_2_1"))
        await eventually_async(lambda: _reads(c, [a.site_index, b.site_index]),
                               what="C decodes A and B")

        def hears(listener, talker) -> float:
            return listener.heard().get(talker.uri, 0.0)

        await eventually(lambda: all(hears(x, y) > 0.3 for x in everyone for y in everyone
                                     if x is not y), what="everyone hears everyone else")

        soap = await soap_client(server)
        quiet = await asyncio.to_thread(soap.conf_ctrl.setSitesQuietEx, confId=conf_id,
                                        siteUris=[c.uri], isQuiet=0)
        check(quiet, "setSitesQuietEx")
        await eventually(lambda: hears(c, a) < 0.02 and hears(c, b) < 0.02, what="C quiet")
        assert hears(a, c) > 0.3 and hears(b, c) > 0.3  # C's microphone still mixed
        quiet = await asyncio.to_thread(soap.conf_ctrl.setSitesQuietEx, confId=conf_id,
                                        siteUris=[c.uri], isQuiet=1)
        check(quiet, "setSitesQuietEx")
        await eventually(lambda: hears(c, a) > 0.3, what="C hears again")

        async def set_volume(volume: int) -> None:
            answer = await asyncio.to_thread(
                soap.conf_ctrl.setConfSiteVolumeEx, confId=conf_id,
                siteVolumes=[{"siteUri": a.uri, "volume": volume}])
            check(answer, "setConfSiteVolumeEx")

        await set_volume(100)
        await eventually(lambda: hears(c, a) > 1.6 * hears(c, b) and hears(b, a) > 0.8,
                         what="A twice as loud")
        assert status_of(server, conf_id, a.uri).volume == 100
        await set_volume(0)
        await eventually(lambda: hears(c, a) < 0.02 and hears(b, a) < 0.02, what="A silent")
        assert hears(c, b) > 0.3 and hears(a, b) > 0.3  # A still hears
    finally:
        for t in everyone:
            await t.stop()


async def test_hiding_a_sites_local_video_puts_its_pane_on_the_placeholder(server, tmp_path):
    """hideConfSiteLocalVideoEx A (SOAP): A's pane shows the placeholder to everyone and
    queryConfSitesStatusEx says its local video is closed; displayConfSiteLocalVideoEx A:
    A's picture is back. B is untouched throughout."""
    a, b = terminal(20, decode_video=False), terminal(21, decode_video=False)
    viewer = terminal(22)
    everyone = [a, b, viewer]
    for t in everyone:
        await t.start(signalling_url(server))
    try:
        conf_id = book(server, [t.uri for t in everyone], cp_resource=4)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="all three in conference")
        server.gateway.runtime.control.set_continuous_presence(conf_id, "0", layout_mode("CP_2_1").value,
                                                       [a.uri, b.uri])
        viewer.set_panes(panes_of("CP_2_1"))
        await eventually_async(lambda: _reads(viewer, [a.site_index, b.site_index]),
                               what="the viewer sees A and B")
        soap = await soap_client(server)

        async def local_video_open(uri: str) -> int:
            answer = await asyncio.to_thread(soap.conf_mgr.queryConfSitesStatusEx,
                                             confId=conf_id, siteUris=[uri])
            return check(answer, "queryConfSitesStatusEx").siteStatuses[0].isLocalVideoOpen

        assert await local_video_open(a.uri) == 1
        check(await asyncio.to_thread(soap.conf_ctrl.hideConfSiteLocalVideoEx, confId=conf_id,
                                      siteUris=[a.uri]), "hideConfSiteLocalVideoEx")
        left = panes_of("CP_2_1")[0]
        # A's pane reads no site and shows the placeholder's grey (a frame whose marker is
        # unreadable while the picture changes is not yet the placeholder: wait for both)
        async def a_on_the_placeholder() -> bool:
            return await _reads(viewer, [None, b.site_index]) and abs(
                pane_luma(viewer, left, tmp_path / "hidden.png") - PLACEHOLDER_LUMA) < 12

        await eventually_async(a_on_the_placeholder, what="A's pane on the placeholder")
        assert await local_video_open(a.uri) == 0
        check(await asyncio.to_thread(soap.conf_ctrl.displayConfSiteLocalVideoEx,
                                      confId=conf_id, siteUris=[a.uri]),
              "displayConfSiteLocalVideoEx")
        await eventually_async(lambda: _reads(viewer, [a.site_index, b.site_index]),
                               what="A's picture back")
        assert await local_video_open(a.uri) == 1
    finally:
        for t in everyone:
            await t.stop()


async def test_keyframe_requests_of_a_group_give_one_keyframe_per_interval(server):
    """Two sites receive the same picture and format (one encoder group). Each asks for a
    keyframe five times within 0.1 s (RTCP PLI, as after packet loss): both receive ONE
    keyframe at once, and the requests made too soon after it one more, once the group's
    0.3 s interval is over (a request is deferred, never lost): two keyframes for ten PLIs."""
    a, b = terminal(23, decode_video=False), terminal(24, decode_video=False)
    for t in (a, b):
        await t.start(signalling_url(server))
    try:
        conf_id = book(server, [a.uri, b.uri], cp_resource=4)
        await eventually(lambda: set(states(server, conf_id).values())
                         == {SiteCallState.IN_CONFERENCE}, what="both in conference")
        await eventually(lambda: all(t.stats().video.frames_received >= 30 for t in (a, b)),
                         what="video flowing")
        await asyncio.sleep(1.2)  # past the interval of the group's first keyframe

        def keyframes() -> list[int]:
            return [t.stats().video.keyframes_received for t in (a, b)]

        before = keyframes()
        for _ in range(5):
            assert await a.request_keyframe() == 1 and await b.request_keyframe() == 1
            await asyncio.sleep(0.02)
        await eventually(lambda: all(k >= n + 1 for k, n in zip(keyframes(), before, strict=True)),
                         timeout=5.0, what="a keyframe for both")
        await asyncio.sleep(2.5)  # the deferred request's keyframe, and nothing more
        assert keyframes() == [k + 2 for k in before]
    finally:
        for t in (a, b):
            await t.stop()


async def test_only_the_loudest_sites_are_mixed_and_a_louder_one_takes_a_place(tmp_path):
    """With [mcu] mixed_speakers = 2: A (0.8) and B (0.5) are mixed, C (0.2) is not, so the
    silent listener D hears A and B and nothing of C, and C hears A and B. When C talks
    louder (0.9) it takes the quietest mixed site's place: D hears A and C, no more B."""
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=4.0,
                             mixed_speakers=2)
    async with running_server(settings, clock=clock) as server:
        server.clock = clock
        levels = {30: 0.8, 31: 0.5, 32: 0.2, 33: 0.0}
        a, b, c, d = (terminal(index, decode_video=False, speech_schedule=((1.0, level),))
                      for index, level in levels.items())
        everyone = [a, b, c, d]
        for t in everyone:
            await t.start(signalling_url(server))
        try:
            conf_id = book(server, [t.uri for t in everyone], cp_resource=4)
            await eventually(lambda: set(states(server, conf_id).values())
                             == {SiteCallState.IN_CONFERENCE}, what="all four in conference")

            def hears(listener, talker) -> float:
                return listener.heard().get(talker.uri, 0.0)

            # Levels are read over the last second of what each terminal received; a loaded
            # machine cuts the audio now and then (the MCU trims a standing backlog), which
            # can lower one reading, so a level is awaited and an absence checked at once.
            await eventually(lambda: hears(d, a) > 0.6 and hears(d, b) > 0.35,
                             what="D hears A and B")
            await asyncio.sleep(1.0)  # a whole second of mix to read
            await eventually(lambda: hears(c, a) > 0.6 and hears(c, b) > 0.35,
                             what="C hears A and B")
            assert hears(d, c) < 0.1  # mixed, C would read ~0.2; a cut spills up to 0.07
            c.speech.set_level(0.9)
            await eventually(lambda: hears(d, c) > 0.6 and hears(d, b) < 0.05
                             and hears(d, a) > 0.6, what="C took B's place, A still heard")
        finally:
            for t in everyone:
                await t.stop()


# ---------------------------------------------------------------------------- refused calls


async def test_declined_and_never_answered_calls_end_not_joined_with_their_reason(server):
    decliner = terminal(8, answer_mode="decline")
    silent = terminal(9, answer_mode="never")
    for t in (decliner, silent):
        await t.start(signalling_url(server))
    try:
        conf_id = book(server, [decliner.uri, silent.uri])
        await eventually(lambda: states(server, conf_id)[decliner.uri] is SiteCallState.NOT_JOINED)
        assert status_of(server, conf_id, decliner.uri).call_failed_reason.code == 115
        await eventually(lambda: states(server, conf_id)[silent.uri] is SiteCallState.RINGING)
        await eventually(lambda: states(server, conf_id)[silent.uri] is SiteCallState.NOT_JOINED,
                         timeout=10, what="call timeout (4 s)")
        assert status_of(server, conf_id, silent.uri).call_failed_reason.code == 129
        await eventually(lambda: silent.state == "idle", what="the ringing terminal got bye")
    finally:
        for t in (decliner, silent):
            await t.stop()


# ---------------------------------------------------------------------------- G.722


class G722Terminal(PeerTerminal):
    """Dials in offering G.722 as its only audio codec."""

    async def dial_in(self, access_code: str, password: str, call_id: str = "g722") -> None:
        pc = self._new_peer_connection()
        audio = pc.addTransceiver(ToneMicrophone(self.amplitude), direction="sendrecv")
        audio.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                   if c.mimeType.upper() == "AUDIO/G722"])
        pc.addTransceiver(SolidColourCamera(self.rgb), direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        await self.ws.send_str(Join(call_id, access_code, password,
                                    pc.localDescription.sdp).to_json())


async def test_a_g722_only_terminal_is_heard_and_hears(server):
    runtime = server.gateway.runtime
    listener = terminal(10, decode_video=False)
    await listener.start(signalling_url(server))
    g722 = G722Terminal("01770011", amplitude=6000)
    async with aiohttp.ClientSession() as http:
        await g722.register(http, server.url("/signalling"))
        try:
            conf_id = book(server, [listener.uri, g722.uri], dial_in=frozenset({g722.uri}))
            await eventually(lambda: states(server, conf_id)[listener.uri]
                             is SiteCallState.IN_CONFERENCE)
            conference = server.gateway.scheduler.get(conf_id)
            await g722.dial_in(conference.access_code, conference.password or "")
            await eventually(lambda: "joined" in g722.received or "error" in g722.received,
                             what="joined")
            assert "joined" in g722.received, g722.messages[-3:]
            answer = next(m for m in g722.messages if m["type"] == "joined")["sdp"]
            audio_section = answer.split("m=video")[0]
            assert "G722/8000" in audio_section and "opus" not in audio_section.lower()
            # the listener (site index 10's partials) is heard by the G.722 terminal...
            await eventually(lambda: len(g722.audio_energy) > 50
                             and np.mean(g722.audio_energy[-10:]) > 300, what="G.722 hears")
            # ...and the G.722 terminal's 440 Hz tone reaches the listener (energy in its mix)
            await eventually(lambda: _rms(listener) > 0.02, what="listener hears the tone")
            assert runtime.status.site_statuses(conf_id, [g722.uri])[0].state \
                is SiteCallState.IN_CONFERENCE
        finally:
            await g722.close()
            await listener.stop()


@pytest.mark.parametrize("codec", ["G722", "PCMU"])
async def test_a_terminal_declaring_one_audio_codec_is_called_with_it(server, codec):
    """A terminal whose capabilities declare only G.722 (or only G.711 mu-law), called with
    connectSitesEx: the MCU's offer lists only that audio codec, the call settles on it, and
    the audio goes both ways (each hears the other's talker partials)."""
    runtime = server.gateway.runtime
    listener = terminal(13, decode_video=False)
    narrow = terminal(14, decode_video=False, capabilities=Capabilities(audio_codecs=[codec]))
    for t in (listener, narrow):
        await t.start(signalling_url(server))
    try:
        conf_id = book(server, [listener.uri, narrow.uri], dial_in=frozenset({narrow.uri}))
        await eventually(lambda: states(server, conf_id)[listener.uri]
                         is SiteCallState.IN_CONFERENCE, what="the listener called")
        soap = await soap_client(server)
        assert await asyncio.to_thread(soap.conf_mgr.connectSitesEx, confId=conf_id,
                                       siteUris=[narrow.uri]) == 0
        await eventually(lambda: states(server, conf_id)[narrow.uri]
                         is SiteCallState.IN_CONFERENCE, what=f"the {codec} terminal called")

        (session,) = runtime.registry.lookup(narrow.uri).sessions.values()
        offer = session.pc.localDescription.sdp.split("m=video")[0]
        offered = set(re.findall(r"a=rtpmap:\d+ ([^/]+)/", offer))
        assert offered == {codec}, offered
        assert narrow.stats().audio_codec == codec
        assert listener.stats().audio_codec == "OPUS"

        await eventually(lambda: narrow.heard().get(listener.uri, 0) > 0.25,
                         what=f"the {codec} terminal hears the listener")
        await eventually(lambda: listener.heard().get(narrow.uri, 0) > 0.25,
                         what=f"the listener hears the {codec} terminal")
        assert narrow.heard().get(narrow.uri, 0) < 0.05  # not itself
    finally:
        for t in (listener, narrow):
            await t.stop()


async def test_a_terminal_declaring_no_audio_codec_the_mcu_has_is_refused_with_a_reason(server):
    """A registration whose audio codecs the MCU cannot offer: the call is not placed (no
    invite) and ends not joined, callFailedReason 131088 (capability exchange failed)
    naming the mismatch."""
    runtime = server.gateway.runtime
    uri = "01770015"
    mute = PeerTerminal(uri)
    async with aiohttp.ClientSession() as http:
        mute.ws = await http.ws_connect(server.url("/signalling"))
        capabilities = Capabilities(audio_codecs=["AMR-WB"])
        await send_register(mute.ws, Register(uri, "amr only", capabilities=capabilities))
        mute.tasks.append(asyncio.create_task(mute._read()))
        try:
            await eventually(lambda: uri in runtime.registry)
            conf_id = book(server, [uri])
            await eventually(lambda: states(server, conf_id)[uri] is SiteCallState.NOT_JOINED)
            reason = status_of(server, conf_id, uri).call_failed_reason
            assert reason is not None and reason.code == CallFailure.CODEC_MISMATCH == 131088
            assert "no common audio codec" in reason.description and "AMR-WB" in reason.description
            assert "invite" not in mute.received
        finally:
            await mute.close()


def _rms(t: SimulatedTerminal) -> float:
    samples = t.audio.recent_samples()
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0


# ---------------------------------------------------------------------------- CP broadcast


async def test_broadcasting_the_cp_picture_gives_every_site_the_conference_picture():
    """setBroadcastContinuousPresenceEx: a site with a CP picture of its own (target = that
    site) sees the conference's CP picture while the CP broadcast is on, its own after."""
    from mcu.events import BroadcastChanged, LayoutChanged
    from mcu.media.conference_media import PictureKey
    from tests.test_media_engine import conference_with_sites, render_ticks

    media = conference_with_sites({"s1": VideoFormat.CIF, "s2": VideoFormat.CIF})
    try:
        media.apply(LayoutChanged("c1", "s1", layout_mode("CP_2_1").value, ("s2", "s1")))
        assert media.picture_for("s1") == PictureKey("cp", "s1")
        await render_ticks(media, 1)
        assert len(media.groups) == 2  # two pictures, two encoders
        media.apply(BroadcastChanged("c1", None, True))
        assert {media.picture_for(uri) for uri in ("s1", "s2")} == {PictureKey("cp", "")}
        await render_ticks(media, 1)
        assert len(media.groups) == 1  # one picture again: one encoder for both
        media.apply(BroadcastChanged("c1", None, False))
        assert media.picture_for("s1") == PictureKey("cp", "s1")
    finally:
        await media.close()
