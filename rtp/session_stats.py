"""What an RtpSession (rtp/session.py) counts and learns from its peer's reports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SessionStats:
    packets_sent: int = 0
    octets_sent: int = 0
    packets_received: int = 0
    octets_received: int = 0
    packets_lost: int = 0  # holes the jitter buffer gave up
    srtp_auth_failures: int = 0  # SRTP/SRTCP packets dropped: authentication failed
    srtp_replays: int = 0  # SRTP/SRTCP packets dropped: an index already received (or too old)
    malformed: int = 0  # packets that did not parse or depacketize
    frames_received: int = 0
    frames_decoded: int = 0
    decode_errors: int = 0
    nacks_sent: int = 0
    nacks_received: int = 0
    retransmitted: int = 0
    plis_sent: int = 0
    firs_sent: int = 0
    keyframe_requests_received: int = 0
    sender_reports_received: int = 0
    receiver_reports_received: int = 0
    digits_received: list[str] = field(default_factory=list)
    jitter: float = 0.0  # RFC 3550 interarrival jitter, in RTP clock units
    remote_fraction_lost: int = 0  # from the peer's last report block about us
    remote_packets_lost: int = 0
    remote_highest_sequence: int = 0  # extended, as the peer reports it
    round_trip: float | None = None  # seconds, from the report's LSR/DLSR (RFC 3550 6.4.1)
    tmmbr_sent: int = 0  # TMMBR packets sent (a limit, and its repeats until notified)
    tmmbr_received: int = 0
    tmmbn_sent: int = 0
    tmmbn_received: int = 0
    tmmbr_limit: int | None = None  # the last limit the peer asked of our stream (bit/s)
    tmmbn_limit: int | None = None  # the last limit the peer's TMMBN says it follows
