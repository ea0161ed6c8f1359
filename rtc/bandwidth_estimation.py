"""Turn off aiortc's receive-side bandwidth estimation (REMB) where nothing acts on it.

aiortc's RTCRtpReceiver feeds every received video packet to a RemoteBitrateEstimator (a
Python port of WebRTC's delay-based estimator) and sends the sender a REMB RTCP packet
whenever the estimate changes, which on a busy machine, where arrival jitter looks like
congestion, is every few packets. Here nobody adapts to it: the MCU's encoders run at the
booked rate of their output format, and a simulated terminal sends a pre-encoded loop. So
it costs CPU on both sides for nothing (measured under the 2x4-site benchmark: about 60 us
per received video packet in the estimator, and an RTCP packet - SRTCP protect, a datagram,
a parse on the other side - for ~40 % of them). NACK, PLI and receiver reports are untouched.

The estimator is private state created in the receiver's constructor, removed through
rtc/aiortc_hooks.py.
"""

from __future__ import annotations

from aiortc import RTCRtpReceiver

from rtc.aiortc_hooks import disable_remote_bitrate_estimator


def disable_bitrate_estimation(receiver: RTCRtpReceiver) -> None:
    """No REMB from this receiver (aiortc skips estimation when the estimator is None)."""
    disable_remote_bitrate_estimator(receiver)
