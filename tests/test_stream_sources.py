"""setMainAuxStreamSourcesEx and ctrlCameraEx's camSrc / camAction 21 end to end: real
simulated terminals in a conference of the running MCU, the operations through zeep from
the reference WSDL, and the effect read in the picture another site decodes.

Site A declares four inputs (two cameras, a PC, a document camera) and a fifth, a second
PC, with nothing plugged in; site B watches A full screen (setVideoSourceEx). Which of A's
inputs B sees is read from the input tags in B's decoded picture
(terminals/input_pictures.py), that it is still A from the site marker card, where a camera
points from the room's scene markers (terminals/camera.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway import result_codes
from mcu.errors import Fault
from terminals.camera import camera_home
from terminals.client import SimulatedTerminal
from terminals.device_description import device_from_options
from terminals.input_pictures import read_input_tags
from terminals.marker import read_marker
from tests.conftest import SoapClients
from tests.test_camera_control import CAMERA, book
from tests.test_cdr import eventually, site_states, ws_url

A, B = "0179001", "0179002"
A_INDEX, B_INDEX = 54, 55
IN_CONFERENCE = 2
CAMERA_0, CAMERA_1, PC, DOC, PC_UNPLUGGED = 0, 1, 2, 3, 4
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
SOURCE_NOT_CONNECTED = result_codes.result_code(Fault.SOURCE_NOT_CONNECTED)
SITE_NOT_FOUND = result_codes.result_code(Fault.SITE_NOT_FOUND)
PAN_RIGHT, STOP, SELECT_SOURCE = 0, 8, 21
WAIT_S = 15.0

Seen = list[tuple[str, int]]  # (kind, input id) of the tags, left to right


@dataclass
class Sites:
    conf_id: str
    a: SimulatedTerminal
    b: SimulatedTerminal
    soap: SoapClients

    async def sources(self, site: str, main: list[int], aux: int) -> int:
        return await asyncio.to_thread(self.soap.site_mgr.setMainAuxStreamSourcesEx,
                                       siteUri=site, localMainSrcs=main, localAuxSrc=aux)

    async def camera(self, site: str, cam_state: int, action: int, source: int) -> int:
        return await asyncio.to_thread(
            self.soap.site_mgr.ctrlCameraEx, siteUri=site,
            cameraControl={"camState": cam_state, "camAction": action, "camPos": 255,
                           "camSrc": source})

    def seen_at(self, viewer: SimulatedTerminal) -> tuple[Seen, int | None]:
        """The inputs the viewer's latest decoded picture shows, and the site it reads in
        each of them (one input: the whole picture, two: each half; None unless all agree)."""
        frame = viewer.video.last_frame
        if frame is None:
            return [], None
        tags = read_input_tags(frame)
        halves = [(0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 0.5, 1.0)]
        readings = {reading.site_index if reading else None
                    for reading in (read_marker(frame, rect)
                                    for rect in (halves if len(tags) == 2 else [None]))}
        return [(tag.kind, tag.input_id) for tag in tags], \
            readings.pop() if len(readings) == 1 else None

    async def comes_to(self, viewer: SimulatedTerminal, expected: Seen, site: int) -> list:
        """Wait until the viewer sees these inputs of that site; the tags' x positions."""
        deadline = time.monotonic() + WAIT_S
        seen: tuple[Seen, int | None] = ([], None)
        while time.monotonic() < deadline:
            seen = await asyncio.to_thread(self.seen_at, viewer)
            if seen == (expected, site):
                frame = viewer.video.last_frame
                return [tag.x for tag in read_input_tags(frame)]
            await asyncio.sleep(0.2)
        raise AssertionError(f"the viewer saw {seen}, not {(expected, site)}")


def terminal(uri: str, index: int, state_dir: Path, decode: bool,
             inputs: list[str] | None = None) -> SimulatedTerminal:
    device = device_from_options(1, inputs, index) if inputs else None
    return SimulatedTerminal(
        uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1, video_format=CAMERA,
        loop_frames=30, analyse_every=1 << 30, decode_video=decode, decode_audio=False,
        state_dir=state_dir, device=device)


async def watch(sites: Sites, viewer: str, watched: str) -> None:
    answer = await asyncio.to_thread(sites.soap.conf_ctrl.setVideoSourceEx,
                                     confId=sites.conf_id, siteUri=viewer,
                                     videoSourceUri=watched, isLock=0)
    assert answer == 0


@pytest.fixture
async def sites(gateway_server, soap, clock, tmp_path) -> AsyncIterator[Sites]:
    a = terminal(A, A_INDEX, tmp_path, decode=True,
                 inputs=["camera", "camera", "pc", "doc-camera", "pc"])
    b = terminal(B, B_INDEX, tmp_path, decode=True)
    await a.unplug(PC_UNPLUGGED)  # before registering: declared with nothing plugged in
    for t in (a, b):
        await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, clock.now(), [A, B])
        await eventually(
            lambda: set(site_states(soap, conf_id).values()) == {IN_CONFERENCE}
            and len(site_states(soap, conf_id)) == 2, "both in conference")
        room = Sites(conf_id, a, b, soap)
        await watch(room, B, A)
        await eventually(lambda: b.video.frames_decoded > 10, "B decodes")
        await room.comes_to(b, [("camera", CAMERA_0)], A_INDEX)  # the first camera at first
        yield room
    finally:
        for t in (a, b):
            await t.stop()


