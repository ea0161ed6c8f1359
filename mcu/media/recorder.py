"""The conference recorder: one fragmented MP4 per recording, written on its own thread.

The recorder joins the conference like a site would: its main picture is the conference's
CP picture (CONFERENCE_TARGET, the speaker highlighted when the audio switch is on) at its
own output format, so it is one more subscriber of an EncoderGroup (when a site watches
the same picture at the same format no extra encode happens). While content is shared, a
CONTENT picture group at the same format feeds the file's second video track. Its audio
is the full mix of every unmuted site (mcu/media/audio_mixer.full_mix), encoded with
FFmpeg's native AAC encoder.

The file: H.264 (the group's packets, unchanged bytes) + AAC in fragmented MP4
(movflags frag_keyframe+empty_moov+default_base_moof, a fragment at least every second,
every packet flushed), so a file cut by a kill is playable up to its last fragment. The
container opens at the first main keyframe; the moov's avcC is that keyframe's SPS/PPS
(every keyframe repeats them in band). Timestamps are the conference's video clock
(1/90000 s from the conference's start) minus that of the first keyframe; the audio is
laid on the same clock, each mix at its own time within 5 ms (silence where no mix came,
also when none comes for a second, as with no site joined; the overlap of a late mix cut),
its first packet at 0 (AAC_PRIMING_SAMPLES), and each mix is
written once the video has reached its time (never past the last picture), so audio and
video stay aligned and end together. A JSON sidecar next to the file lists what was recorded: sites
joining and leaving, layout changes, floor changes, with their times, and any failure
(`errors`; the push's outcome under `push`).

When the booking's recorderAddr names an RTMP URL, the same main picture and mix are
pushed there too (mcu/media/recording_push.py); a push that fails is logged and noted in
the sidecar, and the file goes on.

Threading: packets, mixes and sidecar snapshots are queued on the loop; one thread per
recording muxes, encodes the audio and writes the files (nothing blocks the loop). The
thread ends when the recording stops (stop(), then join() waits at most JOIN_TIMEOUT_S):
it finishes what was queued before the stop and closes the file. A writer that falls
more than MAX_BACKLOG items behind, or a disk error, fails the recording (`failed`,
`healthy`): the file so far is closed and kept, nothing more is queued.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import numpy as np

from mcu.events import LayoutChanged, PresentationChanged, RuntimeEvent, SiteCallStateChanged
from mcu.media.mp4_writer import (
    AAC_PRIMING_SAMPLES,
    ALIGN_SAMPLES,
    AUDIO_BITRATE,
    CONTENT,
    JOIN_TIMEOUT_S,
    MAIN,
    MAX_AUDIO_LAG_SAMPLES,
    MP4_OPTIONS,
    PENDING_AUDIO_FRAMES,
    Mp4Writer,
    parameter_sets,
)
from mcu.media.output_format import OutputFormat
from mcu.media.recording_push import RtmpPush
from mcu.model import SiteCallState

log = logging.getLogger(__name__)

# the writer's names, re-exported: importers use this module's names (a new module imports
# from mp4_writer.py)
__all__ = [
    "AAC_PRIMING_SAMPLES",
    "ALIGN_SAMPLES",
    "AUDIO_BITRATE",
    "CONTENT",
    "JOIN_TIMEOUT_S",
    "MAIN",
    "MAX_AUDIO_LAG_SAMPLES",
    "MAX_BACKLOG",
    "MP4_OPTIONS",
    "PENDING_AUDIO_FRAMES",
    "GroupMember",
    "Mp4Recording",
    "Mp4Writer",
    "Sidecar",
    "SinkInput",
    "conference_dir_name",
    "parameter_sets",
    "recording_path",
]

# queued items (packets of both video tracks, 20 ms mixes) the thread may lag behind:
# about 20 s at 30 fps; beyond it the writer cannot keep up and the recording fails
MAX_BACKLOG = 3000


def recording_path(root: Path, conf_id: str, started: datetime) -> Path:
    """recordings/<confId>/<start time>.mp4 (UTC, basic ISO 8601, milliseconds)."""
    stamp = started.strftime("%Y%m%dT%H%M%S") + f".{started.microsecond // 1000:03d}Z"
    return root / conference_dir_name(conf_id) / f"{stamp}.mp4"


def conference_dir_name(conf_id: str) -> str:
    """The directory of a conference's recordings (its id, any unsafe character as _)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", conf_id) or "_"


