"""What each site is asked to send: the size and rate of the largest pane it is shown in.

Send only what is seen. For each joined site the conference finds the largest picture area
it fills across every picture it composes now (every encoder group's picture: the CP
pictures, full screens, the screens of multi-screen sites, the CONTENT_MAIN picture's
speaker pane, the recorder's, the live broadcast's and the console viewers' pictures, all of
which are encoder groups), rounds it up to a rung of the ladder and asks the site for it
over signalling (`send_video`, docs/signalling.md "Send ladder").

The rule (the product's; the standard is silent):

- the need of one pane is the part of it a 16:9 camera fills: the compositor letterboxes
  (mcu/media/compositor.py, FitMode.LETTERBOX), so a 960x540 pane needs 960x540 and a 4:3
  640x480 pane 640x360;
- the rung is the smallest of LADDER (1080p, 720p, 540p, 360p, 270p, 180p) at least as
  wide and as high as the largest need; a need above 1080p asks for 1080p;
- the rate is 30 fps for a rung above 270p and 15 fps at or below it (a pane a quarter of
  the height or less: small, where motion is not what one watches), never above the frame
  rate of the fastest picture the site is shown in;
- never above what the site may send: the largest rung within its booked videoFormat
  (SiteSpec.video_format, unless AUTO) and within the largest videoFormat it declared at
  registration (capabilities.video_formats), rate capped by theirs;
- a site shown in no picture now (a CP with fewer panes than sites, a hidden local video)
  is asked for the bottom rung (180p at 15 fps), so that a switch to it has a picture at
  once; the ask grows at the next settle;
- 180p is the floor: terminals/marker.py reads the site marker at 320x180 (its cell is
  10 px there; tests/test_send_ladder.py checks it).

Hysteresis (SendLadder): an ask that grows (wider or faster) is sent at once; one that
shrinks is sent only after the smaller need has held for DOWNGRADE_HOLD_S, and it is then
the largest need seen over that time, so a voice switch back and forth never shrinks the
speaker's stream in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from mcu.layouts import AUX_SUFFIX, LayoutMode, assign_panes, layout_mode, pixel_rects
from mcu.media.output_format import FORMAT_SIZES, PictureSize
from mcu.model import VideoFormat

LADDER: tuple[tuple[int, int], ...] = (
    (1920, 1080), (1280, 720), (960, 540), (640, 360), (480, 270), (320, 180))
FULL_RATE = 30
SMALL_RATE = 15
SMALL_MAX_HEIGHT = 270  # rungs at or below this height are sent at SMALL_RATE
DOWNGRADE_HOLD_S = 4.0  # a smaller need must hold this long before the site is asked for it
SETTLE_PERIOD_S = 0.25  # how often a conference works out the needs (ConferenceMedia)

# capabilities.video_formats names (as terminals declare them) -> the booked format's size
DECLARED_FORMATS: dict[str, VideoFormat] = {
    "1080P60": VideoFormat.HD1080P60, "1080P30": VideoFormat.HD1080P30,
    "1080I": VideoFormat.I108, "720P60": VideoFormat.HD720P60,
    "720P30": VideoFormat.HD720P30, "480P": VideoFormat.P480, "480I": VideoFormat.I480,
    "4CIF": VideoFormat.CIF4, "2CIF": VideoFormat.CIF2, "CIF": VideoFormat.CIF,
    "QCIF": VideoFormat.QCIF, "SQCIF": VideoFormat.SQCIF, "VGA": VideoFormat.VGA,
    "360P": VideoFormat.P360,
}


@dataclass(frozen=True, slots=True)
class SendAsk:
    """What a site is asked to send: a ladder rung and a frame rate."""

    width: int
    height: int
    fps: int

    def covers(self, other: SendAsk) -> bool:
        return self.width >= other.width and self.height >= other.height and self.fps >= other.fps

    def joined_with(self, other: SendAsk) -> SendAsk:
        """The smallest ask covering both."""
        return SendAsk(max(self.width, other.width), max(self.height, other.height),
                       max(self.fps, other.fps))

    def __str__(self) -> str:
        return f"{self.width}x{self.height}@{self.fps}"


BOTTOM = SendAsk(*LADDER[-1], SMALL_RATE)


@dataclass(frozen=True, slots=True)
class ShownPicture:
    """A picture the conference composes now, as the compositor fills it."""

    mode: int | LayoutMode
    sub_pics: tuple[str, ...]
    broadcast: str | None
    speaking: str | None
    width: int
    height: int
    fps: int


@dataclass(frozen=True, slots=True)
class Need:
    width: int
    height: int
    fps: int


def letterboxed(pane_w: int, pane_h: int) -> tuple[int, int]:
    """The part of a pane a 16:9 picture fills when letterboxed into it."""
    return min(pane_w, pane_h * 16 // 9), min(pane_h, pane_w * 9 // 16)


def largest_panes(pictures: Iterable[ShownPicture], sites_in_join_order: Sequence[str],
                  aux_sources: Iterable[str] = ()) -> dict[str, Need]:
    """Each site's largest need over `pictures`: the largest letterboxed pane it is shown in
    (by area) and the fastest rate of the pictures showing it. The panes are filled as the
    compositor fills them (mcu.layouts.assign_panes: subPics, broadcast, speaker, join
    order); content panes (`uri(%AUX1)`) are not the site's camera and do not count."""
    aux = frozenset(aux_sources)
    needs: dict[str, Need] = {}
    for picture in pictures:
        mode = layout_mode(picture.mode)
        shown = assign_panes(mode, sites_in_join_order, sub_pics=picture.sub_pics or None,
                             broadcast=picture.broadcast, speaking=picture.speaking,
                             aux_sources=aux)
        rects = pixel_rects(mode, picture.width, picture.height)
        for key, rect in zip(shown, rects, strict=True):
            if key is None or key.endswith(AUX_SUFFIX):
                continue
            width, height = letterboxed(rect.w, rect.h)
            before = needs.get(key)
            if before is None or width * height > before.width * before.height:
                fps = picture.fps if before is None else max(before.fps, picture.fps)
                needs[key] = Need(width, height, fps)
            elif picture.fps > before.fps:
                needs[key] = Need(before.width, before.height, picture.fps)
    return needs


