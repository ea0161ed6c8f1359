"""The demo's device steps (issue 13): a three-screen specialist room, its camera moved by
ctrlCameraEx (pan and zoom, a preset, far-end control) and its main source switched by
setMainAuxStreamSourcesEx, each proved from what the other terminals decode.

One of the demo's four terminals is the room (ROOM_INPUTS on three screens, hdOut 0..2
named HD1..HD3); the others are single-screen terminals without a declared device. The
steps run after voice switching, so the speaker (the loud talker) and the CP picture are
known:

  three_screens    the room's screens read per screen: HD1 the CP picture, HD2 the speaker
                   full screen (nothing is shared in this step: the documented default when no
                   content is), HD3 the second CP (the room chose no video source);
                   queryVideoOutSrcStateEx answers the same per screen
  camera_pan_zoom  setBroadcastSiteEx the room, so every other terminal watches its camera
                   full screen; ctrlCameraEx pans right then zooms in: every viewer reads the
                   scene markers (terminals/camera.py read_camera_view) further right, as
                   high as before, closer
  camera_preset    preset 1 stored there, the camera panned away (seen away by every viewer),
                   preset 1 activated: every viewer reads the stored view again within
                   VIEW_TOLERANCE
  far_end_camera   a viewer pans the far end's camera (camState 1, the site it watches: the
                   broadcast room); every viewer sees it move left; the room's terminal was
                   told who asked, the requester's own camera was told nothing
  main_source      setMainAuxStreamSourcesEx: the room's main stream from its camera to its
                   document camera (aux: the PC); every viewer reads the doc-camera input tag
                   (terminals/input_pictures.py read_input_tags) and still the room's marker

After the last, `restore` puts the room back as it was (camera source, camera home, broadcast
stopped) so the steps that follow see what they saw before these were added.

The browser terminal (`--browser`) takes no part: it reads site markers in panes only
(app/demo/browser.py), not the scene markers, the input tags or a second screen, and it
has no camera the MCU can move; it stays in the conference, unread, during these steps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from terminals.camera import (
    ACTIVATE_PRESET,
    PAN_LEFT,
    PAN_RIGHT,
    RESET,
    STOP_OFFSET,
    STORE_PRESET,
    ZOOM_IN,
    read_camera_view,
)
from terminals.device_description import device_from_options
from terminals.input_pictures import read_input_tags

if TYPE_CHECKING:
    from app.demo.scenario import Consultation
    from app.demo.steps import Observation, Step
    from rtc.signalling import Device

ROOM_INDEX = 0  # the demo's terminal (site index) that is the three-screen room
ROOM_SCREENS = 3
ROOM_INPUTS = ["camera", "pc", "doc-camera"]  # input ids 0, 1, 2
CAMERA, PC, DOC_CAMERA = 0, 1, 2
LOCAL, FAR_END = 0, 1  # camState
NO_POSITION = 255  # camPos of a motion
PRESET = 1
MOTION_S = 1.0  # how long each motion runs before its stop
MOVED = 0.03  # room fractions a pan must move the view read at a viewer
ZOOMED = 1.15  # factor a zoom must grow the zoom read at a viewer
STILL = 0.03  # room fractions a coordinate that should not move may drift (reading noise)
VIEW_TOLERANCE = 0.02  # a preset's view read again: room fractions (x, y), and zoom
SETTLE_S = 0.6  # a still camera: the viewers' pictures have caught up
STILL_EPS = 0.005  # two readings of a still picture agree within this (x, y, zoom)
SCREEN_BASE = 256  # queryVideoOutSrcStateEx: a screen's sourcesId is 256 + hdOut
FULL = "CP_1_1"
QUAD = "CP_4_1"

View = tuple[float, float, float]  # (x, y, zoom) read from the scene markers
Rect4 = tuple[float, float, float, float]  # (x, y, w, h) fractions of a picture


def room_device(site_index: int) -> Device:
    """The specialist room's declared device: three screens, a camera, a PC and a document
    camera (terminals/device_description.py)."""
    return device_from_options(ROOM_SCREENS, ROOM_INPUTS, site_index,
                               model="MCU-SIM Specialist Room 3S")


def device_for(site_index: int) -> Device | None:
    """start_terminals' device_for: the room at ROOM_INDEX, no declared device elsewhere."""
    return room_device(site_index) if site_index == ROOM_INDEX else None