class GroupMember:
    """A non-site receiver of one encoder group's packets (the recorder's tracks, the live
    broadcast): in at most one group at a time, moved by the conference's regrouping
    (mcu/media/recorder_groups.py). After each move it takes the group's packets from its
    first keyframe on (subscribing asks the group for one at once), so a track never gets
    a picture that refers to another encoder's."""

    group: Any = None
    awaiting_keyframe = True

    def join_group(self, group: Any) -> None:
        if group is self.group:
            return
        if self.group is not None:
            self.group.unsubscribe(self)
        self.group = group
        self.awaiting_keyframe = True
        if group is not None:
            group.subscribe(self)

    def takes(self, packet: av.Packet) -> bool:
        """Whether `packet` of the group is passed on: not before the first keyframe since
        joining (a delta before it asks the group again; the group limits the rate)."""
        if self.awaiting_keyframe:
            if not packet.is_keyframe:
                if self.group is not None:
                    self.group.request_keyframe()
                return False
            self.awaiting_keyframe = False
        return True

    def leave_group(self, group: Any) -> None:
        if self.group is group:
            self.join_group(None)


class SinkInput(GroupMember):
    """What an EncoderGroup pushes packets to for the recorder (a site's SiteVideoTrack
    for a site): it forwards them, as copies, to the recording."""

    backlog_restarts = 0

    def __init__(self, recording: Mp4Recording, track: str) -> None:
        self.uri = f"recorder:{track}"
        self.group: Any = None
        self._recording = recording
        self._track = track

    def push(self, packet: av.Packet) -> None:
        if packet.pts is None or not self.takes(packet):
            return
        if self.group is not None and self._recording.wants_keyframe(self._track):
            self.group.request_keyframe()  # the writer could not use the keyframe it had
        self._recording.put_video(self._track, bytes(packet), packet.pts,
                                  bool(packet.is_keyframe))


@dataclass
class Sidecar:
    """What the recording holds, as written next to it (<file>.json)."""

    conf_id: str
    file: str
    started_at: str
    format: str
    stopped_at: str | None = None
    sites: list[dict[str, Any]] = field(default_factory=list)
    layouts: list[dict[str, Any]] = field(default_factory=list)
    floor: list[dict[str, Any]] = field(default_factory=list)
    push: dict[str, Any] | None = None  # {"url", "error"}: the push to recorderAddr
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"at_s", "error"}

    def document(self) -> dict[str, Any]:
        return {
            "conf_id": self.conf_id, "file": self.file, "started_at": self.started_at,
            "stopped_at": self.stopped_at, "format": self.format, "sites": list(self.sites),
            "layouts": list(self.layouts), "floor": list(self.floor),
            "push": dict(self.push) if self.push is not None else None,
            "errors": list(self.errors),
        }


