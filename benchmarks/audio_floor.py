"""The audio half of a conference's codec floor: its Opus decodes and encodes alone.

The MCU decodes every site's voice (rtc/opus_packets.MonoOpusDecoder, one 20 ms frame per
packet) and encodes each distinct mix once (mcu/media/mix_encoders.py: libopus at the mix
encoders' complexity and VBR mode, one encoder per mix heard). Its floor, as the video's
(benchmarks/codec_floor.py), is that codec work with nothing else:

  - Decodes: `sites` talkers' voices as their simulated terminals send them (terminals/
    speech.SpeechSynth, site i's talker at its default schedule, its packets from the
    terminals' own OpusVoice, terminals/speech_packets.py), encoded first, outside the
    measurement; then every packet decoded by the MCU's decoder, 50 a second per site.
  - Encodes: `mixes` distinct mixes a frame on average, as many as the MCU encoded in the
    scenario it is the floor of (media_load reads it from the MCU: audio_frames_encoded over
    its window); fractional averages are kept exact over the frames (one more mix on some
    frames). Mix k is every decoded voice but site k's, clipped to int16: the N-1 mix a
    talker hears. Summing the mixes is numpy work, not codec work: it is outside the timing.

CPU: process CPU time spent in the decode and the encode calls, as % of one core over the
seconds of media (the frames back to back, not paced).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from aiortc.jitterbuffer import JitterFrame

from rtc.opus_packets import OPUS_FRAME_SAMPLES, MonoOpusDecoder, OpusPacketEncoder
from terminals.speech import SpeechSynth
from terminals.speech_packets import OpusVoice

FRAMES_PER_SECOND = 50  # 20 ms frames


@dataclass(frozen=True)
class AudioFloor:
    frames_decoded: int
    frames_encoded: int
    decode_cpu_s: float
    encode_cpu_s: float


def talker_packets(site_index: int, frames: int) -> list[bytes]:
    """The first `frames` Opus packets site `site_index`'s terminal sends of its voice (its
    call's OpusVoice: the talker's cached packets, or live encoding)."""
    voice = OpusVoice(SpeechSynth(site_index))
    return [bytes(voice.next_packet(frame * OPUS_FRAME_SAMPLES)) for frame in range(frames)]


def measure_audio_floor(sites: int, mixes: float, seconds: float) -> AudioFloor:
    """Decode `seconds` of `sites` voices and encode `mixes` distinct mixes a frame."""
    if sites < 0 or mixes < 0 or seconds <= 0:
        raise ValueError("sites and mixes must not be negative, seconds must be positive")
    frames = round(seconds * FRAMES_PER_SECOND)
    streams = [talker_packets(index, frames) for index in range(sites)]
    decoders = [MonoOpusDecoder() for _ in range(sites)]
    encoders: list[OpusPacketEncoder] = []
    decode_s = encode_s = 0.0
    decoded = encoded = 0
    credit = 0.0
    voices = np.zeros((max(sites, 1), OPUS_FRAME_SAMPLES), np.int32)
    for frame in range(frames):
        pts = frame * OPUS_FRAME_SAMPLES
        if decoders:  # no voices, no decode time: process_time counts every thread's CPU
            begun = time.process_time()
            for index, (decoder, stream) in enumerate(zip(decoders, streams, strict=True)):
                for audio in decoder.decode(JitterFrame(data=stream[frame], timestamp=pts)):
                    voices[index] = audio.to_ndarray().reshape(-1)[:OPUS_FRAME_SAMPLES]
                    decoded += 1
            decode_s += time.process_time() - begun
        credit += mixes
        due = int(credit)
        credit -= due
        while len(encoders) < due:
            encoders.append(OpusPacketEncoder())  # the mix encoders' settings
        total = voices.sum(axis=0)
        for k in range(due):
            heard = total - voices[k] if k < sites else total
            mix = np.clip(heard, -32768, 32767).astype(np.int16)
            begun = time.process_time()
            encoders[k].encode(mix, pts)
            encode_s += time.process_time() - begun
            encoded += 1
    return AudioFloor(decoded, encoded, round(decode_s, 6), round(encode_s, 6))