def letterbox_rect(out_w: int, out_h: int, src_w: int, src_h: int) -> Rect4:
    """Where a src_w x src_h picture shown whole (letterboxed, the compositor's fit) lies in
    an out_w x out_h picture, as fractions (x, y, w, h): read_camera_view's rect."""
    scale = min(out_w / src_w, out_h / src_h)
    w, h = src_w * scale / out_w, src_h * scale / out_h
    return ((1 - w) / 2, (1 - h) / 2, w, h)


class DeviceSteps:
    """The device steps of one consultation (its SOAP client, terminals and join order)."""

    def __init__(self, demo: Consultation, room: str, camera_rect: Rect4) -> None:
        self.demo = demo
        self.room = room
        self.viewers = [uri for uri in demo.join_order if uri != room]
        self.camera_rect = camera_rect  # the camera picture inside a viewer's full screen
        self.uri_of_index = {t.site_index: uri for uri, t in demo.terminals.items()}
        self.stored: dict[str, View | None] = {}  # preset 1 as each viewer read it

    # ------------------------------------------------------------------ SOAP helpers

    async def camera(self, site: str, cam_state: int, action: int,
                     position: int = NO_POSITION, source: int = CAMERA) -> None:
        from app.demo.soap_client import check

        check(await self.demo.soap_call(
            self.demo.soap.site_mgr.ctrlCameraEx, siteUri=site,
            cameraControl={"camState": cam_state, "camAction": action, "camPos": position,
                           "camSrc": source}), f"ctrlCameraEx {action}")

    async def motion(self, site: str, cam_state: int, action: int) -> None:
        """Start a motion, let it run MOTION_S, stop it."""
        await self.camera(site, cam_state, action)
        await asyncio.sleep(MOTION_S)
        await self.camera(site, cam_state, action + STOP_OFFSET)

    async def broadcast(self, start: bool) -> None:
        from app.demo.soap_client import check

        check(await self.demo.soap_call(
            self.demo.soap.conf_ctrl.setBroadcastSiteEx, confId=self.demo.conf_id,
            siteUri=self.room, isBroadcast=0 if start else 1), "setBroadcastSiteEx")

    async def sources(self, main: list[int], aux: int) -> None:
        from app.demo.soap_client import check

        check(await self.demo.soap_call(
            self.demo.soap.site_mgr.setMainAuxStreamSourcesEx, siteUri=self.room,
            localMainSrcs=main, localAuxSrc=aux), "setMainAuxStreamSourcesEx")

    def screens_answer(self) -> dict[str, Any]:
        """Blocking (a step's query): queryVideoOutSrcStateEx's screen entries of the room,
        hdOut -> its sourcesName (what the screen shows, from the media)."""
        from app.demo.soap_client import check

        answer = check(self.demo.soap.site_mgr.queryVideoOutSrcStateEx(siteUri=self.room),
                       "queryVideoOutSrcStateEx")
        return {"screens": {info.sourcesId - SCREEN_BASE: info.sourcesName
                            for info in answer.videoSourcesInfos or []
                            if info.sourcesId >= SCREEN_BASE}}

    # ------------------------------------------------------------------ readings

    async def view_at(self, uri: str) -> View | None:
        frame = self.demo.terminals[uri].video.last_frame
        if frame is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(
            None, read_camera_view, frame, self.camera_rect)

    async def views(self) -> dict[str, View | None]:
        read = await asyncio.gather(*(self.view_at(uri) for uri in self.viewers))
        return dict(zip(self.viewers, read, strict=True))

    async def settled_views(self, test: Callable[[dict[str, View | None]], bool] | None = None,
                            ) -> dict[str, View | None]:
        """The viewers' views once every viewer's picture is still (two readings SETTLE_S
        apart agree within STILL_EPS: the camera stopped and the pictures caught up) and
        (when given) `test` holds; the last reading at the step's timeout."""
        deadline = time.monotonic() + self.demo.options.step_timeout
        previous = await self.views()
        while True:
            await asyncio.sleep(SETTLE_S)
            views = await self.views()
            still = all(_close(previous[uri], view, STILL_EPS) for uri, view in views.items())
            if (still and (test is None or test(views))) or time.monotonic() > deadline:
                return views
            previous = views

    async def camera_probe(self) -> dict[str, Any]:
        views = await self.views()
        return {"camera": {uri: None if view is None else {
            "site": self.room, "x": round(view[0], 4), "y": round(view[1], 4),
            "zoom": round(view[2], 4)} for uri, view in views.items()}}

    async def tags_probe(self) -> dict[str, Any]:
        async def tags(uri: str) -> list[tuple[str, int]]:
            frame = self.demo.terminals[uri].video.last_frame
            if frame is None:
                return []
            read = await asyncio.get_running_loop().run_in_executor(
                None, read_input_tags, frame, self.camera_rect)
            return [(tag.kind, tag.input_id) for tag in read]

        seen = await asyncio.gather(*(tags(uri) for uri in self.viewers))
        return {"tags": dict(zip(self.viewers, seen, strict=True))} | await self.camera_probe()

    async def screens_probe(self) -> dict[str, Any]:
        """Every terminal's screens read in the panes the step expects on each."""
        screens: dict[str, list[dict[str, Any]]] = {}
        for uri, terminal in self.demo.terminals.items():
            readings = await asyncio.gather(*(
                terminal.read_screen(position) for position in range(len(terminal.screens))))
            screens[uri] = [
                {"output": hd_out, "name": name,
                 "panes": [self.uri_of_index.get(p.site_index) if p.site_index is not None
                           else None for p in panes]}
                for (hd_out, name), panes in zip(terminal.screen_ports, readings, strict=True)]
        return {"screens": screens}

    # ------------------------------------------------------------------ the steps

    def views_full_screen(self) -> dict[str, str | None]:
        """The viewers read the broadcast room full screen; the room is not read."""
        views: dict[str, str | None] = {uri: FULL for uri in self.viewers}
        views[self.room] = None
        return views

    def three_screens(self, speaker: str) -> Step:
        from app.demo.steps import Check, Step, pane_rects

        j = self.demo.join_order
        room = self.demo.terminals[self.room]
        cp = [speaker] + [uri for uri in j if uri != speaker]
        # screen 2's default: the speaker full screen, not the site itself (then the first
        # other site to have joined: docs/runtime.md "Multi-screen sites")
        far = speaker if speaker != self.room else next(uri for uri in j if uri != self.room)
        expected = {0: cp, 1: [far], 2: cp}
        layouts = {0: QUAD, 1: FULL, 2: QUAD}
        names = {0: "cp:", 1: f"site:{far}", 2: "cp:"}

        async def act() -> None:
            for position, layout in layouts.items():
                room.set_screen_panes(position, pane_rects(layout))

        def screen_held(position: int) -> Callable[[Observation], tuple[bool, str]]:
            def test(o: Observation) -> tuple[bool, str]:
                screens = o.probed.get("screens", {}).get(self.room, [])
                seen = screens[position]["panes"] if len(screens) > position else None
                return seen == expected[position], f"HD{position + 1}: {seen}"
            return test

        def answered(o: Observation) -> tuple[bool, str]:
            shown = o.api.get("screens", {})
            wanted = {hd: f"HD{hd + 1}:{name}" for hd, name in names.items()}
            return shown == wanted, f"queryVideoOutSrcStateEx screens: {shown}"

        def single_screens(o: Observation) -> tuple[bool, str]:
            screens = o.probed.get("screens", {})
            others = {uri: [s["panes"] for s in screens.get(uri, [])]
                      for uri in self.demo.terminals if uri != self.room}
            held = all(seen == [cp] for seen in others.values())
            return held, "; ".join(f"{uri}: {seen}" for uri, seen in others.items())

        return Step(
            "three_screens",
            f"the three-screen room {self.room} (hdOut 0..2) in the voice-switched CP_4_1",
            act, self.demo.everyone(QUAD),
            [
                Check("three_screens.cp", f"three screens: {self.room}'s HD1 shows the CP "
                      f"picture {cp}", screen_held(0)),
                Check("three_screens.speaker", f"three screens: {self.room}'s HD2 shows "
                      f"{far} full screen (the speaker; no content shared)", screen_held(1)),
                Check("three_screens.second_cp", f"three screens: {self.room}'s HD3 shows the "
                      f"second CP {cp} (no video source chosen)", screen_held(2)),
                Check("three_screens.query", "three screens: queryVideoOutSrcStateEx answers "
                      "what each of the room's screens shows", answered),
                Check("three_screens.single", "three screens: each single-screen terminal has "
                      "one screen, the CP picture", single_screens),
            ],
            query=lambda: self.demo.conference_facts() | self.screens_answer(),
            probe=self.screens_probe,
        )

    def camera_pan_zoom(self) -> Step:
        from app.demo.steps import Check, Step

        before: dict[str, View | None] = {}

        async def act() -> None:
            await self.broadcast(True)
            for uri in self.viewers:
                self.demo.terminals[uri].set_panes(None)
            # every viewer reads the room's camera at its home view before it moves
            before.update(await self.settled_views(lambda views: all(
                v is not None and abs(v[0] - 0.5) < MOVED and abs(v[1] - 0.5) < MOVED
                for v in views.values())))
            await self.motion(self.room, LOCAL, PAN_RIGHT)
            await self.motion(self.room, LOCAL, ZOOM_IN)
            await self.settled_views()  # the checks read the view where the camera stopped

        def moved(test: Callable[[View, View], bool], what: str,
                  ) -> Callable[[Observation], tuple[bool, str]]:
            def check(o: Observation) -> tuple[bool, str]:
                return _views_held(o, before, test, what)
            return check

        return Step(
            "camera_pan_zoom",
            f"setBroadcastSiteEx {self.room}; ctrlCameraEx {self.room} camState 0: pan right "
            f"{MOTION_S:g} s, zoom in {MOTION_S:g} s",
            act, self.views_full_screen(),
            [
                Check("camera_pan_zoom.broadcast", f"camera: every other terminal watches "
                      f"{self.room} full screen", lambda o: _each_panes(o, self.viewers,
                                                                        [self.room])),
                Check("camera_pan_zoom.home", "camera: before moving, every viewer read the "
                      "camera's home view (x 0.5, y 0.5)",
                      lambda o: _before_home(before)),
                Check("camera_pan_zoom.pan", f"camera: every viewer sees the view move right "
                      f"(x up by more than {MOVED}) and not up or down",
                      moved(lambda b, v: v[0] > b[0] + MOVED and abs(v[1] - b[1]) < STILL,
                            "x, y")),
                Check("camera_pan_zoom.zoom", f"camera: every viewer sees the zoom grow "
                      f"(by more than x{ZOOMED})", moved(lambda b, v: v[2] > b[2] * ZOOMED,
                                                          "zoom")),
            ],
            query=self.demo.conference_facts,
            probe=self.camera_probe,
        )

    def camera_preset(self) -> Step:
        from app.demo.steps import Check, Step

        away: dict[str, View | None] = {}

        async def act() -> None:
            self.stored.update(await self.settled_views())
            await self.camera(self.room, LOCAL, STORE_PRESET, position=PRESET)
            await self.motion(self.room, LOCAL, PAN_LEFT)
            away.update(await self.settled_views(lambda views: all(
                _moved_left(self.stored[uri], v) for uri, v in views.items())))
            await self.camera(self.room, LOCAL, ACTIVATE_PRESET, position=PRESET)
            await self.settled_views()

        def back(o: Observation) -> tuple[bool, str]:
            return _views_held(o, self.stored, lambda b, v: all(
                abs(p - q) < VIEW_TOLERANCE for p, q in zip(b, v, strict=True)), "x, y, zoom")

        def moved_away(o: Observation) -> tuple[bool, str]:
            held = all(_moved_left(self.stored.get(uri), view) for uri, view in away.items())
            return held and bool(away), "; ".join(
                f"{uri}: stored {_fmt(self.stored.get(uri))}, away {_fmt(view)}"
                for uri, view in away.items())

        return Step(
            "camera_preset",
            f"ctrlCameraEx {self.room}: store preset {PRESET}, pan left {MOTION_S:g} s, "
            f"activate preset {PRESET}",
            act, self.views_full_screen(),
            [
                Check("camera_preset.away", "preset: every viewer saw the camera panned away "
                      "from the stored view", moved_away),
                Check("camera_preset.back", f"preset: every viewer reads the stored view "
                      f"again (within {VIEW_TOLERANCE})", back),
            ],
            query=self.demo.conference_facts,
            probe=self.camera_probe,
        )

    def far_end_camera(self) -> Step:
        from app.demo.steps import Check, Step

        requester = self.viewers[0]
        room = self.demo.terminals[self.room]
        before: dict[str, View | None] = {}
        commands_before: list[int] = []

        async def act() -> None:
            before.update(await self.settled_views())
            commands_before.append(len(room.camera_commands))
            await self.motion(requester, FAR_END, PAN_LEFT)
            await self.settled_views()

        def told(o: Observation) -> tuple[bool, str]:
            new = [(c.action, c.requested_by, obeyed)
                   for c, obeyed in room.camera_commands[commands_before[0]:]]
            wanted = [(PAN_LEFT, requester, True), (PAN_LEFT + STOP_OFFSET, requester, True)]
            own = self.demo.terminals[requester].camera_commands
            return new == wanted and not own, \
                f"{self.room} obeyed {new}; {requester}'s own camera told {len(own)} commands"

        return Step(
            "far_end_camera",
            f"ctrlCameraEx {requester} camState 1 (the site it watches: {self.room}): pan "
            f"left {MOTION_S:g} s",
            act, self.views_full_screen(),
            [
                Check("far_end_camera.moved", f"far end: every viewer sees {self.room}'s "
                      f"camera move left (x down by more than {MOVED})",
                      lambda o: _views_held(o, before, _moved_left, "x")),
                Check("far_end_camera.relayed", f"far end: {self.room}'s terminal obeyed the "
                      f"commands {requester} asked for, {requester}'s own camera was not told",
                      told),
            ],
            query=self.demo.conference_facts,
            probe=self.camera_probe,
        )

    def main_source(self) -> Step:
        from app.demo.steps import Check, Step

        async def act() -> None:
            await self.sources([DOC_CAMERA], PC)

        def tagged(o: Observation) -> tuple[bool, str]:
            tags = o.probed.get("tags", {})
            held = bool(tags) and all(seen == [("doc-camera", DOC_CAMERA)]
                                      for seen in tags.values())
            return held, "; ".join(f"{uri}: {seen}" for uri, seen in tags.items())

        def no_room(o: Observation) -> tuple[bool, str]:
            cameras = o.probed.get("camera", {})
            return all(view is None for view in cameras.values()), f"views: {cameras}"

        return Step(
            "main_source",
            f"setMainAuxStreamSourcesEx {self.room}: main [{DOC_CAMERA}] (document camera), "
            f"aux {PC} (PC)",
            act, self.views_full_screen(),
            [
                Check("main_source.doc_camera", f"main source: every viewer reads "
                      f"{self.room}'s document camera tag (input {DOC_CAMERA})", tagged),
                Check("main_source.same_site", f"main source: every viewer still reads "
                      f"{self.room}'s marker full screen",
                      lambda o: _each_panes(o, self.viewers, [self.room])),
                Check("main_source.no_scene", "main source: no viewer reads the camera's "
                      "room any more", no_room),
            ],
            query=self.demo.conference_facts,
            probe=self.tags_probe,
        )

    async def restore(self) -> None:
        """The room as it was before these steps: its camera the main source, at home, and
        the broadcast stopped (the next steps read the voice-switched CP again)."""
        await self.sources([CAMERA], PC)
        await self.camera(self.room, LOCAL, RESET)
        await self.broadcast(False)

    def steps(self) -> list[Callable[[], Step]]:
        return [self.camera_pan_zoom, self.camera_preset, self.far_end_camera,
                self.main_source]


