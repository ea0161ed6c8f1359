"""rtc/jitter_buffer.py: a video frame is handed over on its marker packet, not one frame
later, and otherwise exactly as aiortc's jitter buffer does."""

from __future__ import annotations

import random

import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt

from rtc.jitter_buffer import MarkerJitterBuffer

FRAME_TICKS = 3000  # 90 kHz / 30 fps


def packets_of(frame: int, count: int, first_seq: int, marked: bool = True) -> list[RtpPacket]:
    packets = []
    for index in range(count):
        packet = RtpPacket(payload_type=96, sequence_number=(first_seq + index) % 65536,
                           timestamp=frame * FRAME_TICKS,
                           marker=int(marked and index == count - 1))
        packet._data = bytes([frame % 256, index])  # what the receiver's depayloader leaves
        packets.append(packet)
    return packets


def feed(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, int, bytes]]:
    """(index of the packet that released it, timestamp, data) of every frame released."""
    released = []
    for index, packet in enumerate(packets):
        _pli, frame = buffer.add(packet)
        if frame is not None:
            released.append((index, frame.timestamp, frame.data))
    return released


def stream(frames: int, per_frame: int = 3, first_seq: int = 65530) -> list[RtpPacket]:
    packets = []
    for frame in range(frames):
        packets += packets_of(frame, per_frame, first_seq + frame * per_frame)
    return packets


def test_a_frame_is_released_on_its_marker_packet_one_frame_before_aiortc_would():
    packets = stream(5)  # sequence numbers wrap round 65535
    ours = feed(MarkerJitterBuffer(), packets)
    theirs = feed(JitterBuffer(capacity=512, is_video=True), packets)
    assert [frame[1:] for frame in ours[:4]] == [frame[1:] for frame in theirs]  # same frames
    assert [frame[0] for frame in ours] == [2, 5, 8, 11, 14]  # each on its own last packet
    assert [frame[0] for frame in theirs] == [3, 6, 9, 12]  # on the next frame's first
    assert ours[0][2] == bytes([0, 0, 0, 1, 0, 2])  # the packets' data in order


def test_a_frame_with_a_gap_waits_for_the_missing_packet():
    first, second = packets_of(0, 3, 100), packets_of(1, 2, 103)
    arrival = [first[0], first[2], first[1], *second]  # the middle packet comes late
    released = feed(MarkerJitterBuffer(), arrival)
    assert [index for index, _, _ in released] == [2, 4]
    assert released[0][2] == bytes([0, 0, 0, 1, 0, 2])


def test_a_frame_whose_marker_was_lost_is_released_when_the_next_begins():
    unmarked = packets_of(0, 3, 200, marked=False)
    released = feed(MarkerJitterBuffer(), unmarked + packets_of(1, 2, 203))
    assert [(index, timestamp) for index, timestamp, _ in released] == [(3, 0), (4, FRAME_TICKS)]


def test_a_padding_only_packet_after_a_frame_makes_no_frame():
    frame, padding = packets_of(0, 2, 300), packets_of(0, 1, 302, marked=False)
    padding[0]._data = b""  # what the depayloader leaves of a padding-only packet
    released = feed(MarkerJitterBuffer(), [*frame, *padding, *packets_of(1, 1, 303)])
    assert [(index, timestamp) for index, timestamp, _ in released] == [(1, 0), (3, FRAME_TICKS)]
    assert all(data for _, _, data in released)


# -- a keyframe past a gap that will never be filled -------------------------------------

SPS_PPS_IDR = (b"\x00\x00\x00\x01\x67\x42", b"\x00\x00\x00\x01\x68\xce",
               b"\x00\x00\x00\x01\x65\x88")  # what aiortc's H.264 depayloader leaves
NON_IDR = b"\x00\x00\x00\x01\x41\x9a"


def h264_frame(frame: int, first_seq: int, keyframe: bool) -> list[RtpPacket]:
    """Three packets: SPS, PPS, IDR slice for a keyframe; three slice parts otherwise."""
    packets = packets_of(frame, 3, first_seq)
    for packet, data in zip(packets, SPS_PPS_IDR if keyframe else (NON_IDR,) * 3,
                            strict=True):
        packet._data = data
    return packets


