"""The picture marker: which site and which frame a picture (or one pane of a mix) shows.

The MCU never reads it; only terminals and tests do, from decoded pictures. A terminal's
camera draws, in the middle of its frame, a white card holding two ArUco markers (OpenCV's
4x4 dictionary, 6x6 cells with the black border):

    +-------------------------------+   card: 15 x 8 cells, white quiet zone of 1 cell
    |  [site marker]  [frame marker] |
    +-------------------------------+

- site marker id  = site_index                                  (0 .. MAX_SITES-1)
- frame marker id = MAX_SITES + frame_index * 8 + site_index % 8 (the site check)

Why ArUco: the reader does not know how the MCU fitted the picture into the pane (letterbox,
crop, any scale down to ~1/6), and ArUco's detector finds square markers at any position and
scale. Why this geometry: a cell is 1/18 of the frame height (40 px at 720p), so after the
worst scaling the MCU's layouts need (a 16:9 picture letterboxed into a 213x180 pane, 1/6)
a cell is still ~6 px; the card is 600x320 px at 720p and sits inside the central 640x480
that survives the harshest crops (a 0.89:1 pane shows the central half of the width, a
2.67:1 pane the central two thirds of the height).

Never a wrong site: bits are matched exactly (no error correction), and a reading needs a
site marker and a frame marker side by side, of similar size, whose check agrees with the
site; the site ids are the 64 first codes of the dictionary (Hamming distance >= 4 over all
rotations). A placeholder, a flat or noisy pane, or another site's colour yields None.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, SupportsFloat

import cv2
import numpy as np

MAX_SITES = 64
SITE_CHECK_MODULUS = 8
_DICTIONARY_SIZE = 1000
MAX_LOOP_FRAMES = (_DICTIONARY_SIZE - MAX_SITES) // SITE_CHECK_MODULUS  # 117

MARKER_CELLS = 6  # 4x4 bits inside a one-cell black border
CARD_CELLS_WIDE = 1 + MARKER_CELLS + 1 + MARKER_CELLS + 1
CARD_CELLS_HIGH = 1 + MARKER_CELLS + 1
CELLS_PER_FRAME_HEIGHT = 18

# A pane is searched at a size where a cell spans a few pixels, no more: detection cost grows
# with the area, and the finder is most reliable when cells are 4-15 px wide.
_SEARCH_MAX_SIDE = 480
_SEARCH_MIN_WIDTH = 400
# A region whose luma hardly varies (black, grey placeholder) cannot hold a marker.
_FLAT_LUMA_STD = 6.0



class FractionRect(Protocol):
    """A rectangle as fractions of the frame with .x .y .w .h (mcu.layouts.PaneRect)."""

    @property
    def x(self) -> SupportsFloat: ...
    @property
    def y(self) -> SupportsFloat: ...
    @property
    def w(self) -> SupportsFloat: ...
    @property
    def h(self) -> SupportsFloat: ...


Rect = Sequence[float] | FractionRect  # (x, y, w, h) as fractions of the frame, or a FractionRect


@dataclass(frozen=True, slots=True)
class MarkerReading:
    site_index: int
    frame_index: int


@dataclass(frozen=True, slots=True)
class CardGeometry:
    """Where the card and its two markers are drawn in a width x height picture."""

    cell: int
    x: int
    y: int

    @property
    def width(self) -> int:
        return CARD_CELLS_WIDE * self.cell

    @property
    def height(self) -> int:
        return CARD_CELLS_HIGH * self.cell

    def marker_origin(self, which: int) -> tuple[int, int]:
        """Top-left corner of marker 0 (site) or 1 (frame)."""
        return self.x + self.cell * (1 + which * (MARKER_CELLS + 1)), self.y + self.cell


def card_geometry(width: int, height: int) -> CardGeometry:
    cell = max(4, min(height // CELLS_PER_FRAME_HEIGHT, width // 32))
    card_w, card_h = CARD_CELLS_WIDE * cell, CARD_CELLS_HIGH * cell
    return CardGeometry(cell, (width - card_w) // 2, (height - card_h) // 2)


def _dictionary() -> cv2.aruco.Dictionary:
    return cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_1000)


def site_marker_id(site_index: int) -> int:
    if not 0 <= site_index < MAX_SITES:
        raise ValueError(f"site index {site_index} outside 0..{MAX_SITES - 1}")
    return site_index


def frame_marker_id(site_index: int, frame_index: int) -> int:
    if not 0 <= frame_index < MAX_LOOP_FRAMES:
        raise ValueError(f"frame index {frame_index} outside 0..{MAX_LOOP_FRAMES - 1}")
    return MAX_SITES + frame_index * SITE_CHECK_MODULUS + site_index % SITE_CHECK_MODULUS


class MarkerPainter:
    """Draws the card into BGR pictures of one size; marker bitmaps are rendered once."""

    def __init__(self, width: int, height: int) -> None:
        self.geometry = card_geometry(width, height)
        self._dictionary = _dictionary()
        self._bitmaps: dict[int, np.ndarray] = {}

    def _bitmap(self, marker_id: int) -> np.ndarray:
        bitmap = self._bitmaps.get(marker_id)
        if bitmap is None:
            side = MARKER_CELLS * self.geometry.cell
            grey = cv2.aruco.generateImageMarker(self._dictionary, marker_id, side, borderBits=1)
            bitmap = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
            self._bitmaps[marker_id] = bitmap
        return bitmap

    def draw(self, bgr: np.ndarray, site_index: int, frame_index: int) -> None:
        g = self.geometry
        bgr[g.y : g.y + g.height, g.x : g.x + g.width] = 255
        for which, marker_id in enumerate(
            (site_marker_id(site_index), frame_marker_id(site_index, frame_index))
        ):
            x, y = g.marker_origin(which)
            bitmap = self._bitmap(marker_id)
            bgr[y : y + bitmap.shape[0], x : x + bitmap.shape[1]] = bitmap


def _card_detector(dictionary: cv2.aruco.Dictionary,
                   min_perimeter_rate: float | None = None) -> cv2.aruco.ArucoDetector:
    """A detector of the cards' markers (the site card's and the content card's)."""
    params = cv2.aruco.DetectorParameters()
    # Exact bit match: a corrected code could be another site's.
    params.errorCorrectionRate = 0.0
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE
    # One thresholding window: the search picture is scaled so a cell is a few pixels, and
    # every further window finds more candidate contours in the moving content (3x cost).
    params.adaptiveThreshWinSizeMin = 7
    params.adaptiveThreshWinSizeMax = 7
    if min_perimeter_rate is not None:
        params.minMarkerPerimeterRate = min_perimeter_rate
    return cv2.aruco.ArucoDetector(dictionary, params)


