"""rtc/aiortc_hooks.py: every reach into aiortc's and aioice's private state still finds it,
and each seam does its job on real aiortc objects.

Each hook replaces, reads or calls one private name created by aiortc (or aioice); an
aiortc release that renames one would otherwise turn a hook into a silent no-op. This fails
instead, naming the hook. When moving the aiortc pin in pyproject.toml, run this file first.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import re
import socket
import sys
import threading
from fractions import Fraction
from pathlib import Path

import aioice
import aioice.ice
import aiortc.rtcdtlstransport
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import aiortc.rtp
import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpDecodingParameters,
    RTCRtpReceiveParameters,
    RTCRtpRtxParameters,
)
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)

from rtc import aiortc_hooks, audio_level, ice, socket_buffers
from rtc.deadline import within
from rtc.jitter_buffer import MarkerJitterBuffer, release_frames_at_marker
from rtc.rtp_counts import RtpCounts
from tests.rtc_stubs import RecordingTransport

HOOKS = {
    "_RTCRtpReceiver__decoder_queue": "aiortc_hooks.replace_decoder_queue",
    "_RTCRtpReceiver__decoder_error": "aiortc_hooks.decoder_error_flag",
    "_RTCRtpReceiver__jitter_buffer": "aiortc_hooks.replace_jitter_buffer",
    "_RTCRtpReceiver__remote_bitrate_estimator": "aiortc_hooks.disable_remote_bitrate_estimator",
    "_RTCRtpReceiver__remote_streams": "aiortc_hooks.remote_media_ssrcs",
    "_RTCRtpReceiver__rtx_ssrc": "aiortc_hooks.remote_media_ssrcs",
    "_RTCRtpReceiver__rtcp_ssrc": "aiortc_hooks.count_rtp_and_feedback",
}

MEDIA_SSRC = 1234
RTX_SSRC = 4321
RTCP_SSRC = 5678
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
RTX = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97,
                            parameters={"apt": 96})
# The functions install() replaces, as the hooks module kept them: aiortc's and aioice's own.
AIORTC_NAMES_ARE_ORIGINALS = (
    aiortc_hooks.AIORTC_COMPUTE_AUDIO_LEVEL_DBOV.__module__ == "aiortc.rtp"
    and aiortc_hooks.AIOICE_GET_HOST_ADDRESSES.__module__ == "aioice.ice"
)
PCMU = RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, channels=1,
                             payloadType=0)


class RecordingQueue(queue.Queue):
    """A decoder queue keeping the frames; only the receiver's stop reaches its thread."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[tuple[RTCRtpCodecParameters, JitterFrame]] = []
        self.stopped = False

    def put(self, item, block=True, timeout=None) -> None:
        if item is None:
            self.stopped = True
            super().put(item, block, timeout)
        else:
            self.frames.append(item)


class RecordingJitterBuffer(JitterBuffer):
    def __init__(self) -> None:
        super().__init__(capacity=128, is_video=True)
        self.added: list[RtpPacket] = []

    def add(self, packet: RtpPacket):
        self.added.append(packet)
        return super().add(packet)


def vp8_packet(sequence: int, timestamp: int, marker: int = 0,
               payload: bytes = b"\x10\x01\x02\x03") -> RtpPacket:
    return RtpPacket(payload_type=VP8.payloadType, sequence_number=sequence,
                     timestamp=timestamp, ssrc=MEDIA_SSRC, marker=marker, payload=payload)


async def started_receiver(transport: RecordingTransport, before=None) -> RTCRtpReceiver:
    """A video receiver receiving VP8 on MEDIA_SSRC with RTX on RTX_SSRC, as
    RTCPeerConnection starts one; `before(receiver)` runs before it starts."""
    receiver = RTCRtpReceiver("video", transport)
    receiver._track = RemoteStreamTrack(kind="video")  # what RTCPeerConnection gives it
    if before is not None:
        before(receiver)
    await receiver.receive(RTCRtpReceiveParameters(
        codecs=[VP8, RTX],
        encodings=[RTCRtpDecodingParameters(ssrc=MEDIA_SSRC, payloadType=VP8.payloadType,
                                            rtx=RTCRtpRtxParameters(ssrc=RTX_SSRC))]))
    receiver._set_rtcp_ssrc(RTCP_SSRC)  # as the RTCPeerConnection does
    return receiver


