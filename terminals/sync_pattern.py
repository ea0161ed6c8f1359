"""A sync pattern for measuring audio-video alignment end to end: every `period_s` of the
wall clock (at whole multiples of it, so every terminal flashes at the same instants) the
terminal's picture turns white for FLASH_FRAMES frames and a click is put in its voice at
the same capture instant.

Capture time: a video frame's is its send time on the track's frame grid (start + n/fps),
an audio sample's is its block's send time plus its offset in the block (start + n/48000).
With the pattern on, both tracks start on their wall-clock grid (a multiple of 1/fps, of
20 ms), so an event instant k * period_s is exactly a frame's capture time (when
period_s * fps is whole) and a sample's: the flash's first frame and the click's first
sample are the same instant. A track that fell behind re-aligns to its grid.

Video: the flash is pre-encoded once per codec and format (a fresh encoder: a white
keyframe then white inter frames), sent in place of the loop's frames, and the track goes
on from its next keyframe (a keyframe request: the decoder's references are the flash's).
Audio: the click (CLICK_MS of full-scale deterministic noise, broadband so an energy onset
finds it under speech) is added to the voice at its sample, on the PCM path and the Opus
path alike (with the pattern on, the Opus packets are encoded live: the cached packets of
the voice have no click).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import av
import numpy as np

from rtc.colour import bgr_picture

FLASH_FRAMES = 3  # the MCU samples its inputs per tick: one frame alone could be skipped
CLICK_MS = 5.0
CLICK_PEAK = 30000
DEFAULT_PERIOD_S = 2.0


@dataclass(frozen=True)
class SyncPattern:
    """When the flashes and clicks happen: at every whole multiple of `period_s`."""

    period_s: float = DEFAULT_PERIOD_S
    _click: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.period_s > 0.2:
            raise ValueError(f"sync period {self.period_s} s: at least 0.2 s")
        samples = int(48000 * CLICK_MS / 1000)
        noise = np.random.default_rng(14).uniform(-1.0, 1.0, samples)
        object.__setattr__(self, "_click", (noise * CLICK_PEAK).astype(np.int32))

    def event_index(self, instant: float) -> int:
        """The index of the event at or before `instant` (wall clock, s)."""
        return math.floor(instant / self.period_s + 1e-9)

    def flash_starts(self, frame_time: float, fps: int) -> bool:
        """Whether the frame captured at `frame_time` is the first at or after an event."""
        return self.event_index(frame_time) != self.event_index(frame_time - 1.0 / fps)

    def add_click(self, samples: np.ndarray, block_time: float, sample_rate: int) -> np.ndarray:
        """The block (int16, mono, first sample captured at `block_time`) with the part of
        any click falling in it added (clipped to int16); the block itself when none does."""
        block_end = block_time + len(samples) / sample_rate
        click = self._click if sample_rate == 48000 else _resampled(self._click, sample_rate)
        click_s = len(click) / sample_rate
        first = self.event_index(block_time - click_s)
        out: np.ndarray | None = None
        for k in range(first, self.event_index(block_end) + 1):
            event = k * self.period_s
            offset = round((event - block_time) * sample_rate)
            lo, hi = max(offset, 0), min(offset + len(click), len(samples))
            if lo >= hi:
                continue
            if out is None:
                out = samples.astype(np.int32)
            out[lo:hi] += click[lo - offset:hi - offset]
        if out is None:
            return samples
        return np.clip(out, -32768, 32767).astype(np.int16)


def _resampled(click: np.ndarray, sample_rate: int) -> np.ndarray:
    count = max(1, round(len(click) * sample_rate / 48000))
    return click[np.linspace(0, len(click) - 1, count).astype(int)]


def aligned_start(now: float, step: float) -> float:
    """The first instant at or after `now` on the grid of `step` seconds."""
    return math.ceil(now / step - 1e-9) * step


def encode_flash(codec_context: av.VideoCodecContext, frames: int = FLASH_FRAMES,
                 ) -> tuple[bytes, ...]:
    """White pictures through a fresh encoder (terminals/media_sources.video_encoder's),
    the first a keyframe: what the track sends for a flash."""
    width, height = codec_context.width, codec_context.height
    white = np.full((height, width, 3), 255, np.uint8)
    packets: list[bytes] = []
    for index in range(frames):
        frame = bgr_picture(white)
        frame.pts = index
        frame.time_base = codec_context.time_base
        frame.pict_type = (av.video.frame.PictureType.I if index == 0
                           else av.video.frame.PictureType.NONE)
        packets.extend(bytes(packet) for packet in codec_context.encode(frame))
    packets.extend(bytes(packet) for packet in codec_context.encode(None))
    if len(packets) != frames:
        raise RuntimeError(f"flash: {len(packets)} packets for {frames} frames")
    return tuple(packets)
