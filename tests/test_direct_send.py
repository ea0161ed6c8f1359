"""mcu/media/direct_send.py over real aiortc peer connections on loopback: what the MCU's
tracks push reaches an aiortc receiver, decoded picture by picture; a lost packet comes back
as RTX when the receiver NACKs it; the RTCP sender reports count what was sent; the
datagram filter of the loss injection applies; a frame is packetized once for all its
receivers; a codec aiortc must encode itself keeps aiortc's own loop; closing the call
ends the sender and its track."""

from __future__ import annotations

import asyncio
import fractions
import re
from collections.abc import Callable

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from mcu.media.audio_mixer import SiteAudioTrack
from mcu.media.direct_send import send_directly
from mcu.media.encoder_group import SiteVideoTrack
from rtc import aiortc_hooks
from rtc.aiortc_send_hooks import sender_ids
from rtc.audio_level import samples_level_dbov
from rtc.deadline import within
from rtc.ice import rtc_configuration
from rtc.jitter_buffer import release_frames_at_marker
from rtc.opus_packets import OPUS_FRAME_SAMPLES, OpusPacketEncoder
from rtc.shared_packetizer import packetizer_for

WIDTH, HEIGHT = 320, 180
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000)


def levels(count: int) -> list[int]:
    """The luma of each test frame: distinct from frame to frame."""
    return [32 + (index * 11) % 190 for index in range(count)]


