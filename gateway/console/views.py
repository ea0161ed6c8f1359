"""What the console's pages show, read from the domain with the same queries the SOAP
answers use (runtime.status, the scheduler, the endpoint registry), filtered by the
ownership rule (mcu/ownership.py `visible`), as plain data for gateway/console/pages.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mcu import ownership
from mcu.errors import DomainError
from mcu.live_conference import CpSetting
from mcu.model import ConferenceState
from mcu.ownership import Actor
from mcu.runtime import ConferenceRuntime
from mcu.runtime.status import ConferenceStatus, SiteStatus
from mcu.scheduler import Scheduler

SHOWN_STATES = (ConferenceState.ONGOING, ConferenceState.SCHEDULED)


@dataclass(frozen=True)
class ConferenceRow:
    conf_id: str
    name: str
    state: ConferenceState
    begin: datetime | None
    end: datetime | None
    recurring: bool


@dataclass(frozen=True)
class ConferenceDetail:
    status: ConferenceStatus
    cp_resource: int
    sites: list[SiteStatus]
    layout: CpSetting


@dataclass(frozen=True)
class TerminalRow:
    uri: str
    name: str
    call_state: str  # the SiteCallState's name in its conference, or "idle"
    conf_id: str | None
    model: str
    software: str
    inputs: list[str]
    screens: list[str]


def conferences(scheduler: Scheduler, runtime: ConferenceRuntime, actor: Actor
                ) -> list[ConferenceRow]:
    """The scheduled and ongoing conferences `actor` may see, ongoing first, by begin."""
    rows = []
    for conference in ownership.visible(actor, scheduler.conferences()):
        status = runtime.status.conference_status(conference.conf_id)
        if status.state not in SHOWN_STATES:
            continue
        rows.append(ConferenceRow(conference.conf_id, status.name or conference.spec.name,
                                  status.state, status.begin, status.end,
                                  conference.recurrence is not None))
    return sorted(rows, key=lambda r: (r.state is not ConferenceState.ONGOING,
                                       r.begin or datetime.max, r.conf_id))


def detail(scheduler: Scheduler, runtime: ConferenceRuntime, actor: Actor, conf_id: str
           ) -> ConferenceDetail | None:
    """One conference as its control panel shows it; None when absent or not the actor's."""
    try:
        conference = scheduler.get(conf_id)
    except DomainError:
        return None
    if not ownership.owns(actor, conference):
        return None
    status = runtime.status.conference_status(conf_id)
    if status.state not in SHOWN_STATES:
        return None
    ongoing = status.state is ConferenceState.ONGOING
    sites = runtime.status.site_statuses(conf_id) if ongoing else []
    layout = runtime.status.cp_param(conf_id, "0") if ongoing else CpSetting()
    return ConferenceDetail(status, conference.spec.cp_resource, sites, layout)


def terminals(runtime: ConferenceRuntime) -> list[TerminalRow]:
    """The registered terminals, by URI: call state, device and screens."""
    rows = []
    for endpoint in runtime.registry.endpoints():
        device = endpoint.device
        try:
            live, site = runtime.conferences.conference_of(endpoint.uri)
            state, conf_id = site.state.name.lower(), live.conf_id
        except DomainError:
            state, conf_id = "idle", None
        site_name = getattr(endpoint, "directory_site", None)
        name = site_name().name if callable(site_name) else endpoint.uri
        rows.append(TerminalRow(
            uri=endpoint.uri, name=name, call_state=state, conf_id=conf_id,
            model=device.version.model, software=device.version.soft_version,
            inputs=[port.name for port in device.inputs if port.connected],
            screens=[output.name for output in device.outputs],
        ))
    return sorted(rows, key=lambda r: r.uri)


def site_names(scheduler: Scheduler, rows: list[TerminalRow]) -> dict[str, str]:
    """URI -> name of every site the console can book: the directory, then the registered
    terminals it does not list."""
    names = {site.uri: site.name for site in scheduler.directory()}
    for row in rows:
        names.setdefault(row.uri, row.name)
    return names
