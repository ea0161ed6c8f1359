"""A conference's occurrences: expanding a booking or a series into occurrences, finding the
one a request names, the state a conference is in at a moment, and the new occurrence
lists the scheduler's edits produce (one occurrence edited, prolonged, deleted, a site
added or removed).

Pure functions: they build new lists (occurrences copied, never changed in place) and
raise DomainError for what cannot be done; the scheduler checks and commits the result.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mcu import recurrence
from mcu.booking_rules import (
    check_running_edit,
    require_aware,
    require_name,
    require_positive,
    truncate,
    validate_sites,
)
from mcu.errors import DomainError, Fault
from mcu.model import (
    Conference,
    ConferenceSpec,
    ConferenceState,
    Occurrence,
    RecurrenceRule,
    SiteSpec,
)


def copy_occurrence(occurrence: Occurrence) -> Occurrence:
    return replace(occurrence, sites=list(occurrence.sites))


def copied(conference: Conference) -> list[Occurrence]:
    return [copy_occurrence(o) for o in conference.occurrences]


def single(spec: ConferenceSpec) -> Occurrence:
    """The one occurrence of a plain booking."""
    return Occurrence(spec.begin, spec.duration, list(spec.sites), spec.name)


def expand(spec: ConferenceSpec, rule: RecurrenceRule, after: datetime | None = None) -> list[
    Occurrence
]:
    """The series' occurrences by `rule` from spec.begin (only those beginning after
    `after` when given)."""
    return [
        Occurrence(begin, spec.duration, list(spec.sites), spec.name)
        for begin in recurrence.expand(rule, spec.begin)
        if after is None or begin > after
    ]


def with_changes(conference: Conference, **changes: Any) -> Conference:
    """The conference with `changes`; a new spec brings its access code and passwords."""
    if "spec" in changes:
        spec = changes["spec"]
        changes.setdefault("access_code", spec.access_code)
        changes.setdefault("password", spec.password)
        changes.setdefault("chairman_password", spec.chairman_password)
    return replace(conference, **changes)


def state_at(conference: Conference, now: datetime) -> tuple[ConferenceState, Occurrence]:
    """ONGOING with the occurrence running at `now`, SCHEDULED with the next one, or ENDED
    with the last one."""
    occurrences = conference.occurrences
    index = bisect_right(occurrences, now, key=lambda o: o.begin) - 1
    if index >= 0 and now < occurrences[index].end:
        return ConferenceState.ONGOING, occurrences[index]
    if index + 1 < len(occurrences):
        return ConferenceState.SCHEDULED, occurrences[index + 1]
    return ConferenceState.ENDED, occurrences[-1]


def occurrence_index(conference: Conference, begin: datetime) -> int:
    """The index of the occurrence beginning at `begin` (to the second)."""
    wanted = truncate(require_aware(begin, "beginTime"))
    for index, occurrence in enumerate(conference.occurrences):
        if occurrence.begin == wanted:
            return index
    raise DomainError(
        Fault.OCCURRENCE_NOT_FOUND, f"{conference.conf_id} has none at {wanted.isoformat()}"
    )


def targets(conference: Conference, occurrence_begin: datetime | None, now: datetime) -> set[int]:
    """The occurrences an operation acts on: the one named, or all not yet ended."""
    if occurrence_begin is not None:
        index = occurrence_index(conference, occurrence_begin)
        if conference.occurrences[index].end <= now:
            raise DomainError(Fault.CONFERENCE_ENDED, f"occurrence at {occurrence_begin}")
        return {index}
    found = {i for i, o in enumerate(conference.occurrences) if o.end > now}
    if not found:
        raise DomainError(Fault.CONFERENCE_ENDED, conference.conf_id)
    return found


def series_edited(
    conference: Conference, spec: ConferenceSpec, rule: RecurrenceRule, now: datetime
) -> list[Occurrence]:
    """Past and ongoing occurrences kept, every future one replaced by `rule` from
    spec.begin."""
    kept = [copy_occurrence(o) for o in conference.occurrences if o.begin <= now]
    future = expand(spec, rule, after=now)
    if not future and not any(o.end > now for o in kept):
        raise DomainError(Fault.BAD_RECURRENCE, "the new rule leaves no future occurrence")
    return kept + future


def one_edited(
    conference: Conference, spec: ConferenceSpec, occurrence_begin: datetime, now: datetime
) -> list[Occurrence]:
    """The occurrence at `occurrence_begin` with the spec's name, begin, duration and sites
    (begin and duration default to the occurrence's own)."""
    index = occurrence_index(conference, occurrence_begin)
    current = conference.occurrences[index]
    if current.end <= now:
        raise DomainError(Fault.CONFERENCE_ENDED, f"occurrence at {occurrence_begin}")
    require_name(spec.name)
    begin = truncate(require_aware(spec.begin or current.begin, "beginTime"))
    duration = require_positive(spec.duration if spec.duration is not None else current.duration)
    validate_sites(spec.sites)
    edited = Occurrence(begin, duration, list(spec.sites), spec.name)
    if current.begin <= now:
        check_running_edit(current, edited, now)
    occurrences = copied(conference)
    occurrences[index] = edited
    occurrences.sort(key=lambda o: o.begin)
    return occurrences


def prolonged(conference: Conference, chosen: set[int], by: timedelta) -> list[Occurrence]:
    return [
        replace(o, duration=o.duration + by) if index in chosen else copy_occurrence(o)
        for index, o in enumerate(conference.occurrences)
    ]


def one_deleted(conference: Conference, occurrence_begin: datetime, now: datetime) -> list[
    Occurrence
]:
    """Without the occurrence at `occurrence_begin`; an ongoing one ends now instead."""
    index = occurrence_index(conference, occurrence_begin)
    occurrences = copied(conference)
    target = occurrences[index]
    if target.begin < now < target.end:
        occurrences[index] = replace(target, duration=now - target.begin)
    else:
        del occurrences[index]
    return occurrences


def ended_now(conference: Conference, now: datetime) -> list[Occurrence]:
    """History kept, the ongoing occurrence ending now, future ones gone."""
    occurrences = []
    for occurrence in conference.occurrences:
        if occurrence.end <= now:
            occurrences.append(copy_occurrence(occurrence))
        elif occurrence.begin < now:
            occurrences.append(replace(occurrence, duration=now - occurrence.begin))
    return occurrences


def has_site(sites: list[SiteSpec], uri: str) -> bool:
    return any(site.uri == uri for site in sites)


def site_added(
    conference: Conference, chosen: set[int], site: SiteSpec, whole: bool
) -> tuple[ConferenceSpec, list[Occurrence]]:
    """`site` in every chosen occurrence lacking it (and in the spec's list when `whole`);
    SITE_ALREADY_IN_CONFERENCE when every one has it."""
    occurrences = copied(conference)
    lacking = [i for i in chosen if not has_site(occurrences[i].sites, site.uri)]
    if not lacking:
        raise DomainError(Fault.SITE_ALREADY_IN_CONFERENCE, site.uri)
    for index in lacking:
        occurrences[index].sites.append(site)
    spec = conference.spec
    if whole and not has_site(spec.sites, site.uri):
        spec = replace(spec, sites=[*spec.sites, site])
    return spec, occurrences


def site_removed(
    conference: Conference, chosen: set[int], uri: str, whole: bool
) -> tuple[ConferenceSpec, list[Occurrence]]:
    """`uri` out of every chosen occurrence (and of the spec's list when `whole`);
    SITE_NOT_IN_CONFERENCE when none has it."""
    occurrences = copied(conference)
    holding = [i for i in chosen if has_site(occurrences[i].sites, uri)]
    if not holding:
        raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, uri)
    for index in holding:
        occurrences[index].sites = [s for s in occurrences[index].sites if s.uri != uri]
    spec = conference.spec
    if whole:
        spec = replace(spec, sites=[s for s in spec.sites if s.uri != uri])
    return spec, occurrences
