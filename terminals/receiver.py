"""What a terminal sees and hears from the MCU, as statistics a test or report can check.

Video: "received" counts the complete frames aiortc's jitter buffer hands to the decoder,
and their keyframes (terminals/frame_counter.py), whether or not the terminal decodes. A
decoding terminal (decode_video, the default) also counts what comes out of the decoder:
every frame aiortc delivers has gone through it (a decoder cannot skip inter frames and stay
correct), so "decoded" counts them all; a counting-only terminal decodes nothing, so it
has no picture, panes or latency. Reading the markers is the costly
part, so it runs on every `analyse_every`-th frame (and on demand), in a worker thread
(OpenCV releases the GIL), one analysis at a time: a busy terminal skips analyses, never
decodes. The panes to read are fraction rectangles given by the caller: a terminal does not
know the MCU's layouts.

Audio: the last second of the received mix is kept (mono); the level of each talker in it
is measured on demand (terminals/speech.py). The levels the packets state (RFC 6464, when
the call negotiated it) are kept for the same window, as a browser's
`RTCRtpReceiver.getSynchronizationSources()` reports them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import cv2
import numpy as np
from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from rtc.h264_sps import Sps
from rtc.receive_path import watch_rtp
from terminals.arrival_gaps import ArrivalGaps
from terminals.frame_counter import CountsOverCalls, FrameRate
from terminals.marker import MarkerReading, Rect, read_marker
from terminals.send_log import SendLog
from terminals.speech import SAMPLE_RATE, talker_levels

WHOLE_PICTURE: tuple[tuple[float, float, float, float], ...] = ((0.0, 0.0, 1.0, 1.0),)


@dataclass(frozen=True)
class PaneStatus:
    site_index: int | None  # None: no readable marker (placeholder, or unreadable)
    site_uri: str | None
    frame_index: int | None
    latency_ms_p50: float | None  # over the last readings of this same site in this pane
    # When this terminal received the frame the reading came from (time.time() as its video
    # track handed it over decoded): a reader that finishes late, on a busy loop, still
    # dates what it saw by the frame's arrival. None when no frame has been read.
    received_at: float | None = None


@dataclass(frozen=True)
class VideoStats:
    frames_received: int  # complete encoded frames, decoded or not
    keyframes_received: int
    decoding: bool
    frames_decoded: int
    keyframes: int
    frames_analysed: int
    width: int
    height: int
    panes: tuple[PaneStatus, ...]


@dataclass
class _PaneHistory:
    site_index: int | None = None
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=30))


class VideoReceiver:
    def __init__(self, send_log: SendLog, analyse_every: int = 10, decode: bool = True) -> None:
        self.send_log = send_log
        self.analyse_every = max(1, analyse_every)
        self.decode = decode
        self._counts = CountsOverCalls()
        self.frames_decoded = 0
        self.keyframes = 0
        self.frames_analysed = 0
        self.last_frame: av.VideoFrame | None = None
        self.last_received_at = 0.0
        self._rects: tuple[Rect, ...] = WHOLE_PICTURE
        self._readings: tuple[MarkerReading | None, ...] = (None,)
        self._readings_received_at: float | None = None  # the read frame's arrival
        self._histories: list[_PaneHistory] = [_PaneHistory()]
        self._analysing = False
        self._tasks: set[asyncio.Task] = set()

    def set_panes(self, rects: Sequence[Rect] | None) -> None:
        """Read markers in these fraction rectangles from now on (None: the whole picture)."""
        self._rects = tuple(rects) if rects else WHOLE_PICTURE
        self._readings = (None,) * len(self._rects)
        self._readings_received_at = None
        self._histories = [_PaneHistory() for _ in self._rects]

    def count_frames_of(self, receiver: RTCRtpReceiver) -> None:
        """Count (and decode, or not) what this new call's video receiver gets."""
        self._counts.count(receiver, self.decode)

    @property
    def frames_received(self) -> int:
        return self._counts.frames_received

    @property
    def keyframes_received(self) -> int:
        return self._counts.keyframes_received

    def frame_rate(self, window_s: float = 2.0) -> FrameRate | None:
        """The rate of the complete frames received over the last `window_s` seconds, by
        their RTP timestamps and by their arrival (terminals/frame_counter.py)."""
        return self._counts.frame_rate(window_s)

    @property
    def received_sps(self) -> Sps | None:
        """The SPS of the latest H.264 keyframe received in this call (None for VP8)."""
        return self._counts.sps

    async def consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)  # a remote track yields decoded frames
                self.on_frame(frame, time.time())
        except MediaStreamError:
            pass

    def on_frame(self, frame: av.VideoFrame, received_at: float) -> None:
        self.frames_decoded += 1
        if frame.key_frame:
            self.keyframes += 1
        self.last_frame = frame
        self.last_received_at = received_at
        if self.frames_decoded % self.analyse_every == 0 and not self._analysing:
            # The loop keeps only a weak reference to a task: hold it until it is done.
            task = asyncio.get_running_loop().create_task(self.analyse_latest())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def analyse_latest(self) -> tuple[PaneStatus, ...]:
        """Read every pane of the latest decoded frame now; the pane statuses after it."""
        frame, received_at, rects = self.last_frame, self.last_received_at, self._rects
        if frame is None:
            return self.pane_statuses()
        self._analysing = True
        try:
            readings = await asyncio.get_running_loop().run_in_executor(
                None, _read_panes, frame, rects)
        finally:
            self._analysing = False
        if rects is not self._rects:
            return self.pane_statuses()  # the panes changed meanwhile: this reading is stale
        self.frames_analysed += 1
        self._readings, self._readings_received_at = readings, received_at
        for history, reading in zip(self._histories, readings, strict=True):
            site = reading.site_index if reading else None
            if site != history.site_index:
                history.site_index = site
                history.latencies.clear()
            if reading is not None:
                latency = self.send_log.latency(reading.site_index, reading.frame_index,
                                                received_at)
                if latency is not None:
                    history.latencies.append(latency)
        return self.pane_statuses()

    def recent_latencies(self) -> list[float]:
        """The latencies (s) of the last readings of every pane (up to 30 each), for the
        terminal's receive report (terminals/receive_report.py)."""
        return [latency for history in self._histories for latency in history.latencies]

    def pane_statuses(self) -> tuple[PaneStatus, ...]:
        statuses = []
        received_at = self._readings_received_at
        for reading, history in zip(self._readings, self._histories, strict=True):
            latency = statistics.median(history.latencies) * 1000 if history.latencies else None
            if reading is None:
                statuses.append(PaneStatus(None, None, None, None, received_at))
            else:
                statuses.append(PaneStatus(
                    reading.site_index, self.send_log.site_uri(reading.site_index),
                    reading.frame_index, latency, received_at))
        return tuple(statuses)

    def stats(self) -> VideoStats:
        frame = self.last_frame
        return VideoStats(
            self.frames_received, self.keyframes_received, self.decode,
            self.frames_decoded, self.keyframes, self.frames_analysed,
            frame.width if frame else 0, frame.height if frame else 0, self.pane_statuses())

    def snapshot(self, path: str) -> bool:
        """Write the last decoded frame as PNG; False when nothing was decoded yet."""
        if self.last_frame is None:
            return False
        return bool(cv2.imwrite(str(path), self.last_frame.to_ndarray(format="bgr24")))


