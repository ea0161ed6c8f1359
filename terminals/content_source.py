"""A terminal's content input: its shared document pages as a second video track.

`ContentSource` owns one terminal's pages (terminals/documents.py), the content format the
conference's `presentation` calls for, and their pre-encoded loops; `ContentTrack` hands
aiortc those packets, like the camera's EncodedVideoTrack, as a second video track of the
same peer connection, and only while the terminal holds the floor.

Rates (`content_format`), at most the frame rate the MCU signals for the conference (the
call's content parameters, `set_presentation`; docs/signalling.md "Content parameters"):
- presentation 0, slides: 5 fps, the page still (only the marker's frame index changes),
  2 Mbit/s by default, i.e. ~400 kbit per frame: sharp text.
- presentation 1, motion: 30 fps, 60 where the H.264 level the content may use
  (`max_level_idc`, 4.1 by default: 1080p30) allows the size at 60 fps (720p60 needs 3.2),
  4 Mbit/s by default; a presenter's pointer moves over the page.

Each page is one loop (slides: 10 frames = 2 s; motion: one second of frames), encoded once
per (site, page, codec, format, presentation) for the whole process (an LRU cache), starting
with a keyframe; the loop repeats while the page is shown, and every `page_seconds` (5 s)
the track moves to the next page's loop at its first frame, a keyframe. A PLI/FIR makes the
track jump to the next keyframe of the current page's loop.

What is shared: the document pages, until the MCU chooses a PC or document-camera input as
the terminal's aux source (setMainAuxStreamSourcesEx -> `sources`); then that input's
picture (terminals/aux_input_page.py, one "page": `ContentSource.show_input`), handed to
the track as new loops (`use_loops(loops, pages)`, from a keyframe).

Sending: `start_sending()` / `stop_sending()` (`stop()` ends the track, as for any
track). While not sending, `recv()` waits and aiortc sends nothing; a start resumes at
the current page's first frame (a keyframe), with RTP timestamps that kept running with the
wall clock. Every frame sent is written to the content send log
(`PROCESS_CONTENT_SEND_LOG`, separate from the camera's) under the key
`content_frame_key(kind, page, frame_index)`, so camera and content latencies stay apart.
"""

from __future__ import annotations

import asyncio
import enum
import fractions
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtc.h264_levels import LEVELS_BY_IDC, NoLevel, level_for
from terminals.aux_input_page import InputPage, render_input_page
from terminals.documents import DocumentKind, PageId, check_size, render_page
from terminals.marker import CONTENT_PAGES_PER_KIND, MAX_CONTENT_FRAMES
from terminals.media_sources import (
    SUPPORTED_VIDEO_CODECS,
    TERMINAL_H264_PROFILE,
    EncodedLoop,
    VideoFormat,
    encode_loop,
)
from terminals.send_log import SendLog

VIDEO_CLOCK_RATE = 90000
RTP_VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
SLIDES_FPS = 5
SLIDES_LOOP_FRAMES = 10
SLIDES_BITRATE = 2_000_000
MOTION_FPS = 30
MOTION_HIGH_FPS = 60
MOTION_BITRATE = 4_000_000
MOTION_KEYFRAME_INTERVAL = 30
DEFAULT_MAX_LEVEL_IDC = 41
DEFAULT_PAGE_SECONDS = 5.0
DEFAULT_PAGES = (PageId(DocumentKind.RADIOGRAPH, 0), PageId(DocumentKind.RECORD, 0))

ContentPage = PageId | InputPage  # a document page, or an aux input's picture

# Content frames sent by every terminal of this process (camera frames: PROCESS_SEND_LOG).
PROCESS_CONTENT_SEND_LOG = SendLog()


class Presentation(enum.IntEnum):
    """The conference's `presentation` (ConferenceInfoEx): how content is sent."""

    SLIDES = 0
    MOTION = 1


def content_frame_key(kind: int, page: int, frame_index: int) -> int:
    """The frame key of a content frame in a SendLog: unique per (kind, page, frame)."""
    return (int(kind) * CONTENT_PAGES_PER_KIND + page) * MAX_CONTENT_FRAMES + frame_index


def content_format(presentation: Presentation, width: int = 1920, height: int = 1080,
                   bitrate: int | None = None,
                   max_level_idc: int = DEFAULT_MAX_LEVEL_IDC,
                   max_fps: int | None = None) -> VideoFormat:
    """The size, frame rate and bit rate of content sent in this presentation mode, at most
    `max_fps` frames a second (the rate the conference calls for, signalled by the MCU in
    the call's content parameters; None: no bound)."""
    check_size(width, height)
    presentation = Presentation(presentation)
    if max_level_idc not in LEVELS_BY_IDC:
        raise ValueError(f"no H.264 level with idc {max_level_idc}")
    if max_fps is not None and not 1 <= max_fps <= MOTION_HIGH_FPS:
        raise ValueError(f"max_fps must be 1..{MOTION_HIGH_FPS}, not {max_fps}")
    cap = max_fps if max_fps is not None else MOTION_HIGH_FPS
    if presentation is Presentation.SLIDES:
        return VideoFormat(width, height, min(SLIDES_FPS, cap), bitrate or SLIDES_BITRATE)
    rate = bitrate or MOTION_BITRATE
    fps = MOTION_FPS
    try:
        level = level_for(width, height, MOTION_HIGH_FPS, rate, TERMINAL_H264_PROFILE)
        if level.idc <= max_level_idc:
            fps = MOTION_HIGH_FPS
    except NoLevel:
        pass
    return VideoFormat(width, height, min(fps, cap), rate)


