"""A simulated terminal's lean media path (SimulatedTerminal(lean_media=True), the default):

- a counting terminal's receiver with rtc/receive_path.py's one-step RTP handler counts
  exactly what it counted with aiortc's handler (complete frames, keyframes, their RTP
  timestamps, the SPS of the latest keyframe) and sends the same RTCP, packet for packet,
  on a script of real H.264 packets with a loss recovered by RTX, a reordered pair and
  packets it must ignore;
- terminals/loop_sender.py sends a pre-encoded loop over real peer connections so that an
  aiortc receiver gets the very frames aiortc's own RTP loop delivers, in the same order;
  the sender reports count what it sent; a lost packet comes back as RTX; a PLI still
  reaches the track (a keyframe request); the voice's Opus packets sent directly arrive as
  aiortc's loop delivers them.

The terminals' end-to-end tests (tests/test_terminal_client.py and the media tests, which
read the markers in decoded pictures) run with this path, the default."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Callable

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpDecodingParameters,
    RTCRtpReceiveParameters,
    RTCRtpRtxParameters,
)
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RtpPacket

from rtc import aiortc_hooks, receive_path
from rtc.aiortc_send_hooks import sender_ids
from rtc.ice import rtc_configuration
from rtc.jitter_buffer import release_frames_at_marker
from rtc.rtp_counts import RtpCounts
from terminals.frame_counter import count_frames
from terminals.loop_sender import send_video_directly, send_voice_directly
from terminals.media_sources import EncodedLoop, EncodedVideoTrack, SpeechTrack, VideoFormat
from terminals.send_log import SendLog
from terminals.speech import SpeechSynth
from tests.rtc_stubs import RecordingTransport
from tests.test_aiortc_hooks import RecordingQueue

WIDTH, HEIGHT = 320, 180
TIME_BASE = fractions.Fraction(1, 90000)
MEDIA_SSRC, RTX_SSRC, RTCP_SSRC = 1234, 4321, 5678
H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=100,
                             parameters={"packetization-mode": "1",
                                         "profile-level-id": "42e01f"})
H264_RTX = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=101,
                                 parameters={"apt": 100})


def encoded_frames(count: int, gop: int) -> list[bytes]:
    """`count` H.264 frames (x264 as the terminals' loops, Annex B, SPS and PPS before each
    IDR), a keyframe every `gop`, each picture different noise (several packets a frame)."""
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    context.time_base = TIME_BASE
    context.framerate = fractions.Fraction(30, 1)
    context.bit_rate = 2_000_000
    context.gop_size = gop
    context.max_b_frames = 0
    context.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    frames = []
    noise = np.random.default_rng(17)
    for index in range(count):
        frame = av.VideoFrame.from_ndarray(
            noise.integers(0, 256, (HEIGHT * 3 // 2, WIDTH), dtype=np.uint8), format="yuv420p")
        frame.pts, frame.time_base = index * 3000, TIME_BASE
        frames += [bytes(packet) for packet in context.encode(frame)]
    frames += [bytes(packet) for packet in context.encode(None)]
    assert len(frames) == count
    return frames


def loop_of(frames: list[bytes], gop: int) -> EncodedLoop:
    return EncodedLoop(codec="H264", packets=frames,
                       keyframes=frozenset(range(0, len(frames), gop)),
                       video_format=VideoFormat(WIDTH, HEIGHT, 30, 500_000))


# -- the receiver: the one-step handler counts what aiortc's did ------------------------------


def script() -> list[RtpPacket]:
    """Real H.264 frames packetized by aiortc (FU-A at a small MTU's worth of pieces: several
    packets a frame), a packet lost and recovered by RTX, a reordered pair, a packet of an
    unknown payload type, an RTX packet of an unknown SSRC."""
    encoder = H264Encoder()
    packets: list[RtpPacket] = []
    sequence = 500
    for index, data in enumerate(encoded_frames(12, gop=4)):
        packet = av.Packet(data)
        packet.pts, packet.time_base = index * 3000, TIME_BASE
        payloads, timestamp = encoder.pack(packet)
        for position, payload in enumerate(payloads):
            packets.append(RtpPacket(payload_type=H264.payloadType, sequence_number=sequence,
                                     timestamp=timestamp, ssrc=MEDIA_SSRC,
                                     marker=int(position == len(payloads) - 1),
                                     payload=payload))
            sequence += 1
    assert len(packets) > 14
    lost = packets.pop(5)
    packets.insert(9, RtpPacket(payload_type=H264_RTX.payloadType, sequence_number=7000,
                                timestamp=lost.timestamp, ssrc=RTX_SSRC, marker=lost.marker,
                                payload=lost.sequence_number.to_bytes(2, "big") + lost.payload))
    packets[12], packets[13] = packets[13], packets[12]
    packets.append(RtpPacket(payload_type=111, sequence_number=sequence, timestamp=0,
                             ssrc=MEDIA_SSRC, payload=bytes(40)))
    packets.append(RtpPacket(payload_type=H264_RTX.payloadType, sequence_number=7001,
                             timestamp=0, ssrc=999, payload=bytes(10)))
    return packets


async def counted(one_step: bool):
    """A counting terminal's video receiver (terminals/frame_counter.py, no REMB, frames
    released at their marker) fed the script, with aiortc's handler or the one-step one."""
    transport = RecordingTransport()
    receiver = RTCRtpReceiver("video", transport)
    receiver._track = RemoteStreamTrack(kind="video")
    counter = count_frames(receiver, decode=False)
    aiortc_hooks.disable_remote_bitrate_estimator(receiver)
    release_frames_at_marker(receiver)
    counts = RtpCounts()
    if one_step:
        receive_path.handle_rtp_in_one_step(receiver, counts)
    await receiver.receive(RTCRtpReceiveParameters(
        codecs=[H264, H264_RTX],
        encodings=[RTCRtpDecodingParameters(ssrc=MEDIA_SSRC, payloadType=H264.payloadType,
                                            rtx=RTCRtpRtxParameters(ssrc=RTX_SSRC))]))
    receiver._set_rtcp_ssrc(RTCP_SSRC)
    try:
        for index, packet in enumerate(script()):
            await receiver._handle_rtp_packet(packet, arrival_time_ms=index * 10)
        streams = receiver._RTCRtpReceiver__remote_streams
        return (counter.frames_received, counter.keyframes_received,
                [timestamp for _, timestamp in counter.arrivals], counter.sps,
                transport.sent,
                {ssrc: (s.base_seq, s.max_seq, s.packets_received) for ssrc, s in streams.items()},
                counts.payload_bytes_received)
    finally:
        await receiver.stop()


