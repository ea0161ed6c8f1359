"""rtc/opus_packets.opus_packet_samples: an Opus packet's duration from its TOC byte (RFC
6716 section 3.1), checked against libopus itself on every configuration and frame count
code: a packet of no more than its TOC (and count byte) is one libopus decodes to that many
samples of concealment, or refuses where the RFC says it is not a packet (over 120 ms)."""

from __future__ import annotations

import av
import pytest

from rtc.opus_packets import opus_packet_samples

# (frame count code, what follows the TOC byte): one frame, two equal (code 1, empty
# frames), two of different sizes (code 2, the first 0 bytes long), and code 3 with 1, 2
# and 3 frames in its count byte
CODES = [(0, b""), (1, b""), (2, b"\x00"), (3, bytes([1])), (3, bytes([2])),
         (3, bytes([3]))]


def libopus_samples(packet: bytes) -> int | None:
    context = av.CodecContext.create("libopus", "r")
    context.sample_rate = 48_000
    context.layout = "mono"
    try:
        return sum(frame.samples for frame in context.decode(av.Packet(packet)))
    except av.FFmpegError:
        return None


@pytest.mark.parametrize("config", range(32))
def test_the_duration_is_what_libopus_decodes(config):
    for code, rest in CODES:
        packet = bytes([config << 3 | code]) + rest
        assert opus_packet_samples(packet) == libopus_samples(packet), (config, code, rest)


def test_what_is_not_a_packet_has_no_duration():
    assert opus_packet_samples(b"") is None
    assert opus_packet_samples(bytes([3])) is None  # code 3 without its count byte
    assert opus_packet_samples(bytes([3, 0])) is None  # no frames
    assert opus_packet_samples(bytes([31 << 3 | 3, 63])) is None  # 63 x 20 ms
    assert opus_packet_samples(bytes([1 << 3])) == 960  # SILK narrowband 20 ms, one frame