def video_packets(codec: str, count: int) -> list[av.Packet]:
    """`count` frames, each flat at its level of `levels`, encoded as the MCU's groups do
    (x264 or libvpx), the first a keyframe, pts in 1/90000 s at 30 fps."""
    name = {"H264": "libx264", "VP8": "libvpx"}[codec]
    context = av.CodecContext.create(name, "w")
    context.width, context.height, context.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    context.time_base = VIDEO_TIME_BASE
    context.framerate = fractions.Fraction(30, 1)  # else the rate control budgets 90000 fps
    context.bit_rate = 1_000_000
    context.gop_size = 600
    if codec == "H264":
        context.options = {"preset": "ultrafast", "tune": "zerolatency",
                           "profile": "baseline"}
        context.max_b_frames = 0
    else:
        context.options = {"deadline": "realtime", "lag-in-frames": "0"}
    packets = []
    for index, level in enumerate(levels(count)):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        for plane, value in zip(frame.planes, (level, 128, 128), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts = index * 3000
        frame.time_base = VIDEO_TIME_BASE
        for packet in context.encode(frame):
            packet.time_base = VIDEO_TIME_BASE
            packets.append(packet)
    for packet in context.encode(None):
        packet.time_base = VIDEO_TIME_BASE
        packets.append(packet)
    assert len(packets) == count and packets[0].is_keyframe
    return packets


class Call:
    """The MCU's side (a peer connection sending the site's tracks through direct senders)
    and an aiortc terminal receiving them, connected on loopback."""

    def __init__(self, video_codec: str = "H264", audio_codec: str = "opus",
                 direct: bool = True) -> None:
        self.mcu = RTCPeerConnection(rtc_configuration())
        self.terminal = RTCPeerConnection(rtc_configuration())
        self.video_out = SiteVideoTrack("sip:site@test")
        self.audio_out = SiteAudioTrack("sip:site@test")
        self.audio = self.mcu.addTransceiver(self.audio_out, direction="sendonly")
        self.video = self.mcu.addTransceiver(self.video_out, direction="sendonly")
        self._prefer(self.audio, "audio", audio_codec)
        self._prefer(self.video, "video", video_codec)
        if direct:
            send_directly(self.audio.sender, self.audio_out)
            send_directly(self.video.sender, self.video_out)
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.terminal.on("track", lambda track: self.tracks.__setitem__(track.kind, track))

    @staticmethod
    def _prefer(transceiver, kind: str, codec: str) -> None:
        capabilities = RTCRtpSender.getCapabilities(kind).codecs
        transceiver.setCodecPreferences(
            [c for c in capabilities if c.name.lower() in (codec.lower(), "rtx")
             and c.parameters.get("profile-level-id", "42e01f") == "42e01f"])

    async def connect(self) -> None:
        await self.mcu.setLocalDescription(await self.mcu.createOffer())
        await self.terminal.setRemoteDescription(self.mcu.localDescription)
        for transceiver in self.terminal.getTransceivers():  # as the terminals do
            if transceiver.kind == "video":
                release_frames_at_marker(transceiver.receiver)
        await self.terminal.setLocalDescription(await self.terminal.createAnswer())
        await self.mcu.setRemoteDescription(self.terminal.localDescription)
        await eventually(lambda: self.mcu.connectionState == "connected"
                         and self.terminal.connectionState == "connected"
                         and "video" in self.tracks, "connected")
        if self.video_direct:
            await eventually(lambda: self.video_out._output is not None, "the direct sender")

    @property
    def video_direct(self) -> bool:
        return self.video.sender._run_rtp.__qualname__.startswith("take_over_rtp")

    def rtx_payload_type(self) -> int:
        [pt] = {int(pt) for pt in re.findall(r"a=rtpmap:(\d+) rtx/",
                                             self.mcu.localDescription.sdp)
                if f"a=fmtp:{pt} apt=" in self.mcu.localDescription.sdp}
        return pt

    async def close(self) -> None:
        await asyncio.gather(self.mcu.close(), self.terminal.close())


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


async def decoded_levels(track: MediaStreamTrack, count: int, timeout: float = 30.0) -> list[int]:
    """The mean luma of the next `count` pictures the terminal decodes."""
    found = []
    async with asyncio.timeout(timeout):
        while len(found) < count:
            frame = await track.recv()
            picture = frame.reformat(format="yuv420p")
            luma = picture.to_ndarray()[:picture.height]  # the Y plane's code values
            found.append(int(round(float(np.mean(luma)))))
    return found


async def push_paced(track: SiteVideoTrack, packets: list[av.Packet], fps: float = 60.0) -> None:
    for packet in packets:
        track.push(packet)
        await asyncio.sleep(1 / fps)


def close_to(found: list[int], wanted: list[int]) -> bool:
    return len(found) == len(wanted) and all(abs(a - b) <= 3 for a, b in zip(found, wanted, strict=True))


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_every_picture_pushed_is_decoded_in_order_by_the_terminal(codec):
    call = Call(video_codec=codec)
    try:
        await call.connect()
        assert call.video_direct
        packets = video_packets(codec, 40)
        decoding = asyncio.ensure_future(decoded_levels(call.tracks["video"], 40))
        await push_paced(call.video_out, packets)
        assert close_to(await decoding, levels(40))
        assert call.video_out.packets_sent == 40
    finally:
        await call.close()


async def test_a_lost_packet_comes_back_as_rtx_and_no_picture_is_missed():
    call = Call()
    dropped: list[int] = []
    rtx_seen: list[bytes] = []
    restore = None
    try:
        await call.connect()
        rtx = call.rtx_payload_type()
        ssrc, _ = sender_ids(call.video.sender)
        # 30 pictures watched, 3 more sent: a receiver's jitter buffer that held pictures
        # behind the gap releases the last of them as later packets arrive
        packets = video_packets("H264", 33)

        def arriving(data: bytes) -> bool:
            if len(data) < 12 or data[0] >> 6 != 2 or 192 <= data[1] <= 223:
                return True  # not RTP
            if data[1] & 0x7F == rtx:
                rtx_seen.append(data)
            elif int.from_bytes(data[8:12], "big") == ssrc and call.video_out.packets_sent == 12 \
                    and not dropped:
                dropped.append(int.from_bytes(data[2:4], "big"))
                return False  # the first packet of the 12th picture: lost once
            return True

        restore = aiortc_hooks.filter_datagrams(arriving, lambda data: True)
        decoding = asyncio.ensure_future(decoded_levels(call.tracks["video"], 30))
        await push_paced(call.video_out, packets, fps=30)
        assert close_to(await decoding, levels(33)[:30])
        assert dropped, "a packet was dropped"
        assert rtx_seen, "the retransmission arrived as RTX"
        [output] = [call.video_out._output]
        assert output is not None and output.rtp.retransmitted >= 1
    finally:
        if restore is not None:
            restore()
        await call.close()


async def test_sender_reports_count_the_packets_and_bytes_sent():
    call = Call()
    try:
        await call.connect()
        decoding = asyncio.ensure_future(decoded_levels(call.tracks["video"], 20))
        await push_paced(call.video_out, video_packets("H264", 20))
        await decoding
        output = call.video_out._output
        assert output is not None
        sent = (output.rtp.packet_count, output.rtp.octet_count)
        assert aiortc_hooks.sender_rtp_counts(call.video.sender) == sent
        receiver = call.terminal.getTransceivers()[1].receiver

        async def reported() -> tuple[int, int] | None:
            for stats in (await receiver.getStats()).values():
                if stats.type == "remote-outbound-rtp":
                    return stats.packetsSent, stats.bytesSent
            return None

        async with asyncio.timeout(10):  # an SR every 0.5-1.5 s
            while await reported() != sent:
                await asyncio.sleep(0.1)
    finally:
        await call.close()


async def test_the_loss_injections_send_filter_applies_to_the_direct_path():
    call = Call()
    restore = None
    try:
        await call.connect()
        refused: list[bytes] = []
        ssrc, _ = sender_ids(call.video.sender)

        def leaving(data: bytes) -> bool:
            if len(data) >= 12 and not 192 <= data[1] <= 223 \
                    and int.from_bytes(data[8:12], "big") == ssrc:
                refused.append(data)
                return False
            return True

        restore = aiortc_hooks.filter_datagrams(lambda data: True, leaving)
        packets = video_packets("H264", 10)
        for packet in packets:
            call.video_out.push(packet)
        await asyncio.sleep(0.5)
        assert len(refused) >= 10  # every picture's packets, none sent
        stats = await call.terminal.getTransceivers()[1].receiver.getStats()
        assert not [s for s in stats.values() if s.type == "inbound-rtp" and s.packetsReceived]
    finally:
        if restore is not None:
            restore()
        await call.close()


async def test_four_receivers_of_a_picture_share_one_packetization():
    calls = [Call() for _ in range(4)]
    try:
        for call in calls:
            await call.connect()
        packetizer = packetizer_for(H264)  # the one the four senders use
        before = packetizer.packetized
        packets = video_packets("H264", 10)
        decodings = [asyncio.ensure_future(decoded_levels(call.tracks["video"], 10))
                     for call in calls]
        for packet in packets:
            for call in calls:  # as EncoderGroup.deliver: each packet to every receiver
                call.video_out.push(packet)
            await asyncio.sleep(1 / 30)
        for decoding in decodings:
            assert close_to(await decoding, levels(10))
        assert packetizer.packetized - before == 10
    finally:
        await asyncio.gather(*(call.close() for call in calls))


async def test_opus_packets_pushed_are_heard_by_the_terminal():
    call = Call()
    try:
        await call.connect()
        await eventually(lambda: "audio" in call.tracks, "the audio track")
        encoder = OpusPacketEncoder()
        tone = (np.sin(np.arange(OPUS_FRAME_SAMPLES * 50) * 2 * np.pi * 440 / 48000)
                * 8000).astype(np.int16)
        received = []

        async def hear() -> None:
            while len(received) < 40:
                received.append(await call.tracks["audio"].recv())

        hearing = asyncio.ensure_future(hear())
        for index in range(50):
            samples = tone[index * OPUS_FRAME_SAMPLES:(index + 1) * OPUS_FRAME_SAMPLES]
            call.audio_out.push_packets(encoder.encode(samples, index * OPUS_FRAME_SAMPLES),
                                        samples_level_dbov(samples))
            await asyncio.sleep(0.02)
        async with asyncio.timeout(10):
            await hearing
        loud = [frame for frame in received
                if np.abs(frame.to_ndarray().astype(np.int32)).max() > 2000]
        assert len(loud) >= 30  # the tone, decoded
        assert call.audio_out.frames_sent == 50
    finally:
        await call.close()


async def test_a_codec_aiortc_encodes_keeps_aiortcs_own_loop():
    call = Call(audio_codec="PCMU")
    try:
        await call.connect()
        await eventually(lambda: "audio" in call.tracks, "the audio track")
        assert call.audio_out._output is None  # no direct output for PCMU
        tone = (np.sin(np.arange(960 * 30) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
        for index in range(30):
            call.audio_out.push(tone[index * 960:(index + 1) * 960])
        frame = await within(call.tracks["audio"].recv(), 10)
        assert frame.sample_rate == 8000
    finally:
        await call.close()


async def test_closing_the_call_ends_the_direct_sender_and_its_track():
    call = Call()
    await call.connect()
    call.video_out.push(video_packets("H264", 1)[0])
    output = call.video_out._output
    assert output is not None
    await within(call.close(), 10)
    assert output.ended.done()
    assert call.video_out._output is None
    assert call.video_out.readyState == "ended"
    call.video_out.push(video_packets("H264", 1)[0])  # nothing sent, nothing raised
