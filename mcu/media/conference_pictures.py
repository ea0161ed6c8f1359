"""What each site of a conference sees: the picture of each of its screens, how each picture
is drawn and the format it gets.

Functions taking the ConferenceMedia, whose mirror of the runtime's state (layouts,
broadcast, speaker, video sources, screen choices, the floor holder, a cascade role) they
read; ConferenceMedia.regroup puts each site's tracks in the encoder group of (picture,
format). PictureSettings is how a picture is drawn (the compositor's layout, panes,
broadcast site and speaker).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mcu.layouts import LayoutMode, aux_source_key, layout_mode
from mcu.live_conference import CONFERENCE_TARGET
from mcu.media.content_routes import MAIN
from mcu.media.encoder_group import EncoderGroup
from mcu.media.output_format import H264, OutputFormat, fit_to_sizes, output_format_for
from mcu.media.pictures import CONTENT_WITH_SPEAKER, PictureKey, PictureKind
from mcu.media.screen_pictures import NOTHING, screen_picture, source_of
from mcu.media.site_media import SiteMedia
from mcu.screens import ScreenShown

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia

CP_NONE = 0
FULL_SCREEN = layout_mode("CP_1_1").value


@dataclass(frozen=True, slots=True)
class PictureSettings:
    mode: int | LayoutMode
    sub_pics: tuple[str, ...]
    broadcast: str | None
    speaking: str | None


def picture_for(conference: ConferenceMedia, viewer: str) -> PictureKey:
    """While content is shared, a site without a second stream watches the content in
    its main picture (CONTENT_MAIN). Otherwise setVideoSourceEx beats a broadcast site,
    which beats the CP broadcast, which beats the site's own CP picture; otherwise the
    conference picture. The broadcast site itself keeps watching its CP picture. A
    cascade role (media_role.py) may choose first."""
    if conference.role is not None:
        chosen = conference.role.picture_for(viewer)
        if chosen is not None:
            return chosen
    holder = conference.content_source()
    if holder is not None and conference.content_route(viewer) == MAIN \
            and not conference.multi_screen(viewer):  # a multi-screen site: on screen 2
        return PictureKey(PictureKind.CONTENT_MAIN, holder)
    source = conference._control(viewer).video_source
    if source is not None and source in conference.joined:
        return PictureKey(PictureKind.SITE, source)
    broadcast = conference.broadcast_site
    if broadcast is not None and broadcast != viewer and broadcast in conference.joined:
        return PictureKey(PictureKind.SITE, broadcast)
    if not conference.broadcast_cp and viewer in conference.layouts:
        return PictureKey(PictureKind.CP, viewer)
    return PictureKey(PictureKind.CP, CONFERENCE_TARGET)


def multi_screen(conference: ConferenceMedia, uri: str) -> bool:
    """The site's call feeds more than one screen (rtc/screen_sdp.py)."""
    media = conference.sites.get(uri)
    return media is not None and bool(media.screen_outs)


def watched(conference: ConferenceMedia, viewer: str) -> str | None:
    """The other joined site `viewer` watches full screen on a "remote main" screen: its
    video source, else the broadcast site, else the speaker, else the first other site
    to have joined; None when it is alone."""
    control = conference._control(viewer)
    for uri in (control.video_source, conference.broadcast_site, conference.speaking):
        if uri is not None and uri != viewer and uri in conference.joined:
            return uri
    return next((uri for uri in conference.joined if uri != viewer), None)


def screen_pictures(conference: ConferenceMedia, viewer: str) -> list[tuple[int, PictureKey]]:
    """(hdOut, picture) of each screen the site's call feeds, screen 1 first
    (mcu/media/screen_pictures.py); a single-screen site: its picture_for."""
    media = conference.sites.get(viewer)
    if media is None:
        return []
    control = conference._control(viewer)
    usual = conference.picture_for(viewer)
    holder = conference.content_source()
    speaking = conference.speaking
    speaker = speaking if speaking != viewer and speaking in conference.joined else None
    source = control.video_source if control.video_source != viewer \
        and control.video_source in conference.joined else None
    watched = conference.watched(viewer)
    return [(hd_out, screen_picture(position, control.screen_choices.get(hd_out),
                                    viewer=viewer, usual=usual, holder=holder,
                                    speaker=speaker, watched=watched, video_source=source))
            for position, (hd_out, _) in enumerate(media.screens())]


def screens_shown(conference: ConferenceMedia, uri: str) -> list[ScreenShown]:
    """What each screen of the site gets now: the picture of the encoder group its
    track is in (the media, not the setting); "none" before a group feeds it."""
    media = conference.sites.get(uri)
    if media is None:
        return []
    choices = conference._control(uri).screen_choices
    shown = []
    for hd_out, track in media.screens():
        group = track.group
        picture = group.key.picture if isinstance(group, EncoderGroup) else None
        shown.append(ScreenShown(
            hd_out, choices.get(hd_out),
            source_of(picture, uri) if picture is not None else None,
            "none" if picture is None or picture == NOTHING else str(picture.kind),
            picture.target if picture is not None else ""))
    return shown


def picture_settings(conference: ConferenceMedia, picture: PictureKey) -> PictureSettings:
    """How `picture` is drawn: a cascade role's own picture as the role says; a site full
    screen; the content alone, or large with the speaker small; a CP picture in the layout
    set for its target (else the conference's), with the broadcast site and, while
    voice-activated switching is on, the speaker (the compositor's pane assignment)."""
    if conference.role is not None:
        settings = conference.role.picture_settings(picture)
        if settings is not None:
            return settings
    if picture.kind == PictureKind.SITE:
        return PictureSettings(FULL_SCREEN, (picture.target,), None, None)
    if picture.kind == PictureKind.CONTENT:
        return PictureSettings(FULL_SCREEN, (aux_source_key(picture.target),), None, None)
    if picture.kind == PictureKind.CONTENT_MAIN:
        holder = picture.target
        speaker = conference.speaking if conference.speaking in conference.joined else holder
        return PictureSettings(CONTENT_WITH_SPEAKER,
                               (aux_source_key(holder), speaker or holder), None, None)
    mode, sub_pics = conference.layouts.get(
        picture.target, conference.layouts.get(CONFERENCE_TARGET, (CP_NONE, ()))
    )
    speaking = conference.speaking if conference.audio_switch else None
    return PictureSettings(mode, sub_pics, conference.broadcast_site, speaking)


def output_format(conference: ConferenceMedia, media: SiteMedia) -> OutputFormat | None:
    """The format of the site's main video (mcu/media/output_format.py), fitted to the
    sizes its call accepts, H.264 single NAL unit mode when its call needs it; None before
    a codec is negotiated."""
    if media.video_codec is None:
        return None
    output = fit_to_sizes(output_format_for(
        media.spec,
        media.video_codec,
        conference_rate=conference.conference_rate,
        default_format=conference.default_format,
    ), media.video_sizes)
    if media.video_single_nal and output.codec == H264:
        return replace(output, single_nal=True)
    return output
