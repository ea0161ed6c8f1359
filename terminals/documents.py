"""Synthetic document pages a terminal shares as its content stream.

Two kinds, as a remote consultation shares them:

- RADIOGRAPH: a grey-level chest-like image (smooth gradients: body, two darker lung
  fields, a bright spine and rib arcs, a seeded noise texture) on black, with annotations:
  arrows, a measurement line with end ticks and its value, small labels (R, L, the view) and
  a scale bar, and a findings box of small text at the lower left.
- RECORD: a dense medical-record page, black on white: patient fields, a table of lab
  values with fine 1-px rules, and notes in small text.

A page is a function of (kind, site_index, page, width, height) only: every random choice is
seeded from (kind, site_index, page), every size scales with the picture; so a receiver
re-renders exactly the page that was sent, at any size up to 1920x1080, to measure how
sharp it arrived. Each page carries the content marker card of terminals/marker.py (site,
kind, page and frame index), centred across at 17 % of the height; in the motion mode a
pointer (a ring) moves inside `POINTER_REGION[kind]`, away from the card and from the text.

TEXT_REGION[kind] is the region, in fractions of the page, where the sharpness figure is
measured (terminals/content_receiver.py): small text and fine rules only, outside the card
and the pointer's path, identical in every frame of the page.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from terminals.marker import CONTENT_INPUT_PAGE, ContentMarkerPainter

MAX_PAGE_WIDTH = 1920
MAX_PAGE_HEIGHT = 1080
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class DocumentKind(enum.IntEnum):
    RADIOGRAPH = 0
    RECORD = 1


@dataclass(frozen=True, slots=True)
class PageId:
    """One page of one site's documents."""

    kind: DocumentKind
    page: int  # 0 .. CONTENT_INPUT_PAGE-1 within its kind (the last slot: an input's picture)

    def __post_init__(self) -> None:
        if not 0 <= self.page < CONTENT_INPUT_PAGE:
            raise ValueError(f"page {self.page} outside 0..{CONTENT_INPUT_PAGE - 1}")


FractionRect = tuple[float, float, float, float]  # x, y, w, h as fractions of the page

TEXT_REGION: dict[DocumentKind, FractionRect] = {
    # The findings box (small text) and the scale bar below it.
    DocumentKind.RADIOGRAPH: (0.03, 0.74, 0.40, 0.23),
    # Lab table and notes: everything below the card.
    DocumentKind.RECORD: (0.03, 0.44, 0.94, 0.53),
}
POINTER_REGION: dict[DocumentKind, FractionRect] = {
    DocumentKind.RADIOGRAPH: (0.62, 0.55, 0.34, 0.40),
    DocumentKind.RECORD: (0.70, 0.02, 0.28, 0.13),
}


def check_size(width: int, height: int) -> None:
    if width % 2 or height % 2:
        raise ValueError("I420 pictures need an even width and height")
    if not (64 <= width <= MAX_PAGE_WIDTH and 64 <= height <= MAX_PAGE_HEIGHT):
        raise ValueError(f"page size {width}x{height} outside 64x64..{MAX_PAGE_WIDTH}x{MAX_PAGE_HEIGHT}")


def pixel_rect(rect: FractionRect, width: int, height: int) -> tuple[int, int, int, int]:
    """A fraction rectangle in pixels (x, y, w, h) of a width x height picture."""
    x, y = round(rect[0] * width), round(rect[1] * height)
    return x, y, round((rect[0] + rect[2]) * width) - x, round((rect[1] + rect[3]) * height) - y


def _rng(kind: DocumentKind, site_index: int, page: int) -> np.random.Generator:
    return np.random.default_rng([int(kind), site_index, page, 0x5EED])


def _text(bgr: np.ndarray, text: str, origin: tuple[int, int], scale: float,
          colour: tuple[int, int, int], thickness: int = 1) -> None:
    cv2.putText(bgr, text, origin, _FONT, scale, colour, thickness, cv2.LINE_AA)


