"""ctrlCameraEx end to end: real simulated terminals in a conference of the running MCU,
the operation through zeep from the reference WSDL, and the effect read where a person would
see it: in the picture another site decodes. Site B watches site A full screen
(setVideoSourceEx); the position of A's camera is read back from the room's scene markers
in B's decoded picture (terminals/camera.py read_camera_view).

- pan right (from the room's left limit, so that the motion has 5 s to go, not 2.5 s: on a
  loaded machine the test's own steps took longer than 2.5 s and the camera stopped at the
  room's edge before the test's stop): the view's x read at B grows while the motion lasts
  and holds after the stop; the frame rate at B holds while the camera moves (the MCU's
  frames B received, counted on the MCU's RTP clock, not on the arrival clock of a loop
  that a loaded machine stalls and then floods);

A view "settled" at B is read from a picture that A sent after its camera stopped (the
site marker's frame index in the same picture, looked up in the process's send log), not
after a fixed sleep, which a loaded machine's latency outlasted.
- zoom in: the zoom read at B grows;
- a preset stored, the camera moved away, the preset activated: the view is back within a
  tolerance; the preset is in the terminal's state file;
- far end (camState 1): B moves the camera of the site it watches (A), A's terminal is
  told who asked;
- refusals answer their code, reach no terminal and move nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from gateway import result_codes
from mcu.errors import Fault
from terminals.camera import CameraPresets, read_camera_view
from terminals.client import SimulatedTerminal
from terminals.marker import read_marker
from terminals.media_sources import VideoFormat
from tests.conftest import SoapClients
from tests.test_cdr import eventually, site_states, ws_url

A, B, C = "0178001", "0178002", "0178003"  # C: registered, in no conference
IN_CONFERENCE = 2
P360 = 13  # the eSDK videoFormat the MCU sends B: 640x360, the camera's aspect
CAMERA = VideoFormat(640, 360, 15, 600_000)
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
MISSING_PARAMETER = result_codes.result_code(Fault.MISSING_PARAMETER)
NOT_SUPPORTED = result_codes.result_code(Fault.NOT_SUPPORTED)
NO_CAMERA = result_codes.result_code(Fault.NO_CAMERA)
SITE_NOT_IN_CONFERENCE = result_codes.result_code(Fault.SITE_NOT_IN_CONFERENCE)
SOURCE_NOT_CONNECTED = result_codes.result_code(Fault.SOURCE_NOT_CONNECTED)

PAN_RIGHT, PAN_LEFT, ZOOM_IN = 0, 1, 4
STOP = 8
STORE, ACTIVATE = 18, 19
TOLERANCE = 0.01  # room fractions (and zoom) between the view read and the view expected
# A picture A sent this long after its camera stopped shows the view it stopped at (a frame
# whose encoding was under way at the stop may show the view just before it).
AFTER_STOP_S = 0.2
READ_TIMEOUT_S = 20.0


def control(cam_state: int, action: int, position: int = 255, source: int = 0) -> dict:
    return {"camState": cam_state, "camAction": action, "camPos": position, "camSrc": source}


@dataclass
class Room:
    conf_id: str
    a: SimulatedTerminal
    b: SimulatedTerminal
    soap: SoapClients
    state_dir: Path

    async def camera(self, site: str, cam_state: int, action: int, position: int = 255,
                     source: int = 0) -> int:
        return await asyncio.to_thread(
            self.soap.site_mgr.ctrlCameraEx, siteUri=site,
            cameraControl=control(cam_state, action, position, source))

    async def view_at_b(self) -> tuple[float, float, float]:
        """A's camera as B sees it now (the latest decoded picture that shows markers)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            view = await self.b.read_camera_view()
            if view is not None:
                return view
            await asyncio.sleep(0.1)
        raise AssertionError("no scene marker readable in B's picture")

    async def settled_view_at_b(self) -> tuple[float, float, float]:
        """The view at B once A's camera is still and B's picture has caught up with it:
        read from a picture A sent AFTER_STOP_S after its camera was seen still."""
        head = self.a.cameras[0].head
        deadline = time.monotonic() + READ_TIMEOUT_S
        while head.moving:
            assert time.monotonic() < deadline, "A's camera never stopped"
            await asyncio.sleep(0.05)
        still_since = time.time()
        while time.monotonic() < deadline:
            seen = await self.view_and_send_time_at_b()
            if seen is not None and seen[1] >= still_since + AFTER_STOP_S:
                return seen[0]
            await asyncio.sleep(0.1)
        raise AssertionError("B never showed a picture A sent after its camera stopped")

    async def view_and_send_time_at_b(
            self) -> tuple[tuple[float, float, float], float] | None:
        """A's camera view in B's latest decoded picture and when A sent that picture (the
        site marker's frame index in the same picture, in the send log); None when either
        is unreadable or the picture is older than A's loop (its index was sent again)."""
        video = self.b.video
        frame, received_at = video.last_frame, video.last_received_at
        if frame is None:
            return None
        marker, view = await asyncio.to_thread(
            lambda: (read_marker(frame), read_camera_view(frame)))
        if marker is None or view is None:
            return None
        latency = self.b.send_log.latency(marker.site_index, marker.frame_index, received_at)
        if latency is None:
            return None
        return view, received_at - latency


