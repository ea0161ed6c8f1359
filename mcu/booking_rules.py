"""What a booking must satisfy before the scheduler stores it: the scheduler's settings,
the normalisation of a ConferenceSpec (name, times, cpResouce, sites, passwords, access
code), the rules of editing an ongoing occurrence, the capacity check of one occurrence
against the ones overlapping it, and conference id and access code allocation.

Every check raises DomainError and changes nothing; none of them reads the store.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Container
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from mcu.errors import DomainError, Fault
from mcu.model import (
    ALLOWED_CP_RESOURCES,
    Conference,
    ConferenceSpec,
    DirectorySite,
    Occurrence,
    RecurrenceRule,
    SiteSpec,
)
from mcu.port_costs import NAME_OF, PortCosts

PASSWORD_DIGITS = 6
MAX_ACCESS_CODE_LENGTH = 32

_DIGITS = re.compile(r"^[0-9]+$")


@dataclass
class SchedulerSettings:
    max_ports: int = 64  # site ports of the MCU's costliest format (mcu/port_costs.py)
    max_cp_resources: int = 64  # concurrent cpResouce may not exceed
    # what a site port costs by its booked video format; the MCU has max_ports * top units
    port_costs: PortCosts = field(default_factory=PortCosts)
    default_duration: timedelta = timedelta(hours=2)
    access_code_digits: int = 8  # random numeric access codes, unique among live conferences
    # A FREE tombstone is dropped this long after the interval it freed ended: synch windows
    # look at what is coming, and the table no longer grows for ever.
    tombstone_retention: timedelta = timedelta(days=30)
    # the access codes of the ad-hoc templates (mcu/adhoc.py): only a conference started
    # from that template may carry one, and generated codes skip them
    reserved_access_codes: frozenset[str] = frozenset()


def truncate(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def require_aware(moment: datetime | None, what: str) -> datetime:
    if moment is None:
        raise DomainError(Fault.MISSING_PARAMETER, what)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DomainError(Fault.BAD_TIME, f"{what} needs a UTC offset")
    return moment


def require_name(name: str | None) -> None:
    if not name or not name.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "name")


def require_positive(duration: timedelta | None, what: str = "duration") -> timedelta:
    if duration is None or duration <= timedelta(0):
        raise DomainError(Fault.BAD_TIME, f"{what} must be positive")
    return duration


def window(begin: datetime, duration: timedelta) -> tuple[datetime, datetime]:
    """A free/busy window: begin with an offset, a positive duration, an end before 10000."""
    begin = require_aware(begin, "beginTime")
    require_positive(duration)
    try:
        return begin, begin + duration
    except OverflowError:
        raise DomainError(Fault.BAD_TIME, "the window ends after the year 9999") from None


def normalized_spec(
    spec: ConferenceSpec,
    previous: Conference | None,
    settings: SchedulerSettings,
    taken_access_codes: Callable[[str | None], set[str]],
    adhoc_template: str | None = None,
) -> ConferenceSpec:
    """The spec as booked: begin truncated to the second, the default duration, passwords
    and access code checked or kept from `previous` (or generated), sites validated.
    `taken_access_codes(owner)` gives the codes of the live conferences other than owner.
    A reserved (ad-hoc template) code is refused unless the conference is started from that
    template (`adhoc_template`, or `previous` was)."""
    require_name(spec.name)
    begin = truncate(require_aware(spec.begin, "beginTime"))
    duration = spec.duration if spec.duration is not None else settings.default_duration
    require_positive(duration)
    if spec.cp_resource not in ALLOWED_CP_RESOURCES:
        raise DomainError(Fault.BAD_CP_RESOURCE, str(spec.cp_resource))
    validate_sites(spec.sites)
    password = _password(spec.password, previous.password if previous else None)
    chairman = _password(
        spec.chairman_password, previous.chairman_password if previous else None
    )
    access_code = spec.access_code or None
    if access_code is not None:
        if not _DIGITS.match(access_code) or len(access_code) > MAX_ACCESS_CODE_LENGTH:
            raise DomainError(Fault.OUT_OF_RANGE, f"access code {access_code!r} not numeric")
        owner = previous.conf_id if previous else None
        if access_code in taken_access_codes(owner):
            raise DomainError(Fault.ACCESS_CODE_CONFLICT, access_code)
        template = adhoc_template or (previous.adhoc_template if previous else None)
        if access_code in settings.reserved_access_codes and access_code != template:
            raise DomainError(
                Fault.ACCESS_CODE_CONFLICT, f"{access_code} is an ad-hoc template's code"
            )
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


def validate_sites(sites: list[SiteSpec]) -> None:
    """Each site valid, and none listed twice."""
    seen: set[str] = set()
    for site in sites:
        validate_site(site)
        if site.uri in seen:
            raise DomainError(Fault.SITE_ALREADY_IN_CONFERENCE, f"{site.uri} listed twice")
        seen.add(site.uri)


def validate_site(site: SiteSpec) -> None:
    if site is None or not site.uri or not site.uri.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "site uri")
    refuse_reserved_uri(site.uri)


def validate_directory_site(site: DirectorySite) -> None:
    if not site.uri or not site.uri.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "site uri")
    refuse_reserved_uri(site.uri)
    if not site.name or not site.name.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "site name")


# Free/busy keys of ad-hoc templates share the index with site URIs (mcu/free_busy.py
# template_key); a site may not take a URI of that form.
TEMPLATE_KEY_PREFIX = "adhoc-template:"


def refuse_reserved_uri(uri: str) -> None:
    if uri.startswith(TEMPLATE_KEY_PREFIX):
        raise DomainError(Fault.OUT_OF_RANGE, f"site URIs beginning {TEMPLATE_KEY_PREFIX} are reserved")


def _password(given: str | None, previous: str | None) -> str:
    if given:
        if len(given) != PASSWORD_DIGITS or not _DIGITS.match(given):
            raise DomainError(Fault.BAD_PASSWORD, "a password is exactly 6 digits")
        return given
    if previous is not None:
        return previous
    return f"{secrets.randbelow(10**PASSWORD_DIGITS):0{PASSWORD_DIGITS}d}"


def copy_rule(rule: RecurrenceRule) -> RecurrenceRule:
    if rule is None:
        raise DomainError(Fault.MISSING_PARAMETER, "recurrence rule")
    return replace(rule, week_days=list(rule.week_days))


def check_running_edit(current: Occurrence, edited: Occurrence, now: datetime) -> None:
    if edited.begin != current.begin:
        raise DomainError(Fault.BAD_TIME, "an ongoing conference cannot move its begin")
    if edited.end <= now:
        raise DomainError(Fault.BAD_TIME, "an ongoing conference cannot end in the past")


def check_capacity(
    occurrence: Occurrence,
    cp: int,
    overlapping: list[tuple[Conference, Occurrence]],
    settings: SchedulerSettings,
) -> None:
    """The peak of concurrent port units (each site by its booked format) and CP resources
    within the occurrence must fit."""
    costs = settings.port_costs
    pool = costs.units(settings.max_ports)
    moments = [occurrence.begin] + [o.begin for _, o in overlapping if o.begin > occurrence.begin]
    own_units = costs.of_sites(occurrence.sites)
    for moment in moments:
        units = own_units
        resources = cp
        for other, other_occurrence in overlapping:
            if other_occurrence.begin <= moment < other_occurrence.end:
                units += costs.of_sites(other_occurrence.sites)
                resources += other.spec.cp_resource
        if units > pool:
            raise DomainError(
                Fault.CAPACITY_EXCEEDED,
                f"site ports of {units} units needed at {moment.isoformat()}, the MCU has "
                f"{pool} ({port_cost_summary(occurrence.sites, costs)})",
            )
        if resources > settings.max_cp_resources:
            raise DomainError(
                Fault.CAPACITY_EXCEEDED, f"{resources} CP resources needed at {moment.isoformat()}"
            )


def check_alone(sites: list[SiteSpec], cp: int, settings: SchedulerSettings) -> None:
    """The sites and cpResouce of one occurrence fit an empty MCU."""
    units = settings.port_costs.of_sites(sites)
    pool = settings.port_costs.units(settings.max_ports)
    if units > pool:
        raise DomainError(
            Fault.CAPACITY_EXCEEDED,
            f"the conference alone needs site ports of {units} units, the MCU has {pool} "
            f"({port_cost_summary(sites, settings.port_costs)})",
        )
    if cp > settings.max_cp_resources:
        raise DomainError(
            Fault.CAPACITY_EXCEEDED,
            f"the conference alone needs {cp} CP resources, the MCU has "
            f"{settings.max_cp_resources}",
        )


def port_cost_summary(sites: list[SiteSpec], costs: PortCosts) -> str:
    """e.g. "2 x 1080P30 at 8, 1 x auto at 16": what the occurrence's sites cost."""
    counts: dict[str, tuple[int, int]] = {}
    for site in sites:
        name = NAME_OF.get(site.video_format, "auto") if site.video_format else "auto"
        number, cost = counts.get(name, (0, costs.of(site.video_format)))
        counts[name] = (number + 1, cost)
    return ", ".join(f"{number} x {name} at {cost}" for name, (number, cost) in counts.items())


# random draws tried before the free codes are listed (only when nearly all are taken)
_ACCESS_CODE_DRAWS = 64


def draw_access_code(digits: int, taken: Container[str]) -> str:
    """A code of `digits` digits (no leading zero) drawn at random (secrets, the OS's CSPRNG)
    among those not taken, so a known code tells nothing about the others (docs/security.md,
    "Access codes")."""
    low, space = 10 ** (digits - 1), 9 * 10 ** (digits - 1)  # codes without a leading zero
    for _ in range(_ACCESS_CODE_DRAWS):
        code = str(low + secrets.randbelow(space))
        if code not in taken:
            return code
    free = [str(number) for number in range(low, low + space) if str(number) not in taken]
    if not free:
        raise DomainError(Fault.CAPACITY_EXCEEDED, "no free access code")
    return secrets.choice(free)


def first_free_number(start: int, taken: Container[str]) -> int:
    """The first number from `start` on whose text is not taken (conference ids)."""
    number = start
    while str(number) in taken:
        number += 1
    return number
