"""Statistics of a received content stream (or of content shown in a pane of the main one).

Like terminals/receiver.py for the main picture: which site's content, which page, which
frame index (the content marker of terminals/marker.py), the latency from the content send
log, and a sharpness figure: PSNR and SSIM of the luma of the page's TEXT_REGION
(terminals/documents.py) against the same page re-rendered from (kind, site, page).

The reference: the page is rendered at the sender's size (`source_size`, 1920x1080 unless
told; the received size when None) and scaled with area averaging to the size it is shown
at (the whole received picture, or the page's letterboxed place in a pane), then converted
to luma by the colour convention (rtc/colour.py). Pictures shown in a pane are scaled by the
MCU's scaler and may sit a pixel off the reference: the figure is the best over shifts of
up to one pixel either way. Analysis costs a few ms; it runs on every `analyse_every`-th
frame in a worker thread, one at a time, and on demand.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtc.colour import bgr_picture
from terminals.content_source import PROCESS_CONTENT_SEND_LOG, content_frame_key
from terminals.documents import TEXT_REGION, DocumentKind, pixel_rect, render_page
from terminals.marker import ContentReading, Rect, luma_of, read_content_marker
from terminals.send_log import SendLog

_PEAK = 255.0


@dataclass(frozen=True)
class ContentStatus:
    site_index: int | None  # None: no readable content marker
    site_uri: str | None
    kind: DocumentKind | None
    page: int | None
    frame_index: int | None
    latency_ms_p50: float | None
    psnr_db: float | None  # text region, luma
    ssim: float | None


NO_CONTENT = ContentStatus(None, None, None, None, None, None, None, None)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(_PEAK**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window sigma 1.5, K1 0.01, K2 0.03) of two greys."""
    x, y = a.astype(np.float32), b.astype(np.float32)
    c1, c2 = (0.01 * _PEAK) ** 2, (0.03 * _PEAK) ** 2

    def blur(p: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(p, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(m.mean())


@lru_cache(maxsize=16)
def reference_luma(kind: DocumentKind, site_index: int, page: int,
                   source_size: tuple[int, int], shown_size: tuple[int, int]) -> np.ndarray:
    """The page's luma as a receiver should see it at `shown_size` (read-only)."""
    page_bgr = render_page(kind, site_index, page, *source_size)
    if shown_size != source_size:
        page_bgr = cv2.resize(page_bgr, shown_size, interpolation=cv2.INTER_AREA)
    frame = bgr_picture(np.ascontiguousarray(page_bgr))
    luma = luma_of(frame).copy()
    luma.flags.writeable = False
    return luma


def text_region_quality(shown: np.ndarray, reading: ContentReading,
                        source_size: tuple[int, int] | None, shift: int = 0
                        ) -> tuple[float, float]:
    """(PSNR dB, SSIM) of the text region of `shown` (the page's luma, whole) against the
    re-rendered page; the best over shifts of up to `shift` pixels."""
    height, width = shown.shape
    kind = DocumentKind(reading.kind)
    source = source_size or (width, height)
    reference = reference_luma(kind, reading.site_index, reading.page, source, (width, height))
    x, y, w, h = pixel_rect(TEXT_REGION[kind], width, height)
    # Leave a margin for the shifts.
    x0, y0, x1, y1 = x + shift, y + shift, x + w - shift, y + h - shift
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError("picture too small for a text region")
    target = reference[y0:y1, x0:x1]
    best = (-1.0, -1.0)
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            got = shown[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
            value = psnr(got, target)
            if value > best[0]:
                best = (value, ssim(got, target))
    return best


def letterboxed_rect(pane: tuple[int, int, int, int], aspect: float) -> tuple[int, int, int, int]:
    """Where a picture of `aspect` (w/h) sits letterboxed in a pixel pane (x, y, w, h),
    even-aligned as the MCU's compositor places it."""
    x, y, w, h = pane
    if w / h > aspect:
        fw, fh = min(w, 2 * round(h * aspect / 2)), h
    else:
        fw, fh = w, min(h, 2 * round(w / aspect / 2))
    return x + ((w - fw) // 2 & ~1), y + ((h - fh) // 2 & ~1), fw, fh


@dataclass
class _Analysis:
    reading: ContentReading | None
    quality: tuple[float, float] | None


def convention_luma(picture: Any) -> np.ndarray:
    """The picture's luma as the colour convention codes it (TV range, BT.601): the Y plane
    of a decoded frame, of a grey array as is, of a BGR array after the convention's
    conversion (rtc/colour.py), so that every picture compares with the reference."""
    if isinstance(picture, np.ndarray) and picture.ndim == 3:
        return luma_of(bgr_picture(np.ascontiguousarray(picture)))
    return luma_of(picture)


def analyse_content(picture: Any, rect: Rect | None = None,
                    source_size: tuple[int, int] | None = (1920, 1080)
                    ) -> tuple[ContentReading | None, tuple[float, float] | None]:
    """Read the content marker in `rect` of `picture` (None: the whole picture is the page)
    and measure the text region: (reading, (psnr_db, ssim)) or (None, None).

    In a pane the page is taken to be letterboxed at the source's aspect (the MCU's default
    fit)."""
    reading = read_content_marker(picture, rect)
    if reading is None:
        return None, None
    if reading.is_input_picture:  # an aux input's picture: no page to re-render
        return reading, None
    luma = convention_luma(picture)
    if rect is None:
        return reading, text_region_quality(luma, reading, source_size)
    height, width = luma.shape
    if isinstance(rect, Sequence):
        fx, fy, fw, fh = (float(v) for v in rect)
    else:
        fx, fy, fw, fh = float(rect.x), float(rect.y), float(rect.w), float(rect.h)
    pane = (round(fx * width), round(fy * height), round(fw * width), round(fh * height))
    src_w, src_h = source_size or (1920, 1080)
    x, y, w, h = letterboxed_rect(pane, src_w / src_h)
    shown = luma[y : y + h, x : x + w]
    try:
        return reading, text_region_quality(shown, reading, source_size, shift=1)
    except ValueError:
        return reading, None


class ContentReceiver:
    """Statistics of one received content track (or of a pane of the main picture)."""

    def __init__(self, send_log: SendLog = PROCESS_CONTENT_SEND_LOG, analyse_every: int = 5,
                 source_size: tuple[int, int] | None = (1920, 1080),
                 pane: Rect | None = None) -> None:
        self.send_log = send_log
        self.analyse_every = max(1, analyse_every)
        self.source_size = source_size
        self.pane = pane
        self.frames_decoded = 0
        self.frames_analysed = 0
        self.last_frame: av.VideoFrame | None = None
        self.last_received_at = 0.0
        self._reading: ContentReading | None = None
        self._quality: tuple[float, float] | None = None
        self._latencies: deque[float] = deque(maxlen=30)
        self._latency_site: int | None = None
        self._analysing = False
        self._tasks: set[asyncio.Task] = set()

    async def consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.on_frame(frame, time.time())
        except MediaStreamError:
            pass

    def on_frame(self, frame: av.VideoFrame, received_at: float) -> None:
        self.frames_decoded += 1
        self.last_frame = frame
        self.last_received_at = received_at
        if self.frames_decoded % self.analyse_every == 0 and not self._analysing:
            task = asyncio.get_running_loop().create_task(self.analyse_latest())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def analyse_latest(self) -> ContentStatus:
        frame, received_at = self.last_frame, self.last_received_at
        if frame is None:
            return self.status()
        self._analysing = True
        try:
            reading, quality = await asyncio.get_running_loop().run_in_executor(
                None, analyse_content, frame, self.pane, self.source_size)
        finally:
            self._analysing = False
        self.frames_analysed += 1
        self._reading, self._quality = reading, quality
        site = reading.site_index if reading else None
        if site != self._latency_site:
            self._latency_site = site
            self._latencies.clear()
        if reading is not None:
            key = content_frame_key(reading.kind, reading.page, reading.frame_index)
            latency = self.send_log.latency(reading.site_index, key, received_at)
            if latency is not None:
                self._latencies.append(latency)
        return self.status()

    def recent_latencies(self) -> list[float]:
        """The latencies (s) of the last readings (up to 30) of the content now shown."""
        return list(self._latencies)

    def receiving(self, within_s: float, now: float | None = None) -> bool:
        """Whether a content frame arrived in the last `within_s` seconds."""
        if self.last_frame is None:
            return False
        return (time.time() if now is None else now) - self.last_received_at <= within_s

    def snapshot(self, path: str) -> bool:
        """Write the latest received content frame as an image (False: none yet)."""
        frame = self.last_frame
        if frame is None:
            return False
        return bool(cv2.imwrite(str(path), frame.to_ndarray(format="bgr24")))

    def status(self) -> ContentStatus:
        reading = self._reading
        if reading is None:
            return NO_CONTENT
        latency = statistics.median(self._latencies) * 1000 if self._latencies else None
        psnr_db, ssim_value = self._quality if self._quality else (None, None)
        return ContentStatus(reading.site_index, self.send_log.site_uri(reading.site_index),
                             DocumentKind(reading.kind), reading.page, reading.frame_index,
                             latency, psnr_db, ssim_value)
