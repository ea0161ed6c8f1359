"""How the shared content (the floor holder's aux stream) reaches each site.

One conference has at most one content source: the site holding the floor (the token holder,
`ConferenceMedia.content_holder`). Every other joined site gets it one of three ways, chosen
by `content_route` from what its call negotiated and what the booking asks:

- "forward": the site receives a second video stream with the sender's codec at the
  sender's size: the holder's packets are passed on unchanged (no decode, no encode).
- "transcode": the site receives a second video stream, but another codec or a smaller
  size: the content is decoded once and encoded once per distinct content output
  (mcu/media/content_format.py), in an encoder group of its own, and its packets go to the site's
  content track.
- "main": the site has no second video stream (a single-screen endpoint): the content goes
  into its MAIN picture (pictures.CONTENT_WITH_SPEAKER: the content large, the speaker small).

None: no content is shared, the site is not in the conference, or the site is the holder
(a sender does not receive its own content).

Each site's content output comes from the one content-format rule,
mcu/media/content_format.py (`content_format_for`), which also states it on the content m-line.
"""

from __future__ import annotations

from typing import Literal

from mcu.media.output_format import OutputFormat

ContentRoute = Literal["forward", "transcode", "main"]
FORWARD: ContentRoute = "forward"
TRANSCODE: ContentRoute = "transcode"
MAIN: ContentRoute = "main"


def route_for(receiver: OutputFormat | None, sender: OutputFormat | None) -> ContentRoute:
    """A receiver's route given its content output (None: it has no second stream) and the
    sender's (None: not known, e.g. the holder's call has no content stream negotiated yet:
    nothing can be forwarded, so content is transcoded from the decoded pictures)."""
    if receiver is None:
        return MAIN
    if sender is not None and (receiver.codec, receiver.size) == (sender.codec, sender.size):
        return FORWARD
    return TRANSCODE
