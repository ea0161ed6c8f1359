"""The MCU's audio path from the sites' Opus packets to what each site decodes: a conference's
media fed the terminals' packets (terminals/speech_packets.py) through the inline decoders,
its 20 ms steps run, each site's outgoing packets decoded by libopus and measured per talker
(terminals/speech.talker_levels). N-1, the levels for voice switching, a continuous RTP
clock, the mix encoders' bitrate; the Opus encoder's reused frame (rtc/opus_packets.py)
against a new AVFrame per frame, packet for packet; the mixer's N-1 mixes against the rule
computed site by site."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc import RTCRtpCodecParameters
from aiortc.jitterbuffer import JitterFrame

from mcu.calls import Call
from mcu.events import SiteCallStateChanged
from mcu.media.audio_mixer import FRAME_SAMPLES, SAMPLE_RATE, AudioMixer, MixInput, volume_gain
from mcu.media.conference_media import ConferenceMedia
from mcu.media.inline_audio import InlineAudioDecoder
from mcu.media.site_media import SiteMedia
from mcu.media.voice_activity import level_of_power
from mcu.model import SiteCallState, SiteSpec
from rtc.opus_packets import (
    OPUS_BITRATE,
    WEBRTC_DESKTOP_COMPLEXITY,
    WEBRTC_DESKTOP_VBR,
    OpusPacketEncoder,
)
from terminals.speech import SpeechSynth, talker_levels
from terminals.speech_packets import SpeechPacketCache

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                             payloadType=111)
LEVELS = (0.5, 0.3, 0.2, 0.4)  # what each of the four sites talks at


class Collected:
    """A site's outgoing audio as the direct sender would take it (mcu/media/direct_send)."""

    def __init__(self) -> None:
        self.packets: list[av.Packet] = []
        self.levels: list[int] = []  # the level (dBov) each packet states (RFC 6464)

    def send(self, packet: av.Packet, audio_level: int) -> None:
        self.packets.append(packet)
        self.levels.append(audio_level)

    def end(self) -> None:
        """Nothing to close: the packets stay in the list for the test to decode."""


def run_conference(levels: tuple[float, ...], steps: int
                   ) -> tuple[ConferenceMedia, dict[str, Collected]]:
    media = ConferenceMedia("c1", report_levels=lambda *_: None, executor=ThreadPoolExecutor(1))
    feeds = []
    outputs: dict[str, Collected] = {}
    for index, level in enumerate(levels):
        uri = f"site{index}"
        site = SiteMedia(Call("c1", SiteSpec(uri, name=uri), on_change=lambda _call: None))
        site.audio_codec = "OPUS"
        media.add_site(site)
        media.apply(SiteCallStateChanged("c1", uri, SiteCallState.IN_CONFERENCE))
        outputs[uri] = Collected()
        site.audio_out.attach_output(outputs[uri])
        cache = SpeechPacketCache(SpeechSynth(index))
        feeds.append((InlineAudioDecoder(site.audio_in.add), cache, level))
    for tick in range(steps):
        for decoder, cache, level in feeds:
            packet = cache.packet(tick * FRAME_SAMPLES, level)
            decoder.put((OPUS, JitterFrame(packet, tick * FRAME_SAMPLES)))
        media.mix_once()
        if tick % 5 == 4:
            media.report_levels()
    return media, outputs


def decode(packets: list[av.Packet]) -> np.ndarray:
    decoder = av.CodecContext.create("libopus", "r")
    decoder.layout, decoder.sample_rate = "mono", SAMPLE_RATE
    frames = [frame.to_ndarray().reshape(-1) for packet in packets
              for frame in decoder.decode(packet)]
    return np.concatenate(frames)


