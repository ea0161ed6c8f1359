"""An MCU's resources over a time window (queryMCUFutureResourceEx): for each resource type,
the window cut into slices of constant use, each with what is free and the total.

Resource types (MCUResourceItemEx.resourceType; the reference gives no table):

    1 site ports booked      a site of an occurrence holds one port from its begin to its end
    2 CP resources booked    an occurrence holds its conference's cpResouce likewise
    3 site ports in use      a site joined now holds its port from now to its occurrence's end
    4 CP resources in use    an ongoing conference holds its cpResouce from now to its end

Booked use is what the scheduler's capacity check counts (mcu/booking_rules.py
check_capacity), from the same bookings; a booking is refused when it needs more than is
free in these slices. Use in the live runtime is a projection of now: the sites joined at
the moment of the query (calls still ringing do not count), kept until their occurrence
ends; before now nothing is in use. Slices cover the window exactly, in order, adjacent
slices with the same use merged; free is total minus use, never below 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from mcu.live_conference import LiveConference
from mcu.mcus import Mcu, McuPool, ResourceKind
from mcu.model import Conference, Occurrence


class ResourceType(IntEnum):
    PORTS_BOOKED = 1
    CP_RESOURCES_BOOKED = 2
    PORTS_IN_USE = 3
    CP_RESOURCES_IN_USE = 4


KIND_OF: dict[ResourceType, ResourceKind] = {
    ResourceType.PORTS_BOOKED: ResourceKind.PORTS,
    ResourceType.CP_RESOURCES_BOOKED: ResourceKind.CP_RESOURCES,
    ResourceType.PORTS_IN_USE: ResourceKind.PORTS,
    ResourceType.CP_RESOURCES_IN_USE: ResourceKind.CP_RESOURCES,
}


@dataclass(frozen=True)
class Use:
    """`amount` of one resource type held from `begin` to `end`."""

    type: ResourceType
    begin: datetime
    end: datetime
    amount: int


@dataclass(frozen=True)
class ResourceSlice:
    begin: datetime
    duration: timedelta
    free: int
    total: int


@dataclass(frozen=True)
class ResourceTimeline:
    type: ResourceType
    slices: list[ResourceSlice]


@dataclass(frozen=True)
class McuResources:
    mcu_id: int
    timelines: list[ResourceTimeline]


def booked_uses(
    pool: McuPool, mcu: Mcu, bookings: Iterable[tuple[Conference, Occurrence]]
) -> list[Use]:
    """What the bookings (Scheduler.bookings_between) hold on `mcu`."""
    uses = []
    for conference, occurrence in bookings:
        ports = sum(1 for site in occurrence.sites if pool.serving(conference, site.uri) == mcu)
        uses.append(Use(ResourceType.PORTS_BOOKED, occurrence.begin, occurrence.end, ports))
        if pool.hosting(conference) == mcu:
            uses.append(
                Use(
                    ResourceType.CP_RESOURCES_BOOKED,
                    occurrence.begin,
                    occurrence.end,
                    conference.spec.cp_resource,
                )
            )
    return uses


def live_uses(
    pool: McuPool, mcu: Mcu, live: Iterable[LiveConference], now: datetime
) -> list[Use]:
    """What the conferences running now hold on `mcu`, from now to their end."""
    uses = []
    for conference in live:
        end = conference.occurrence.end
        joined = sum(
            1
            for site in conference.sites.values()
            if site.connected and pool.serving(conference.conference, site.uri) == mcu
        )
        uses.append(Use(ResourceType.PORTS_IN_USE, now, end, joined))
        if pool.hosting(conference.conference) == mcu:
            cp = conference.conference.spec.cp_resource
            uses.append(Use(ResourceType.CP_RESOURCES_IN_USE, now, end, cp))
    return uses


def mcu_resources(
    mcu: Mcu, uses: Sequence[Use], begin: datetime, end: datetime
) -> McuResources:
    """Every resource type's slices over [begin, end) (module docstring)."""
    timelines = []
    for kind in ResourceType:
        total = mcu.capacity[KIND_OF[kind]]
        mine = [use for use in uses if use.type is kind and use.begin < end and begin < use.end]
        timelines.append(ResourceTimeline(kind, _slices(mine, total, begin, end)))
    return McuResources(mcu.id, timelines)


def _slices(uses: list[Use], total: int, begin: datetime, end: datetime) -> list[ResourceSlice]:
    cuts = sorted(
        {begin, end}
        | {use.begin for use in uses if begin < use.begin < end}
        | {use.end for use in uses if begin < use.end < end}
    )

    def used_in(moment: datetime) -> int:
        return sum(use.amount for use in uses if use.begin <= moment < use.end)

    pieces: list[tuple[datetime, datetime, int]] = []
    for start, stop in zip(cuts, cuts[1:], strict=False):
        used = used_in(start)
        if pieces and pieces[-1][2] == used:
            pieces[-1] = (pieces[-1][0], stop, used)
        else:
            pieces.append((start, stop, used))
    return [
        ResourceSlice(start, stop - start, max(total - used, 0), total)
        for start, stop, used in pieces
    ]


def future_resources(
    pool: McuPool,
    mcu_ids: Sequence[int],
    bookings: Sequence[tuple[Conference, Occurrence]],
    live: Sequence[LiveConference],
    now: datetime,
    begin: datetime,
    end: datetime,
) -> list[McuResources]:
    """queryMCUFutureResourceEx: per MCU asked (each once, in the order asked; an unknown
    id refuses the whole query with MCU_NOT_FOUND), its resources over [begin, end) from
    `bookings` (Scheduler.bookings_between over the window) and `live` (the runtime's
    conferences running at `now`)."""
    mcus = [pool.get(mcu_id) for mcu_id in dict.fromkeys(mcu_ids)]
    return [
        mcu_resources(
            mcu, booked_uses(pool, mcu, bookings) + live_uses(pool, mcu, live, now), begin, end
        )
        for mcu in mcus
    ]