def _read_panes(frame: Any, rects: Sequence[Rect]) -> tuple[MarkerReading | None, ...]:
    return tuple(read_marker(frame, rect) for rect in rects)


class AudioReceiver:
    """The last `window_s` of the received audio, mono, and who is talking in it.

    "frames_received" counts the audio frames aiortc's jitter buffer hands to the decoder;
    a terminal that does not decode audio (decode=False: a load generator's listener) only
    counts them, and hears nothing (terminals/frame_counter.py, as for video)."""

    def __init__(self, window_s: float = 1.0, decode: bool = True) -> None:
        self.window_s = window_s
        self.decode = decode
        self.frames_decoded = 0
        self._counts = CountsOverCalls()
        self._stated: deque[tuple[float, int]] = deque()  # (time.monotonic(), dBov)
        self.arrival_gaps = ArrivalGaps()  # the packets' arrivals, over all calls
        self._start_window(SAMPLE_RATE)

    def count_frames_of(self, receiver: RTCRtpReceiver) -> None:
        """Count (and decode, or not) what this new call's audio receiver gets."""
        self._counts.count(receiver, self.decode)

    def read_levels_of(self, receiver: RTCRtpReceiver) -> None:
        """Keep the RFC 6464 level each RTP packet of this call's audio `receiver` states,
        and note its arrival (`read_largest_gap`): a watcher of the receiver's own handler
        (rtc/receive_path.py `watch_rtp`), set before the receiver starts."""
        stated = self._stated
        gaps = self.arrival_gaps

        def watch(packet: RtpPacket) -> None:
            now = time.monotonic()
            gaps.arrived(now)
            level = packet.extensions.audio_level
            if level is not None:
                stated.append((now, -level[1]))
                while stated and stated[0][0] < now - self.window_s:
                    stated.popleft()

        watch_rtp(receiver, watch)

    def stated_levels(self) -> list[int]:
        """The levels (dBov, -127..0) the packets of the last `window_s` stated, oldest
        first; empty when none stated one."""
        since = time.monotonic() - self.window_s
        return [level for at, level in self._stated if at >= since]

    def read_largest_gap(self) -> float:
        """The longest wait, in seconds, between RTP packets of the audio (one per 20 ms
        from the MCU) since the previous read, on arrival, before the jitter buffer
        (terminals/arrival_gaps.py); a new period starts. Packets are seen once
        `read_levels_of` hooked the call's receiver."""
        return self.arrival_gaps.read()

    @property
    def frames_received(self) -> int:
        if self._counts.current is None:  # a track consumed without a counting receiver
            return self.frames_decoded
        return self._counts.frames_received

    def _start_window(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._ring = np.zeros(int(sample_rate * self.window_s), np.float32)
        self._write = 0
        self._filled = 0

    async def consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)  # a remote track yields decoded frames
                self.on_frame(frame)
        except MediaStreamError:
            pass

    def on_frame(self, frame: av.AudioFrame) -> None:
        self.frames_decoded += 1
        if frame.sample_rate != self.sample_rate:
            # Opus decodes to 48 kHz, G.722 to 16 kHz, G.711 to 8 kHz: every talker's
            # partials lie below 4 kHz, so each is measured at the rate it comes in.
            self._start_window(frame.sample_rate)
        samples = frame.to_ndarray()
        channels = len(frame.layout.channels)
        if frame.format.is_planar:
            mono = samples[0]
        else:
            mono = samples.reshape(-1)[::channels]
        if mono.dtype == np.int16:
            mono = mono.astype(np.float32) / 32768.0
        self._append(mono.astype(np.float32, copy=False))

    def _append(self, samples: np.ndarray) -> None:
        size = len(self._ring)
        samples = samples[-size:]
        end = self._write + len(samples)
        if end <= size:
            self._ring[self._write : end] = samples
        else:
            first = size - self._write
            self._ring[self._write :] = samples[:first]
            self._ring[: end - size] = samples[first:]
        self._write = end % size
        self._filled = min(size, self._filled + len(samples))

    def recent_samples(self) -> np.ndarray:
        if self._filled < len(self._ring):
            return self._ring[: self._filled].copy()
        return np.concatenate((self._ring[self._write :], self._ring[: self._write]))

    def heard(self, talkers: Iterable[int]) -> dict[int, float]:
        """Level (0..1, SpeechSynth's scale) of each talker in the last window of the mix."""
        return talker_levels(self.recent_samples(), talkers, self.sample_rate)
