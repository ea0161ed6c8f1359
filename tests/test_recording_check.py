"""The check that every recording a test leaves is playable (tests/recording_check.py):

- a recording the recorder's writer made is playable, and so is the same file cut in the
  middle of a fragment (a kill);
- bytes that are no MP4, and a file whose audio track has no packet (what a recording of a
  conference without sites was before the writer laid silence), are not, each with its
  reason;
- a pytest run whose test leaves an unplayable file under recordings/ fails, naming the
  file and the reason; the stand_in_recordings mark leaves a test's files unopened.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np

from mcu.media.recorder import MAIN, Mp4Writer
from mcu.media.video_encoders import EncoderTuning, open_encoder
from tests.recording_check import recording_problems
from tests.test_recording_writer_timing import FORMAT, write

PROJECT = Path(__file__).resolve().parents[1]


def test_a_recording_and_a_cut_one_are_playable(tmp_path):
    path = tmp_path / "made.mp4"
    write(path)
    assert recording_problems(path) == []
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert recording_problems(cut) == []


def test_no_mp4_and_an_empty_audio_track_are_not_playable(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"recording of nobody" * 100)
    (problem,) = recording_problems(garbage)
    assert problem.startswith("does not open"), problem

    # pictures and no audio packet: the writer's container, fed video only, closed without
    # its close (which now lays silence to the end)
    path = tmp_path / "mute.mp4"
    writer = Mp4Writer(path, FORMAT)
    encoder = open_encoder(FORMAT, EncoderTuning())
    for index in range(10):
        frame = av.VideoFrame.from_ndarray(
            np.full((FORMAT.height, FORMAT.width, 3), 40, np.uint8), format="rgb24"
        ).reformat(format="yuv420p")
        for packet in encoder.encode(frame, index * 3000, index == 0):
            writer.video(MAIN, bytes(packet), index * 3000, bool(packet.is_keyframe))
    writer._container.close()  # as a writer that never laid audio left it
    problems = recording_problems(path)
    assert problems == ["track 2 (audio, aac) has no packet"], problems


LEAVES = """
import pytest

@pytest.mark.parametrize("marked", [
    False, pytest.param(True, marks=pytest.mark.stand_in_recordings)])
def test_leaves(tmp_path, marked):
    (tmp_path / "recordings" / "7").mkdir(parents=True)
    (tmp_path / "recordings" / "7" / "x.mp4").write_bytes(b"no media")
"""


def test_a_test_leaving_an_unplayable_recording_fails_naming_it(tmp_path):
    (tmp_path / "test_leaves.py").write_text(LEAVES)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "tests.recording_check", "--rootdir", str(tmp_path), str(tmp_path / "test_leaves.py")],
        cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout
    assert "2 passed, 1 error" in run.stdout, run.stdout
    assert "ERROR at teardown of test_leaves[False]" in run.stdout, run.stdout
    assert "left 1 unplayable recording(s)" in run.stdout and "x.mp4" in run.stdout
    assert "does not open" in run.stdout, run.stdout
