"""The recorder's file writer (mcu/media/recorder.py; its docstring tells the file): on the
recording's thread, the H.264 packets of the main and content tracks muxed into fragmented MP4
as they come (the container opened at the first main keyframe, its avcC from that keyframe's
SPS and PPS), the mix encoded to AAC and laid on the video's clock, the main picture and mix
pushed over RTMP too when the booking asks (mcu/media/recording_push.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import av
import numpy as np

from mcu.media.audio_mixer import SAMPLE_RATE
from mcu.media.output_format import OutputFormat
from mcu.media.recording_push import RtmpPush
from mcu.media.video_encoders import VIDEO_CLOCK, VIDEO_TIME_BASE

MAIN, CONTENT = "main", "content"
MP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "1000000",  # microseconds: a kill loses at most about a second
    "flush_packets": "1",
}
AUDIO_BITRATE = 128_000
# a mix is laid where its stamp says within this (5 ms): further from it, silence is
# inserted before it or its overlap with what was written is cut (a jitter within it is
# not, so the audio stays continuous)
ALIGN_SAMPLES = SAMPLE_RATE // 200
PENDING_AUDIO_FRAMES = 250  # 5 s of mix waiting for the video to reach its time
# how far the audio may lag the video waiting for a mix; beyond it, none pending (no site
# joined: the mixer makes none), silence is laid up to there (and to the end at the close)
MAX_AUDIO_LAG_SAMPLES = SAMPLE_RATE
# FFmpeg's native AAC encoder primes its output with this many samples (its first packet
# is stamped 1024 before its input); fragmented MP4 has no edit list to skip them, so a
# decoder plays them first and everything after 1024 samples (21 ms) late. The mix is laid
# that much earlier, and the encoder's input is stamped that much later so that its first
# packet is at 0: a negative first audio time would make the muxer shift every stream and
# stretch the file's first picture by 21 ms.
AAC_PRIMING_SAMPLES = 1024
JOIN_TIMEOUT_S = 15.0  # the longest a stop waits for the thread to close the file
_START_CODE = re.compile(b"\x00\x00\x01")


def parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS NAL units (Annex B, with their start codes) of an H.264 access unit."""
    starts = [match.start() for match in _START_CODE.finditer(data)]
    found = b""
    for index, start in enumerate(starts):
        if data[start + 3] & 0x1F not in (7, 8):
            continue
        end = starts[index + 1] if index + 1 < len(starts) else len(data)
        if end < len(data) and data[end - 1] == 0:
            end -= 1  # the next NAL's four-byte start code
        found += b"\x00" + data[start:end]
    return found


