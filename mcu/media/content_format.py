"""The one rule that decides a site's content (aux) output format.

Both the content m-line the MCU states in a site's SDP (webrtc_endpoint, through
stream_limits.describe_content_stream) and the content the MCU forwards or transcodes to that
site (conference_media.content_output, content_routes.route_for) come from
`content_format_for`, so what is stated is what is sent. Where the standard is silent:

- size: the conference's auxVideoFormat (ConferenceInfoEx; AUTO or unset: the conference's
  default format), never larger (by area) than what the site itself takes: its own booked
  videoFormat when it books one (its declared capability; a site that declared no second
  screen gets no content output at all, content_routes.MAIN);
- frame rate: the conference's presentation 0 (slides) CONTENT_SLIDES_FPS frames a second
  (the page is still: sharp text matters, motion does not); 1 and 2 (motion) the frame rate
  of that format (30, or 60 for the 60 fps formats);
- bitrate: CONTENT_RATE_SHARE (40 %) of the site's call rate (else the conference's), as a
  real MCU gives content part of the call; with neither rate, the format's default bitrate
  at 30 fps (so that slides at 5 fps get bits enough for small text);
- codec: the content codec the site's call negotiated for its second stream. The media
  plane encodes only H.264 and VP8, and auxVideoProtocol does not take part in the
  negotiation (it is stored and answered back as booked): the negotiated codec is used.

The sender's format is what the same rule says the holder sends (its codec, the size for its
own booking): its content is forwarded to a receiver whose codec and size are equal.
"""

from __future__ import annotations

import functools

from mcu.media.output_format import (
    FORMAT_SIZES,
    MIN_BITRATE,
    OutputFormat,
    PictureSize,
    default_bitrate,
    h264_profile,
    parse_rate,
    picture_size,
)
from mcu.model import Presentation, SiteSpec, VideoFormat, VideoProtocol

CONTENT_RATE_SHARE = 0.4
CONTENT_SLIDES_FPS = 5  # as terminals/content_source.py sends slides
_DEFAULT_RATE_FPS = 30


def content_size(site: SiteSpec, aux_format: VideoFormat | None,
                 default_format: VideoFormat) -> PictureSize:
    """The content picture a site receives: the conference's auxVideoFormat, capped at the
    site's own booked videoFormat (by area) when it books one."""
    return _content_size(site.video_format, aux_format, default_format)


def _content_size(video_format: VideoFormat | None, aux_format: VideoFormat | None,
                  default_format: VideoFormat) -> PictureSize:
    size = picture_size(aux_format, default_format)
    if video_format not in (None, VideoFormat.AUTO):
        own = FORMAT_SIZES.get(video_format)
        if own is not None and own.width * own.height < size.width * size.height:
            return PictureSize(own.width, own.height, size.fps)
    return size


def content_fps(presentation: Presentation, size: PictureSize) -> int:
    """The content frame rate the conference's presentation calls for at this size."""
    return CONTENT_SLIDES_FPS if Presentation(presentation) is Presentation.FILM else size.fps


def content_format_for(
    site: SiteSpec,
    codec: str,
    *,
    aux_format: VideoFormat | None,
    presentation: Presentation,
    conference_rate: str | None = None,
    default_format: VideoFormat,
) -> OutputFormat:
    """The content output a site receives (see the module's rules). Remembered by the values
    it depends on: the encoder groups are settled on every video tick (conference_groups)."""
    return _content_format(site.video_format, site.rate, site.video_protocol, codec,
                           aux_format, presentation, conference_rate, default_format)


@functools.lru_cache(maxsize=1024, typed=True)
def _content_format(video_format: VideoFormat | None, rate: str | None,
                    video_protocol: VideoProtocol | None, codec: str,
                    aux_format: VideoFormat | None, presentation: Presentation,
                    conference_rate: str | None, default_format: VideoFormat) -> OutputFormat:
    size = _content_size(video_format, aux_format, default_format)
    fps = content_fps(presentation, size)
    call_rate = parse_rate(rate) or parse_rate(conference_rate)
    if call_rate is not None:
        bitrate = max(MIN_BITRATE, int(call_rate * CONTENT_RATE_SHARE))
    else:
        bitrate = default_bitrate(PictureSize(size.width, size.height, _DEFAULT_RATE_FPS))
    return OutputFormat(codec.upper(), size.width, size.height, fps, bitrate,
                        h264_profile(video_protocol, codec))
