"""Recording and live broadcast of a conference (setRecordBroadEx, setDirectBroadEx,
queryBroadInfoEx): flags of the conference the site is in, allowed when its booking asks
for the feature. The simulator records nothing; the flags are kept, reported and emitted
(RecordingChanged, LiveBroadcastChanged) for a recorder to follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcu.errors import DomainError, Fault
from mcu.events import LiveBroadcastChanged, RecordingChanged
from mcu.runtime.live_conferences import LiveConferences


@dataclass(frozen=True)
class BroadInfo:
    """BroadInfoEx. *_active is None when the feature is not supported (the standard: status
    only when supported)."""

    live_supported: bool
    recording_supported: bool
    live_active: bool | None
    recording_active: bool | None


class Recording:
    def __init__(self, conferences: LiveConferences) -> None:
        self.conferences = conferences
        self.events = conferences.events

    def set_recording(self, uri: str, start: bool) -> None:
        """setRecordBroadEx (wire action 0 = start, 1 = stop) for the site's conference."""
        live, _ = self.conferences.conference_of(uri)
        if not live.conference.spec.is_recording:
            raise DomainError(Fault.RECORDING_NOT_SUPPORTED, live.conf_id)
        live.recording = start
        self.events.emit(RecordingChanged(live.conf_id, start))

    def set_live_broadcast(self, uri: str, start: bool) -> None:
        """setDirectBroadEx (wire action 0 = start, 1 = stop). Live broadcast is a feature of
        a recording conference (table 4: isLiveBroadcast)."""
        live, _ = self.conferences.conference_of(uri)
        spec = live.conference.spec
        if not (spec.is_recording and spec.is_live_broadcast):
            raise DomainError(Fault.LIVE_BROADCAST_NOT_SUPPORTED, live.conf_id)
        live.live_broadcast = start
        self.events.emit(LiveBroadcastChanged(live.conf_id, start))

    def broad_info(self, uri: str) -> BroadInfo:
        """queryBroadInfoEx for the conference the site is in."""
        live, _ = self.conferences.conference_of(uri)
        spec = live.conference.spec
        recording = bool(spec.is_recording)
        live_supported = recording and bool(spec.is_live_broadcast)
        return BroadInfo(
            live_supported=live_supported,
            recording_supported=recording,
            live_active=live.live_broadcast if live_supported else None,
            recording_active=live.recording if recording else None,
        )
