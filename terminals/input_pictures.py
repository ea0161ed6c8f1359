"""What a terminal's non-camera inputs show, and the input tag every input's picture carries.

A terminal's main stream shows the inputs setMainAuxStreamSourcesEx chose
(terminals/main_sources.py). A camera input shows its camera's view of the room
(terminals/camera.py); the other kinds show a picture of their own, drawn once per terminal
and size:
- a PC input (`pc`): a desktop: a dark blue screen, a task bar, a window with a title bar and
  a table of figures (a patient record, as a PC shares one);
- a document camera (`doc-camera`): a sheet of paper on a dark wooden desk, seen from above,
  with a title and lines of text.
Over each the terminal draws its site overlay (terminals/scene.py: band, name, moving ball
and the site's marker card), so the MCU's pictures still identify the site whatever the
input.

The input tag: every input's picture also carries, in its lower left corner, one ArUco
marker of OpenCV's DICT_7X7_1000 (a dictionary none of the other readers decodes: the site
card is 4x4, the content card 5x5, the room 6x6) whose id says which input it is:
id = kind_index * 256 + input id (kind_index: camera 0, pc 1, doc-camera 2; input ids are
0..255, rtc/signalling.py). Its side is TAG_FRACTION of the picture height: 9 cells of 16 px
at 720p, 8 px still when two inputs share the picture side by side. `read_input_tags` reads
every tag of a decoded picture (or a rect of it) with its centre, left to right: which
inputs a site's main picture shows and where.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rtc.signalling import INPUT_KINDS

TAG_FRACTION = 0.2  # the tag's side / the picture's height
TAG_MARGIN = 0.03  # its distance from the left and bottom edges / the picture's height
TAG_IDS_PER_KIND = 256
_TAG_DICTIONARY = cv2.aruco.DICT_7X7_1000


@dataclass(frozen=True, slots=True)
class InputTag:
    """An input tag read from a picture: which input, and its centre (fractions of the
    picture or rect read)."""

    kind: str
    input_id: int
    x: float
    y: float


def tag_id(kind: str, input_id: int) -> int:
    if kind not in INPUT_KINDS or not 0 <= input_id < TAG_IDS_PER_KIND:
        raise ValueError(f"no tag for input {input_id} of kind {kind!r}")
    return INPUT_KINDS.index(kind) * TAG_IDS_PER_KIND + input_id


@functools.cache
def _tag_dictionary() -> cv2.aruco.Dictionary:
    return cv2.aruco.getPredefinedDictionary(_TAG_DICTIONARY)


@functools.cache
def _tag_image(marker_id: int, side: int) -> np.ndarray:
    return cv2.aruco.generateImageMarker(_tag_dictionary(), marker_id, side)


def draw_input_tag(bgr: np.ndarray, kind: str, input_id: int) -> None:
    """Draw the tag of input `input_id` (of `kind`) in the picture's lower left corner, on
    a white quiet zone of one cell inside a dark ring of one cell (a light picture next
    to the quiet zone, such as a PC's task bar buttons, would otherwise merge with it and
    hide the tag's outline)."""
    height = bgr.shape[0]
    side = int(round(height * TAG_FRACTION / 9)) * 9  # 9 cells: 7x7 bits and the border
    cell = side // 9
    ring = cell
    x0 = int(round(height * TAG_MARGIN)) + cell
    y0 = height - int(round(height * TAG_MARGIN)) - cell - side
    bgr[max(0, y0 - cell - ring):y0 + side + cell + ring,
        max(0, x0 - cell - ring):x0 + side + cell + ring] = 24
    bgr[y0 - cell:y0 + side + cell, x0 - cell:x0 + side + cell] = 255
    tag = _tag_image(tag_id(kind, input_id), side)
    bgr[y0:y0 + side, x0:x0 + side] = tag[:, :, None]


@functools.cache
def _tag_reader() -> cv2.aruco.ArucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.errorCorrectionRate = 0.0  # exact codes only: no tag read as another
    return cv2.aruco.ArucoDetector(_tag_dictionary(), params)


def read_input_tags(picture: Any, rect: tuple[float, float, float, float] | None = None,
                    ) -> list[InputTag]:
    """The input tags in a decoded picture (or `rect` of it, fractions x, y, w, h), left to
    right; [] when none is readable."""
    from terminals.marker import luma_of

    luma = luma_of(picture)
    if rect is not None:
        fx, fy, fw, fh = rect
        ph, pw = luma.shape[:2]
        luma = luma[round(fy * ph):round((fy + fh) * ph), round(fx * pw):round((fx + fw) * pw)]
    height, width = luma.shape[:2]
    if width < 32 or height < 18:
        return []
    scale = 2.0 if width < 800 else 1.0  # small tags read better enlarged
    if scale != 1.0:
        luma = cv2.resize(luma, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    corners, ids, _ = _tag_reader().detectMarkers(np.ascontiguousarray(luma))
    if ids is None:
        return []
    tags = []
    for quad, marker_id in zip(corners, ids.reshape(-1), strict=True):
        kind_index, input_id = divmod(int(marker_id), TAG_IDS_PER_KIND)
        if kind_index >= len(INPUT_KINDS):
            continue
        cx, cy = quad.reshape(4, 2).mean(axis=0) / scale
        tags.append(InputTag(INPUT_KINDS[kind_index], input_id, float(cx / width),
                             float(cy / height)))
    return sorted(tags, key=lambda tag: tag.x)


# ----------------------------------------------------------------------------- pictures


@functools.lru_cache(maxsize=16)
def pc_picture(width: int, height: int, input_id: int) -> np.ndarray:
    """A PC's desktop (BGR, read-only: copy before drawing on it)."""
    bgr = np.empty((height, width, 3), np.uint8)
    bgr[:] = (110, 60, 25)  # a dark blue desktop
    bar = max(6, height // 20)
    bgr[height - bar:] = (45, 40, 35)  # the task bar
    for i in range(4):  # its buttons
        x = bar // 2 + i * bar * 2
        cv2.rectangle(bgr, (x, height - bar + 2), (x + bar * 3 // 2, height - 3),
                      (150, 140, 130), -1)
    # a window: title bar and a table of figures
    left, top = int(width * 0.22), int(height * 0.16)
    right, bottom = int(width * 0.97), int(height * 0.9)
    cv2.rectangle(bgr, (left, top), (right, bottom), (245, 245, 245), -1)
    title = max(6, height // 18)
    cv2.rectangle(bgr, (left, top), (right, top + title), (160, 100, 40), -1)
    cv2.putText(bgr, f"PC {input_id} - record.xls", (left + title // 2, top + title * 3 // 4),
                cv2.FONT_HERSHEY_SIMPLEX, title / 30, (255, 255, 255), 1, cv2.LINE_AA)
    rows, columns = 12, 6
    row_h = (bottom - top - title) / rows
    col_w = (right - left) / columns
    rng = np.random.default_rng(1000 + input_id)
    for r in range(rows):
        y = int(top + title + r * row_h)
        cv2.line(bgr, (left, y), (right, y), (190, 190, 190), 1)
        for c in range(columns):
            x = int(left + c * col_w)
            text = "Item" if r == 0 else f"{rng.integers(10, 999)}"
            cv2.putText(bgr, text, (x + 4, int(y + row_h * 0.75)), cv2.FONT_HERSHEY_SIMPLEX,
                        row_h / 40, (40, 40, 40), 1, cv2.LINE_AA)
    for c in range(1, columns):
        x = int(left + c * col_w)
        cv2.line(bgr, (x, top + title), (x, bottom), (190, 190, 190), 1)
    bgr.flags.writeable = False
    return bgr


@functools.lru_cache(maxsize=16)
def document_picture(width: int, height: int, input_id: int) -> np.ndarray:
    """A document camera's view: a sheet of paper on a desk (BGR, read-only)."""
    bgr = np.empty((height, width, 3), np.uint8)
    bgr[:] = (35, 60, 95)  # a dark wooden desk
    rng = np.random.default_rng(2000 + input_id)
    grain = rng.normal(0, 6, (height, 1, 1))
    bgr[:] = np.clip(bgr.astype(np.int16) + grain.astype(np.int16), 0, 255).astype(np.uint8)
    sheet = np.array([[0.18, 0.08], [0.84, 0.05], [0.87, 0.95], [0.15, 0.97]])
    points = (sheet * (width, height)).astype(np.int32)
    cv2.fillConvexPoly(bgr, points, (232, 240, 243))
    cv2.putText(bgr, f"DOCUMENT {input_id}", (int(width * 0.26), int(height * 0.16)),
                cv2.FONT_HERSHEY_SIMPLEX, height / 500, (30, 30, 30), 2, cv2.LINE_AA)
    line_h = height / 26
    for i in range(18):
        y = int(height * 0.22 + i * line_h)
        length = rng.uniform(0.35, 0.55)
        cv2.line(bgr, (int(width * 0.26), y), (int(width * (0.26 + length)), y),
                 (90, 90, 90), max(1, height // 240))
    bgr.flags.writeable = False
    return bgr
