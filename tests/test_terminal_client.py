"""The simulated terminal against a tiny fake MCU (aiohttp WebSocket + aiortc), on 127.0.0.1.

The fake MCU speaks rtc/signalling.py: it registers the terminal, invites it with an aiortc
offer (or answers its join), reads the terminal's marker and voice from what it receives,
and sends back a composed picture (the terminal's own picture in the top-left quarter of a
640x360 frame) and a voice of its own, so the terminal's statistics have something to read.
"""

from __future__ import annotations

import asyncio
import fractions
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from aiohttp import WSMsgType, web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtc.deadline import within
from rtc.ice import rtc_configuration
from rtc.signalling import (
    Bye,
    Capabilities,
    Challenge,
    Error,
    Invite,
    Join,
    Joined,
    Message,
    Ping,
    ReceiveStats,
    Register,
    Registered,
    parse_message,
)
from rtc.signalling_auth import digest_ha1, digest_response, lab_secret
from terminals.client import CallRefused, SimulatedTerminal
from terminals.marker import read_marker
from terminals.media_sources import SpeechTrack
from terminals.receiver import AudioReceiver, PaneStatus
from terminals.run_command import start_terminals, stats_line, stop_terminals
from terminals.send_log import SendLog
from terminals.speech import SpeechSynth

MCU_TALKER = 40  # the fake MCU's own voice
WAIT_S = 30.0


