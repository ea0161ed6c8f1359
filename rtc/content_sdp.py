"""The content (aux) stream's m-line: the SECOND video m-line of a call.

Every call's SDP, offer and answer, either direction (docs/signalling.md, "Content stream"):
  m=audio ...                     main audio
  m=video ...                     main video (the faces)
  m=video ...                     content: a=content:slides (RFC 4796), a=label:content
                                  (RFC 4574; the label RFC 8856's a=floorid mstrm: names)
The content m-line is negotiated like the main video (same codec rules), its own direction
saying who sends content: a terminal that cannot send content answers or offers recvonly,
one that cannot show it sendonly, one with neither inactive; a terminal that knows nothing
of content (an old client) offers no second video m-line at all.

aiortc re-serializes the descriptions it is given and drops attributes it does not know
(a=content, a=label), so `mark_content` adds them to the SDP text as it is sent; reading an
SDP, the content m-line is its second video m-line, with or without the attributes (an
answer from a peer that does not echo them still answers that m-line).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.sdp import SessionDescription

from rtc.codec_preferences import rtp_name

CONTENT_LABEL = "content"  # RFC 4574 label of the content m-line (RFC 8856 mstrm)
CONTENT_ROLE = "slides"  # RFC 4796 a=content value
CONTENT_VIDEO_INDEX = 1  # the content m-line is the second video m-line (index among videos)

SENDING = frozenset({"sendrecv", "sendonly"})
RECEIVING = frozenset({"sendrecv", "recvonly"})


@dataclass(frozen=True)
class ContentMedia:
    """The content m-line of one side's SDP, as that side states it."""

    mid: str | None
    direction: str  # that side's view: "sendonly" = it sends content and shows none
    codec: str | None  # the first payload type's RTP name (RTX left out); None when rejected
    port: int

    @property
    def sends(self) -> bool:
        return self.port != 0 and self.codec is not None and self.direction in SENDING

    @property
    def receives(self) -> bool:
        return self.port != 0 and self.codec is not None and self.direction in RECEIVING


def content_media(sdp: str) -> ContentMedia | None:
    """The SDP's content m-line; None when it has no second video m-line."""
    videos = [media for media in SessionDescription.parse(sdp).media if media.kind == "video"]
    if len(videos) <= CONTENT_VIDEO_INDEX:
        return None
    media = videos[CONTENT_VIDEO_INDEX]
    codecs = [rtp_name(codec) for codec in media.rtp.codecs]
    codec = next((name for name in codecs if name != "RTX"), None)
    return ContentMedia(media.rtp.muxId or None, media.direction or "sendrecv", codec, media.port)


def mark_content(sdp: str) -> str:
    """`sdp` (text) with a=content:slides and a=label:content in its content m-line, once;
    unchanged when it has none."""
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    video_sections = [i for i, line in enumerate(lines) if line.startswith("m=video ")]
    if len(video_sections) <= CONTENT_VIDEO_INDEX:
        return sdp
    start = video_sections[CONTENT_VIDEO_INDEX]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")),
               len(lines))
    section = lines[start:end]
    added = [attribute for attribute in (f"a=content:{CONTENT_ROLE}", f"a=label:{CONTENT_LABEL}")
             if attribute not in section]
    # after the c= line (and any b= lines), before the first a= line: the media section's
    # attributes come last (RFC 8866 5), their order among themselves is free
    insert_at = next((i for i, line in enumerate(section) if line.startswith("a=")), len(section))
    section[insert_at:insert_at] = added
    lines[start:end] = section
    return "\r\n".join(lines) + "\r\n"


def has_content_attributes(sdp: str) -> bool:
    """Whether the SDP's content m-line carries a=content and a=label as mark_content adds."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    video_sections = [i for i, line in enumerate(lines) if line.startswith("m=video ")]
    if len(video_sections) <= CONTENT_VIDEO_INDEX:
        return False
    start = video_sections[CONTENT_VIDEO_INDEX]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")),
               len(lines))
    section = lines[start:end]
    return f"a=content:{CONTENT_ROLE}" in section and f"a=label:{CONTENT_LABEL}" in section
