"""What a site watches: a picture the conference composes, named by its kind and target.

CONTENT_WITH_SPEAKER is the picture of a site that has no second video stream while content
is shared (PictureKind.CONTENT_MAIN): the content in a pane three quarters of the width,
full height (a 16:9 page letterboxed in it), and the speaker in a quarter-size pane at the
right, vertically centred, so that the speaker covers no part of the page. It is a layout
like the 50 of the table (mcu/layouts.py), outside it: the compositor draws it with the same
fit rules, and its number (-1) is never on the wire.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

from mcu.layouts import LayoutMode, PaneRect


class PictureKind(enum.StrEnum):
    CP = "cp"  # a continuous-presence picture: the conference's ("") or a site's own (its URI)
    SITE = "site"  # one site full screen (its URI)
    CONTENT = "content"  # the holder's content alone (its URI): a transcoded second stream
    CONTENT_MAIN = "content-main"  # the holder's content large, the speaker small (its URI)


@dataclass(frozen=True, slots=True)
class PictureKey:
    """A picture the conference composes: a CP picture (CP, layout target: "" for the
    conference's, a URI for a site's own), one site full screen (SITE, uri), or the content
    of the floor holder (CONTENT, CONTENT_MAIN: the holder's uri)."""

    kind: PictureKind
    target: str


def _eighths(x: int, y: int, w: int, h: int) -> PaneRect:
    return PaneRect(Fraction(x, 8), Fraction(y, 8), Fraction(w, 8), Fraction(h, 8))


CONTENT_WITH_SPEAKER = LayoutMode(-1, "CONTENT_WITH_SPEAKER", (_eighths(0, 0, 6, 8),
                                                               _eighths(6, 3, 2, 2)))
