"""The recording pushed to an external recorder: a conference booked with a recorderAddr
naming an RTMP URL (rtmp://host[:port]/app/stream) gets the recording's main picture
(H.264, the same packets as the file's) and its AAC mix pushed there as FLV
(libavformat's flv muxer over its rtmp protocol), on a thread of its own, so a slow,
unreachable or failing receiver never delays or breaks the local file: the push fails
alone (logged, and reported through `on_failure` for the recording's sidecar).

Bounds: the connection and every write time out after PUSH_TIMEOUT_S (PyAV's interrupt
callback); a receiver that falls more than MAX_BACKLOG packets behind fails the push.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av

from mcu.media.output_format import OutputFormat

log = logging.getLogger(__name__)

PUSH_TIMEOUT_S = 5.0
MAX_BACKLOG = 1500  # packets (about 15 s of 30 fps video and 50 audio packets a second)
RTMP_SCHEMES = ("rtmp://", "rtmps://")


def push_url(recorder_addr: str | None) -> str | None:
    """The URL to push to, when the booking's recorderAddr names an RTMP URL; None for an
    empty one or any other value (an address of some other kind of recorder is kept and
    reported, not pushed to)."""
    if recorder_addr is None:
        return None
    value = recorder_addr.strip()
    if value.lower().startswith(RTMP_SCHEMES) and len(value) > len("rtmp://") + 1:
        return value
    return None


class RtmpPush:
    """Fed by the recording's writer thread (open, video, audio, stop); written by its own."""

    def __init__(self, url: str, output: OutputFormat,
                 on_failure: Callable[[str], None]) -> None:
        self.url = url
        self.format = output
        self.failed: str | None = None
        self.packets = 0
        self._on_failure = on_failure
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"push {url}", daemon=True)
        self._thread.start()

    def open(self, video_extradata: bytes, audio_extradata: bytes | None,
             sample_rate: int) -> None:
        self._put(("open", video_extradata, audio_extradata, sample_rate))

    def video(self, data: bytes, pts: int, time_base: Fraction, keyframe: bool) -> None:
        self._put(("video", data, pts, pts, time_base, keyframe))

    def audio(self, data: bytes, pts: int, dts: int, time_base: Fraction) -> None:
        self._put(("audio", data, pts, dts, time_base, False))

    def stop(self) -> None:
        self._queue.put(None)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _put(self, item: tuple[Any, ...]) -> None:
        if self.failed is not None:
            return
        if self._queue.qsize() > MAX_BACKLOG:
            self._fail(f"the receiver fell more than {MAX_BACKLOG} packets behind")
            return
        self._queue.put(item)

    def _fail(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason
            log.warning("push to %s failed: %s", self.url, reason)
            self._on_failure(reason)

    # -- on the push's thread ---------------------------------------------------------

    def _run(self) -> None:
        container: Any = None
        streams: dict[str, Any] = {}
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                if self.failed is not None:
                    continue
                try:
                    if item[0] == "open":
                        container, streams = self._open(*item[1:])
                    elif container is not None:
                        kind, data, pts, dts, time_base, keyframe = item
                        packet = av.Packet(data)
                        packet.pts, packet.dts = pts, dts
                        packet.time_base = time_base
                        packet.is_keyframe = keyframe
                        packet.stream = streams[kind]
                        container.mux(packet)
                        self.packets += 1
                except Exception as error:  # the receiver's failure is the push's alone
                    self._fail(f"{type(error).__name__}: {error}")
                    _close_quietly(container)
                    container = None
        finally:
            _close_quietly(container)

    def _open(self, video_extradata: bytes, audio_extradata: bytes | None,
              sample_rate: int) -> tuple[Any, dict[str, Any]]:
        container = av.open(self.url, "w", format="flv",
                            timeout=(PUSH_TIMEOUT_S, PUSH_TIMEOUT_S))
        video = container.add_stream("h264", rate=self.format.fps)
        video.width, video.height = self.format.width, self.format.height
        video.codec_context.extradata = video_extradata
        audio = container.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        if audio_extradata:
            audio.codec_context.extradata = audio_extradata
        return container, {"video": video, "audio": audio}


def _close_quietly(container: Any) -> None:
    if container is None:
        return
    try:
        container.close()
    except Exception as error:  # a receiver gone at the end: the push is over anyway
        log.info("closing the push: %s", error)
