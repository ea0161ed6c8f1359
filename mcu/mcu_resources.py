"""An MCU's resources over a time window (queryMCUFutureResourceEx): for each resource type,
the window cut into slices of constant use, each with what is free and the total.

Resource types (MCUResourceItemEx.resourceType; the reference gives no table; 1-4 as they
were before ports had a cost per format, 100+ and 200+ added with it):

    1 site ports booked      ports of the MCU's costliest format (`[mcu] max_ports`): how
                             many more sites booked without a format (or at the costliest)
                             the free units hold
    2 CP resources booked    an occurrence holds its conference's cpResouce likewise
    3 site ports in use      as 1, for the sites joined now
    4 CP resources in use    an ongoing conference holds its cpResouce from now to its end
    100 + f  ports of format f booked   f the eSDK VideoFormat number (1 4CIF, 2 720P30,
                                        3 1080P30, ... 14 VGA; whatever the wire numbering
                                        setting): how many more sites of format f the free
                                        units hold, of how many on an empty MCU
    200 + f  ports of format f in use   likewise for the sites joined now

Every port type counts the one pool of port units (mcu/port_costs.py): a site holds the
units of its booked format (no format or auto: the costliest), from its occurrence's begin
to its end when booked, from now to its occurrence's end when joined. A type with cost c
answers free = (pool - units held) // c and total = pool // c: what an MCU with a shared
pool reports as its free HD or SD ports.

Booked use is what the scheduler's capacity check counts (mcu/booking_rules.py
check_capacity), from the same bookings; a booking is refused when it needs more units than
are free in these slices. Use in the live runtime is a projection of now: the sites joined
at the moment of the query (calls still ringing do not count), kept until their occurrence
ends; before now nothing is in use. Slices cover the window exactly, in order, adjacent
slices with the same use merged; free is never below 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from mcu.live_conference import LiveConference
from mcu.mcus import Mcu, McuPool, ResourceKind
from mcu.model import Conference, Occurrence
from mcu.port_costs import PRICED_FORMATS


class ResourceType(IntEnum):
    PORTS_BOOKED = 1
    CP_RESOURCES_BOOKED = 2
    PORTS_IN_USE = 3
    CP_RESOURCES_IN_USE = 4


FORMAT_BOOKED_BASE = 100  # + the eSDK VideoFormat number
FORMAT_IN_USE_BASE = 200


@dataclass(frozen=True)
class Counter:
    """One resource type: which units it counts (kind; booked or in use) and how many units
    one counted resource takes."""

    number: int  # resourceType on the wire
    kind: ResourceKind
    booked: bool
    cost: int


def counters(mcu: Mcu) -> list[Counter]:
    """The MCU's resource types in answer order: 1-4, then 100+f and 200+f per format."""
    top = mcu.port_costs.top
    found = [
        Counter(ResourceType.PORTS_BOOKED, ResourceKind.PORTS, True, top),
        Counter(ResourceType.CP_RESOURCES_BOOKED, ResourceKind.CP_RESOURCES, True, 1),
        Counter(ResourceType.PORTS_IN_USE, ResourceKind.PORTS, False, top),
        Counter(ResourceType.CP_RESOURCES_IN_USE, ResourceKind.CP_RESOURCES, False, 1),
    ]
    for base, booked in ((FORMAT_BOOKED_BASE, True), (FORMAT_IN_USE_BASE, False)):
        found += [
            Counter(base + int(video_format), ResourceKind.PORTS, booked,
                    mcu.port_costs.of(video_format))
            for video_format in PRICED_FORMATS
        ]
    return found


@dataclass(frozen=True)
class Use:
    """`units` of one kind held from `begin` to `end`, by a booking or by live use."""

    kind: ResourceKind
    booked: bool
    begin: datetime
    end: datetime
    units: int


@dataclass(frozen=True)
class ResourceSlice:
    begin: datetime
    duration: timedelta
    free: int
    total: int


@dataclass(frozen=True)
class ResourceTimeline:
    type: int  # the resource type number (module docstring)
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
        units = mcu.port_costs.of_sites(
            site for site in occurrence.sites if pool.serving(conference, site.uri) == mcu
        )
        uses.append(Use(ResourceKind.PORTS, True, occurrence.begin, occurrence.end, units))
        if pool.hosting(conference) == mcu:
            uses.append(
                Use(
                    ResourceKind.CP_RESOURCES,
                    True,
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
        joined = mcu.port_costs.of_sites(
            site.spec
            for site in conference.sites.values()
            if site.connected and pool.serving(conference.conference, site.uri) == mcu
        )
        uses.append(Use(ResourceKind.PORTS, False, now, end, joined))
        if pool.hosting(conference.conference) == mcu:
            cp = conference.conference.spec.cp_resource
            uses.append(Use(ResourceKind.CP_RESOURCES, False, now, end, cp))
    return uses


def mcu_resources(
    mcu: Mcu, uses: Sequence[Use], begin: datetime, end: datetime
) -> McuResources:
    """Every resource type's slices over [begin, end) (module docstring)."""
    timelines = []
    for counter in counters(mcu):
        mine = [
            use for use in uses
            if use.kind is counter.kind and use.booked == counter.booked
            and use.begin < end and begin < use.end
        ]
        pieces = _slices(mine, mcu.pool(counter.kind), counter.cost, begin, end)
        timelines.append(ResourceTimeline(counter.number, pieces))
    return McuResources(mcu.id, timelines)


def _slices(
    uses: list[Use], pool: int, cost: int, begin: datetime, end: datetime
) -> list[ResourceSlice]:
    """Slices of constant use; free and total counted in resources of `cost` units."""
    cuts = sorted(
        {begin, end}
        | {use.begin for use in uses if begin < use.begin < end}
        | {use.end for use in uses if begin < use.end < end}
    )

    def used_in(moment: datetime) -> int:
        return sum(use.units for use in uses if use.begin <= moment < use.end)

    pieces: list[tuple[datetime, datetime, int]] = []
    for start, stop in zip(cuts, cuts[1:], strict=False):
        used = used_in(start)
        if pieces and pieces[-1][2] == used:
            pieces[-1] = (pieces[-1][0], stop, used)
        else:
            pieces.append((start, stop, used))
    return [
        ResourceSlice(start, stop - start, max(pool - used, 0) // cost, pool // cost)
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
