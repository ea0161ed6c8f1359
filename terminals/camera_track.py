"""A terminal's main video as an aiortc track: a pre-encoded loop while the picture is
still, frames encoded live while it changes.

The picture is what the terminal's main sources show (terminals/main_sources.py: the chosen
inputs, a camera at its view, side by side when several are chosen). Still: the loop of the
current main picture (encoded once per codec and picture, kept in the terminal's LoopCache)
is sent as EncodedVideoTrack sends it: a few percent of a core. Moving (a chosen camera's
pan, tilt, zoom or focus motion, or a preset move: terminals/camera.py) or just switched to
other inputs: each frame is drawn as the picture is at its own send time and encoded by a
live encoder (libx264 ultrafast/zerolatency or libvpx realtime, the call's codec and format)
in the track's own worker thread, so the picture moves a little every frame and the frame
rate holds.

Switching: the live encoder's first frame is a keyframe (a fresh encoder), so receivers
decode across the switch from the loop; once the picture has been still for STILL_S the loop
of the new picture is encoded in the background (live frames go on meanwhile) and the track
goes back to it at one of its keyframes. A keyframe request (PLI/FIR) while live makes the
next live frame a keyframe.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import av
import cv2
import numpy as np

from rtc.colour import bgr_picture
from terminals.main_sources import MainSources, MainState, state_key
from terminals.media_sources import (
    EncodedLoop,
    EncodedVideoTrack,
    ScaledScene,
    VideoFormat,
    encode_loop,
    scaled,
    video_encoder,
)
from terminals.send_log import PROCESS_SEND_LOG, SendLog

STILL_S = 0.3  # still this long: back to a loop
LOOPS_KEPT = 6  # loops per terminal (codec, picture) kept for a picture that comes back
# A loop is encoded once per codec, format and picture (a call's first, a send ladder ask,
# a still picture after a move); its threads run this much nicer than the process, so on
# cores shared with the MCU and the other terminals (the benchmarks, a lab's one machine)
# these one-off encodes give way to real-time work. While a ladder ask's or a move's loop
# is encoded the terminal goes on sending its current loop or live frames; a call's first
# loop (nothing to send yet) waits for it as before, at the lower priority too.
LOOP_ENCODE_NICENESS = 10


def _lower_priority() -> None:
    """Make the calling thread LOOP_ENCODE_NICENESS nicer than it is (Linux schedules each
    thread on its own; elsewhere setpriority would take the whole process, so nothing)."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread,
                       min(19, os.getpriority(os.PRIO_PROCESS, thread) + LOOP_ENCODE_NICENESS))
    except OSError:
        pass  # not allowed here: the loop is encoded at the process's priority


def _start_opencv_threads() -> None:
    """Have OpenCV start its worker threads now, on the importing thread: Linux gives a new
    thread the niceness of the thread that creates it, and OpenCV starts its pool on its
    first parallel call, which would otherwise be a scene drawn or scaled on a loop-encode
    thread, leaving every later OpenCV call of the process (the MCU's too, when it shares
    the process) on nicer threads."""
    cv2.resize(np.zeros((720, 1280, 3), np.uint8), (640, 360), interpolation=cv2.INTER_AREA)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


_start_opencv_threads()
# The camera loops of every terminal of the process (LoopCache) are encoded here, as many
# at once as the process has cores.
LOOP_ENCODERS = ThreadPoolExecutor(max_workers=_cores(), thread_name_prefix="loop-encode",
                                   initializer=_lower_priority)


_LoopKey = tuple[str, VideoFormat, tuple[object, ...]]


class LoopCache:
    """A terminal's encoded loops by (codec, format, main picture), the least recently used
    dropped first. A format smaller than the scene's (a send_video request: the send ladder)
    is the scene scaled down (ScaledScene), encoded once when first asked for."""

    def __init__(self, sources: MainSources) -> None:
        self.sources = sources
        self._loops: OrderedDict[_LoopKey, EncodedLoop] = OrderedDict()
        self._pending: dict[_LoopKey, asyncio.Future[EncodedLoop]] = {}
        self.encoded: list[VideoFormat] = []  # the format of every loop encoded, in order

    def ready(self, codec: str, view: MainState, video_format: VideoFormat) -> EncodedLoop | None:
        key = (codec, video_format, state_key(view))
        loop = self._loops.get(key)
        if loop is not None:
            self._loops.move_to_end(key)
        return loop

    def _encode(self, view: MainState, codec: str, video_format: VideoFormat) -> EncodedLoop:
        scene = self.sources.scene_at(view)
        width, height = self.sources.scene.width, self.sources.scene.height
        if (video_format.width, video_format.height) != (width, height):
            loop = encode_loop(ScaledScene(scene, video_format.width, video_format.height),
                               codec, video_format)
        else:
            loop = encode_loop(scene, codec, video_format)
        self.encoded.append(video_format)
        return loop

    async def get(self, codec: str, view: MainState, video_format: VideoFormat) -> EncodedLoop:
        """The loop of the main picture `view` in `codec` at `video_format`, encoded now (on
        LOOP_ENCODERS, at a lower priority) if needed."""
        key = (codec, video_format, state_key(view))
        loop = self.ready(codec, view, video_format)
        if loop is not None:
            return loop
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().run_in_executor(
                LOOP_ENCODERS, self._encode, view, codec, video_format)
            self._pending[key] = pending
        try:
            loop = await asyncio.shield(pending)
        finally:
            if pending.done():
                self._pending.pop(key, None)
        self._loops[key] = loop
        self._loops.move_to_end(key)
        while len(self._loops) > LOOPS_KEPT:
            self._loops.popitem(last=False)
        return loop

    def prepare(self, codec: str, view: MainState, video_format: VideoFormat) -> None:
        """Start encoding the loop of `view` unless it is ready or under way."""
        key = (codec, video_format, state_key(view))
        if key in self._loops or key in self._pending:
            return
        task = asyncio.get_running_loop().create_task(self.get(codec, view, video_format))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


