"""rtc/rtp_output.py and rtc/shared_packetizer.py: the direct send path writes exactly the
bytes aiortc's RTCRtpSender writes, packetizes a frame once for all its receivers, and
numbers VP8 pictures per stream as aiortc's packetizer does."""

from __future__ import annotations

import datetime
import fractions
import random
import time

import av
import pytest
from aiortc import clock
from aiortc.codecs import get_encoder
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import RTP_HISTORY_SIZE, HeaderExtensionsMap, RtpPacket, wrap_rtx

from rtc.rtp_output import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    RtpOutput,
    RtpStreamWriter,
    StreamIds,
    abs_send_time,
    current_ntp_time,
    ntp_time,
)
from rtc.shared_packetizer import SharedPacketizer, Vp8PictureIds

H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102,
                             parameters={"packetization-mode": "1"})
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)

# (extension URI -> id, mid): aiortc's video and audio defaults, none, a two-digit mid, and
# an id beyond the one-byte form (the two-byte header, RFC 8285)
EXTENSION_CASES = [
    ({MID_URI: 1, ABS_SEND_TIME_URI: 3}, "1"),
    ({MID_URI: 1, AUDIO_LEVEL_URI: 2}, "0"),
    ({}, "0"),
    ({MID_URI: 4, ABS_SEND_TIME_URI: 2}, "12"),
    ({MID_URI: 1, ABS_SEND_TIME_URI: 15}, "3"),
    ({ABS_SEND_TIME_URI: 3}, None),
]


def aiortc_bytes(ids: StreamIds, payload: bytes, sequence: int, timestamp: int, marker: int,
                 send_time: int, audio_level: int | None = None) -> bytes:
    """What aiortc's RTCRtpSender._run_rtp serializes for these values (`audio_level`: the
    level in dBov of a frame it computed one for)."""
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpSendParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=x_id, uri=uri)
        for uri, x_id in ids.extension_ids.items()]))
    packet = RtpPacket(payload_type=ids.payload_type, sequence_number=sequence,
                       timestamp=timestamp)
    packet.ssrc = ids.ssrc
    packet.payload = payload
    packet.marker = marker
    packet.extensions.abs_send_time = send_time
    packet.extensions.mid = ids.mid
    if audio_level is not None:
        packet.extensions.audio_level = (False, -audio_level)
    return packet.serialize(extensions)


def ids_for(extension_ids: dict[str, int], mid: str | None, rtx: int | None = 97) -> StreamIds:
    return StreamIds(ssrc=random.getrandbits(32), payload_type=96,
                     rtx_ssrc=random.getrandbits(32), rtx_payload_type=rtx, mid=mid,
                     extension_ids=extension_ids)


@pytest.mark.parametrize(("extension_ids", "mid"), EXTENSION_CASES)
def test_every_packet_is_aiortcs_serialization_byte_for_byte(extension_ids, mid):
    rng = random.Random(17)
    ids = ids_for(extension_ids, mid)
    writer = RtpStreamWriter(ids)
    for _frame in range(20):
        payloads = [rng.randbytes(rng.randint(1, 1300)) for _ in range(rng.randint(1, 9))]
        first = rng.randint(0, 0xFFFF)  # wraps inside a frame now and then
        timestamp = rng.getrandbits(32)
        send_time = rng.getrandbits(24)
        packets = writer.packets(payloads, first, timestamp, send_time)
        assert len(packets) == len(payloads)
        for index, (packet, payload) in enumerate(zip(packets, payloads, strict=True)):
            sequence = (first + index) & 0xFFFF
            marker = int(index == len(payloads) - 1)
            assert packet == aiortc_bytes(ids, payload, sequence, timestamp, marker, send_time)
            assert writer.sent(sequence) == packet


# a voice's streams: aiortc's audio defaults, the level beside abs-send-time, the level
# alone, and the level's id beyond the one-byte form
LEVEL_CASES = [
    ({MID_URI: 1, AUDIO_LEVEL_URI: 2}, "0"),
    ({MID_URI: 4, ABS_SEND_TIME_URI: 2, AUDIO_LEVEL_URI: 3}, "12"),
    ({AUDIO_LEVEL_URI: 5}, None),
    ({MID_URI: 1, AUDIO_LEVEL_URI: 15}, "1"),
]