# -- the private names, as aiortc and aioice define them ------------------------------


@pytest.mark.parametrize("kind", ["audio", "video"])
async def test_every_private_attribute_a_hook_uses_exists(kind):
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver(kind).receiver
        for attribute, used_by in HOOKS.items():
            assert hasattr(receiver, attribute), f"{attribute} (used by {used_by})"
    finally:
        await pc.close()


def test_the_receiver_still_feeds_those_attributes_as_the_hooks_expect():
    source = inspect.getsource(RTCRtpReceiver)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    # mcu/media/video_decoder.py decodes inside the queue's get(), which only aiortc's
    # decoder thread calls, and sets the error flag as that thread does
    worker = inspect.getsource(aiortc.rtcrtpreceiver.decoder_worker)
    assert "task = input_q.get()" in worker and "decode_error.set()" in worker
    assert "if self.__decoder_error.is_set():" in source
    assert "self.__jitter_buffer.add(packet)" in source
    assert "def _send_rtcp_pli(self, media_ssrc" in source
    assert "if self.__remote_bitrate_estimator is not None:" in source
    assert "self.__rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc" in source
    assert "packet._data = depayload(codec, packet.payload)" in source
    buffer = JitterBuffer(capacity=16, is_video=True)
    assert {"_packets", "_origin", "_capacity"} <= set(vars(buffer))
    # MarkerJitterBuffer overrides the method add() hands each packet's frame search to
    assert "self._remove_frame(packet.sequence_number)" in inspect.getsource(JitterBuffer.add)


@pytest.mark.parametrize("kind", ["audio", "video"])
async def test_a_sender_still_has_the_keyframe_method_its_rtcp_handling_calls(kind):
    sender = RTCRtpSender(kind, RecordingTransport())
    assert inspect.signature(sender._send_keyframe).parameters == {}
    source = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self._send_keyframe()" in source


def test_the_sender_looks_the_audio_level_up_in_aiortc_rtp_at_each_frame():
    assert AIORTC_NAMES_ARE_ORIGINALS
    source = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "rtp.compute_audio_level_dbov(data)" in source
    assert aiortc.rtcrtpsender.rtp is aiortc.rtp


def test_aioice_looks_the_host_addresses_up_in_aioice_ice_when_gathering():
    source = inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "get_host_addresses(" in source
    assert aioice.ice.Connection.gather_candidates.__globals__ is vars(aioice.ice)


def test_no_aiortc_or_aioice_module_holds_its_own_copy_of_a_replaced_function():
    """A `from .rtp import compute_audio_level_dbov` somewhere would escape install()."""
    assert AIORTC_NAMES_ARE_ORIGINALS
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in ("aiortc", "aioice") or name in ("aiortc.rtp", "aioice.ice"):
            continue
        assert getattr(module, "compute_audio_level_dbov", None) is None, name
        assert getattr(module, "get_host_addresses", None) is None, name


# -- process-wide: install() ----------------------------------------------------------


def test_install_is_in_place_for_every_test_and_idempotent():
    assert aiortc_hooks.installed()  # tests/conftest.py
    aiortc_hooks.install()
    aiortc_hooks.install()
    assert aiortc_hooks.installed()
    assert aioice.ice.get_host_addresses is ice.host_addresses
    assert aiortc.rtp.compute_audio_level_dbov is audio_level.compute_audio_level_dbov


