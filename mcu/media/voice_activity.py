"""Audio level of a site on the switchGate scale (0..100), for voice-activated switching.

The level is the signal's RMS in dBFS mapped linearly from FLOOR_DBFS (0) to 0 dBFS (100):
silence is 0, normal speech (about -20 dBFS) about 67, and the default switchGate 15 sits at
-51 dBFS, just above background noise.
"""

from __future__ import annotations

import math

import numpy as np

FLOOR_DBFS = -60.0
FULL_SCALE = 32768.0


def level_of_power(mean_square: float) -> int:
    """0..100 from the mean square of int16 samples."""
    if mean_square <= 0.0:
        return 0
    dbfs = 10.0 * math.log10(mean_square / (FULL_SCALE * FULL_SCALE))
    return int(round(min(100.0, max(0.0, (dbfs - FLOOR_DBFS) * 100.0 / -FLOOR_DBFS))))


def power_of_level(level_dbov: int) -> float:
    """The mean square of int16 samples at an RFC 6464 level (dBov: their RMS against full
    scale, rtc/audio_level.py), on the scale `mean_squares` gives; -127 (the floor, digital
    silence) is 0."""
    if level_dbov <= -127:
        return 0.0
    return FULL_SCALE * FULL_SCALE * 10.0 ** (level_dbov / 10.0)


def mean_squares(samples: np.ndarray) -> np.ndarray:
    """Mean square per row of an (N, samples) int16 block, as float64 (squared and summed
    in float64: exact; einsum on float64 input, which is several times cheaper than
    einsum casting to float64 itself)."""
    block = samples.astype(np.float64)
    return np.einsum("ij,ij->i", block, block) / max(1, samples.shape[1])


class LevelMeter:
    """Averages the power of each site over a reporting period (several 20 ms frames), so a
    single click does not make a site the speaker."""

    def __init__(self) -> None:
        self._power: dict[str, float] = {}
        self._frames = 0

    def add(self, uris: list[str], powers: np.ndarray) -> None:
        for uri, power in zip(uris, powers.tolist(), strict=True):
            self._power[uri] = self._power.get(uri, 0.0) + power
        self._frames += 1

    def take_levels(self) -> dict[str, int]:
        """The levels of the period that ends now; starts a new period."""
        frames = max(1, self._frames)
        levels = {uri: level_of_power(total / frames) for uri, total in self._power.items()}
        self._power.clear()
        self._frames = 0
        return levels
