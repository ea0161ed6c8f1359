"""The conference scheduler: booking, recurrence, edits, prolongation, free/busy and the site
directory, persisted through Store and answered from an in-memory copy kept in step with it.

Every operation validates first, builds the new state aside, commits it in one SQLite
transaction and only then installs it in memory; a refused operation raises DomainError
and changes nothing (neither the database nor the revision counter).

Conference objects handed out are the scheduler's own cached instances (no copy per call,
because queryConferencesStatusEx is hot): callers must treat them as read-only. Every change
builds new objects, so a reference a caller holds keeps describing the state it was read in.

Decisions where the standard is silent:
- A begin time in the past is accepted as given (the eSDK examples book 2014 dates); the
  conference is then ongoing or ended at once. Sub-second parts of begin times are dropped
  (the eSDK answers 09:44:30.487 as 09:44:30.000), also when matching an occurrence_begin.
- Conflicts (SITE_BUSY) and capacity are checked for the occurrences of the booked
  conference that have not ended yet; history is not re-validated.
- Occurrences of one conference may not overlap each other (BAD_TIME).
- Capacity is the peak of concurrent use within each occurrence, not a plain sum of
  everything touching it: two other conferences that overlap it but not each other do
  not add up.
- edit() on a recurring conference edits the whole series with its current rule. A
  single-occurrence edit (edit_recurrence with occurrence_begin) changes that occurrence's
  name, begin, duration and sites only; the rule argument is then not used.
- Series edits keep past and ongoing occurrences as they are and replace every future one
  by the new rule expanded from spec.begin (per-occurrence edits of future ones are lost).
- An ongoing occurrence cannot be moved: its begin must stay and its end must stay after now.
- prolong without occurrence_begin prolongs every occurrence that has not ended.
- add_site/remove_site without occurrence_begin act on every occurrence that has not ended
  and on the conference's site list; adding fails only when every target has the site
  already, removing only when none has it.
- delete: a scheduled or ended occurrence is removed, an ongoing one ends now. A whole
  conference with an ongoing occurrence ends now (future occurrences removed, history kept,
  state ENDED); otherwise it is deleted. A conference left without occurrences is deleted.
- Passwords not given on an edit keep their old value; an access code not given keeps the
  old one. Access codes are allocated sequentially (persisted counter) from 10..0 of
  access_code_digits digits, skipping codes held by live conferences.
- free_busy returns each busy interval whole (not clipped to the window), as the eSDK
  example does. A site is known when it is in the directory or in any non-deleted
  conference.
- changes(): a busy entry (site x occurrence) counts as changed when its begin, length,
  name or site parameters changed; an entry that disappeared leaves a FREE tombstone. A
  tombstone superseded by a current entry with the same site, conference and begin is not
  reported. Directory edits also advance the revision. A tombstone is kept until the
  interval it freed has been over for the retention (30 days by default), then pruned, at
  start and at most hourly when new tombstones are written.
"""

from __future__ import annotations

import re
import secrets
import threading
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mcu import recurrence
from mcu.clock import Clock
from mcu.errors import DomainError, Fault
from mcu.model import (
    ALLOWED_CP_RESOURCES,
    BusyInterval,
    Conference,
    ConferenceSpec,
    ConferenceState,
    DirectorySite,
    FreeBusy,
    Occurrence,
    RecurrenceRule,
    SiteSpec,
)
from mcu.store import ConferenceRecord, Store, Tombstone

FIRST_CONF_ID = 1001
PASSWORD_DIGITS = 6
MAX_ACCESS_CODE_LENGTH = 32

_DIGITS = re.compile(r"^[0-9]+$")

REVISION = "revision"
NEXT_CONF_ID = "next_conf_id"
NEXT_ACCESS_CODE = "next_access_code"


PRUNE_EVERY = timedelta(hours=1)  # at most this often on new tombstones, and at start


@dataclass
class SchedulerSettings:
    max_ports: int = 64  # site ports of the MCU: concurrent sites may not exceed
    max_cp_resources: int = 64  # concurrent cpResouce may not exceed
    default_duration: timedelta = timedelta(hours=2)
    access_code_digits: int = 8  # numeric access codes, unique among live conferences
    # A FREE tombstone is dropped this long after the interval it freed ended: synch windows
    # look at what is coming, and the table no longer grows for ever.
    tombstone_retention: timedelta = timedelta(days=30)


