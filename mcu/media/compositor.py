"""The continuous-presence compositor: the latest frame of each source -> one I420 picture.

A conference owns one Compositor per picture and output size and calls `compose(sources)`
once per tick; between ticks it may change the layout, subPics, broadcast
and speaking site, and site names. Every change takes effect on the next
composed frame.

Why it is fast:
- The output is one VideoFrame allocated once. Tiles are scaled straight
  from the decoded source frame into the output planes (libyuv I420Scale);
  no full-frame buffer is allocated per frame.
- A pane is redrawn only when what it shows changed: a new source frame
  object, another source, another pane rectangle, or another decoration.
  A source frame is recognised by identity (the compositor holds a
  reference to it, so the identity cannot be reused): a source delivers a
  new picture as a new frame object, as decoders do.
- A source already at its pane's size (a site sending what its pane shows, as the send
  ladder asks) is copied plane by plane (scaler.copy_i420), without the scaler.
- Letterbox bars, the background and "no video" placeholders are painted
  once when they appear, not per frame; placeholders and labels are cached
  per size.
- Panes drawn over other panes (picture-in-picture) are scaled into a small
  private tile and re-blitted when the pane under them was redrawn, so they
  are not re-scaled for that.
The compositor only reads the layout table: no mode is special-cased.

Colour: the output picture follows the convention of rtc/colour.py (BT.601 matrix, TV range,
at every size; tagged on the output frame): the fills below are its code values, and the
scalers (libyuv, OpenCV) move code values without changing matrix or range. A source frame
that states another matrix or range (a browser's BT.709 camera, a full-range picture) is
converted once per new frame, by each compositor showing it, before it is scaled; a source that matches or states nothing
is scaled as it is, with no conversion.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np

from mcu.layouts import (
    AUX_SUFFIX,
    LayoutMode,
    PixelRect,
    assign_panes,
    layout_mode,
    pixel_rects,
)
from mcu.media.scaler import I420Region, Scaler, best_scaler, copy_i420
from rtc.colour import CONVENTION, to_convention

YUV = tuple[int, int, int]

# Code values in the colour convention (BT.601, TV range; rtc/colour.py), which is what the
# encoders state.
BLACK: YUV = (16, 128, 128)
PLACEHOLDER_GREY: YUV = (48, 128, 128)
BORDER_GREY: YUV = (128, 128, 128)
SPEAKING_YELLOW: YUV = (210, 16, 146)
LABEL_BOX: YUV = (32, 128, 128)
LABEL_TEXT_Y = 235

# Pixel formats laid out as I420 (yuvj420p, full range, is converted by to_convention first).
_I420_FORMATS = frozenset({"yuv420p", "yuvj420p"})


class FitMode(enum.Enum):
    LETTERBOX = "letterbox"  # whole picture, black bars
    CROP = "crop"  # fill the pane, cut the overflow


@dataclass(frozen=True)
class CompositorStyle:
    fit: FitMode = FitMode.LETTERBOX
    border_px: int = 0  # 0 = no border; drawn inside each pane's edge
    show_labels: bool = False
    highlight_speaking: bool = True
    highlight_px: int = 6
    background: YUV = BLACK
    border_colour: YUV = BORDER_GREY
    highlight_colour: YUV = SPEAKING_YELLOW
    placeholder_text: str = "No video"


@dataclass(frozen=True, slots=True)
class FitGeometry:
    """Which part of the source goes where in the pane (pane-relative, all even)."""

    src: tuple[int, int, int, int]
    dst: tuple[int, int, int, int]


def _even(value: float) -> int:
    return 2 * int(value / 2 + 0.5)


def fit_geometry(src_w: int, src_h: int, pane_w: int, pane_h: int, fit: FitMode) -> FitGeometry:
    """Aspect-preserving placement of a src_w x src_h picture in a pane."""
    source_is_wider = src_w * pane_h > pane_w * src_h
    if fit is FitMode.LETTERBOX:
        if source_is_wider:
            w, h = pane_w, min(pane_h, max(2, _even(pane_w * src_h / src_w)))
        else:
            w, h = min(pane_w, max(2, _even(pane_h * src_w / src_h))), pane_h
        x, y = (pane_w - w) // 2 & ~1, (pane_h - h) // 2 & ~1
        return FitGeometry((0, 0, src_w, src_h), (x, y, w, h))
    if source_is_wider:
        cw, ch = min(src_w, max(2, _even(src_h * pane_w / pane_h))), src_h
    else:
        cw, ch = src_w, min(src_h, max(2, _even(src_w * pane_h / pane_w)))
    cx, cy = (src_w - cw) // 2 & ~1, (src_h - ch) // 2 & ~1
    return FitGeometry((cx, cy, cw, ch), (0, 0, pane_w, pane_h))


class _Canvas:
    """An I420 picture both as pointers (for the scaler) and numpy views (for fills)."""

    def __init__(self, region: I420Region) -> None:
        self.region = region
        self.planes = region.planes()

    @classmethod
    def allocate(cls, width: int, height: int) -> _Canvas:
        y = np.empty((height, width), np.uint8)
        u = np.empty((height // 2, width // 2), np.uint8)
        v = np.empty((height // 2, width // 2), np.uint8)
        return cls(I420Region.of_planes(y, u, v))

    def window(self, rect: PixelRect) -> _Canvas:
        window = _Canvas.__new__(_Canvas)
        window.region = self.region.window(rect.x, rect.y, rect.w, rect.h)
        y, u, v = self.planes
        cx, cy, cw, ch = rect.x // 2, rect.y // 2, rect.w // 2, rect.h // 2
        window.planes = (
            y[rect.y : rect.bottom, rect.x : rect.right],
            u[cy : cy + ch, cx : cx + cw],
            v[cy : cy + ch, cx : cx + cw],
        )
        return window

    def fill(self, colour: YUV, rect: tuple[int, int, int, int] | None = None) -> None:
        x, y, w, h = rect if rect is not None else (0, 0, self.region.width, self.region.height)
        for plane, value, shift in zip(self.planes, colour, (0, 1, 1), strict=True):
            plane[y >> shift : (y + h) >> shift, x >> shift : (x + w) >> shift] = value

    def copy_from(self, other: _Canvas) -> None:
        for dst, src in zip(self.planes, other.planes, strict=True):
            np.copyto(dst, src)


class _TileCache:
    """Placeholder tiles and label bitmaps, rendered once per size and text."""

    def __init__(self) -> None:
        self._placeholders: dict[tuple[int, int, YUV, str], _Canvas] = {}
        self._labels: dict[tuple[str, int], _Canvas] = {}

    def placeholder(self, width: int, height: int, style: CompositorStyle) -> _Canvas:
        key = (width, height, style.background, style.placeholder_text)
        tile = self._placeholders.get(key)
        if tile is None:
            tile = _Canvas.allocate(width, height)
            tile.fill(PLACEHOLDER_GREY)
            _put_centred_text(tile.planes[0], style.placeholder_text, 200)
            self._placeholders[key] = tile
        return tile

    def label(self, text: str, pane_height: int) -> _Canvas:
        text_height = max(8, min(32, pane_height // 12)) & ~1
        key = (text, text_height)
        tile = self._labels.get(key)
        if tile is None:
            scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, text_height, 1)
            (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            pad = text_height // 2
            tile = _Canvas.allocate((tw + 2 * pad + 1) & ~1, (text_height + 2 * pad + 1) & ~1)
            tile.fill(LABEL_BOX)
            cv2.putText(tile.planes[0], text, (pad, pad + text_height), cv2.FONT_HERSHEY_SIMPLEX,
                        scale, LABEL_TEXT_Y, 1, cv2.LINE_AA)
            self._labels[key] = tile
        return tile


def _put_centred_text(plane: np.ndarray, text: str, luma: int) -> None:
    height, width = plane.shape
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.3, min(2.0, width / 400))
    thickness = max(1, int(scale * 2))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = ((width - tw) // 2, (height + th) // 2)
    cv2.putText(plane, text, origin, font, scale, luma, thickness, cv2.LINE_AA)


@dataclass(frozen=True, slots=True)
class _Decoration:
    label: str | None
    highlighted: bool


@dataclass
class _Pane:
    """What a pane shows and what was last drawn in it."""

    rect: PixelRect
    target: _Canvas  # where the pane is drawn: the output window, or a private tile
    output_window: _Canvas
    overlay: bool  # drawn over an earlier pane: keep a private tile and re-blit it
    under: tuple[int, ...]  # earlier panes this one covers
    drawn_key: str | None = None
    drawn_frame: Any = None
    drawn_decoration: _Decoration | None = None
    drawn_dst: tuple[int, int, int, int] | None = None
    ever_drawn: bool = False


class Compositor:
    """Composes one conference picture per call of `compose`.

    sources: source key -> latest decoded frame (PyAV VideoFrame, any size,
    yuv420p; None = joined but no picture yet), in join order. Keys are
    site URIs; a site's content stream is keyed `aux_source_key(uri)`.
    The returned VideoFrame is the compositor's own output frame, reused by
    the next call: encode it (or copy it) before composing again.
    """

    def __init__(
        self,
        width: int,
        height: int,
        layout: int | str | LayoutMode = "CP_4_1",
        *,
        style: CompositorStyle | None = None,
        scaler: Scaler | None = None,
    ) -> None:
        pixel_rects(layout_mode(layout), width, height)  # refuse odd or tiny sizes now
        self.width, self.height = width, height
        self.output = av.VideoFrame(width, height, "yuv420p")
        CONVENTION.tag(self.output)
        self._canvas = _Canvas(I420Region.of_frame(self.output))
        self._scaler = scaler if scaler is not None else best_scaler()
        self._tiles = _TileCache()
        self._fits: dict[tuple[int, int, int, int, FitMode], FitGeometry] = {}
        self.style = style if style is not None else CompositorStyle()
        self.layout = layout_mode(layout)
        self.sub_pics: tuple[str, ...] | None = None
        self.broadcast: str | None = None
        self.speaking: str | None = None
        self.site_names: dict[str, str] = {}
        self._panes: list[_Pane] = []
        self._panes_for: tuple[LayoutMode, CompositorStyle] | None = None
        self._assignment_key: tuple[Any, ...] | None = None
        self.pane_sources: tuple[str | None, ...] = ()

    # -- settings, applied by the next compose ---------------------------------

    @property
    def scaler_name(self) -> str:
        return self._scaler.name

    def set_layout(self, layout: int | str | LayoutMode) -> None:
        mode = layout_mode(layout)
        pixel_rects(mode, self.width, self.height)
        self.layout = mode

    def set_sub_pics(self, sub_pics: Sequence[str] | None) -> None:
        """setContinuousPresenceEx.subPics; None or empty = automatic assignment."""
        self.sub_pics = tuple(sub_pics) if sub_pics else None

    def set_broadcast(self, site_uri: str | None) -> None:
        self.broadcast = site_uri

    def set_speaking(self, site_uri: str | None) -> None:
        self.speaking = site_uri

    def set_site_names(self, names: Mapping[str, str]) -> None:
        self.site_names = dict(names)

    # -- the tick -----------------------------------------------------------------

    def compose(self, sources: Mapping[str, Any]) -> av.VideoFrame:
        """Draw the current layout from the latest frame of each source; returns `output`."""
        if self._panes_for != (self.layout, self.style):
            self._start_layout()
        pane_sources = self._assign(sources)
        redrawn: list[bool] = []
        for pane, key in zip(self._panes, pane_sources, strict=True):
            frame = sources.get(key) if key is not None else None
            changed = self._draw_pane(pane, key, frame)
            if pane.overlay and (changed or any(redrawn[i] for i in pane.under)):
                pane.output_window.copy_from(pane.target)
                changed = True
            redrawn.append(changed)
        return self.output

    def _start_layout(self) -> None:
        """A new layout or style: repaint the background, forget what every pane showed."""
        mode, style = self.layout, self.style
        rects = pixel_rects(mode, self.width, self.height)
        self._canvas.fill(style.background)
        overlays = mode.overlay_panes
        panes = []
        for index, rect in enumerate(rects):
            output_window = self._canvas.window(rect)
            overlay = index in overlays
            under = tuple(
                i for i in range(index) if mode.panes[i].overlaps(mode.panes[index])
            )
            target = _Canvas.allocate(rect.w, rect.h) if overlay else output_window
            panes.append(_Pane(rect, target, output_window, overlay, under))
        self._panes = panes
        self._panes_for = (mode, style)
        self._assignment_key = None

    def _assign(self, sources: Mapping[str, Any]) -> tuple[str | None, ...]:
        keys = tuple(sources)
        assignment_key = (self.layout, self.sub_pics, self.broadcast, self.speaking, keys)
        if assignment_key != self._assignment_key:
            sites = [k for k in keys if not k.endswith(AUX_SUFFIX)]
            aux_sites = {k[: -len(AUX_SUFFIX)] for k in keys if k.endswith(AUX_SUFFIX)}
            self.pane_sources = assign_panes(
                self.layout, sites, sub_pics=self.sub_pics, broadcast=self.broadcast,
                speaking=self.speaking, aux_sources=aux_sites,
            )
            self._assignment_key = assignment_key
        return self.pane_sources

    def _decoration(self, key: str | None) -> _Decoration:
        style = self.style
        label = None
        if style.show_labels and key is not None:
            if key.endswith(AUX_SUFFIX):
                site = key[: -len(AUX_SUFFIX)]
                label = f"{self.site_names.get(site, site)} (content)"
            else:
                label = self.site_names.get(key, key)
        # One full-screen picture needs no marker for who is speaking.
        highlighted = (
            style.highlight_speaking
            and self.layout.pane_count > 1
            and key is not None
            and key == self.speaking
        )
        return _Decoration(label, highlighted)

    def _draw_pane(self, pane: _Pane, key: str | None, frame: Any) -> bool:
        """Bring the pane's target up to date; True if anything was drawn."""
        decoration = self._decoration(key)
        if (
            pane.ever_drawn
            and frame is pane.drawn_frame
            and key == pane.drawn_key
            and decoration == pane.drawn_decoration
        ):
            return False
        style, target, rect = self.style, pane.target, pane.rect
        if frame is None:
            target.copy_from(self._tiles.placeholder(rect.w, rect.h, style))
            pane.drawn_dst = None
        else:
            picture = to_convention(frame)  # the frame itself unless it states another colour
            if picture.format.name not in _I420_FORMATS:
                picture = picture.reformat(format="yuv420p")
            source = I420Region.of_frame(picture)
            fit_key = (source.width, source.height, rect.w, rect.h, style.fit)
            geometry = self._fits.get(fit_key)
            if geometry is None:
                geometry = self._fits[fit_key] = fit_geometry(*fit_key)
            if geometry.dst != pane.drawn_dst or decoration != pane.drawn_decoration:
                # New bars (or old decorations to wipe): repaint the pane once.
                target.fill(style.background)
            src, dst = source.window(*geometry.src), target.region.window(*geometry.dst)
            if (src.width, src.height) == (dst.width, dst.height):
                copy_i420(src, dst)  # a source at its pane's size: a plane copy, no scaler
            else:
                self._scaler.scale(src, dst)
            pane.drawn_dst = geometry.dst
        self._decorate(target, decoration)
        pane.drawn_key, pane.drawn_frame, pane.drawn_decoration = key, frame, decoration
        pane.ever_drawn = True
        return True

    def _decorate(self, target: _Canvas, decoration: _Decoration) -> None:
        style = self.style
        if style.border_px:
            _frame_edges(target, style.border_px, style.border_colour)
        if decoration.highlighted:
            _frame_edges(target, style.highlight_px, style.highlight_colour)
        if decoration.label:
            label = self._tiles.label(decoration.label, target.region.height)
            width = min(label.region.width, target.region.width)
            height = min(label.region.height, target.region.height)
            inset = max(style.border_px, style.highlight_px if decoration.highlighted else 0)
            x = min(inset + 4, target.region.width - width) & ~1
            y = max(0, target.region.height - height - inset - 4) & ~1
            for dst, src, shift in zip(target.planes, label.planes, (0, 1, 1), strict=True):
                np.copyto(
                    dst[y >> shift : (y + height) >> shift, x >> shift : (x + width) >> shift],
                    src[: height >> shift, : width >> shift],
                )


def _frame_edges(target: _Canvas, thickness: int, colour: YUV) -> None:
    width, height = target.region.width, target.region.height
    t = min(max(2, thickness & ~1), width // 2, height // 2)
    for rect in ((0, 0, width, t), (0, height - t, width, t), (0, 0, t, height),
                 (width - t, 0, t, height)):
        target.fill(colour, rect)
