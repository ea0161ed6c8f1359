"""The terminal's voice on its way out: the tabulated synthesis is the formula's, and the track
sends Opus as ready packets (mono, encoded by the terminal, once per level and period of the
voice where the period is whole blocks, else live) but frames for the codecs aiortc encodes,
and what the packets decode to is heard at the level spoken."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from rtc.audio_level import samples_level_dbov
from rtc.opus_packets import OPUS_BITRATE, OpusPacketEncoder
from terminals import speech
from terminals.media_sources import AUDIO_BLOCK_SAMPLES, SpeechTrack
from terminals.receiver import AudioReceiver
from terminals.speech import (
    PARTIAL_PHASES,
    PARTIAL_WEIGHTS,
    SAMPLE_RATE,
    SYLLABLE_DEPTH,
    SYLLABLE_HZ,
    TALKER_PEAK,
    SpeechSynth,
    talker_levels,
    talker_partials,
    waveform_period,
)
from terminals.speech_packets import MAX_CACHED_LEVELS, OpusVoice


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


async def test_opus_is_sent_as_packets_of_the_terminal_s_own_encoding():
    track = SpeechTrack(SpeechSynth(2))
    track.use_codec("opus")  # as SDP names it, any case
    assert track.codec == "OPUS"
    packets = [await track.recv() for _ in range(3)]
    track.stop()
    assert all(isinstance(packet, av.Packet) for packet in packets)
    assert [packet.pts for packet in packets] == [0, 960, 1920]
    assert all(packet.time_base == fractions.Fraction(1, 48000) for packet in packets)
    assert all(packet.size > 0 for packet in packets)


@pytest.mark.parametrize("codec", [None, "G722", "PCMU", "PCMA"])
async def test_other_codecs_get_stereo_frames_for_aiortc_to_encode(codec):
    track = SpeechTrack(SpeechSynth(2), codec and codec.lower())
    frames = [await track.recv() for _ in range(3)]
    track.stop()
    assert all(isinstance(frame, av.AudioFrame) for frame in frames)
    assert [frame.pts for frame in frames] == [0, 960, 1920]
    assert frames[0].layout.name == "stereo" and frames[0].sample_rate == SAMPLE_RATE
    interleaved = frames[2].to_ndarray().reshape(-1, 2)
    assert np.array_equal(interleaved[:, 0], interleaved[:, 1])
    assert np.abs(interleaved).max() > 1000


async def test_the_codec_is_chosen_per_block_once_negotiated():
    track = SpeechTrack(SpeechSynth(2))  # created before the call negotiated anything
    before = await track.recv()
    track.use_codec("OPUS")
    after = await track.recv()
    track.stop()
    assert isinstance(before, av.AudioFrame) and isinstance(after, av.Packet)
    assert after.pts == 960  # one clock across the change


async def test_the_packets_decode_on_a_stereo_decoder_to_the_level_spoken():
    synth = SpeechSynth(6)
    synth.set_level(0.6)
    track = SpeechTrack(synth, "OPUS")
    # As aiortc's receiver decodes Opus: libopus, 48 kHz stereo s16.
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout, decoder.format = SAMPLE_RATE, "stereo", "s16"
    receiver = AudioReceiver(window_s=1.0)
    right_channel: list[np.ndarray] = []
    for _ in range(60):  # 1.2 s, paced in real time by the track
        for frame in decoder.decode(await track.recv()):
            receiver.on_frame(frame)
            right_channel.append(frame.to_ndarray().reshape(-1, 2)[:, 1])
    track.stop()
    heard = talker_levels(receiver.recent_samples(), range(16))
    assert heard[6] == pytest.approx(0.6, rel=0.15)
    assert max(level for talker, level in heard.items() if talker != 6) < 0.02
    # A mono stream plays on both channels alike.
    right = np.concatenate(right_channel)[-SAMPLE_RATE:].astype(np.float32) / 32768.0
    assert talker_levels(right, [6])[6] == pytest.approx(heard[6], rel=0.01)


def mixed_voices(levels: dict[int, float], samples: int, start: int = 0) -> np.ndarray:
    return sum((SpeechSynth(site).block_at(start, samples, level)
                for site, level in levels.items()), np.zeros(samples, np.float32))


@pytest.mark.parametrize("cut_ms", [20, 40, 60])
def test_levels_read_through_a_cut_in_the_audio(cut_ms):
    """The MCU cuts 40 or 60 ms of standing backlog out of a site's input, a jitter buffer
    drops a late packet: every partial's phase jumps there (687.5 Hz by half a cycle over
    40 ms). One FFT over the window read the talkers down to 0.59-0.61 of their level, under
    0.7 for 40 % of the cut positions, and a silent neighbour at up to 0.061; the median of
    the half-second segments reads every talker at 0.7 of its level or more and a silent
    neighbour under 0.07, wherever the cut falls (swept over positions and voice phases)."""
    cut = SAMPLE_RATE * cut_ms // 1000
    for start in (0, 777, 12_345):
        whole = mixed_voices({30: 0.8, 31: 0.5}, SAMPLE_RATE + cut, start=start)
        for at_s in np.linspace(0.02, 0.98, 25):
            at = int(SAMPLE_RATE * at_s)
            received = np.concatenate((whole[:at], whole[at + cut:]))
            heard = talker_levels(received, [30, 31, 32, 33])
            assert 0.7 * 0.8 < heard[30] < 1.15 * 0.8, (start, at_s)
            assert 0.7 * 0.5 < heard[31] < 1.15 * 0.5, (start, at_s)
            assert heard[32] < 0.07 and heard[33] < 0.07, (start, at_s)


def test_an_uncut_window_reads_each_level_and_nothing_else():
    heard = talker_levels(mixed_voices({30: 0.8, 31: 0.5}, SAMPLE_RATE, start=777),
                          range(26, 36))
    assert heard[30] == pytest.approx(0.8, rel=0.06) and heard[31] == pytest.approx(0.5, rel=0.06)
    assert max(level for talker, level in heard.items() if talker not in (30, 31)) < 0.005


def test_a_talker_who_started_within_the_window_reads_as_the_middle_segment_hears_it():
    """The median of three segments is the middle one's reading (0.25-0.75 s of the window):
    nothing for a talker who started 0.25 s ago, part after 0.5 s, all of it after 0.75 s."""
    readings = []
    for talking_s in (0.25, 0.5, 0.75, 1.0):
        voice = mixed_voices({31: 0.6}, SAMPLE_RATE)
        voice[: int(SAMPLE_RATE * (1.0 - talking_s))] = 0.0
        readings.append(talker_levels(voice, [31])[31])
    assert readings[0] < 0.03
    assert 0.1 < readings[1] < 0.45
    assert readings[2] == pytest.approx(0.6, rel=0.06) and readings[3] == pytest.approx(0.6, rel=0.06)


def opus_decoder() -> av.CodecContext:
    # As aiortc's receiver decodes Opus: libopus, 48 kHz stereo s16.
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout, decoder.format = SAMPLE_RATE, "stereo", "s16"
    return decoder


def decode_left(decoder: av.CodecContext, packets: list[av.Packet]) -> np.ndarray:
    """Channel 0 of what the packets decode to, as float in -1..1."""
    left = [frame.to_ndarray().reshape(-1, 2)[:, 0]
            for packet in packets for frame in decoder.decode(packet)]
    return np.concatenate(left).astype(np.float32) / 32768.0


@pytest.mark.parametrize("site", [0, 1])  # periods of 50 and 100 blocks
def test_cached_packets_decode_to_each_level_spoken(site):
    synth = SpeechSynth(site)
    voice = OpusVoice(synth)
    assert voice.cache is not None
    decoder = opus_decoder()
    heard = {}
    for level in (0.3, 0.7):
        synth.set_level(level)
        # 1.2 s each (both wrap round the period at least once); the last second is read.
        packets = [voice.next_packet(960 * block) for block in range(60)]
        levels = talker_levels(decode_left(decoder, packets)[-SAMPLE_RATE:], range(8))
        assert max(heard for talker, heard in levels.items() if talker != site) < 0.02
        heard[level] = levels[site]
    assert heard[0.3] == pytest.approx(0.3, rel=0.15)
    assert heard[0.7] == pytest.approx(0.7, rel=0.15)
    assert voice.live_frames_encoded == 0
    assert voice.cache.runs_encoded == len(voice.cache) == 2


@pytest.mark.parametrize(("site", "lead_in"), [(0, 0), (1, 0), (0, 123)])
def test_cached_packets_are_those_of_one_continuous_stream(site, lead_in):
    """Each cached packet is, byte for byte, what an encoder running since the start would
    send for the same block from what the frame path draws: seamless at the wrap, and the
    block position follows the synth's, wherever the synth had got to."""
    cached_synth, live_synth = SpeechSynth(site), SpeechSynth(site)
    for synth in (cached_synth, live_synth):
        synth.set_level(0.5)
        synth.next_block(lead_in)
    voice = OpusVoice(cached_synth)
    assert voice.cache is not None
    period = voice.cache.period_frames
    cached = [bytes(voice.next_packet(960 * block)) for block in range(2 * period)]
    encoder = OpusPacketEncoder()
    live = [bytes(encoder.encode(live_synth.next_block_s16(AUDIO_BLOCK_SAMPLES), 960 * block)[0])
            for block in range(2 * period)]
    # The live encoder's second period is the one it encoded with a period of history.
    assert cached == live[period:] * 2
    assert cached[0] != live[0]  # a fresh encoder's first packet is not what wraps round


