"""The tile picture a leaf sends its root: its own sites side by side in an equal grid, one
site per pane, and how the root cuts it back into one picture per site.

The grid is one of the layout table's equal grids (mcu/layouts.py), the smallest that holds
the leaf's sites: CP_1_1 for one, CP_4_1 (2x2) up to four, CP_9_1 (3x3) up to nine, CP_16_1
(4x4) up to sixteen. The leaf composes it with the conference's own compositor (no border,
no label, no highlight: PictureSettings with neither broadcast nor speaker), the root cuts
each pane out at the pixel rectangles the compositor drew (layouts.pixel_rects of the
decoded picture's size) and shows the cut picture in the site's pane of the conference's
layout like any site's camera.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import av
import numpy as np

from mcu.layouts import LayoutMode, layout_mode, pixel_rects

TILE_MODES: tuple[LayoutMode, ...] = tuple(
    layout_mode(name) for name in ("CP_1_1", "CP_4_1", "CP_9_1", "CP_16_1"))
MAX_TILES = TILE_MODES[-1].pane_count


def tile_mode(count: int) -> LayoutMode:
    """The smallest equal grid with a pane for each of `count` sites (ValueError over 16)."""
    for mode in TILE_MODES:
        if count <= mode.pane_count:
            return mode
    raise ValueError(f"a tile picture holds at most {MAX_TILES} sites, not {count}")


def is_tile_mode(value: int) -> bool:
    return any(mode.value == value for mode in TILE_MODES)


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    plane: Any = frame.planes[index]  # a buffer (PyAV's stubs do not say so)
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def cut_tiles(frame: av.VideoFrame, mode: LayoutMode, sites: Sequence[str]) -> dict[str, Any]:
    """Each site's pane of the tile picture as a picture of its own (yuv420p), by the
    site's place in `sites`; a picture too small for the grid gives nothing."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    try:
        rects = pixel_rects(mode, frame.width, frame.height)
    except ValueError:
        return {}
    y, u, v = (_plane(frame, index) for index in range(3))
    cut: dict[str, Any] = {}
    for uri, rect in zip(sites, rects, strict=False):
        height = rect.h - rect.h % 4  # yuv420p from one array: chroma rows of a whole width
        if height < 4:
            continue
        top, left, width = rect.y, rect.x, rect.w
        luma = y[top:top + height, left:left + width]
        cb = u[top // 2:(top + height) // 2, left // 2:(left + width) // 2].reshape(-1, width)
        cr = v[top // 2:(top + height) // 2, left // 2:(left + width) // 2].reshape(-1, width)
        cut[uri] = av.VideoFrame.from_ndarray(np.concatenate((luma, cb, cr)), format="yuv420p")
    return cut


class TileCutter:
    """The latest tile picture's cuts: a picture cut once, however many ticks show it (the
    compositor redraws a pane only for a new picture object)."""

    def __init__(self) -> None:
        self.mode: LayoutMode = TILE_MODES[0]
        self.sites: tuple[str, ...] = ()
        self._frame: Any = None
        self._cut: dict[str, Any] = {}

    def arrange(self, mode: LayoutMode, sites: Sequence[str]) -> None:
        """The leaf's tiles message: which site is in which pane from now on."""
        if (mode, tuple(sites)) != (self.mode, self.sites):
            self.mode, self.sites = mode, tuple(sites)
            self._frame, self._cut = None, {}

    def pictures(self, frame: Any) -> dict[str, Any]:
        if frame is None:
            return {}
        if frame is not self._frame:
            self._frame, self._cut = frame, cut_tiles(frame, self.mode, self.sites)
        return self._cut