def h264_buffer() -> MarkerJitterBuffer:
    return MarkerJitterBuffer(codec_name=lambda payload_type: "H264" if payload_type == 96
                              else None)


def lossy_stream(first_seq: int = 65520) -> tuple[list[RtpPacket], RtpPacket]:
    """Frame 0 (key), frames 1-3 (delta) with the middle packet of frame 1 lost for good,
    then frame 4, a keyframe (the answer to a PLI), and frame 5. Returns the packets that
    arrive and the keyframe's marker packet."""
    frames = [h264_frame(n, first_seq + 3 * n, keyframe=n in (0, 4)) for n in range(6)]
    lost = frames[1][1]
    arrived = [p for frame in frames for p in frame if p is not lost]
    return arrived, frames[4][2]


def test_a_keyframe_behind_a_gap_that_is_never_filled_is_released_on_its_marker():
    arrived, keyframe_end = lossy_stream()  # sequence numbers wrap round 65535
    buffer = h264_buffer()
    released = feed(buffer, arrived)
    # frame 0, then nothing until the keyframe completes: frames 1-3 cannot be decoded
    # without the lost packet and are dropped; the keyframe and frame 5 follow at once
    assert [timestamp // FRAME_TICKS for _, timestamp, _ in released] == [0, 4, 5]
    assert released[1][0] == arrived.index(keyframe_end)
    assert released[1][2] == b"".join(SPS_PPS_IDR)
    assert buffer.keyframe_skips == 1 and buffer.packets_skipped == 2 + 3 + 3


def test_aiortcs_buffer_holds_that_keyframe_until_it_overflows():
    # what the soak met: the keyframe asked for waits behind the gap (the reason above)
    arrived, _ = lossy_stream()
    released = feed(JitterBuffer(capacity=512, is_video=True), arrived)
    assert [timestamp // FRAME_TICKS for _, timestamp, _ in released] == [0]


def test_a_delta_frame_behind_a_gap_waits_for_the_retransmission():
    frames = [h264_frame(n, 1000 + 3 * n, keyframe=n == 0) for n in range(3)]
    late = frames[1][1]
    arrived = [p for frame in frames for p in frame if p is not late]
    buffer = h264_buffer()
    assert [ts // FRAME_TICKS for _, ts, _ in feed(buffer, arrived)] == [0]  # 2 waits
    # the retransmission fills the gap: frame 1, then frame 2, one per packet added
    assert [ts // FRAME_TICKS for _, ts, _ in feed(buffer, [late, *h264_frame(3, 1009, False)])
            ] == [1, 2, 3]
    assert buffer.keyframe_skips == 0


def test_a_keyframe_whose_first_packet_follows_a_gap_waits_unless_it_starts_with_an_sps():
    frames = [h264_frame(n, 2000 + 3 * n, keyframe=n in (0, 2)) for n in range(3)]
    frames[2][0]._data = NON_IDR[:4] + b"\x06\x05"  # an SEI first: its start is not known
    gone = frames[1][2]  # the last packet of frame 1, just before the keyframe, lost
    arrived = [p for frame in frames for p in frame if p is not gone]
    assert [ts // FRAME_TICKS for _, ts, _ in feed(h264_buffer(), arrived)] == [0]
    frames[2][0]._data = SPS_PPS_IDR[0]  # an SPS begins an access unit: released
    assert [ts // FRAME_TICKS for _, ts, _ in feed(h264_buffer(), arrived)] == [0, 2]


def test_a_keyframe_with_a_packet_missing_is_not_released():
    frames = [h264_frame(n, 3000 + 3 * n, keyframe=n in (0, 2)) for n in range(3)]
    gaps = {frames[1][1], frames[2][1]}  # one in a delta frame, one in the keyframe
    arrived = [p for frame in frames for p in frame if p not in gaps]
    assert [ts // FRAME_TICKS for _, ts, _ in feed(h264_buffer(), arrived)] == [0]


def test_without_a_codec_lookup_the_buffer_waits_as_aiortcs_does():
    arrived, _ = lossy_stream()
    assert [ts // FRAME_TICKS for _, ts, _ in feed(MarkerJitterBuffer(), arrived)] == [0]


def test_a_keyframe_completed_by_a_late_retransmission_behind_a_gap_is_released_then():
    arrived, keyframe_end = lossy_stream(first_seq=4000)
    keyframe_middle = arrived[arrived.index(keyframe_end) - 1]
    late_order = [p for p in arrived if p is not keyframe_middle]
    late_order.insert(late_order.index(keyframe_end) + 1, keyframe_middle)  # after its marker
    buffer = h264_buffer()
    released = feed(buffer, late_order)
    assert [ts // FRAME_TICKS for _, ts, _ in released] == [0, 4, 5]
    assert released[1][0] == late_order.index(keyframe_middle)  # on the retransmission
    assert released[1][2] == b"".join(SPS_PPS_IDR)


# -- the search skipped for a packet that cannot complete a frame --------------------------


class SearchingEveryPacket(MarkerJitterBuffer):
    """MarkerJitterBuffer's add as it was: aiortc's add (a search from the origin for every
    packet stored), then the keyframe search."""

    def add(self, packet: RtpPacket):
        newest = self._newest is None or uint16_gt(packet.sequence_number, self._newest)
        if newest:
            self._newest = packet.sequence_number
        pli_flag, frame = JitterBuffer.add(self, packet)
        if frame is None and self._codec_name is not None and (packet.marker or not newest):
            frame = self._keyframe_past_gap(packet)
        return pli_flag, frame


def eventful_stream(seed: int) -> list[RtpPacket]:
    """H.264 frames of 1-12 packets (keyframes now and then, some without a marker), with
    packets lost, lost for good, retransmitted late, duplicated, swapped, padding, and a
    sequence number jump; sequence numbers wrap round 65535."""
    rng = random.Random(seed)
    sent: list[RtpPacket] = []
    seq = 65000 + rng.randrange(500)
    for frame in range(120):
        keyframe = frame % 30 == 0 or rng.random() < 0.05
        count = rng.randint(1, 12)
        packets = packets_of(frame, count, seq, marked=rng.random() > 0.05)
        for index, packet in enumerate(packets):
            if keyframe:
                packet._data = SPS_PPS_IDR[min(index, 2)]
            else:
                packet._data = NON_IDR
        if rng.random() < 0.05:
            pad = packets_of(frame, 1, seq + count, marked=False)[0]
            pad._data = b""
            packets.append(pad)
        sent += packets
        seq += len(packets)
        if frame == 80:
            seq += 3000  # a jump: the buffer starts again from it (misorder rules)
    arrived: list[RtpPacket] = []
    late: list[tuple[int, RtpPacket]] = []
    for position, packet in enumerate(sent):
        while late and late[0][0] <= position:
            arrived.append(late.pop(0)[1])
        roll = rng.random()
        if roll < 0.03:
            continue  # lost for good
        if roll < 0.08:
            late.append((position + rng.randint(1, 40), packet))  # NACKed, retransmitted
            late.sort(key=lambda item: item[0])
            continue
        arrived.append(packet)
        if roll > 0.98:
            arrived.append(packet)  # duplicated
    arrived += [packet for _, packet in late]
    for _ in range(len(arrived) // 50):
        i = rng.randrange(len(arrived) - 1)
        arrived[i], arrived[i + 1] = arrived[i + 1], arrived[i]
    return arrived


@pytest.mark.parametrize("seed", range(12))
def test_skipping_the_search_releases_exactly_what_searching_every_packet_did(seed):
    arrived = eventful_stream(seed)

    def results(buffer: MarkerJitterBuffer) -> list:
        out = []
        for packet in arrived:
            pli_flag, frame = buffer.add(packet)
            out.append((pli_flag, None if frame is None else (frame.timestamp, frame.data)))
        return out

    skipping = h264_buffer()
    searching = SearchingEveryPacket(codec_name=lambda payload_type: "H264")
    ours, theirs = results(skipping), results(searching)
    assert ours == theirs
    assert sum(frame is not None for _, frame in ours) > 10  # frames were released
    assert skipping.keyframe_skips == searching.keyframe_skips
    assert skipping._origin == searching._origin