def test_a_level_is_encoded_once_and_the_schedule_keeps_time():
    synth = SpeechSynth(0, speech.talk_spurts(talk_s=1.0, pause_s=1.0, level=0.4))
    voice = OpusVoice(synth)
    cache = voice.cache
    assert cache is not None and cache.period_frames == 50
    packets = [voice.next_packet(960 * block) for block in range(200)]  # 4 s: 2 spurts, 2 pauses
    assert [packet.pts for packet in packets[:3]] == [0, 960, 1920]
    assert all(packet.time_base == fractions.Fraction(1, SAMPLE_RATE) for packet in packets)
    # The synth moved on a block per packet, so the schedule went through its spurts.
    assert synth.level_now() == 0.4
    assert len(cache) == 2 and cache.runs_encoded == 2  # 0.4 and silence, each one run
    assert cache.frames_encoded == 2 * 2 * cache.period_frames
    speaking, pausing = packets[10:40], packets[60:90]
    assert {bytes(packet) for packet in pausing} <= set(cache.cached_run(0.0) or ())
    assert {bytes(packet) for packet in speaking} <= set(cache.cached_run(0.4) or ())
    # A muted talker is silence: the run already there.
    synth.set_silent(True)
    silent = decode_left(opus_decoder(), [voice.next_packet(960 * block) for block in range(10)])
    assert np.abs(silent).max() < 1e-3  # the decoder may dither by a step
    assert cache.runs_encoded == 2


