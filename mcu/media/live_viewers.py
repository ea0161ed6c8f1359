"""Live viewers: receive-only watchers of a conference (the console's live view).

A viewer is not a site: it is never in the runtime (no call, no SOAP answer names it) and
sends nothing. It joins the conference's media like the recorder does
(mcu/media/recorder.py): each of its video tracks is one more subscriber of an EncoderGroup,
so a viewer watching a picture at a format some site already receives costs no encode.

What it watches (its `Viewpoint`):
- the conference picture (`site` None): the CP picture of CONFERENCE_TARGET at the
  recorder's format (the format a site booked with videoFormat AUTO receives in H.264: the
  group those sites, the recorder and the live broadcast share); it hears the full mix of
  every unmuted site (what the recorder records);
- a site's screens (`site` a URI): one track per screen the site's call feeds, each in the
  group of that screen's picture at the site's own output format (the very group feeding
  the site's screen, when its codec is H.264), and a content track fed while content is
  shared (the CONTENT picture at the same format, as the recorder's second track); it
  hears what that site hears (its N-1 mix). While the site is not joined its tracks get
  nothing (the browser keeps the last picture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcu.live_conference import CONFERENCE_TARGET
from mcu.media.audio_mixer import SiteAudioTrack
from mcu.media.encoder_group import EncoderGroup, GroupKey, SiteVideoTrack
from mcu.media.output_format import H264, OutputFormat
from mcu.media.pictures import PictureKey, PictureKind

MAX_SCREENS = 3  # a multi-screen room has at most three screens (rtc/screen_sdp.py)


@dataclass(frozen=True, slots=True)
class Viewpoint:
    """What a viewer watches: the conference picture (site None) or a site's screens."""

    site: str | None = None

    def __str__(self) -> str:
        return "conference" if self.site is None else f"site {self.site}"


class LiveViewer:
    """One viewer's tracks: `screens` video tracks (the conference picture: one), for a site
    view one more for content, and one audio track. `on_closed` runs once when the
    conference drops it (the conference ended, the site view's site left its booking)."""

    def __init__(self, viewer_id: str, viewpoint: Viewpoint, screens: int) -> None:
        if not 1 <= screens <= MAX_SCREENS:
            raise ValueError(f"a viewer watches 1 to {MAX_SCREENS} screens, not {screens}")
        self.viewer_id = viewer_id
        self.viewpoint = viewpoint
        label = f"viewer:{viewer_id}"
        self.screens = [SiteVideoTrack(label) for _ in range(screens)]
        self.content = SiteVideoTrack(label) if viewpoint.site is not None else None
        self.audio = SiteAudioTrack(label)
        self.on_closed: Callable[[], None] | None = None
        self.closed = False

    @property
    def video_tracks(self) -> list[SiteVideoTrack]:
        return [*self.screens, *([self.content] if self.content is not None else [])]

    def hear(self, samples: np.ndarray) -> None:
        """The next 20 ms of what it hears (aiortc's encoder for the negotiated codec)."""
        if not self.closed:
            self.audio.push(samples)

    def close(self) -> None:
        """Leave every group, end the tracks, tell the owner (once)."""
        if self.closed:
            return
        self.closed = True
        for track in self.video_tracks:
            track.join_group(None)
            track.stop()
        self.audio.stop()
        if self.on_closed is not None:
            self.on_closed()


def conference_view_key(output: OutputFormat) -> GroupKey:
    """The group of the conference picture at `output`."""
    return GroupKey(PictureKey(PictureKind.CP, CONFERENCE_TARGET), output)


def place_viewer(viewer: LiveViewer, group_of: Callable[[GroupKey], EncoderGroup],
                 conference_key: GroupKey | None,
                 screens: list[tuple[PictureKey, OutputFormat]] | None,
                 content: GroupKey | None) -> set[GroupKey]:
    """Put the viewer's tracks in the groups of what it watches (ConferenceMedia.regroup);
    the keys of the groups it needs. `screens` None: its site is not joined (no picture)."""
    wanted: set[GroupKey] = set()
    if viewer.viewpoint.site is None:
        if conference_key is not None:
            viewer.screens[0].join_group(group_of(conference_key))
            wanted.add(conference_key)
        return wanted
    pictures = screens or []
    for index, track in enumerate(viewer.screens):
        if index < len(pictures):
            picture, output = pictures[index]
            key = GroupKey(picture, _h264(output))
            track.join_group(group_of(key))
            wanted.add(key)
        else:
            track.join_group(None)
    if viewer.content is not None:
        if content is not None:
            key = GroupKey(content.picture, _h264(content.format))
            viewer.content.join_group(group_of(key))
            wanted.add(key)
        else:
            viewer.content.join_group(None)
    return wanted


def _h264(output: OutputFormat) -> OutputFormat:
    """The viewer's tracks are H.264 (what the console offers the browser): a site's VP8
    group is matched at the same size, rate and bit rate in H.264."""
    if output.codec == H264:
        return output
    return OutputFormat(H264, output.width, output.height, output.fps, output.bitrate)
