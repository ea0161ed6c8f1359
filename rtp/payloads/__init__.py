"""RTP payload formats: one packetizer (an encoded frame -> RTP payloads, the last one
carrying the marker) and one depacketizer (one frame's payloads in sequence order -> the
bitstream the decoder reads) per format."""

from __future__ import annotations

from typing import Protocol

# Payload bytes per RTP packet: aiortc's PACKET_MAX (its H.264 and VP8 packetizers are
# reused), which with the RTP header and the SRTP tag stays well inside a 1500-byte MTU.
MAX_PAYLOAD = 1300


class PayloadError(ValueError):
    """A payload that does not follow its format (too short, a bad header)."""


class Packetizer(Protocol):
    def packetize(self, frame: bytes, keyframe: bool, side_data: bytes = b"") -> list[bytes]:
        """RTP payloads of one encoded frame; `side_data`: the encoder's H.263 macroblock
        info (FFmpeg mb_info), used by RFC 2190 mode B."""
        ...


class Depacketizer(Protocol):
    def depacketize(self, payloads: list[bytes]) -> bytes: ...