@pytest.mark.parametrize(("extension_ids", "mid"), LEVEL_CASES)
def test_a_voice_s_packets_carry_its_level_as_aiortc_writes_it(extension_ids, mid):
    """The terminals' pre-encoded Opus: aiortc sends a packet it did not encode with no
    level; the direct path writes the frame's level where aiortc's sender writes the one it
    computes for a frame it encodes, byte for byte, and aiortc's parser reads it back."""
    rng = random.Random(29)
    ids = ids_for(extension_ids, mid)
    writer = RtpStreamWriter(ids, audio_levels=True)
    parse_map = HeaderExtensionsMap()
    parse_map.configure(RTCRtpSendParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=x_id, uri=uri)
        for uri, x_id in ids.extension_ids.items()]))
    for level in (0, -1, -20, -64, -126, -127):
        payload = rng.randbytes(rng.randint(1, 200))
        sequence, timestamp, send_time = rng.randint(0, 0xFFFF), rng.getrandbits(32), 0
        (packet,) = writer.packets([payload], sequence, timestamp, send_time, level)
        assert packet == aiortc_bytes(ids, payload, sequence, timestamp, 1, send_time, level)
        assert RtpPacket.parse(packet, parse_map).extensions.audio_level == (False, -level)


def test_a_stream_without_the_level_extension_writes_none():
    ids = ids_for({MID_URI: 1}, "0")
    writer = RtpStreamWriter(ids, audio_levels=True)
    (packet,) = writer.packets([b"voice"], 7, 960, 0, -30)
    assert packet == aiortc_bytes(ids, b"voice", 7, 960, 1, 0)


@pytest.mark.parametrize(("extension_ids", "mid"), EXTENSION_CASES)
def test_a_retransmission_is_aiortcs_rtx_wrapping_byte_for_byte(extension_ids, mid):
    ids = ids_for(extension_ids, mid)
    writer = RtpStreamWriter(ids)
    packets = writer.packets([b"first", b"second", b"last"], 65534, 123456, 0xABCDEF)
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpSendParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=x_id, uri=uri)
        for uri, x_id in ids.extension_ids.items()]))
    for packet in packets:
        original = RtpPacket.parse(packet, extensions)
        assert ids.rtx_payload_type is not None
        expected = wrap_rtx(original, payload_type=ids.rtx_payload_type,
                            sequence_number=4242, ssrc=ids.rtx_ssrc).serialize(extensions)
        assert writer.rtx(packet, 4242) == expected


def test_the_history_holds_the_last_packets_only():
    writer = RtpStreamWriter(ids_for({MID_URI: 1, ABS_SEND_TIME_URI: 3}, "1"))
    writer.packets([b"x"] * (RTP_HISTORY_SIZE + 5), 100, 0, 0)
    assert writer.sent(100) is None  # overwritten by 100 + RTP_HISTORY_SIZE
    assert writer.sent(104) is None
    assert writer.sent(105) is not None
    assert writer.sent(100 + RTP_HISTORY_SIZE + 4) is not None
    assert writer.sent(100 + RTP_HISTORY_SIZE + 5) is None  # not sent yet


class RecordingPath:
    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []

    def send(self, packets):
        self.batches.append(list(packets))


def test_an_output_numbers_its_packets_on_from_frame_to_frame_and_counts_them():
    path = RecordingPath()
    output = RtpOutput(ids_for({MID_URI: 1, ABS_SEND_TIME_URI: 3}, "1"), path)
    output.send_frame([b"a" * 10, b"b" * 20], 3000)
    output.send_frame([b"c" * 5], 6000)
    output.send_frame([], 9000)  # nothing: no packet, no count
    first, second = (RtpPacket.parse(batch[-1]) for batch in path.batches)
    assert len(path.batches) == 2
    assert [p.marker for p in map(RtpPacket.parse, path.batches[0])] == [0, 1]
    assert second.sequence_number == (first.sequence_number + 1) & 0xFFFF
    assert (second.timestamp - first.timestamp) & 0xFFFFFFFF == 3000
    assert (output.packet_count, output.octet_count) == (3, 35)
    assert output.last_timestamp == second.timestamp


