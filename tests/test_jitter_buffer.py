"""rtc/jitter_buffer.py: a video frame is handed over on its marker packet, not one frame
later, and otherwise exactly as aiortc's jitter buffer does."""

from __future__ import annotations

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

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
