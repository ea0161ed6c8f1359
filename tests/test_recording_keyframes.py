"""The recorder's inputs and keyframes (mcu/media/recorder.py), with real H.264 packets from
the MCU's encoder and the recorder's own writer thread, the groups stood in for by a stand-in
that counts keyframe requests (the race these cover is rare through a whole server:
tests/test_recording_content.py drives it from the outside):

- the content's first keyframe arriving before the main picture's (both groups start when
  a recording starts during content): the file cannot use it, so the next content picture
  asks the content group for another, and the track holds decodable content from it on;
- a recorder input moved to another group (a new content holder; a site's group appearing or
  closing, recorder_groups.py) passes nothing of the new group before its first keyframe,
  and asks for one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from mcu.media.output_format import OutputFormat
from mcu.media.recorder import CONTENT, Mp4Recording
from mcu.media.video_encoders import VIDEO_CLOCK, EncoderTuning, open_encoder

FORMAT = OutputFormat("H264", 320, 180, 30, 300_000)
STEP = VIDEO_CLOCK // FORMAT.fps


class StandInGroup:
    """What a recorder input needs of an EncoderGroup: subscribe, unsubscribe, keyframe
    requests (counted)."""

    def __init__(self) -> None:
        self.members: set[object] = set()
        self.keyframe_requests = 0

    def subscribe(self, member: object) -> None:
        self.members.add(member)

    def unsubscribe(self, member: object) -> None:
        self.members.discard(member)

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1


class Source:
    """One encoder's packets: a grey picture with a moving bar, keyframes when asked."""

    def __init__(self, level: int) -> None:
        self.encoder = open_encoder(FORMAT, EncoderTuning())
        self.level = level
        self.index = 0

    def packets(self, pts: int, keyframe: bool = False) -> list[av.Packet]:
        picture = np.full((FORMAT.height, FORMAT.width, 3), self.level, np.uint8)
        picture[:, (self.index * 7) % FORMAT.width] = 255
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        self.index += 1
        return list(self.encoder.encode(frame, pts, keyframe or self.index == 1))


def until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)


def track_packets(path: Path, index: int) -> tuple[int, int]:
    """(packets of video stream `index`, pictures decoded from them)."""
    with av.open(str(path)) as container:
        packets = sum(1 for p in container.demux(container.streams.video[index]) if p.size)
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(container.streams.video[index]))
    return packets, frames


def test_a_content_keyframe_before_the_file_opened_is_asked_for_again(tmp_path):
    recording = Mp4Recording(tmp_path / "c.mp4", FORMAT, "1", datetime.now(UTC), [])
    main_group, content_group = StandInGroup(), StandInGroup()
    recording.main.join_group(main_group)
    recording.content.join_group(content_group)
    main, content = Source(60), Source(180)
    pts = 10 * VIDEO_CLOCK
    for packet in content.packets(pts, keyframe=True):  # before any main picture
        recording.content.push(packet)
    until(lambda: recording.wants_keyframe(CONTENT))  # the writer could not use it
    pts += STEP
    for packet in main.packets(pts, keyframe=True):  # the file opens here
        recording.main.push(packet)
    asked = content_group.keyframe_requests
    for packet in content.packets(pts + 1):  # a delta: the content group is asked again
        recording.content.push(packet)
    assert content_group.keyframe_requests == asked + 1
    for frame in range(1, 31):
        pts += STEP
        for packet in main.packets(pts):
            recording.main.push(packet)
        # the group answers the request with a keyframe at its next picture
        for packet in content.packets(pts + 1, keyframe=frame == 1):
            recording.content.push(packet)
    until(lambda: not recording.wants_keyframe(CONTENT))
    recording.stop()
    assert recording.join()
    packets, frames = track_packets(recording.path, 1)
    assert packets == 30 and frames == 30, (packets, frames)
    assert track_packets(recording.path, 0) == (31, 31)


def test_an_input_moved_to_another_group_waits_for_its_keyframe(tmp_path):
    recording = Mp4Recording(tmp_path / "m.mp4", FORMAT, "1", datetime.now(UTC), [])
    first, second = StandInGroup(), StandInGroup()
    recording.main.join_group(first)
    old, new = Source(60), Source(120)
    pts = 10 * VIDEO_CLOCK
    for index in range(10):
        for packet in old.packets(pts, keyframe=index == 0):
            recording.main.push(packet)
        pts += STEP
    recording.main.join_group(second)  # regrouped: the other encoder's stream
    assert recording.main in second.members and recording.main not in first.members
    new.packets(pts)  # the new encoder's stream has begun before the recorder joined it
    pts += STEP
    for packet in new.packets(pts):  # a delta of it: not passed on, a keyframe asked for
        recording.main.push(packet)
    assert second.keyframe_requests == 1
    for index in range(10):
        pts += STEP
        for packet in new.packets(pts, keyframe=index == 0):
            recording.main.push(packet)
    recording.stop()
    assert recording.join()
    assert track_packets(recording.path, 0) == (20, 20)  # 10 + 10, every one decodable