class ComposedEcho(MediaStreamTrack):
    """640x360 at 15 fps: the terminal's latest picture scaled into the top-left quarter."""

    kind = "video"

    def __init__(self, mcu: FakeMcu) -> None:
        super().__init__()
        self.mcu = mcu
        self.canvas = np.zeros((360, 640, 3), np.uint8)
        self.count = 0
        self.start = time.time()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        due = self.start + self.count / 15
        await asyncio.sleep(max(0.0, due - time.time()))
        picture = self.mcu.latest_picture
        if picture is not None:
            self.canvas[:180, :320] = cv2.resize(picture, (320, 180), interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(self.canvas, format="bgr24")
        frame.pts = self.count * 6000
        frame.time_base = fractions.Fraction(1, 90000)
        self.count += 1
        return frame


class FakeMcu:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.ws: web.WebSocketResponse | None = None
        self.pc: RTCPeerConnection | None = None
        self.latest_picture: np.ndarray | None = None
        self.readings: list = []
        self.audio = AudioReceiver()
        self.video_codec: str | None = None
        self.join_password = "secret"
        self.answer_pings = True
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/signalling", self._signalling)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/signalling"

    async def close(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        for task in self._tasks:
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def send(self, message: Message) -> None:
        assert self.ws is not None
        await self.ws.send_str(message.to_json())

    async def _signalling(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        nonce = secrets.token_hex(16)  # the digest challenge, as the MCU sends it
        await ws.send_str(Challenge("fake", nonce).to_json())
        async for raw in ws:
            if raw.type != WSMsgType.TEXT:
                break
            message = parse_message(raw.data)
            if isinstance(message, Register):
                expected = digest_response(
                    digest_ha1(message.uri, "fake", lab_secret(message.uri)), nonce)
                if message.auth is not None and message.auth.response == expected:
                    await ws.send_str(Registered(message.uri).to_json())
                else:
                    await ws.send_str(Error("unauthorized", "wrong digest").to_json())
            elif isinstance(message, Ping) and self.answer_pings:
                await ws.send_json({"type": "pong", "seq": message.seq})
            elif isinstance(message, Join):
                await self._answer_join(message)
            await self.messages.put(message)
        return ws

    async def expect(self, kind: type[Message], timeout: float = WAIT_S) -> Message:
        async def next_of_kind() -> Message:
            while True:
                message = await self.messages.get()
                if isinstance(message, kind):
                    return message

        return await within(next_of_kind(), timeout)

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(rtc_configuration())
        self.pc = pc

        @pc.on("track")
        def on_track(track) -> None:
            consume = self._consume_video if track.kind == "video" else self.audio.consume
            self._tasks.append(asyncio.get_running_loop().create_task(consume(track)))

        return pc

    def _outgoing_tracks(self) -> tuple[MediaStreamTrack, MediaStreamTrack]:
        voice = SpeechSynth(MCU_TALKER)
        voice.set_level(0.5)
        return SpeechTrack(voice), ComposedEcho(self)

    async def _consume_video(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.latest_picture = frame.to_ndarray(format="bgr24")
                if len(self.readings) < 200:
                    self.readings.append(read_marker(frame))
        except MediaStreamError:
            pass

    async def invite(self, call_id: str = "call-1") -> None:
        pc = self._new_pc()
        audio, video = self._outgoing_tracks()
        pc.addTransceiver(audio, direction="sendrecv")
        pc.addTransceiver(video, direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        await self.send(Invite(call_id, "conf-7", "Consult", pc.localDescription.sdp))

    async def accept_answer(self, sdp: str) -> None:
        assert self.pc is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def _answer_join(self, join: Join) -> None:
        if join.password != self.join_password:
            await self.send(Error("bad_password", "wrong password", join.call_id))
            return
        pc = self._new_pc()
        await pc.setRemoteDescription(RTCSessionDescription(join.sdp, "offer"))
        for track in self._outgoing_tracks():
            pc.addTrack(track)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send(Joined(join.call_id, "conf-9", pc.localDescription.sdp))


async def eventually(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


@pytest.fixture
async def mcu() -> AsyncIterator[FakeMcu]:
    fake = FakeMcu()
    fake.url = await fake.start()  # type: ignore[attr-defined]
    yield fake
    await fake.close()


@pytest.fixture
def send_log() -> SendLog:
    log = SendLog()
    log.register_site(MCU_TALKER, "mcu-voice", 1.0)
    return log


def terminal_for(send_log: SendLog, **options) -> SimulatedTerminal:
    defaults = dict(uri="01013", name="Site 3", site_index=3, ring_delay_s=0.1,
                    send_log=send_log, loop_frames=32, analyse_every=3)
    defaults.update(options)
    return SimulatedTerminal(**defaults)


def mcu_read_site(mcu: FakeMcu, site_index: int) -> bool:
    return any(r is not None and r.site_index == site_index for r in mcu.readings)


async def test_answers_an_invite_and_media_flows_both_ways(mcu, send_log, tmp_path: Path):
    terminal = terminal_for(send_log)
    await terminal.start(mcu.url)
    try:
        assert (await mcu.expect(Register)).uri == "01013"
        terminal.set_panes([(0.0, 0.0, 0.5, 0.5), (0.5, 0.0, 0.5, 0.5)])
        await mcu.invite()
        await mcu.expect(type(parse_message('{"type": "ringing", "call_id": "call-1"}')))
        answer = await mcu.expect(type(parse_message('{"type":"answer","call_id":"x","sdp":""}')))
        await mcu.accept_answer(answer.sdp)

        # The MCU side reads the terminal's marker and hears its voice, and only its voice.
        await eventually(lambda: mcu_read_site(mcu, 3))
        assert all(r is None or r.site_index == 3 for r in mcu.readings)
        await eventually(lambda: mcu.audio.heard([3]).get(3, 0.0) > 0.4)
        heard_by_mcu = mcu.audio.heard(range(8))
        assert max(v for k, v in heard_by_mcu.items() if k != 3) < 0.05
        assert terminal.stats().video_codec == "H264"
        assert terminal.stats().audio_codec == "OPUS"  # heard above: its own Opus packets

        # The terminal reads itself in the top-left pane of what comes back, nothing in the
        # top-right one, measures the latency of that pane and hears the MCU's voice.
        def own_pane_read() -> bool:
            panes = terminal.stats().video.panes
            return panes[0].site_index == 3 and panes[0].latency_ms_p50 is not None

        await eventually(own_pane_read)
        stats = terminal.stats()
        assert stats.state == "in_call" and stats.conf_id == "conf-7"
        assert stats.video.panes[0].site_uri == "01013"
        assert stats.video.panes[1].site_index is None
        assert stats.video.frames_decoded >= stats.video.frames_analysed > 0
        assert stats.video.keyframes >= 1
        assert stats.video.decoding
        assert stats.video.frames_received >= stats.video.frames_decoded
        assert stats.video.keyframes_received >= 1
        assert (stats.video.width, stats.video.height) == (640, 360)
        assert stats.video.panes[0].latency_ms_p50 > 0
        assert stats.frames_sent > 0
        await eventually(lambda: terminal.heard().get("mcu-voice", 0.0) > 0.4)
        assert terminal.heard()["01013"] < 0.05  # the echo carries no voice of its own

        snapshot = tmp_path / "seen.png"
        assert terminal.snapshot(str(snapshot))
        assert cv2.imread(str(snapshot)).shape == (360, 640, 3)

        # Every STATS_INTERVAL_S of the conference call it reports what it receives
        # (docs/signalling.md, "Receive statistics"): the frame rate it decodes and the
        # latency of the markers it has read, p50 <= p95; no content stream here.
        async def report_with_latency() -> ReceiveStats:
            while True:
                report = await mcu.expect(ReceiveStats)
                assert report.call_id == "call-1" and report.content is None, report
                if report.main.latency_ms_p50 is not None:
                    return report

        report = await within(report_with_latency(), WAIT_S)
        assert report.main.fps > 0
        assert report.main.latency_ms_p95 is not None
        assert 0 < report.main.latency_ms_p50 <= report.main.latency_ms_p95
        assert report in terminal.reports_sent

        # The MCU hangs up.
        await mcu.send(Bye("call-1", "conference ended"))
        await within(terminal.call_ended.wait(), WAIT_S)
        assert terminal.stats().state == "idle"
    finally:
        await terminal.stop()


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_a_terminal_that_does_not_decode_counts_frames_and_keyframes(mcu, send_log, codec):
    terminal = terminal_for(send_log, decode_video=False,
                            capabilities=Capabilities(video_codecs=[codec]))
    await terminal.start(mcu.url)
    try:
        await mcu.invite()
        answer = await mcu.expect(type(parse_message('{"type":"answer","call_id":"x","sdp":""}')))
        await mcu.accept_answer(answer.sdp)
        await eventually(lambda: terminal.stats().video.frames_received >= 30)
        stats = terminal.stats()
        assert stats.video_codec == codec
        assert not stats.video.decoding
        assert stats.video.keyframes_received >= 1  # the encoder's first frame
        assert stats.video.keyframes_received < stats.video.frames_received
        assert stats.video.frames_decoded == 0 and stats.video.width == 0
        assert await terminal.read_panes() == (PaneStatus(None, None, None, None),)
        # Its own video still reaches the MCU: only the receiving side skips the decoder.
        await eventually(lambda: mcu_read_site(mcu, 3))
    finally:
        await terminal.stop()


async def test_a_terminal_that_does_not_decode_audio_counts_its_frames_and_hears_nothing(
        mcu, send_log):
    terminal = terminal_for(send_log, decode_video=False, decode_audio=False)
    assert not terminal.decode_audio
    await terminal.start(mcu.url)
    try:
        await mcu.invite()
        answer = await mcu.expect(type(parse_message('{"type":"answer","call_id":"x","sdp":""}')))
        await mcu.accept_answer(answer.sdp)
        await eventually(lambda: terminal.stats().audio_frames >= 25)  # 0.5 s of 20 ms frames
        assert terminal.audio.frames_decoded == 0
        assert terminal.heard() == {}  # nothing decoded: no level can be told
        # Its own voice still reaches the MCU: only the receiving side skips the decoder.
        await eventually(lambda: mcu.audio.heard([3]).get(3, 0.0) > 0.4)
    finally:
        await terminal.stop()


async def test_declines_or_lets_it_ring(mcu, send_log):
    decliner = terminal_for(send_log, answer_mode="decline")
    await decliner.start(mcu.url)
    try:
        await mcu.invite("call-d")
        declined = await mcu.expect(type(parse_message('{"type":"decline","call_id":"x"}')))
        assert declined.call_id == "call-d"
    finally:
        await decliner.stop()

    silent = terminal_for(send_log, answer_mode="never", uri="01014", site_index=4)
    await silent.start(mcu.url)
    try:
        await mcu.invite("call-n")
        ringing = await mcu.expect(type(parse_message('{"type":"ringing","call_id":"x"}')))
        assert ringing.call_id == "call-n"
        assert silent.state == "ringing"
        # Nothing else comes: past the ring delay the terminal is still ringing.
        with pytest.raises(asyncio.TimeoutError):
            await mcu.expect(type(parse_message('{"type":"answer","call_id":"x","sdp":""}')),
                             timeout=1.5)
        await mcu.send(Bye("call-n", "no answer"))
        await eventually(lambda: silent.state == "idle")
    finally:
        await silent.stop()


async def test_dials_in_with_access_code_and_sends_vp8_when_that_is_all_it_has(mcu, send_log):
    terminal = terminal_for(send_log, uri="01015", site_index=5,
                            capabilities=Capabilities(video_codecs=["VP8"]))
    await terminal.start(mcu.url)
    try:
        with pytest.raises(CallRefused):
            await terminal.join("4711", "wrong")
        assert terminal.state == "idle"
        assert (await mcu.expect(Join)).password == "wrong"

        conf_id = await terminal.join("4711", "secret")
        assert conf_id == "conf-9"
        join = await mcu.expect(Join)
        assert (join.access_code, join.password) == ("4711", "secret")
        await eventually(lambda: mcu_read_site(mcu, 5))
        assert terminal.stats().video_codec == "VP8"

        await terminal.hang_up()
        bye = await mcu.expect(Bye)
        assert bye.call_id == join.call_id
        assert terminal.state == "idle"
    finally:
        await terminal.stop()


async def test_heartbeat_both_ways(mcu, send_log):
    terminal = terminal_for(send_log)
    await terminal.start(mcu.url)
    try:
        ping = await mcu.expect(Ping, timeout=10)
        assert ping.seq >= 1
        await mcu.send(Ping(77))

        async def pong_77() -> None:
            while True:
                message = await mcu.messages.get()
                if message.type == "pong" and message.seq == 77:
                    return

        await within(pong_77(), 10)
    finally:
        await terminal.stop()


async def test_reconnects_when_the_mcu_goes_silent(mcu, send_log):
    terminal = terminal_for(send_log)
    await terminal.start(mcu.url)
    try:
        await mcu.expect(Register)
        mcu.answer_pings = False  # the MCU stops answering: the terminal gives it up...
        await eventually(lambda: not terminal.registered)
        mcu.answer_pings = True
        # ...and registers again on a new connection.
        assert (await mcu.expect(Register)).uri == "01013"
        await eventually(lambda: terminal.registered)
    finally:
        await terminal.stop()


async def test_start_terminals_registers_numbered_sites(mcu, send_log):
    terminals = await start_terminals(mcu.url, 2, uri_prefix="0199", start_index=6,
                                      send_log=send_log)
    try:
        registered = {(await mcu.expect(Register)).uri for _ in range(2)}
        assert registered == {"019906", "019907"}
        assert [t.site_index for t in terminals] == [6, 7]
        assert send_log.site_uri(7) == "019907"
        assert stats_line(terminals[0].stats()).startswith("019906 idle")
    finally:
        await stop_terminals(terminals)
    assert send_log.site_uri(7) is None
