"""A conference's media measurements: each encoder group's (GroupStats), each joined site's
main video input (InputStats) and the counts so far (MediaTotals, mcu/media/media_totals.py).

Functions taking the ConferenceMedia; the media engine (mcu/media/engine.py) gathers them for
the console, the metrics and the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcu.media.media_totals import MediaTotals

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia


@dataclass(frozen=True)
class GroupStats:
    picture: str
    format: str
    sites: tuple[str, ...]
    frames_encoded: int
    keyframes: int
    output_fps: float
    sender_restarts: int  # over the group's sites: a sender fell behind and waited for a keyframe


@dataclass(frozen=True)
class InputStats:
    """What the MCU gets from one joined site: of its main video now, the send ladder's ask
    ("960x540@30"; None: never asked, the ladder off or a site that cannot be asked) and the
    size of the latest picture decoded from it ("960x540"; None: none yet); of its voice in
    this call, the 20 ms frames decoded and those left undecoded because their RFC 6464
    level said nobody would hear them (mcu/media/inline_audio.py; 0 and 0 for a voice not
    decoded on the loop: a SIP site's)."""

    asked: str | None
    decoded: str | None
    voice_frames_decoded: int = 0
    voice_frames_undecoded: int = 0
    # cuts in the mix's input of its voice: ran dry while playing, and samples dropped
    # unplayed (mcu/media/audio_mixer.SampleFifo)
    voice_underruns: int = 0
    voice_samples_dropped: int = 0


def totals(conference: ConferenceMedia) -> MediaTotals:
    """The conference's counts so far: its closed groups and calls and the live ones."""
    live = MediaTotals(
        video_frames_encoded=sum(group.frames_encoded for group in conference.groups.values()),
        audio_mix_frames_encoded=conference.mix_encoders.frames_encoded,
    )
    for media in conference.sites.values():
        live.add(media.totals())
    return conference.retired.plus(live)


def input_stats(conference: ConferenceMedia) -> dict[str, InputStats]:
    """Each joined site's ask and decoded size (InputStats), by URI."""
    inputs = {}
    ladder = conference.send_ladder
    for uri in conference.joined:
        media = conference.sites.get(uri)
        frame = media.video_in.frame if media is not None else None
        ask = ladder.asked(uri) if ladder is not None else None
        voice = media.inline_audio if media is not None else None
        fifo = media.audio_in.fifo if media is not None else None
        inputs[uri] = InputStats(
            str(ask) if ask is not None else None,
            f"{frame.width}x{frame.height}" if frame is not None else None,
            voice.frames_decoded if voice is not None else 0,
            voice.frames_undecoded if voice is not None else 0,
            fifo.underruns if fifo is not None else 0,
            fifo.samples_dropped if fifo is not None else 0)
    return inputs


def group_stats(conference: ConferenceMedia, now: float) -> list[GroupStats]:
    """Each encoder group's picture, format, sites and counts; its output rate at `now`."""
    return [
        GroupStats(
            picture=f"{key.picture.kind}:{key.picture.target}",
            format=str(key.format),
            sites=tuple(sorted(track.uri for track in group.subscribers)),
            frames_encoded=group.frames_encoded,
            keyframes=group.keyframes_encoded,
            output_fps=round(group.output_rate.rate(now), 1),
            sender_restarts=sum(track.backlog_restarts for track in group.subscribers),
        )
        for key, group in conference.groups.items()
    ]
