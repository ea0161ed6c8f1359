"""The synthetic camera: one loop of frames showing who this site is and which frame it is.

Each frame holds, from back to front:
- the room the camera looks at, at the camera's view (terminals/camera.py: a window onto a
  large synthetic room with scene markers, moved by pan/tilt/zoom/focus);
- moving content so the encoder has real work even while the camera is still: a ball
  travelling round an ellipse (periodic in the loop length, so the loop is seamless);
- the site's colour: a band across the top and a ring round the marker card (the ring stays
  visible in any crop, the band is what a person notices first);
- the site name, in the band and under the card;
- the marker card (terminals/marker.py) with the site and frame index.

While the camera is still, the loop's frames are drawn at its view and encoded once; while
it moves, frames are drawn one by one at the moving view (`render`) and encoded live.
"""

from __future__ import annotations

import colorsys
import functools
import math
from collections.abc import Iterator

import cv2
import numpy as np

from terminals.camera import HOME, CameraView, RoomScene
from terminals.marker import MarkerPainter

_GOLDEN_ANGLE = 0.381966  # successive sites get far-apart hues


def site_colour_bgr(site_index: int) -> tuple[int, int, int]:
    """A saturated colour unique among nearby site indices."""
    hue = (site_index * _GOLDEN_ANGLE) % 1.0
    value = 0.95 if site_index % 2 == 0 else 0.75
    r, g, b = colorsys.hsv_to_rgb(hue, 0.9, value)
    return int(b * 255), int(g * 255), int(r * 255)


@functools.lru_cache(maxsize=8)
def room_for(width: int, height: int) -> RoomScene:
    """The room for cameras of this output size (one per size in a process: it is the same
    seeded room for every terminal)."""
    return RoomScene(width, height)


class CameraScene:
    """Draws frame `i` of the loop of one site at one picture size, the camera at `view`."""

    def __init__(self, site_index: int, site_name: str, width: int, height: int,
                 loop_frames: int, view: CameraView = HOME) -> None:
        if width % 2 or height % 2:
            raise ValueError("I420 pictures need an even width and height")
        self.site_index = site_index
        self.site_name = site_name
        self.width = width
        self.height = height
        self.loop_frames = loop_frames
        self.view = view
        self.colour = site_colour_bgr(site_index)
        self._painter = MarkerPainter(width, height)
        self.room = room_for(width, height)
        self._background = self.room.view(view, width, height)

    def __reduce__(self) -> tuple[type[CameraScene], tuple[object, ...]]:
        """Pickled as what defines it (terminals/loop_encoders.py sends scenes to worker
        processes); the painter and the room are rebuilt there."""
        return (type(self), (self.site_index, self.site_name, self.width, self.height,
                             self.loop_frames, self.view))

    def at(self, view: CameraView) -> CameraScene:
        """The same site's loop with the camera at `view`."""
        return CameraScene(self.site_index, self.site_name, self.width, self.height,
                           self.loop_frames, view)

    def frame(self, frame_index: int) -> np.ndarray:
        """Frame `frame_index` of the loop as a new BGR picture."""
        return self.overlay(self._background.copy(), frame_index)

    def render(self, frame_index: int, view: CameraView) -> np.ndarray:
        """Frame `frame_index` with the camera at `view` (a moving camera's frame)."""
        return self.overlay(self.room.view(view, self.width, self.height), frame_index)

    def overlay(self, bgr: np.ndarray, frame_index: int) -> np.ndarray:
        """Draw the site overlay (band, name, ball, marker card) of frame `frame_index` on
        `bgr` (any input's picture at this size) and return it."""
        w, h = self.width, self.height
        phase = frame_index / self.loop_frames

        angle = 2 * math.pi * phase
        ball = (int(w / 2 + 0.42 * w * math.cos(angle)), int(h / 2 + 0.40 * h * math.sin(angle)))
        cv2.circle(bgr, ball, max(6, h // 14), (240, 240, 240), -1, cv2.LINE_AA)
        cv2.circle(bgr, ball, max(3, h // 28), self.colour, -1, cv2.LINE_AA)

        band = max(8, h // 9)
        bgr[:band] = self.colour
        self._put_text(bgr, self.site_name, (w // 2, band // 2), band * 0.55)

        card = self._painter.geometry
        ring = card.cell
        cv2.rectangle(bgr, (card.x - ring, card.y - ring),
                      (card.x + card.width + ring - 1, card.y + card.height + ring - 1),
                      self.colour, -1)
        self._painter.draw(bgr, self.site_index, frame_index)
        below = card.y + card.height + ring
        self._put_text(bgr, f"{self.site_name}  #{frame_index:03d}",
                       (w // 2, min(h - band // 2, below + band // 2 + 4)), band * 0.45)
        return bgr

    def frames(self) -> Iterator[np.ndarray]:
        for index in range(self.loop_frames):
            yield self.frame(index)

    @staticmethod
    def _put_text(bgr: np.ndarray, text: str, centre: tuple[int, int], height_px: float) -> None:
        font = cv2.FONT_HERSHEY_SIMPLEX
        scale = max(0.3, height_px / 22)
        thickness = max(1, int(scale * 2))
        (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
        origin = (centre[0] - tw // 2, centre[1] + th // 2)
        cv2.putText(bgr, text, origin, font, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
        cv2.putText(bgr, text, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
