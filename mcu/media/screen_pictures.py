"""Which picture each screen of a site gets (docs/runtime.md, "Multi-screen sites").

The product's rule, after telepresence MCUs (Cisco TelePresence Server, Huawei's
multi-screen rooms: a left / centre / right screen each fed by its own stream):

- setVideoOutSrcEx's choice for that screen (hdOut) first: local main = the site's own
  camera (a self-view); local aux = its own content while it shares some; remote main = the
  site it watches full screen; remote aux = the conference's content shared by another
  site. A choice with nothing to show (no content shared, no other site) shows the
  placeholder (NOTHING), not some other picture.
- otherwise the defaults by position: screen 1 the site's usual picture
  (ConferenceMedia.picture_for: CP, its video source, a broadcast site); screen 2 the
  content while any is shared, else the speaker full screen (the speaker other than the
  site itself, else the site it watches); screen 3 the site's chosen video source
  (setVideoSourceEx) full screen when it has one, else the conference's CP picture (a
  second CP).
"""

from __future__ import annotations

from mcu.live_conference import CONFERENCE_TARGET
from mcu.media.pictures import PictureKey, PictureKind
from mcu.screens import VideoOutSource

NOTHING = PictureKey(PictureKind.SITE, "")  # a full screen of no site: the placeholder


def screen_picture(
    position: int,
    chosen: VideoOutSource | None,
    *,
    viewer: str,
    usual: PictureKey,
    holder: str | None,
    speaker: str | None,
    watched: str | None,
    video_source: str | None,
) -> PictureKey:
    """The picture of the screen at `position` (0 = screen 1) of `viewer`: `usual` its
    single-screen picture, `holder` the site whose content is shared (None: none),
    `speaker` the other site speaking, `watched` the other site it watches, `video_source`
    its setVideoSourceEx choice (joined, not itself); the others None when there is none."""
    if chosen is not None:
        return chosen_picture(chosen, viewer=viewer, holder=holder, watched=watched)
    if position == 0:
        return usual
    if position == 1:
        if holder is not None:
            return PictureKey(PictureKind.CONTENT, holder)
        far = speaker or watched
        return PictureKey(PictureKind.SITE, far) if far is not None else usual
    if video_source is not None:
        return PictureKey(PictureKind.SITE, video_source)
    return PictureKey(PictureKind.CP, CONFERENCE_TARGET)


def chosen_picture(chosen: VideoOutSource, *, viewer: str, holder: str | None,
                   watched: str | None) -> PictureKey:
    """The picture setVideoOutSrcEx's videoSrc names for `viewer`, NOTHING when there is
    nothing to show."""
    if chosen is VideoOutSource.LOCAL_MAIN:
        return PictureKey(PictureKind.SITE, viewer)
    if chosen is VideoOutSource.LOCAL_AUX:
        return PictureKey(PictureKind.CONTENT, viewer) if holder == viewer else NOTHING
    if chosen is VideoOutSource.REMOTE_MAIN:
        return PictureKey(PictureKind.SITE, watched) if watched is not None else NOTHING
    if holder is not None and holder != viewer:
        return PictureKey(PictureKind.CONTENT, holder)
    return NOTHING


def source_of(picture: PictureKey, viewer: str) -> VideoOutSource | None:
    """Which videoSrc a picture is to `viewer`: its own camera or content (local main /
    aux), another site's content (remote aux), any other picture of the conference (remote
    main: a site full screen, a CP, the content with the speaker); None for NOTHING."""
    if picture == NOTHING:
        return None
    if picture.kind == PictureKind.CONTENT:
        return VideoOutSource.LOCAL_AUX if picture.target == viewer else VideoOutSource.REMOTE_AUX
    if picture.kind == PictureKind.SITE and picture.target == viewer:
        return VideoOutSource.LOCAL_MAIN
    return VideoOutSource.REMOTE_MAIN
