"""Recording and live broadcast of a conference (setRecordBroadEx, setDirectBroadEx,
queryBroadInfoEx): allowed when the conference's booking asks for the feature.

Recording is a state of the live conference and of the store: a start writes the
conference's row in the store (`recording_conferences`) before the RecordingChanged event
reaches the media engine, which records the conference (mcu/media/recorder.py); a stop or
the conference's end removes it. After a restart the conference, when it runs again, is
recording again (ConferenceStarted restores the flag from the store, and the media engine
starts a new file). A start while recording and a stop while not recording change nothing
and succeed (the reference has no result code for either: docs/gateway.md, "Recording").
A recorder that failed (its thread died, a disk error: the media engine's
`recorder_healthy`) is not recording: queryBroadInfoEx answers recordBroadStatus 0, and
a start records again into a new file (docs/gateway.md, "Recording").
Live broadcast (setDirectBroadEx) is kept the same way (`live_conferences`, with the
player token a start draws: the URL /live/<confId>/index.m3u8?token=<token> opens the
stream without a SOAP session); LiveBroadcastChanged makes the media engine start or stop
the HLS stream (mcu/media/live_hls.py). Start while broadcasting and stop while not change
nothing and succeed, as for the recording.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from mcu.errors import DomainError, Fault
from mcu.events import (
    ConferenceEnded,
    ConferenceStarted,
    LiveBroadcastChanged,
    RecordingChanged,
    RuntimeEvent,
)
from mcu.live_conference import LiveConference
from mcu.runtime.live_conferences import LiveConferences
from mcu.store_api import SchedulerStore


@dataclass(frozen=True)
class BroadInfo:
    """BroadInfoEx. *_active is None when the feature is not supported (the standard: status
    only when supported)."""

    live_supported: bool
    recording_supported: bool
    live_active: bool | None
    recording_active: bool | None


class Recording:
    def __init__(self, conferences: LiveConferences, store: SchedulerStore) -> None:
        self.conferences = conferences
        self.events = conferences.events
        self.store = store
        self._live_tokens: dict[str, str] = {}  # confId -> token of a running broadcast
        self.events.subscribe(self._follow)
        # set by the media engine: whether a conference's recorder is recording (None: no
        # media engine, the flag is all there is)
        self.recorder_healthy: Callable[[str], bool] | None = None

    def set_recording(self, uri: str, start: bool) -> None:
        """setRecordBroadEx (wire action 0 = start, 1 = stop) for the site's conference."""
        live, _ = self.conferences.conference_of(uri)
        if not live.conference.spec.is_recording:
            raise DomainError(Fault.RECORDING_NOT_SUPPORTED, live.conf_id)
        if live.recording == start and not (start and not self._recording_now(live.conf_id)):
            return  # already so: nothing changes (docs/gateway.md, "Recording")
        self.store.set_recording(live.conf_id, start)
        live.recording = start
        self.events.emit(RecordingChanged(live.conf_id, start))

    def _follow(self, event: RuntimeEvent) -> None:
        """A conference that starts again after a restart records on; one that ends stops."""
        if isinstance(event, ConferenceStarted):
            live = self.conferences.get(event.conf_id)
            if live is not None and event.conf_id in self.store.recording_conferences():
                live.recording = bool(live.conference.spec.is_recording)
            token = self.store.live_conferences().get(event.conf_id)
            if live is not None and token is not None and self._live_allowed(live):
                live.live_broadcast = True
                self._live_tokens[event.conf_id] = token
        elif isinstance(event, ConferenceEnded):
            self.store.set_recording(event.conf_id, False)
            self.store.set_live(event.conf_id, None)
            self._live_tokens.pop(event.conf_id, None)

    def set_live_broadcast(self, uri: str, start: bool) -> None:
        """setDirectBroadEx (wire action 0 = start, 1 = stop). Live broadcast is a feature of
        a recording conference (table 4: isLiveBroadcast)."""
        live, _ = self.conferences.conference_of(uri)
        if not self._live_allowed(live):
            raise DomainError(Fault.LIVE_BROADCAST_NOT_SUPPORTED, live.conf_id)
        if live.live_broadcast == start:
            return  # already so: nothing changes (docs/gateway.md, "Live broadcast")
        token = secrets.token_urlsafe(24) if start else None
        self.store.set_live(live.conf_id, token)
        if token is not None:
            self._live_tokens[live.conf_id] = token
        else:
            self._live_tokens.pop(live.conf_id, None)
        live.live_broadcast = start
        self.events.emit(LiveBroadcastChanged(live.conf_id, start))

    @staticmethod
    def _live_allowed(live: LiveConference) -> bool:
        spec = live.conference.spec
        return bool(spec.is_recording and spec.is_live_broadcast)

    def live_broadcasts(self) -> dict[str, str]:
        """confId -> player token of every running live broadcast."""
        return dict(self._live_tokens)

    def live_token_valid(self, conf_id: str, token: str | None) -> bool:
        """Whether `token` opens the conference's running broadcast (constant-time compare)."""
        expected = self._live_tokens.get(conf_id)
        return (expected is not None and token is not None
                and hmac.compare_digest(expected.encode(), token.encode()))

    def is_live(self, conf_id: str) -> bool:
        return conf_id in self._live_tokens

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
            recording_active=(live.recording and self._recording_now(live.conf_id))
            if recording else None,
        )

    def _recording_now(self, conf_id: str) -> bool:
        """Not failed: the recorder (when there is a media engine) is healthy."""
        return self.recorder_healthy is None or self.recorder_healthy(conf_id)