async def test_installed_host_addresses_are_the_candidates_aioice_gathers():
    connection = aioice.Connection(ice_controlling=True, components=1)
    try:
        await connection.gather_candidates()
        hosts = {c.host for c in connection.local_candidates if c.type == "host"}
        assert hosts == {ice.media_address()}
    finally:
        await connection.close()


class OneAudioFrame(MediaStreamTrack):
    kind = "audio"

    def __init__(self, frame: av.AudioFrame) -> None:
        super().__init__()
        self.frame = frame

    async def recv(self) -> av.AudioFrame:
        return self.frame


async def test_the_installed_audio_level_is_the_one_the_sender_calls(monkeypatch):
    calls: list[av.AudioFrame] = []

    def spy(frame: av.AudioFrame) -> int:
        calls.append(frame)
        return -42

    monkeypatch.setattr(aiortc.rtp, "compute_audio_level_dbov",
                        aiortc.rtp.compute_audio_level_dbov)  # restored after the test
    monkeypatch.setattr(audio_level, "compute_audio_level_dbov", spy)
    aiortc_hooks.install()
    samples = np.zeros((1, 960 * 2), np.int16)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
    frame.sample_rate = 48_000
    frame.pts = 0
    frame.time_base = Fraction(1, 48_000)
    sender = RTCRtpSender(OneAudioFrame(frame), RecordingTransport())
    encoded = None
    while encoded is None and len(calls) < 5:  # the encoder's resampler may hold a frame back
        encoded = await sender._next_encoded_frame(PCMU)
    assert calls and all(called is frame for called in calls)
    assert encoded is not None and encoded.audio_level == -42


# -- per object ---------------------------------------------------------------------


async def test_on_keyframe_request_gets_the_peers_pli_and_fir():
    sender = RTCRtpSender("video", RecordingTransport())
    requests: list[str] = []
    aiortc_hooks.on_keyframe_request(sender, lambda: requests.append("keyframe"))
    await sender._handle_rtcp_packet(
        RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=RTCP_SSRC, media_ssrc=sender._ssrc))
    assert requests == ["keyframe"]
    await sender._handle_rtcp_packet(
        RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=RTCP_SSRC, media_ssrc=sender._ssrc))
    assert requests == ["keyframe", "keyframe"]


async def test_a_replaced_jitter_buffer_gets_every_packet_depayloaded():
    transport = RecordingTransport()
    buffer = RecordingJitterBuffer()
    receiver = await started_receiver(
        transport, lambda r: aiortc_hooks.replace_jitter_buffer(r, buffer))
    try:
        await receiver._handle_rtp_packet(vp8_packet(1, 0), arrival_time_ms=0)
        await receiver._handle_rtp_packet(vp8_packet(2, 0, payload=b""), arrival_time_ms=1)
        assert [p.sequence_number for p in buffer.added] == [1, 2]
        # the VP8 payload descriptor (1 byte here) stripped by aiortc's depayloader
        assert [aiortc_hooks.depayloaded(p) for p in buffer.added] == [b"\x01\x02\x03", b""]
    finally:
        await receiver.stop()


async def test_a_replaced_decoder_queue_gets_the_frames_and_the_stop():
    transport = RecordingTransport()
    frames = RecordingQueue()
    receiver = await started_receiver(
        transport, lambda r: aiortc_hooks.replace_decoder_queue(r, frames))
    try:
        await receiver._handle_rtp_packet(vp8_packet(1, 0), arrival_time_ms=0)
        assert frames.frames == []  # aiortc's buffer: complete when the next frame begins
        await receiver._handle_rtp_packet(vp8_packet(2, 3000), arrival_time_ms=33)
        assert [(codec.name, frame.data) for codec, frame in frames.frames] == [
            ("VP8", b"\x01\x02\x03")]
    finally:
        await receiver.stop()
    assert frames.stopped  # the None that ends the receiver's decoder thread, taken by it


