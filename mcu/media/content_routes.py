"""How the shared content (the floor holder's aux stream) reaches each site.

One conference has at most one content source: the site holding the floor (the token holder,
`ConferenceMedia.content_holder`). Every other joined site gets it one of three ways, chosen
by `content_route` from what its call negotiated and what the booking asks:

- "forward": the site receives a second video stream with the sender's codec at the
  sender's size: the holder's packets are passed on unchanged (no decode, no encode).
- "transcode": the site receives a second video stream, but another codec or a smaller
  size: the content is decoded once and encoded once per distinct content output
  (`content_format_for`), in an encoder group of its own, and its packets go to the site's
  content track.
- "main": the site has no second video stream (a single-screen endpoint): the content goes
  into its MAIN picture (pictures.CONTENT_WITH_SPEAKER: the content large, the speaker small).

None: no content is shared, the site is not in the conference, or the site is the holder
(a sender does not receive its own content).

Content outputs (`content_format_for`), where the standard is silent:
- size: the conference's auxVideoFormat (AUTO or unset: the conference's default format),
  never larger than the site's own booked videoFormat (what its screen takes) when it
  has one;
- frame rate: the conference's presentation 0 (slides) sends CONTENT_SLIDES_FPS frames a second
  (the page is still: sharp text matters, motion does not); 1 and 2 (motion) the frame rate
  of that format;
- bitrate: CONTENT_RATE_SHARE (40 %) of the site's call rate (else the conference's), as a
  real MCU gives content part of the call; with neither rate, the format's default bitrate
  at 30 fps (so that slides at 5 fps get bits enough for small text);
- codec: the content codec the site's call negotiated for its second stream.
The sender's format is what the same rule says the holder sends (its codec, the size for
its own booking): its content is forwarded to a receiver whose codec and size are equal.
"""

from __future__ import annotations

from typing import Literal

from mcu.media.output_format import (
    FORMAT_SIZES,
    MIN_BITRATE,
    OutputFormat,
    PictureSize,
    default_bitrate,
    parse_rate,
    picture_size,
)
from mcu.model import Presentation, SiteSpec, VideoFormat

ContentRoute = Literal["forward", "transcode", "main"]
FORWARD: ContentRoute = "forward"
TRANSCODE: ContentRoute = "transcode"
MAIN: ContentRoute = "main"

CONTENT_RATE_SHARE = 0.4
CONTENT_SLIDES_FPS = 5
_DEFAULT_RATE_FPS = 30


def content_size(site: SiteSpec, aux_format: VideoFormat | None,
                 default_format: VideoFormat) -> PictureSize:
    """The content picture a site receives: the conference's auxVideoFormat, capped at the
    site's own booked videoFormat (by area) when it books one."""
    size = picture_size(aux_format, default_format)
    if site.video_format not in (None, VideoFormat.AUTO):
        own = FORMAT_SIZES.get(site.video_format)
        if own is not None and own.width * own.height < size.width * size.height:
            return PictureSize(own.width, own.height, size.fps)
    return size


def content_format_for(
    site: SiteSpec,
    codec: str,
    *,
    aux_format: VideoFormat | None,
    presentation: Presentation,
    conference_rate: str | None = None,
    default_format: VideoFormat,
) -> OutputFormat:
    """The content output a site receives (see the module's rules)."""
    size = content_size(site, aux_format, default_format)
    fps = CONTENT_SLIDES_FPS if presentation == Presentation.FILM else size.fps
    call_rate = parse_rate(site.rate) or parse_rate(conference_rate)
    if call_rate is not None:
        bitrate = max(MIN_BITRATE, int(call_rate * CONTENT_RATE_SHARE))
    else:
        bitrate = default_bitrate(PictureSize(size.width, size.height, _DEFAULT_RATE_FPS))
    return OutputFormat(codec.upper(), size.width, size.height, fps, bitrate)


def route_for(receiver: OutputFormat | None, sender: OutputFormat | None) -> ContentRoute:
    """A receiver's route given its content output (None: it has no second stream) and the
    sender's (None: not known, e.g. the holder's call has no content stream negotiated yet:
    nothing can be forwarded, so content is transcoded from the decoded pictures)."""
    if receiver is None:
        return MAIN
    if sender is not None and (receiver.codec, receiver.size) == (sender.codec, sender.size):
        return FORWARD
    return TRANSCODE
