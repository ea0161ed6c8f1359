"""The simulated camera: a pan/tilt/zoom/focus window onto a large synthetic room.

The room (RoomScene) is a seeded, deterministic picture twice as wide and twice as tall as
the camera's output (four times its area): a floor and walls with fine texture, furniture
blocks, a window, shelves; over it a grid of small ArUco markers (OpenCV's DICT_6X6_250,
a dictionary neither the site card's 4x4 nor the content card's 5x5 reader decodes) at
known room coordinates: marker id = row * GRID_COLUMNS + column, its centre at
((column + 0.5) / GRID_COLUMNS, (row + 0.5) / GRID_ROWS) of the room, its side
MARKER_FRACTION of a grid cell. Room coordinates are fractions of the room: (0, 0) top
left, (1, 1) bottom right, whatever the picture size.

A view (CameraView) is the point the camera looks at (x, y: the centre of the picture, in
room fractions), its zoom (1: the picture shows half the room's width and height;
ZOOM_MAX 1.6: 0.31 of them; up to 1.6 the markers around the site card stay
readable at every position) and its defocus (0 sharp .. 1 the most blurred; focus is blur).
`read_camera_view(picture)` reads the view back from a decoded picture (or a pane of one)
from the scene markers it finds: each marker's size gives the zoom and its position the
centre; the median over the markers found is answered, None when none is readable.

Motion (CameraHead): camAction 0-7 start a motion (WS/T 546 table 11: 0 pan right, 1 pan
left, 2 tilt up, 3 tilt down, 4 zoom in, 5 zoom out, 6 focus (sharpen), 7 defocus) that goes
on at a fixed speed until its stop (8-15, same order), a limit of the room, or the end of
the focus range; 16 resets to the camera's home view (its first camera input: centre, zoom 1,
sharp; further camera inputs: CAMERA_HOMES), 17 autofocus brings
the focus to sharp, 18/19/20 store/activate/clear preset camPos. A reset, an autofocus and
a preset move the camera there at a high but finite speed (at most PRESET_MOVE_S seconds,
eased at both ends): the picture never jumps. The position is integrated from the frame
times (advance(t)), so the motion per frame is speed / fps.

Presets are the terminal's (per input): CameraPresets keeps them in a JSON file when given
one, so they survive calls and restarts of the terminal.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

GRID_COLUMNS = 20
GRID_ROWS = 11
MARKER_FRACTION = 0.7  # marker side / grid cell width
MARKER_SIDE = MARKER_FRACTION / GRID_COLUMNS  # a marker's side in room widths
MARKER_BLACK, MARKER_WHITE = 70, 200
MARKER_CELLS = 8  # 6x6 bits inside a one-cell black border
ZOOM_MIN, ZOOM_MAX = 1.0, 1.6
VIEW_AT_ZOOM_1 = 0.5  # the picture shows half the room's width (and height) at zoom 1

PAN_SPEED = 0.2  # picture widths per second, whatever the zoom (a slower pan when zoomed)
ZOOM_RATE = 0.5  # zoom factor change per second, in log2 (x1.41 a second)
FOCUS_SPEED = 0.8  # defocus units per second
PRESET_MOVE_S = 0.8  # a preset, reset or autofocus reaches its view within this time
MAX_BLUR_SIGMA = 0.012  # Gaussian sigma of full defocus, as a fraction of the picture width

# camAction (WS/T 546 table 11)
PAN_RIGHT, PAN_LEFT, TILT_UP, TILT_DOWN, ZOOM_IN, ZOOM_OUT, FOCUS_IN, FOCUS_OUT = range(8)
STOP_OFFSET = 8  # action 8+n stops the motion started by action n
RESET, AUTOFOCUS, STORE_PRESET, ACTIVATE_PRESET, CLEAR_PRESET = 16, 17, 18, 19, 20
CAMERA_ACTIONS = range(0, 21)  # what a simulated camera obeys

_DICTIONARY = cv2.aruco.DICT_6X6_250


@dataclass(frozen=True)
class CameraView:
    x: float = 0.5
    y: float = 0.5
    zoom: float = 1.0
    defocus: float = 0.0

    @property
    def half_width(self) -> float:
        """Half the picture's width, in room widths (and half its height in room heights)."""
        return VIEW_AT_ZOOM_1 / self.zoom / 2

    def clamped(self) -> CameraView:
        """This view kept inside the room and the zoom and focus ranges."""
        zoom = min(ZOOM_MAX, max(ZOOM_MIN, self.zoom))
        half = VIEW_AT_ZOOM_1 / zoom / 2
        return CameraView(min(1 - half, max(half, self.x)), min(1 - half, max(half, self.y)),
                          zoom, min(1.0, max(0.0, self.defocus)))