class CameraVideoTrack(EncodedVideoTrack):
    """The main stream's video: loops while still, live frames while moving."""

    def __init__(self, site_index: int, sources: MainSources, loops: LoopCache,
                 send_log: SendLog = PROCESS_SEND_LOG) -> None:
        super().__init__(site_index, None, send_log)
        self.sources = sources
        self.loops = loops
        self._loop_view: MainState | None = None
        self._live: av.VideoCodecContext | None = None
        self._live_frames = 0
        self._still_since: float | None = None
        self._worker: ThreadPoolExecutor | None = None
        self.live_frames_sent = 0

    def use_loop(self, loop: EncodedLoop, view: MainState | None = None) -> None:
        """Send this loop, which shows the main picture `view` (None: the picture now)."""
        self._loop_view = view if view is not None else self.sources.state()
        super().use_loop(loop)

    @property
    def live(self) -> bool:
        return self._live is not None

    async def _next_frame(self, loop: EncodedLoop, due: float) -> tuple[bytes, int]:
        view = self.sources.advance(due)
        if self.sources.moving:
            self._still_since = None
        elif self._still_since is None:
            self._still_since = due
        if self._loop_view is not None and state_key(view) == state_key(self._loop_view) \
                and self._live is None:
            return self._loop_frame(loop)
        still_long = self._still_since is not None and due - self._still_since >= STILL_S
        if still_long:
            ready = self.loops.ready(loop.codec, view, loop.video_format)
            if ready is not None:
                self._stop_live()
                self._encoded, self._loop_view = ready, view
                # enter the new loop at a keyframe: the decoder was following the live stream
                self._frame_index = ready.next_keyframe(self._frame_index % ready.frames)
                return self._loop_frame(ready)
            self.loops.prepare(loop.codec, view, loop.video_format)
        if self._next_loop is not None:  # going live: its format at once, its picture never
            loop, self._next_loop = self._next_loop, None
            self._encoded = loop
        return await self._live_frame(loop, view)

    async def _live_frame(self, loop: EncodedLoop, view: MainState) -> tuple[bytes, int]:
        if self._live is None:
            self._live = video_encoder(loop.codec, loop.video_format)
            self._live_frames = 0
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"camera-{self.site_index}")
        index = self._frame_index % self.sources.scene.loop_frames
        key = self._keyframe_wanted
        self._keyframe_wanted = False
        data = await asyncio.get_running_loop().run_in_executor(
            self._worker, self._encode_live, self._live, index, view, key)
        self._frame_index = (index + 1) % self.sources.scene.loop_frames
        self.live_frames_sent += 1
        return data, index

    def switch_loop(self, loop: EncodedLoop, view: MainState | None = None) -> None:
        """Another size or rate of the picture `view` (a send_video request): while the
        loop is sent, from the next keyframe position on (EncodedVideoTrack.switch_loop);
        while live, at once: the next live frame is a fresh encoder's keyframe at the new
        format."""
        if self._live is not None or (view is not None and self._loop_view is not None
                                      and state_key(view) != state_key(self._loop_view)):
            self._encoded, self._next_loop = loop, None
            self._live = None
            return
        super().switch_loop(loop)

    def _encode_live(self, context: av.VideoCodecContext, index: int, view: MainState,
                     keyframe: bool) -> bytes:
        picture = scaled(self.sources.render(index, view), context.width, context.height)
        frame = bgr_picture(picture)
        frame.pts = self._live_frames
        frame.time_base = context.time_base
        frame.pict_type = (av.video.frame.PictureType.I if keyframe
                           else av.video.frame.PictureType.NONE)
        self._live_frames += 1
        packets = context.encode(frame)
        if not packets:
            raise RuntimeError("the live encoder held a frame back")
        return b"".join(bytes(packet) for packet in packets)

    def _stop_live(self) -> None:
        self._live = None

    def stop(self) -> None:
        super().stop()
        self._live = None
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None
