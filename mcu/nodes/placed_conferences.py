"""A node's view of the schedule: only the conferences the gateway placed on it, each at the
occurrence that is ongoing (the `start` command's). The node's runtime reconciles against
it: a `start` adds one and the runtime starts it, a `start` of one placed here already
brings its booking up to date and the runtime follows it (Lifecycle._follow_booking, as
the embedded runtime follows an edited booking), an `end` removes it and the runtime ends
it. The node keeps no clock of its own for begin and end: the gateway decides both.
"""

from __future__ import annotations

from mcu.errors import DomainError, Fault
from mcu.model import Conference, ConferenceState, Occurrence


class PlacedConferences:
    """mcu.runtime.live_conferences.SchedulerView over the placed conferences."""

    def __init__(self) -> None:
        self._placed: dict[str, tuple[Conference, Occurrence]] = {}

    def add(self, conference: Conference, occurrence: Occurrence) -> bool:
        """False when the conference is placed here already (a repeated `start`)."""
        if conference.conf_id in self._placed:
            return False
        self._placed[conference.conf_id] = (conference, occurrence)
        return True

    def update(self, conference: Conference, occurrence: Occurrence) -> bool:
        """A repeated `start` of a conference placed here: its booking as it is now (sites
        added or removed, its end moved). False when nothing changed, or it is not placed
        here."""
        placed = self._placed.get(conference.conf_id)
        if placed is None or placed == (conference, occurrence):
            return False
        self._placed[conference.conf_id] = (conference, occurrence)
        return True

    def remove(self, conf_id: str) -> bool:
        return self._placed.pop(conf_id, None) is not None

    def __contains__(self, conf_id: object) -> bool:
        return conf_id in self._placed

    def ongoing(self) -> list[tuple[Conference, Occurrence]]:
        return list(self._placed.values())

    def get(self, conf_id: str) -> Conference:
        placed = self._placed.get(conf_id)
        if placed is None:
            raise DomainError(Fault.CONFERENCE_NOT_FOUND, conf_id)
        return placed[0]

    def conferences(self) -> list[Conference]:
        return [conference for conference, _ in self._placed.values()]

    def state(self, conf_id: str) -> tuple[ConferenceState, Occurrence]:
        placed = self._placed.get(conf_id)
        if placed is None:
            raise DomainError(Fault.CONFERENCE_NOT_FOUND, conf_id)
        return ConferenceState.ONGOING, placed[1]

    def knows_site(self, uri: str) -> bool:
        return any(site.uri == uri for _, occurrence in self._placed.values()
                   for site in occurrence.sites)
