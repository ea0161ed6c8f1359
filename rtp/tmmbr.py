"""RFC 5104 TMMBR and TMMBN (RTCP transport layer feedback, PT 205, FMT 3 and 4): a media
receiver asks the sender of a stream to keep its bit rate at or below a limit (Temporary
Maximum Media Stream Bit Rate Request) and the sender tells the bounding set it follows
(Notification). The MCU sends TMMBR to a SIP site's video sender as the send ladder's ask
(mcu/media/sip_ask.py); the simulated room follows it (terminals/sip_room_ladder.py).

Wire format (section 4.2.1.1), after the RTCP common header and the two SSRCs (the packet's
sender; the media source, which is 0 in TMMBR/TMMBN):

     0                   1                   2                   3
    |                              SSRC                             |
    | MxTBR Exp |  MxTBR Mantissa                 |Measured Overhead|

the limit is mantissa * 2**exp bit/s (6-bit exponent, 17-bit mantissa), the overhead the
per-packet bytes below the payload (IP/UDP/RTP headers) the limit counts. aiortc parses
RTPFB packets as NACKs only, so these are read from the compound packet's bytes here.

The bit rate a picture needs (`picture_bitrate`) is the one table both our ends read: what
the MCU puts in a TMMBR for a size and rate, and what a room maps a TMMBR back to
(`size_for_bitrate`): a limit names the largest size whose bit rate, at the ladder's rate
rule (30 fps above 270 lines, 15 at or below), is within it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

RTCP_RTPFB = 205
FMT_TMMBR = 3
FMT_TMMBN = 4
MAX_MANTISSA = (1 << 17) - 1
MAX_EXP = (1 << 6) - 1
DEFAULT_OVERHEAD = 40  # IPv4 20 + UDP 8 + RTP 12 bytes per packet
# picture_bitrate's anchor: 1280x720 at 30 fps (a room system's usual 720p30 rate)
ANCHOR_AREA = 1280 * 720
ANCHOR_BITRATE = 1_500_000
ANCHOR_FPS = 30
SMALL_HEIGHT = 270  # at or below: the ladder's small-pane rate
SMALL_FPS = 15
FULL_FPS = 30


@dataclass(frozen=True, slots=True)
class BitrateEntry:
    """One FCI entry: the stream (SSRC) the limit is for, the limit, the overhead."""

    ssrc: int
    bitrate: int
    overhead: int = DEFAULT_OVERHEAD


def mantissa_exp(bitrate: int) -> tuple[int, int]:
    """(mantissa, exp) of the largest value mantissa * 2**exp <= bitrate (a limit rounds
    down); ValueError for a negative or unrepresentable rate."""
    if bitrate < 0:
        raise ValueError(f"a bit rate cannot be negative: {bitrate}")
    exp = 0
    while bitrate >> exp > MAX_MANTISSA:
        exp += 1
    if exp > MAX_EXP:
        raise ValueError(f"bit rate {bitrate} is beyond TMMBR's range")
    return bitrate >> exp, exp


def _fci(entry: BitrateEntry) -> bytes:
    mantissa, exp = mantissa_exp(entry.bitrate)
    if not 0 <= entry.overhead < 512:
        raise ValueError(f"measured overhead {entry.overhead} is not 9 bits")
    return struct.pack("!LL", entry.ssrc, (exp << 26) | (mantissa << 9) | entry.overhead)


def _packet(fmt: int, sender_ssrc: int, entries: Sequence[BitrateEntry]) -> bytes:
    body = struct.pack("!LL", sender_ssrc, 0) + b"".join(_fci(entry) for entry in entries)
    return struct.pack("!BBH", 0x80 | fmt, RTCP_RTPFB, len(body) // 4) + body


def tmmbr(sender_ssrc: int, media_ssrc: int, bitrate: int,
          overhead: int = DEFAULT_OVERHEAD) -> bytes:
    """A TMMBR asking the sender of `media_ssrc` for at most `bitrate` bit/s."""
    return _packet(FMT_TMMBR, sender_ssrc, [BitrateEntry(media_ssrc, bitrate, overhead)])


def tmmbn(sender_ssrc: int, bounding: Sequence[BitrateEntry]) -> bytes:
    """A TMMBN stating the bounding set followed (each entry's SSRC is its requester's)."""
    return _packet(FMT_TMMBN, sender_ssrc, bounding)


@dataclass(frozen=True, slots=True)
class BitrateFeedback:
    fmt: int  # FMT_TMMBR or FMT_TMMBN
    sender_ssrc: int
    entries: tuple[BitrateEntry, ...]


def _packets(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(packet type, count/fmt field, the packet's bytes) of each packet of a compound
    RTCP packet; ValueError for a length that does not fit."""
    at = 0
    while at < len(data):
        if len(data) - at < 4:
            raise ValueError("RTCP packet shorter than its header")
        first, packet_type, words = struct.unpack_from("!BBH", data, at)
        end = at + 4 * (words + 1)
        if first >> 6 != 2 or end > len(data):
            raise ValueError("RTCP packet with a bad version or length")
        yield packet_type, first & 0x1F, data[at:end]
        at = end


def bitrate_feedback(data: bytes) -> list[BitrateFeedback]:
    """The TMMBR and TMMBN packets of a compound RTCP packet (others are skipped);
    ValueError for a compound packet whose lengths do not fit or a TMMBR/TMMBN whose FCI is
    not whole 8-byte entries."""
    found = []
    for packet_type, fmt, packet in _packets(data):
        if packet_type != RTCP_RTPFB or fmt not in (FMT_TMMBR, FMT_TMMBN):
            continue
        body = packet[4:]
        if len(body) < 8 or (len(body) - 8) % 8:
            raise ValueError("TMMBR/TMMBN with a partial FCI entry")
        sender = struct.unpack_from("!L", body, 0)[0]
        entries = []
        for at in range(8, len(body), 8):
            ssrc, word = struct.unpack_from("!LL", body, at)
            exp, mantissa, overhead = word >> 26, (word >> 9) & MAX_MANTISSA, word & 0x1FF
            entries.append(BitrateEntry(ssrc, mantissa << exp, overhead))
        found.append(BitrateFeedback(fmt, sender, tuple(entries)))
    return found


def picture_bitrate(width: int, height: int, fps: int) -> int:
    """The bit rate a picture of width x height at fps needs: ANCHOR_BITRATE at 720p30,
    scaled with the square root of the area (small pictures need more bits per pixel for
    the same sharpness: the terminals' ladder_format rule) and linearly with the rate."""
    area = width * height
    return int(ANCHOR_BITRATE * (area / ANCHOR_AREA) ** 0.5 * fps / ANCHOR_FPS)


def ladder_rate(height: int) -> int:
    """The ladder's rate rule: 30 fps above 270 lines, 15 at or below."""
    return SMALL_FPS if height <= SMALL_HEIGHT else FULL_FPS


def size_for_bitrate(bitrate: int, sizes: Sequence[tuple[int, int]]
                     ) -> tuple[int, int, int] | None:
    """(width, height, fps) of the largest of `sizes` whose picture_bitrate at the ladder's
    rate is within `bitrate` (the TMMBR mantissa's rounding down forgiven); None when even
    the smallest is above it."""
    fitting = [(w, h, ladder_rate(h)) for w, h in sizes
               if picture_bitrate(w, h, ladder_rate(h)) <= bitrate * (1 + 2 ** -16) + 1]
    return max(fitting, key=lambda s: s[0] * s[1]) if fitting else None