def test_an_output_retransmits_what_it_holds_as_rtx_and_nothing_else():
    path = RecordingPath()
    ids = ids_for({MID_URI: 1, ABS_SEND_TIME_URI: 3}, "1")
    output = RtpOutput(ids, path)
    output.send_frame([b"payload"], 0)
    sent = RtpPacket.parse(path.batches[0][0])
    assert output.retransmit(sent.sequence_number)
    assert not output.retransmit((sent.sequence_number + 1) & 0xFFFF)
    rtx = RtpPacket.parse(path.batches[1][0])
    assert (rtx.payload_type, rtx.ssrc) == (ids.rtx_payload_type, ids.rtx_ssrc)
    assert rtx.payload == sent.sequence_number.to_bytes(2, "big") + b"payload"
    assert output.retransmitted == 1
    plain = RtpOutput(ids_for({}, None, rtx=None), RecordingPath())
    plain.send_frame([b"p"], 0)
    assert isinstance(plain.path, RecordingPath)
    assert plain.retransmit(RtpPacket.parse(plain.path.batches[0][0]).sequence_number)
    assert plain.path.batches[1] == plain.path.batches[0]  # no RTX: the packet as it was


def test_the_ntp_clock_is_aiortcs_read_between_two_of_its_readings():
    for _ in range(100):
        before = clock.current_ntp_time()
        now = current_ntp_time()
        after = clock.current_ntp_time()
        assert before <= now <= after
        assert after - before < 1 << 32  # the same second or the next: one clock
    assert abs(clock.datetime_from_ntp(current_ntp_time()).timestamp() - time.time()) < 1


@pytest.mark.parametrize("unix_ns", [
    0, 999, 1_000, 999_999_999, 1_000_000_000, 1_764_547_200_000_000_000,
    1_764_547_200_123_456_789, 1_764_547_200_999_999_999, 4_102_444_799_999_999_000,
])
def test_an_instant_is_aiortcs_ntp_time(unix_ns):
    instant = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
        microseconds=unix_ns // 1000)
    assert ntp_time(unix_ns) == clock.datetime_to_ntp(instant)


def test_abs_send_time_is_aiortcs_24_bit_value():
    ntp = (3_900_000_000 << 32) | 0x12345678
    assert abs_send_time(ntp) == (ntp >> 14) & 0x00FFFFFF


def h264_packets(count: int) -> list[av.Packet]:
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = 640, 360, "yuv420p"
    context.time_base = fractions.Fraction(1, 30)
    context.options = {"preset": "ultrafast", "tune": "zerolatency"}
    context.bit_rate = 3_000_000
    packets = []
    for index in range(count):
        frame = av.VideoFrame(640, 360, "yuv420p")
        for plane, level in zip(frame.planes, (20 + index * 7, 128, 90), strict=True):
            plane.update(bytes([level % 256]) * plane.buffer_size)
        frame.pts = index
        packets += context.encode(frame)
    return packets


def test_a_packet_is_packetized_once_into_aiortcs_payloads():
    packetizer = SharedPacketizer(H264)
    for packet in h264_packets(3):
        expected = get_encoder(H264).pack(packet)
        for _receiver in range(4):
            assert packetizer.payloads_of(packet) == expected
    assert packetizer.packetized == 3


def test_each_stream_numbers_its_vp8_pictures_on_from_its_own_start():
    encoder = get_encoder(VP8)
    payload = bytes(VpxPayloadDescriptor(partition_start=1, partition_id=0,
                                         picture_id=encoder.picture_id)) + b"frame"
    first, second = Vp8PictureIds(), Vp8PictureIds()
    for step in range(3):
        for stream in (first, second):
            start = stream.picture_id
            [rewritten] = stream([payload])
            descriptor, rest = VpxPayloadDescriptor.parse(rewritten)
            assert descriptor.picture_id == start
            assert rest == b"frame"
            assert stream.picture_id == (start + 1) & 0x7FFF, step
    assert Vp8PictureIds()([b"\x10abc"]) == [b"\x10abc"]  # no picture id: left as it is
