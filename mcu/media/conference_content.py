"""A conference's content (aux) stream: who shares it, how it reaches each site, and whether
it is decoded.

ConferenceContent is owned by a ConferenceMedia (its `content`) and reads the conference's
mirror (sites, joined, recording, viewers, pictures). It holds the floor holder
(PresentationChanged's), the forwarder of the holder's encoded frames, the decoded content
(`content_in`) and when each site's content last arrived.

Each other site gets the holder's content (mcu/media/content_routes.py) forwarded,
transcoded (a CONTENT picture: the decoded content alone, in groups of its own by (picture,
format) like any picture, packets to the site's content track) or in its main picture
(CONTENT_MAIN: content large, speaker small); a `uri(%AUX1)` pane of a CP picture shows it.
On the loop as its frames arrive, the holder's encoded frames (while it is joined) are
forwarded unchanged to every other joined site that receives content in the same codec
(mcu/media/content_forward.py); other sites' content is dropped. The holder's content is
decoded into `content_in` only while one of these needs pixels (`decode_wanted`). Which
sites get the forwarded stream is settled (`route`) at every tick and every floor change.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from mcu.layouts import layout_mode, parse_sub_pic
from mcu.media.content_format import content_format_for
from mcu.media.content_forward import ContentForwarder
from mcu.media.content_routes import FORWARD, MAIN, TRANSCODE, ContentRoute, route_for
from mcu.media.frame_slots import LatestFrameSlot
from mcu.media.output_format import OutputFormat
from mcu.media.pictures import PictureKey, PictureKind
from mcu.media.site_media import SiteMedia
from mcu.model import SiteSpec

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia

CONTENT_RECENT_S = 1.0  # content "is" sent / received: a frame within the last second


class ConferenceContent:
    def __init__(self, conference: ConferenceMedia) -> None:
        self._conference = conference
        self.content_in = LatestFrameSlot()  # the holder's content, decoded (when wanted)
        self.forwarder = ContentForwarder(self._ask_keyframe)
        self._presentation: str | None = None  # PresentationChanged's holder
        self._decode_requested = False  # decode_wanted set by hand (a viewer, a tool)
        self._decoding = False  # the holder's tap decodes (as route last settled)
        self._seen: dict[str, float] = {}  # uri -> monotonic time of its last frame

    def present(self, holder: str | None) -> None:
        """PresentationChanged: the new floor holder (None: nobody shares)."""
        if holder != self._presentation:
            # the previous holder's last page must not show as the new holder's
            self.content_in.clear()
        self._presentation = holder
        self.route()

    @property
    def holder(self) -> str | None:
        """The site whose content is received and passed on: the presentation holder (or the
        cascade link that carries it: `_carrier`), while it is joined with a call that can
        send content; None otherwise."""
        holder = self._carrier()
        conference = self._conference
        media = conference.sites.get(holder) if holder is not None else None
        if media is None or holder not in conference.joined or not media.content_send:
            return None
        return holder

    def source(self) -> str | None:
        """The site whose content is shared now: the floor holder while it is joined (its
        panes show the placeholder until its content pictures arrive; `holder`, the site
        whose content stream is received, also needs a call that can send one). A holder on
        another engine of a cascade: the link that carries its content (`_carrier`)."""
        holder = self._carrier()
        conference = self._conference
        if holder is not None and holder in conference.joined and holder in conference.sites:
            return holder
        return None

    def _carrier(self) -> str | None:
        """The presentation holder when this engine has its call; else, in a cascade, the
        link site whose content stream carries the holder's content (the role's
        `content_link`: mcu/media/media_role.py)."""
        holder = self._presentation
        conference = self._conference
        if holder is None or holder in conference.sites or conference.role is None:
            return holder
        return conference.role.content_link(holder)

    def format_of(self, site: SiteSpec, codec: str) -> OutputFormat:
        """The content format this conference sends `site` in `codec`: the one rule
        (mcu/media/content_format.py) for the content m-line's statement and for what is
        forwarded or transcoded."""
        conference = self._conference
        return content_format_for(
            site, codec, aux_format=conference.aux_video_format,
            presentation=conference.presentation, conference_rate=conference.conference_rate,
            default_format=conference.default_format)

    def output(self, media: SiteMedia) -> OutputFormat | None:
        """The content output a site receives on its second stream (format_of); None when
        its call has no second stream."""
        if media.content_out is None or media.content_codec is None:
            return None
        return self.format_of(media.spec, media.content_codec)

    def route_of(self, uri: str) -> ContentRoute | None:
        """How the shared content reaches `uri`: "forward" (the holder's packets unchanged:
        the forwarding consults this for each receiver), "transcode" (a content group of this
        conference feeds its content track), "main" (in its main picture) or None (nothing
        shared, the site is not joined, or it is the holder)."""
        conference = self._conference
        holder = self.source()
        media = conference.sites.get(uri)
        if holder is None or uri == holder or uri not in conference.joined or media is None:
            return None
        receives = self.output(media) if media.content_receive else None
        return route_for(receives, self.output(conference.sites[holder]))

    def forwarded_to(self, media: SiteMedia, codec: str | None) -> bool:
        """Whether `media`'s site gets the holder's content unchanged: joined, not the
        holder, showing content on a second stream in the holder's codec and format (its
        content route is "forward"; the others are transcoded or shown in the main picture)."""
        return (codec is not None and media.uri in self._conference.joined
                and media.uri != self.holder
                and media.content_receive and media.content_codec == codec
                and self.route_of(media.uri) == FORWARD)

    def shows(self, picture: PictureKey, holder: str) -> bool:
        """Whether `picture` has a pane that shows the holder's content."""
        if picture.kind in (PictureKind.CONTENT, PictureKind.CONTENT_MAIN):
            return True
        if picture.kind != PictureKind.CP:
            return False
        settings = self._conference.picture_settings(picture)
        mode = layout_mode(settings.mode)
        if mode.voice_switched:
            return False
        return any(parse_sub_pic(entry) == (holder, True)
                   for entry in settings.sub_pics[: mode.pane_count] if entry)

    @property
    def decode_wanted(self) -> bool:
        """True while some site needs the content's pixels: a pane shows `uri(%AUX1)` of
        the holder, a site without a second stream gets content in its main picture, or a
        receiver needs it transcoded; or it was asked for by hand (the setter: a viewer or
        a tool). False: nobody does, and content_in is not fed (forwarding alone needs no
        decoding). route, at every tick and every floor change, applies it."""
        conference = self._conference
        holder = self.source()
        if holder is None:
            return False
        if self._decode_requested or conference.recording is not None:
            return True  # the recorder's content track
        if any(viewer.viewpoint.site not in (None, holder)
               for viewer in conference.viewers.values()):
            return True  # a viewer's content track
        for uri in conference.joined:
            media = conference.sites.get(uri)
            if media is None:
                continue
            if self.route_of(uri) in (MAIN, TRANSCODE):
                return True
            if conference.output_format(media) is not None and any(
                    self.shows(picture, holder)
                    for _, picture in conference.screen_pictures(uri)):
                return True
        return False

    @decode_wanted.setter
    def decode_wanted(self, wanted: bool) -> None:
        """Ask for (or stop asking for) the holder's content decoded into content_in, whether
        or not a picture needs it."""
        self._decode_requested = wanted
        self.route()

    def route(self) -> None:
        """Settle who gets the holder's content: the forwarder follows the holder, each
        site's content track joins it or leaves it, the holder's tap decodes when wanted."""
        conference = self._conference
        holder = self.holder
        sender = conference.sites.get(holder) if holder is not None else None
        codec = sender.content_codec if sender is not None else None
        wanted = self.decode_wanted
        started, self._decoding = wanted and not self._decoding, wanted
        self.forwarder.switch_source(holder)
        if self.source() is None and self.content_in.frame is not None:
            self.content_in.put(None)  # nothing shared: no stale picture either
        for media in conference.sites.values():
            if self.forwarded_to(media, codec):
                media.content_out.join_group(self.forwarder)
            elif media.content_out.group is self.forwarder:
                media.content_out.join_group(None)
            if media.content_tap is not None:
                media.content_tap.decode = media is sender and wanted
        if started:  # the decoder starts at the holder's next keyframe: ask for it
            self._ask_keyframe()

    def frame(self, uri: str, codec: str, data: bytes, timestamp: int) -> None:
        """An encoded content frame of `uri` (its ContentTap, on the loop): the holder's goes
        to the receiving sites; anyone else's is dropped."""
        self._seen[uri] = time.monotonic()
        if uri == self.holder and uri == self.forwarder.source:
            self.forwarder.forward(codec, data, timestamp)

    def picture(self, uri: str, frame: Any) -> None:
        """A decoded content frame of `uri`: the holder's is the conference's content."""
        if uri == self.holder and self._decoding:
            self.content_in.put(frame)

    def sending(self, uri: str) -> bool:
        """Frames of this site's content arrived in the last second (whether or not it is
        the holder: a non-holder's are dropped, but they did arrive)."""
        seen = self._seen.get(uri)
        return seen is not None and time.monotonic() - seen < CONTENT_RECENT_S

    def receiving(self, uri: str) -> bool:
        """This site's second stream carried content in the last second."""
        media = self._conference.sites.get(uri)
        sent = media.content_out.last_sent_at if media is not None else None
        return (media is not None and media.content_out.group is not None
                and sent is not None and time.monotonic() - sent < CONTENT_RECENT_S)

    def _ask_keyframe(self) -> None:
        holder = self.forwarder.source
        media = self._conference.sites.get(holder) if holder is not None else None
        if media is not None:
            media.request_content_keyframe()
