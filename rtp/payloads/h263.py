"""H.263 (1996) over RTP, RFC 2190: packets start at a picture or GOB start code (17 bits
0000 0000 0000 0000 1, not necessarily byte aligned) with the 4-byte mode A header (F=0,
SBIT, EBIT, SRC, I, U, S, A, TR from the picture header); a GOB longer than MAX_PAYLOAD is cut
at macroblock boundaries with the 8-byte mode B header (F=1: QUANT, GOBN, MBA and the motion
vector predictors of the macroblock the packet starts with), which the encoder reports in its
packets' side data (FFmpeg's mb_info, codecs.py). Without that side data such a GOB is cut at
byte positions in mode A, as FFmpeg's packetizer does (docs/sip_media.md).
Received: modes A, B and C (a mode C packet's PB-frame fields are skipped)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rtp.payloads import MAX_PAYLOAD, PayloadError
from rtp.payloads.bits import BitRun, cut_runs, join_runs, start_code_bits

START_CODE = "00000000000000001"  # PSC and GBSC share these 17 bits
MODE_A, MODE_B, MODE_C = 4, 8, 12
MB_INFO_ENTRY = 12  # AV_PKT_DATA_H263_MB_INFO: u32le bit offset, u8 quant, u8 gob, u16le mba, 4 x u8 mv


@dataclass(frozen=True, slots=True)
class PictureHeader:
    temporal_reference: int
    source_format: int
    inter: bool  # picture coding type: False for an I picture
    umv: bool
    sac: bool
    ap: bool


@dataclass(frozen=True, slots=True)
class MacroblockInfo:
    bit_offset: int
    quant: int
    gob: int
    mba: int
    hmv1: int
    vmv1: int
    hmv2: int
    vmv2: int


def picture_header(frame: bytes) -> PictureHeader:
    """The fields RFC 2190 copies from a frame's picture header (PSC, TR, PTYPE)."""
    if len(frame) < 6:
        raise PayloadError("H.263 frame shorter than a picture header")
    bits = int.from_bytes(frame[:6], "big")

    def field(at: int, n: int) -> int:
        return (bits >> (48 - at - n)) & ((1 << n) - 1)

    if field(0, 22) != 0b100000:
        raise PayloadError("H.263 frame does not start with a picture start code")
    return PictureHeader(field(22, 8), field(35, 3), bool(field(38, 1)), bool(field(39, 1)),
                         bool(field(40, 1)), bool(field(41, 1)))


def macroblock_infos(side_data: bytes) -> list[MacroblockInfo]:
    return [MacroblockInfo(*struct.unpack_from("<IBBHBBBB", side_data, at))
            for at in range(0, len(side_data) - MB_INFO_ENTRY + 1, MB_INFO_ENTRY)]


def mode_a_header(run: BitRun, picture: PictureHeader) -> bytes:
    word = (run.sbit << 27) | (run.ebit << 24) | (picture.source_format << 21)
    word |= (int(picture.inter) << 20) | (int(picture.umv) << 19) | (int(picture.sac) << 18)
    word |= (int(picture.ap) << 17) | picture.temporal_reference
    return word.to_bytes(4, "big")


def mode_b_header(run: BitRun, picture: PictureHeader, mb: MacroblockInfo) -> bytes:
    first = (1 << 31) | (run.sbit << 27) | (run.ebit << 24) | (picture.source_format << 21)
    first |= (mb.quant & 0x1F) << 16 | (mb.gob & 0x1F) << 11 | (mb.mba & 0x1FF) << 2
    second = (int(picture.inter) << 31) | (int(picture.umv) << 30) | (int(picture.sac) << 29)
    second |= (int(picture.ap) << 28) | (mb.hmv1 & 0x7F) << 21 | (mb.vmv1 & 0x7F) << 14
    second |= (mb.hmv2 & 0x7F) << 7 | (mb.vmv2 & 0x7F)
    return first.to_bytes(4, "big") + second.to_bytes(4, "big")


class H263Packetizer:
    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload

    def packetize(self, frame: bytes, keyframe: bool, side_data: bytes = b"") -> list[bytes]:
        picture = picture_header(frame)
        starts = start_code_bits(frame, START_CODE)
        macroblocks = {mb.bit_offset: mb for mb in macroblock_infos(side_data)}
        runs = cut_runs(frame, [*starts, *macroblocks], self.max_payload - MODE_B)
        gob_starts = set(starts)
        out = []
        for start, run in runs:
            mb = macroblocks.get(start)
            if mb is not None and start not in gob_starts:
                out.append(mode_b_header(run, picture, mb) + run.data)
            else:
                out.append(mode_a_header(run, picture) + run.data)
        return out


class H263Depacketizer:
    def depacketize(self, payloads: list[bytes]) -> bytes:
        runs = []
        for payload in payloads:
            if not payload:
                raise PayloadError("empty H.263 payload")
            header = MODE_A if not payload[0] & 0x80 else (MODE_B if not payload[0] & 0x40 else MODE_C)
            if len(payload) <= header:
                raise PayloadError("H.263 payload shorter than its header")
            runs.append(BitRun(payload[header:], (payload[0] >> 3) & 7, payload[0] & 7))
        return join_runs(runs)
