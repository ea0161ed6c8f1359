"""A frame's RTP payloads made once for every receiver that is sent the frame.

aiortc's RTCRtpSender packetizes each encoded frame it sends (`Encoder.pack`: H.264 split
into NAL units, then FU-A fragments and STAP-A aggregates; VP8 cut with its payload
descriptor; Opus as is), once per receiver: four sites of one encoder group packetize the
same frame four times. `payloads_of` packetizes an `av.Packet` with aiortc's own `pack` for
the codec and keeps the result for the next receivers of the same packet object (the
packets a group delivers go to its receivers one after the other; a few mixes' audio
packets interleave), so each frame is packetized once however many receive it.

The payloads are the same for every receiver except VP8's picture id (RFC 7741 4.2), which
aiortc's packetizer numbers per sender, frame after frame: `Vp8PictureIds` gives one
receiver's stream its own continuous numbering, as its own aiortc sender would.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

import av
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

# the codecs whose pre-encoded packets aiortc only packetizes (its `pack`)
SHARED_MIME_TYPES = frozenset({"video/h264", "video/vp8", "audio/opus"})
CACHED_PACKETS = 16  # the latest packets packetized, per codec


class SharedPacketizer:
    """aiortc's `pack` for one codec, each packet object packetized once."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self._encoder: Encoder = get_encoder(codec)
        self._cache: dict[int, tuple[av.Packet, list[bytes], int]] = {}
        self.packetized = 0  # packets packetized (not taken from the cache)

    def payloads_of(self, packet: av.Packet) -> tuple[list[bytes], int]:
        """The RTP payloads of `packet` and its timestamp in the codec's clock."""
        cached = self._cache.get(id(packet))
        if cached is not None and cached[0] is packet:
            return cached[1], cached[2]
        payloads, timestamp = self._encoder.pack(packet)
        if len(self._cache) >= CACHED_PACKETS:
            del self._cache[next(iter(self._cache))]  # the oldest
        self._cache[id(packet)] = (packet, payloads, timestamp)  # holds it: its id stays its
        self.packetized += 1
        return payloads, timestamp


_packetizers: dict[tuple[str, int], SharedPacketizer] = {}


def packetizer_for(codec: RTCRtpCodecParameters) -> SharedPacketizer:
    """The process's one packetizer of `codec`'s MIME type and clock rate."""
    key = (codec.mimeType.lower(), codec.clockRate)
    packetizer = _packetizers.get(key)
    if packetizer is None:
        packetizer = _packetizers[key] = SharedPacketizer(codec)
    return packetizer


class Vp8PictureIds:
    """One stream's VP8 picture ids: each frame's payloads with the next id (15 bits, from
    a random start, as aiortc's Vp8Encoder), in the 2-byte form aiortc's packetizer
    writes (X and I set, M set)."""

    def __init__(self) -> None:
        self.picture_id = random.randint(0, (1 << 15) - 1)

    def __call__(self, payloads: Sequence[bytes]) -> list[bytes]:
        picture_id = struct.pack("!H", 0x8000 | self.picture_id)
        self.picture_id = (self.picture_id + 1) & 0x7FFF
        return [payload[:2] + picture_id + payload[4:] if _has_long_picture_id(payload)
                else payload for payload in payloads]


def _has_long_picture_id(payload: bytes) -> bool:
    return len(payload) >= 4 and bool(payload[0] & 0x80 and payload[1] & 0x80
                                      and payload[2] & 0x80)