async def test_release_frames_at_marker_puts_a_marker_jitter_buffer_in_the_receiver():
    frames = RecordingQueue()

    def before(receiver: RTCRtpReceiver) -> None:
        aiortc_hooks.replace_decoder_queue(receiver, frames)
        release_frames_at_marker(receiver)
        assert isinstance(receiver._RTCRtpReceiver__jitter_buffer,
                          MarkerJitterBuffer)

    receiver = await started_receiver(RecordingTransport(), before)
    try:
        await receiver._handle_rtp_packet(vp8_packet(1, 0, marker=1), arrival_time_ms=0)
        assert len(frames.frames) == 1  # at its marker, not when the next frame begins
    finally:
        await receiver.stop()


async def test_disable_remote_bitrate_estimator():
    receiver = RTCRtpReceiver("video", RecordingTransport())
    assert receiver._RTCRtpReceiver__remote_bitrate_estimator is not None
    aiortc_hooks.disable_remote_bitrate_estimator(receiver)
    assert receiver._RTCRtpReceiver__remote_bitrate_estimator is None
    # that it then sends no REMB: tests/test_bandwidth_estimation.py


async def test_request_keyframe_sends_pli_for_the_media_ssrcs_not_the_retransmissions():
    transport = RecordingTransport()
    receiver = await started_receiver(transport)
    try:
        assert aiortc_hooks.remote_media_ssrcs(receiver) == []
        assert await aiortc_hooks.request_keyframe(receiver) == 0
        await receiver._handle_rtp_packet(vp8_packet(1, 0), arrival_time_ms=0)
        rtx = RtpPacket(payload_type=RTX.payloadType, sequence_number=7, timestamp=0,
                        ssrc=RTX_SSRC, payload=b"\x00\x01\x10\x01")  # resends sequence 1
        await receiver._handle_rtp_packet(rtx, arrival_time_ms=1)
        assert set(receiver._RTCRtpReceiver__remote_streams) == {
            MEDIA_SSRC, RTX_SSRC}
        assert aiortc_hooks.remote_media_ssrcs(receiver) == [MEDIA_SSRC]
        before = len(transport.rtcp(RtcpPsfbPacket, RTCP_PSFB_PLI))
        assert await aiortc_hooks.request_keyframe(receiver) == 1
        plis = transport.rtcp(RtcpPsfbPacket, RTCP_PSFB_PLI)[before:]
        assert [(p.ssrc, p.media_ssrc) for p in plis] == [(RTCP_SSRC, MEDIA_SSRC)]
    finally:
        await receiver.stop()
        await asyncio.sleep(0)


async def test_filter_datagrams_drops_what_its_filters_refuse_both_ways_then_restores():
    """Two aioice connections on loopback: a datagram the sending filter refuses never
    leaves, one the receiving filter refuses never reaches the connection; STUN (the
    connectivity checks) went through the same methods before the filters."""
    pair = [aioice.Connection(ice_controlling=True), aioice.Connection(ice_controlling=False)]
    try:
        for connection in pair:
            await connection.gather_candidates()
        for here, there in (pair, pair[::-1]):
            for candidate in there.local_candidates:
                await here.add_remote_candidate(candidate)
            await here.add_remote_candidate(None)
            here.remote_username, here.remote_password = there.local_username, there.local_password
        await within(asyncio.gather(*(c.connect() for c in pair)), 10)
        seen_in: list[bytes] = []
        seen_out: list[bytes] = []

        def let_in(data: bytes) -> bool:
            seen_in.append(data)
            return data != b"\x80dropped on arrival"

        def let_out(data: bytes) -> bool:
            seen_out.append(data)
            return data != b"\x80never sent"

        before = (aioice.ice.StunProtocol.send_data,
                  aioice.ice.StunProtocol.datagram_received)  # receive_path's demultiplexer
        restore = aiortc_hooks.filter_datagrams(let_in, let_out)
        try:
            for data in (b"\x80never sent", b"\x80dropped on arrival", b"\x80kept"):
                await pair[0].send(data)
            assert await within(pair[1].recv(), 5) == b"\x80kept"
        finally:
            restore()
        ours = (b"\x80never sent", b"\x80dropped on arrival", b"\x80kept")  # not STUN
        assert [data for data in seen_out if data in ours] == list(ours)
        assert [data for data in seen_in if data in ours] == list(ours[1:])
        assert (aioice.ice.StunProtocol.send_data,
                aioice.ice.StunProtocol.datagram_received) == before
    finally:
        for connection in pair:
            await connection.close()


