"""Bit-level start codes (H.261 and H.263 start codes are not byte aligned): find them, cut
a frame at them into byte runs with start/end bit offsets (the SBIT/EBIT of RFC 4587 and
RFC 2190), and join such runs back into one bitstream."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BitRun:
    data: bytes  # the bytes holding the run's bits
    sbit: int  # bits to ignore in the first byte (most significant first)
    ebit: int  # bits to ignore in the last byte (least significant)


def _bit_string(data: bytes) -> str:
    return format(int.from_bytes(data, "big"), f"0{len(data) * 8}b") if data else ""


def start_code_bits(data: bytes, prefix: str) -> list[int]:
    """Bit positions where `prefix` (a string of '0'/'1') starts in `data`."""
    bits = _bit_string(data)
    found: list[int] = []
    at = bits.find(prefix)
    while at >= 0:
        found.append(at)
        at = bits.find(prefix, at + len(prefix))
    return found


def cut_runs(data: bytes, boundaries: list[int], max_bytes: int) -> list[tuple[int, BitRun]]:
    """`data` cut at bit positions chosen among `boundaries`, each run (with its start bit) as
    long as possible within `max_bytes`. A stretch between two consecutive boundaries longer
    than that is cut at byte positions (FFmpeg's RTP packetizers do the same; a receiver that
    reassembles the frame before decoding, as FFmpeg's and ours do, is unaffected:
    docs/sip_media.md)."""
    total = len(data) * 8
    points: list[int] = []
    previous = 0
    for point in [*sorted({b for b in boundaries if 0 < b < total}), total]:
        while _span_bytes(previous, point) > max_bytes:  # no boundary close enough
            previous = (previous // 8 + max_bytes - 1) * 8
            points.append(previous)
        points.append(point)
        previous = point
    runs: list[tuple[int, BitRun]] = []
    start = last_end = 0
    for end in points:
        if last_end > start and _span_bytes(start, end) > max_bytes:
            runs.append((start, _run(data, start, last_end)))
            start = last_end
        last_end = end
    if total > start:
        runs.append((start, _run(data, start, total)))
    return runs


def _span_bytes(start: int, end: int) -> int:
    return (end + 7) // 8 - start // 8


def _run(data: bytes, start: int, end: int) -> BitRun:
    return BitRun(data[start // 8 : (end + 7) // 8], start % 8, (8 - end % 8) % 8)


def join_runs(runs: list[BitRun]) -> bytes:
    """The bitstream the runs carry, padded with zero bits to a whole byte."""
    bits = "".join(_bit_string(r.data)[r.sbit : len(r.data) * 8 - r.ebit] for r in runs)
    if not bits:
        return b""
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")
