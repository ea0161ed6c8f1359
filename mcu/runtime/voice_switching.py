"""Voice-activated switching: which site is speaking.

The media engine reports each conference's audio levels about ten times a second
(report_audio_levels). The speaking site is the loudest joined, unmuted site at or above
the conference's switchGate, once it has stayed the loudest for `speaker_hold` seconds,
measured on the injected clock's monotonic scale (so tests move time instead of waiting);
while nobody reaches the gate the previous speaker stays. A change is emitted as
SpeakerChanged and answered by queryConferencesStatusEx.
"""

from __future__ import annotations

from collections.abc import Mapping

from mcu.clock import Clock
from mcu.errors import DomainError, Fault
from mcu.events import SpeakerChanged
from mcu.live_conference import LiveConference
from mcu.runtime.live_conferences import LiveConferences

SPEAKER_HOLD_SECONDS = 1.0  # the server's voice-switching hold (loudest this long to switch)


class VoiceSwitching:
    def __init__(self, conferences: LiveConferences, clock: Clock, speaker_hold: float) -> None:
        self.conferences = conferences
        self.events = conferences.events
        self.clock = clock
        self.speaker_hold = speaker_hold

    def report_audio_levels(self, conf_id: str, levels: Mapping[str, float]) -> str | None:
        """The media engine reports per-site audio levels (0..100, the switchGate scale).
        Returns the speaking site."""
        live = self.conferences.get(conf_id)
        if live is None:
            raise DomainError(Fault.CONFERENCE_NOT_ONGOING, conf_id)
        for uri, level in levels.items():
            if self.joined(live, uri):
                live.audio_levels[uri] = level
        candidates = [
            (level, uri)
            for uri, level in live.audio_levels.items()
            if level >= live.switch_gate and not self.muted(live, uri)
        ]
        loudest = max(candidates)[1] if candidates else None
        if loudest is None or loudest == live.speaking:
            live.speaker_candidate = None
            return live.speaking
        # The new loudest site takes over only once it stayed loudest for the hold time, so
        # the speaker does not flicker between two talkers.
        now = self.clock.monotonic()
        candidate, since = live.speaker_candidate or (None, now)
        if candidate != loudest:
            candidate, since = loudest, now
        if now - since >= self.speaker_hold:
            live.speaker_candidate = None
            live.speaking = loudest
            self.events.emit(SpeakerChanged(live.conf_id, loudest))
        else:
            live.speaker_candidate = (loudest, since)
        return live.speaking

    def joined(self, live: LiveConference, uri: str) -> bool:
        """Whether the site's level counts: a site of the conference in conference."""
        site = live.sites.get(uri)
        return site is not None and site.connected

    def muted(self, live: LiveConference, uri: str) -> bool:
        """Whether the site, one whose level counts, is muted (it cannot be the speaker)."""
        return live.sites[uri].muted

    def candidate(self, conf_id: str) -> str | None:
        """The site waiting out the hold to become the speaker, if any."""
        live = self.conferences.get(conf_id)
        return live.speaker_candidate[0] if live and live.speaker_candidate else None
