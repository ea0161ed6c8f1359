"""The console's "schedule a conference" form -> the scheduler's own operations:
`Scheduler.schedule` (scheduleConfEx) or `Scheduler.schedule_recurrence`
(scheduleRecurrenceConferenceEx), booked by the logged-in account, then
`runtime.reconcile()` as the SOAP service does, so a conference that begins now starts and
dials its sites at once. Every rule (name, times, cpResouce, sites busy, the recurrence)
is the scheduler's; this module only reads the form.

Fields: name; begin (empty: now; else ISO 8601 with a UTC offset, which console.js sends);
duration (minutes); site (repeated: site URIs); cpResource (one of the allowed values;
empty: the server's default); frequency (empty: once; 0 daily, 1 weekly, 2 monthly),
interval, count. Where the form is silent the booking says (docs/console.md): a weekly
series recurs on the begin's week day, a monthly one on the begin's day of the month.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.console.actions import Form
from mcu.clock import Clock
from mcu.errors import DomainError, Fault
from mcu.model import (
    ConferenceSpec,
    Frequency,
    RecurrenceRule,
    SiteSpec,
    SiteType,
)
from mcu.runtime import ConferenceRuntime
from mcu.scheduler import Scheduler

MAX_DURATION_MINUTES = 24 * 60 * 7


def _begin(form: Form, clock: Clock) -> datetime:
    text = form.text("begin", required=False)
    if not text or text == "now":
        return clock.now()
    try:
        begin = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DomainError(Fault.BAD_TIME, f"begin {text!r} is not an ISO 8601 time") from None
    if begin.tzinfo is None:
        raise DomainError(Fault.BAD_TIME, "begin needs a UTC offset")
    return begin


def conference_spec(form: Form, clock: Clock, default_cp_resource: int,
                    names: dict[str, str]) -> ConferenceSpec:
    """names: site URI -> its name (directory and registered terminals)."""
    minutes = form.needed_number("duration")
    if not 0 < minutes <= MAX_DURATION_MINUTES:
        raise DomainError(Fault.BAD_TIME, f"duration {minutes} min not in 1..{MAX_DURATION_MINUTES}")
    cp_resource = form.number("cpResource", required=False)
    sites = [SiteSpec(uri=uri, name=names.get(uri, uri), type=SiteType.SIP)
             for uri in dict.fromkeys(form.uris("site"))]
    return ConferenceSpec(
        name=form.text("name"),
        begin=_begin(form, clock),
        duration=timedelta(minutes=minutes),
        sites=sites,
        cp_resource=default_cp_resource if cp_resource is None else cp_resource,
    )


def recurrence_rule(form: Form, begin: datetime) -> RecurrenceRule | None:
    frequency = form.number("frequency", required=False)
    if frequency is None:
        return None
    if frequency not in tuple(Frequency):
        raise DomainError(Fault.OUT_OF_RANGE, f"frequency {frequency} not 0, 1 or 2")
    kind = Frequency(frequency)
    return RecurrenceRule(
        frequency=kind,
        interval=form.number("interval", required=False) or 1,
        week_days=[(begin.weekday() + 1) % 7] if kind is Frequency.WEEKLY else [],
        month_day=begin.day if kind is Frequency.MONTHLY else 0,
        count=form.needed_number("count"),
    )


def schedule(form: Form, creator: str, scheduler: Scheduler, runtime: ConferenceRuntime,
             clock: Clock, default_cp_resource: int, names: dict[str, str]) -> str:
    """Book what the form asks for; the new conference's id."""
    spec = conference_spec(form, clock, default_cp_resource, names)
    rule = recurrence_rule(form, spec.begin)
    if rule is None:
        conference = scheduler.schedule(spec, creator=creator)
    else:
        conference = scheduler.schedule_recurrence(spec, rule, creator=creator)
    runtime.reconcile()
    return conference.conf_id
