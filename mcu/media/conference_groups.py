"""Which encoder group of a conference feeds each track: every joined site's screens and
content track, the recorder's, the live broadcast's and the viewers' (conference_outputs.py).

Functions taking the ConferenceMedia, which holds the groups (`groups`, by GroupKey: a
picture and an output format); sites with equal (picture, format) share one EncoderGroup
(mcu/media/encoder_group.py). A new group's encoder is started on a worker before it joins
the ticks; a group nobody receives any more is closed, its counts kept in `retired`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mcu.media.conference_outputs import regroup_outputs
from mcu.media.content_routes import TRANSCODE
from mcu.media.encoder_group import EncoderGroup, GroupKey
from mcu.media.pictures import PictureKey, PictureKind
from mcu.media.video_encoders import VIDEO_CLOCK

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia


def group_for(conference: ConferenceMedia, key: GroupKey) -> EncoderGroup:
    """The conference's encoder group of `key`, opened (and its encoder warmed up) if new."""
    group = conference.groups.get(key)
    if group is None:
        group = EncoderGroup(key, conference.tuning,
                             keyframe_min_interval=conference.keyframe_min_interval)
        conference.groups[key] = group
        _warm_up(conference, group)
    return group


def _warm_up(conference: ConferenceMedia, group: EncoderGroup) -> None:
    """Start the new group's encoder on a worker (EncoderGroup.warm_up); the group joins
    the ticks once it is ready. When no ticks run (before start(), after close(), or
    outside the loop) it is ready at once and its first encode starts the encoder."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None or not conference._tasks or conference._closed:
        group.ready = True
        return
    pts = int((loop.time() - conference._started_at) * VIDEO_CLOCK) - 1
    loop.run_in_executor(conference._executor, group.warm_up, pts)


def regroup(conference: ConferenceMedia) -> None:
    """Put every joined site's outgoing track into the group of what it should receive;
    close groups nobody receives any more."""
    wanted: set[GroupKey] = set()
    holder = conference.content_source()
    for uri in conference.joined:
        media = conference.sites.get(uri)
        if media is None:
            continue
        output = conference.output_format(media)
        if media.video_held:  # on hold: no group encodes for it (sip_reinvite.py)
            for _, track in media.screens():
                track.join_group(None)
        elif output is not None:  # every screen at the main video's format
            tracks = dict(media.screens())
            for hd_out, picture in conference.screen_pictures(uri):
                key = GroupKey(picture, output)
                tracks[hd_out].join_group(conference._group(key))
                wanted.add(key)
        if media.content_out is None:
            continue
        content = conference.content_output(media)
        if holder is not None and content is not None \
                and conference.content_route(uri) == TRANSCODE:
            key = GroupKey(PictureKey(PictureKind.CONTENT, holder), content)
            media.content_out.join_group(conference._group(key))
            wanted.add(key)
        else:  # forwarded (or nothing shared): no content group of ours feeds it
            media.content_out.join_group(None)
    sites_wanted = frozenset(wanted)  # the recorder and the rest share these if they can
    wanted |= regroup_outputs(conference, holder, sites_wanted)  # conference_outputs.py
    for uri, media in conference.sites.items():
        if uri not in conference.joined:
            for _, track in media.screens():
                track.join_group(None)
            if media.content_out is not None:
                media.content_out.join_group(None)
    for key in [key for key, group in conference.groups.items() if key not in wanted]:
        conference.encoders_opened += conference.groups[key].encoder_opened
        conference.retired.video_frames_encoded += conference.groups[key].frames_encoded
        conference.groups.pop(key).close()
    conference.route_content()
