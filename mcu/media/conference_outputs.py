"""What a conference's outputs other than its sites get: the recorder
(mcu/media/recorder.py), the live broadcast (mcu/media/live_hls.py) and the console's live
viewers (mcu/media/live_viewers.py).

Functions taking the ConferenceMedia, which holds the outputs (`recording`, `live`,
`viewers`, `viewer_format`) and starts and stops them: `regroup_outputs` puts their tracks in
the encoder groups of what they watch (a site's group of the same picture and size when there
is one, mcu/media/recorder_groups.py), called by ConferenceMedia.regroup; `hear_outputs` gives
them each 20 ms of audio, called by the audio step (mcu/media/conference_audio.py).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np

from mcu.live_conference import CONFERENCE_TARGET
from mcu.media.audio_mixer import MixInput, MixResult, full_mix
from mcu.media.encoder_group import GroupKey
from mcu.media.live_viewers import conference_view_key, place_viewer
from mcu.media.pictures import PictureKey, PictureKind
from mcu.media.recorder_groups import shared_group
from mcu.media.video_encoders import VIDEO_CLOCK

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia


def regroup_outputs(conference: ConferenceMedia, holder: str | None,
                    sites: frozenset[GroupKey]) -> set[GroupKey]:
    """The recorder's, the live broadcast's and each viewer's tracks in their groups; the
    groups they need (`sites`: the groups of the sites, which they share if they can)."""
    return (_regroup_recorder(conference, holder, sites) | _regroup_live(conference, sites)
            | _regroup_viewers(conference, holder, sites))


def _regroup_recorder(conference: ConferenceMedia, holder: str | None,
                      sites: frozenset[GroupKey]) -> set[GroupKey]:
    """The recorder watches the conference picture (a site with no picture of its own
    would) at its format; while content is shared, the CONTENT picture too. Each in a
    site's group of that picture and size when there is one (recorder_groups.py)."""
    recording = conference.recording
    if recording is None:
        return set()
    main = shared_group(
        GroupKey(PictureKey(PictureKind.CP, CONFERENCE_TARGET), recording.format), sites)
    recording.main.join_group(conference._group(main))
    if holder is None:
        recording.content.join_group(None)
        return {main}
    content = shared_group(
        GroupKey(PictureKey(PictureKind.CONTENT, holder), recording.format), sites)
    recording.content.join_group(conference._group(content))
    return {main, content}


def _regroup_live(conference: ConferenceMedia, sites: frozenset[GroupKey]) -> set[GroupKey]:
    """The live broadcast watches the conference picture at its format: the recorder's
    group when both run at the same format (one encode for both), a site's when it can
    (recorder_groups.py)."""
    live = conference.live
    if live is None:
        return set()
    main = shared_group(
        GroupKey(PictureKey(PictureKind.CP, CONFERENCE_TARGET), live.format), sites)
    live.main.join_group(conference._group(main))
    return {main}


def _regroup_viewers(conference: ConferenceMedia, holder: str | None,
                     sites: frozenset[GroupKey]) -> set[GroupKey]:
    """Each viewer's tracks in the groups of what it watches (live_viewers.py)."""
    wanted: set[GroupKey] = set()
    for viewer in conference.viewers.values():
        site = viewer.viewpoint.site
        screens, content = None, None
        if site is not None:
            media = conference.sites.get(site)
            output = conference.output_format(media) if media is not None else None
            if media is not None and output is not None and site in conference.joined:
                screens = [(picture, output)
                           for _, picture in conference.screen_pictures(site)]
                if holder is not None and holder != site:
                    content = GroupKey(PictureKey(PictureKind.CONTENT, holder), output)
        cp = (shared_group(conference_view_key(conference.viewer_format), sites)
              if conference.viewer_format else None)
        wanted |= place_viewer(viewer, conference._group, cp, screens, content)
    return wanted


def hear_outputs(conference: ConferenceMedia, inputs: list[MixInput],
                 frames: dict[str, np.ndarray], result: MixResult, mix_wait_s: float) -> None:
    """One 20 ms step's audio to the outputs: the full mix to the recording and the live
    broadcast, stamped with when its samples arrived (`mix_wait_s` before now); to each
    viewer the full mix (conference view) or what its site hears."""
    if conference.recording is not None or conference.live is not None:
        loop_time = asyncio.get_running_loop().time()
        # stamped with when its samples arrived (as the composed picture is with when it
        # takes its inputs' latest pictures), not when the mixer read them: the
        # recording's audio would lag its video by the fifos' depth (terminals/av_sync)
        captured = loop_time - mix_wait_s
        mix = full_mix(inputs, frames)
        taken = int((captured - conference._started_at) * VIDEO_CLOCK)
        for sink in (conference.recording, conference.live):
            if sink is not None:
                sink.put_audio(mix, taken)
    if conference.viewers:
        _hear_viewers(conference, inputs, frames, result)


def _hear_viewers(conference: ConferenceMedia, inputs: list[MixInput],
                  frames: dict[str, np.ndarray], result: MixResult) -> None:
    """Each viewer's 20 ms: the full mix (conference view) or what its site hears."""
    mix = None
    for viewer in conference.viewers.values():
        site = viewer.viewpoint.site
        if site is None:
            if mix is None:
                mix = full_mix(inputs, frames)
            viewer.hear(mix)
        elif site in result.heard_by:
            viewer.hear(result.heard(site))
