"""A live conference's state as the events that made it, both ways.

- `replay_events(live)`: what a node that takes over a running conference (its first node
  left the registry) is told after `start`, so its media shows what the conference showed:
  the layouts of each CP picture, the broadcast, the audio switch, the chair and floor, the
  presentation holder, each site's mute, quiet, volume, local video, video source, video
  outputs and stream sources, recording and live broadcast. Only what differs from a
  conference's start is replayed.
- `state_key(event)` and `restore(live, events)`: the gateway keeps the last forwarded event
  of each kind and subject in Redis (registry.py `mcu:state:{conf_id}`); a gateway restarted
  mid-conference puts them back into the live state its runtime starts the conference with,
  so getContinuousPresenceParamEx, the status queries and a later failover answer and show
  what they did before the restart.
- `SavedFloors`: the content floor (its holder and lock, the last PresentationChanged
  saved) goes back to its holder once the holder's call is in conference again after the
  restart, as a chair grant (and the lock), with no event: the node kept the presentation
  and went on forwarding the holder's content. A holder whose call did not come back
  leaves the floor free, as a holder that leaves does.
"""

from __future__ import annotations

from mcu.events import (
    AudioSwitchChanged,
    BroadcastChanged,
    ChairChanged,
    ConferenceEvent,
    FloorChanged,
    LayoutChanged,
    LiveBroadcastChanged,
    LocalVideoChanged,
    PresentationChanged,
    RecordingChanged,
    SiteMuted,
    SiteQuieted,
    SiteVolumeChanged,
    StreamSourcesChanged,
    VideoOutputChanged,
    VideoSourceChanged,
)
from mcu.live_conference import DEFAULT_VOLUME, CpSetting, LiveConference


def replay_events(live: LiveConference) -> list[ConferenceEvent]:
    conf_id = live.conf_id
    events: list[ConferenceEvent] = [
        LayoutChanged(conf_id, target, setting.mode, setting.sub_pics)
        for target, setting in live.layouts.items()
    ]
    if live.broadcast_site is not None or live.broadcast_cp:
        events.append(BroadcastChanged(conf_id, live.broadcast_site, live.broadcast_cp))
    if live.audio_switch:
        events.append(AudioSwitchChanged(conf_id, live.audio_switch, live.switch_gate))
    if live.chair is not None:
        events.append(ChairChanged(conf_id, live.chair))
    if live.floor is not None:
        events.append(FloorChanged(conf_id, live.floor))
    if live.presentation is not None:
        events.append(PresentationChanged(conf_id, live.presentation, live.presentation_locked))
    if live.recording:
        events.append(RecordingChanged(conf_id, True))
    if live.live_broadcast:
        events.append(LiveBroadcastChanged(conf_id, True))
    for uri, site in live.sites.items():
        if site.muted:
            events.append(SiteMuted(conf_id, uri, True))
        if site.quiet:
            events.append(SiteQuieted(conf_id, uri, True))
        if site.volume != DEFAULT_VOLUME:
            events.append(SiteVolumeChanged(conf_id, uri, site.volume))
        if not site.local_video_open:
            events.append(LocalVideoChanged(conf_id, uri, False))
        if site.video_source is not None:
            events.append(VideoSourceChanged(conf_id, uri, site.video_source,
                                             site.video_source_locked))
        for hd_out, video_src in sorted(site.video_outputs.items()):
            events.append(VideoOutputChanged(conf_id, uri, hd_out, video_src))
        if site.main_sources or site.aux_source is not None:
            events.append(StreamSourcesChanged(conf_id, uri, site.main_sources,
                                               site.aux_source))
    return events


class SavedFloors:
    def __init__(self) -> None:
        self._floors: dict[str, tuple[str, bool]] = {}  # conf_id -> (holder, locked)

    def keep(self, conf_id: str, events: list[ConferenceEvent]) -> None:
        """The floor the saved events end with, to give back (nothing when it was free)."""
        floor = None
        for event in events:
            if isinstance(event, PresentationChanged):
                floor = (event.holder, event.locked) if event.holder else None
        if floor is not None:
            self._floors[conf_id] = floor

    def back(self, live: LiveConference, uri: str) -> bool:
        """The site's call is in conference again: the floor is its own again if it held
        it. True when it did."""
        floor = self._floors.get(live.conf_id)
        if floor is None or floor[0] != uri:
            return False
        del self._floors[live.conf_id]
        holder, locked = floor
        content_floor = live.content_floor
        content_floor.join(holder, has_content_input=True)  # it had one when it was granted
        content_floor.chair_grant(holder)
        if locked:
            content_floor.lock(holder)
        return content_floor.holder == holder

    def forget(self, conf_id: str) -> None:
        self._floors.pop(conf_id, None)


def state_key(event: ConferenceEvent) -> str:
    """The subject an event sets: a later event with the same key replaces it."""
    subject = getattr(event, "target", None)
    if subject is None:
        subject = getattr(event, "uri", "")
    if isinstance(event, VideoOutputChanged):
        subject = f"{event.uri}/{event.hd_out}"
    return f"{type(event).__name__}:{subject}"


def restore(live: LiveConference, events: list[ConferenceEvent]) -> None:
    """Put the saved events' state back into a conference started again (no event emitted:
    the node that runs it has that state already)."""
    for event in events:
        site = live.sites.get(getattr(event, "uri", ""))
        match event:
            case LayoutChanged():
                live.layouts[event.target] = CpSetting(event.mode, event.sub_pics)
            case BroadcastChanged():
                live.broadcast_site, live.broadcast_cp = event.site, event.continuous_presence
            case AudioSwitchChanged():
                live.audio_switch, live.switch_gate = event.enabled, event.gate
            case ChairChanged():
                live.chair = event.chair
            case FloorChanged():
                live.floor = event.floor
            case RecordingChanged():
                live.recording = event.recording
            case LiveBroadcastChanged():
                live.live_broadcast = event.live
            case SiteMuted() if site is not None:
                site.muted = event.muted
            case SiteQuieted() if site is not None:
                site.quiet = event.quiet
            case SiteVolumeChanged() if site is not None:
                site.volume = event.volume
            case LocalVideoChanged() if site is not None:
                site.local_video_open = event.open
            case VideoSourceChanged() if site is not None:
                site.video_source, site.video_source_locked = event.video_source, event.locked
            case VideoOutputChanged() if site is not None:
                site.video_outputs[event.hd_out] = event.video_src
            case StreamSourcesChanged() if site is not None:
                site.main_sources, site.aux_source = event.main_sources, event.aux_source
