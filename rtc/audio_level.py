"""The RFC 6464 audio level of a 20 ms block: aiortc's for the frames it sends, and ours for
mono samples (the terminals' pre-encoded Opus, whose packets aiortc sends with no level, and
the MCU's Opus mixes).

aiortc's RTCRtpSender computes it for every AudioFrame a track hands it with
`aiortc.rtp.compute_audio_level_dbov`, a Python loop over the samples: 1920 iterations per
20 ms stereo frame, about 0.15 ms, once per site every 20 ms on the event loop (a 16-site
conference spends ~12 % of a core on it). This is the same arithmetic over the same bytes,
vectorised, with one correction: aiortc divides the energy of every value of plane 0 by the
frame's samples per channel, so a packed stereo frame (the MCU's G.722 and G.711 mixes, two
equal channels) was stated 3 dB above its level; here it is divided by the values it sums.
rtc/aiortc_hooks.py `install()` puts it in aiortc's place.
"""

from __future__ import annotations

import math

import av
import numpy as np

MAX_SAMPLE_VALUE = 32767
MIN_AUDIO_LEVEL = -127
MAX_AUDIO_LEVEL = 0


def compute_audio_level_dbov(frame: av.AudioFrame) -> int:
    """The RMS of every int16 of plane 0 (each channel of a packed frame, the first of a
    planar one) against full scale, in dBov, clamped to -127..0: aiortc's value for a mono
    frame; for a packed stereo one, 3 dB below aiortc's (see above)."""
    samples = np.frombuffer(bytes(frame.planes[0]), np.int16).astype(np.int64)
    return _dbov(float(np.dot(samples, samples)), samples.size)


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
