"""The 50 continuous-presence modes of WS/T 546 table 63, as one table of rectangles.

Geometry follows LAYOUTS.md of the reference folder shared beside the repository
(../shared/reference/LAYOUTS.md; the repository's reference/cp-layouts/ has the icons).
Every pane is a rectangle in units of a per-mode grid (`x_cells` columns by `y_cells` rows
of the canvas), so fractions stay exact and two panes that share an edge on paper share the
same pixel edge at any output size. Pane 0 is the main pane; the others are in reading order
(top edge, then left edge). The compositor and the gallery only read this table: nothing
anywhere special-cases a mode.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, lru_cache


@dataclass(frozen=True, slots=True)
class PaneRect:
    """A pane as fractions of the canvas, origin top-left."""

    x: Fraction
    y: Fraction
    w: Fraction
    h: Fraction

    def as_floats(self) -> list[float]:
        return [float(self.x), float(self.y), float(self.w), float(self.h)]

    def overlaps(self, other: PaneRect) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


@dataclass(frozen=True, slots=True)
class PixelRect:
    """A pane in pixels of one output size; x, y, w and h are all even (I420 chroma)."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h


# Compared and hashed by identity: there is one object per mode, and
# pixel_rects() is cached on it.
@dataclass(frozen=True, eq=False)
class LayoutMode:
    value: int
    name: str
    panes: tuple[PaneRect, ...]
    # CP_None is not a multi-picture: its one pane follows the broadcast or
    # speaking site and ignores subPics.
    voice_switched: bool = False

    @property
    def pane_count(self) -> int:
        return len(self.panes)

    @property
    def overlay_panes(self) -> frozenset[int]:
        """Panes drawn over an earlier pane (picture-in-picture)."""
        return _overlay_panes(self)

    def pixel_rects(self, width: int, height: int) -> tuple[PixelRect, ...]:
        return pixel_rects(self, width, height)

    def to_json(self) -> dict[str, object]:
        return {"value": self.value, "name": self.name, "panes": [p.as_floats() for p in self.panes]}


# ---------------------------------------------------------------------------
# The table. Each row: value, name, (x_cells, y_cells), main pane, other panes
# in reading order. A rect is (column, row, columns wide, rows high).

Cell = tuple[int, int, int, int]


def _row(y: int, xs: Iterable[int], size: int = 1) -> tuple[Cell, ...]:
    return tuple((x, y, size, size) for x in xs)


def _grid(cols: int, rows: int) -> tuple[Cell, ...]:
    return tuple((x, y, 1, 1) for y in range(rows) for x in range(cols))


def _pip_strip(count: int, cells: int, size: int, gap: int, bottom_margin: int) -> tuple[Cell, ...]:
    """Equal square-in-cells panes (so they keep the canvas aspect) in one centred row."""
    strip = count * size + (count - 1) * gap
    left = (cells - strip) // 2
    top = cells - bottom_margin - size
    return tuple((left + i * (size + gap), top, size, size) for i in range(count))


_FULL: Cell = (0, 0, 1, 1)

