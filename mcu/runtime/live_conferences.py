"""The conferences running now, by id, and the lookups every part of the runtime shares.

`LiveConferences` holds the live state (mcu/live_conference.py) of every ongoing conference
and the event bus the parts emit on. `running(conf_id)` is how an operation on a conference
starts: it answers the live state, or CONFERENCE_NOT_ONGOING (CONFERENCE_NOT_FOUND from the
scheduler for an unknown id); when the scheduler and the live state disagree (the clock
passed a begin or an end since the last reconcile) it reconciles first. `conference_of(uri)`
is the same for operations that name only a site.

The functions below find sites in one live conference with the faults WS/T 546 gives.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from mcu.errors import DomainError, Fault
from mcu.events import EventBus
from mcu.live_conference import CONFERENCE_TARGET, LiveConference, LiveSite
from mcu.model import Conference, ConferenceState, Occurrence


class SchedulerView(Protocol):
    """What the runtime needs of mcu/scheduler.py."""

    def ongoing(self) -> list[tuple[Conference, Occurrence]]: ...

    def get(self, conf_id: str) -> Conference: ...

    def conferences(self) -> list[Conference]: ...

    def state(self, conf_id: str) -> tuple[ConferenceState, Occurrence]: ...

    def knows_site(self, uri: str) -> bool: ...


class LiveConferences:
    def __init__(
        self, scheduler: SchedulerView, events: EventBus, reconcile: Callable[[], None]
    ) -> None:
        """reconcile brings the live state in line with the scheduler (Lifecycle.reconcile)."""
        self.scheduler = scheduler
        self.events = events
        self._reconcile = reconcile
        self._live: dict[str, LiveConference] = {}

    def ids(self) -> list[str]:
        return list(self._live)

    def all(self) -> list[LiveConference]:
        return list(self._live.values())

    def get(self, conf_id: str) -> LiveConference | None:
        return self._live.get(conf_id)

    def add(self, live: LiveConference) -> None:
        self._live[live.conf_id] = live

    def remove(self, conf_id: str) -> None:
        del self._live[conf_id]

    def running(self, conf_id: str) -> LiveConference:
        """The live state of an ongoing conference; CONFERENCE_NOT_ONGOING otherwise."""
        state, occurrence = self.scheduler.state(conf_id)  # CONFERENCE_NOT_FOUND passes up
        live = self._live.get(conf_id)
        if state is ConferenceState.ONGOING:
            if live is None or live.begin != occurrence.begin:
                self._reconcile()
                live = self._live.get(conf_id)
            if live is not None:
                return live
        elif live is not None:
            self._reconcile()
        raise DomainError(Fault.CONFERENCE_NOT_ONGOING, conf_id)

    def conference_of(self, uri: str, connected: bool = False) -> tuple[LiveConference, LiveSite]:
        """The ongoing conference a site is booked in (joined first). Operations that only
        name a site (TerminalConfCtr, siteMgr) act there."""
        booked = [live for live in self._live.values() if uri in live.sites]
        if not booked:
            raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, f"{uri} is in no ongoing conference")
        live = next((c for c in booked if c.sites[uri].connected), booked[0])
        site = live.sites[uri]
        if connected and not site.connected:
            raise DomainError(Fault.SITE_NOT_CONNECTED, uri)
        return live, site


def booked_site(live: LiveConference, uri: str) -> LiveSite:
    site = live.sites.get(uri)
    if site is None:
        raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, uri)
    return site


def connected_site(live: LiveConference, uri: str) -> LiveSite:
    site = booked_site(live, uri)
    if not site.connected:
        raise DomainError(Fault.SITE_NOT_CONNECTED, uri)
    return site


def all_booked_sites(live: LiveConference, uris: Sequence[str]) -> list[LiveSite]:
    """Every URI must be booked (SITE_NOT_IN_CONFERENCE names the first that is not)."""
    if not uris:
        raise DomainError(Fault.MISSING_PARAMETER, "siteUris")
    return [booked_site(live, uri) for uri in uris]


def some_booked_sites(live: LiveConference, uris: Sequence[str]) -> list[LiveSite]:
    """WS/T 546 4.5.15/4.5.16: unknown URIs are skipped, all unknown is an error."""
    if not uris:
        raise DomainError(Fault.MISSING_PARAMETER, "siteUris")
    sites = [live.sites[uri] for uri in dict.fromkeys(uris) if uri in live.sites]
    if not sites:
        raise DomainError(Fault.SITE_NOT_FOUND, ", ".join(uris))
    return sites


def resolve_target(booked: Collection[str], target: str) -> str:
    """A continuous-presence target: "" or "0" is the conference's picture
    (CONFERENCE_TARGET), "(uri)" or a booked URI that site's own picture; another number is
    a CP group, which the simulator does not have (NOT_SUPPORTED)."""
    target = target.strip()
    if target in ("", "0"):
        return CONFERENCE_TARGET
    if target.startswith("(") and target.endswith(")"):
        uri = target[1:-1]
    elif target in booked:
        uri = target
    elif target.isdigit():
        raise DomainError(Fault.NOT_SUPPORTED, f"CP group {target}: only group 0 exists")
    else:
        uri = target
    if uri not in booked:
        raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, f"target {target}")
    return uri