def test_rtx_ssrcs_route_to_their_receiver_when_two_share_the_payload_types():
    """Two video receivers with the same codecs on one bundled transport (main video and
    content): a retransmission (RTX SSRC, not in aiortc's own registration) reaches its own
    receiver; with aiortc's registration alone it is dropped (its payload type is ambiguous)."""
    from types import SimpleNamespace

    from aiortc.rtcdtlstransport import RtpRouter
    from aiortc.rtcrtpparameters import (
        RTCRtpCodecParameters,
        RTCRtpDecodingParameters,
        RTCRtpReceiveParameters,
        RTCRtpRtxParameters,
    )
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket

    def parameters(ssrc: int, rtx_ssrc: int) -> RTCRtpReceiveParameters:
        codecs = [RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=97),
                  RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=98,
                                        parameters={"apt": 97})]
        encoding = RTCRtpDecodingParameters(ssrc=ssrc, payloadType=97,
                                            rtx=RTCRtpRtxParameters(ssrc=rtx_ssrc))
        return RTCRtpReceiveParameters(codecs=codecs, encodings=[encoding])

    def transport() -> SimpleNamespace:
        return SimpleNamespace(_rtp_router=RtpRouter(),
                               _rtp_header_extensions_map=HeaderExtensionsMap())

    main, content = object(), object()
    ours, theirs = transport(), transport()
    for stub, register in ((ours, aiortc_hooks.register_rtp_receiver_with_rtx),
                           (theirs, aiortc_hooks.AIORTC_REGISTER_RTP_RECEIVER)):
        register(stub, main, parameters(1000, 1001))
        register(stub, content, parameters(2000, 2001))
    retransmission = RtpPacket(payload_type=98, ssrc=2001)
    assert ours._rtp_router.route_rtp(retransmission) is content
    assert ours._rtp_router.route_rtp(RtpPacket(payload_type=98, ssrc=1001)) is main
    assert ours._rtp_router.route_rtp(RtpPacket(payload_type=97, ssrc=1000)) is main
    assert theirs._rtp_router.route_rtp(retransmission) is None  # aiortc's own: dropped


# --- UDP receive buffers and consent freshness (a starved machine) ---

async def test_every_ice_socket_gets_the_large_receive_buffer():
    connection = aioice.Connection(ice_controlling=True, components=2)
    try:
        await connection.gather_candidates()
        sizes = [p.transport.get_extra_info("socket").getsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF) for p in connection._protocols]
        assert len(sizes) == 2
        cap = socket_buffers.RECEIVE_BUFFER_BYTES
        rmem_max = socket_buffers.rmem_max()
        if not _may_force_buffers() and rmem_max is not None:
            cap = min(cap, rmem_max)
        # The kernel reports twice what was asked; aioice alone leaves 2 x 256 KiB.
        assert all(size >= 2 * cap for size in sizes), sizes
        assert all(size > 2 * 262144 for size in sizes) or cap <= 262144
    finally:
        await connection.close()


def _may_force_buffers() -> bool:
    if socket_buffers.SO_RCVBUFFORCE is None:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket_buffers.SO_RCVBUFFORCE, 8192)
            return True
        except PermissionError:
            return False