def declared_ceiling(names: Iterable[str]) -> PictureSize | None:
    """The largest of the video formats a terminal declared (capabilities.video_formats);
    None when it declared none this table knows."""
    sizes = [FORMAT_SIZES[DECLARED_FORMATS[name.upper()]] for name in names
             if name.upper() in DECLARED_FORMATS]
    if not sizes:
        return None
    return max(sizes, key=lambda size: (size.width * size.height, size.fps))


def booked_ceiling(video_format: VideoFormat | None) -> PictureSize | None:
    """The size of a booked videoFormat; None for none or AUTO (no limit from the booking)."""
    if video_format in (None, VideoFormat.AUTO):
        return None
    return FORMAT_SIZES.get(video_format)


def rung_for(need: Need | None, ceilings: Iterable[PictureSize | None] = ()) -> SendAsk:
    """The ladder rule (module docstring) for one site: its need (None: shown nowhere)
    rounded up to a rung, then capped by every ceiling that is not None."""
    if need is None:
        width, height = LADDER[-1]
        fps = SMALL_RATE
    else:
        fitting = [rung for rung in LADDER if rung[0] >= need.width and rung[1] >= need.height]
        width, height = fitting[-1] if fitting else LADDER[0]
        fps = min(FULL_RATE if height > SMALL_MAX_HEIGHT else SMALL_RATE, max(1, need.fps))
    for ceiling in ceilings:
        if ceiling is None:
            continue
        within = [rung for rung in LADDER
                  if rung[0] <= ceiling.width and rung[1] <= ceiling.height]
        top = within[0] if within else LADDER[-1]
        if top[1] < height:
            width, height = top
        fps = min(fps, ceiling.fps)
    if height <= SMALL_MAX_HEIGHT:
        fps = min(fps, SMALL_RATE)
    return SendAsk(width, height, fps)


@dataclass
class _Asked:
    ask: SendAsk
    owner: object  # the call's media the ask was sent to: a new call is asked afresh
    lower_since: float | None = None
    lower_max: SendAsk | None = None


class SendLadder:
    """The asks sent to a conference's sites, with the hysteresis of the module docstring.
    `settle(wanted, now)` takes every joined site's rung now and returns the asks to send."""

    def __init__(self, hold_s: float = DOWNGRADE_HOLD_S) -> None:
        self.hold_s = hold_s
        self._asked: dict[str, _Asked] = {}

    def asked(self, uri: str) -> SendAsk | None:
        entry = self._asked.get(uri)
        return entry.ask if entry is not None else None

    def settle(self, wanted: Mapping[str, tuple[SendAsk, object]], now: float
               ) -> dict[str, SendAsk]:
        """`wanted`: uri -> (its rung now, the call it is for). Returns the asks to send
        now: a site's first (call up), a larger one at once, a smaller one once it held."""
        for uri in [uri for uri in self._asked if uri not in wanted]:
            del self._asked[uri]  # left the conference: a new call is asked afresh
        changes: dict[str, SendAsk] = {}
        for uri, (want, owner) in wanted.items():
            entry = self._asked.get(uri)
            if entry is None or entry.owner is not owner:
                self._asked[uri] = _Asked(want, owner)
                changes[uri] = want
            elif not entry.ask.covers(want):  # more is needed: at once
                entry.ask = entry.ask.joined_with(want)
                entry.lower_since = entry.lower_max = None
                changes[uri] = entry.ask
            elif want == entry.ask:
                entry.lower_since = entry.lower_max = None
            else:  # less is needed: only once it held
                if entry.lower_since is None or entry.lower_max is None:
                    entry.lower_since, entry.lower_max = now, want
                else:
                    entry.lower_max = entry.lower_max.joined_with(want)
                if now - entry.lower_since >= self.hold_s:
                    entry.ask = entry.lower_max
                    changes[uri] = entry.ask
                    # what is needed now may be smaller still: that holds from now on
                    entry.lower_since, entry.lower_max = (
                        (now, want) if want != entry.ask else (None, None))
        return changes


AskSender = Callable[[SendAsk], None]
