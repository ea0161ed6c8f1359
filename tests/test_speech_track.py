"""The terminal's voice on its way out: the tabulated synthesis is the formula's."""

from __future__ import annotations

import numpy as np
import pytest

from terminals import speech
from terminals.media_sources import AUDIO_BLOCK_SAMPLES
from terminals.speech import (
    PARTIAL_PHASES,
    PARTIAL_WEIGHTS,
    SAMPLE_RATE,
    SYLLABLE_DEPTH,
    SYLLABLE_HZ,
    TALKER_PEAK,
    SpeechSynth,
    talker_partials,
    waveform_period,
)


def direct_voice(site: int, level: float, start: int, samples: int,
                 sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The voice straight from its definition: three weighted partials times the syllabic
    envelope (normalised to peak 1), at TALKER_PEAK x level."""
    t = (start + np.arange(samples)) / sample_rate
    tones = sum(weight * np.sin(2 * np.pi * frequency * t + phase) for frequency, weight, phase
                in zip(talker_partials(site), PARTIAL_WEIGHTS, PARTIAL_PHASES, strict=True))
    envelope = (1 + SYLLABLE_DEPTH * np.sin(2 * np.pi * SYLLABLE_HZ * t)) / (1 + SYLLABLE_DEPTH)
    return TALKER_PEAK * level * envelope * tones


def test_the_waveform_repeats_after_the_lcm_of_the_sample_periods():
    # 300 Hz: 160 samples, 1100 and 1900 Hz: 480 (11 and 19 cycles), 3 Hz: 16000.
    assert waveform_period((300.0, 1100.0, 1900.0, 3.0), 48000) == 48000
    # 312.5 Hz completes a whole number of cycles only every 2 s.
    assert waveform_period((312.5, 1112.5, 1912.5, 3.0), 48000) == 96000
    assert waveform_period((312.5, 3.0), 44100) == 88200
    assert waveform_period((312.5, 3.0), 47999) == 95998
    assert waveform_period((0.1,), 48000) is None  # the float 0.1 repeats far too late
    assert SpeechSynth(0).period_samples == 48000
    assert SpeechSynth(1).period_samples == 96000


@pytest.mark.parametrize("site", [0, 1, 37, 63])
def test_tabulated_blocks_equal_the_formula_across_the_wrap(site):
    synth = SpeechSynth(site)
    synth.set_level(0.8)
    period = synth.period_samples
    assert period is not None
    lead_in = period - 3 * AUDIO_BLOCK_SAMPLES - 123  # the 4th block straddles the wrap
    synth.next_block(lead_in)
    position = lead_in
    for block in range(8):
        if block == 5:
            synth.set_level(0.3)  # a new level scales the same waveform, sample-continuous
        level = 0.8 if block < 5 else 0.3
        produced = synth.next_block(AUDIO_BLOCK_SAMPLES)
        expected = direct_voice(site, level, position, AUDIO_BLOCK_SAMPLES)
        assert produced.dtype == np.float32
        np.testing.assert_allclose(produced, expected, rtol=0, atol=1e-6)
        position += AUDIO_BLOCK_SAMPLES
    # A block longer than a period wraps more than once; s16 within one step of rounding.
    produced_s16 = synth.next_block_s16(2 * period + 7)
    expected_s16 = np.round(direct_voice(site, 0.3, position, 2 * period + 7) * 32767)
    assert np.abs(produced_s16.astype(np.int64) - expected_s16).max() <= 1
    assert np.abs(produced_s16).max() > 1000


def test_a_voice_too_long_to_tabulate_is_synthesised_every_block(monkeypatch):
    monkeypatch.setattr(speech, "MAX_TABLE_SECONDS", 1)  # site 5 repeats every 2 s
    synth = SpeechSynth(5)
    synth.set_level(0.5)
    assert synth.period_samples is None
    first = synth.next_block(1000)
    second = synth.next_block(1000)
    np.testing.assert_allclose(np.concatenate((first, second)),
                               direct_voice(5, 0.5, 0, 2000), rtol=0, atol=1e-6)
