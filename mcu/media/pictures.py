"""What a site watches: a picture the conference composes, named by its kind and target."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PictureKind(enum.StrEnum):
    CP = "cp"  # a continuous-presence picture: the conference's ("") or a site's own (its URI)
    SITE = "site"  # one site full screen (its URI)


@dataclass(frozen=True, slots=True)
class PictureKey:
    """A picture the conference composes: a CP picture (CP, layout target: "" for the
    conference's, a URI for a site's own) or one site full screen (SITE, uri)."""

    kind: PictureKind
    target: str
