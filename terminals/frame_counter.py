"""Count the complete frames a receiver gets, with or without decoding them (video, and
audio the same way).

aiortc's RTCRtpReceiver reassembles each frame in its jitter buffer and puts it, with its
codec, on a queue that a decoder thread of its own empties (one thread and one decoder per
receiver; see aiortc/rtcrtpreceiver.py `decoder_worker`). A receiver's codec and decoder
cannot be chosen from outside: `get_decoder(codec)` is a module function of aiortc, called
in that thread with the codec alone, so a per-receiver choice is impossible through it.
The one per-receiver hook is that queue, created in the receiver's constructor: replacing
it with a FrameCountingQueue before the receiver starts counts every complete frame (and
keyframe, read from the bitstream) at the moment the jitter buffer hands it over, and, when
the terminal does not decode, drops it there, so the decoder thread idles on an empty
queue and costs nothing. That private attribute is replaced through rtc/aiortc_hooks.py.

Why not decode: a load generator must not be the bottleneck. Sixteen terminals decoding
1080p in one process take more CPU than the MCU they measure; a terminal that only counts
still receives every packet (SRTP, RTP, jitter buffer, NACK and PLI as before), so what it
counts is the MCU's sustained output rate at that receiver.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiortc import RTCRtpReceiver

from rtc.aiortc_hooks import replace_decoder_queue
from rtc.encoded_frames import is_keyframe
from rtc.h264_sps import Sps, find_sps

__all__ = ["CountsOverCalls", "FrameCountingQueue", "FrameRate", "count_frames", "is_keyframe"]


RTP_VIDEO_CLOCK = 90_000
TIMESTAMPS_KEPT = 1024  # the latest frames' RTP timestamps: 17 s at 60 fps


@dataclass(frozen=True)
class FrameRate:
    """The rate of the frames received over a window: by their RTP timestamps (the sender's
    clock: frames per second of media time) and by their arrival (frames per second of this
    terminal's clock); `frames` how many the window held; `median_step` the sender's frame
    interval in RTP ticks (a frame lost or skipped now and then does not move it)."""

    frames: int
    by_timestamps: float
    by_arrival: float
    median_step: int  # the median RTP timestamp step from one frame to the next (90 kHz)


class FrameCountingQueue(queue.Queue):
    """The decoder queue of one receiver: counts frames, forwards them or not."""

    def __init__(self, decode: bool) -> None:
        super().__init__()
        self.decode = decode
        self.frames_received = 0
        self.keyframes_received = 0
        self._h264_keyframe: bytes | None = None  # the latest, kept by reference
        # (arrival on time.monotonic(), RTP timestamp) of the latest complete frames
        self.arrivals: deque[tuple[float, int]] = deque(maxlen=TIMESTAMPS_KEPT)

    @property
    def sps(self) -> Sps | None:
        """The SPS of the latest H.264 keyframe (what the sender states), parsed when read,
        never on the receive path."""
        return find_sps(self._h264_keyframe) if self._h264_keyframe is not None else None

    def frame_rate(self, window_s: float) -> FrameRate | None:
        """The rate of the frames received in the last `window_s` seconds; None with fewer
        than two. RTP timestamps are unwrapped (32 bits) frame to frame."""
        now = time.monotonic()
        recent = [(at, ts) for at, ts in list(self.arrivals) if at >= now - window_s]
        if len(recent) < 2:
            return None
        steps = sorted((after - before) % (1 << 32)
                       for (_, before), (_, after) in zip(recent, recent[1:], strict=False))
        span_ticks = sum(steps)
        span_s = recent[-1][0] - recent[0][0]
        intervals = len(recent) - 1
        return FrameRate(len(recent),
                         intervals * RTP_VIDEO_CLOCK / span_ticks if span_ticks else 0.0,
                         intervals / span_s if span_s > 0 else 0.0,
                         steps[len(steps) // 2])

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is not None:  # None tells the decoder thread to end: always forwarded
            codec, encoded_frame = item
            self.frames_received += 1
            self.arrivals.append((time.monotonic(), int(encoded_frame.timestamp)))
            if is_keyframe(codec.name, encoded_frame.data):
                self.keyframes_received += 1
                if codec.name == "H264":
                    self._h264_keyframe = encoded_frame.data
            if not self.decode:
                return
        super().put(item, block, timeout)


def count_frames(receiver: RTCRtpReceiver, decode: bool) -> FrameCountingQueue:
    """Install the counting queue on a receiver that has not started receiving."""
    counter = FrameCountingQueue(decode)
    replace_decoder_queue(receiver, counter)
    return counter


class CountsOverCalls:
    """A terminal's frames and keyframes received, over all its calls: one counting queue
    per call's receiver, the totals of the calls before it kept."""

    def __init__(self) -> None:
        self.current: FrameCountingQueue | None = None
        self._frames_before = 0
        self._keyframes_before = 0

    def count(self, receiver: RTCRtpReceiver, decode: bool) -> None:
        """Count (and decode, or not) what a new call's receiver gets from now on."""
        if self.current is not None:
            self._frames_before += self.current.frames_received
            self._keyframes_before += self.current.keyframes_received
        self.current = count_frames(receiver, decode)

    @property
    def frames_received(self) -> int:
        current = self.current
        return self._frames_before + (current.frames_received if current else 0)

    @property
    def keyframes_received(self) -> int:
        current = self.current
        return self._keyframes_before + (current.keyframes_received if current else 0)

    def frame_rate(self, window_s: float) -> FrameRate | None:
        """The current call's received frame rate over the last `window_s` seconds."""
        return self.current.frame_rate(window_s) if self.current else None

    @property
    def sps(self) -> Sps | None:
        """The SPS of the latest H.264 keyframe of the current call."""
        return self.current.sps if self.current else None