def test_the_cache_keeps_the_levels_used_last():
    synth = SpeechSynth(0)
    voice = OpusVoice(synth)
    cache = voice.cache
    assert cache is not None
    levels = [round(0.1 * step, 1) for step in range(1, MAX_CACHED_LEVELS + 2)]
    for level in levels:
        synth.set_level(level)
        voice.next_packet(0)
    assert len(cache) == MAX_CACHED_LEVELS
    assert cache.runs_encoded == len(levels)
    synth.set_level(levels[-1])  # still there
    voice.next_packet(0)
    assert cache.runs_encoded == len(levels)
    synth.set_level(levels[0])  # the least recently used, dropped: encoded again
    voice.next_packet(0)
    assert cache.runs_encoded == len(levels) + 1


def test_calls_of_one_talker_share_its_packets():
    synth = SpeechSynth(3)
    synth.set_level(0.6)
    first, second = OpusVoice(synth), OpusVoice(synth)
    for block in range(100):  # 200 blocks at one level in all
        first.next_packet(960 * block)
        second.next_packet(960 * block)
    cache = first.cache
    assert cache is second.cache and cache is not None
    assert cache.runs_encoded == 1 and cache.frames_encoded == 2 * cache.period_frames


def voice_too_long_to_tabulate(monkeypatch) -> SpeechSynth:
    monkeypatch.setattr(speech, "MAX_TABLE_SECONDS", 1)  # site 5 repeats every 2 s
    return SpeechSynth(5)


def voice_of_a_period_not_whole_blocks(monkeypatch) -> SpeechSynth:
    return SpeechSynth(0, sample_rate=44100)  # repeats every 44100 samples: 45.9 blocks


@pytest.mark.parametrize("make_synth", [voice_too_long_to_tabulate,
                                        voice_of_a_period_not_whole_blocks])
def test_a_voice_without_whole_blocks_per_period_is_encoded_live(monkeypatch, make_synth):
    synth = make_synth(monkeypatch)
    synth.set_level(0.5)
    voice = OpusVoice(synth)
    assert voice.cache is None
    packets = [voice.next_packet(960 * block) for block in range(40)]
    assert voice.live_frames_encoded == 40
    assert [packet.pts for packet in packets[:2]] == [0, 960]
    heard = talker_levels(decode_left(opus_decoder(), packets)[-24000:], [synth.site_index],
                          synth.sample_rate)
    assert heard[synth.site_index] == pytest.approx(0.5, rel=0.15)