_TABLE: tuple[tuple[int, str, tuple[int, int], Cell, tuple[Cell, ...]], ...] = (
    (0, "CP_None", (1, 1), _FULL, ()),
    (1, "CP_1_1", (1, 1), _FULL, ()),
    (2, "CP_2_1", (4, 4), (0, 1, 2, 2), ((2, 1, 2, 2),)),
    (3, "CP_2_2", (4, 4), (1, 0, 2, 2), ((1, 2, 2, 2),)),
    (4, "CP_2_3", (2, 1), (0, 0, 1, 1), ((1, 0, 1, 1),)),
    (5, "CP_3_1", (4, 4), (0, 0, 2, 2), ((2, 0, 2, 2), (1, 2, 2, 2))),
    (6, "CP_3_2", (4, 4), (1, 0, 2, 2), ((0, 2, 2, 2), (2, 2, 2, 2))),
    (7, "CP_3_3", (4, 4), (0, 0, 2, 2), ((2, 1, 2, 2), (0, 2, 2, 2))),
    (8, "CP_3_4", (4, 4), (0, 1, 2, 2), ((2, 0, 2, 2), (2, 2, 2, 2))),
    (9, "CP_3_5", (2, 2), (0, 0, 1, 1), ((1, 0, 1, 2), (0, 1, 1, 1))),
    (10, "CP_3_6", (3, 3), (0, 1, 1, 1), _row(1, (1, 2))),
    (11, "CP_4_1", (2, 2), (0, 0, 1, 1), ((1, 0, 1, 1), (0, 1, 1, 1), (1, 1, 1, 1))),
    (12, "CP_4_2", (3, 3), (0, 0, 2, 3), ((2, 0, 1, 1), (2, 1, 1, 1), (2, 2, 1, 1))),
    (13, "CP_4_3", (3, 3), (1, 0, 2, 3), ((0, 0, 1, 1), (0, 1, 1, 1), (0, 2, 1, 1))),
    (14, "CP_4_4", (3, 3), (0, 0, 3, 2), _row(2, range(3))),
    (15, "CP_4_5", (3, 3), (0, 1, 3, 2), _row(0, range(3))),
    # PiP: three panes 1/6 of the canvas wide, 1/48 apart, 3/48 above the bottom.
    (16, "CP_4_6", (48, 48), (0, 0, 48, 48), _pip_strip(3, 48, 8, 1, 3)),
    (17, "CP_5_1", (4, 4), (0, 0, 4, 3), _row(3, range(4))),
    (18, "CP_5_2", (4, 4), (0, 1, 4, 3), _row(0, range(4))),
    (19, "CP_5_3", (4, 4), (0, 0, 3, 4), tuple((3, y, 1, 1) for y in range(4))),
    (20, "CP_5_4", (4, 4), (1, 0, 3, 4), tuple((0, y, 1, 1) for y in range(4))),
    (21, "CP_6_1", (3, 3), (0, 0, 2, 2), ((2, 0, 1, 1), (2, 1, 1, 1), *_row(2, range(3)))),
    (22, "CP_6_2", (3, 3), (1, 0, 2, 2), ((0, 0, 1, 1), (0, 1, 1, 1), *_row(2, range(3)))),
    (23, "CP_6_3", (3, 3), (1, 1, 2, 2), (*_row(0, range(3)), (0, 1, 1, 1), (0, 2, 1, 1))),
    (24, "CP_6_4", (3, 3), (0, 1, 2, 2), (*_row(0, range(3)), (2, 1, 1, 1), (2, 2, 1, 1))),
    # Six 3-grid cells (two units of a 6-grid each), rows at y = 1/6 and 1/2.
    (25, "CP_6_5", (6, 6), (0, 1, 2, 2), ((2, 1, 2, 2), (4, 1, 2, 2), *_row(3, (0, 2, 4), 2))),
    (26, "CP_7_1", (4, 4), (0, 0, 2, 2),
     ((2, 0, 2, 2), (0, 2, 2, 2), *_row(2, (2, 3)), *_row(3, (2, 3)))),
    (27, "CP_7_2", (4, 4), (0, 0, 2, 2),
     ((2, 0, 2, 2), *_row(2, (0, 1)), (2, 2, 2, 2), *_row(3, (0, 1)))),
    (28, "CP_7_3", (4, 4), (0, 0, 2, 2),
     (*_row(0, (2, 3)), *_row(1, (2, 3)), (0, 2, 2, 2), (2, 2, 2, 2))),
    (29, "CP_7_4", (4, 4), (2, 0, 2, 2),
     (*_row(0, (0, 1)), *_row(1, (0, 1)), (0, 2, 2, 2), (2, 2, 2, 2))),
    # PiP: six panes 1/8 of the canvas wide, 1/64 apart, 3/64 above the bottom.
    (30, "CP_7_5", (128, 128), (0, 0, 128, 128), _pip_strip(6, 128, 16, 2, 6)),
    (31, "CP_8_1", (4, 4), (0, 0, 3, 3),
     ((3, 0, 1, 1), (3, 1, 1, 1), (3, 2, 1, 1), *_row(3, range(4)))),
    (32, "CP_8_2", (4, 4), (1, 0, 3, 3),
     ((0, 0, 1, 1), (0, 1, 1, 1), (0, 2, 1, 1), *_row(3, range(4)))),
    (33, "CP_8_3", (4, 4), (1, 1, 3, 3),
     (*_row(0, range(4)), (0, 1, 1, 1), (0, 2, 1, 1), (0, 3, 1, 1))),
    (34, "CP_8_4", (4, 4), (0, 1, 3, 3),
     (*_row(0, range(4)), (3, 1, 1, 1), (3, 2, 1, 1), (3, 3, 1, 1))),
    (35, "CP_9_1", (3, 3), (0, 0, 1, 1), _grid(3, 3)[1:]),
    (36, "CP_10_1", (4, 4), (0, 0, 2, 2), ((2, 0, 2, 2), *_row(2, range(4)), *_row(3, range(4)))),
    (37, "CP_10_2", (4, 4), (0, 2, 2, 2), (*_row(0, range(4)), *_row(1, range(4)), (2, 2, 2, 2))),
    (38, "CP_10_3", (4, 4), (0, 0, 2, 2),
     (*_row(0, (2, 3)), *_row(1, (2, 3)), (0, 2, 2, 2), *_row(2, (2, 3)), *_row(3, (2, 3)))),
    (39, "CP_10_4", (4, 4), (2, 0, 2, 2),
     (*_row(0, (0, 1)), *_row(1, (0, 1)), *_row(2, (0, 1)), (2, 2, 2, 2), *_row(3, (0, 1)))),
    (40, "CP_10_5", (4, 4), (0, 1, 2, 2), (*_row(0, range(4)), (2, 1, 2, 2), *_row(3, range(4)))),
    (41, "CP_10_6", (4, 4), (1, 0, 2, 2),
     (*_row(0, (0, 3)), *_row(1, (0, 3)), (0, 2, 1, 1), (1, 2, 2, 2), (3, 2, 1, 1),
      *_row(3, (0, 3)))),
    (42, "CP_13_1", (4, 4), (0, 0, 2, 2),
     (*_row(0, (2, 3)), *_row(1, (2, 3)), *_row(2, range(4)), *_row(3, range(4)))),
    (43, "CP_13_2", (4, 4), (2, 0, 2, 2),
     (*_row(0, (0, 1)), *_row(1, (0, 1)), *_row(2, range(4)), *_row(3, range(4)))),
    (44, "CP_13_3", (4, 4), (2, 2, 2, 2),
     (*_row(0, range(4)), *_row(1, range(4)), *_row(2, (0, 1)), *_row(3, (0, 1)))),
    (45, "CP_13_4", (4, 4), (0, 2, 2, 2),
     (*_row(0, range(4)), *_row(1, range(4)), *_row(2, (2, 3)), *_row(3, (2, 3)))),
    (46, "CP_13_5", (4, 4), (1, 1, 2, 2),
     (*_row(0, range(4)), *_row(1, (0, 3)), *_row(2, (0, 3)), *_row(3, range(4)))),
    (47, "CP_16_1", (4, 4), (0, 0, 1, 1), _grid(4, 4)[1:]),
    (48, "CP_20_1", (5, 4), (0, 0, 1, 1), _grid(5, 4)[1:]),
    (49, "CP_24_1", (6, 4), (0, 0, 1, 1), _grid(6, 4)[1:]),
)


