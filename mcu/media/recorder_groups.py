"""Which encoder group the recorder, the live broadcast and the console's conference viewers
join: issue 14's "it has its own output group, so when its format equals an existing group's
no extra encode happens", made precise (docs/gateway.md, "Recording", the recorder's group).

The recorder's file has a fixed picture: H.264 Constrained Baseline at the conference's
default format's size and frame rate (mcu/media/engine.py recording_format; 1080p30 unless
configured). The bitrate is not part of what the file promises, so it is the one thing left
free: when a site of the conference receives the same picture (the conference's CP picture,
or the holder's content) in H.264 Constrained Baseline at that size and frame rate, whatever
its bitrate, the recorder joins that site's group (the highest bitrate when several sites'
groups qualify); only when none does is a group of the recorder's own opened, at its own
bitrate (the conference's rate, else the format's default). A site booked 1080p30 at
2 Mbit/s and the recorder thus share one encode; sites at other sizes or in another codec or
profile leave the recorder its own group, at its own size.

The choice is made again at every regrouping (a site joining, leaving, a layout change): a
recorder in a site's group moves to its own when that group closes, and back into a site's
group when one appears. Every move is to a group of the same size, codec and profile, so the
file's track stays one stream; the recorder takes the new group's packets from its first
keyframe on (recorder.GroupMember) and the group is asked for one at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcu.media.encoder_group import GroupKey
from mcu.media.output_format import OutputFormat


def same_stream(a: OutputFormat, b: OutputFormat) -> bool:
    """Whether packets of `a` and `b` fit one track: same codec, profile, size and frame
    rate (the bitrate may differ)."""
    return (a.codec, a.profile, a.width, a.height, a.fps) == (
        b.codec, b.profile, b.width, b.height, b.fps)


def shared_group(own: GroupKey, site_groups: Iterable[GroupKey]) -> GroupKey:
    """The group a recorder (or broadcast, or conference viewer) whose own group would be
    `own` joins: the site group of the same picture whose format is the same stream (the
    highest bitrate of them), else `own`."""
    matching = [key for key in site_groups
                if key.picture == own.picture and same_stream(key.format, own.format)]
    if not matching:
        return own
    return max(matching, key=lambda key: key.format.bitrate)