class UnprivilegedSocket:
    """A socket as an unprivileged process sees it: SO_RCVBUFFORCE refused, SO_RCVBUF
    capped at `cap` and doubled, as Linux does."""

    def __init__(self, cap: int) -> None:
        self.cap, self.buffer, self.calls = cap, 2 * 106496, []

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.calls.append(option)
        if option == socket_buffers.SO_RCVBUFFORCE:
            raise PermissionError(1, "Operation not permitted")
        self.buffer = 2 * min(value, self.cap)

    def getsockopt(self, level: int, option: int) -> int:
        return self.buffer


def test_without_the_privilege_the_buffer_is_asked_for_capped():
    sock = UnprivilegedSocket(cap=212992)
    assert socket_buffers.enlarge_receive_buffer(sock) == 2 * 212992
    assert sock.calls == [socket_buffers.SO_RCVBUFFORCE, socket.SO_RCVBUF]


def test_a_buffer_already_large_enough_is_left_alone():
    sock = UnprivilegedSocket(cap=1 << 30)
    sock.buffer = 2 * socket_buffers.RECEIVE_BUFFER_BYTES
    assert socket_buffers.enlarge_receive_buffer(sock) == sock.buffer
    assert sock.calls == []


def test_with_the_privilege_the_cap_does_not_apply():
    if not _may_force_buffers():
        pytest.skip("this process may not use SO_RCVBUFFORCE")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        size = socket_buffers.enlarge_receive_buffer(sock, 16 * 1024 * 1024)
        assert size >= 2 * 16 * 1024 * 1024


async def _connected_pair() -> tuple[aioice.Connection, aioice.Connection]:
    a = aioice.Connection(ice_controlling=True, components=1)
    b = aioice.Connection(ice_controlling=False, components=1)
    await asyncio.gather(a.gather_candidates(), b.gather_candidates())
    for near, far in ((a, b), (b, a)):
        for candidate in far.local_candidates:
            await near.add_remote_candidate(candidate)
        await near.add_remote_candidate(None)
        near.remote_username, near.remote_password = far.local_username, far.local_password
    await asyncio.gather(a.connect(), b.connect())
    return a, b


BINDING_SUCCESS = b"\x01\x01"


def _late_stun_answers(monkeypatch, delay: float | None) -> None:
    """Every STUN binding success response from now on reaches its connection `delay` s
    late (None: never), as on a peer whose event loop is starved."""
    original = aioice.ice.StunProtocol.datagram_received

    def datagram_received(self, data, addr):
        if isinstance(data, bytes) and data[:2] == BINDING_SUCCESS:
            if delay is not None:
                asyncio.get_running_loop().call_later(delay, original, self, data, addr)
            return
        original(self, data, addr)

    monkeypatch.setattr(aioice.ice.StunProtocol, "datagram_received", datagram_received)


async def _closed_within(connection: aioice.Connection, seconds: float) -> bool:
    receiving = asyncio.ensure_future(connection.recv())
    done, _ = await asyncio.wait({receiving}, timeout=seconds)
    if not done:
        receiving.cancel()
        return False
    return isinstance(receiving.exception(), ConnectionError)


@pytest.mark.parametrize("delay", [0.8, 2.0])  # past aioice's 0.5 s; beyond the next check
async def test_consent_answered_late_keeps_the_connection(monkeypatch, delay):
    monkeypatch.setattr(aiortc_hooks, "CONSENT_INTERVAL_SECONDS", 0.2)
    monkeypatch.setattr(aiortc_hooks, "CONSENT_EXPIRY_SECONDS", 3.0)
    a, b = await _connected_pair()
    try:
        _late_stun_answers(monkeypatch, delay)
        assert not await _closed_within(a, 6.0)
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_aioices_own_consent_drops_that_connection(monkeypatch):
    """The before: aioice's consent (one request, 0.5 s, six failures) on the same late
    answers closes the connection."""
    monkeypatch.setattr(aioice.ice.Connection, "query_consent",
                        aiortc_hooks.AIOICE_QUERY_CONSENT)
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    a, b = await _connected_pair()
    try:
        _late_stun_answers(monkeypatch, 0.8)
        assert await _closed_within(a, 6.0)
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_consent_never_answered_expires(monkeypatch, caplog):
    monkeypatch.setattr(aiortc_hooks, "CONSENT_INTERVAL_SECONDS", 0.2)
    monkeypatch.setattr(aiortc_hooks, "CONSENT_EXPIRY_SECONDS", 1.5)
    a, b = await _connected_pair()
    try:
        _late_stun_answers(monkeypatch, None)
        with caplog.at_level(logging.INFO, logger="rtc.aiortc_hooks"):
            assert await _closed_within(a, 6.0)
        # The expiry names the pair and how recently its socket read anything: here the
        # peer's checks kept arriving, only the answers were missing.
        expired = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("ICE consent expired")]
        assert expired  # a's, and b's too when it expired first
        for message in expired:
            match = re.search(r"127\.0\.0\.1:\d+ <- 127\.0\.0\.1:\d+ last datagram read "
                              r"([0-9.]+) s ago", message)
            assert match is not None, message
            assert float(match.group(1)) < 1.5, message
    finally:
        await asyncio.gather(a.close(), b.close())


