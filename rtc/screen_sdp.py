"""The screens of a multi-screen site: one video m-line per screen after the content m-line.

A call's video m-lines, in order (docs/signalling.md, "Screens"):
  m=video ...   screen 1: the main video (the faces), as in every call
  m=video ...   content: a=label:content (rtc/content_sdp.py), unchanged
  m=video ...   screen 2: a=label:screen2   } only for a site that declared 2 or 3 screens
  m=video ...   screen 3: a=label:screen3   }
Screen 1 is the main video m-line, so a single-screen call is exactly what it was. The screen
m-lines after the content carry MCU-composed pictures one way (the MCU sends, the terminal
receives: recvonly on the terminal's side). aiortc drops a=label, so `mark_screens` adds it
to the SDP text as it is sent; reading an SDP, screen k is its (k+1)-th video m-line,
labelled or not.
"""

from __future__ import annotations

from aiortc.sdp import SessionDescription

from rtc.content_sdp import CONTENT_VIDEO_INDEX

FIRST_EXTRA_SCREEN_INDEX = CONTENT_VIDEO_INDEX + 1  # screen 2's index among the video m-lines


def screen_label(screen: int) -> str:
    """The RFC 4574 label of screen `screen` (1-based): "screen2", "screen3"."""
    return f"screen{screen}"


def extra_screen_count(sdp: str) -> int:
    """How many screen m-lines (screens 2.., not rejected) follow the content m-line."""
    videos = [media for media in SessionDescription.parse(sdp).media if media.kind == "video"]
    return sum(1 for media in videos[FIRST_EXTRA_SCREEN_INDEX:] if media.port != 0)


def mark_screens(sdp: str) -> str:
    """`sdp` (text) with a=label:screenK in each screen m-line after the content, once;
    unchanged when it has none."""
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    video_sections = [i for i, line in enumerate(lines) if line.startswith("m=video ")]
    extra = video_sections[FIRST_EXTRA_SCREEN_INDEX:]
    if not extra:
        return sdp
    for number, start in reversed(list(enumerate(extra, start=2))):
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")),
                   len(lines))
        section = lines[start:end]
        label = f"a=label:{screen_label(number)}"
        if label in section:
            continue
        insert_at = next((i for i, line in enumerate(section) if line.startswith("a=")),
                         len(section))
        section.insert(insert_at, label)
        lines[start:end] = section
    return "\r\n".join(lines) + "\r\n"
