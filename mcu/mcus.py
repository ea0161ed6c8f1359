"""The MCUs that run the media (queryMCUInfoEx, queryConfSiteMCUEx): today the one media
plane of this process, modelled as a pool so that more can be added.

An `Mcu` is what a platform knows of one: id, name, type, address (the media address
terminals' ICE candidates point at, `[mcu] media_address`), domain name, status and its
capacity per resource kind (site ports `[mcu] max_ports`, counted in ports of the costliest
video format, with what a port of each format costs, `[mcu.port_cost]`, mcu/port_costs.py;
continuous-presence resources `[mcu] max_cp_resources`: the same numbers the scheduler's
capacity check enforces). What is in use, booked or live, is computed from the scheduler
and the runtime (mcu/mcu_resources.py).

`McuPool` says which MCU serves a site of a conference. With one MCU every site of every
conference is served by it; with media nodes (`mcu-sim serve --redis`) the pool is
mcu/nodes/node_pool.py: one MCU per live node, a conference on the node it was placed on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from mcu.errors import DomainError, Fault
from mcu.model import Conference, Occurrence
from mcu.port_costs import PortCosts


class McuType(IntEnum):
    """MCUInfoEx.type. The reference gives no table; this platform has one kind."""

    SOFTWARE = 1  # a software MCU: this process's media plane (mcu/media/)


class McuStatus(IntEnum):
    """MCUInfoEx.stutas."""

    OFFLINE = 0  # the platform runs without a media plane (booking only)
    ONLINE = 1


class ResourceKind(IntEnum):
    PORTS = 0  # one per site in a conference, costing units by its format
    CP_RESOURCES = 1  # a conference's cpResouce


@dataclass(frozen=True)
class Mcu:
    id: int
    name: str
    type: McuType
    address: str  # the media address
    domain_name: str
    status: McuStatus
    capacity: dict[ResourceKind, int]  # PORTS: ports of the costliest format
    port_costs: PortCosts = field(default_factory=PortCosts)

    def pool(self, kind: ResourceKind) -> int:
        """The units of `kind` the MCU has: port units (max_ports x the costliest
        format's cost) or CP resources."""
        if kind is ResourceKind.PORTS:
            return self.port_costs.units(self.capacity[kind])
        return self.capacity[kind]


class McuPool:
    def __init__(self, mcus: Iterable[Mcu]) -> None:
        self._mcus = {mcu.id: mcu for mcu in sorted(mcus, key=lambda mcu: mcu.id)}
        if not self._mcus:
            raise ValueError("an MCU pool needs at least one MCU")

    def all(self) -> list[Mcu]:
        """In id order."""
        return list(self._mcus.values())

    def get(self, mcu_id: int) -> Mcu:
        mcu = self._mcus.get(mcu_id)
        if mcu is None:
            raise DomainError(Fault.MCU_NOT_FOUND, str(mcu_id))
        return mcu

    def hosting(self, conference: Conference) -> Mcu | None:
        """The MCU that runs the conference's mix and CP pictures (holds its cpResouce);
        None when it is on none (with media nodes: not running, so not placed yet)."""
        return next(iter(self._mcus.values()))

    def serving(self, conference: Conference, uri: str) -> Mcu | None:
        """The MCU a site of the conference is connected to (takes its port), or None."""
        return self.hosting(conference)

    def serving_sites(
        self, conference: Conference, occurrence: Occurrence, uris: Sequence[str] = ()
    ) -> list[tuple[str, Mcu]]:
        """(uri, MCU) for each site asked (every site of the occurrence when none is), in
        the order asked; SITE_NOT_IN_CONFERENCE when one is not booked in the occurrence."""
        booked = [site.uri for site in occurrence.sites]
        wanted = list(uris) or booked
        missing = [uri for uri in wanted if uri not in booked]
        if missing:
            raise DomainError(
                Fault.SITE_NOT_IN_CONFERENCE,
                f"{', '.join(missing)} not in conference {conference.conf_id} "
                f"at {occurrence.begin.isoformat()}",
            )
        served = [(uri, self.serving(conference, uri)) for uri in wanted]
        found = [(uri, mcu) for uri, mcu in served if mcu is not None]
        if len(found) < len(served):
            raise DomainError(
                Fault.CONFERENCE_NOT_ONGOING,
                f"conference {conference.conf_id} is on no media node: it is placed on one "
                "when it starts",
            )
        return found
