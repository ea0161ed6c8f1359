"""What a screen of a site shows: setVideoOutSrcEx's videoSrc codes and the answer of
queryVideoOutSrcStateEx for one screen (docs/runtime.md, "Multi-screen sites").

The media plane (mcu/media/screen_pictures.py) decides each screen's picture; this module
holds the plain data the runtime and the gateway read, so the core needs no media import.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class VideoOutSource(enum.IntEnum):
    """setVideoOutSrcEx videoSrc (WS/T 546 / eSDK): what a screen (hdOut) shows."""

    LOCAL_MAIN = 0  # the site's own main video (its camera: a self-view)
    LOCAL_AUX = 1  # the site's own content (while it shares it)
    REMOTE_MAIN = 2  # the far end's main video (the site it watches, full screen)
    REMOTE_AUX = 3  # the conference's content (another site's aux stream)


@dataclass(frozen=True, slots=True)
class ScreenShown:
    """One screen of a joined site as the media feeds it now.

    hd_out: the screen (setVideoOutSrcEx hdOut); chosen: the videoSrc set for it by
    setVideoOutSrcEx (None: the default rule); source: which videoSrc the picture it gets
    now is (a CP or a content-with-speaker picture counts as remote main); picture: the
    picture's kind ("cp", "site", "content", "content-main", "none" before the media feeds
    it) and target: the site (or "" for the conference's CP picture)."""

    hd_out: int
    chosen: VideoOutSource | None
    source: VideoOutSource | None
    picture: str
    target: str
