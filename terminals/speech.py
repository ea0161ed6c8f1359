"""Synthetic speech a receiver can take apart again: who is talking, and how loud.

Each site talks on its own three partials, one in each of three bands, on a grid no other
site uses:

    site k:  300 + 12.5k Hz,  1100 + 12.5k Hz,  1900 + 12.5k Hz       (k = 0 .. 63)

so any mix of sites is a sum of disjoint lines: the amplitude at a site's partials is that
site's level, whatever else is mixed in. A slow syllabic envelope (3 Hz, depth 0.4) makes it
sound like talk rather than a test tone, and the level follows a schedule (talk spurts)
which `set_level` / `talk_louder` override, so tests and the demo can drive voice switching.

Synthesis is a table look-up: every partial is on the 12.5 Hz grid and the envelope is 3 Hz,
so a talker's waveform at unit level repeats exactly every one or two seconds (48000 or
96000 samples at 48 kHz: the least common multiple of the sample periods of its four sines;
a partial at 312.5 Hz completes a whole number of cycles only every 2 s). One period is computed
once per talker and every block is a slice of it times the level: a 20 ms block costs a copy
and a multiply instead of four sines over 960 samples, 50 times a second per terminal.
A sender that has the block already (the Opus packets of terminals/speech_packets.py) only
`advance`s the synth, so the schedule keeps time; `block_at` is the block any position gives.

Measuring: over a window of the received mix (1 s by default), the amplitude of each of a
talker's partials is read from a Hann-windowed FFT zero-padded to a whole number of bins per
12.5 Hz (every partial falls on a bin; the neighbouring site is that many bins away), and
turned back into the talker's level: a site talking at level L, mixed at unit gain, is heard
at ~L (within about 5 % on a half-second segment: the syllabic envelope's phase within it).

A window of at least two MIN_ANALYSIS_S is read as half-second segments, half a segment
apart and ending with the window, and each talker's level is the median of its segments'.
The received audio is not always continuous: the MCU cuts a standing backlog out of a site's
input (mcu/media/audio_mixer.py drops 40 or 60 ms) and a jitter buffer drops late packets.
A cut shifts every partial's phase by 2*pi*f*cut (for 687.5 Hz and 40 ms, half a cycle), and
one coherent FFT over the whole window then adds the two sides of the cut out of phase: a
talker at 0.5 read as 0.3, and its energy spread to the next site's line (up to 0.06 for a
site that was silent); over all the places a cut can fall, 40 % read a talker under 0.7 of
its level. A cut spoils the segments that straddle it, most those it falls in the middle of,
and the median leaves the worst out: every talker reads at least 0.7 of its level wherever
the cut falls, and a silent neighbour under 0.07 (0.03 or more at 2-8 % of the places;
tests/test_speech_track.py). The price: with three segments the median is the middle one's
reading (0.25-0.75 s back), so a talker who started within the window reads nothing for its
first 0.25 s and all of its level from 0.75 s on (one FFT rose with the time talked); a
window longer than 1 s that is not a whole number of quarter seconds leaves its oldest
samples unread.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 48000
MAX_TALKERS = 64
BAND_STARTS_HZ = (300.0, 1100.0, 1900.0)
TALKER_SPACING_HZ = 12.5
PARTIAL_WEIGHTS = (0.5, 0.3, 0.2)
# A fixed phase per partial keeps the crest factor of a talker moderate.
PARTIAL_PHASES = (0.0, 1.3, 2.9)
# Full scale of one talker at level 1.0: several talkers can be mixed without clipping.
TALKER_PEAK = 0.25
SYLLABLE_HZ = 3.0
SYLLABLE_DEPTH = 0.4
# Shorter windows widen each line until it reaches the next talker's (12.5 Hz away).
MIN_ANALYSIS_S = 0.5
_ENVELOPE_MEAN = 1.0 / (1.0 + SYLLABLE_DEPTH)  # the envelope is (1 + d sin) / (1 + d)
# A rate whose waveform repeats only after longer than this is synthesised block by block.
MAX_TABLE_SECONDS = 4

LevelSchedule = Sequence[tuple[float, float]] | Callable[[float], float]


def talker_partials(site_index: int) -> tuple[float, ...]:
    if not 0 <= site_index < MAX_TALKERS:
        raise ValueError(f"talker {site_index} outside 0..{MAX_TALKERS - 1}")
    return tuple(start + TALKER_SPACING_HZ * site_index for start in BAND_STARTS_HZ)


def talk_spurts(talk_s: float, pause_s: float, level: float) -> list[tuple[float, float]]:
    """A schedule of talk spurts: `talk_s` at `level`, `pause_s` of silence, repeated."""
    return [(talk_s, level), (pause_s, 0.0)]


def waveform_period(frequencies_hz: Iterable[float], sample_rate: float) -> int | None:
    """The fewest samples after which sines at all of `frequencies_hz` repeat exactly at
    `sample_rate`: the least common multiple of each one's period in samples, or None when
    that is longer than MAX_TABLE_SECONDS (a frequency or rate off any coarse grid)."""
    rate = Fraction(sample_rate)
    period = 1
    for frequency in frequencies_hz:
        if frequency <= 0:
            return None
        # sin(2 pi f n / rate) repeats after n samples when f n / rate is whole: the smallest
        # such n is the numerator of rate / f in lowest terms (exact, as the floats are).
        period = math.lcm(period, (rate / Fraction(frequency)).numerator)
        if period > MAX_TABLE_SECONDS * sample_rate:
            return None
    return period


def _level_at(schedule: LevelSchedule, seconds: float) -> float:
    if callable(schedule):
        return float(schedule(seconds))
    period = sum(duration for duration, _ in schedule)
    if period <= 0:
        return 0.0
    offset = seconds % period
    for duration, level in schedule:
        if offset < duration:
            return level
        offset -= duration
    return schedule[-1][1]


class SpeechSynth:
    """20 ms blocks of one talker's voice, sample-continuous, at a scheduled level."""

    def __init__(self, site_index: int, schedule: LevelSchedule = ((1.0, 0.5),),
                 sample_rate: int = SAMPLE_RATE) -> None:
        self.site_index = site_index
        self.sample_rate = sample_rate
        self.schedule: LevelSchedule = schedule
        self._override: float | None = None
        self._muted = False
        # The send log of talk_louder: the wall time (time.time()) the first block at the
        # louder level was handed to the sender; None until then.
        self.louder_sent_at: float | None = None
        self._louder_pending = False
        partials = talker_partials(site_index)
        self._frequencies = np.array(partials)[:, None]
        self._weights = np.array(PARTIAL_WEIGHTS)[:, None]
        self._phases = np.array(PARTIAL_PHASES)[:, None]
        self._position = 0  # samples produced so far
        period = waveform_period((*partials, SYLLABLE_HZ), sample_rate)
        # One period of the unit-level waveform; None: synthesise every block.
        self._period_table: np.ndarray | None = (
            None if period is None else self.unit_waveform(0, period).astype(np.float32))

    @property
    def period_samples(self) -> int | None:
        """Samples after which the unit-level waveform repeats (None: not tabulated)."""
        return None if self._period_table is None else len(self._period_table)

    def unit_waveform(self, start: int, samples: int) -> np.ndarray:
        """Samples `start` .. `start + samples` of the voice at level 1.0, computed directly
        (float64): what the table holds, and what a rate without a table uses."""
        t = (start + np.arange(samples)) / self.sample_rate
        tones = (self._weights * np.sin(2 * np.pi * self._frequencies * t + self._phases)).sum(0)
        envelope = (1.0 + SYLLABLE_DEPTH * np.sin(2 * np.pi * SYLLABLE_HZ * t)) * _ENVELOPE_MEAN
        return TALKER_PEAK * envelope * tones

    def set_level(self, level: float | None) -> None:
        """Talk at `level` (0..1) from now on; None goes back to the schedule."""
        self._override = None if level is None else max(0.0, float(level))

    def talk_louder(self, factor: float = 2.0) -> float:
        """Raise the current level by `factor` (capped at 1.0) and hold it; returns it."""
        self._override = min(1.0, max(self.level_now(), 0.05) * factor)
        self.louder_sent_at, self._louder_pending = None, True
        return self._override

    def set_silent(self, silent: bool) -> None:
        self._muted = silent

    def level_now(self) -> float:
        if self._muted:
            return 0.0
        if self._override is not None:
            return self._override
        return _level_at(self.schedule, self._position / self.sample_rate)

    def advance(self, samples: int) -> tuple[int, float]:
        """Move on by a block of `samples` without synthesising it, for a sender that has
        the block already (terminals/speech_packets.py): the block's first sample and its
        level (level_now() at its start). The schedule goes on as if it had been synthesised."""
        level = self.level_now()
        start = self._position
        self._position += samples
        if self._louder_pending:
            self.louder_sent_at, self._louder_pending = time.time(), False
        return start, level

    def next_block(self, samples: int) -> np.ndarray:
        """The next `samples` samples as float32 in -1..1."""
        start, level = self.advance(samples)
        return self.block_at(start, samples, level)

    def next_block_s16(self, samples: int) -> np.ndarray:
        return _to_s16(self.next_block(samples))

    def block_at(self, start: int, samples: int, level: float) -> np.ndarray:
        """Samples `start` .. `start + samples` at `level` as float32: what next_block gives
        for a block starting there at that level. Does not move the synth on."""
        if level <= 0.0:
            return np.zeros(samples, np.float32)
        table = self._period_table
        if table is None:
            return (level * self.unit_waveform(start, samples)).astype(np.float32)
        return self._from_table(table, start % len(table), samples) * np.float32(level)

    def block_s16_at(self, start: int, samples: int, level: float) -> np.ndarray:
        return _to_s16(self.block_at(start, samples, level))

    @staticmethod
    def _from_table(table: np.ndarray, offset: int, samples: int) -> np.ndarray:
        if offset + samples <= len(table):
            return table[offset : offset + samples]
        return np.take(table, np.arange(offset, offset + samples), mode="wrap")