# -- the counts the metrics read (mcu/media/media_totals.py) -----------------------------


@pytest.mark.parametrize("kind", ["audio", "video"])
async def test_sender_rtp_counts_are_the_ones_its_stats_report(kind):
    sender = RTCRtpSender(kind, RecordingTransport())
    assert aiortc_hooks.sender_rtp_counts(sender) == (0, 0)
    source = inspect.getsource(RTCRtpSender)
    assert "self.__packet_count += 1" in source
    assert "self.__octet_count += len(payload)" in source
    assert "packetsSent=self.__packet_count" in source
    assert "bytesSent=self.__octet_count" in source


async def test_receiver_rtp_packets_counts_every_packet_received_as_its_stats_do():
    receiver = await started_receiver(RecordingTransport())
    try:
        assert aiortc_hooks.receiver_rtp_packets(receiver) == 0
        for sequence in (1, 2, 3):
            await receiver._handle_rtp_packet(vp8_packet(sequence, sequence * 3000),
                                              arrival_time_ms=sequence)
        assert aiortc_hooks.receiver_rtp_packets(receiver) == 3
        stats = await receiver.getStats()
        inbound = [s for s in stats.values() if s.type == "inbound-rtp"]
        assert sum(s.packetsReceived for s in inbound) == 3
    finally:
        await receiver.stop()


def test_the_methods_count_rtp_and_feedback_wraps_are_where_aiortc_calls_them():
    receiver_source = inspect.getsource(RTCRtpReceiver)
    assert "await self._send_rtcp_nack(" in receiver_source
    assert "await self._send_rtcp_pli(packet.ssrc)" in receiver_source
    assert "if not self._enabled:" in receiver_source
    transport_source = inspect.getsource(aiortc.rtcdtlstransport.RTCDtlsTransport)
    assert "await receiver._handle_rtp_packet(packet, arrival_time_ms=" in transport_source
    assert "await recipient._handle_rtcp_packet(packet)" in transport_source


