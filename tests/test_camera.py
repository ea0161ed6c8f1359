"""The simulated camera (terminals/camera.py, terminals/camera_track.py) on its own: the room
and the reader of its scene markers, the pan/tilt/zoom/focus head, presets persisted, and
the track that sends a loop while still and live-encoded frames while moving."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from rtc.malloc_trim import glibc_malloc_trim
from terminals.camera import (
    ACTIVATE_PRESET,
    AUTOFOCUS,
    CLEAR_PRESET,
    FOCUS_OUT,
    HOME,
    PAN_LEFT,
    PAN_RIGHT,
    PAN_SPEED,
    RESET,
    STOP_OFFSET,
    STORE_PRESET,
    TILT_DOWN,
    ZOOM_IN,
    ZOOM_MAX,
    Camera,
    CameraHead,
    CameraPresets,
    CameraView,
    read_camera_view,
)
from terminals.camera_track import CameraVideoTrack, LoopCache
from terminals.frame_counter import is_keyframe
from terminals.loop_encoders import (
    BACKGROUND_LOOP_ENCODERS,
    BACKGROUND_NICENESS,
    LOOP_ENCODE_NICENESS,
    WAITED_LOOP_ENCODERS,
    LoopEncoders,
    nicer,
)
from terminals.main_sources import MainSources
from terminals.marker import MarkerReading, read_marker
from terminals.media_sources import VideoFormat, decode_packets, encode_loop
from terminals.scene import CameraScene
from terminals.send_log import SendLog
from tests.process_state import running

SMALL = VideoFormat(640, 360, 30, 600_000)
VIEWS = [CameraView(), CameraView(0.3, 0.4), CameraView(0.7, 0.62, 1.3),
         CameraView(0.42, 0.35, ZOOM_MAX), CameraView(0.6, 0.55, 1.5, 0.3)]


@pytest.fixture(scope="module")
def scene() -> CameraScene:
    return CameraScene(7, "Site 7", SMALL.width, SMALL.height, 32)


def close(read: tuple[float, float, float] | None, view: CameraView, tol: float = 0.01) -> bool:
    return read is not None and abs(read[0] - view.x) < tol and abs(read[1] - view.y) < tol \
        and abs(read[2] / view.zoom - 1) < 2 * tol


@pytest.mark.parametrize("view", VIEWS, ids=str)
def test_the_reader_finds_the_view_in_frames_and_in_a_480x270_pane(scene, view):
    picture = scene.render(11, view)
    assert close(read_camera_view(picture), view)
    pane = cv2.resize(picture, (480, 270), interpolation=cv2.INTER_AREA)
    assert close(read_camera_view(pane), view)
    # the same pane inside a larger CP picture, read through its rect
    canvas = np.zeros((540, 960, 3), np.uint8)
    canvas[270:, 480:] = pane
    assert close(read_camera_view(canvas, (0.5, 0.5, 0.5, 0.5)), view)
    # the site card stays readable over the room
    assert read_marker(pane) == MarkerReading(7, 11)


def test_the_reader_covers_the_whole_range_after_h264(scene):
    """Every position on a grid and every zoom, the camera held there a few frames, through
    the encoder at the camera's bitrate: always a reading."""
    views = [CameraView(x, y, z).clamped() for z in (1.0, 1.3, ZOOM_MAX)
             for x in np.linspace(0.1, 0.9, 7) for y in np.linspace(0.1, 0.9, 5)]
    loop = encode_loop(_Stills(scene, views), "H264", SMALL)
    pictures = decode_packets("H264", list(loop.packets))
    for index, view in enumerate(views):
        picture = pictures[(index + 1) * _Stills.HOLD - 1]
        assert close(read_camera_view(picture), view, tol=0.015), view