async def run_device_steps(demo: Consultation, room: str, camera_rect: Rect4,
                           run_step: Callable[[Step], Awaitable[Observation]]) -> None:
    """The device steps in order (after voice switching), then the room restored."""
    steps = DeviceSteps(demo, room, camera_rect)
    speaking = (await asyncio.to_thread(demo.conference_facts)).get("speaking")
    await run_step(steps.three_screens(speaking or demo.join_order[3]))
    for build in steps.steps():
        await run_step(build())
    await steps.restore()


# ---------------------------------------------------------------------- checks


def _close(a: View | None, b: View | None, eps: float) -> bool:
    return a is not None and b is not None and all(
        abs(p - q) < eps for p, q in zip(a, b, strict=True))


def _moved_left(before: View | None, view: View | None) -> bool:
    return before is not None and view is not None and view[0] < before[0] - MOVED


def _fmt(view: View | None) -> str:
    return "-" if view is None else f"({view[0]:.3f}, {view[1]:.3f}, x{view[2]:.2f})"


def _views_held(o: Observation, before: dict[str, View | None],
                test: Callable[[View, View], bool], what: str) -> tuple[bool, str]:
    cameras = o.probed.get("camera", {})
    failing, shown = [], []
    for uri, start in before.items():
        now = cameras.get(uri)
        view = None if now is None else (now["x"], now["y"], now["zoom"])
        if start is None or view is None or not test(start, view):
            failing.append(uri)
        shown.append(f"{uri} {what}: {_fmt(start)} -> {_fmt(view)}")
    return not failing and bool(before), ("wrong at " + ", ".join(failing) + ": "
                                          if failing else "") + "; ".join(shown)


def _before_home(before: dict[str, View | None]) -> tuple[bool, str]:
    held = bool(before) and all(v is not None and abs(v[0] - 0.5) < MOVED
                                and abs(v[1] - 0.5) < MOVED for v in before.values())
    return held, "; ".join(f"{uri}: {_fmt(v)}" for uri, v in before.items())


def _each_panes(o: Observation, uris: list[str], expected: list[str]) -> tuple[bool, str]:
    seen = {uri: o.panes.get(uri) for uri in uris}
    return all(p == expected for p in seen.values()), "; ".join(
        f"{uri}: {p}" for uri, p in seen.items())
