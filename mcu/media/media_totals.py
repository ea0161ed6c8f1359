"""The media plane's running totals, read by the metrics (gateway/metrics.py).

Nothing here counts: each figure is a counter the media plane keeps already (an encoder
group's `frames_encoded`, a site track's `packets_sent`, a picture slot's
`frames_replaced_unseen`, the mix encoders' `frames_encoded`, aiortc's own RTP counts read
through rtc/aiortc_hooks.py, and the received payload bytes and RTCP NACK/PLI it does not keep,
counted per call by the hooks into the call's rtc/rtp_counts.py RtpCounts). Those counters live as long as their object (a group, a call,
a conference); when the object goes, its counts are folded into the owner's `retired`
totals, so a total never goes back (a Prometheus counter)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class MediaTotals:
    video_frames_encoded: int = 0  # by the encoder groups (one per distinct output)
    video_frames_delivered: int = 0  # encoded frames handed to a site's sender (main + content)
    video_frames_dropped: int = 0  # decoded input pictures replaced before a tick used them
    audio_mix_frames_encoded: int = 0  # 20 ms Opus frames of the N-1 mixes
    audio_frames_decoded: int = 0  # 20 ms frames of the sites' voices decoded on the loop
    audio_frames_undecoded: int = 0  # left undecoded by their RFC 6464 level: not heard
    audio_input_underruns: int = 0  # a site's mix input ran dry while playing (a cut)
    audio_input_samples_dropped: int = 0  # 48 kHz samples of the sites' voices dropped
    # unplayed: a full input or a standing backlog cut back (mcu/media/audio_mixer.py)
    rtp_packets_sent: int = 0  # RTP packets aiortc's senders sent to the sites
    rtp_payload_bytes_sent: int = 0  # their payload bytes (RTCP SR's octet count)
    rtp_packets_received: int = 0  # RTP packets aiortc's receivers received from the sites
    rtp_payload_bytes_received: int = 0  # their payload bytes (rtc/rtp_counts.py)
    rtcp_nack_sent: int = 0  # RTCP NACK packets the MCU's receivers sent to the sites
    rtcp_nack_received: int = 0  # NACK packets the sites sent to the MCU's senders
    rtcp_pli_sent: int = 0  # RTCP PLI packets the MCU's receivers sent to the sites
    rtcp_pli_received: int = 0  # PLI packets the sites sent to the MCU's senders

    def add(self, other: MediaTotals) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def plus(self, other: MediaTotals) -> MediaTotals:
        total = MediaTotals()
        total.add(self)
        total.add(other)
        return total