def _to_s16(block: np.ndarray) -> np.ndarray:
    return np.round(block * 32767).astype(np.int16)


@lru_cache(maxsize=8)
def _analysis_window(length: int) -> tuple[np.ndarray, float]:
    window = np.hanning(length).astype(np.float32)
    return window, float(window.sum())


def talker_levels(samples: np.ndarray, talkers: Iterable[int],
                  sample_rate: int = SAMPLE_RATE) -> dict[int, float]:
    """The level (0..1 scale of SpeechSynth) at which each talker is present in `samples`.

    `samples`: mono float in -1..1 (int16 is scaled). A talker absent from the mix reads ~0.
    Empty when there is less than MIN_ANALYSIS_S of audio: nothing can be told apart yet.
    Under twice that, one FFT over all of it; from there, the median over half-second
    segments half a segment apart, the last ending with `samples` (the module's docstring:
    a cut in the audio upsets only the segments around it).
    """
    talkers = list(talkers)
    if samples.dtype == np.int16:
        samples = samples.astype(np.float32) / 32768.0
    length = len(samples)
    segment = int(sample_rate * MIN_ANALYSIS_S)
    if length < segment:
        return {}
    if length < 2 * segment:
        return _coherent_levels(samples, talkers, sample_rate)
    readings = [_coherent_levels(samples[start : start + segment], talkers, sample_rate)
                for start in range(length - segment, -1, -(segment // 2))]
    return {talker: float(np.median([reading[talker] for reading in readings]))
            for talker in talkers}


def _coherent_levels(samples: np.ndarray, talkers: list[int],
                     sample_rate: int) -> dict[int, float]:
    """talker_levels from one Hann-windowed FFT over all of `samples`."""
    length = len(samples)
    window, window_sum = _analysis_window(length)
    n_fft = _fft_size(length, sample_rate)
    spectrum = np.abs(np.fft.rfft(samples * window, n=n_fft))
    amplitude_of_bin = 2.0 / window_sum
    levels: dict[int, float] = {}
    for talker in talkers:
        summed = 0.0
        for frequency in talker_partials(talker):
            centre = int(round(frequency * n_fft / sample_rate))
            # The syllabic envelope spreads a line over +-3 Hz: take the strongest bin there.
            reach = max(1, int(SYLLABLE_HZ * n_fft / sample_rate))
            peak = float(spectrum[centre - reach : centre + reach + 1].max())
            summed += peak * amplitude_of_bin
        # Sum of the partial amplitudes of a talker at level 1 through the envelope mean.
        levels[talker] = summed / (TALKER_PEAK * sum(PARTIAL_WEIGHTS) * _ENVELOPE_MEAN)
    return levels


def _fft_size(length: int, sample_rate: int) -> int:
    """The least FFT size >= `length` whose bins divide TALKER_SPACING_HZ (every partial on
    a bin); 0.5 Hz bins at a rate of which 12.5 Hz is not a whole number of samples."""
    per_spacing = sample_rate / TALKER_SPACING_HZ
    if per_spacing != int(per_spacing):
        return max(length, int(math.ceil(sample_rate * 2)))
    return int(per_spacing) * math.ceil(length / per_spacing)


def loudest(levels: Mapping[int, float]) -> int | None:
    return max(levels, key=lambda k: levels[k]) if levels else None
