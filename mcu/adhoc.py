"""Ad-hoc conference templates: conferences a terminal starts by dialling an access code.

A template (from the settings file's `[[adhoc]]` tables) names a conference that does not
exist until somebody dials its access code: name, access code, password, sites, rate,
cpResouce, the layout of the conference picture and how long a conference started from it
lasts. `AdhocConferences` holds the templates and starts their conferences:

- `admit(code, site)`: a terminal dialled `code` (its password already checked against the
  template's): when no conference from that template is ongoing, one is booked through the
  scheduler now (begin = now, the template's duration), so it is stored, takes capacity,
  shows in queryConferencesStatusEx and from then on is a conference like any other; its
  creator (CDR conferenceCreater) is the template's name. The
  dialling site is booked in it as a dial-in site (dialingMode 1) if the template does not
  list it, or with the template's parameters and dialingMode 1 if it does; the other
  template sites keep their dialingMode (0: the MCU calls them when the conference starts).
  When one is ongoing, the dialler joins it, added to its booking if not booked. Refusals
  are the scheduler's (CAPACITY_EXCEEDED, SITE_BUSY, ...) and change nothing.
- The template's code is reserved (SchedulerSettings.reserved_access_codes): no booking may
  take it, and generated codes skip it; only the template's own conferences carry it, one
  at a time (access codes are unique among conferences that have not ended).
- Free/busy of a template: the occurrences of the conferences started from it, answered and
  synchronised by the scheduler's BookingIndex exactly as a site's (busy entries, revisions,
  FREE tombstones; see mcu/free_busy.py `template_key`). An unknown code answers one
  UNKNOWN_SITE interval over the window, as an unknown site does.

`check_templates` validates templates like bookings (mcu/booking_rules.py) and raises
TemplateError naming the template and the rule; `AdhocConferences` also refuses a template
whose code a stored conference not started from it holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mcu.booking_rules import (
    PASSWORD_DIGITS,
    SchedulerSettings,
    check_alone,
    normalized_spec,
)
from mcu.errors import DomainError
from mcu.events import ConferenceStarted, RuntimeEvent
from mcu.layouts import LAYOUT_MODES
from mcu.live_conference import CONFERENCE_TARGET, cp_pane_count
from mcu.media.output_format import parse_rate
from mcu.model import (
    BusyInterval,
    Conference,
    ConferenceSpec,
    ConferenceState,
    DialingMode,
    SiteSpec,
)
from mcu.runtime import ConferenceRuntime
from mcu.scheduler import Scheduler

log = logging.getLogger(__name__)

DEFAULT_DURATION = timedelta(hours=2)


class TemplateError(ValueError):
    """A template of the settings cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class AdhocTemplate:
    """One ad-hoc conference template (AdhocConferenceEx on the wire: name, confAccessCode).

    password: 6 digits, or "" for none (any password is then accepted). presence_mode: the
    continuous-presence mode (WS/T 546 table 63) of the conference picture when a conference
    starts from the template; None leaves the MCU's default."""

    name: str
    access_code: str
    password: str = ""
    chairman_password: str = ""
    sites: tuple[SiteSpec, ...] = ()
    rate: str | None = None
    cp_resource: int = 4
    presence_mode: int | None = None
    duration: timedelta = DEFAULT_DURATION
    bill_code: str | None = None

    def spec(self, begin: datetime, sites: list[SiteSpec]) -> ConferenceSpec:
        """The booking of a conference started from this template at `begin`."""
        return ConferenceSpec(
            name=self.name,
            begin=begin,
            duration=self.duration,
            sites=sites,
            access_code=self.access_code,
            password=self.password or None,
            chairman_password=self.chairman_password or None,
            cp_resource=self.cp_resource,
            rate=self.rate,
            bill_code=self.bill_code,
        )


def check_templates(templates: Sequence[AdhocTemplate], settings: SchedulerSettings) -> None:
    """Each template must pass the booking rules (name, access code, passwords, cpResouce,
    sites, duration) and fit the MCU alone; codes are unique among templates; the layout
    exists and has no more panes than the template's cpResouce; a rate is readable."""
    seen: dict[str, str] = {}
    for template in templates:
        where = f"adhoc template {template.name!r}"
        if not template.access_code:
            raise TemplateError(f"{where}: access_code is required")
        if template.access_code in seen:
            raise TemplateError(
                f"{where}: access code {template.access_code} is also the code of "
                f"template {seen[template.access_code]!r}"
            )
        seen[template.access_code] = template.name
        for label, password in (("password", template.password),
                                ("chairman_password", template.chairman_password)):
            if password and (len(password) != PASSWORD_DIGITS or not password.isdigit()):
                raise TemplateError(f"{where}: {label} must be 6 digits or empty")
        # the booking rules themselves, on the booking the template would make
        probe = template.spec(datetime(2000, 1, 1).astimezone(), list(template.sites))
        try:
            normalized_spec(probe, None, settings, lambda _: set(), template.access_code)
        except DomainError as error:
            raise TemplateError(f"{where}: {error.fault.name.lower()}: {error.detail}") from None
        try:
            check_alone(list(template.sites), template.cp_resource, settings)
        except DomainError as error:
            raise TemplateError(f"{where}: {error.detail}") from None
        if template.rate is not None and parse_rate(template.rate) is None:
            raise TemplateError(f"{where}: rate {template.rate!r} is not e.g. 1920k, 2M or 768")
        mode = template.presence_mode
        if mode is not None:
            if not 0 <= mode < len(LAYOUT_MODES):
                raise TemplateError(f"{where}: presence_mode {mode} is not 0..49")
            if cp_pane_count(mode) > template.cp_resource:
                raise TemplateError(
                    f"{where}: presence_mode {mode} has {cp_pane_count(mode)} panes, "
                    f"cp_resource is {template.cp_resource}"
                )