def _build_modes() -> tuple[LayoutMode, ...]:
    modes = []
    for value, name, (x_cells, y_cells), main, others in _TABLE:
        panes = tuple(
            PaneRect(
                Fraction(x, x_cells), Fraction(y, y_cells), Fraction(w, x_cells), Fraction(h, y_cells)
            )
            for x, y, w, h in (main, *others)
        )
        modes.append(LayoutMode(value, name, panes, voice_switched=(name == "CP_None")))
    return tuple(modes)


LAYOUT_MODES: tuple[LayoutMode, ...] = _build_modes()
_BY_NAME = {mode.name: mode for mode in LAYOUT_MODES}


def layout_mode(mode: int | str | LayoutMode) -> LayoutMode:
    """Look a mode up by its table-63 value or name (`11`, `"CP_4_1"`)."""
    if isinstance(mode, LayoutMode):
        return mode
    if isinstance(mode, str):
        try:
            return _BY_NAME[mode]
        except KeyError:
            raise ValueError(f"unknown continuous-presence mode {mode!r}") from None
    if 0 <= mode < len(LAYOUT_MODES):
        return LAYOUT_MODES[mode]
    raise ValueError(f"unknown continuous-presence mode {mode!r}")


@cache
def _overlay_panes(mode: LayoutMode) -> frozenset[int]:
    return frozenset(
        i for i, pane in enumerate(mode.panes) if any(pane.overlaps(p) for p in mode.panes[:i])
    )