class Mp4Writer:
    """The container, opened at the first main keyframe."""

    def __init__(self, path: Path, output: OutputFormat, push: RtmpPush | None = None) -> None:
        self.path = path
        self.format = output
        self._push = push
        self._container: Any = None
        self._streams: dict[str, Any] = {}
        self._audio: Any = None
        self._base: int | None = None  # the conference clock at the file's time 0
        self._last_pts: dict[str, int] = {}
        self._content_started = False
        self._samples_written = 0
        self._pending_audio: list[tuple[np.ndarray, int]] = []
        # the tracks whose pictures are dropped until a keyframe comes (read on the loop by
        # the recorder's group inputs, which then ask their group for one)
        self.keyframes_wanted: set[str] = set()

    def video(self, track: str, data: bytes, pts: int, keyframe: bool) -> int:
        if self._container is None:
            if track != MAIN or not keyframe:
                self.keyframes_wanted.add(track)  # the file opens at the main's keyframe
                return 0
            self._open(parameter_sets(data), pts)
        starting = track == CONTENT and not self._content_started
        if starting and not keyframe:
            self.keyframes_wanted.add(track)
            return 0
        assert self._base is not None
        relative = pts - self._base
        if relative < 0 or relative <= self._last_pts.get(track, -1):
            if starting:  # the content's first keyframe is not in the file: another one
                self.keyframes_wanted.add(track)
            return 0  # before the file began, or out of order
        self._content_started = self._content_started or starting
        self.keyframes_wanted.discard(track)
        self._last_pts[track] = relative
        packet = av.Packet(data)
        packet.pts = packet.dts = relative
        packet.time_base = VIDEO_TIME_BASE
        packet.is_keyframe = keyframe
        packet.stream = self._streams[track]
        self._container.mux(packet)
        if track == MAIN:
            if self._push is not None:
                self._push.video(data, relative, VIDEO_TIME_BASE, keyframe)
            self._write_audio_until(pts)
        return 1

    def audio(self, samples: np.ndarray, pts: int) -> None:
        """Held until the video reaches its time (the audio never runs past the video: a
        video picture arrives later than the mix of the same moment, by its encoding)."""
        self._pending_audio.append((samples, pts))
        if len(self._pending_audio) > PENDING_AUDIO_FRAMES:
            self._pending_audio.pop(0)  # no video for seconds: the oldest audio goes
        if MAIN in self._last_pts and self._base is not None:
            self._write_audio_until(self._base + self._last_pts[MAIN])

    def _write_audio_until(self, pts: int) -> None:
        """Encode the pending mixes taken before `pts` (the conference's video clock), each
        at its own time within ALIGN_SAMPLES: a mix that comes later than its place is
        preceded by silence, one that overlaps what was written loses its overlap."""
        assert self._base is not None
        while self._pending_audio and self._pending_audio[0][1] <= pts:
            samples, taken = self._pending_audio.pop(0)
            expected = ((taken - self._base) * SAMPLE_RATE // VIDEO_CLOCK
                        - AAC_PRIMING_SAMPLES)
            drift = expected - self._samples_written
            if drift > ALIGN_SAMPLES:
                self._encode_audio(np.zeros(drift, np.int16))  # no mix came: silence
            elif drift < -ALIGN_SAMPLES:
                samples = samples[-drift:]  # before the file began, or already covered
            if len(samples):
                self._encode_audio(samples)
        if not self._pending_audio:
            self._silence_until(pts, MAX_AUDIO_LAG_SAMPLES)

    def _silence_until(self, pts: int, lag: int) -> None:
        """Silence from the audio's end up to `lag` samples before `pts` (the conference's
        video clock), when it ends earlier than that by more than ALIGN_SAMPLES."""
        assert self._base is not None
        wanted = ((pts - self._base) * SAMPLE_RATE // VIDEO_CLOCK - AAC_PRIMING_SAMPLES
                  - lag - self._samples_written)
        if wanted > ALIGN_SAMPLES:
            self._encode_audio(np.zeros(wanted, np.int16))

    def _encode_audio(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._samples_written + AAC_PRIMING_SAMPLES
        self._samples_written += len(samples)
        for packet in self._audio.encode(frame):
            self._mux_audio(packet)

    def _mux_audio(self, packet: av.Packet) -> None:
        if self._push is not None and packet.pts is not None:
            self._push.audio(bytes(packet), packet.pts,
                             packet.dts if packet.dts is not None else packet.pts,
                             packet.time_base)
        self._container.mux(packet)

    def _open(self, extradata: bytes, base: int) -> None:
        container = av.open(str(self.path), "w", format="mp4", options=MP4_OPTIONS)
        for track in (MAIN, CONTENT):
            stream = container.add_stream("h264", rate=self.format.fps)
            stream.width, stream.height = self.format.width, self.format.height
            stream.time_base = VIDEO_TIME_BASE
            stream.codec_context.extradata = extradata
            stream.metadata["title"] = track
            self._streams[track] = stream
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        audio.bit_rate = AUDIO_BITRATE
        audio.codec_context.open()  # its AudioSpecificConfig, for the push's header
        self._audio = audio
        self._container, self._base = container, base
        if self._push is not None:
            self._push.open(extradata, audio.codec_context.extradata, SAMPLE_RATE)

    def close(self) -> None:
        try:
            self._close_file()
        finally:
            if self._push is not None:  # the push ends with the file, within its own bound
                self._push.stop()
                self._push.join(JOIN_TIMEOUT_S)

    def _close_file(self) -> None:
        if self._container is None:
            return
        try:
            if MAIN in self._last_pts and self._base is not None:  # up to the last picture's end
                end = self._base + self._last_pts[MAIN] + VIDEO_CLOCK // self.format.fps
                self._write_audio_until(end)
                self._silence_until(end, 0)  # the mixes stopped coming before it
            for packet in self._audio.encode(None):
                self._mux_audio(packet)
        finally:
            self._container.close()
            self._container = None
