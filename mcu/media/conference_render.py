"""A conference's video tick: when it is due, what it composes and encodes, and who gets the
packets.

Functions taking the ConferenceMedia, which holds the encoder groups, the compositors (one per
picture and size) and the pictures being made (`_rendering`). Each tick, at the time
`next_video_tick` gives (each encoder group at its own frame rate):
  1. (loop, plan_tick) every joined site with a negotiated codec gets a picture (PictureKey)
     and an output format; sites with equal (picture, format) share one EncoderGroup
     (ConferenceMedia.regroup); each picture a due group needs becomes a RenderItem;
  2. (worker threads, one per picture and size, in parallel: render_item) each picture is
     composed once per size from the sites' latest frames, and encoded once per group that
     is due; the loop goes on meanwhile, and the next tick waits only for these pictures;
  3. (loop, when they are done: deliver) each group's packets go to every site of the group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import av

from mcu.layouts import aux_source_key
from mcu.media.compositor import Compositor
from mcu.media.encoder_group import EncoderGroup, GroupKey
from mcu.media.pictures import PictureKey, PictureKind
from mcu.media.video_encoders import VIDEO_CLOCK

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia
    from mcu.media.conference_pictures import PictureSettings

log = logging.getLogger(__name__)

DEFAULT_TICK_FPS = 30


@dataclass
class RenderItem:
    picture: PictureKey
    settings: PictureSettings
    size: tuple[int, int]
    groups: list[tuple[EncoderGroup, bool]]  # (group, keyframe)


@dataclass
class RenderPlan:
    pts: int
    sources: dict[str, Any]
    items: list[RenderItem]
    live_compositors: set[tuple[PictureKey, tuple[int, int]]] = field(default_factory=set)


def next_video_tick(groups: Mapping[GroupKey, EncoderGroup], previous: float) -> float:
    """When the next video tick is due: when the first encoder group is next due, so
    every group is composed and encoded at its own frame rate (a 25 fps group 25 times a
    second at even 40 ms steps, a 60 fps one 60 times, a 30 fps one beside them 30),
    not on a common tick that a 25 fps group could only follow unevenly. A group whose
    time is already past (one a tick skipped: a content picture not there yet) counts
    one of its periods from `previous`, so it never makes the loop spin; no group: the
    default rate."""
    if not groups:
        return previous + 1.0 / DEFAULT_TICK_FPS
    return min(group.next_due if group.next_due > previous + 1e-3
               else previous + 1.0 / group.format.fps
               for group in groups.values())


def plan_tick(conference: ConferenceMedia, now: float) -> RenderPlan:
    """On the loop: regroup, settle the send ladder, take each source's latest picture and
    list the pictures the due groups need (one RenderItem per picture and size)."""
    conference.regroup()
    conference.settle_sends(now)
    sources: dict[str, Any] = {}
    for uri in conference.joined:
        media = conference.sites.get(uri)
        if media is not None and conference._control(uri).local_video_open:
            sources[uri] = media.video_in.take()
        else:
            sources[uri] = None
    holder = conference.content_source()
    if holder is not None:  # None until its first decoded picture: the placeholder
        wanted = conference.content_decode_wanted
        sources[aux_source_key(holder)] = conference.content_in.take() if wanted else None
    if conference.role is not None:  # a cascade's pictures of the sites of another engine
        conference.role.add_sources(sources)
    by_picture: dict[tuple[PictureKey, tuple[int, int]], RenderItem] = {}
    live: set[tuple[PictureKey, tuple[int, int]]] = set()
    for key, group in conference.groups.items():
        size = key.format.size
        live.add((key.picture, size))
        if key.picture.kind == PictureKind.CONTENT and sources.get(
                aux_source_key(key.picture.target)) is None:
            continue  # no content picture yet: send nothing rather than a placeholder
        if not group.ready or not group.is_due(now):
            continue
        item = by_picture.get((key.picture, size))
        if item is None:
            item = RenderItem(key.picture, conference.picture_settings(key.picture), size, [])
            by_picture[(key.picture, size)] = item
        item.groups.append((group, group.take_keyframe_request(now)))
    pts = int((now - conference._started_at) * VIDEO_CLOCK)
    plan = RenderPlan(pts, sources, list(by_picture.values()), live)
    _prepare_compositors(conference._compositors, plan)
    return plan


def _prepare_compositors(compositors: dict[tuple[PictureKey, tuple[int, int]], Compositor],
                         plan: RenderPlan) -> None:
    """On the loop, before the workers start: drop the compositors of pictures no group
    receives any more, open those of new pictures."""
    for key in [key for key in compositors if key not in plan.live_compositors]:
        del compositors[key]
    for item in plan.items:
        key = (item.picture, item.size)
        if key not in compositors:
            compositors[key] = Compositor(*item.size, item.settings.mode)


def render_item(compositors: Mapping[tuple[PictureKey, tuple[int, int]], Compositor],
                plan: RenderPlan, item: RenderItem
                ) -> list[tuple[EncoderGroup, list[av.Packet]]]:
    """Runs on a worker thread: compose one picture at one size, encode it for each of
    its due groups. The items of a tick have their own compositor and groups each, so
    they can be made at the same time."""
    compositor = compositors[(item.picture, item.size)]
    settings = item.settings
    compositor.set_layout(settings.mode)
    compositor.set_sub_pics(settings.sub_pics)
    compositor.set_broadcast(settings.broadcast)
    compositor.set_speaking(settings.speaking)
    frame = compositor.compose(plan.sources)
    return [(group, group.encode(frame, plan.pts, keyframe))
            for group, keyframe in item.groups]


async def video_tick(conference: ConferenceMedia) -> None:
    """One video tick: wait for the previous tick's pictures only (so a group's frames
    stay in order), plan this one and start its pictures on the workers. The loop goes
    on meanwhile and a callback hands the packets to the groups when they are done, so
    the ticks run on time whatever the event loop's delay in taking results back."""
    if conference._rendering is not None and not conference._rendering.done():
        await asyncio.wait([conference._rendering])
    loop = asyncio.get_running_loop()
    plan = conference.plan_tick(loop.time())
    if plan.items:
        # return_exceptions: a failed picture must not end the gathering while the
        # others still run (the next tick would start their encoders a second time)
        rendering = asyncio.gather(*(
            loop.run_in_executor(conference._executor, conference.render_item, plan, item)
            for item in plan.items), return_exceptions=True)
        conference._rendering = rendering
        rendering.add_done_callback(lambda done: _deliver(conference, done))


def _deliver(conference: ConferenceMedia, rendering: asyncio.Future[Any]) -> None:
    """Each picture's packets to its groups; a picture that failed is logged, the
    others are delivered."""
    if rendering.cancelled():
        return
    done = asyncio.get_running_loop().time()
    for encoded in rendering.result():
        if isinstance(encoded, BaseException):
            log.error("conference %s: a picture failed", conference.conf_id, exc_info=encoded)
            continue
        delivered: list[tuple[EncoderGroup, list[av.Packet]]] = encoded
        for group, packets in delivered:
            if conference.groups.get(group.key) is group:  # not closed while encoding
                group.deliver(packets, done)
