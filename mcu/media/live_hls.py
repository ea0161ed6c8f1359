"""The live broadcast (setDirectBroadEx): the conference's picture and full mix as HLS.

The broadcast joins the conference like the recorder does (mcu/media/recorder.py): its
picture is the conference's CP picture at the recorder's output format, so it subscribes to
the same EncoderGroup as the recorder (a site's group of that picture at that size when there
is one, mcu/media/recorder_groups.py): when recording and broadcast both run, the picture is encoded once and both get
the same H.264 packets (unchanged bytes). Its audio is the same full mix, AAC-encoded on the
broadcast's thread (the audio encode is the only one done twice; it is cheap).

The stream: FFmpeg's hls muxer (through PyAV) writes MPEG-TS segments of about
SEGMENT_SECONDS, cut at keyframes (the broadcast asks its group for a keyframe every
SEGMENT_SECONDS), and `index.m3u8`, a sliding window of WINDOW_SEGMENTS segments (older
segments deleted). Segment numbers start from the Unix time (start_number_source=epoch), so
a broadcast resumed after a restart goes on with higher numbers. The audio is laid on the
video's clock exactly as in the recording (the recorder's writer logic, reused), so the
stream's audio and video stay aligned.

Stopping finishes the playlist (EXT-X-ENDLIST) and then removes the broadcast's directory:
the gateway answers 404 for it (docs/gateway.md, "Live broadcast").
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np

from mcu.media.audio_mixer import SAMPLE_RATE
from mcu.media.output_format import OutputFormat
from mcu.media.recorder import JOIN_TIMEOUT_S, MAIN, GroupMember, Mp4Writer, conference_dir_name
from mcu.media.video_encoders import VIDEO_CLOCK, VIDEO_TIME_BASE

log = logging.getLogger(__name__)

PLAYLIST = "index.m3u8"
SEGMENT_SECONDS = 2
WINDOW_SEGMENTS = 5
SEGMENT_PATTERN = "segment%d.ts"


def live_directory(root: Path, conf_id: str) -> Path:
    """<data dir>/live/<confId>: the playlist and its segments."""
    return root / conference_dir_name(conf_id)


class LiveSinkInput(GroupMember):
    """The broadcast's subscription to its EncoderGroup (what SinkInput is for the recorder):
    forwards the packets, as copies, and asks for a keyframe when a segment is due."""

    backlog_restarts = 0

    def __init__(self, broadcast: HlsBroadcast) -> None:
        self.uri = "live:main"
        self.group: Any = None
        self._broadcast = broadcast
        self._last_keyframe: int | None = None

    def push(self, packet: av.Packet) -> None:
        if packet.pts is None or not self.takes(packet):
            return
        keyframe = bool(packet.is_keyframe)
        if keyframe:
            self._last_keyframe = packet.pts
        elif (self.group is not None and self._last_keyframe is not None
              and packet.pts - self._last_keyframe >= SEGMENT_SECONDS * VIDEO_CLOCK):
            self.group.request_keyframe()  # the next segment's first picture
        self._broadcast.put_video(bytes(packet), packet.pts, keyframe)


class HlsBroadcast:
    """One live broadcast: fed on the loop (put_video, put_audio), written by its thread."""

    def __init__(self, directory: Path, output: OutputFormat, conf_id: str) -> None:
        self.directory = directory
        self.format = output
        self.main = LiveSinkInput(self)
        self.failed: BaseException | None = None
        self.video_packets = 0
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        shutil.rmtree(directory, ignore_errors=True)  # what a broadcast before left
        directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name=f"live {conf_id}", daemon=True)
        self._thread.start()

    @property
    def playlist(self) -> Path:
        return self.directory / PLAYLIST

    # -- on the loop -----------------------------------------------------------------

    def put_video(self, data: bytes, pts: int, keyframe: bool) -> None:
        self._queue.put(("video", MAIN, data, pts, keyframe))

    def put_audio(self, samples: np.ndarray, pts: int) -> None:
        """20 ms of the full mix taken at `pts` on the conference's video clock."""
        self._queue.put(("audio", samples.copy(), pts))

    def stop(self) -> None:
        """Leave the group; the thread finishes the stream and removes it (join waits)."""
        self.main.join_group(None)
        self._queue.put(None)

    def join(self, timeout: float = JOIN_TIMEOUT_S) -> bool:
        """Wait (at most `timeout`, as the recorder does) for the thread to close the
        stream; whether it did."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("live broadcast %s: the writer did not finish within %.0f s",
                      self.playlist, timeout)
            return False
        return True

    # -- on the broadcast's thread ----------------------------------------------------

    def _run(self) -> None:
        writer = _HlsWriter(self.playlist, self.format)
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if self.failed is not None:
                    continue
                try:
                    if item[0] == "video":
                        self.video_packets += writer.video(*item[1:])
                    else:
                        writer.audio(*item[1:])
                except Exception as error:  # a broken stream stops the broadcast, not the MCU
                    log.exception("live broadcast %s failed", self.directory)
                    self.failed = error
        finally:
            try:
                writer.close()
            except Exception:
                log.exception("closing live broadcast %s", self.directory)
            shutil.rmtree(self.directory, ignore_errors=True)


class _HlsWriter(Mp4Writer):
    """The recorder's writer (first keyframe opens it, audio laid on the video clock) with
    an HLS container of one video and one audio stream."""

    def _open(self, extradata: bytes, base: int) -> None:
        options = {
            "hls_time": str(SEGMENT_SECONDS),
            "hls_list_size": str(WINDOW_SEGMENTS),
            "hls_flags": "delete_segments+independent_segments+program_date_time",
            "hls_segment_type": "mpegts",
            "hls_segment_filename": str(self.path.parent / SEGMENT_PATTERN),
            "start_number_source": "epoch",
        }
        container = av.open(str(self.path), "w", format="hls", options=options)
        stream = container.add_stream("h264", rate=self.format.fps)
        stream.width, stream.height = self.format.width, self.format.height
        stream.time_base = VIDEO_TIME_BASE
        stream.codec_context.extradata = extradata
        self._streams[MAIN] = stream
        audio = container.add_stream("aac", rate=SAMPLE_RATE)
        audio.layout = "mono"
        audio.bit_rate = 96_000
        self._audio = audio
        self._container, self._base = container, base

