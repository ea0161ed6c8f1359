"""H.261 over RTP (RFC 4587): packets start at a picture or GOB start code (16 bits,
0000 0000 0000 0001, not byte aligned), so the 4-byte header's GOBN, MBAP, QUANT and motion
vector predictors are all 0 (the RFC's values for a packet starting with a GOB header) and
SBIT/EBIT give the bits of the first and last byte that belong to neighbouring packets.
Several GOBs share a packet while they fit; a GOB longer than MAX_PAYLOAD is cut at byte
positions with those fields still 0, as FFmpeg's packetizer does (the RFC's macroblock-level
split needs a full H.261 VLC parser: docs/sip_media.md)."""

from __future__ import annotations

from rtp.payloads import MAX_PAYLOAD, PayloadError
from rtp.payloads.bits import BitRun, cut_runs, join_runs, start_code_bits

START_CODE = "0000000000000001"  # PSC and GBSC both begin with it
HEADER = 4


def header(run: BitRun, intra: bool) -> bytes:
    first = (run.sbit << 5) | (run.ebit << 2) | (int(intra) << 1) | 1  # V: motion vectors used
    return bytes((first, 0, 0, 0))


class H261Packetizer:
    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload

    def packetize(self, frame: bytes, keyframe: bool, side_data: bytes = b"") -> list[bytes]:
        runs = cut_runs(frame, start_code_bits(frame, START_CODE), self.max_payload - HEADER)
        return [header(run, False) + run.data for _start, run in runs]


class H261Depacketizer:
    def depacketize(self, payloads: list[bytes]) -> bytes:
        runs = []
        for payload in payloads:
            if len(payload) <= HEADER:
                raise PayloadError("H.261 payload shorter than its header")
            sbit, ebit = payload[0] >> 5, (payload[0] >> 2) & 7
            if len(payload) == HEADER + 1 and sbit + ebit >= 8:
                raise PayloadError("H.261 payload with no bits")
            runs.append(BitRun(payload[HEADER:], sbit, ebit))
        return join_runs(runs)