async def test_a_counting_receiver_counts_the_same_frames_with_the_one_step_handler():
    aiortcs = await counted(one_step=False)
    one_step = await counted(one_step=True)
    frames, keyframes, timestamps, sps, rtcp, streams, payload_bytes = one_step
    assert frames >= 10 and keyframes == 3  # frames 0, 4, 8 are IDRs; the lost one recovered
    assert sps is not None and (sps.width, sps.height) == (WIDTH, HEIGHT)
    assert rtcp, "the gap was NACKed"
    assert one_step[:6] == aiortcs[:6]  # counts, timestamps, SPS, RTCP, stream statistics
    assert payload_bytes > 0 and aiortcs[6] == 0  # only the one-step handler counts bytes


# -- the sender: the loop sent directly ------------------------------------------------------


class LoopCall:
    """A terminal's side (its loop on a video track, sent directly or by aiortc's loop) and
    an aiortc receiver keeping every complete frame, connected on loopback."""

    def __init__(self, loop: EncodedLoop, direct: bool) -> None:
        self.sender_pc = RTCPeerConnection(rtc_configuration())
        self.receiver_pc = RTCPeerConnection(rtc_configuration())
        self.track = EncodedVideoTrack(0, loop, SendLog())
        self.transceiver = self.sender_pc.addTransceiver(self.track, direction="sendonly")
        self.transceiver.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs
             if c.name in ("H264", "rtx")
             and c.parameters.get("profile-level-id", "42e01f") == "42e01f"])
        aiortc_hooks.on_keyframe_request(self.transceiver.sender, self.track.request_keyframe)
        if direct:
            send_video_directly(self.transceiver.sender, self.track)
        self.frames = RecordingQueue()

    @property
    def sender(self) -> RTCRtpSender:
        return self.transceiver.sender

    @property
    def receiver(self) -> RTCRtpReceiver:
        return self.receiver_pc.getTransceivers()[0].receiver

    async def connect(self) -> None:
        await self.sender_pc.setLocalDescription(await self.sender_pc.createOffer())
        await self.receiver_pc.setRemoteDescription(self.sender_pc.localDescription)
        aiortc_hooks.replace_decoder_queue(self.receiver, self.frames)
        release_frames_at_marker(self.receiver)
        await self.receiver_pc.setLocalDescription(await self.receiver_pc.createAnswer())
        await self.sender_pc.setRemoteDescription(self.receiver_pc.localDescription)

    async def close(self) -> None:
        await asyncio.gather(self.sender_pc.close(), self.receiver_pc.close())


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


