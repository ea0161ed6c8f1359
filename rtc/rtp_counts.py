"""What rtc/aiortc_hooks.py counts on the RTP receivers and senders of one call.

aiortc keeps the packets it sends and receives (read by `sender_rtp_counts` and
`receiver_rtp_packets`) but neither the payload bytes it receives nor the RTCP feedback
(NACK, PLI) that goes either way; `count_rtp_and_feedback` counts those into one `RtpCounts`
per call, which the call's SiteMedia (mcu/media/site_media.py) reports in its totals."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RtpCounts:
    # payload bytes (RTP header and padding left out, RTX packets included) of the packets
    # the receivers accepted: the packets aiortc counts in its receiver reports
    payload_bytes_received: int = 0
    nack_sent: int = 0  # RTCP generic NACK packets (RFC 4585) the receivers sent
    pli_sent: int = 0  # RTCP PLI packets the receivers sent (loss, overflow, asked for)
    nack_received: int = 0  # generic NACK packets the peer sent to the senders
    pli_received: int = 0  # PLI packets the peer sent to the senders (FIR not included)
