"""What a terminal's main stream shows: the inputs chosen for it (setMainAuxStreamSourcesEx,
the MCU's `sources` message; camAction 21), one input full picture or several side by side.

A terminal's inputs are its cameras (terminals/camera.py, one per camera input, each a
window onto the room), PCs and document cameras (terminals/input_pictures.py). The main
picture (MainState) is the chosen inputs in the chosen order, each as it looks now: a
camera at its view, a PC or document camera at its fixed picture, an input with nothing
plugged in as a dark "NO SIGNAL" picture. Every input's picture carries the site overlay
(terminals/scene.py: the site's band, ball and marker card) so the MCU and the other sites
still read which site it is; a terminal that declared its inputs also draws each input's
tag (input_pictures.draw_input_tag) so a viewer reads which input it sees.

Local multi-picture, as endpoints do it (a Huawei TE's or a Polycom's "dual main sources"):
- 1 input: the whole picture;
- 2 inputs: side by side, each the full 16:9 picture scaled to half the width and
  letterboxed (black above and below), the first chosen on the left;
- 3 or 4 inputs: a 2 x 2 grid in the order chosen (left to right, top to bottom), a fourth
  quarter left black when there are three.
MAX_MAIN_SOURCES (4) is the most a terminal takes, as the MCU's rule (mcu/runtime/site_devices.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from rtc.signalling import MAX_MAIN_SOURCES
from terminals.camera import Camera, CameraView
from terminals.input_pictures import document_picture, draw_input_tag, pc_picture
from terminals.scene import CameraScene

CAMERA, PC, DOC_CAMERA = "camera", "pc", "doc-camera"


@dataclass(frozen=True)
class Pane:
    """One chosen input as the main picture shows it now."""

    input_id: int
    kind: str
    connected: bool = True
    view: CameraView | None = None  # a camera's view

    def key(self) -> tuple[object, ...]:
        view = self.view
        return (self.input_id, self.kind, self.connected,
                None if view is None else (round(view.x * 10000), round(view.y * 10000),
                                           round(view.zoom * 10000),
                                           round(view.defocus * 1000)))


MainState = tuple[Pane, ...]


def state_key(state: MainState) -> tuple[object, ...]:
    return tuple(pane.key() for pane in state)


def pane_rects(count: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) in pixels of each of `count` inputs in a width x height picture."""
    if count == 1:
        return [(0, 0, width, height)]
    if count == 2:
        w, h = width // 2 // 2 * 2, height // 2 // 2 * 2
        return [(0, (height - h) // 2, w, h), (width - w, (height - h) // 2, w, h)]
    w, h = width // 2 // 2 * 2, height // 2 // 2 * 2
    return [((i % 2) * (width - w), (i // 2) * (height - h), w, h) for i in range(count)]


class MainScene:
    """The loop of one main picture (a MainState): the backgrounds drawn once, the overlay
    per frame (what encode_loop draws from)."""

    def __init__(self, sources: MainSources, state: MainState) -> None:
        self.sources = sources
        self.state = state
        self.loop_frames = sources.scene.loop_frames
        self._backgrounds = [sources.background(pane) for pane in state]

    def frame(self, frame_index: int) -> np.ndarray:
        return self.sources.compose(self.state, frame_index, self._backgrounds)


def main_scene(scene: CameraScene, tagged: bool, state: MainState) -> MainScene:
    """The MainScene of `state` as a terminal with that scene and tags draws it, from those
    alone (each pane carries its input's kind, connection and view): how a worker process
    rebuilds it (terminals/loop_encoders.py)."""
    sources = MainSources(scene, {}, {pane.input_id: pane.kind for pane in state}, tagged,
                          [pane.input_id for pane in state])
    return MainScene(sources, state)


class MainSources:
    """A terminal's inputs and which of them feed its main stream now."""

    def __init__(self, scene: CameraScene, cameras: Mapping[int, Camera],
                 kinds: Mapping[int, str], tagged: bool, selection: Iterable[int]) -> None:
        self.scene = scene
        self.cameras = dict(cameras)
        self.kinds = dict(kinds)
        self.connected = dict.fromkeys(self.kinds, True)
        self.tagged = tagged
        self._selection: tuple[int, ...] = ()
        if not self.select(selection):
            raise ValueError(f"cannot show inputs {tuple(selection)}")

    @property
    def selection(self) -> tuple[int, ...]:
        return self._selection

    def select(self, inputs: Iterable[int]) -> bool:
        """Show these inputs (in this order); False, changing nothing, when one is not an
        input of the terminal, one is named twice, or there are none or too many."""
        chosen = tuple(inputs)
        if not 1 <= len(chosen) <= MAX_MAIN_SOURCES or len(set(chosen)) != len(chosen) \
                or any(i not in self.kinds for i in chosen):
            return False
        self._selection = chosen
        return True

    def set_connected(self, input_id: int, connected: bool) -> None:
        if input_id in self.connected:
            self.connected[input_id] = connected

    @property
    def moving(self) -> bool:
        """A chosen camera is moving."""
        return any(self.cameras[i].head.moving for i in self._selection if i in self.cameras)

    def advance(self, t: float) -> MainState:
        """The main picture at time t, the chosen cameras' motions integrated up to it."""
        return tuple(self._pane(i, self.cameras[i].head.advance(t) if i in self.cameras
                                else None) for i in self._selection)

    def state(self) -> MainState:
        """The main picture now (the cameras where they were last advanced to)."""
        return tuple(self._pane(i, self.cameras[i].head.view if i in self.cameras else None)
                     for i in self._selection)

    def _pane(self, input_id: int, view: CameraView | None) -> Pane:
        return Pane(input_id, self.kinds[input_id], self.connected.get(input_id, True), view)

    def scene_at(self, state: MainState) -> MainScene:
        return MainScene(self, state)

    def render(self, frame_index: int, state: MainState) -> np.ndarray:
        """Frame `frame_index` of the main picture `state` (a moving camera's frame)."""
        return self.compose(state, frame_index, [self.background(pane) for pane in state])

    def background(self, pane: Pane) -> np.ndarray:
        """The input's picture before the site overlay (read-only for pictures or a new
        array for a camera's view)."""
        w, h = self.scene.width, self.scene.height
        if not pane.connected:
            return _no_signal(w, h)
        if pane.kind == CAMERA and pane.view is not None:
            return self.scene.room.view(pane.view, w, h)
        if pane.kind == PC:
            return pc_picture(w, h, pane.input_id)
        if pane.kind == DOC_CAMERA:
            return document_picture(w, h, pane.input_id)
        raise ValueError(f"input {pane.input_id}: no picture for {pane.kind!r}")

    def compose(self, state: MainState, frame_index: int,
                backgrounds: list[np.ndarray]) -> np.ndarray:
        pictures = []
        for pane, background in zip(state, backgrounds, strict=True):
            bgr = self.scene.overlay(background.copy(), frame_index)
            if self.tagged:
                draw_input_tag(bgr, pane.kind, pane.input_id)
            pictures.append(bgr)
        if len(pictures) == 1:
            return pictures[0]
        w, h = self.scene.width, self.scene.height
        canvas = np.zeros((h, w, 3), np.uint8)
        for picture, (x, y, pw, ph) in zip(pictures, pane_rects(len(pictures), w, h),
                                           strict=False):
            canvas[y:y + ph, x:x + pw] = cv2.resize(picture, (pw, ph),
                                                    interpolation=cv2.INTER_AREA)
        return canvas


def _no_signal(width: int, height: int) -> np.ndarray:
    bgr = np.full((height, width, 3), 24, np.uint8)
    cv2.putText(bgr, "NO SIGNAL", (width // 3, height * 3 // 4), cv2.FONT_HERSHEY_SIMPLEX,
                height / 360, (200, 200, 200), 2, cv2.LINE_AA)
    return bgr