class Mp4Recording:
    """One recording: fed on the loop (put_video, put_audio, note), written by its thread."""

    def __init__(self, path: Path, output: OutputFormat, conf_id: str, started: datetime,
                 joined: list[str], push_url: str | None = None) -> None:
        self.path = path
        self.format = output
        self.main = SinkInput(self, MAIN)
        self.content = SinkInput(self, CONTENT)
        self.sidecar = Sidecar(conf_id, path.name, started.isoformat(), str(output))
        self._started = started
        self._lock = threading.Lock()  # the sidecar: the loop, the thread and the push note
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"recorder {conf_id}", daemon=True)
        self.failed: BaseException | None = None
        self.stopped = False
        self.video_packets = 0
        for uri in joined:
            self.sidecar.sites.append({"uri": uri, "joined_s": 0.0, "left_s": None})
        self.push: RtmpPush | None = None
        if push_url is not None:
            self.sidecar.push = {"url": push_url, "error": None}
            self.push = RtmpPush(push_url, output, self._push_failed)
        self._writer = Mp4Writer(path, output, self.push)  # used on the thread only
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # the thread writes nothing; the recording is failed
            self._fail(error)
        self._write_sidecar()
        self._thread.start()

    def wants_keyframe(self, track: str) -> bool:
        """Whether the writer is dropping `track`'s pictures for want of a keyframe it can
        use (the content's first keyframe came before the file was opened, say)."""
        return track in self._writer.keyframes_wanted

    @property
    def healthy(self) -> bool:
        """Recording: not failed, and its thread (until the stop) alive."""
        return self.failed is None and (self.stopped or self._thread.is_alive())

    # -- on the loop -----------------------------------------------------------------

    def put_video(self, track: str, data: bytes, pts: int, keyframe: bool) -> None:
        self._put(("video", track, data, pts, keyframe))

    def put_audio(self, samples: np.ndarray, pts: int) -> None:
        """20 ms of the full mix taken at `pts` on the conference's video clock."""
        self._put(("audio", samples.copy(), pts))

    def _put(self, item: tuple[Any, ...]) -> None:
        if self.failed is not None or self.stopped:
            return
        if not self._thread.is_alive():
            self._fail(RuntimeError("the recorder's thread ended"))
        elif self._queue.qsize() > MAX_BACKLOG:
            self._fail(RuntimeError(f"the writer fell more than {MAX_BACKLOG} items behind"))
        else:
            self._queue.put(item)

    def note(self, event: RuntimeEvent) -> None:
        """A runtime event the sidecar records (sites, layouts, floor)."""
        at = self._seconds()
        match event:
            case SiteCallStateChanged(uri=uri, state=SiteCallState.IN_CONFERENCE):
                self.sidecar.sites.append({"uri": uri, "joined_s": at, "left_s": None})
            case SiteCallStateChanged(uri=uri, state=SiteCallState.NOT_JOINED):
                for entry in self.sidecar.sites:
                    if entry["uri"] == uri and entry["left_s"] is None:
                        entry["left_s"] = at
            case LayoutChanged(target=target, mode=mode, sub_pics=sub_pics):
                self.sidecar.layouts.append(
                    {"at_s": at, "target": target, "mode": int(mode), "sub_pics": list(sub_pics)})
            case PresentationChanged(holder=holder):
                self.sidecar.floor.append({"at_s": at, "holder": holder})
            case _:
                return
        self._write_sidecar()

    def stop(self) -> None:
        """Leave the groups, finish the file on the thread (join() waits for it)."""
        if self.stopped:
            return
        self.main.join_group(None)
        self.content.join_group(None)
        with self._lock:
            self.sidecar.stopped_at = datetime.now(self._started.tzinfo).isoformat()
        self._write_sidecar()
        self.stopped = True
        self._queue.put(None)

    def join(self, timeout: float = JOIN_TIMEOUT_S) -> bool:
        """Wait (at most `timeout`) for the thread to close the file; whether it did."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("recording %s: the writer did not finish within %.0f s", self.path,
                      timeout)
            return False
        return True

    def _seconds(self) -> float:
        return round((datetime.now(self._started.tzinfo) - self._started).total_seconds(), 3)

    def _fail(self, error: BaseException) -> None:
        """The recording stops recording (any thread): noted in the sidecar, logged once."""
        with self._lock:
            if self.failed is not None:
                return
            self.failed = error
            self.sidecar.errors.append({"at_s": self._seconds(), "error": str(error)})
        log.error("recording %s failed: %s", self.path, error)
        self._write_sidecar()

    def _push_failed(self, reason: str) -> None:
        with self._lock:
            if self.sidecar.push is not None:
                self.sidecar.push["error"] = reason
                self.sidecar.push["at_s"] = self._seconds()
        self._write_sidecar()

    def _write_sidecar(self) -> None:
        with self._lock:
            text = json.dumps(self.sidecar.document(), indent=1)
        self._queue.put(("sidecar", text))

    # -- on the recorder's thread -----------------------------------------------------

    def _run(self) -> None:
        writer = self._writer
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                kind = item[0]
                try:
                    if kind == "sidecar":
                        if self.path.parent.is_dir():
                            _write_atomically(self.path.with_suffix(".json"), item[1])
                    elif self.failed is None:
                        if kind == "video":
                            self.video_packets += writer.video(*item[1:])
                        else:
                            writer.audio(*item[1:])
                except Exception as error:  # a broken file stops the recording, not the MCU
                    log.exception("recording %s failed", self.path)
                    self._fail(error)
        finally:
            try:
                writer.close()
            except Exception as error:
                log.exception("recording %s: closing the file failed", self.path)
                self._fail(error)
            self._flush_sidecar()

    def _flush_sidecar(self) -> None:
        """The last sidecar state (a failure noted after the stop's snapshot included)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None and item[0] == "sidecar" and self.path.parent.is_dir():
                try:
                    _write_atomically(self.path.with_suffix(".json"), item[1])
                except OSError:
                    log.exception("recording %s: the sidecar could not be written", self.path)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(".json.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