def loop_frames_for(presentation: Presentation, fps: int) -> int:
    return SLIDES_LOOP_FRAMES if Presentation(presentation) is Presentation.SLIDES else fps


@dataclass(frozen=True)
class PageScene:
    """One page's loop as encode_loop draws it."""

    site_index: int
    page: ContentPage
    width: int
    height: int
    loop_frames: int
    motion: bool

    def frame(self, frame_index: int) -> np.ndarray:
        if isinstance(self.page, InputPage):
            return render_input_page(self.page, self.site_index, self.width, self.height,
                                     frame_index)
        phase = frame_index / self.loop_frames if self.motion else None
        return render_page(self.page.kind, self.site_index, self.page.page, self.width,
                           self.height, frame_index, phase)


# Slides: a still page deserves every bit on its first frame; the others only carry the
# marker's change. x264's default ultrafast settings already do that at this rate.
_SLIDES_OPTIONS: dict[str, dict[str, str]] = {"H264": {}, "VP8": {"cpu-used": "4"}}


@lru_cache(maxsize=64)
def encode_page_loop(site_index: int, page: ContentPage, codec: str, video_format: VideoFormat,
                     presentation: Presentation) -> EncodedLoop:
    """The page's loop, encoded once per process for these arguments."""
    motion = Presentation(presentation) is Presentation.MOTION
    frames = loop_frames_for(presentation, video_format.fps)
    scene = PageScene(site_index, page, video_format.width, video_format.height, frames, motion)
    interval = MOTION_KEYFRAME_INTERVAL if motion else frames
    options = {} if motion else _SLIDES_OPTIONS.get(codec, {})
    return encode_loop(scene, codec, video_format, interval, options)