def terminal(uri: str, index: int, state_dir: Path, decode: bool) -> SimulatedTerminal:
    return SimulatedTerminal(
        uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1, video_format=CAMERA,
        loop_frames=30, analyse_every=1 << 30, decode_video=decode, decode_audio=False,
        state_dir=state_dir,
    )


def book(soap: SoapClients, begin, uris: list[str]) -> str:
    info = {
        "name": "Camera review", "beginTime": begin, "duration": timedelta(hours=1),
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0, "rate": "1920k",
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": P360} for uri in uris],
    }
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=info)
    assert answer.resultCode == 0
    return answer.conferenceInfo.confId


@pytest.fixture
async def room(gateway_server, soap, clock, tmp_path) -> AsyncIterator[Room]:
    a = terminal(A, 51, tmp_path, decode=False)
    b = terminal(B, 52, tmp_path, decode=True)
    for t in (a, b):
        await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, clock.now(), [A, B])
        await eventually(
            lambda: set(site_states(soap, conf_id).values()) == {IN_CONFERENCE}
            and len(site_states(soap, conf_id)) == 2, "both in conference")
        answer = await asyncio.to_thread(soap.conf_ctrl.setVideoSourceEx, confId=conf_id,
                                         siteUri=B, videoSourceUri=A, isLock=0)
        assert answer == 0
        await eventually(lambda: b.video.frames_decoded > 10, "B decodes")
        yield Room(conf_id, a, b, soap, tmp_path)
    finally:
        for t in (a, b):
            await t.stop()


async def frame_rate_at_b_over(room: Room, seconds: float) -> float:
    """The rate of the frames B received over the last `seconds`, on the MCU's RTP clock
    (the frames the MCU made in that time; 0 when fewer than two came)."""
    await asyncio.sleep(seconds)
    rate = room.b.video.frame_rate(seconds)
    return rate.by_timestamps if rate is not None else 0.0


async def test_pan_right_moves_what_the_viewer_sees_and_stop_holds_it(room):
    home = await room.settled_view_at_b()
    assert abs(home[0] - 0.5) < TOLERANCE and abs(home[1] - 0.5) < TOLERANCE  # the home view
    # to the room's left limit (0.25 at zoom 1), where the motion ends by itself
    assert await room.camera(A, 0, PAN_LEFT) == 0
    head = room.a.cameras[0].head
    await eventually(lambda: not head.moving and head.view.x < 0.5 - TOLERANCE,
                     "A's camera at the room's left limit")
    x0, y0, zoom0 = await room.settled_view_at_b()
    assert abs(x0 - 0.25) < TOLERANCE and abs(y0 - 0.5) < TOLERANCE
    still_rate = await frame_rate_at_b_over(room, 1.0)

    # 0.1 room widths a second at zoom 1: the pan reaches the room's right edge after 5 s
    assert await room.camera(A, 0, PAN_RIGHT) == 0
    x1 = x0
    # B's picture follows A's camera within its latency (up to 3 s: a loaded machine's;
    # the motion lasts 5 s, so the steps below still end before the room's edge)
    deadline = time.monotonic() + 3.0
    while x1 < x0 + 0.02 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        x1, _, _ = await room.view_at_b()
    moving_rate = await frame_rate_at_b_over(room, 1.0)
    x2, y2, zoom2 = await room.view_at_b()
    assert head.moving, "A's camera reached the room's edge before the test's stop"
    assert x0 + 0.02 < x1 < x2  # it goes on moving right
    assert abs(y2 - y0) < TOLERANCE and abs(zoom2 - zoom0) < 0.02  # only the pan moved
    # the frame rate holds while A encodes live
    assert moving_rate >= 0.8 * still_rate, (moving_rate, still_rate)
    assert room.a.live_camera_frames > 0  # sent by the live encoder, not a loop

    assert await room.camera(A, 0, STOP + PAN_RIGHT) == 0
    held = await room.settled_view_at_b()
    await asyncio.sleep(1.0)
    later = await room.view_at_b()
    assert held[0] > x2
    assert abs(later[0] - held[0]) < TOLERANCE / 2  # it stays where it stopped
    # and the view B reads is where A's camera points
    assert abs(held[0] - room.a.cameras[0].head.view.x) < TOLERANCE