async def received_frames(loop: EncodedLoop, direct: bool, count: int) -> list[bytes]:
    call = LoopCall(loop, direct)
    try:
        await call.connect()
        assert call.sender._run_rtp.__qualname__.startswith("take_over_rtp") == direct
        await eventually(lambda: len(call.frames.frames) >= count, f"{count} frames")
        return [frame.data for _, frame in call.frames.frames[:count]]
    finally:
        await call.close()


async def test_the_loop_sent_directly_arrives_as_aiortcs_loop_delivers_it():
    frames = encoded_frames(20, gop=8)
    loop = loop_of(frames, gop=8)
    aiortcs = await received_frames(loop, direct=False, count=30)
    direct = await received_frames(loop, direct=True, count=30)
    assert direct == aiortcs  # the loop from frame 0, around its end and on, frame for frame
    assert len(set(direct)) == 20


async def test_the_direct_loop_sender_reports_what_it_sent_resends_a_loss_and_takes_a_pli():
    call = LoopCall(loop_of(encoded_frames(20, gop=8), gop=8), direct=True)
    dropped: list[int] = []
    rtx_seen: list[bytes] = []
    restore = None
    ssrc, rtx_ssrc = sender_ids(call.sender)  # chosen when the sender is made
    try:

        def arriving(data: bytes) -> bool:
            if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:
                return True  # not RTP
            source = int.from_bytes(data[8:12], "big")
            if source == rtx_ssrc:
                rtx_seen.append(data)
            elif source == ssrc and call.track.frames_sent == 12 and not dropped:
                dropped.append(int.from_bytes(data[2:4], "big"))
                return False  # a packet of the 12th frame: lost once
            return True

        restore = aiortc_hooks.filter_datagrams(arriving, lambda data: True)
        await call.connect()
        await eventually(lambda: len(call.frames.frames) >= 20, "20 frames")
        assert dropped and rtx_seen, "the lost packet came back as RTX"
        data = [frame.data for _, frame in call.frames.frames[:20]]
        assert len(set(data)) == 20  # none missing, the recovered one included

        sent = aiortc_hooks.sender_rtp_counts(call.sender)
        assert sent[0] > 20 and sent[1] > 0

        async def reported() -> tuple[int, int] | None:
            for stats in (await call.receiver.getStats()).values():
                if stats.type == "remote-outbound-rtp":
                    return stats.packetsSent, stats.bytesSent
            return None

        async with asyncio.timeout(15):  # a sender report every 0.5-1.5 s counts what was sent
            while (report := await reported()) is None or report[0] < sent[0]:
                await asyncio.sleep(0.1)
        requests = call.track.keyframe_requests
        assert await aiortc_hooks.request_keyframe(call.receiver) == 1
        await eventually(lambda: call.track.keyframe_requests > requests, "the PLI's request")
    finally:
        if restore is not None:
            restore()
        await call.close()


# -- the voice: Opus packets sent directly ---------------------------------------------------


async def received_voice(direct: bool, count: int) -> list[bytes]:
    """The first `count` Opus payloads an aiortc receiver gets from a terminal's voice (site
    0's synthetic speech), sent directly or by aiortc's loop with the track told the call's
    codec, as the terminal tells it (the direct loop tells it itself)."""
    sender_pc = RTCPeerConnection(rtc_configuration())
    receiver_pc = RTCPeerConnection(rtc_configuration())
    track = SpeechTrack(SpeechSynth(0))
    transceiver = sender_pc.addTransceiver(track, direction="sendonly")
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.name == "opus"])
    if direct:
        send_voice_directly(transceiver.sender, track)
    else:
        track.use_codec("OPUS")
    frames = RecordingQueue()
    try:
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        aiortc_hooks.replace_decoder_queue(receiver_pc.getTransceivers()[0].receiver, frames)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        await eventually(lambda: len(frames.frames) >= count, f"{count} audio frames")
        assert (transceiver.sender._run_rtp.__qualname__.startswith("take_over_rtp")
                == direct)
        assert track.codec == "OPUS"
        return [frame.data for _, frame in frames.frames[:count]]
    finally:
        await asyncio.gather(sender_pc.close(), receiver_pc.close())


async def test_the_voice_sent_directly_arrives_as_aiortcs_loop_delivers_it():
    aiortcs = await received_voice(direct=False, count=40)
    direct = await received_voice(direct=True, count=40)
    assert direct == aiortcs
    assert len(set(direct)) > 10  # the voice, not one packet over and over