class AdhocConferences:
    """The templates and the conferences started from them (module docstring)."""

    def __init__(self, scheduler: Scheduler, templates: Sequence[AdhocTemplate]) -> None:
        check_templates(templates, scheduler.settings)
        reserved = scheduler.settings.reserved_access_codes
        missing = [t.access_code for t in templates if t.access_code not in reserved]
        if missing:
            raise TemplateError(
                f"the scheduler does not reserve the template access codes {missing}"
            )
        self.scheduler = scheduler
        self._runtime: ConferenceRuntime | None = None
        self._templates = {template.access_code: template for template in templates}
        for conference in scheduler.conferences():
            template = self._templates.get(conference.access_code)
            if template is None or conference.adhoc_template == template.access_code:
                continue
            if scheduler.state(conference.conf_id)[0] is not ConferenceState.ENDED:
                raise TemplateError(
                    f"adhoc template {template.name!r}: access code {template.access_code} "
                    f"is held by conference {conference.conf_id} ({conference.spec.name!r}); "
                    "give the template another code or delete that conference"
                )

    def attach(self, runtime: ConferenceRuntime) -> None:
        """Serve the runtime's dial-ins (runtime.adhoc) and give every conference started
        from a template, whenever it starts (also after a restart), the template's layout.
        Attach after the media engine subscribed, so that it has the conference's media
        when the layout's event comes."""
        self._runtime = runtime
        runtime.adhoc = self
        runtime.subscribe(self._on_event)

    def _on_event(self, event: RuntimeEvent) -> None:
        if not isinstance(event, ConferenceStarted) or self._runtime is None:
            return
        try:
            template = self.template_of(self.scheduler.get(event.conf_id))
            if template is not None and template.presence_mode is not None:
                self._runtime.control.set_continuous_presence(
                    event.conf_id, CONFERENCE_TARGET, template.presence_mode
                )
        except DomainError as error:  # e.g. its cpResouce was edited below the layout's
            log.warning("conference %s: template layout not applied: %s", event.conf_id, error)

    def templates(self) -> list[AdhocTemplate]:
        """In access-code order."""
        return [self._templates[code] for code in sorted(self._templates)]

    def template(self, access_code: str) -> AdhocTemplate | None:
        return self._templates.get(access_code)

    def template_of(self, conference: Conference) -> AdhocTemplate | None:
        """The template a conference was started from (if it is still configured)."""
        if conference.adhoc_template is None:
            return None
        return self._templates.get(conference.adhoc_template)

    def ongoing(self, access_code: str) -> Conference | None:
        """The conference from that template that is ongoing now, if any."""
        for conference in self.scheduler.conferences():
            if conference.adhoc_template != access_code:
                continue
            if self.scheduler.state(conference.conf_id)[0] is ConferenceState.ONGOING:
                return conference
        return None

    def admit(self, access_code: str, site: SiteSpec) -> Conference:
        """The conference a terminal dialling `access_code` joins, started now when none is
        ongoing, with `site` booked in it as a dial-in site (module docstring). The password
        is the caller's to check first (the template's)."""
        template = self._templates.get(access_code)
        if template is None:
            raise KeyError(access_code)
        dialling = replace(site, dialing_mode=DialingMode.SITE_CALLS_IN)
        current = self.ongoing(access_code)
        if current is None:
            listed = {spec.uri: spec for spec in template.sites}
            if site.uri in listed:
                dialling = replace(listed[site.uri], dialing_mode=DialingMode.SITE_CALLS_IN)
            sites = [dialling if spec.uri == site.uri else spec for spec in template.sites]
            if site.uri not in listed:
                sites.append(dialling)
            begin = self.scheduler.now()
            return self.scheduler.schedule_adhoc(
                template.spec(begin, sites), access_code, creator=template.name
            )
        _, occurrence = self.scheduler.state(current.conf_id)
        if any(spec.uri == site.uri for spec in occurrence.sites):
            return current
        # into the conference's site list too, so an edit of it keeps the dialler
        return self.scheduler.add_site(current.conf_id, dialling)

    def free_busy(
        self, codes: list[str], begin: datetime, duration: timedelta
    ) -> dict[str, list[BusyInterval]]:
        """Per code, the conferences from that template overlapping the window, whole."""
        return self.scheduler.template_free_busy(codes, begin, duration)

    def changes(
        self, codes: list[str], begin: datetime, duration: timedelta, since_revision: int
    ) -> dict[str, list[BusyInterval]]:
        """Per code, what changed in the window after since_revision (BUSY entries changed,
        FREE tombstones of the ones that went away)."""
        return self.scheduler.template_changes(codes, begin, duration, since_revision)