class ContentSource:
    """One terminal's content input: its pages, the format, and their encoded loops."""

    def __init__(self, site_index: int, pages: Sequence[PageId] = DEFAULT_PAGES,
                 width: int = 1920, height: int = 1080,
                 presentation: Presentation = Presentation.SLIDES,
                 page_seconds: float = DEFAULT_PAGE_SECONDS, bitrate: int | None = None,
                 max_level_idc: int = DEFAULT_MAX_LEVEL_IDC) -> None:
        if not pages:
            raise ValueError("a content source needs at least one page")
        if page_seconds <= 0:
            raise ValueError("page_seconds must be positive")
        self.site_index = site_index
        self.document_pages = tuple(pages)
        # what is shared now: the document pages, or the chosen aux input's picture
        self.pages: tuple[ContentPage, ...] = self.document_pages
        self.width, self.height = width, height
        self.page_seconds = page_seconds
        self.bitrate = bitrate
        self.max_level_idc = max_level_idc
        self.presentation = Presentation(presentation)
        self.max_fps: int | None = None
        self.video_format = content_format(self.presentation, width, height, bitrate,
                                           max_level_idc)

    def set_presentation(self, presentation: Presentation, max_fps: int | None = None) -> None:
        """Send as the conference calls for: its presentation mode, at most max_fps frames a
        second (None: the mode's own rate). The loops of the new format are encoded on the
        next encode()/prepare()."""
        format_ = content_format(presentation, self.width, self.height, self.bitrate,
                                 self.max_level_idc, max_fps)
        self.presentation = Presentation(presentation)
        self.max_fps = max_fps
        self.video_format = format_

    def show_input(self, page: InputPage | None) -> None:
        """Share this aux input's picture from the next prepared loops on (None: the
        document pages again)."""
        self.pages = self.document_pages if page is None else (page,)

    @property
    def loop_frames(self) -> int:
        return loop_frames_for(self.presentation, self.video_format.fps)

    @property
    def loop_seconds(self) -> float:
        return self.loop_frames / self.video_format.fps

    def encode(self, codec: str) -> tuple[EncodedLoop, ...]:
        """Every page's loop in this codec and the current format (cached process-wide)."""
        if codec not in SUPPORTED_VIDEO_CODECS:
            raise ValueError(f"no encoder for {codec}")
        return tuple(encode_page_loop(self.site_index, page, codec, self.video_format,
                                      self.presentation) for page in self.pages)

    async def prepare(self, codec: str) -> tuple[EncodedLoop, ...]:
        """encode() in a worker thread, so the event loop goes on meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(None, self.encode, codec)

    async def prepare_pages(self, codec: str
                            ) -> tuple[tuple[EncodedLoop, ...], tuple[ContentPage, ...]]:
        """The loops of the pages shared now (prepare()) and those pages, as
        ContentTrack.use_loops takes them."""
        pages, video_format, presentation = self.pages, self.video_format, self.presentation
        if codec not in SUPPORTED_VIDEO_CODECS:
            raise ValueError(f"no encoder for {codec}")
        loops = await asyncio.get_running_loop().run_in_executor(
            None, lambda: tuple(encode_page_loop(self.site_index, page, codec, video_format,
                                                 presentation) for page in pages))
        return loops, pages


class ContentTrack(MediaStreamTrack):
    """The content as aiortc's second video track: packets of the pages' loops, only while
    started (holding the floor)."""

    kind = "video"

    def __init__(self, source: ContentSource, loops: Sequence[EncodedLoop] | None = None,
                 send_log: SendLog = PROCESS_CONTENT_SEND_LOG, uri: str = "") -> None:
        super().__init__()
        self.source = source
        self.send_log = send_log
        self.uri = uri
        self._loops: tuple[EncodedLoop, ...] = ()
        self._pages: tuple[ContentPage, ...] = source.pages  # what the loops show
        self._loops_ready = asyncio.Event()
        self._sending = asyncio.Event()
        self._page_slot = 0  # index into _pages
        self._frame_index = 0
        self._page_frames = 0  # frames sent of the current page
        self._run_start: float | None = None  # wall time of this run's first frame
        self._run_frames = 0
        self._origin: float | None = None  # wall time of the first frame ever sent
        self._keyframe_wanted = False
        self.frames_sent = 0
        self.keyframe_requests = 0
        if loops is not None:
            self.use_loops(loops)

    @property
    def sending(self) -> bool:
        return self._sending.is_set() and self.readyState == "live"

    @property
    def current_page(self) -> ContentPage:
        return self._pages[self._page_slot]

    def use_loops(self, loops: Sequence[EncodedLoop],
                  pages: Sequence[ContentPage] | None = None) -> None:
        """Send these loops (one per page: `pages`, None: the source's pages now; the
        negotiated codec's), from the first page's first frame, a keyframe: a change of
        what is shared (ContentSource.show_input) takes effect at the next frame."""
        shown = tuple(self.source.pages if pages is None else pages)
        if len(loops) != len(shown):
            raise ValueError(f"{len(loops)} loops for {len(shown)} pages")
        self._loops = tuple(loops)
        self._pages = shown
        self._page_slot = 0
        self._frame_index = 0
        self._page_frames = 0
        self._run_start = None
        self.send_log.register_site(self.source.site_index, self.uri, self.source.loop_seconds)
        self._loops_ready.set()

    def start_sending(self) -> None:
        """Send from now on (the floor was granted), from the current page's first frame."""
        if not self._sending.is_set():
            self._frame_index = 0
            self._page_frames = 0
            self._run_start = None
            self._sending.set()

    def stop_sending(self) -> None:
        """Send nothing from the next frame on (the floor was released or revoked)."""
        self._sending.clear()

    def stop(self) -> None:
        """End the track (MediaStreamTrack's meaning: aiortc calls it when the sender stops);
        a recv() waiting for loops or for the floor ends with MediaStreamError."""
        super().stop()
        self._loops_ready.set()
        self._sending.set()

    def request_keyframe(self) -> None:
        """Called on PLI/FIR: the next frame sent is a keyframe of the current page."""
        self.keyframe_requests += 1
        self._keyframe_wanted = True

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        await self._loops_ready.wait()
        await self._sending.wait()
        if self.readyState != "live":
            raise MediaStreamError
        loop = self._loops[self._page_slot]
        fps = loop.video_format.fps
        now = time.time()
        if self._run_start is None:
            self._run_start, self._run_frames = now, 0
        due = self._run_start + self._run_frames / fps
        if due > now:
            await asyncio.sleep(due - now)
            if not self._sending.is_set() or self.readyState != "live":
                return await self.recv()  # stopped while waiting: this frame is not sent
        elif now - due > 2 / fps:
            self._run_start = now - self._run_frames / fps
            due = now
        if self._page_frames >= round(self.source.page_seconds * fps):
            self._page_slot = (self._page_slot + 1) % len(self._loops)
            self._frame_index = self._page_frames = 0
            loop = self._loops[self._page_slot]
        if self._keyframe_wanted:
            self._keyframe_wanted = False
            self._frame_index = loop.next_keyframe(self._frame_index)
        if self._origin is None:
            self._origin = due
        index = self._frame_index
        packet = av.Packet(loop.packets[index])
        packet.pts = round((due - self._origin) * VIDEO_CLOCK_RATE)
        packet.time_base = RTP_VIDEO_TIME_BASE
        page = self.current_page
        self.send_log.record_send(self.source.site_index,
                                  content_frame_key(page.kind, page.page, index))
        self.frames_sent += 1
        self._run_frames += 1
        self._page_frames += 1
        self._frame_index = (index + 1) % loop.frames
        return packet