@lru_cache(maxsize=32)
def _page_background(kind: DocumentKind, site_index: int, page: int, width: int,
                     height: int) -> np.ndarray:
    if kind is DocumentKind.RADIOGRAPH:
        picture = _radiograph(site_index, page, width, height)
    else:
        picture = _record(site_index, page, width, height)
    picture.flags.writeable = False
    return picture


def render_page(kind: DocumentKind, site_index: int, page: int, width: int, height: int,
                frame_index: int = 0, pointer_phase: float | None = None) -> np.ndarray:
    """The page as a new BGR picture: the document, its marker card showing `frame_index`,
    and, when `pointer_phase` (0..1) is given, the pointer at that point of its path."""
    check_size(width, height)
    kind = DocumentKind(kind)
    PageId(kind, page)
    picture = _page_background(kind, site_index, page, width, height).copy()
    ContentMarkerPainter(width, height).draw(picture, site_index, int(kind), page, frame_index)
    if pointer_phase is not None:
        draw_pointer(picture, kind, pointer_phase)
    return picture


def draw_pointer(bgr: np.ndarray, kind: DocumentKind, phase: float) -> None:
    """A presenter's pointer: a ring travelling an ellipse inside POINTER_REGION[kind]."""
    height, width = bgr.shape[:2]
    x, y, w, h = pixel_rect(POINTER_REGION[kind], width, height)
    radius = max(3, height // 60)
    angle = 2 * np.pi * phase
    centre = (int(x + w / 2 + (w / 2 - 2 * radius) * np.cos(angle)),
              int(y + h / 2 + (h / 2 - 2 * radius) * np.sin(angle)))
    cv2.circle(bgr, centre, radius, (0, 0, 255), max(1, radius // 3), cv2.LINE_AA)
    cv2.circle(bgr, centre, max(1, radius // 4), (0, 200, 255), -1, cv2.LINE_AA)


def _radiograph(site_index: int, page: int, width: int, height: int) -> np.ndarray:
    rng = _rng(DocumentKind.RADIOGRAPH, site_index, page)
    s = height / 1080
    # The image is smooth: drawn at a quarter of the size, then scaled up (a few ms at 1080p).
    gw, gh = max(16, width // 4), max(16, height // 4)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    cx = gw / 2 + rng.uniform(-0.03, 0.03) * gw
    cy = gh * 0.52
    # Body: a broad bright ellipse fading to black.
    body = np.clip(1.2 - ((xx - cx) / (0.36 * gw)) ** 2 - ((yy - cy) / (0.55 * gh)) ** 2, 0, 1)
    grey = 0.55 * body
    # Lung fields: darker ellipses either side of the spine.
    for side in (-1, 1):
        lx = cx + side * (0.13 + rng.uniform(-0.01, 0.01)) * gw
        lungs = np.clip(1 - ((xx - lx) / (0.095 * gw)) ** 2
                        - ((yy - cy + 0.04 * gh) / (0.30 * gh)) ** 2, 0, 1)
        grey -= 0.35 * lungs ** 0.7
    # Spine: a bright vertical band; ribs: bright arcs.
    grey += 0.35 * np.exp(-(((xx - cx) / (0.018 * gw)) ** 2))
    for rib in range(8):
        ry = cy - 0.26 * gh + rib * 0.07 * gh + rng.uniform(-1, 1) * s
        arc = yy - (ry + 0.18 * gh * ((xx - cx) / (0.28 * gw)) ** 2)
        band = np.exp(-((arc / (0.008 * gh + 0.5)) ** 2))
        inside = (np.abs(xx - cx) > 0.02 * gw) & (np.abs(xx - cx) < 0.27 * gw)
        grey += 0.18 * band * inside
    # Texture: seeded noise (film grain and soft tissue), then the whole softened.
    grey += 0.04 * rng.standard_normal((gh, gw)).astype(np.float32) * body
    grey = cv2.GaussianBlur(grey, (0, 0), 0.7)
    grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_CUBIC)
    picture = cv2.cvtColor(np.clip(grey * 255, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    _radiograph_annotations(picture, rng, site_index, page, s)
    return picture


def _radiograph_annotations(picture: np.ndarray, rng: np.random.Generator, site_index: int,
                            page: int, s: float) -> None:
    height, width = picture.shape[:2]
    yellow, white = (0, 220, 255), (235, 235, 235)
    line = max(1, round(2 * s))
    small = 0.42 * s
    _text(picture, f"PACS  SITE {site_index:02d}  CHEST PA  IMG {page + 1}", (round(20 * s), round(34 * s)),
          0.7 * s, white, max(1, round(1.5 * s)))
    _text(picture, "R", (round(0.08 * width), round(0.22 * height)), 1.1 * s, white, line)
    _text(picture, "L", (round(0.90 * width), round(0.22 * height)), 1.1 * s, white, line)
    # Arrows at "findings" and a measurement line with ticks.
    for _ in range(2):
        tip = (round(rng.uniform(0.30, 0.42) * width), round(rng.uniform(0.45, 0.65) * height))
        tail = (tip[0] - round(0.08 * width), tip[1] - round(0.06 * height))
        cv2.arrowedLine(picture, tail, tip, yellow, line, cv2.LINE_AA, tipLength=0.25)
    a = (round(0.55 * width), round(rng.uniform(0.40, 0.50) * height))
    b = (round(0.70 * width), a[1] + round(rng.uniform(-0.03, 0.03) * height))
    cv2.line(picture, a, b, yellow, line, cv2.LINE_AA)
    for end in (a, b):
        cv2.line(picture, (end[0], end[1] - round(8 * s)), (end[0], end[1] + round(8 * s)),
                 yellow, line, cv2.LINE_AA)
    _text(picture, f"{rng.uniform(20, 60):.1f} mm", (a[0], a[1] - round(14 * s)), small, yellow)
    # The findings box (inside TEXT_REGION): small white text on black, and the scale bar.
    x, y, w, h = pixel_rect(TEXT_REGION[DocumentKind.RADIOGRAPH], width, height)
    picture[y : y + h, x : x + w] = 0
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), white, 1)
    findings = [
        f"Study {rng.integers(100000, 999999)}  site {site_index:02d}  image {page + 1}",
        f"kVp {rng.integers(90, 125)}  mAs {rng.uniform(1.5, 4.0):.1f}  SID 180 cm",
        f"Nodule {rng.uniform(4, 18):.1f} mm RUL, margins {rng.choice(['smooth', 'spiculated'])}",
        f"CTR {rng.uniform(0.38, 0.55):.2f}  costophrenic angles clear",
        "No pneumothorax. Lines and tubes: none.",
        f"Compare with prior {rng.integers(1, 28):02d}/{rng.integers(1, 12):02d}/2025",
    ]
    step = max(6, round(26 * s))
    for row, line_text in enumerate(findings):
        _text(picture, line_text, (x + round(10 * s), y + step * (row + 1)), small, white)
    bar_y = y + h - max(4, round(14 * s))
    bar_x0, bar_x1 = x + round(10 * s), x + round(10 * s) + round(0.12 * width)
    cv2.line(picture, (bar_x0, bar_y), (bar_x1, bar_y), white, 1)
    for tick in range(6):
        tx = bar_x0 + (bar_x1 - bar_x0) * tick // 5
        cv2.line(picture, (tx, bar_y - max(2, round(6 * s))), (tx, bar_y), white, 1)
    _text(picture, "5 cm", (bar_x1 + round(8 * s), bar_y), small, white)


_TESTS = (
    ("Haemoglobin", "g/dL", 12.0, 16.0), ("Leukocytes", "10^9/L", 4.0, 10.0),
    ("Platelets", "10^9/L", 150, 400), ("Sodium", "mmol/L", 135, 145),
    ("Potassium", "mmol/L", 3.5, 5.1), ("Creatinine", "umol/L", 60, 110),
    ("CRP", "mg/L", 0, 5), ("Glucose", "mmol/L", 3.9, 6.1), ("ALT", "U/L", 7, 56),
    ("Troponin T", "ng/L", 0, 14), ("INR", "", 0.8, 1.2), ("Lactate", "mmol/L", 0.5, 2.2),
)
_WORDS = ("patient", "reports", "mild", "dyspnoea", "on", "exertion", "since", "two", "weeks",
          "no", "fever", "chest", "pain", "denied", "auscultation", "fine", "crackles",
          "right", "base", "plan", "repeat", "x-ray", "follow-up", "cardiology", "review")


def _record(site_index: int, page: int, width: int, height: int) -> np.ndarray:
    rng = _rng(DocumentKind.RECORD, site_index, page)
    s = height / 1080
    picture = np.full((height, width, 3), 255, np.uint8)
    black, blue = (0, 0, 0), (120, 60, 0)
    small = 0.40 * s
    margin = round(0.03 * width)
    # Header: the record's title and patient fields (above the card).
    cv2.rectangle(picture, (0, 0), (width - 1, round(0.06 * height)), (230, 215, 200), -1)
    _text(picture, f"EMR  SITE {site_index:02d}  PAGE {page + 1}", (margin, round(0.042 * height)),
          0.7 * s, blue, max(1, round(1.5 * s)))
    fields = [
        f"Patient ID {rng.integers(10**7, 10**8)}", f"DOB {rng.integers(1930, 2010)}-"
        f"{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
        f"Ward {rng.choice(['A', 'B', 'C'])}{rng.integers(1, 9)}", f"Bed {rng.integers(1, 40)}",
        f"Attending Dr {rng.choice(['Li', 'Wang', 'Zhang', 'Chen', 'Liu'])}",
    ]
    for row, field in enumerate(fields):
        _text(picture, field, (margin, round((0.10 + 0.025 * row) * height)), small, black)
    # The lab table and notes, all in TEXT_REGION.
    x, y, w, h = pixel_rect(TEXT_REGION[DocumentKind.RECORD], width, height)
    row_h = max(5, round(22 * s))
    columns = (0.0, 0.22, 0.34, 0.46, 0.62, 0.80)
    header = ("Test", "Value", "Unit", "Reference", "Flag", "Time")
    table_rows = 1 + len(_TESTS)
    for col, label in zip(columns, header, strict=True):
        _text(picture, label, (x + round(col * w) + 4, y + row_h - 6), small, blue)
    for row in range(table_rows + 1):
        ry = y + row * row_h
        cv2.line(picture, (x, ry), (x + w - 1, ry), black, 1)
    for col in (*columns, 1.0):
        cx = min(x + w - 1, x + round(col * w))
        cv2.line(picture, (cx, y), (cx, y + table_rows * row_h), black, 1)
    for row, (name, unit, low, high) in enumerate(_TESTS, start=1):
        value = rng.uniform(low * 0.7, high * 1.3 if high else 1.0)
        flag = "H" if value > high else "L" if value < low else ""
        cells = (name, f"{value:.2f}", unit, f"{low}-{high}", flag,
                 f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}")
        for col, cell in zip(columns, cells, strict=True):
            _text(picture, cell, (x + round(col * w) + 4, y + (row + 1) * row_h - 6), small, black)
    notes_y = y + (table_rows + 1) * row_h + row_h
    while notes_y < y + h - 4:
        words = " ".join(str(word) for word in rng.choice(_WORDS, size=14))
        _text(picture, words.capitalize() + ".", (x + 4, notes_y), small, black)
        notes_y += row_h
    return picture
