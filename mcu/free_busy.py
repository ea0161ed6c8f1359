"""The scheduler's in-memory index of bookings: every stored conference record, which
conferences use a site URI, each conference's occurrence ends in order (for bisecting),
and the FREE tombstones. It answers free/busy and change queries, finds the conflicts and
the capacity a booking would need, and works out, for a change about to be committed,
which busy entries changed (their revisions) and which disappeared (new tombstones).

A busy entry is keyed by a site URI, or by `template_key(code)` for a conference started
from an ad-hoc template (mcu/adhoc.py): the template is "busy" while such a conference is
booked, and its free/busy and changes follow the same rules, revisions and tombstones as a
site's. Site URIs of that form are refused (booking_rules.refuse_reserved_uri).

It does not lock and does not write the store: the Scheduler does both, and installs
records and tombstones here only once they are committed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from mcu.booking_rules import (
    TEMPLATE_KEY_PREFIX,
    SchedulerSettings,
    check_alone,
    check_capacity,
)
from mcu.errors import DomainError, Fault
from mcu.model import (
    BusyInterval,
    Conference,
    ConferenceState,
    FreeBusy,
    Occurrence,
    SiteSpec,
)
from mcu.series import state_at
from mcu.store_documents import ConferenceRecord, Tombstone

# (key, begin) -> ((duration, name, site), revision): a stored conference's busy entries;
# the key is a site URI (site: its SiteSpec) or a template key (site: None)
BusyEntries = dict[tuple[str, datetime], tuple[tuple[timedelta, str, SiteSpec | None], int]]


def template_key(access_code: str) -> str:
    """The busy-entry key of an ad-hoc template."""
    return TEMPLATE_KEY_PREFIX + access_code


def is_template_key(key: str) -> bool:
    return key.startswith(TEMPLATE_KEY_PREFIX)


def _occupants(
    conference: Conference, occurrence: Occurrence
) -> list[tuple[str, SiteSpec | None]]:
    """The keys an occurrence makes busy: its sites, and its template if it has one."""
    keys: list[tuple[str, SiteSpec | None]] = [(site.uri, site) for site in occurrence.sites]
    if conference.adhoc_template is not None:
        keys.append((template_key(conference.adhoc_template), None))
    return keys


class BookingIndex:
    def __init__(self) -> None:
        self.records: dict[str, ConferenceRecord] = {}
        self._ends: dict[str, list[datetime]] = {}  # per conference, occurrence ends in order
        self._conferences_by_uri: dict[str, set[str]] = {}
        self._listing: list[Conference] | None = None
        self.tombstones: dict[str, list[Tombstone]] = {}

    # -- keeping in step with the store ----------------------------------------------------

    def install(self, record: ConferenceRecord) -> None:
        conference = record.conference
        previous = self.records.get(conference.conf_id)
        if previous is not None:
            for uri in _uris(previous.conference):
                self._conferences_by_uri.get(uri, set()).discard(conference.conf_id)
        self.records[conference.conf_id] = record
        self._ends[conference.conf_id] = [o.end for o in conference.occurrences]
        if not conference.deleted:
            for uri in _uris(conference):
                self._conferences_by_uri.setdefault(uri, set()).add(conference.conf_id)
        self._listing = None

    def add_tombstones(self, tombstones: Iterable[Tombstone]) -> None:
        for tombstone in tombstones:
            self.tombstones.setdefault(tombstone.uri, []).append(tombstone)

    def expired_tombstones(self, cutoff: datetime) -> list[Tombstone]:
        return [t for kept in self.tombstones.values() for t in kept if t.begin + t.span < cutoff]

    def drop_tombstones(self, expired: list[Tombstone]) -> None:
        gone = {id(t) for t in expired}
        for uri in list(self.tombstones):
            kept = [t for t in self.tombstones[uri] if id(t) not in gone]
            if kept:
                self.tombstones[uri] = kept
            else:
                del self.tombstones[uri]

    # -- reading -----------------------------------------------------------------------------

    def live_record(self, conf_id: str) -> ConferenceRecord:
        record = self.records.get(conf_id)
        if record is None or record.conference.deleted:
            raise DomainError(Fault.CONFERENCE_NOT_FOUND, conf_id)
        return record

    def conferences(self) -> list[Conference]:
        """Every conference not deleted, in id order (cached until the next install)."""
        if self._listing is None:
            self._listing = [
                record.conference
                for record in sorted(self.records.values(), key=_by_id)
                if not record.conference.deleted
            ]
        return list(self._listing)

    def occurrences_between(
        self, begin: datetime, end: datetime
    ) -> list[tuple[Conference, Occurrence]]:
        """(conference, occurrence) of every conference not deleted overlapping the window,
        by occurrence begin then conference id."""
        found = [
            (conference, occurrence)
            for conference in self.conferences()
            for _, occurrence in self._overlapping(conference.conf_id, begin, end)
        ]
        return sorted(found, key=lambda pair: (pair[1].begin, int(pair[0].conf_id)))

    def uses(self, uri: str) -> bool:
        """Some conference not deleted has the site."""
        return bool(self._conferences_by_uri.get(uri))

    def live_access_codes(self, exclude: str | None, now: datetime) -> set[str]:
        return {
            record.conference.access_code
            for conf_id, record in self.records.items()
            if conf_id != exclude
            and not record.conference.deleted
            and state_at(record.conference, now)[0] is not ConferenceState.ENDED
        }

    def busy(self, uri: str, begin: datetime, end: datetime) -> list[BusyInterval]:
        """Every booked occurrence of uri overlapping the window, whole, by start."""
        return sorted(
            (_busy(conf_id, occurrence) for conf_id, occurrence, _ in self._entries(uri, begin, end)),
            key=lambda interval: interval.start,
        )

    def changed(
        self, uri: str, begin: datetime, end: datetime, since_revision: int
    ) -> list[BusyInterval]:
        """The busy entries of uri in the window changed after since_revision (BUSY) and the
        ones that disappeared (FREE with the conference id), by start."""
        entries = list(self._entries(uri, begin, end))
        present = {(conf_id, occurrence.begin) for conf_id, occurrence, _ in entries}
        changed = [
            _busy(conf_id, occurrence)
            for conf_id, occurrence, revision in entries
            if revision > since_revision
        ]
        freed: dict[tuple[str, datetime], BusyInterval] = {}
        for tombstone in self.tombstones.get(uri, []):
            key = (tombstone.conf_id, tombstone.begin)
            if tombstone.revision <= since_revision or key in present:
                continue
            if not (tombstone.begin < end and begin < tombstone.begin + tombstone.span):
                continue
            freed[key] = BusyInterval(
                tombstone.begin,
                tombstone.span,
                FreeBusy.FREE,
                tombstone.conf_id,
                tombstone.conf_name,
            )
        return sorted([*changed, *freed.values()], key=lambda item: item.start)

    # -- conflicts and capacity --------------------------------------------------------------

    def check_bookable(
        self, conference: Conference, now: datetime, settings: SchedulerSettings
    ) -> None:
        """SITE_BUSY, CAPACITY_EXCEEDED or BAD_TIME for the occurrences not yet ended."""
        cp = conference.spec.cp_resource
        occurrences = conference.occurrences
        for earlier, later in zip(occurrences, occurrences[1:], strict=False):
            if later.begin < earlier.end:
                raise DomainError(
                    Fault.BAD_TIME, f"occurrences at {earlier.begin} and {later.begin} overlap"
                )
        others = [
            record.conference
            for conf_id, record in self.records.items()
            if conf_id != conference.conf_id and not record.conference.deleted
        ]
        for occurrence in occurrences:
            if occurrence.end <= now:
                continue
            check_alone(occurrence.sites, cp, settings)
            uris = {site.uri for site in occurrence.sites}
            overlapping: list[tuple[Conference, Occurrence]] = []
            for other in others:
                for _, other_occurrence in self._overlapping(
                    other.conf_id, occurrence.begin, occurrence.end
                ):
                    busy = uris & {site.uri for site in other_occurrence.sites}
                    if busy:
                        raise DomainError(
                            Fault.SITE_BUSY,
                            f"{', '.join(sorted(busy))} booked in conference {other.conf_id} "
                            f"at {other_occurrence.begin.isoformat()}",
                        )
                    overlapping.append((other, other_occurrence))
            check_capacity(occurrence, cp, overlapping, settings)

    def _overlapping(
        self, conf_id: str, begin: datetime, end: datetime
    ) -> Iterator[tuple[int, Occurrence]]:
        """(index, occurrence) of the conference's occurrences overlapping the window."""
        occurrences = self.records[conf_id].conference.occurrences
        ends = self._ends[conf_id]
        # Occurrences of one conference never overlap, so their ends are sorted like begins.
        for index in range(bisect_right(ends, begin), len(ends)):
            occurrence = occurrences[index]
            if occurrence.begin >= end:
                break
            yield index, occurrence

    def _entries(
        self, uri: str, begin: datetime, end: datetime
    ) -> Iterator[tuple[str, Occurrence, int]]:
        """(conf_id, occurrence, revision) of every busy entry of uri in the window."""
        for conf_id in sorted(self._conferences_by_uri.get(uri, ()), key=int):
            site_revisions = self.records[conf_id].site_revisions
            for index, occurrence in self._overlapping(conf_id, begin, end):
                revision = site_revisions[index].get(uri)
                if revision is not None:
                    yield conf_id, occurrence, revision


