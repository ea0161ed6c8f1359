"""H.264 over RTP (RFC 6184). packetization-mode 1 (STAP-A aggregation, FU-A fragmentation)
is aiortc's packetizer; packetization-mode 0 sends each NAL unit alone, which holds because
the mode-0 encoder caps its slices below MAX_PAYLOAD (x264 slice-max-size, codecs.py); a NAL
unit still larger is refused rather than sent in a packet the mode does not allow."""

from __future__ import annotations

from aiortc.codecs.h264 import H264Encoder, h264_depayload

from rtp.payloads import MAX_PAYLOAD, PayloadError

NAL_TYPE_STAP_A, NAL_TYPE_FU_A = 24, 28


def nal_units(frame: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream."""
    return [nal for nal in H264Encoder._split_bitstream(frame) if nal]


class H264Packetizer:
    def __init__(self, packetization_mode: int, max_payload: int = MAX_PAYLOAD) -> None:
        if packetization_mode not in (0, 1):
            raise ValueError(f"H.264 packetization-mode {packetization_mode} is not supported")
        self.mode = packetization_mode
        self.max_payload = max_payload

    def packetize(self, frame: bytes, keyframe: bool, side_data: bytes = b"") -> list[bytes]:
        nals = nal_units(frame)
        if self.mode == 1:
            return H264Encoder._packetize(nals)
        for nal in nals:
            if len(nal) > self.max_payload:
                raise PayloadError(f"a {len(nal)}-byte NAL unit cannot travel in packetization-mode 0")
        return nals


class H264Depacketizer:
    def __init__(self, packetization_mode: int) -> None:
        self.mode = packetization_mode

    def depacketize(self, payloads: list[bytes]) -> bytes:
        out = bytearray()
        for payload in payloads:
            if not payload:
                raise PayloadError("empty H.264 payload")
            nal_type = payload[0] & 0x1F
            if self.mode == 0 and nal_type in (NAL_TYPE_STAP_A, NAL_TYPE_FU_A):
                raise PayloadError("aggregation/fragmentation unit in packetization-mode 0")
            try:
                out += h264_depayload(payload)
            except ValueError as exc:
                raise PayloadError(f"bad H.264 payload: {exc}") from exc
        return bytes(out)