def _truncate(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _require_aware(moment: datetime | None, what: str) -> datetime:
    if moment is None:
        raise DomainError(Fault.MISSING_PARAMETER, what)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DomainError(Fault.BAD_TIME, f"{what} needs a UTC offset")
    return moment


def _overlaps(a: Occurrence, begin: datetime, end: datetime) -> bool:
    return a.begin < end and begin < a.end


def _copy_occurrence(occurrence: Occurrence) -> Occurrence:
    return replace(occurrence, sites=list(occurrence.sites))


class Scheduler:
    def __init__(
        self, store: Store, clock: Clock, settings: SchedulerSettings | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings or SchedulerSettings()
        self._lock = threading.RLock()
        loaded = store.load()
        self._revision = loaded.counters.get(REVISION, 0)
        self._next_conf_id = loaded.counters.get(NEXT_CONF_ID, FIRST_CONF_ID)
        self._next_access_code = loaded.counters.get(NEXT_ACCESS_CODE, 0)
        self._records: dict[str, ConferenceRecord] = {}
        self._ends: dict[str, list[datetime]] = {}  # per conference, occurrence ends in order
        self._conferences_by_uri: dict[str, set[str]] = {}
        self._listing: list[Conference] | None = None
        for record in loaded.conferences:
            self._install(record)
        self._directory: dict[str, DirectorySite] = {site.uri: site for site in loaded.directory}
        self._tombstones: dict[str, list[Tombstone]] = {}
        for tombstone in loaded.tombstones:
            self._tombstones.setdefault(tombstone.uri, []).append(tombstone)
        self._pruned_at: datetime | None = None
        self.prune_tombstones()

    def prune_tombstones(self) -> int:
        """Drop the tombstones whose freed interval ended more than the retention ago (in
        the store and in memory, in one transaction); how many went."""
        with self._lock:
            now = self._clock.now()
            cutoff = now - self._settings.tombstone_retention
            expired = [t for kept in self._tombstones.values() for t in kept
                       if t.begin + t.span < cutoff]
            if expired:
                with self._store.transaction() as tx:
                    for tombstone in expired:
                        tx.delete_tombstone(tombstone)
                gone = {id(t) for t in expired}
                for uri in list(self._tombstones):
                    kept = [t for t in self._tombstones[uri] if id(t) not in gone]
                    if kept:
                        self._tombstones[uri] = kept
                    else:
                        del self._tombstones[uri]
            self._pruned_at = now
            return len(expired)

    # -- queries -------------------------------------------------------------------------

    def revision(self) -> int:
        return self._revision

    def get(self, conf_id: str) -> Conference:
        with self._lock:
            return self._live_record(conf_id).conference

    def conferences(self) -> list[Conference]:
        with self._lock:
            if self._listing is None:
                self._listing = [
                    record.conference
                    for record in sorted(self._records.values(), key=_by_id)
                    if not record.conference.deleted
                ]
            return list(self._listing)

    def state(self, conf_id: str) -> tuple[ConferenceState, Occurrence]:
        with self._lock:
            conference = self._live_record(conf_id).conference
            return _state_at(conference, self._clock.now())

    def ongoing(self) -> list[tuple[Conference, Occurrence]]:
        now = self._clock.now()
        running = []
        for conference in self.conferences():
            state, occurrence = _state_at(conference, now)
            if state is ConferenceState.ONGOING:
                running.append((conference, occurrence))
        return running

    def free_busy(
        self, uris: list[str], begin: datetime, duration: timedelta
    ) -> dict[str, list[BusyInterval]]:
        """Per URI, every booked occurrence overlapping the window, whole (not clipped)."""
        window_begin, window_end = self._window(begin, duration)
        with self._lock:
            answer: dict[str, list[BusyInterval]] = {}
            for uri in uris:
                if not self._is_known(uri):
                    answer[uri] = [BusyInterval(begin, duration, FreeBusy.UNKNOWN_SITE)]
                    continue
                answer[uri] = sorted(
                    (
                        _busy(conf_id, occurrence)
                        for conf_id, occurrence, _ in self._entries(uri, window_begin, window_end)
                    ),
                    key=lambda interval: interval.start,
                )
            return answer

    def changes(
        self, uris: list[str], begin: datetime, duration: timedelta, since_revision: int
    ) -> dict[str, list[BusyInterval]]:
        """What changed in the window after since_revision: changed busy entries (BUSY) and
        disappeared ones (FREE with the conference id). Unknown sites get UNKNOWN_SITE."""
        window_begin, window_end = self._window(begin, duration)
        with self._lock:
            answer: dict[str, list[BusyInterval]] = {}
            for uri in uris:
                tombstones = self._tombstones.get(uri, [])
                if not self._is_known(uri) and not tombstones:
                    answer[uri] = [BusyInterval(begin, duration, FreeBusy.UNKNOWN_SITE)]
                    continue
                entries = list(self._entries(uri, window_begin, window_end))
                present = {(conf_id, occurrence.begin) for conf_id, occurrence, _ in entries}
                changed = [
                    _busy(conf_id, occurrence)
                    for conf_id, occurrence, revision in entries
                    if revision > since_revision
                ]
                freed: dict[tuple[str, datetime], BusyInterval] = {}
                for tombstone in tombstones:
                    key = (tombstone.conf_id, tombstone.begin)
                    if tombstone.revision <= since_revision or key in present:
                        continue
                    if not (
                        tombstone.begin < window_end
                        and window_begin < tombstone.begin + tombstone.span
                    ):
                        continue
                    freed[key] = BusyInterval(
                        tombstone.begin,
                        tombstone.span,
                        FreeBusy.FREE,
                        tombstone.conf_id,
                        tombstone.conf_name,
                    )
                answer[uri] = sorted([*changed, *freed.values()], key=lambda item: item.start)
            return answer

    # -- booking ---------------------------------------------------------------------------

    def schedule(self, spec: ConferenceSpec) -> Conference:
        with self._lock:
            spec = self._normalized_spec(spec, previous=None)
            occurrence = Occurrence(spec.begin, spec.duration, list(spec.sites), spec.name)
            return self._create(spec, None, [occurrence])

    def schedule_recurrence(self, spec: ConferenceSpec, rule: RecurrenceRule) -> Conference:
        with self._lock:
            spec = self._normalized_spec(spec, previous=None)
            rule = _copy_rule(rule)
            occurrences = [
                Occurrence(begin, spec.duration, list(spec.sites), spec.name)
                for begin in recurrence.expand(rule, spec.begin)
            ]
            return self._create(spec, rule, occurrences)

    def edit(self, conf_id: str, spec: ConferenceSpec) -> Conference:
        with self._lock:
            conference = self._live_record(conf_id).conference
            if conference.recurrence is not None:
                return self.edit_recurrence(conf_id, spec, conference.recurrence)
            now = self._clock.now()
            state, current = _state_at(conference, now)
            if state is ConferenceState.ENDED:
                raise DomainError(Fault.CONFERENCE_ENDED, conf_id)
            spec = self._normalized_spec(spec, previous=conference)
            edited = Occurrence(spec.begin, spec.duration, list(spec.sites), spec.name)
            if state is ConferenceState.ONGOING:
                _check_running_edit(current, edited, now)
            updated = self._with(conference, spec=spec, occurrences=[edited])
            return self._update(conference, updated)

    def edit_recurrence(
        self,
        conf_id: str,
        spec: ConferenceSpec,
        rule: RecurrenceRule,
        occurrence_begin: datetime | None = None,
    ) -> Conference:
        with self._lock:
            conference = self._live_record(conf_id).conference
            now = self._clock.now()
            if occurrence_begin is not None:
                return self._edit_one_occurrence(conference, spec, occurrence_begin, now)
            if _state_at(conference, now)[0] is ConferenceState.ENDED:
                raise DomainError(Fault.CONFERENCE_ENDED, conf_id)
            spec = self._normalized_spec(spec, previous=conference)
            rule = _copy_rule(rule)
            kept = [_copy_occurrence(o) for o in conference.occurrences if o.begin <= now]
            future = [
                Occurrence(begin, spec.duration, list(spec.sites), spec.name)
                for begin in recurrence.expand(rule, spec.begin)
                if begin > now
            ]
            if not future and not any(o.end > now for o in kept):
                raise DomainError(Fault.BAD_RECURRENCE, "the new rule leaves no future occurrence")
            updated = self._with(conference, spec=spec, recurrence=rule, occurrences=kept + future)
            return self._update(conference, updated)

    def prolong(
        self, conf_id: str, by: timedelta, occurrence_begin: datetime | None = None
    ) -> Conference:
        with self._lock:
            if by is None or by <= timedelta(0):
                raise DomainError(Fault.BAD_TIME, "prolongation must be positive")
            conference = self._live_record(conf_id).conference
            now = self._clock.now()
            targets = self._targets(conference, occurrence_begin, now)
            occurrences = [
                replace(o, duration=o.duration + by) if index in targets else _copy_occurrence(o)
                for index, o in enumerate(conference.occurrences)
            ]
            return self._update(conference, self._with(conference, occurrences=occurrences))

    def delete(self, conf_id: str, occurrence_begin: datetime | None = None) -> None:
        with self._lock:
            conference = self._live_record(conf_id).conference
            now = self._clock.now()
            if occurrence_begin is not None:
                index = self._occurrence_index(conference, occurrence_begin)
                occurrences = [_copy_occurrence(o) for o in conference.occurrences]
                target = occurrences[index]
                if target.begin < now < target.end:
                    occurrences[index] = replace(target, duration=now - target.begin)
                else:
                    del occurrences[index]
            elif _state_at(conference, now)[0] is ConferenceState.ONGOING:
                occurrences = []
                for occurrence in conference.occurrences:
                    if occurrence.end <= now:
                        occurrences.append(_copy_occurrence(occurrence))
                    elif occurrence.begin < now:
                        occurrences.append(replace(occurrence, duration=now - occurrence.begin))
            else:
                # Deleted conferences keep their occurrences as a record of what was booked.
                occurrences = [_copy_occurrence(o) for o in conference.occurrences]
                updated = self._with(conference, occurrences=occurrences, deleted=True)
                self._update(conference, updated, check=False)
                return
            updated = self._with(conference, occurrences=occurrences, deleted=not occurrences)
            self._update(conference, updated, check=False)

    def add_site(
        self, conf_id: str, site: SiteSpec, occurrence_begin: datetime | None = None
    ) -> Conference:
        with self._lock:
            _validate_site(site)
            conference = self._live_record(conf_id).conference
            targets = self._targets(conference, occurrence_begin, self._clock.now())
            occurrences = [_copy_occurrence(o) for o in conference.occurrences]
            lacking = [i for i in targets if not _has_site(occurrences[i].sites, site.uri)]
            if not lacking:
                raise DomainError(Fault.SITE_ALREADY_IN_CONFERENCE, site.uri)
            for index in lacking:
                occurrences[index].sites.append(site)
            spec = conference.spec
            if occurrence_begin is None and not _has_site(spec.sites, site.uri):
                spec = replace(spec, sites=[*spec.sites, site])
            updated = self._with(conference, spec=spec, occurrences=occurrences)
            return self._update(conference, updated)

    def remove_site(
        self, conf_id: str, uri: str, occurrence_begin: datetime | None = None
    ) -> Conference:
        with self._lock:
            conference = self._live_record(conf_id).conference
            targets = self._targets(conference, occurrence_begin, self._clock.now())
            occurrences = [_copy_occurrence(o) for o in conference.occurrences]
            holding = [i for i in targets if _has_site(occurrences[i].sites, uri)]
            if not holding:
                raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, uri)
            for index in holding:
                occurrences[index].sites = [s for s in occurrences[index].sites if s.uri != uri]
            spec = conference.spec
            if occurrence_begin is None:
                spec = replace(spec, sites=[s for s in spec.sites if s.uri != uri])
            updated = self._with(conference, spec=spec, occurrences=occurrences)
            return self._update(conference, updated, check=False)

    # -- the site directory ----------------------------------------------------------------

    def directory(self) -> list[DirectorySite]:
        with self._lock:
            return [self._directory[uri] for uri in sorted(self._directory)]

    def directory_site(self, uri: str) -> DirectorySite:
        with self._lock:
            site = self._directory.get(uri)
            if site is None:
                raise DomainError(Fault.SITE_NOT_FOUND, uri)
            return site

    def add_directory_site(self, site: DirectorySite) -> None:
        with self._lock:
            _validate_directory_site(site)
            if site.uri in self._directory:
                raise DomainError(Fault.SITE_EXISTS, site.uri)
            self._put_directory_site(replace(site))

    def edit_directory_site(self, site: DirectorySite) -> None:
        with self._lock:
            _validate_directory_site(site)
            if site.uri not in self._directory:
                raise DomainError(Fault.SITE_NOT_FOUND, site.uri)
            self._put_directory_site(replace(site))

    def delete_directory_site(self, uri: str) -> None:
        self.delete_directory_sites([uri])

    def delete_directory_sites(self, uris: Sequence[str]) -> None:
        """Every one or none (an unknown URI refuses all), in one transaction."""
        with self._lock:
            uris = list(dict.fromkeys(uris))
            for uri in uris:
                if uri not in self._directory:
                    raise DomainError(Fault.SITE_NOT_FOUND, uri)
            revision = self._revision + 1
            with self._store.transaction() as tx:
                for uri in uris:
                    tx.delete_directory_site(uri)
                tx.set_counter(REVISION, revision)
            for uri in uris:
                del self._directory[uri]
            self._revision = revision

    def _put_directory_site(self, site: DirectorySite) -> None:
        revision = self._revision + 1
        with self._store.transaction() as tx:
            tx.put_directory_site(site)
            tx.set_counter(REVISION, revision)
        self._directory[site.uri] = site
        self._revision = revision

    # -- internals: validation -------------------------------------------------------------

    def _normalized_spec(self, spec: ConferenceSpec, previous: Conference | None) -> ConferenceSpec:
        if not spec.name or not spec.name.strip():
            raise DomainError(Fault.MISSING_PARAMETER, "name")
        begin = _truncate(_require_aware(spec.begin, "beginTime"))
        duration = spec.duration if spec.duration is not None else self._settings.default_duration
        if duration <= timedelta(0):
            raise DomainError(Fault.BAD_TIME, "duration must be positive")
        if spec.cp_resource not in ALLOWED_CP_RESOURCES:
            raise DomainError(Fault.BAD_CP_RESOURCE, str(spec.cp_resource))
        _validate_sites(spec.sites)
        password = _password(spec.password, previous.password if previous else None)
        chairman = _password(
            spec.chairman_password, previous.chairman_password if previous else None
        )
        access_code = spec.access_code or None
        if access_code is not None:
            if not _DIGITS.match(access_code) or len(access_code) > MAX_ACCESS_CODE_LENGTH:
                raise DomainError(Fault.OUT_OF_RANGE, f"access code {access_code!r} not numeric")
            owner = previous.conf_id if previous else None
            if access_code in self._live_access_codes(exclude=owner):
                raise DomainError(Fault.ACCESS_CODE_CONFLICT, access_code)
        elif previous is not None:
            access_code = previous.access_code
        return replace(
            spec,
            begin=begin,
            duration=duration,
            sites=list(spec.sites),
            password=password,
            chairman_password=chairman,
            access_code=access_code,
        )

    def _check_bookable(self, conference: Conference) -> None:
        """SITE_BUSY, CAPACITY_EXCEEDED or BAD_TIME for the occurrences not yet ended."""
        now = self._clock.now()
        settings = self._settings
        cp = conference.spec.cp_resource
        occurrences = conference.occurrences
        for earlier, later in zip(occurrences, occurrences[1:], strict=False):
            if later.begin < earlier.end:
                raise DomainError(
                    Fault.BAD_TIME, f"occurrences at {earlier.begin} and {later.begin} overlap"
                )
        others = [
            record.conference
            for conf_id, record in self._records.items()
            if conf_id != conference.conf_id and not record.conference.deleted
        ]
        for occurrence in occurrences:
            if occurrence.end <= now:
                continue
            if len(occurrence.sites) > settings.max_ports or cp > settings.max_cp_resources:
                raise DomainError(Fault.CAPACITY_EXCEEDED, "the conference alone exceeds the MCU")
            uris = {site.uri for site in occurrence.sites}
            overlapping: list[tuple[Conference, Occurrence]] = []
            for other in others:
                for other_occurrence in self._overlapping(other, occurrence.begin, occurrence.end):
                    busy = uris & {site.uri for site in other_occurrence.sites}
                    if busy:
                        raise DomainError(
                            Fault.SITE_BUSY,
                            f"{', '.join(sorted(busy))} booked in conference {other.conf_id} "
                            f"at {other_occurrence.begin.isoformat()}",
                        )
                    overlapping.append((other, other_occurrence))
            _check_capacity(occurrence, cp, overlapping, settings)

    def _live_access_codes(self, exclude: str | None) -> set[str]:
        now = self._clock.now()
        return {
            record.conference.access_code
            for conf_id, record in self._records.items()
            if conf_id != exclude
            and not record.conference.deleted
            and _state_at(record.conference, now)[0] is not ConferenceState.ENDED
        }

    def _live_record(self, conf_id: str) -> ConferenceRecord:
        record = self._records.get(conf_id)
        if record is None or record.conference.deleted:
            raise DomainError(Fault.CONFERENCE_NOT_FOUND, conf_id)
        return record

    def _occurrence_index(self, conference: Conference, begin: datetime) -> int:
        wanted = _truncate(_require_aware(begin, "beginTime"))
        for index, occurrence in enumerate(conference.occurrences):
            if occurrence.begin == wanted:
                return index
        raise DomainError(
            Fault.OCCURRENCE_NOT_FOUND, f"{conference.conf_id} has none at {wanted.isoformat()}"
        )

    def _targets(
        self, conference: Conference, occurrence_begin: datetime | None, now: datetime
    ) -> set[int]:
        """The occurrences an operation acts on: the one named, or all not yet ended."""
        if occurrence_begin is not None:
            index = self._occurrence_index(conference, occurrence_begin)
            if conference.occurrences[index].end <= now:
                raise DomainError(Fault.CONFERENCE_ENDED, f"occurrence at {occurrence_begin}")
            return {index}
        targets = {i for i, o in enumerate(conference.occurrences) if o.end > now}
        if not targets:
            raise DomainError(Fault.CONFERENCE_ENDED, conference.conf_id)
        return targets

    def _edit_one_occurrence(
        self,
        conference: Conference,
        spec: ConferenceSpec,
        occurrence_begin: datetime,
        now: datetime,
    ) -> Conference:
        index = self._occurrence_index(conference, occurrence_begin)
        current = conference.occurrences[index]
        if current.end <= now:
            raise DomainError(Fault.CONFERENCE_ENDED, f"occurrence at {occurrence_begin}")
        if not spec.name or not spec.name.strip():
            raise DomainError(Fault.MISSING_PARAMETER, "name")
        begin = _truncate(_require_aware(spec.begin or current.begin, "beginTime"))
        duration = spec.duration if spec.duration is not None else current.duration
        if duration <= timedelta(0):
            raise DomainError(Fault.BAD_TIME, "duration must be positive")
        _validate_sites(spec.sites)
        edited = Occurrence(begin, duration, list(spec.sites), spec.name)
        if current.begin <= now:
            _check_running_edit(current, edited, now)
        occurrences = [_copy_occurrence(o) for o in conference.occurrences]
        occurrences[index] = edited
        occurrences.sort(key=lambda o: o.begin)
        return self._update(conference, self._with(conference, occurrences=occurrences))

    def _window(self, begin: datetime, duration: timedelta) -> tuple[datetime, datetime]:
        begin = _require_aware(begin, "beginTime")
        if duration is None or duration <= timedelta(0):
            raise DomainError(Fault.BAD_TIME, "duration must be positive")
        try:
            return begin, begin + duration
        except OverflowError:
            raise DomainError(Fault.BAD_TIME, "the window ends after the year 9999") from None

    def _is_known(self, uri: str) -> bool:
        return uri in self._directory or bool(self._conferences_by_uri.get(uri))

    def _overlapping(
        self, conference: Conference, begin: datetime, end: datetime
    ) -> list[Occurrence]:
        ends = self._ends[conference.conf_id]
        found = []
        # Occurrences of one conference never overlap, so their ends are sorted like begins.
        for index in range(bisect_right(ends, begin), len(ends)):
            occurrence = conference.occurrences[index]
            if occurrence.begin >= end:
                break
            found.append(occurrence)
        return found

    def _entries(self, uri: str, begin: datetime, end: datetime):
        """(conf_id, occurrence, revision) of every busy entry of uri in the window."""
        for conf_id in sorted(self._conferences_by_uri.get(uri, ()), key=int):
            record = self._records[conf_id]
            conference = record.conference
            ends = self._ends[conf_id]
            for index in range(bisect_right(ends, begin), len(ends)):
                occurrence = conference.occurrences[index]
                if occurrence.begin >= end:
                    break
                revision = record.site_revisions[index].get(uri)
                if revision is not None:
                    yield conf_id, occurrence, revision

    # -- internals: committing -------------------------------------------------------------

    def _create(
        self, spec: ConferenceSpec, rule: RecurrenceRule | None, occurrences: list[Occurrence]
    ) -> Conference:
        counters: dict[str, int] = {}
        conf_id = self._allocate_conf_id(counters)
        access_code = spec.access_code or self._allocate_access_code(counters)
        spec = replace(spec, access_code=access_code)
        conference = Conference(
            conf_id=conf_id,
            spec=spec,
            access_code=access_code,
            password=spec.password or "",
            chairman_password=spec.chairman_password or "",
            recurrence=rule,
            occurrences=sorted(occurrences, key=lambda o: o.begin),
        )
        self._check_bookable(conference)
        return self._commit(None, conference, counters)

    def _update(self, old: Conference, new: Conference, check: bool = True) -> Conference:
        if check:
            self._check_bookable(new)
        return self._commit(self._records[old.conf_id], new, {})

    def _with(self, conference: Conference, **changes) -> Conference:
        if "spec" in changes:
            spec = changes["spec"]
            changes.setdefault("access_code", spec.access_code)
            changes.setdefault("password", spec.password)
            changes.setdefault("chairman_password", spec.chairman_password)
        return replace(conference, **changes)

    def _commit(
        self, old: ConferenceRecord | None, new: Conference, counters: dict[str, int]
    ) -> Conference:
        revision = self._revision + 1
        old_entries = _busy_entries(old) if old else {}
        site_revisions: list[dict[str, int]] = []
        new_keys: set[tuple[str, datetime]] = set()
        for occurrence in new.occurrences:
            revisions: dict[str, int] = {}
            if not new.deleted:
                for site in occurrence.sites:
                    key = (site.uri, occurrence.begin)
                    new_keys.add(key)
                    previous = old_entries.get(key)
                    unchanged = previous is not None and previous[0] == (
                        occurrence.duration,
                        occurrence.name,
                        site,
                    )
                    revisions[site.uri] = previous[1] if unchanged else revision
            site_revisions.append(revisions)
        tombstones = [
            Tombstone(uri, new.conf_id, name, begin, duration, revision)
            for (uri, begin), ((duration, name, _), _) in old_entries.items()
            if (uri, begin) not in new_keys
        ]
        record = ConferenceRecord(new, site_revisions)
        with self._store.transaction() as tx:
            tx.put_conference(record)
            for tombstone in tombstones:
                tx.add_tombstone(tombstone)
            for name, value in counters.items():
                tx.set_counter(name, value)
            tx.set_counter(REVISION, revision)
        # Committed: now the memory copy follows.
        self._revision = revision
        self._next_conf_id = counters.get(NEXT_CONF_ID, self._next_conf_id)
        self._next_access_code = counters.get(NEXT_ACCESS_CODE, self._next_access_code)
        for tombstone in tombstones:
            self._tombstones.setdefault(tombstone.uri, []).append(tombstone)
        self._install(record)
        if tombstones and (self._pruned_at is None
                           or self._clock.now() - self._pruned_at > PRUNE_EVERY):
            self.prune_tombstones()
        return new

    def _install(self, record: ConferenceRecord) -> None:
        conference = record.conference
        previous = self._records.get(conference.conf_id)
        if previous is not None:
            for uri in _uris(previous.conference):
                self._conferences_by_uri.get(uri, set()).discard(conference.conf_id)
        self._records[conference.conf_id] = record
        self._ends[conference.conf_id] = [o.end for o in conference.occurrences]
        if not conference.deleted:
            for uri in _uris(conference):
                self._conferences_by_uri.setdefault(uri, set()).add(conference.conf_id)
        self._listing = None

    def _allocate_conf_id(self, counters: dict[str, int]) -> str:
        number = self._next_conf_id
        while str(number) in self._records:
            number += 1
        counters[NEXT_CONF_ID] = number + 1
        return str(number)

    def _allocate_access_code(self, counters: dict[str, int]) -> str:
        digits = self._settings.access_code_digits
        space = 9 * 10 ** (digits - 1)  # codes without a leading zero
        taken = self._live_access_codes(exclude=None)
        step = self._next_access_code
        for _ in range(space):
            code = str(10 ** (digits - 1) + step % space)
            step += 1
            if code not in taken:
                counters[NEXT_ACCESS_CODE] = step
                return code
        raise DomainError(Fault.CAPACITY_EXCEEDED, "no free access code")


# -- helpers ---------------------------------------------------------------------------------


def _by_id(record: ConferenceRecord) -> int:
    return int(record.conference.conf_id)


def _state_at(conference: Conference, now: datetime) -> tuple[ConferenceState, Occurrence]:
    occurrences = conference.occurrences
    index = bisect_right(occurrences, now, key=lambda o: o.begin) - 1
    if index >= 0 and now < occurrences[index].end:
        return ConferenceState.ONGOING, occurrences[index]
    if index + 1 < len(occurrences):
        return ConferenceState.SCHEDULED, occurrences[index + 1]
    return ConferenceState.ENDED, occurrences[-1]


def _busy(conf_id: str, occurrence: Occurrence) -> BusyInterval:
    return BusyInterval(
        occurrence.begin, occurrence.duration, FreeBusy.BUSY, conf_id, occurrence.name
    )


def _busy_entries(
    record: ConferenceRecord,
) -> dict[tuple[str, datetime], tuple[tuple[timedelta, str, SiteSpec], int]]:
    """(uri, begin) -> ((duration, name, site), revision) of a stored conference."""
    if record.conference.deleted:
        return {}
    entries = {}
    for occurrence, revisions in zip(
        record.conference.occurrences, record.site_revisions, strict=True
    ):
        for site in occurrence.sites:
            entries[(site.uri, occurrence.begin)] = (
                (occurrence.duration, occurrence.name, site),
                revisions[site.uri],
            )
    return entries


def _uris(conference: Conference) -> set[str]:
    return {site.uri for occurrence in conference.occurrences for site in occurrence.sites}


def _has_site(sites: list[SiteSpec], uri: str) -> bool:
    return any(site.uri == uri for site in sites)


def _validate_sites(sites: list[SiteSpec]) -> None:
    """Each site valid, and none listed twice."""
    seen: set[str] = set()
    for site in sites:
        _validate_site(site)
        if site.uri in seen:
            raise DomainError(Fault.SITE_ALREADY_IN_CONFERENCE, f"{site.uri} listed twice")
        seen.add(site.uri)


def _validate_site(site: SiteSpec) -> None:
    if site is None or not site.uri or not site.uri.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "site uri")


