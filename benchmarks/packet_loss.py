"""Packet loss on the media path of the soak's terminals (benchmarks/soak.py).

The terminals' process passes every datagram its ICE connections receive from the MCU and
send to it through a LossInjector (rtc/aiortc_hooks.filter_datagrams, at aioice's socket
protocol: what is dropped there never reached the socket or never left it, as on a lossy
network). Only RTP and RTCP are dropped (RFC 7983: first byte 128..191; SRTP keeps the RTP
header in the clear); STUN (ICE checks and consent) and DTLS pass, so the loss degrades the
media and never tears the call down through its handshake or consent timers.

Two kinds of loss, both directions alike:
  - random: each RTP/RTCP datagram is dropped with probability `loss` (0..1);
  - bursts: while `burst_active` is set (the runner sets it for burst_ms every so often),
    every RTP/RTCP datagram is dropped.

For the frames-lost figure it counts, per SSRC, the RTP packets received with the marker
bit set, before deciding their fate: the sender marks the last packet of each video frame
(RFC 6184 5.1, RFC 7741 4.1), so on the receiving terminal's video SSRC that is the number
of frames the MCU put on the wire towards it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_RTP_FIRST_BYTE = range(128, 192)  # RFC 7983: RTP and RTCP (version 2)
_RTCP_PACKET_TYPES = range(192, 224)  # RFC 5761 4: the second byte of an RTCP packet


def is_rtp_or_rtcp(data: bytes) -> bool:
    return len(data) >= 2 and data[0] in _RTP_FIRST_BYTE


def rtp_marked_ssrc(data: bytes) -> int | None:
    """The SSRC of an RTP (not RTCP) packet whose marker bit is set, else None."""
    if len(data) < 12 or data[0] not in _RTP_FIRST_BYTE or data[1] in _RTCP_PACKET_TYPES:
        return None
    if not data[1] & 0x80:
        return None
    return int.from_bytes(data[8:12], "big")


@dataclass
class DirectionCounts:
    media: int = 0  # RTP/RTCP datagrams seen
    dropped: int = 0
    dropped_in_bursts: int = 0


@dataclass
class LossInjector:
    loss: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    burst_active: bool = False
    received: DirectionCounts = field(default_factory=DirectionCounts)
    sent: DirectionCounts = field(default_factory=DirectionCounts)
    marked_received: dict[int, int] = field(default_factory=dict)  # SSRC -> marked packets

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"loss must be within 0..1, not {self.loss}")

    def let_in(self, data: bytes) -> bool:
        """The filter of received datagrams: True lets it through."""
        ssrc = rtp_marked_ssrc(data)
        if ssrc is not None:
            self.marked_received[ssrc] = self.marked_received.get(ssrc, 0) + 1
        return self._keep(data, self.received)

    def let_out(self, data: bytes) -> bool:
        """The filter of sent datagrams: True lets it through."""
        return self._keep(data, self.sent)

    def _keep(self, data: bytes, counts: DirectionCounts) -> bool:
        if not is_rtp_or_rtcp(data):
            return True
        counts.media += 1
        if self.burst_active:
            counts.dropped += 1
            counts.dropped_in_bursts += 1
            return False
        if self.loss and self.rng.random() < self.loss:
            counts.dropped += 1
            return False
        return True

    def figures(self) -> dict[str, dict[str, int]]:
        return {
            direction: {"media_datagrams": counts.media, "dropped": counts.dropped,
                        "dropped_in_bursts": counts.dropped_in_bursts}
            for direction, counts in (("to_terminals", self.received),
                                      ("from_terminals", self.sent))
        }