@functools.cache
def _shared_detector() -> cv2.aruco.ArucoDetector:
    # A site card's marker spans 6 cells of >= 6 px in the search picture (36 px or more, a
    # perimeter of 0.3 of its side or more): smaller squares are not ours. Refusing them
    # early keeps the finder from sampling every bit cell of the camera room's scene markers
    # (terminals/camera.py) as a candidate, which cost it 10x its time.
    return _card_detector(_dictionary(), min_perimeter_rate=0.4)


def luma_of(picture: Any) -> np.ndarray:
    """The luma plane of an av.VideoFrame (a view when it is I420) or of a numpy picture."""
    if isinstance(picture, np.ndarray):
        if picture.ndim == 2:
            return picture
        return cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    if picture.format.name in ("yuv420p", "yuvj420p", "nv12"):
        plane = picture.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    return picture.to_ndarray(format="gray")


def _pixel_window(shape: tuple[int, ...], rect: Rect | None) -> tuple[int, int, int, int]:
    height, width = shape[:2]
    if rect is None:
        return 0, 0, width, height
    if isinstance(rect, Sequence):
        fx, fy, fw, fh = (float(v) for v in rect)
    else:
        fx, fy, fw, fh = (float(rect.x), float(rect.y), float(rect.w), float(rect.h))
    x0, y0 = round(fx * width), round(fy * height)
    x1, y1 = round((fx + fw) * width), round((fy + fh) * height)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, x1), min(height, y1)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _search_picture(region: np.ndarray) -> np.ndarray:
    height, width = region.shape
    if max(width, height) > _SEARCH_MAX_SIDE:
        scale = _SEARCH_MAX_SIDE / max(width, height)
        return cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if width < _SEARCH_MIN_WIDTH:
        # Small panes: a cell of ~6 px is near the finder's limit; doubling it helps the
        # contour and bit sampling more than it costs.
        return cv2.resize(region, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(region)


def read_marker(picture: Any, rect: Rect | None = None) -> MarkerReading | None:
    """The site and frame index shown in `rect` of `picture`, or None if unreadable.

    `picture` is an av.VideoFrame or a numpy array (grey, or BGR); `rect` is (x, y, w, h) in
    fractions of the picture (None: the whole picture).
    """
    luma = luma_of(picture)
    x, y, w, h = _pixel_window(luma.shape, rect)
    if w < 16 or h < 16:
        return None
    region = luma[y : y + h, x : x + w]
    if float(region[:: max(1, h // 64), :: max(1, w // 64)].std()) < _FLAT_LUMA_STD:
        return None
    corners, ids, _rejected = _shared_detector().detectMarkers(_search_picture(region))
    if ids is None:
        return None
    return _consistent_reading(corners, ids.reshape(-1))


def _consistent_reading(corners: Sequence[np.ndarray], ids: np.ndarray) -> MarkerReading | None:
    sites: list[tuple[int, np.ndarray]] = []
    frames: list[tuple[int, np.ndarray]] = []
    for quad, marker_id in zip(corners, ids, strict=True):
        points = quad.reshape(4, 2)
        if marker_id < MAX_SITES:
            sites.append((int(marker_id), points))
        elif marker_id < MAX_SITES + MAX_LOOP_FRAMES * SITE_CHECK_MODULUS:
            frames.append((int(marker_id) - MAX_SITES, points))
    readings: set[MarkerReading] = set()
    for site_index, site_points in sites:
        for code, frame_points in frames:
            if code % SITE_CHECK_MODULUS != site_index % SITE_CHECK_MODULUS:
                continue
            if _side_by_side(site_points, frame_points):
                readings.add(MarkerReading(site_index, code // SITE_CHECK_MODULUS))
    if len({r.site_index for r in readings}) != 1:
        return None
    # Two frame indices for one site cannot be on one card; keep the lowest deterministically.
    return min(readings, key=lambda r: r.frame_index)


def _side_by_side(site_points: np.ndarray, frame_points: np.ndarray) -> bool:
    """The frame marker sits one marker-and-a-gap to the right of the site marker, same size."""
    site_side = float(np.linalg.norm(site_points[1] - site_points[0]))
    frame_side = float(np.linalg.norm(frame_points[1] - frame_points[0]))
    if site_side < 4 or not 0.7 < frame_side / site_side < 1.4:
        return False
    offset = frame_points.mean(axis=0) - site_points.mean(axis=0)
    expected = site_side * (MARKER_CELLS + 1) / MARKER_CELLS
    return abs(offset[0] - expected) < 0.3 * site_side and abs(offset[1]) < 0.3 * site_side


# --- the content marker -------------------------------------------------------------------
#
# A shared document page (terminals/documents.py) carries its own card, built so that it is
# never read as a camera card and a camera card never as it, on two independent grounds:
# - another dictionary: OpenCV's DICT_5X5_1000 (5x5 bits, 7x7 cells with the border), read
#   by a detector of that dictionary only; the camera's 4x4 codes are sampled on the wrong
#   grid by it, and the camera's detector samples the 5x5 codes on the wrong grid;
# - another geometry: the two markers are CONTENT_GAP_CELLS (4) cells apart, so the second
#   marker's centre sits (7 + 4) / 7 = 1.57 marker sides to the right of the first, where
#   the camera's reading wants 7/6 = 1.17 (+-0.3) and the content reading wants 1.57 (+-0.2).
#
#   +----------------------------------------+   card: 20 x 9 cells, quiet zone of 1 cell
#   |  [page marker]    gap    [frame marker] |
#   +----------------------------------------+
#
# - page marker id  = site_index + MAX_SITES * (kind * CONTENT_PAGES_PER_KIND + page)  (< 512)
# - frame marker id = 512 + frame_index * 8 + page marker id % 8 (the check)

CONTENT_KINDS = 2  # terminals.documents.DocumentKind
CONTENT_PAGES_PER_KIND = 4
# The last page slot of each kind marks an aux input's picture, not a document page
# (terminals/aux_input_page.py): kind 0 a PC input, kind 1 a document camera.
CONTENT_INPUT_PAGE = CONTENT_PAGES_PER_KIND - 1
CONTENT_MARKER_CELLS = 7  # 5x5 bits inside a one-cell black border
CONTENT_GAP_CELLS = 4
CONTENT_CARD_CELLS_WIDE = 1 + CONTENT_MARKER_CELLS + CONTENT_GAP_CELLS + CONTENT_MARKER_CELLS + 1
CONTENT_CARD_CELLS_HIGH = 1 + CONTENT_MARKER_CELLS + 1
CONTENT_CELLS_PER_FRAME_HEIGHT = 40
_CONTENT_DICTIONARY_SIZE = 1000
_CONTENT_PAGE_IDS = MAX_SITES * CONTENT_KINDS * CONTENT_PAGES_PER_KIND  # 512
MAX_CONTENT_FRAMES = (_CONTENT_DICTIONARY_SIZE - _CONTENT_PAGE_IDS) // SITE_CHECK_MODULUS  # 61
_CONTENT_OFFSET_SIDES = (CONTENT_MARKER_CELLS + CONTENT_GAP_CELLS) / CONTENT_MARKER_CELLS


@dataclass(frozen=True, slots=True)
class ContentReading:
    site_index: int
    kind: int  # terminals.documents.DocumentKind value
    page: int
    frame_index: int

    @property
    def is_input_picture(self) -> bool:
        """The content is an aux input's picture (a PC, a document camera), not a page."""
        return self.page == CONTENT_INPUT_PAGE


def content_card_geometry(width: int, height: int) -> CardGeometry:
    """Where a document page's card goes: centred across, its top at 17 % of the height
    (inside the central half of the width and two thirds of the height that any pane's crop
    keeps). A cell is 1/40 of the height (27 px at 1080p, ~6.7 px in a 480x270 pane)."""
    cell = max(3, min(height // CONTENT_CELLS_PER_FRAME_HEIGHT,
                      width // (2 * CONTENT_CARD_CELLS_WIDE)))
    card_w = CONTENT_CARD_CELLS_WIDE * cell
    return CardGeometry(cell, (width - card_w) // 2, round(height * 0.17))


def content_page_marker_id(site_index: int, kind: int, page: int) -> int:
    site_marker_id(site_index)  # validates the site
    if not 0 <= kind < CONTENT_KINDS:
        raise ValueError(f"document kind {kind} outside 0..{CONTENT_KINDS - 1}")
    if not 0 <= page < CONTENT_PAGES_PER_KIND:
        raise ValueError(f"page {page} outside 0..{CONTENT_PAGES_PER_KIND - 1}")
    return site_index + MAX_SITES * (kind * CONTENT_PAGES_PER_KIND + page)


def content_frame_marker_id(page_marker_id: int, frame_index: int) -> int:
    if not 0 <= frame_index < MAX_CONTENT_FRAMES:
        raise ValueError(f"content frame index {frame_index} outside 0..{MAX_CONTENT_FRAMES - 1}")
    return (_CONTENT_PAGE_IDS + frame_index * SITE_CHECK_MODULUS
            + page_marker_id % SITE_CHECK_MODULUS)


def _content_dictionary() -> cv2.aruco.Dictionary:
    return cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_5X5_1000)


class ContentMarkerPainter:
    """Draws a document page's card into BGR pictures of one size."""

    def __init__(self, width: int, height: int) -> None:
        self.geometry = content_card_geometry(width, height)
        self._dictionary = _content_dictionary()
        self._bitmaps: dict[int, np.ndarray] = {}

    @property
    def card_rect(self) -> tuple[int, int, int, int]:
        """(x, y, w, h) in pixels of the whole card."""
        g = self.geometry
        return g.x, g.y, CONTENT_CARD_CELLS_WIDE * g.cell, CONTENT_CARD_CELLS_HIGH * g.cell

    def _bitmap(self, marker_id: int) -> np.ndarray:
        bitmap = self._bitmaps.get(marker_id)
        if bitmap is None:
            side = CONTENT_MARKER_CELLS * self.geometry.cell
            grey = cv2.aruco.generateImageMarker(self._dictionary, marker_id, side, borderBits=1)
            bitmap = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
            self._bitmaps[marker_id] = bitmap
        return bitmap

    def draw(self, bgr: np.ndarray, site_index: int, kind: int, page: int,
             frame_index: int) -> None:
        x, y, w, h = self.card_rect
        cell = self.geometry.cell
        bgr[y : y + h, x : x + w] = 255
        page_id = content_page_marker_id(site_index, kind, page)
        for which, marker_id in enumerate((page_id, content_frame_marker_id(page_id, frame_index))):
            mx = x + cell * (1 + which * (CONTENT_MARKER_CELLS + CONTENT_GAP_CELLS))
            bitmap = self._bitmap(marker_id)
            bgr[y + cell : y + cell + bitmap.shape[0], mx : mx + bitmap.shape[1]] = bitmap


@functools.cache
def _shared_content_detector() -> cv2.aruco.ArucoDetector:
    return _card_detector(_content_dictionary())


def read_content_marker(picture: Any, rect: Rect | None = None) -> ContentReading | None:
    """The site, document kind, page and frame index of the shared page shown in `rect` of
    `picture` (as read_marker takes them), or None: a camera picture, a placeholder or an
    unreadable region is None."""
    luma = luma_of(picture)
    x, y, w, h = _pixel_window(luma.shape, rect)
    if w < 16 or h < 16:
        return None
    region = luma[y : y + h, x : x + w]
    if float(region[:: max(1, h // 64), :: max(1, w // 64)].std()) < _FLAT_LUMA_STD:
        return None
    corners, ids, _rejected = _shared_content_detector().detectMarkers(_search_picture(region))
    if ids is None:
        return None
    return _consistent_content_reading(corners, ids.reshape(-1))


def _consistent_content_reading(corners: Sequence[np.ndarray],
                                ids: np.ndarray) -> ContentReading | None:
    pages: list[tuple[int, np.ndarray]] = []
    frames: list[tuple[int, np.ndarray]] = []
    for quad, marker_id in zip(corners, ids, strict=True):
        points = quad.reshape(4, 2)
        if marker_id < _CONTENT_PAGE_IDS:
            pages.append((int(marker_id), points))
        elif marker_id < _CONTENT_PAGE_IDS + MAX_CONTENT_FRAMES * SITE_CHECK_MODULUS:
            frames.append((int(marker_id) - _CONTENT_PAGE_IDS, points))
    readings: set[ContentReading] = set()
    for page_id, page_points in pages:
        for code, frame_points in frames:
            if code % SITE_CHECK_MODULUS != page_id % SITE_CHECK_MODULUS:
                continue
            if _content_side_by_side(page_points, frame_points):
                kind_page = page_id // MAX_SITES
                readings.add(ContentReading(page_id % MAX_SITES,
                                            kind_page // CONTENT_PAGES_PER_KIND,
                                            kind_page % CONTENT_PAGES_PER_KIND,
                                            code // SITE_CHECK_MODULUS))
    if len({(r.site_index, r.kind, r.page) for r in readings}) != 1:
        return None
    return min(readings, key=lambda r: r.frame_index)


def _content_side_by_side(page_points: np.ndarray, frame_points: np.ndarray) -> bool:
    """The frame marker sits a marker and a 4-cell gap to the right of the page marker."""
    page_side = float(np.linalg.norm(page_points[1] - page_points[0]))
    frame_side = float(np.linalg.norm(frame_points[1] - frame_points[0]))
    if page_side < 4 or not 0.7 < frame_side / page_side < 1.4:
        return False
    offset = frame_points.mean(axis=0) - page_points.mean(axis=0)
    expected = page_side * _CONTENT_OFFSET_SIDES
    return abs(offset[0] - expected) < 0.2 * page_side and abs(offset[1]) < 0.3 * page_side