async def test_the_track_sends_the_cached_packets():
    synth = SpeechSynth(4)
    synth.set_level(0.5)
    track = SpeechTrack(synth, "OPUS")
    packets = [await track.recv() for _ in range(3)]
    track.stop()
    cache = track.opus_voice.cache
    assert cache is not None and cache.runs_encoded == 1
    assert [bytes(packet) for packet in packets] == list((cache.cached_run(0.5) or ())[:3])
    assert track.opus_voice.live_frames_encoded == 0


def average_bitrate(packets: list[av.Packet]) -> float:
    """bit/s over the packets, 20 ms of audio each."""
    return sum(packet.size for packet in packets) * 8 / (len(packets) * AUDIO_BLOCK_SAMPLES
                                                         / SAMPLE_RATE)


async def test_the_terminal_s_opus_leaves_at_the_negotiated_average_bitrate():
    """What the track hands aiortc to send, 5.2 s of it paced in real time: on average the
    48 kbit/s the SDP states (maxaveragebitrate=48000; FFmpeg's unconstrained VBR sent
    this voice at ~71 kbit/s), and it decodes to the talker at the level spoken."""
    synth = SpeechSynth(6)
    synth.set_level(0.6)
    track = SpeechTrack(synth, "OPUS")
    packets = [await track.recv() for _ in range(260)]
    track.stop()
    assert all(isinstance(packet, av.Packet) for packet in packets)
    assert [packet.pts for packet in packets] == [960 * block for block in range(260)]
    assert average_bitrate(packets) == pytest.approx(OPUS_BITRATE, rel=0.1)
    heard = talker_levels(decode_left(opus_decoder(), packets)[-SAMPLE_RATE:], range(16))
    assert heard[6] == pytest.approx(0.6, rel=0.15)
    assert max(level for talker, level in heard.items() if talker != 6) < 0.02


def unchanged(samples: np.ndarray) -> np.ndarray:
    return samples


@pytest.mark.parametrize(("site", "level", "live"),
                         [(0, 0.3, False), (1, 1.0, False), (2, 0.5, True), (3, 1.0, True)])
def test_cached_and_live_opus_hold_the_average_bitrate(site, level, live):
    """Both ways a terminal's voice is encoded, the cached runs (periods of 50 and 100 blocks)
    and the live encoder (a `shape`d block, as the sync pattern's clicks make it), hold the
    48 kbit/s average over 6 s at a low and a full level, and decode to the level spoken."""
    synth = SpeechSynth(site)
    synth.set_level(level)
    voice = OpusVoice(synth)
    packets = [voice.next_packet(960 * block, unchanged if live else None)
               for block in range(300)]
    assert voice.live_frames_encoded == (300 if live else 0)
    assert average_bitrate(packets) == pytest.approx(OPUS_BITRATE, rel=0.1)
    heard = talker_levels(decode_left(opus_decoder(), packets)[-SAMPLE_RATE:], range(8))
    assert heard[site] == pytest.approx(level, rel=0.15)
    assert max(other for talker, other in heard.items() if talker != site) < 0.02


@pytest.mark.parametrize("live", [False, True])
def test_each_packet_s_level_is_the_level_of_the_block_it_encodes(live):
    """RFC 6464: the level the sender writes in a voice packet (OpusVoice.last_level_dbov)
    is that of the samples the packet encodes, cached or encoded live: the same block drawn
    by the frame path gives it (rtc/audio_level.samples_level_dbov); silence is -127."""
    schedule = speech.talk_spurts(talk_s=0.4, pause_s=0.2, level=0.5)
    voiced, drawn = SpeechSynth(3, schedule), SpeechSynth(3, schedule)
    voice = OpusVoice(voiced)

    def unchanged(samples: np.ndarray) -> np.ndarray:
        return samples

    levels, expected = [], []
    for block in range(60):  # 1.2 s: two spurts, two pauses
        voice.next_packet(960 * block, unchanged if live else None)
        levels.append(voice.last_level_dbov)
        expected.append(samples_level_dbov(drawn.next_block_s16(AUDIO_BLOCK_SAMPLES)))
    assert levels == expected
    assert levels[25] == -127  # in the first pause
    assert -30 < levels[5] < -3  # talking at 0.5 (TALKER_PEAK x 0.5, an envelope)
