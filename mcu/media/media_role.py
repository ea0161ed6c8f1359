"""What a conference's media may be told from outside its own sites: the role it plays in a
cascade (mcu/media/cascade/, docs/cascade.md).

A ConferenceMedia without a role composes and mixes its own sites only. A role changes four
things, each at one point of its tick, and nothing else:

- `picture_for(viewer)`: the picture a site watches (None: the conference's own rule);
- `picture_settings(picture)`: how a picture of the role's own is drawn (None: not one);
- `add_sources(sources)`: the tick's source pictures, before the pictures are composed
  (a root puts the leaf sites' pictures cut from their cascade link's tile picture in);
- `levels(levels)`: the audio levels the conference reports to the runtime's voice switching
  (a root adds the leaf sites' levels, a leaf reports through its link instead).

`content_link(holder)`: the link site whose content stream carries the content of a floor
holder this engine has no call of (a leaf: the root's link, whatever node the holder is on;
the root: the link of the leaf whose tiles hold it), so the conference content
(conference_content.py) forwards that link's content to its own sites and never back up the
link it came from; None: no link carries it.

`closed()` is called once when the conference's media closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mcu.media.conference_media import PictureSettings
    from mcu.media.pictures import PictureKey


class MediaRole(Protocol):
    def picture_for(self, viewer: str) -> PictureKey | None: ...

    def picture_settings(self, picture: PictureKey) -> PictureSettings | None: ...

    def add_sources(self, sources: dict[str, Any]) -> None: ...

    def levels(self, levels: dict[str, int]) -> dict[str, int]: ...

    def content_link(self, holder: str) -> str | None: ...

    def closed(self) -> None: ...
