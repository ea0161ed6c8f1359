"""VP8 over RTP (RFC 7741): aiortc's payload descriptor and packetizer (15-bit picture id,
S=1 on a frame's first packet)."""

from __future__ import annotations

from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

from rtp.payloads import PayloadError


class Vp8Packetizer:
    def __init__(self) -> None:
        self.picture_id = 0

    def packetize(self, frame: bytes, keyframe: bool, side_data: bytes = b"") -> list[bytes]:
        payloads = Vp8Encoder._packetize(frame, self.picture_id)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads


class Vp8Depacketizer:
    def depacketize(self, payloads: list[bytes]) -> bytes:
        try:
            return b"".join(vp8_depayload(p) for p in payloads)
        except ValueError as exc:
            raise PayloadError(f"bad VP8 payload: {exc}") from exc
