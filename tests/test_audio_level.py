"""The vectorised audio level gives aiortc's own value for a mono frame, and for a packed
stereo one the level of its (equal) channels, 3 dB below aiortc's (which divides the
energy of both channels by the samples of one)."""

from __future__ import annotations

import aiortc.rtp
import av
import numpy as np
import pytest

from rtc import aiortc_hooks, audio_level

# aiortc's own, kept by the hooks module (tests/conftest.py has installed the replacement).
ORIGINAL = aiortc_hooks.AIORTC_COMPUTE_AUDIO_LEVEL_DBOV


def stereo_frame(samples: np.ndarray) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.repeat(samples, 2).reshape(1, -1).astype(np.int16), format="s16", layout="stereo")
    frame.sample_rate = 48_000
    return frame


def mono_frame(samples: np.ndarray) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.int16), format="s16",
                                       layout="mono")
    frame.sample_rate = 48_000
    return frame


@pytest.mark.parametrize("amplitude", [0, 1, 30, 1000, 12000, 32767])
def test_same_level_as_aiortc_for_mono_and_the_channels_level_for_stereo(amplitude):
    rng = np.random.default_rng(amplitude)
    samples = rng.integers(-amplitude, amplitude + 1, 960)
    mono = mono_frame(samples)
    assert audio_level.compute_audio_level_dbov(mono) == ORIGINAL(mono)
    stereo = stereo_frame(samples)
    level = audio_level.compute_audio_level_dbov(stereo)
    assert level == audio_level.samples_level_dbov(samples.astype(np.int16))
    if amplitude == 0:
        assert level == ORIGINAL(stereo) == -127
    elif ORIGINAL(stereo) < 0:  # aiortc's, not clamped at 0 dBov: 3 dB above
        assert ORIGINAL(stereo) - level in (3, 4)  # 3.01 dB, each side rounded


def test_full_scale_square_wave_is_zero_dbov_and_silence_is_the_floor():
    loud = stereo_frame(np.where(np.arange(960) % 2, 32767, -32767))
    assert audio_level.compute_audio_level_dbov(loud) == 0 == ORIGINAL(loud)
    quiet = stereo_frame(np.zeros(960))
    assert audio_level.compute_audio_level_dbov(quiet) == -127 == ORIGINAL(quiet)
    half = stereo_frame(np.where(np.arange(960) % 2, 16384, -16384))  # -6.02 dBov
    assert audio_level.compute_audio_level_dbov(half) == -6
    assert ORIGINAL(half) == -3


def test_install_replaces_the_function_the_sender_calls(monkeypatch):
    monkeypatch.setattr(aiortc.rtp, "compute_audio_level_dbov", ORIGINAL)
    aiortc_hooks.install()
    assert aiortc.rtp.compute_audio_level_dbov is audio_level.compute_audio_level_dbov