class _Stills:
    """A 'loop' holding the camera HOLD frames at each view (encode_loop draws from it)."""

    HOLD = 5

    def __init__(self, scene: CameraScene, views: list[CameraView]) -> None:
        self.scene, self.views = scene, views
        self.loop_frames = len(views) * self.HOLD

    def frame(self, index: int) -> np.ndarray:
        return self.scene.render(index % 32, self.views[index // self.HOLD])


def test_nothing_is_read_from_a_picture_without_the_room():
    flat = np.full((360, 640, 3), 128, np.uint8)
    assert read_camera_view(flat) is None
    noise = np.random.default_rng(1).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    assert read_camera_view(noise) is None


def test_defocus_blurs_the_room_not_the_card(scene):
    sharp = scene.render(0, HOME)
    blurred = scene.render(0, CameraView(defocus=1.0))

    def detail(picture: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    assert detail(blurred) < 0.5 * detail(sharp)
    assert read_marker(blurred) == MarkerReading(7, 0)


def test_motions_integrate_over_time_and_stop_at_their_stop_or_the_edge():
    head = CameraHead()
    head.start(PAN_RIGHT, 0.0)
    view = head.advance(1.0)
    assert view.x == pytest.approx(0.5 + PAN_SPEED * 0.5)  # picture widths a second
    head.start(PAN_LEFT + STOP_OFFSET, 1.0)  # stop left: not what is moving
    assert head.moving
    head.start(PAN_RIGHT + STOP_OFFSET, 1.0)
    assert not head.moving and head.advance(5.0).x == pytest.approx(view.x)
    head.start(TILT_DOWN, 5.0)
    assert head.advance(60.0).y == pytest.approx(0.75) and not head.moving  # the room's edge
    head.start(ZOOM_IN, 60.0)
    assert head.advance(61.0).zoom == pytest.approx(2 ** 0.5)
    assert head.advance(70.0).zoom == ZOOM_MAX and not head.moving
    # zoomed in, the view may go nearer the edge
    assert head.view.y == pytest.approx(0.75)
    head.start(FOCUS_OUT, 70.0)
    assert head.advance(70.5).defocus == pytest.approx(0.4)


def test_smooth_motion_has_no_jumps():
    """Frame to frame at 30 fps, a pan, a zoom and a preset move change the view a little."""
    head = CameraHead()
    head.start(PAN_RIGHT, 0.0)
    head.start(ZOOM_IN, 0.0)
    steps = []
    previous = head.view
    for frame in range(1, 60):
        view = head.advance(frame / 30)
        steps.append(abs(view.x - previous.x))
        previous = view
    head.move_to(HOME, 2.0)
    for frame in range(61, 120):
        view = head.advance(frame / 30)
        steps.append(max(abs(view.x - previous.x), abs(view.zoom - previous.zoom) / 4))
        previous = view
    assert head.view == HOME and not head.moving
    assert max(steps) < 0.02  # of the room's width per frame


def test_presets_are_per_input_and_persist(tmp_path):
    path = tmp_path / "t.camera-presets.json"
    camera = Camera(0, CameraPresets(path))
    camera.command(PAN_RIGHT, None, 0.0)
    camera.command(PAN_RIGHT + STOP_OFFSET, None, 1.0)
    assert camera.command(STORE_PRESET, 3, 1.0)
    stored = camera.head.view
    camera.command(RESET, None, 1.0)
    camera.head.advance(3.0)
    assert camera.head.view == HOME
    assert camera.command(ACTIVATE_PRESET, 3, 3.0)
    camera.head.advance(5.0)
    assert camera.head.view == stored
    # another terminal object (a restart) with the same file has it; another input has not
    again = Camera(0, CameraPresets(path))
    assert again.presets.get(0, 3) == stored and again.presets.get(1, 3) is None
    assert not again.command(ACTIVATE_PRESET, 4, 0.0)  # never stored: nothing moves
    assert again.command(CLEAR_PRESET, 3, 0.0)
    assert CameraPresets(path).get(0, 3) is None
    assert not again.command(21, None, 0.0)  # select source is not a camera's
    path.write_text("{not json")
    assert CameraPresets(path).get(0, 3) is None  # an unreadable file: no presets


def test_autofocus_sharpens():
    camera = Camera(0, CameraPresets())
    camera.command(FOCUS_OUT, None, 0.0)
    camera.head.advance(1.0)
    assert camera.head.view.defocus > 0.5
    camera.command(AUTOFOCUS, None, 1.0)
    assert camera.head.advance(3.0).defocus == 0.0


async def test_the_track_sends_the_loop_while_still_and_live_frames_while_moving(scene):
    camera = Camera(0, CameraPresets())
    sources = MainSources(scene, {0: camera}, {0: "camera"}, tagged=False, selection=[0])
    loops = LoopCache(sources)
    track = CameraVideoTrack(7, sources, loops, SendLog())
    track.use_loop(await loops.get("H264", sources.state(), SMALL), sources.state())
    packets = [bytes(await track.recv()) for _ in range(5)]
    assert track.live_frames_sent == 0
    camera.command(PAN_RIGHT, None, time.time())
    moving = [bytes(await track.recv()) for _ in range(20)]
    assert track.live_frames_sent == 20 and track.live
    assert is_keyframe("H264", moving[0])  # the switch to the live encoder starts with one
    camera.command(PAN_RIGHT + STOP_OFFSET, None, time.time())
    after = [bytes(await track.recv()) for _ in range(40)]
    assert not track.live  # back to a loop, of the new view
    back = track.live_frames_sent - 20  # the first packet of the new view's loop
    assert 0 < back < 40 and is_keyframe("H264", after[back])
    track.stop()
    pictures = decode_packets("H264", packets + moving + after)
    assert len(pictures) == 65
    xs = [read_camera_view(p)[0] for p in pictures]  # type: ignore[index]
    assert xs[:5] == pytest.approx([0.5] * 5, abs=0.01)
    assert all(b >= a - 0.002 for a, b in zip(xs, xs[1:], strict=False))  # only rightwards
    assert xs[-1] > 0.5 + 0.01 and xs[-1] == pytest.approx(camera.head.view.x, abs=0.01)
    # frames keep their markers (site and running frame index) across the switches
    assert [read_marker(p).site_index for p in pictures] == [7] * 65  # type: ignore[union-attr]


def _niceness(pid: int, thread: int | None = None) -> int | None:
    """A process's (or one of its threads') nice value from /proc (None: it ended)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        with open(path) as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[16])
    except OSError:
        return None


async def test_loops_are_encoded_once_in_worker_processes_that_give_way(scene):
    """A loop is drawn and encoded once, in a loop encoder process (terminals/
    loop_encoders.py): one a call waits for LOOP_ENCODE_NICENESS nicer than this process,
    one the terminal goes on sending another loop meanwhile (a send ladder ask, a still
    picture after a move) at nice 19. Its pictures are the terminal's (the markers of the
    site and of each frame read at the asked size); no thread of this process is made
    nicer."""
    camera = Camera(0, CameraPresets())
    sources = MainSources(scene, {0: camera}, {0: "camera"}, tagged=False, selection=[0])
    loops = LoopCache(sources)
    ladder = VideoFormat(320, 180, 30, 200_000)  # a smaller size: the scene scaled down
    own = await loops.get("H264", sources.state(), SMALL)
    asked = await loops.get("H264", sources.state(), ladder, background=True)
    assert await loops.get("H264", sources.state(), SMALL) is own  # encoded once
    assert await loops.get("H264", sources.state(), ladder) is asked
    assert loops.encoded == [SMALL, ladder]
    for loop, video_format in ((own, SMALL), (asked, ladder)):
        pictures = decode_packets("H264", list(loop.packets))
        assert len(pictures) == loop.frames == scene.loop_frames
        assert pictures[0].shape[:2] == (video_format.height, video_format.width)
        assert [read_marker(pictures[i]) for i in (0, 5, 31)] == \
            [MarkerReading(7, 0), MarkerReading(7, 5), MarkerReading(7, 31)]

    waited, background = WAITED_LOOP_ENCODERS.pids(), BACKGROUND_LOOP_ENCODERS.pids()
    assert waited and background and os.getpid() not in waited + background
    if sys.platform == "linux":
        process_nice = os.getpriority(os.PRIO_PROCESS, os.getpid())
        assert {_niceness(worker) for worker in waited} == \
            {min(19, process_nice + LOOP_ENCODE_NICENESS)}
        assert {_niceness(worker) for worker in background} == {BACKGROUND_NICENESS}
        for worker, expected in [*((w, min(19, process_nice + LOOP_ENCODE_NICENESS))
                                   for w in waited),
                                 *((w, BACKGROUND_NICENESS) for w in background)]:
            # every thread of the worker, those started before its initializer too
            assert {_niceness(worker, int(task))
                    for task in os.listdir(f"/proc/{worker}/task")} <= {expected, None}
        assert {_niceness(os.getpid(), int(task))
                for task in os.listdir(f"/proc/{os.getpid()}/task")} <= {process_nice, None}


async def test_a_loop_encoder_that_dies_is_replaced(scene):
    """A worker killed (out of memory, by hand) breaks the pool: the next loop is encoded
    by a new one."""
    camera = Camera(0, CameraPresets())
    sources = MainSources(scene, {0: camera}, {0: "camera"}, tagged=False, selection=[0])
    first = await LoopCache(sources).get("H264", sources.state(), SMALL)
    started = WAITED_LOOP_ENCODERS.pools_started
    for worker in WAITED_LOOP_ENCODERS.pids():
        os.kill(worker, signal.SIGKILL)
    again = await LoopCache(sources).get("H264", sources.state(), SMALL)
    assert again.frames == first.frames and again.keyframes == first.keyframes
    assert WAITED_LOOP_ENCODERS.pools_started == started + 1
    assert read_marker(decode_packets("H264", list(again.packets))[3]) == MarkerReading(7, 3)


def _worker_memory_kb() -> tuple[int, int]:
    """In a loop encoder worker: its resident memory now and at its peak (VmRSS, VmHWM)."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _encode_and_read_memory_kb(scene: CameraScene, video_format: VideoFormat) -> tuple[int, int]:
    """In a loop encoder worker: encode the scene's loop, then read the worker's resident
    memory before returning, so before the worker's trim after each loop: (frames, VmRSS)."""
    loop = encode_loop(scene, "H264", video_format)
    return loop.frames, _worker_memory_kb()[0]


@pytest.mark.skipif(sys.platform != "linux" or glibc_malloc_trim() is None,
                    reason="glibc's malloc_trim, /proc")
async def test_a_loop_encoder_gives_a_loop_s_memory_back_after_it() -> None:
    """A worker returns the C heap an encode freed (the drawn pictures, x264's buffers)
    once the loop is done, instead of keeping it resident for the process's life: the
    same worker's resident memory right after a 960x540 loop and once the loop is handed
    back differ by at least 10 MB (measured: 56 MB on a development machine, 0 without the
    trim; on a CI machine whose worker kept more of the encode's memory in use, its peak
    and its resident memory after the trim were 24 MB apart)."""
    encoders = LoopEncoders("trim", nicer, workers=1)
    try:
        scene = CameraScene(7, "Site 7", 960, 540, 32)
        frames, before_trim = await encoders.encode(
            _encode_and_read_memory_kb, scene, VideoFormat(960, 540, 30, 1_000_000))
        assert frames == 32
        after_trim, _ = await encoders.encode(_worker_memory_kb)
        assert len(encoders.pids()) == 1  # the same worker all along
        assert before_trim - after_trim >= 10_000  # kB
    finally:
        encoders.shutdown()


def _worker_pid() -> int:
    time.sleep(0.5)  # long enough that two at once take two workers
    return os.getpid()


def test_a_pool_started_ahead_has_its_workers_before_any_loop() -> None:
    """A terminal starts the background pool when it starts (LoopEncoders.start), so its
    workers' own start does not fall in a call; starting it again starts nothing more."""
    encoders = LoopEncoders("ahead", nicer, workers=2)
    try:
        encoders.start()
        encoders.start()
        started = encoders.pids()
        assert len(started) == 2 and encoders.pools_started == 1
        pool = encoders._current()
        answered = {future.result(timeout=120)
                    for future in [pool.submit(_worker_pid), pool.submit(_worker_pid)]}
        assert answered == set(started) and os.getpid() not in answered  # the same two
    finally:
        encoders.shutdown()
    for worker in started:
        assert not running(worker)


async def test_a_call_never_waits_for_a_background_encode_and_a_cancelled_one_is_kept(scene):
    """A loop asked for in the background (a ladder ask) and then by a call that waits for
    it: the call's own encode in the waited pool answers it. An encode whose every caller
    was cancelled (the call ended meanwhile) is kept all the same."""
    camera = Camera(0, CameraPresets())
    sources = MainSources(scene, {0: camera}, {0: "camera"}, tagged=True, selection=[0])
    loops = LoopCache(sources)
    state = sources.state()
    ladder = VideoFormat(320, 180, 30, 200_000)
    in_background = asyncio.ensure_future(loops.get("H264", state, ladder, background=True))
    await asyncio.sleep(0)
    waited = await loops.get("H264", state, ladder)
    assert read_marker(decode_packets("H264", list(waited.packets))[2]) == MarkerReading(7, 2)
    assert (await in_background).frames == waited.frames
    assert loops.encoded == [ladder, ladder]  # the call did not wait for the background one

    other = VideoFormat(480, 270, 30, 300_000)
    cancelled = asyncio.ensure_future(loops.get("H264", state, other, background=True))
    await asyncio.sleep(0)
    cancelled.cancel()
    deadline = time.monotonic() + 120
    while loops.ready("H264", state, other) is None:
        assert time.monotonic() < deadline, "the cancelled caller's loop was never kept"
        await asyncio.sleep(0.05)
    assert loops.encoded[-1] == other


_POOL_PARENT = """
import time
from tests.test_camera import _worker_pid
from terminals.loop_encoders import LoopEncoders, nicest
encoders = LoopEncoders("orphan", nicest, workers=2)
encoders.start()
pool = encoders._current()
# a task has run in each worker: its initializer (the parent watch, SIGINT) has too
pids = {future.result() for future in [pool.submit(_worker_pid), pool.submit(_worker_pid)]}
print(" ".join(map(str, sorted(pids))), flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_loop_encoders_end_with_a_killed_parent_and_leave_ctrl_c_to_it() -> None:
    """The pool's queues keep both ends of a pipe open in its workers, so nothing would end
    them when their parent is killed: each watches its parent. A Ctrl-C (SIGINT
    to the whole process group) is the parent's to handle: the workers ignore it."""
    parent = subprocess.Popen([sys.executable, "-c", _POOL_PARENT], stdout=subprocess.PIPE,
                              text=True)
    assert parent.stdout is not None
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(running(worker) for worker in workers)
    for worker in workers:
        os.kill(worker, signal.SIGINT)
    time.sleep(0.5)
    assert all(running(worker) for worker in workers)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while any(running(worker) for worker in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(running(worker) for worker in workers)