def _validate_directory_site(site: DirectorySite) -> None:
    if not site.uri or not site.uri.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "site uri")
    if not site.name or not site.name.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "site name")


def _password(given: str | None, previous: str | None) -> str:
    if given:
        if len(given) != PASSWORD_DIGITS or not _DIGITS.match(given):
            raise DomainError(Fault.BAD_PASSWORD, "a password is exactly 6 digits")
        return given
    if previous is not None:
        return previous
    return f"{secrets.randbelow(10**PASSWORD_DIGITS):0{PASSWORD_DIGITS}d}"


def _copy_rule(rule: RecurrenceRule) -> RecurrenceRule:
    if rule is None:
        raise DomainError(Fault.MISSING_PARAMETER, "recurrence rule")
    return replace(rule, week_days=list(rule.week_days))


def _check_running_edit(current: Occurrence, edited: Occurrence, now: datetime) -> None:
    if edited.begin != current.begin:
        raise DomainError(Fault.BAD_TIME, "an ongoing conference cannot move its begin")
    if edited.end <= now:
        raise DomainError(Fault.BAD_TIME, "an ongoing conference cannot end in the past")


def _check_capacity(
    occurrence: Occurrence,
    cp: int,
    overlapping: list[tuple[Conference, Occurrence]],
    settings: SchedulerSettings,
) -> None:
    """The peak of concurrent ports and CP resources within the occurrence must fit."""
    moments = [occurrence.begin] + [o.begin for _, o in overlapping if o.begin > occurrence.begin]
    for moment in moments:
        ports = len(occurrence.sites)
        resources = cp
        for other, other_occurrence in overlapping:
            if other_occurrence.begin <= moment < other_occurrence.end:
                ports += len(other_occurrence.sites)
                resources += other.spec.cp_resource
        if ports > settings.max_ports:
            raise DomainError(
                Fault.CAPACITY_EXCEEDED, f"{ports} site ports needed at {moment.isoformat()}"
            )
        if resources > settings.max_cp_resources:
            raise DomainError(
                Fault.CAPACITY_EXCEEDED, f"{resources} CP resources needed at {moment.isoformat()}"
            )