HOME = CameraView()
# Where each camera of a terminal points at first and after a reset: its first camera input
# at HOME, the next ones elsewhere in the room (left and up, right and down, ...), so two
# cameras of one terminal show different views and a viewer tells them apart.
CAMERA_HOMES = (HOME, CameraView(0.32, 0.42), CameraView(0.68, 0.58),
                CameraView(0.4, 0.6, 1.3), CameraView(0.6, 0.4, 1.3))


def camera_home(ordinal: int) -> CameraView:
    """The home view of a terminal's camera number `ordinal` (0: its first camera input)."""
    return CAMERA_HOMES[ordinal % len(CAMERA_HOMES)]


def marker_centre(marker_id: int) -> tuple[float, float]:
    row, column = divmod(marker_id, GRID_COLUMNS)
    return (column + 0.5) / GRID_COLUMNS, (row + 0.5) / GRID_ROWS


class RoomScene:
    """The room at width x height pixels (2x the output's each way), drawn once."""

    def __init__(self, output_width: int, output_height: int, seed: int = 546) -> None:
        self.width = int(round(output_width / VIEW_AT_ZOOM_1))
        self.height = int(round(output_height / VIEW_AT_ZOOM_1))
        self.picture = self._draw(np.random.default_rng(seed))

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        w, h = self.width, self.height
        room = np.empty((h, w, 3), np.uint8)
        horizon = int(h * 0.62)
        room[:horizon] = (150, 170, 185)  # wall (BGR)
        room[horizon:] = (70, 95, 120)  # floor
        # fine texture: plaster grain on the wall, planks on the floor
        # grain a few pixels wide, soft enough for a real-time encoder at a CP pane's bitrate
        coarse = rng.integers(-5, 6, size=(h // 4 + 1, w // 4 + 1), dtype=np.int16)
        grain = cv2.resize(coarse.astype(np.float32), (w, h),
                           interpolation=cv2.INTER_LINEAR).astype(np.int16)[..., None]
        planks = ((np.arange(w) // max(8, w // 48)) % 2 * 12).astype(np.int16)[None, :, None]
        textured = room.astype(np.int16) + grain
        textured[horizon:] += planks
        room = np.clip(textured, 0, 255).astype(np.uint8)
        # a window with a frame, shelves, a bed, a cabinet, a lamp, pictures: big shapes
        cv2.rectangle(room, (int(w * 0.06), int(h * 0.08)), (int(w * 0.30), int(h * 0.45)),
                      (235, 215, 170), -1)
        for k in range(1, 4):
            x = int(w * (0.06 + 0.06 * k))
            cv2.line(room, (x, int(h * 0.08)), (x, int(h * 0.45)), (90, 90, 90), max(2, w // 400))
        cv2.rectangle(room, (int(w * 0.70), int(h * 0.10)), (int(w * 0.95), int(h * 0.55)),
                      (60, 80, 110), -1)
        for k in range(1, 4):
            y = int(h * (0.10 + 0.11 * k))
            cv2.line(room, (int(w * 0.70), y), (int(w * 0.95), y), (40, 50, 70), max(3, h // 150))
        cv2.rectangle(room, (int(w * 0.36), int(h * 0.55)), (int(w * 0.66), int(h * 0.80)),
                      (200, 200, 210), -1)
        cv2.rectangle(room, (int(w * 0.05), int(h * 0.60)), (int(w * 0.22), int(h * 0.95)),
                      (40, 70, 130), -1)
        cv2.circle(room, (int(w * 0.82), int(h * 0.78)), int(h * 0.09), (30, 160, 220), -1)
        for _ in range(40):  # scattered small objects with sharp edges (detail to focus on)
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            size = int(rng.integers(h // 80, h // 25))
            colour = tuple(int(c) for c in rng.integers(30, 230, size=3))
            cv2.rectangle(room, (cx, cy), (cx + size, cy + size // 2), colour, -1)
        self._draw_markers(room)
        return room

    def _draw_markers(self, room: np.ndarray) -> None:
        dictionary = cv2.aruco.getPredefinedDictionary(_DICTIONARY)
        side = int(round(MARKER_SIDE * self.width))
        quiet = max(2, side // MARKER_CELLS)
        for marker_id in range(GRID_COLUMNS * GRID_ROWS):
            fx, fy = marker_centre(marker_id)
            x0 = int(round(fx * self.width - side / 2))
            y0 = int(round(fy * self.height - side / 2))
            room[y0 - quiet : y0 + side + quiet, x0 - quiet : x0 + side + quiet] = MARKER_WHITE
            bitmap = cv2.aruco.generateImageMarker(dictionary, marker_id, side, borderBits=1)
            # softer than the site card's black and white: fewer bits for the encoder to spend
            # on the room, the card's markers stay the sharpest edges of the picture
            shades = np.where(bitmap > 127, MARKER_WHITE, MARKER_BLACK).astype(np.uint8)
            room[y0 : y0 + side, x0 : x0 + side] = shades[..., None]

    def view(self, view: CameraView, width: int, height: int) -> np.ndarray:
        """The picture the camera sends at `view`: width x height BGR, blurred by defocus."""
        view = view.clamped()
        # the room's pixels under the picture, to the nearest room pixel (half an output
        # pixel or less: the motion stays smooth), scaled to the output when zoomed in
        crop_w = min(self.width, max(2, int(round(2 * view.half_width * self.width))))
        crop_h = min(self.height, max(2, int(round(crop_w * height / width))))
        left = min(self.width - crop_w, max(0, int(round(view.x * self.width - crop_w / 2))))
        top = min(self.height - crop_h, max(0, int(round(view.y * self.height - crop_h / 2))))
        crop = self.picture[top : top + crop_h, left : left + crop_w]
        if (crop_w, crop_h) == (width, height):
            picture = crop.copy()
        else:
            picture = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
        if view.defocus > 0.01:
            sigma = view.defocus * MAX_BLUR_SIGMA * width
            picture = cv2.GaussianBlur(picture, (0, 0), sigma)
        return picture


# ----------------------------------------------------------------------------- the reader

_READER: cv2.aruco.ArucoDetector | None = None


def _reader() -> cv2.aruco.ArucoDetector:
    global _READER
    if _READER is None:
        params = cv2.aruco.DetectorParameters()
        params.errorCorrectionRate = 0.0  # exact codes only: no marker read as another
        params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
        _READER = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(_DICTIONARY),
                                          params)
    return _READER


def read_camera_view(picture: Any, rect: tuple[float, float, float, float] | None = None,
                     ) -> tuple[float, float, float] | None:
    """(x, y, zoom) of the camera whose picture fills `picture` (or `rect` of it, as
    fractions (x, y, w, h)), read from the room's markers; None when none is readable.
    The picture (or pane) is taken to show the whole camera picture at its aspect ratio."""
    from terminals.marker import luma_of

    luma = luma_of(picture)
    if rect is not None:
        fx, fy, fw, fh = rect
        ph, pw = luma.shape[:2]
        luma = luma[round(fy * ph) : round((fy + fh) * ph), round(fx * pw) : round((fx + fw) * pw)]
    height, width = luma.shape[:2]
    if width < 32 or height < 18:
        return None
    scale = 1.0
    if width < 800:  # small panes: markers of a few pixels a cell read better enlarged
        scale = 2.0
        luma = cv2.resize(luma, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    corners, ids, _ = _reader().detectMarkers(np.ascontiguousarray(luma))
    if ids is None:
        return None
    xs, ys, zooms = [], [], []
    for quad, marker_id in zip(corners, ids.reshape(-1), strict=True):
        if not 0 <= marker_id < GRID_COLUMNS * GRID_ROWS:
            continue
        points = quad.reshape(4, 2) / scale
        side_px = float(np.mean([np.linalg.norm(points[i] - points[(i + 1) % 4])
                                 for i in range(4)]))
        if side_px < 4:
            continue
        room_width_px = side_px / MARKER_SIDE  # the whole room's width at this zoom, in pixels
        zoom = room_width_px * VIEW_AT_ZOOM_1 / width
        centre = points.mean(axis=0)
        mx, my = marker_centre(int(marker_id))
        room_height_px = room_width_px * height / width  # the room has the picture's aspect
        xs.append(mx + (width / 2 - centre[0]) / room_width_px)
        ys.append(my + (height / 2 - centre[1]) / room_height_px)
        zooms.append(zoom)
    if not xs:
        return None
    return float(np.median(xs)), float(np.median(ys)), float(np.median(zooms))


# ----------------------------------------------------------------------------- the head


@dataclass
class _Move:
    """A timed move to a view (preset, reset, autofocus)."""

    start: CameraView
    target: CameraView
    t0: float
    duration: float


class CameraHead:
    """The camera's pan/tilt/zoom/focus state, integrated over time."""

    def __init__(self, view: CameraView = HOME) -> None:
        self._view = view.clamped()
        self._t: float | None = None
        self.pan = 0  # -1 left, +1 right
        self.tilt = 0  # -1 up, +1 down
        self.zoom_dir = 0  # +1 in, -1 out
        self.focus_dir = 0  # -1 sharpen, +1 blur
        self._move: _Move | None = None

    @property
    def view(self) -> CameraView:
        return self._view

    @property
    def moving(self) -> bool:
        return bool(self.pan or self.tilt or self.zoom_dir or self.focus_dir or self._move)

    def advance(self, t: float) -> CameraView:
        """The view at time t (seconds, monotonic), integrating the motions since last time."""
        if self._t is None:
            self._t = t
        dt = max(0.0, t - self._t)
        self._t = t
        view = self._view
        if self._move is not None:
            move = self._move
            progress = min(1.0, (t - move.t0) / move.duration) if move.duration > 0 else 1.0
            eased = 0.5 - 0.5 * math.cos(math.pi * progress)
            view = CameraView(*(a + (b - a) * eased for a, b in zip(
                (move.start.x, move.start.y, move.start.zoom, move.start.defocus),
                (move.target.x, move.target.y, move.target.zoom, move.target.defocus),
                strict=True)))
            if progress >= 1.0:
                self._move = None
        else:
            step = PAN_SPEED * 2 * view.half_width * dt
            zoom = view.zoom * 2 ** (self.zoom_dir * ZOOM_RATE * dt)
            view = CameraView(view.x + self.pan * step, view.y + self.tilt * step, zoom,
                              view.defocus + self.focus_dir * FOCUS_SPEED * dt)
            clamped = view.clamped()
            # a motion that reached its limit is over
            if self.pan and clamped.x != view.x:
                self.pan = 0
            if self.tilt and clamped.y != view.y:
                self.tilt = 0
            if self.zoom_dir and clamped.zoom != view.zoom:
                self.zoom_dir = 0
            if self.focus_dir and clamped.defocus != view.defocus:
                self.focus_dir = 0
            view = clamped
        self._view = view.clamped()
        return self._view

    def move_to(self, target: CameraView, now: float) -> None:
        """Go to `target` smoothly (all continuous motions stop)."""
        self.advance(now)
        self.pan = self.tilt = self.zoom_dir = self.focus_dir = 0
        target = target.clamped()
        start = self._view
        far = max(abs(target.x - start.x) / (4 * start.half_width),
                  abs(target.y - start.y) / (4 * start.half_width),
                  abs(math.log2(target.zoom / start.zoom)), abs(target.defocus - start.defocus))
        self._move = _Move(start, target, now, PRESET_MOVE_S * min(1.0, max(0.25, far)))

    def start(self, action: int, now: float) -> None:
        """Start (0-7) or stop (8-15) a continuous motion."""
        self.advance(now)
        self._move = None
        motion, stop = action % STOP_OFFSET, action >= STOP_OFFSET
        value = {PAN_RIGHT: 1, PAN_LEFT: -1, TILT_UP: -1, TILT_DOWN: 1,
                 ZOOM_IN: 1, ZOOM_OUT: -1, FOCUS_IN: -1, FOCUS_OUT: 1}[motion]
        attribute = {PAN_RIGHT: "pan", PAN_LEFT: "pan", TILT_UP: "tilt", TILT_DOWN: "tilt",
                     ZOOM_IN: "zoom_dir", ZOOM_OUT: "zoom_dir",
                     FOCUS_IN: "focus_dir", FOCUS_OUT: "focus_dir"}[motion]
        if stop:
            if getattr(self, attribute) == value:  # stop right stops only a pan right
                setattr(self, attribute, 0)
        else:
            setattr(self, attribute, value)


class CameraPresets:
    """Stored views per (input id, preset number), kept in a JSON file when given one."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._presets: dict[tuple[int, int], CameraView] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                for entry in data.get("presets", []):
                    view = CameraView(float(entry["x"]), float(entry["y"]),
                                      float(entry["zoom"]), float(entry["defocus"]))
                    self._presets[(int(entry["input"]), int(entry["preset"]))] = view.clamped()
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                self._presets = {}  # an unreadable file: no presets, rewritten on the next store

    def get(self, source: int, preset: int) -> CameraView | None:
        return self._presets.get((source, preset))

    def store(self, source: int, preset: int, view: CameraView) -> None:
        self._presets[(source, preset)] = view
        self._save()

    def clear(self, source: int, preset: int) -> None:
        if self._presets.pop((source, preset), None) is not None:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        entries = [{"input": s, "preset": p, **asdict(v)}
                   for (s, p), v in sorted(self._presets.items())]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".presets")
        with os.fdopen(fd, "w") as out:
            json.dump({"presets": entries}, out, indent=1)
        os.replace(tmp, self.path)


class Camera:
    """One camera input of a terminal: its head, presets and home view (where it starts and
    where a reset brings it)."""

    def __init__(self, input_id: int, presets: CameraPresets, home: CameraView = HOME) -> None:
        self.input_id = input_id
        self.home = home.clamped()
        self.head = CameraHead(self.home)
        self.presets = presets

    def command(self, action: int, position: int | None, now: float) -> bool:
        """Obey camAction `action` (camPos `position` for presets); False when it is not
        one a camera obeys or names an empty preset (nothing changes)."""
        if action not in CAMERA_ACTIONS:
            return False
        if action < RESET:
            self.head.start(action, now)
        elif action == RESET:
            self.head.move_to(self.home, now)
        elif action == AUTOFOCUS:
            self.head.move_to(replace(self.head.advance(now), defocus=0.0), now)
        elif position is None:
            return False
        elif action == STORE_PRESET:
            self.presets.store(self.input_id, position, self.head.advance(now))
        elif action == ACTIVATE_PRESET:
            target = self.presets.get(self.input_id, position)
            if target is None:
                return False
            self.head.move_to(target, now)
        elif action == CLEAR_PRESET:
            self.presets.clear(self.input_id, position)
        return True
