"""The content (aux) stream's format, as the MCU states it on the content m-line.

The conference's auxVideoFormat (none or AUTO: 1080p) at the content frame rate of its
`presentation`: 0 (film: slides) 5 fps, the sender's page held still; 1 (live video) and 2
(dual stream) 30 fps, moving content. The bit rate is the size's default. Forwarded content
is the holder's own stream, sent at the holder's format within this statement (the
terminals' content is at most 1080p30); a transcode (another format or codec) encodes to
it.
"""

from __future__ import annotations

from mcu.media.output_format import OutputFormat, default_bitrate, picture_size
from mcu.model import Presentation, VideoFormat

CONTENT_DEFAULT_FORMAT = VideoFormat.HD1080P30
SLIDES_FPS = 5  # as terminals/content_source.py sends slides
MOTION_FPS = 30


def content_output_format(codec: str, aux_video_format: VideoFormat | None,
                          presentation: Presentation) -> OutputFormat:
    size = picture_size(aux_video_format, CONTENT_DEFAULT_FORMAT)
    fps = SLIDES_FPS if presentation is Presentation.FILM else MOTION_FPS
    return OutputFormat(codec.upper(), size.width, size.height, fps, default_bitrate(size))