async def test_count_rtp_and_feedback_counts_bytes_in_and_nack_pli_both_ways():
    transport = RecordingTransport()
    sender = RTCRtpSender("video", RecordingTransport())
    counts = RtpCounts()
    receiver = await started_receiver(
        transport, lambda r: aiortc_hooks.count_rtp_and_feedback(r, sender, counts))
    try:
        await receiver._handle_rtp_packet(vp8_packet(1, 0, payload=b"\x10" + bytes(99)),
                                          arrival_time_ms=0)
        # sequence 2 and 3 missing: aiortc's NACK generator asks for them, once
        await receiver._handle_rtp_packet(vp8_packet(4, 0, payload=b"\x10" + bytes(49)),
                                          arrival_time_ms=1)
        unknown = RtpPacket(payload_type=111, sequence_number=5, timestamp=0,
                            ssrc=MEDIA_SSRC, payload=bytes(500))
        await receiver._handle_rtp_packet(unknown, arrival_time_ms=2)  # dropped by aiortc
        assert counts.payload_bytes_received == 150
        assert aiortc_hooks.receiver_rtp_packets(receiver) == 2  # the same two packets
        nacks = transport.rtcp(RtcpRtpfbPacket, RTCP_RTPFB_NACK)
        assert [sorted(p.lost) for p in nacks] == [[2, 3]]
        assert counts.nack_sent == len(nacks) == 1
        assert await aiortc_hooks.request_keyframe(receiver) == 1
        assert counts.pli_sent == len(transport.rtcp(RtcpPsfbPacket, RTCP_PSFB_PLI)) == 1

        keyframes: list[str] = []
        aiortc_hooks.on_keyframe_request(sender, lambda: keyframes.append("keyframe"))
        await sender._handle_rtcp_packet(
            RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=RTCP_SSRC, media_ssrc=sender._ssrc))
        await sender._handle_rtcp_packet(
            RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=RTCP_SSRC, media_ssrc=sender._ssrc))
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=RTCP_SSRC, media_ssrc=sender._ssrc)
        nack.lost = [7, 8]
        await sender._handle_rtcp_packet(nack)
        assert keyframes == ["keyframe", "keyframe"]  # aiortc's handling still runs
        assert (counts.pli_received, counts.nack_received) == (1, 1)  # FIR is not a PLI
    finally:
        await receiver.stop()
        await asyncio.sleep(0)


async def test_nothing_aiortc_drops_or_does_not_send_is_counted():
    counts = RtpCounts()
    sender = RTCRtpSender("video", RecordingTransport())
    receiver = await started_receiver(
        RecordingTransport(), lambda r: aiortc_hooks.count_rtp_and_feedback(r, sender, counts))
    try:
        receiver._enabled = False  # as aiortc's transceiver leaves it when not receiving
        await receiver._handle_rtp_packet(vp8_packet(1, 0), arrival_time_ms=0)
        assert aiortc_hooks.receiver_rtp_packets(receiver) == 0
    finally:
        await receiver.stop()
    unstarted = RTCRtpReceiver("video", RecordingTransport())
    aiortc_hooks.count_rtp_and_feedback(unstarted, sender, counts)
    await unstarted._handle_rtp_packet(vp8_packet(1, 0), arrival_time_ms=0)  # no codecs yet
    await unstarted._send_rtcp_pli(MEDIA_SSRC)  # no RTCP SSRC yet: aiortc sends nothing
    await unstarted._send_rtcp_nack(MEDIA_SSRC, [1])
    assert counts == RtpCounts()


async def test_a_receiver_never_stopped_does_not_keep_the_process_alive():
    """aiortc starts a receiver's decoder thread as a non-daemon thread, ended only by stop():
    with the hooks installed it is a daemon thread, so a receiver whose stop() never ran does
    not hold the process at exit (a CI run was held that way until its time limit)."""
    receiver = await started_receiver(RecordingTransport())
    try:
        decoders = [thread for thread in threading.enumerate()
                    if thread.name == "video-decoder" and thread.is_alive()]
        assert decoders and all(thread.daemon for thread in decoders)
    finally:
        await receiver.stop()
    # from the outside: a process that starts one and never stops it ends on its own
    script = (
        "import asyncio\n"
        "from rtc import aiortc_hooks\n"
        "aiortc_hooks.install()\n"
        "from tests.test_aiortc_hooks import RecordingTransport, started_receiver\n"
        "async def main():\n"
        "    await started_receiver(RecordingTransport())\n"
        "asyncio.run(main())\n"
        "print('done', flush=True)\n")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, cwd=str(Path(__file__).resolve().parent.parent),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await within(child.communicate(), timeout=60)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise AssertionError("the process was held at exit by the receiver's thread") from None
    assert child.returncode == 0 and out.decode().strip() == "done", err.decode()[-2000:]
