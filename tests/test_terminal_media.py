"""The terminal's media: the encoded loop, the tracks, speech synthesis and per-talker levels."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from terminals.frame_counter import is_keyframe
from terminals.marker import MarkerReading, read_marker
from terminals.media_sources import (
    EncodedVideoTrack,
    SpeechTrack,
    VideoFormat,
    decode_packets,
    encode_loop,
)
from terminals.receiver import AudioReceiver
from terminals.scene import CameraScene
from terminals.send_log import SendLog
from terminals.speech import SAMPLE_RATE, SpeechSynth, loudest, talk_spurts, talker_levels

SMALL = VideoFormat(640, 360, 30, 600_000)


@pytest.fixture(scope="module")
def scene() -> CameraScene:
    return CameraScene(9, "Site 9", SMALL.width, SMALL.height, 40)


@pytest.fixture(scope="module", params=["H264", "VP8"])
def loop(request, scene):
    return encode_loop(scene, request.param, SMALL, keyframe_interval=16)


def test_loop_is_one_packet_per_frame_with_keyframes_where_promised(loop):
    assert loop.frames == 40
    assert loop.keyframes == (0, 16, 32)
    assert loop.next_keyframe(5) == 16 and loop.next_keyframe(16) == 16
    assert loop.next_keyframe(33) == 0  # wraps round


def test_keyframes_are_told_from_the_bitstream_without_decoding(loop):
    found = tuple(i for i, packet in enumerate(loop.packets) if is_keyframe(loop.codec, packet))
    assert found == loop.keyframes


def test_loop_decodes_seamlessly_twice_round(loop):
    pictures = decode_packets(loop.codec, list(loop.packets) * 2)
    assert len(pictures) == 80
    readings = [read_marker(picture) for picture in pictures]
    assert readings == [MarkerReading(9, i % 40) for i in range(80)]


def test_a_keyframe_alone_decodes(loop):
    pictures = decode_packets(loop.codec, [loop.packets[16], loop.packets[17]])
    assert [read_marker(p) for p in pictures] == [MarkerReading(9, 16), MarkerReading(9, 17)]


async def test_video_track_sends_the_loop_logs_sends_and_jumps_to_a_keyframe(loop):
    log = SendLog()
    track = EncodedVideoTrack(9, loop, log)
    packets = [await track.recv() for _ in range(3)]
    assert [bytes(p) for p in packets] == list(loop.packets[:3])
    assert [p.pts for p in packets] == [0, 3000, 6000]
    assert packets[0].time_base == fractions.Fraction(1, 90000)
    assert all(log.sent_at(9, i) is not None for i in range(3))
    assert log.sent_at(9, 3) is None

    track.request_keyframe()  # a PLI: the next packet is the loop's next keyframe
    jumped = await track.recv()
    assert bytes(jumped) == loop.packets[16]
    assert jumped.pts == 9000  # time goes on without a gap
    assert bytes(await track.recv()) == loop.packets[17]
    assert track.frames_sent == 5 and track.keyframe_requests == 1
    track.stop()


def test_send_log_latency_only_within_one_loop():
    log = SendLog()
    log.register_site(2, "0102", loop_seconds=2.0)
    log.record_send(2, 7, at=100.0)
    assert log.latency(2, 7, received_at=100.25) == pytest.approx(0.25)
    assert log.latency(2, 7, received_at=99.0) is None  # before the send: an older loop's
    assert log.latency(2, 7, received_at=103.0) is None  # beyond a loop: ambiguous
    assert log.latency(2, 8, received_at=100.3) is None  # never sent
    assert log.site_uri(2) == "0102"


async def test_speech_track_sends_20ms_stereo_blocks_at_48k():
    track = SpeechTrack(SpeechSynth(1))
    frames = [await track.recv() for _ in range(3)]
    assert [f.samples for f in frames] == [960] * 3
    assert [f.pts for f in frames] == [0, 960, 1920]
    assert frames[0].sample_rate == SAMPLE_RATE and frames[0].layout.name == "stereo"
    interleaved = frames[1].to_ndarray().reshape(-1, 2)
    assert np.array_equal(interleaved[:, 0], interleaved[:, 1])
    track.stop()


def test_schedule_spurts_override_and_silence():
    synth = SpeechSynth(0, talk_spurts(talk_s=1.0, pause_s=0.5, level=0.6))
    assert synth.level_now() == 0.6
    synth.next_block(SAMPLE_RATE)  # one second later: the pause
    assert synth.level_now() == 0.0
    assert not synth.next_block(960).any()
    synth.next_block(SAMPLE_RATE // 2)
    assert synth.level_now() == 0.6
    assert synth.talk_louder(1.5) == pytest.approx(0.9)
    synth.next_block(SAMPLE_RATE)  # the override holds through the schedule's pause
    assert synth.level_now() == pytest.approx(0.9)
    synth.set_silent(True)
    assert synth.level_now() == 0.0
    synth.set_silent(False)
    synth.set_level(None)
    assert synth.level_now() in (0.0, 0.6)


def mix_of(levels: dict[int, float], seconds: float) -> np.ndarray:
    synths = []
    for site, level in levels.items():
        synth = SpeechSynth(site)
        synth.set_level(level)
        synths.append(synth)
    return sum(s.next_block(int(SAMPLE_RATE * seconds)) for s in synths)


def opus_round_trip(mono: np.ndarray, bitrate: int = 48000) -> np.ndarray:
    """Through libopus at `bitrate` in 20 ms frames, as aiortc sends it (stereo s16)."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = SAMPLE_RATE, "stereo", "s16"
    encoder.bit_rate = bitrate
    encoder.time_base = fractions.Fraction(1, SAMPLE_RATE)
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout, decoder.format = SAMPLE_RATE, "stereo", "s16"
    receiver = AudioReceiver(window_s=1.0)
    pcm = np.round(np.clip(mono, -1, 1) * 32767).astype(np.int16)
    for start in range(0, len(pcm) - 959, 960):
        block = np.repeat(pcm[start : start + 960], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(block, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        frame.time_base = encoder.time_base
        for packet in encoder.encode(frame):
            for decoded in decoder.decode(packet):
                receiver.on_frame(decoded)
    return receiver.recent_samples()


def test_per_talker_levels_survive_opus():
    levels = {2: 0.8, 5: 0.4, 11: 0.1}
    heard = talker_levels(opus_round_trip(mix_of(levels, 2.0)), range(16))
    for site, level in levels.items():
        assert heard[site] == pytest.approx(level, rel=0.15)
    assert max(v for k, v in heard.items() if k not in levels) < 0.02
    assert sorted(levels, key=heard.get, reverse=True) == [2, 5, 11]
    assert loudest(heard) == 2


def test_n_minus_one_mute_and_quiet_read_as_absence():
    everyone = {0: 0.5, 1: 0.5, 2: 0.5, 3: 0.5}
    # What site 1 hears from an N-1 mix in which site 3 is muted: 0 and 2 only.
    heard_by_1 = talker_levels(opus_round_trip(mix_of({0: 0.5, 2: 0.5}, 1.5)), everyone)
    assert heard_by_1[0] > 0.4 and heard_by_1[2] > 0.4
    assert heard_by_1[1] < 0.02 and heard_by_1[3] < 0.02
    # A quiet site hears silence.
    silence = opus_round_trip(np.zeros(SAMPLE_RATE * 2, np.float32))
    assert max(talker_levels(silence, everyone).values()) < 0.01


def test_too_little_audio_tells_nothing():
    assert talker_levels(mix_of({0: 0.5}, 0.2), [0, 1]) == {}