async def test_zoom_in_then_a_preset_brings_the_view_back(room):
    home = await room.settled_view_at_b()
    assert await room.camera(A, 0, STORE, position=5) == 0
    await eventually(lambda: (room.state_dir / f"{A}.camera-presets.json").exists(),
                     "the preset in A's state file")

    assert await room.camera(A, 0, ZOOM_IN) == 0
    await asyncio.sleep(1.0)
    assert await room.camera(A, 0, STOP + ZOOM_IN) == 0
    zoomed = await room.settled_view_at_b()
    assert zoomed[2] > home[2] + 0.1
    assert await room.camera(A, 0, PAN_LEFT) == 0
    await asyncio.sleep(1.0)
    assert await room.camera(A, 0, STOP + PAN_LEFT) == 0
    away = await room.settled_view_at_b()
    assert away[0] < home[0] - 0.03

    assert await room.camera(A, 0, ACTIVATE, position=5) == 0
    await asyncio.sleep(1.0)  # a preset move takes at most PRESET_MOVE_S
    back = await room.settled_view_at_b()
    assert all(abs(b - h) < TOLERANCE for b, h in zip(back, home, strict=True)), (back, home)

    # the terminal owns the preset: a new terminal object with its state dir has it
    stored = json.loads((room.state_dir / f"{A}.camera-presets.json").read_text())
    assert [(p["input"], p["preset"]) for p in stored["presets"]] == [(0, 5)]
    reloaded = CameraPresets(room.state_dir / f"{A}.camera-presets.json").get(0, 5)
    assert reloaded is not None and abs(reloaded.x - 0.5) < TOLERANCE


async def test_far_end_control_moves_the_camera_of_the_site_watched(room):
    x0, _, _ = await room.settled_view_at_b()
    # B moves the camera of the site it watches (A: its video source)
    assert await room.camera(B, 1, PAN_LEFT) == 0
    await asyncio.sleep(1.0)
    assert await room.camera(B, 1, STOP + PAN_LEFT) == 0
    x1, _, _ = await room.settled_view_at_b()
    assert x1 < x0 - 0.03
    commands = [(c.action, c.requested_by) for c, obeyed in room.a.camera_commands if obeyed]
    assert commands == [(PAN_LEFT, B), (STOP + PAN_LEFT, B)]
    assert room.b.camera_commands == []  # B's own camera was not told anything
    assert not room.b.cameras[0].head.moving


@pytest.mark.parametrize(("site", "cam_state", "action", "position", "source", "code"), [
    (A, 2, PAN_RIGHT, 255, 0, OUT_OF_RANGE),  # camState 0 or 1
    (A, 0, 24, 255, 0, OUT_OF_RANGE),  # no such action
    (A, 0, 22, 255, 0, NOT_SUPPORTED),  # source switched: a notice, not a command
    (A, 0, 23, 255, 0, NOT_SUPPORTED),  # camera picture-in-picture: not offered
    (A, 0, 21, 255, 2, SOURCE_NOT_CONNECTED),  # select source: nothing in input 2
    (A, 0, PAN_RIGHT, 7, 0, OUT_OF_RANGE),  # camPos on a motion
    (A, 0, STORE, 255, 0, OUT_OF_RANGE),  # preset number out of range
    (A, 0, STORE, None, 0, MISSING_PARAMETER),  # preset number missing
    (A, 0, PAN_RIGHT, 255, 9, OUT_OF_RANGE),  # no input 9
    (A, 0, PAN_RIGHT, 255, 1, NO_CAMERA),  # input 1 is the PC
    (C, 0, PAN_RIGHT, 255, 0, SITE_NOT_IN_CONFERENCE),  # registered, in no conference
])
async def test_refusals_reach_no_terminal_and_move_nothing(room, gateway_server, site,
                                                           cam_state, action, position,
                                                           source, code):
    c = terminal(C, 53, room.state_dir, decode=False)
    await c.start(ws_url(gateway_server.base_url))
    try:
        before = await room.settled_view_at_b()
        assert await room.camera(site, cam_state, action, position, source) == code
        after = await room.settled_view_at_b()
        assert all(abs(x - y) < TOLERANCE / 2 for x, y in zip(before, after, strict=True))
        assert room.a.camera_commands == [] and room.b.camera_commands == []
        assert room.a.source_commands == [] and room.b.source_commands == []
        assert c.camera_commands == []
        assert not room.a.cameras[0].head.moving
    finally:
        await c.stop()