def _even_edge(fraction: Fraction, size: int) -> int:
    """Nearest even pixel to fraction*size, halves rounding up, in exact arithmetic."""
    return 2 * int((fraction * size / 2 + Fraction(1, 2)) // 1)


@lru_cache(maxsize=512)
def pixel_rects(mode: LayoutMode, width: int, height: int) -> tuple[PixelRect, ...]:
    """Pane rectangles in pixels, in pane order.

    Each edge is rounded on its own, so panes that share an edge on paper
    share it in pixels: no gaps and no one-pixel seams at any size.
    """
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"output size must be positive and even, got {width}x{height}")
    rects = []
    for pane in mode.panes:
        left, right = _even_edge(pane.x, width), _even_edge(pane.x + pane.w, width)
        top, bottom = _even_edge(pane.y, height), _even_edge(pane.y + pane.h, height)
        if right - left < 2 or bottom - top < 2:
            raise ValueError(f"{width}x{height} is too small for {mode.name}")
        rects.append(PixelRect(left, top, right - left, bottom - top))
    return tuple(rects)


# ---------------------------------------------------------------------------
# Filling panes

AUX_SUFFIX = "(%AUX1)"
_SUB_PIC = re.compile(r"^(?P<uri>.*?)(?P<aux>\(%AUX1\))?$")


def aux_source_key(site_uri: str) -> str:
    """The source key of a site's aux (content) stream, as subPics spells it."""
    return f"{site_uri}{AUX_SUFFIX}"


def parse_sub_pic(entry: str) -> tuple[str, bool]:
    """`"01010086(%AUX1)"` -> `("01010086", True)`; `"01010086"` -> `("01010086", False)`."""
    match = _SUB_PIC.match(entry.strip())
    assert match is not None  # the pattern matches every string
    return match["uri"].strip(), match["aux"] is not None


def assign_panes(
    mode: LayoutMode,
    sites_in_join_order: Sequence[str],
    *,
    sub_pics: Sequence[str] | None = None,
    broadcast: str | None = None,
    speaking: str | None = None,
    aux_sources: Collection[str] = (),
) -> tuple[str | None, ...]:
    """The source key shown in each pane, in pane order; None = "no video" placeholder.

    - `sub_pics` (setContinuousPresenceEx.subPics) fills panes in pane order
      with site URIs, `uri(%AUX1)` meaning that site's content stream; empty,
      unknown or missing entries leave a pane on the placeholder.
    - Without sub_pics: main pane = broadcast site, else the speaking site,
      then the other sites in join order.
    - A voice-switched mode (CP_None) ignores sub_pics and shows the broadcast
      site, else the speaking site, else the first site to have joined.
    `aux_sources` names the sites that currently send a content stream; an
    aux entry for any other site is left on the placeholder.
    """
    known = set(sites_in_join_order)
    slots = mode.pane_count
    if sub_pics and not mode.voice_switched:
        panes: list[str | None] = []
        for entry in list(sub_pics)[:slots]:
            uri, is_aux = parse_sub_pic(entry) if entry else ("", False)
            if uri not in known or (is_aux and uri not in aux_sources):
                panes.append(None)
            else:
                panes.append(aux_source_key(uri) if is_aux else uri)
        return tuple(panes + [None] * (slots - len(panes)))

    main = next((s for s in (broadcast, speaking) if s is not None and s in known), None)
    ordered = ([main] if main else []) + [s for s in sites_in_join_order if s != main]
    ordered = ordered[:slots]
    return tuple(ordered + [None] * (slots - len(ordered)))