def test_every_site_decodes_the_others_at_their_levels_and_never_itself():
    media, outputs = run_conference(LEVELS, steps=150)  # 3 s
    for index, collected in enumerate(outputs.values()):
        heard = talker_levels(decode(collected.packets)[-SAMPLE_RATE:], range(len(LEVELS)))
        for talker, level in enumerate(LEVELS):
            if talker == index:
                assert heard[talker] < 0.02, f"site{index} hears itself at {heard[talker]}"
            else:
                assert heard[talker] == pytest.approx(level, rel=0.15), (index, talker, heard)
        # the levels its packets state are its mix's: over the last second, their power
        # within 1 dB of the decoded mix's (Opus keeps a voice's power)
        stated = collected.levels[-50:]
        stated_db = 10 * math.log10(sum(10 ** (each / 10) for each in stated) / len(stated))
        mix = decode(collected.packets)[-SAMPLE_RATE:].astype(np.float64) / 32767
        assert stated_db == pytest.approx(10 * math.log10(float(np.mean(mix ** 2))), abs=1.0)
    # the levels for voice switching follow the talkers' loudness (-6 dB: ~10 points)
    levels = media.last_levels
    assert [uri for uri, _ in sorted(levels.items(), key=lambda item: -item[1])] == [
        "site0", "site3", "site1", "site2"]
    for index, level in enumerate(LEVELS):
        # a report covers 100 ms: the talker's level over some 100 ms of its voice (the
        # syllabic envelope moves it a few points from one window to the next)
        voice = SpeechSynth(index).block_s16_at(0, 2 * SAMPLE_RATE, level).astype(np.float64)
        windows = [level_of_power(float(np.mean(voice[start : start + SAMPLE_RATE // 10] ** 2)))
                   for start in range(0, len(voice) - SAMPLE_RATE // 10, FRAME_SAMPLES)]
        assert min(windows) <= levels[f"site{index}"] <= max(windows), (index, windows)


def test_each_sites_packets_keep_one_rtp_clock_and_the_mix_bitrate():
    _media, outputs = run_conference(LEVELS, steps=150)
    for collected in outputs.values():
        pts = [packet.pts for packet in collected.packets if packet.pts is not None]
        assert len(pts) == len(collected.packets)
        # one packet per 20 ms step, its pts the step's first sample, no gap, no repeat
        assert pts == [pts[0] + index * FRAME_SAMPLES for index in range(len(pts))]
        assert len(pts) >= 147  # every step once the fifos primed (2 frames)
        settled = collected.packets[50:]  # after the first second
        bitrate = sum(packet.size for packet in settled) * 8 / (len(settled) * 0.02)
        # constrained VBR holds the target (FFmpeg's unconstrained VBR gave ~94 kbit/s)
        assert bitrate == pytest.approx(OPUS_BITRATE, rel=0.1)


def speech_mix(blocks: int) -> list[np.ndarray]:
    synths = [SpeechSynth(talker) for talker in range(3)]
    return [np.clip(sum(synth.next_block_s16(FRAME_SAMPLES).astype(np.int32)
                        for synth in synths), -32768, 32767).astype(np.int16)
            for _ in range(blocks)]


@pytest.mark.parametrize(("settings", "options"), [
    ({}, {"compression_level": str(WEBRTC_DESKTOP_COMPLEXITY), "vbr": WEBRTC_DESKTOP_VBR}),
    ({"complexity": None, "vbr": None}, {}),  # FFmpeg's defaults
    ({"complexity": 5, "vbr": "off"}, {"compression_level": "5", "vbr": "off"}),
])
def test_the_encoders_reused_frame_gives_the_packets_of_a_new_frame_each_time(settings, options):
    options = {"application": "voip"} | options
    reference = av.CodecContext.create("libopus", "w")
    reference.bit_rate, reference.format, reference.layout = OPUS_BITRATE, "s16", "mono"
    reference.sample_rate, reference.time_base = SAMPLE_RATE, Fraction(1, SAMPLE_RATE)
    reference.options = options
    encoder = OpusPacketEncoder(**settings)
    for tick, block in enumerate(speech_mix(100)):
        frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, tick * FRAME_SAMPLES, \
            Fraction(1, SAMPLE_RATE)
        expected = [bytes(packet) for packet in reference.encode(frame)]
        got = encoder.encode(block, tick * FRAME_SAMPLES)
        assert [bytes(packet) for packet in got] == expected
        assert all(packet.pts == tick * FRAME_SAMPLES for packet in got)


def test_the_encoder_refuses_settings_libopus_does_not_have():
    with pytest.raises(ValueError, match="complexity"):
        OpusPacketEncoder(complexity=11)
    with pytest.raises(ValueError, match="VBR"):
        OpusPacketEncoder(vbr="sometimes")


def reference_mix(inputs: list[MixInput], frames: dict[str, np.ndarray],
                  speakers: set[str] | None) -> dict[str, np.ndarray]:
    """What each site hears, site by site, straight from the rule in mcu/media/audio_mixer.py:
    the mixed speakers' frames at their gains, summed, less its own contribution; silence
    when quiet; saturated to int16."""
    mixed = [site for site in inputs if not site.muted and site.uri in frames
             and (speakers is None or site.uri in speakers)]
    heard = {}
    for listener in inputs:
        if listener.quiet:
            heard[listener.uri] = np.zeros(FRAME_SAMPLES, np.int16)
            continue
        total = np.zeros(FRAME_SAMPLES, np.float64)
        for site in mixed:
            if site.uri != listener.uri:
                total += frames[site.uri].astype(np.float64) * volume_gain(site.volume)
        heard[listener.uri] = np.clip(np.trunc(total), -32768, 32767).astype(np.int16)
    return heard


def test_the_mixers_n_minus_1_mixes_follow_the_rule_site_by_site():
    rng = np.random.default_rng(17)
    for _ in range(500):
        count = int(rng.integers(1, 9))
        inputs = [MixInput(f"s{index}", muted=bool(rng.random() < 0.2),
                           quiet=bool(rng.random() < 0.2),
                           volume=int(rng.choice([50, 50, 0, 25, 100, 80])))
                  for index in range(count)]
        loud = rng.random() < 0.5  # full-scale frames: the sums saturate
        frames = {site.uri: rng.integers(-32768 if loud else -4000, 32767 if loud else 4000,
                                         FRAME_SAMPLES, dtype=np.int16)
                  for site in inputs if rng.random() < 0.8}
        speakers = None if rng.random() < 0.3 else {
            site.uri for site in inputs if rng.random() < 0.5 and not site.muted}
        result = AudioMixer().mix(inputs, frames, speakers)
        for uri, expected in reference_mix(inputs, frames, speakers).items():
            # float32 sums against float64: at most one step of rounding apart
            assert np.abs(result.heard(uri).astype(np.int32) - expected).max() <= 1, uri
