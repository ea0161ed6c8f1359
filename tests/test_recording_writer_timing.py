"""The recorder's writer alone (mcu/media/recorder.Mp4Writer), fed a perfect clock: pictures
every 1/30 s and 20 ms mixes stamped on the same clock, a white flash in the pictures and a
click in the mix at the same instants. terminals.av_sync reads the file back: the writer
itself adds no offset (within the click reader's 1-2 ms), no gap from the very first
picture on (before the fix the muxer shifted every stream by the AAC priming and the first
picture lasted 1.64 frames; the mix was laid up to 20 ms off its stamp, in 20 ms steps),
and the audio lasts as long as the video. Also: a mix arriving late for its place is laid
at its place (silence before it), not one block off.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from mcu.media.audio_mixer import FRAME_SAMPLES, SAMPLE_RATE
from mcu.media.output_format import OutputFormat
from mcu.media.recorder import MAIN, Mp4Writer
from mcu.media.video_encoders import VIDEO_CLOCK, EncoderTuning, open_encoder
from terminals import av_sync

FORMAT = OutputFormat("H264", 320, 180, 30, 300_000)
EVENTS_S = [0.5, 1.5, 2.5, 3.5]
SECONDS = 4.2
BASE = 7 * VIDEO_CLOCK  # the conference's clock when the file begins


def write(path: Path, skipped_mixes: range = range(0)) -> None:
    """A synthetic recording; the mixes of `skipped_mixes` (indexes) never come."""
    encoder = open_encoder(FORMAT, EncoderTuning())
    writer = Mp4Writer(path, FORMAT)
    rng = np.random.default_rng(7)
    items = [(index / FORMAT.fps, "video", index) for index in range(int(SECONDS * FORMAT.fps))]
    items += [(index * FRAME_SAMPLES / SAMPLE_RATE, "audio", index)
              for index in range(int(SECONDS * SAMPLE_RATE / FRAME_SAMPLES))]
    for at, kind, index in sorted(items):
        pts = BASE + round(at * VIDEO_CLOCK)
        if kind == "video":
            flash = any(event <= at < event + 0.1 for event in EVENTS_S)
            picture = np.full((FORMAT.height, FORMAT.width, 3), 235 if flash else 40, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
                format="yuv420p")
            for packet in encoder.encode(frame, pts, index == 0):
                writer.video(MAIN, bytes(packet), pts, bool(packet.is_keyframe))
            continue
        if index in skipped_mixes:
            continue
        samples = rng.normal(0, 300, FRAME_SAMPLES).astype(np.int16)
        for event in EVENTS_S:
            offset = round((event - at) * SAMPLE_RATE)
            if 0 <= offset < FRAME_SAMPLES - 48:
                samples[offset:offset + 48] = np.tile([20000, -20000], 24)
        writer.audio(samples, pts)
    writer.close()


def test_the_writer_adds_no_offset_and_no_gap_from_the_first_picture(tmp_path):
    path = tmp_path / "perfect.mp4"
    write(path)
    report = av_sync.measure(str(path))
    text = av_sync.table(report)
    assert len(report.events) == len(EVENTS_S), text
    assert report.max_abs_offset_ms is not None and report.max_abs_offset_ms <= 3, text
    assert report.max_gap_frames_whole <= 1.05, text  # the first picture lasts one frame
    assert report.video_fps == 30.0, text
    assert abs(report.duration_diff_ms) <= 30, text
    assert not report.failures, text


def test_a_mix_that_never_came_leaves_silence_and_the_next_stays_in_place(tmp_path):
    path = tmp_path / "holes.mp4"
    # 60 ms of mix lost right before the second event (its block is 1.5 s / 20 ms = 75)
    write(path, skipped_mixes=range(72, 75))
    report = av_sync.measure(str(path))
    text = av_sync.table(report)
    assert len(report.events) == len(EVENTS_S), text
    assert report.max_abs_offset_ms is not None and report.max_abs_offset_ms <= 3, text
    assert abs(report.duration_diff_ms) <= 30, text


def test_with_no_mix_the_audio_is_silence_as_long_as_the_video(tmp_path):
    """No site joined (the mixer makes no mix): the file's audio is silence to the last
    picture's end, not an empty track (found by tests/recording_check.py in the recordings
    of conferences without terminals)."""
    path = tmp_path / "silent.mp4"
    write(path, skipped_mixes=range(10_000))
    report = av_sync.measure(str(path))
    text = av_sync.table(report)
    assert report.clicks_s == [] and len(report.flashes_s) == len(EVENTS_S), text
    assert abs(report.duration_diff_ms) <= 30, text


def test_mixes_that_stop_coming_are_followed_by_silence_to_the_end(tmp_path):
    """Every site left half way (mixes until 2.0 s, none after): the clicks before stay in
    place and the audio still lasts as long as the video."""
    path = tmp_path / "left.mp4"
    write(path, skipped_mixes=range(100, 10_000))
    report = av_sync.measure(str(path))
    text = av_sync.table(report)
    assert len(report.events) == 2, text  # the events at 0.5 and 1.5 s
    assert report.max_abs_offset_ms is not None and report.max_abs_offset_ms <= 3, text
    assert abs(report.duration_diff_ms) <= 30, text
