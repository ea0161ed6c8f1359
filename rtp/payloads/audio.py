"""Audio over RTP: one encoded frame per packet, the payload the frame itself (G.711 RFC 3551,
G.722 RFC 3551 with its 8000 Hz RTP clock, Opus RFC 7587)."""

from __future__ import annotations

from rtp.payloads import PayloadError


class AudioPacketizer:
    def packetize(self, frame: bytes, keyframe: bool, side_data: bytes = b"") -> list[bytes]:
        return [frame]


class AudioDepacketizer:
    def depacketize(self, payloads: list[bytes]) -> bytes:
        if not all(payloads):
            raise PayloadError("empty audio payload")
        return b"".join(payloads)
