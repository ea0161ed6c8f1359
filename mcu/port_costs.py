"""What one site port costs on the MCU, by the video format the site is booked with.

A professional MCU does not count every port alike: its capacity is a pool of processing,
and an HD port takes more of it than an SD one (Polycom RMX "resource units": CIF 1, SD
1.5, HD 720p30 3, HD 1080p30 6, 1080p60 12; Huawei's VP9600 datasheets likewise quote so
many 1080p60 ports, twice as many 1080p30/720p60, twice again 720p30, ...). This MCU does
the same:

- each video format costs a whole number of units (`[mcu.port_cost]`, default
  DEFAULT_PORT_COSTS: the RMX ratios doubled to stay whole: SQCIF/QCIF/CIF 1, the SD
  formats 2, 720P30 4, 720P60/1080P30/1080I 8, 1080P60 16; a 25/50 fps format, unless
  named, costs its 30/60 fps twin: RATE_TWINS);
- the MCU has `max_ports` ports of its costliest format, so `max_ports * top` units;
- a site booked without a format (or with auto) may negotiate up to the best the MCU
  offers, so it is reserved at the costliest format: one of `max_ports`, exactly as every
  site was counted before ports had a cost. A booking that fitted then still fits.

The booking capacity check (mcu/booking_rules.py check_capacity) sums the units of the
sites of every overlapping occurrence against the pool; queryMCUFutureResourceEx
(mcu/mcu_resources.py) answers, per format, how many more sites of that format the free
units hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mcu.model import SiteSpec, VideoFormat

# The names a settings file gives formats (the eSDK's, as docs/gateway.md "Enumerations").
FORMAT_NAMES: dict[str, VideoFormat] = {
    "4CIF": VideoFormat.CIF4,
    "720P30": VideoFormat.HD720P30,
    "1080P30": VideoFormat.HD1080P30,
    "480P": VideoFormat.P480,
    "720P60": VideoFormat.HD720P60,
    "1080P60": VideoFormat.HD1080P60,
    "QCIF": VideoFormat.QCIF,
    "CIF": VideoFormat.CIF,
    "SQCIF": VideoFormat.SQCIF,
    "CIF2": VideoFormat.CIF2,
    "I108": VideoFormat.I108,
    "I480": VideoFormat.I480,
    "P360": VideoFormat.P360,
    "VGA": VideoFormat.VGA,
    "720P25": VideoFormat.HD720P25,
    "720P50": VideoFormat.HD720P50,
    "1080P25": VideoFormat.HD1080P25,
    "1080P50": VideoFormat.HD1080P50,
    "1080I50": VideoFormat.I108_50,
}
NAME_OF: dict[VideoFormat, str] = {value: name for name, value in FORMAT_NAMES.items()}

# every format a site can be booked with, auto excepted, in eSDK number order
PRICED_FORMATS: tuple[VideoFormat, ...] = tuple(
    sorted((f for f in VideoFormat if f is not VideoFormat.AUTO), key=int)
)

DEFAULT_PORT_COSTS: Mapping[VideoFormat, int] = MappingProxyType({
    VideoFormat.SQCIF: 1,
    VideoFormat.QCIF: 1,
    VideoFormat.CIF: 1,
    VideoFormat.CIF2: 2,
    VideoFormat.P360: 2,
    VideoFormat.VGA: 2,
    VideoFormat.P480: 2,
    VideoFormat.I480: 2,
    VideoFormat.CIF4: 2,
    VideoFormat.HD720P30: 4,
    VideoFormat.HD720P60: 8,
    VideoFormat.HD1080P30: 8,
    VideoFormat.I108: 8,
    VideoFormat.HD1080P60: 16,
})

# The 25/50 fps formats (and 1080i50) cost what their 30/60 fps twin costs unless a settings
# file names them: the same picture size in the same rate class, as the RMX counts ports, and
# a config that prices 1080P60 prices 1080P50 with it.
RATE_TWINS: Mapping[VideoFormat, VideoFormat] = MappingProxyType({
    VideoFormat.HD720P25: VideoFormat.HD720P30,
    VideoFormat.HD720P50: VideoFormat.HD720P60,
    VideoFormat.HD1080P25: VideoFormat.HD1080P30,
    VideoFormat.HD1080P50: VideoFormat.HD1080P60,
    VideoFormat.I108_50: VideoFormat.I108,
})


@dataclass(frozen=True)
class PortCosts:
    """Units per format; every format but auto has one, each >= 1."""

    costs: Mapping[VideoFormat, int] = field(default_factory=lambda: DEFAULT_PORT_COSTS)

    def __post_init__(self) -> None:
        costs = dict(self.costs)
        for video_format, twin in RATE_TWINS.items():
            if video_format not in costs and twin in costs:
                costs[video_format] = costs[twin]
        object.__setattr__(self, "costs", costs)
        missing = [NAME_OF[f] for f in PRICED_FORMATS if f not in self.costs]
        if missing:
            raise ValueError(f"no port cost for {', '.join(missing)}")
        if VideoFormat.AUTO in self.costs:
            raise ValueError("auto has no port cost of its own (it costs the costliest format)")
        bad = [NAME_OF[f] for f, cost in self.costs.items()
               if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1]
        if bad:
            raise ValueError(f"port costs must be whole numbers >= 1: {', '.join(bad)}")
        object.__setattr__(self, "costs", MappingProxyType(dict(self.costs)))

    @property
    def top(self) -> int:
        """The cost of the costliest format: what a site without a format is reserved at."""
        return max(self.costs.values())

    def of(self, video_format: VideoFormat | None) -> int:
        if video_format is None or video_format is VideoFormat.AUTO:
            return self.top
        return self.costs[video_format]

    def of_sites(self, sites: Iterable[SiteSpec]) -> int:
        return sum(self.of(site.video_format) for site in sites)

    def units(self, max_ports: int) -> int:
        """The MCU's pool: `max_ports` ports of the costliest format."""
        return max_ports * self.top