async def test_the_main_source_switches_from_camera_to_document_camera_at_the_viewer(sites):
    assert await sites.sources(A, [DOC], PC) == 0
    await sites.comes_to(sites.b, [("doc-camera", DOC)], A_INDEX)
    assert await sites.b.read_camera_view() is None  # no room in a document camera's view
    assert sites.a.aux_source == PC
    assert [(m.main, m.aux, obeyed) for m, obeyed in sites.a.source_commands] == [
        ([DOC], PC, True)]
    # and back to the camera: B reads the room again
    assert await sites.sources(A, [CAMERA_0], PC) == 0
    await sites.comes_to(sites.b, [("camera", CAMERA_0)], A_INDEX)
    view = await sites.b.read_camera_view()
    assert view is not None and view[:2] == pytest.approx((0.5, 0.5), abs=0.02)


async def test_two_main_sources_make_a_local_multi_picture(sites):
    assert await sites.sources(A, [PC, CAMERA_0], PC) == 0
    left, right = await sites.comes_to(sites.b, [("pc", PC), ("camera", CAMERA_0)], A_INDEX)
    assert left < 0.5 < right  # the PC on the left, the camera on the right, as chosen
    view = await sites.b.read_camera_view((0.5, 0.25, 0.5, 0.5))  # the camera's half
    assert view is not None and view[:2] == pytest.approx((0.5, 0.5), abs=0.03)


async def test_each_camera_input_is_its_own_window_and_cam_src_moves_that_one(sites):
    assert await sites.sources(A, [CAMERA_1], PC) == 0
    await sites.comes_to(sites.b, [("camera", CAMERA_1)], A_INDEX)
    await asyncio.sleep(0.6)
    home = camera_home(1)
    x0, y0, _ = await sites.b.read_camera_view() or (0.0, 0.0, 0.0)
    assert (x0, y0) == pytest.approx((home.x, home.y), abs=0.02)  # not camera 0's view
    assert await sites.camera(A, 0, PAN_RIGHT, CAMERA_1) == 0
    await asyncio.sleep(1.0)
    assert await sites.camera(A, 0, STOP + PAN_RIGHT, CAMERA_1) == 0
    await asyncio.sleep(0.8)
    x1, _, _ = await sites.b.read_camera_view() or (0.0, 0.0, 0.0)
    assert x1 > x0 + 0.03  # the second camera moved, in the picture B decodes
    assert sites.a.cameras[CAMERA_0].head.view.x == pytest.approx(0.5)  # the first did not
    assert sites.a.cameras[CAMERA_1].head.view.x == pytest.approx(x1, abs=0.02)


async def test_select_source_makes_the_input_the_main_source_here_and_at_the_far_end(sites):
    # camState 0: the operator selects A's PC for A's main stream
    assert await sites.camera(A, 0, SELECT_SOURCE, PC) == 0
    await sites.comes_to(sites.b, [("pc", PC)], A_INDEX)
    # camState 1: B selects the document camera of the site it watches (A), as H.281 does
    assert await sites.camera(B, 1, SELECT_SOURCE, DOC) == 0
    await sites.comes_to(sites.b, [("doc-camera", DOC)], A_INDEX)
    assert sites.b.source_commands == []  # B's own sources were not touched
    assert sites.a.camera_commands == []  # no camera was told to move


@pytest.mark.parametrize(("call", "code"), [
    (("sources", A, [PC_UNPLUGGED], PC), SOURCE_NOT_CONNECTED),  # nothing plugged in
    (("sources", A, [DOC], PC_UNPLUGGED), SOURCE_NOT_CONNECTED),  # the aux input is empty
    (("sources", A, [CAMERA_0, PC_UNPLUGGED], PC), SOURCE_NOT_CONNECTED),
    (("sources", A, [9], PC), OUT_OF_RANGE),  # no input 9
    (("sources", A, [DOC], CAMERA_1), OUT_OF_RANGE),  # a camera cannot feed the aux stream
    (("sources", A, [DOC, DOC], PC), OUT_OF_RANGE),  # an input twice
    (("sources", A, [CAMERA_0, CAMERA_1, PC, DOC, CAMERA_0], PC), OUT_OF_RANGE),  # five
    (("sources", "0179999", [DOC], PC), SITE_NOT_FOUND),
    (("camera", A, 0, SELECT_SOURCE, PC_UNPLUGGED), SOURCE_NOT_CONNECTED),
    (("camera", A, 0, SELECT_SOURCE, 9), OUT_OF_RANGE),
    (("camera", A, 0, PAN_RIGHT, PC), result_codes.result_code(Fault.NO_CAMERA)),
])
async def test_bad_sources_answer_their_code_and_change_nothing(sites, gateway_server, call,
                                                                code):
    kind, *args = call
    answer = await (sites.sources(*args) if kind == "sources" else sites.camera(*args))
    assert answer == code
    await asyncio.sleep(0.8)
    await sites.comes_to(sites.b, [("camera", CAMERA_0)], A_INDEX)
    assert sites.a.source_commands == [] and sites.a.camera_commands == []
    assert sites.a.main_sources.selection == (CAMERA_0,) and sites.a.aux_source is None
    assert gateway_server.gateway.runtime.devices.stream_sources(A) == ((), None)
