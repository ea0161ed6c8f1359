"""The conference scheduler: booking, recurrence, edits, prolongation, free/busy and the site
directory, persisted through a store (mcu/store_api.py: SQLite by default, or PostgreSQL
shared by several gateways) and answered from an in-memory copy kept in step with it
(mcu/free_busy.py BookingIndex). When other processes write the store too, each operation
and query first compares the stored revision counter with its own and, when another process
moved it, catches up: reads the conferences and tombstones written after its own revision
(each conference row carries the revision it last changed at) and the directory. The checks a booking must pass are in mcu/booking_rules.py,
the occurrence lists of a series and of each edit in mcu/series.py.

Every operation validates first, builds the new state aside, commits it in one store
transaction (exclusive across processes) and only then installs it in memory; a refused
operation raises DomainError and changes nothing (neither the database nor the revision
counter).

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
  old one. A new conference's access code is drawn at random (mcu/booking_rules.py,
  draw_access_code) among the access_code_digits-digit codes that no live or scheduled
  conference holds and no ad-hoc template reserves.
- free_busy returns each busy interval whole (not clipped to the window), as the eSDK
  example does. A site is known when it is in the directory or in any non-deleted
  conference.
- changes(): a busy entry (site x occurrence) counts as changed when its begin, length,
  name or site parameters changed; an entry that disappeared leaves a FREE tombstone. A
  tombstone superseded by a current entry with the same site, conference and begin is not
  reported. Directory edits also advance the revision. A tombstone is kept until the
  interval it freed has been over for the retention (30 days by default), then pruned, at
  start and at most hourly when new tombstones are written.
- Ad-hoc templates (mcu/adhoc.py): schedule_adhoc books a conference carrying its
  template's (reserved) access code; template_free_busy/template_changes answer a
  template's busy entries like a site's (mcu/free_busy.py template_key).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from mcu import series
from mcu.booking_rules import (
    SchedulerSettings,
    check_running_edit,
    copy_rule,
    draw_access_code,
    first_free_number,
    normalized_spec,
    require_positive,
    validate_directory_site,
    validate_site,
    window,
)
from mcu.clock import Clock
from mcu.errors import DomainError, Fault
from mcu.free_busy import BookingIndex, is_template_key, revisions_and_tombstones, template_key
from mcu.model import (
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
from mcu.store_api import SchedulerStore, StoreTransaction
from mcu.store_documents import ConferenceRecord, StoredState

__all__ = ["Scheduler", "SchedulerSettings"]

FIRST_CONF_ID = 1001

REVISION = "revision"
NEXT_CONF_ID = "next_conf_id"


PRUNE_EVERY = timedelta(hours=1)  # at most this often on new tombstones, and at start


class Scheduler:
    def __init__(
        self, store: SchedulerStore, clock: Clock, settings: SchedulerSettings | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings or SchedulerSettings()
        self._lock = threading.RLock()
        # the open transaction of the operation running (under _lock), and what the memory
        # copy does once it has committed
        self._tx: StoreTransaction | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._revision = 0
        self._next_conf_id = FIRST_CONF_ID
        self._index = BookingIndex()
        self._directory: dict[str, DirectorySite] = {}
        self._install(store.load())
        self._pruned_at: datetime | None = None
        self.prune_tombstones()
        # a change to a booked conference must also fit where it runs now: set when
        # conferences run on media nodes (mcu/nodes/node_room.py); raises DomainError
        self.live_room: Callable[[Conference, datetime], None] | None = None

    def _catch_up(self, stored_revision: int,
                  source: SchedulerStore | StoreTransaction) -> None:
        """Bring the memory copy to the stored revision another process moved: read what
        changed after ours (conferences and tombstones written since, the directory whole)."""
        if stored_revision == self._revision:
            return
        if stored_revision < self._revision:  # the store was replaced under us: start over
            self._install(source.load())
            return
        changed = source.load_since(self._revision)
        self._revision = changed.counters.get(REVISION, 0)
        self._next_conf_id = changed.counters.get(NEXT_CONF_ID, FIRST_CONF_ID)
        for record in changed.conferences:
            self._index.install(record)
        self._directory = {site.uri: site for site in changed.directory}
        self._index.add_tombstones(changed.tombstones)

    def _install(self, loaded: StoredState) -> None:
        """Replace the memory copy by the stored state."""
        self._revision = loaded.counters.get(REVISION, 0)
        self._next_conf_id = loaded.counters.get(NEXT_CONF_ID, FIRST_CONF_ID)
        self._index = BookingIndex()
        for record in loaded.conferences:
            self._index.install(record)
        self._directory = {site.uri: site for site in loaded.directory}
        self._index.add_tombstones(loaded.tombstones)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Under the lock, with the memory copy brought up to date first when other
        processes write the store too (its revision counter moved: _catch_up)."""
        with self._lock:
            if self._tx is None and self._store.shared:
                self._catch_up(self._store.counter(REVISION) or 0, self._store)
            yield

    @contextmanager
    def _writing(self) -> Iterator[StoreTransaction]:
        """One scheduler operation: under the lock and in one store transaction (exclusive
        across processes), on the stored state (caught up first when another process moved
        the revision). The memory copy follows only once the transaction has committed; an
        exception rolls back the store and leaves the memory copy as it was."""
        with self._lock:
            if self._tx is not None:  # an operation calling another one: the same transaction
                yield self._tx
                return
            try:
                with self._store.transaction() as tx:
                    self._catch_up(tx.counter(REVISION) or 0, tx)
                    self._tx = tx
                    yield tx
                    self._tx = None
            finally:
                self._tx = None
                pending, self._after_commit = self._after_commit, []
            for action in pending:  # reached only when the transaction committed
                action()

    def prune_tombstones(self) -> int:
        """Drop the tombstones whose freed interval ended more than the retention ago (in
        the store and in memory, in one transaction); how many went."""
        with self._writing():
            now = self._clock.now()
            expired = self._index.expired_tombstones(now - self._settings.tombstone_retention)
            if expired:
                tx = self._current()
                for tombstone in expired:
                    tx.delete_tombstone(tombstone)
                self._after_commit.append(lambda: self._index.drop_tombstones(expired))
            self._pruned_at = now
            return len(expired)

    # -- queries -------------------------------------------------------------------------

    @property
    def settings(self) -> SchedulerSettings:
        return self._settings

    def now(self) -> datetime:
        return self._clock.now()

    def revision(self) -> int:
        with self._reading():
            return self._revision

    def get(self, conf_id: str) -> Conference:
        with self._reading():
            return self._index.live_record(conf_id).conference

    def conferences(self) -> list[Conference]:
        with self._reading():
            return self._index.conferences()

    def conference_owners(self) -> dict[str, tuple[str, bool]]:
        """conf id -> (creator, started from an ad-hoc template) of every conference held,
        deleted ones included (their call records outlive them): mcu/ownership.py."""
        with self._reading():
            return {
                conf_id: (record.conference.creator, record.conference.adhoc_template is not None)
                for conf_id, record in self._index.records.items()
            }

    def state(self, conf_id: str) -> tuple[ConferenceState, Occurrence]:
        with self._reading():
            conference = self._index.live_record(conf_id).conference
            return series.state_at(conference, self._clock.now())

    def ongoing(self) -> list[tuple[Conference, Occurrence]]:
        now = self._clock.now()
        running = []
        for conference in self.conferences():
            state, occurrence = series.state_at(conference, now)
            if state is ConferenceState.ONGOING:
                running.append((conference, occurrence))
        return running

    def occurrence(self, conf_id: str, begin: datetime | None = None) -> Occurrence:
        """The occurrence beginning at `begin` (OCCURRENCE_NOT_FOUND if none), or without
        it the one running now, else the next, else the last."""
        with self._reading():
            conference = self._index.live_record(conf_id).conference
            if begin is None:
                return series.state_at(conference, self._clock.now())[1]
            return conference.occurrences[series.occurrence_index(conference, begin)]

    def bookings_between(
        self, begin: datetime, duration: timedelta
    ) -> list[tuple[Conference, Occurrence]]:
        """Every occurrence of a conference not deleted that overlaps the window, by begin:
        what holds MCU resources then (the capacity check counts the same)."""
        window_begin, window_end = window(begin, duration)
        with self._reading():
            return self._index.occurrences_between(window_begin, window_end)

    def free_busy(
        self, uris: list[str], begin: datetime, duration: timedelta
    ) -> dict[str, list[BusyInterval]]:
        """Per URI, every booked occurrence overlapping the window, whole (not clipped)."""
        window_begin, window_end = window(begin, duration)
        with self._reading():
            answer: dict[str, list[BusyInterval]] = {}
            for uri in uris:
                if not self._is_known(uri):
                    answer[uri] = [BusyInterval(begin, duration, FreeBusy.UNKNOWN_SITE)]
                    continue
                answer[uri] = self._index.busy(uri, window_begin, window_end)
            return answer

    def template_free_busy(
        self, codes: list[str], begin: datetime, duration: timedelta
    ) -> dict[str, list[BusyInterval]]:
        """free_busy of ad-hoc templates by access code; a code of no template: UNKNOWN_SITE."""
        window_begin, window_end = window(begin, duration)
        with self._reading():
            return {
                code: self._index.busy(template_key(code), window_begin, window_end)
                if code in self._settings.reserved_access_codes
                else [BusyInterval(begin, duration, FreeBusy.UNKNOWN_SITE)]
                for code in codes
            }

    def template_changes(
        self, codes: list[str], begin: datetime, duration: timedelta, since_revision: int
    ) -> dict[str, list[BusyInterval]]:
        """changes() of ad-hoc templates by access code."""
        window_begin, window_end = window(begin, duration)
        with self._reading():
            return {
                code: self._index.changed(
                    template_key(code), window_begin, window_end, since_revision
                )
                if code in self._settings.reserved_access_codes
                else [BusyInterval(begin, duration, FreeBusy.UNKNOWN_SITE)]
                for code in codes
            }

    def changes(
        self, uris: list[str], begin: datetime, duration: timedelta, since_revision: int
    ) -> dict[str, list[BusyInterval]]:
        """What changed in the window after since_revision: changed busy entries (BUSY) and
        disappeared ones (FREE with the conference id). Unknown sites get UNKNOWN_SITE."""
        window_begin, window_end = window(begin, duration)
        with self._reading():
            answer: dict[str, list[BusyInterval]] = {}
            for uri in uris:
                if not self._is_known(uri) and (
                    is_template_key(uri) or not self._index.tombstones.get(uri)
                ):
                    answer[uri] = [BusyInterval(begin, duration, FreeBusy.UNKNOWN_SITE)]
                    continue
                answer[uri] = self._index.changed(uri, window_begin, window_end, since_revision)
            return answer

    # -- booking ---------------------------------------------------------------------------

    def schedule(self, spec: ConferenceSpec, creator: str = "") -> Conference:
        """Book a conference; `creator` is who books it (kept with it, edits keep it)."""
        with self._writing():
            spec = self._normalized_spec(spec, previous=None)
            return self._create(spec, None, [series.single(spec)], creator=creator)

    def schedule_adhoc(
        self, spec: ConferenceSpec, template_code: str, creator: str = ""
    ) -> Conference:
        """A conference started from the ad-hoc template whose code is `template_code`: the
        spec carries that code, which no other booking may take."""
        with self._writing():
            taken = self._index.live_access_codes(None, self._clock.now())
            spec = normalized_spec(spec, None, self._settings, lambda _: taken, template_code)
            return self._create(spec, None, [series.single(spec)],
                                adhoc_template=template_code, creator=creator)

    def schedule_recurrence(
        self, spec: ConferenceSpec, rule: RecurrenceRule, creator: str = ""
    ) -> Conference:
        with self._writing():
            spec = self._normalized_spec(spec, previous=None)
            rule = copy_rule(rule)
            return self._create(spec, rule, series.expand(spec, rule), creator=creator)

    def edit(self, conf_id: str, spec: ConferenceSpec) -> Conference:
        with self._writing():
            conference = self._index.live_record(conf_id).conference
            if conference.recurrence is not None:
                return self.edit_recurrence(conf_id, spec, conference.recurrence)
            now = self._clock.now()
            state, current = series.state_at(conference, now)
            if state is ConferenceState.ENDED:
                raise DomainError(Fault.CONFERENCE_ENDED, conf_id)
            spec = self._normalized_spec(spec, previous=conference)
            edited = series.single(spec)
            if state is ConferenceState.ONGOING:
                check_running_edit(current, edited, now)
            updated = series.with_changes(conference, spec=spec, occurrences=[edited])
            return self._update(conference, updated)

    def edit_recurrence(
        self,
        conf_id: str,
        spec: ConferenceSpec,
        rule: RecurrenceRule,
        occurrence_begin: datetime | None = None,
    ) -> Conference:
        with self._writing():
            conference = self._index.live_record(conf_id).conference
            now = self._clock.now()
            if occurrence_begin is not None:
                occurrences = series.one_edited(conference, spec, occurrence_begin, now)
                updated = series.with_changes(conference, occurrences=occurrences)
                return self._update(conference, updated)
            if series.state_at(conference, now)[0] is ConferenceState.ENDED:
                raise DomainError(Fault.CONFERENCE_ENDED, conf_id)
            spec = self._normalized_spec(spec, previous=conference)
            rule = copy_rule(rule)
            occurrences = series.series_edited(conference, spec, rule, now)
            updated = series.with_changes(
                conference, spec=spec, recurrence=rule, occurrences=occurrences
            )
            return self._update(conference, updated)

    def prolong(
        self, conf_id: str, by: timedelta, occurrence_begin: datetime | None = None
    ) -> Conference:
        with self._writing():
            require_positive(by, "prolongation")
            conference = self._index.live_record(conf_id).conference
            targets = series.targets(conference, occurrence_begin, self._clock.now())
            occurrences = series.prolonged(conference, targets, by)
            return self._update(conference, series.with_changes(conference, occurrences=occurrences))

    def delete(self, conf_id: str, occurrence_begin: datetime | None = None) -> None:
        with self._writing():
            conference = self._index.live_record(conf_id).conference
            now = self._clock.now()
            if occurrence_begin is not None:
                occurrences = series.one_deleted(conference, occurrence_begin, now)
                deleted = not occurrences
            elif series.state_at(conference, now)[0] is ConferenceState.ONGOING:
                occurrences = series.ended_now(conference, now)
                deleted = not occurrences
            else:
                # Deleted conferences keep their occurrences as a record of what was booked.
                occurrences = series.copied(conference)
                deleted = True
            updated = series.with_changes(conference, occurrences=occurrences, deleted=deleted)
            self._update(conference, updated, check=False)

    def add_site(
        self, conf_id: str, site: SiteSpec, occurrence_begin: datetime | None = None
    ) -> Conference:
        with self._writing():
            validate_site(site)
            conference = self._index.live_record(conf_id).conference
            targets = series.targets(conference, occurrence_begin, self._clock.now())
            spec, occurrences = series.site_added(
                conference, targets, site, whole=occurrence_begin is None
            )
            updated = series.with_changes(conference, spec=spec, occurrences=occurrences)
            return self._update(conference, updated)

    def remove_site(
        self, conf_id: str, uri: str, occurrence_begin: datetime | None = None
    ) -> Conference:
        with self._writing():
            conference = self._index.live_record(conf_id).conference
            targets = series.targets(conference, occurrence_begin, self._clock.now())
            spec, occurrences = series.site_removed(
                conference, targets, uri, whole=occurrence_begin is None
            )
            updated = series.with_changes(conference, spec=spec, occurrences=occurrences)
            return self._update(conference, updated, check=False)

    # -- the site directory ----------------------------------------------------------------

    def directory(self) -> list[DirectorySite]:
        with self._reading():
            return [self._directory[uri] for uri in sorted(self._directory)]

    def directory_site(self, uri: str) -> DirectorySite:
        with self._reading():
            site = self._directory.get(uri)
            if site is None:
                raise DomainError(Fault.SITE_NOT_FOUND, uri)
            return site

    def add_directory_site(self, site: DirectorySite) -> None:
        with self._writing():
            validate_directory_site(site)
            if site.uri in self._directory:
                raise DomainError(Fault.SITE_EXISTS, site.uri)
            self._put_directory_site(replace(site))

    def edit_directory_site(self, site: DirectorySite) -> None:
        """Replaces the entry; its organization is kept when `site` names none (editSiteInfoEx
        carries no orgId)."""
        with self._writing():
            validate_directory_site(site)
            current = self._directory.get(site.uri)
            if current is None:
                raise DomainError(Fault.SITE_NOT_FOUND, site.uri)
            self._put_directory_site(replace(site, org_id=site.org_id or current.org_id))

    def delete_directory_site(self, uri: str) -> None:
        self.delete_directory_sites([uri])

    def delete_directory_sites(self, uris: Sequence[str]) -> None:
        """Every one or none (an unknown URI refuses all), in one transaction."""
        with self._writing():
            uris = list(dict.fromkeys(uris))
            for uri in uris:
                if uri not in self._directory:
                    raise DomainError(Fault.SITE_NOT_FOUND, uri)
            revision = self._revision + 1
            tx = self._current()
            for uri in uris:
                tx.delete_directory_site(uri)
            tx.set_counter(REVISION, revision)

            def installed() -> None:
                for uri in uris:
                    del self._directory[uri]
                self._revision = revision

            self._after_commit.append(installed)

    def _put_directory_site(self, site: DirectorySite) -> None:
        revision = self._revision + 1
        tx = self._current()
        tx.put_directory_site(site)
        tx.set_counter(REVISION, revision)

        def installed() -> None:
            self._directory[site.uri] = site
            self._revision = revision

        self._after_commit.append(installed)

    def knows_site(self, uri: str) -> bool:
        """The URI is in the site directory or booked in a conference (ended ones included)."""
        with self._reading():
            return self._is_known(uri)

    def _is_known(self, uri: str) -> bool:
        if is_template_key(uri):  # a template's entries are no site's
            return False
        return uri in self._directory or self._index.uses(uri)

    # -- internals: checking and committing --------------------------------------------------

    def _normalized_spec(self, spec: ConferenceSpec, previous: Conference | None) -> ConferenceSpec:
        def taken(owner: str | None) -> set[str]:
            return self._index.live_access_codes(owner, self._clock.now())

        return normalized_spec(spec, previous, self._settings, taken)

    def _create(
        self,
        spec: ConferenceSpec,
        rule: RecurrenceRule | None,
        occurrences: list[Occurrence],
        adhoc_template: str | None = None,
        creator: str = "",
    ) -> Conference:
        number = first_free_number(self._next_conf_id, self._index.records)
        counters = {NEXT_CONF_ID: number + 1}
        conf_id = str(number)
        access_code = spec.access_code
        if not access_code:
            access_code = draw_access_code(
                self._settings.access_code_digits,
                self._index.live_access_codes(None, self._clock.now())
                | self._settings.reserved_access_codes,
            )
        spec = replace(spec, access_code=access_code)
        conference = Conference(
            conf_id=conf_id,
            spec=spec,
            access_code=access_code,
            password=spec.password or "",
            chairman_password=spec.chairman_password or "",
            recurrence=rule,
            occurrences=sorted(occurrences, key=lambda o: o.begin),
            adhoc_template=adhoc_template,
            creator=creator,
        )
        self._index.check_bookable(conference, self._clock.now(), self._settings)
        return self._commit(None, conference, counters)

    def _update(self, old: Conference, new: Conference, check: bool = True) -> Conference:
        if check:
            self._index.check_bookable(new, self._clock.now(), self._settings)
            if self.live_room is not None:
                self.live_room(new, self._clock.now())
        return self._commit(self._index.records[old.conf_id], new, {})

    def _commit(
        self, old: ConferenceRecord | None, new: Conference, counters: dict[str, int]
    ) -> Conference:
        revision = self._revision + 1
        site_revisions, tombstones = revisions_and_tombstones(old, new, revision)
        record = ConferenceRecord(new, site_revisions)
        tx = self._current()
        tx.put_conference(record, revision)
        for tombstone in tombstones:
            tx.add_tombstone(tombstone)
        for name, value in counters.items():
            tx.set_counter(name, value)
        tx.set_counter(REVISION, revision)

        def installed() -> None:  # committed: now the memory copy follows
            self._revision = revision
            self._next_conf_id = counters.get(NEXT_CONF_ID, self._next_conf_id)
            self._index.add_tombstones(tombstones)
            self._index.install(record)
            if tombstones and (self._pruned_at is None
                               or self._clock.now() - self._pruned_at > PRUNE_EVERY):
                self.prune_tombstones()

        self._after_commit.append(installed)
        return new

    def _current(self) -> StoreTransaction:
        if self._tx is None:
            raise RuntimeError("a store write outside a scheduler operation")
        return self._tx
