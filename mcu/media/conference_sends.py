"""What a conference asks each site to send: the send ladder's rung for its main video
(mcu/media/send_ladder.py), from the largest pane each site fills in the pictures composed
now.

Functions taking the ConferenceMedia, which holds the ladder (`send_ladder`, None: off) and
when the asks were last settled; the video tick (mcu/media/conference_render.py) settles them
every SETTLE_PERIOD_S.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcu.media.pictures import PictureKey
from mcu.media.send_ladder import (
    SETTLE_PERIOD_S,
    SendAsk,
    ShownPicture,
    booked_ceiling,
    largest_panes,
    rung_for,
)

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia


def shown_pictures(conference: ConferenceMedia) -> list[ShownPicture]:
    """Every picture composed now (one per encoder group's picture and size, at the
    fastest rate of its groups), as the compositor fills it."""
    rates: dict[tuple[PictureKey, int, int], int] = {}
    for key in conference.groups:
        size = (key.picture, key.format.width, key.format.height)
        rates[size] = max(rates.get(size, 0), key.format.fps)
    shown = []
    for (picture, width, height), fps in rates.items():
        settings = conference.picture_settings(picture)
        shown.append(ShownPicture(settings.mode, settings.sub_pics, settings.broadcast,
                                  settings.speaking, width, height, fps))
    return shown


def send_asks(conference: ConferenceMedia) -> dict[str, SendAsk]:
    """The rung each joined site that can be asked needs now (send_ladder.py's rule),
    before hysteresis."""
    holder = conference.content_source()
    needs = largest_panes(conference.shown_pictures(), conference.joined,
                          (holder,) if holder is not None else ())
    asks = {}
    for uri in conference.joined:
        media = conference.sites.get(uri)
        if media is None or media.ask_send is None or media.video_codec is None:
            continue
        need = needs.get(uri) if conference._control(uri).local_video_open else None
        asks[uri] = rung_for(need, (booked_ceiling(media.spec.video_format),
                                    media.send_ceiling))
    return asks


def settle_sends(conference: ConferenceMedia, now: float) -> None:
    """Every SETTLE_PERIOD_S: ask the sites whose rung changed (send_ladder.py)."""
    ladder = conference.send_ladder
    settled_at = conference._settled_at
    if ladder is None or (settled_at is not None and now - settled_at < SETTLE_PERIOD_S):
        return
    conference._settled_at = now
    asks = conference.send_asks()
    sites = conference.sites
    changes = ladder.settle({uri: (ask, sites[uri]) for uri, ask in asks.items()}, now)
    for uri, ask in changes.items():
        sender = sites[uri].ask_send
        if sender is not None:
            sender(ask)
