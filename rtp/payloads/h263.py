"""H.263 (1996) over RTP, RFC 2190 mode A: every packet starts at a picture or GOB start code
(17 bits 0000 0000 0000 0000 1, not necessarily byte aligned), with the 4-byte mode A header
(F=0, P=0, SBIT, EBIT, SRC, I, U, S, A, TR) copied from the picture header. GOBs share a
packet while they fit; a GOB longer than MAX_PAYLOAD travels alone (mode B's macroblock split
needs a full VLC parser: docs/sip_media.md)."""

from __future__ import annotations

from dataclasses import dataclass

from rtp.payloads import MAX_PAYLOAD, PayloadError
from rtp.payloads.bits import BitRun, cut_runs, join_runs, start_code_bits

START_CODE = "00000000000000001"  # PSC and GBSC share these 17 bits
HEADER = 4

# source formats of PTYPE bits 6-8 (H.263 table 5 / RFC 2190 SRC)
SOURCE_FORMATS = {1: (128, 96), 2: (176, 144), 3: (352, 288), 4: (704, 576), 5: (1408, 1152)}


@dataclass(frozen=True, slots=True)
class PictureHeader:
    temporal_reference: int
    source_format: int
    inter: bool  # picture coding type: False for an I picture
    umv: bool
    sac: bool
    ap: bool


def picture_header(frame: bytes) -> PictureHeader:
    """The fields RFC 2190 copies from a frame's picture header (PSC, TR, PTYPE)."""
    if len(frame) < 5:
        raise PayloadError("H.263 frame shorter than a picture header")
    bits = int.from_bytes(frame[:6].ljust(6, b"\0"), "big")
    field = lambda at, n: (bits >> (48 - at - n)) & ((1 << n) - 1)  # noqa: E731
    if field(0, 22) != 0b100000:
        raise PayloadError("H.263 frame does not start with a picture start code")
    return PictureHeader(field(22, 8), field(35, 3), bool(field(38, 1)), bool(field(39, 1)),
                         bool(field(40, 1)), bool(field(41, 1)))


def mode_a_header(run: BitRun, picture: PictureHeader) -> bytes:
    word = (run.sbit << 27) | (run.ebit << 24) | (picture.source_format << 21)
    word |= (int(picture.inter) << 20) | (int(picture.umv) << 19) | (int(picture.sac) << 18)
    word |= (int(picture.ap) << 17) | picture.temporal_reference
    return word.to_bytes(4, "big")


class H263Packetizer:
    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload

    def packetize(self, frame: bytes, keyframe: bool) -> list[bytes]:
        picture = picture_header(frame)
        runs = cut_runs(frame, start_code_bits(frame, START_CODE), self.max_payload - HEADER)
        return [mode_a_header(run, picture) + run.data for run in runs]


class H263Depacketizer:
    def depacketize(self, payloads: list[bytes]) -> bytes:
        runs = []
        for payload in payloads:
            if len(payload) <= HEADER:
                raise PayloadError("H.263 payload shorter than its header")
            if payload[0] & 0x80:
                raise PayloadError("RFC 2190 mode B/C packets are not accepted (mode A only)")
            runs.append(BitRun(payload[HEADER:], (payload[0] >> 3) & 7, payload[0] & 7))
        return join_runs(runs)