def revisions_and_tombstones(
    old: ConferenceRecord | None, new: Conference, revision: int
) -> tuple[list[dict[str, int]], list[Tombstone]]:
    """For `new` replacing `old` at `revision`: per occurrence and site, the revision its
    busy entry last changed at (kept when begin, length, name and site are unchanged),
    and a tombstone for every busy entry of `old` that is gone."""
    old_entries = _busy_entries(old) if old else {}
    site_revisions: list[dict[str, int]] = []
    new_keys: set[tuple[str, datetime]] = set()
    for occurrence in new.occurrences:
        revisions: dict[str, int] = {}
        if not new.deleted:
            for uri, site in _occupants(new, occurrence):
                key = (uri, occurrence.begin)
                new_keys.add(key)
                previous = old_entries.get(key)
                unchanged = previous is not None and previous[0] == (
                    occurrence.duration,
                    occurrence.name,
                    site,
                )
                revisions[uri] = previous[1] if previous and unchanged else revision
        site_revisions.append(revisions)
    tombstones = [
        Tombstone(uri, new.conf_id, name, begin, duration, revision)
        for (uri, begin), ((duration, name, _), _) in old_entries.items()
        if (uri, begin) not in new_keys
    ]
    return site_revisions, tombstones


def _by_id(record: ConferenceRecord) -> int:
    return int(record.conference.conf_id)


def _busy(conf_id: str, occurrence: Occurrence) -> BusyInterval:
    return BusyInterval(
        occurrence.begin, occurrence.duration, FreeBusy.BUSY, conf_id, occurrence.name
    )


def _busy_entries(record: ConferenceRecord) -> BusyEntries:
    if record.conference.deleted:
        return {}
    entries: BusyEntries = {}
    for occurrence, revisions in zip(
        record.conference.occurrences, record.site_revisions, strict=True
    ):
        for uri, site in _occupants(record.conference, occurrence):
            entries[(uri, occurrence.begin)] = (
                (occurrence.duration, occurrence.name, site),
                revisions[uri],
            )
    return entries


def _uris(conference: Conference) -> set[str]:
    """Every key the conference's occurrences make busy (sites, template)."""
    return {
        uri for occurrence in conference.occurrences for uri, _ in _occupants(conference, occurrence)
    }
