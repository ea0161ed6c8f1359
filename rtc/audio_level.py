"""The RFC 6464 audio level of a 20 ms block: aiortc's for the frames it sends, and ours for
mono samples (the terminals' pre-encoded Opus, whose packets aiortc sends with no level).

aiortc's RTCRtpSender computes it for every AudioFrame a track hands it with
`aiortc.rtp.compute_audio_level_dbov`, a Python loop over the samples: 1920 iterations per
20 ms stereo frame, about 0.15 ms, once per site every 20 ms on the event loop (a 16-site
conference spends ~12 % of a core on it). This is the same arithmetic over the same bytes,
vectorised; rtc/aiortc_hooks.py `install()` puts it in aiortc's place.
"""

from __future__ import annotations

import math

import av
import numpy as np

MAX_SAMPLE_VALUE = 32767
MIN_AUDIO_LEVEL = -127
MAX_AUDIO_LEVEL = 0


def compute_audio_level_dbov(frame: av.AudioFrame) -> int:
    """As aiortc's: the energy of every int16 of plane 0 over `frame.samples` full-scale
    samples, in dBov, clamped to -127..0."""
    samples = np.frombuffer(bytes(frame.planes[0]), np.int16).astype(np.int64)
    return _dbov(float(np.dot(samples, samples)), frame.samples)


def samples_level_dbov(samples: np.ndarray) -> int:
    """The level of mono int16 `samples` in dBov (their RMS against full scale, as aiortc's
    for a frame), clamped to -127..0: RFC 6464's value is its negation."""
    wide = samples.astype(np.int64)
    return _dbov(float(np.dot(wide, wide)), len(samples))


def _dbov(energy: float, samples: int) -> int:
    if samples <= 0:
        return MIN_AUDIO_LEVEL
    rms = math.sqrt(energy / (samples * MAX_SAMPLE_VALUE * MAX_SAMPLE_VALUE))
    if rms <= 0:
        return MIN_AUDIO_LEVEL
    return round(min(max(20 * math.log10(rms), MIN_AUDIO_LEVEL), MAX_AUDIO_LEVEL))
