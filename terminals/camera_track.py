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
import functools
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import av

from rtc.colour import bgr_picture
from terminals.loop_encoders import BACKGROUND_LOOP_ENCODERS, WAITED_LOOP_ENCODERS
from terminals.main_sources import MainSources, MainState, main_scene, state_key
from terminals.media_sources import (
    EncodedLoop,
    EncodedVideoTrack,
    ScaledScene,
    VideoFormat,
    encode_loop,
    scaled,
    video_encoder,
)
from terminals.scene import CameraScene
from terminals.send_log import PROCESS_SEND_LOG, SendLog

STILL_S = 0.3  # still this long: back to a loop
LOOPS_KEPT = 6  # loops per terminal (codec, picture) kept for a picture that comes back


_LoopKey = tuple[str, VideoFormat, tuple[object, ...]]


def encode_main_loop(scene: CameraScene, tagged: bool, state: MainState, codec: str,
                     video_format: VideoFormat) -> EncodedLoop:
    """The loop of the main picture `state` of a terminal whose scene is `scene`, in `codec`
    at `video_format`: drawn at the scene's size and scaled down to a smaller format (the
    send ladder's). Run in a loop encoder process (terminals/loop_encoders.py)."""
    picture = main_scene(scene, tagged, state)
    if (video_format.width, video_format.height) != (scene.width, scene.height):
        return encode_loop(ScaledScene(picture, video_format.width, video_format.height),
                           codec, video_format)
    return encode_loop(picture, codec, video_format)


class LoopCache:
    """A terminal's encoded loops by (codec, format, main picture), the least recently used
    dropped first. A format smaller than the scene's (a send_video request: the send ladder)
    is the scene scaled down (ScaledScene), encoded once when first asked for."""

    def __init__(self, sources: MainSources) -> None:
        self.sources = sources
        self._loops: OrderedDict[_LoopKey, EncodedLoop] = OrderedDict()
        # the encodes under way: each task, and whether it is a background one
        self._pending: dict[_LoopKey, tuple[asyncio.Task[EncodedLoop], bool]] = {}
        self.encoded: list[VideoFormat] = []  # the format of every loop encoded, in order

    def ready(self, codec: str, view: MainState, video_format: VideoFormat) -> EncodedLoop | None:
        key = (codec, video_format, state_key(view))
        loop = self._loops.get(key)
        if loop is not None:
            self._loops.move_to_end(key)
        return loop

    async def _encode(self, view: MainState, codec: str, video_format: VideoFormat,
                      background: bool) -> EncodedLoop:
        encoders = BACKGROUND_LOOP_ENCODERS if background else WAITED_LOOP_ENCODERS
        loop = await encoders.encode(encode_main_loop, self.sources.scene,
                                     self.sources.tagged, view, codec, video_format)
        self.encoded.append(video_format)
        return loop

    async def get(self, codec: str, view: MainState, video_format: VideoFormat, *,
                  background: bool = False) -> EncodedLoop:
        """The loop of the main picture `view` in `codec` at `video_format`, encoded now if
        needed, in a loop encoder process (terminals/loop_encoders.py): `background` for a
        loop the terminal goes on sending another one meanwhile (at the lowest priority),
        else a little nicer than this process (a call waits for it, and never for a
        background encode of the same loop: it starts its own)."""
        key = (codec, video_format, state_key(view))
        loop = self.ready(codec, view, video_format)
        if loop is not None:
            return loop
        pending = self._pending.get(key)
        if pending is None or (pending[1] and not background):
            task = asyncio.ensure_future(self._encode(view, codec, video_format, background))
            self._pending[key] = (task, background)
            # kept when done even if every caller was cancelled meanwhile (a call's end)
            task.add_done_callback(functools.partial(self._finished, key))
        else:
            task = pending[0]
        loop = await asyncio.shield(task)
        self._keep(key, loop)
        return loop

    def _finished(self, key: _LoopKey, task: asyncio.Task[EncodedLoop]) -> None:
        pending = self._pending.get(key)
        if pending is not None and pending[0] is task:
            del self._pending[key]
        if not task.cancelled() and task.exception() is None:
            self._keep(key, task.result())

    def _keep(self, key: _LoopKey, loop: EncodedLoop) -> None:
        if key not in self._loops:
            self._loops[key] = loop
        self._loops.move_to_end(key)
        while len(self._loops) > LOOPS_KEPT:
            self._loops.popitem(last=False)

    def prepare(self, codec: str, view: MainState, video_format: VideoFormat) -> None:
        """Start encoding the loop of `view` unless it is ready or under way."""
        key = (codec, video_format, state_key(view))
        if key in self._loops or key in self._pending:
            return
        task = asyncio.get_running_loop().create_task(
            self.get(codec, view, video_format, background=True))
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
