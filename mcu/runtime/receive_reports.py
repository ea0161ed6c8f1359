"""What the sites say they receive: the last receive report of each joined site.

A terminal reports, every few seconds of a conference call, the frame rate and the
glass-to-glass latency of what it decodes (the signalling's `stats` message,
docs/signalling.md "Receive statistics"). The MCU keeps the last report of each site for
display only (the console's health panel, /metrics): nothing decides anything from it, and
nothing of it is stored across a restart (it describes the media of the moment).

Bounded: a report is accepted only from a site connected in the conference its call
belongs to (one report per site URI, replacing the previous one), at most MAX_REPORTS at
once; a report is dropped once it is older than STALE_S or its site is no longer connected
there, so the reports (and the /metrics series made of them) follow the joined sites.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcu.clock import Clock
from mcu.errors import DomainError, Fault
from mcu.runtime.live_conferences import LiveConferences, connected_site

MAX_REPORTS = 1024  # every site of the largest MCU this simulates, with room to spare
STALE_S = 10.0  # five report intervals of a terminal (rtc/signalling.py STATS_INTERVAL_S)


@dataclass(frozen=True)
class StreamReceipt:
    """One stream as a site receives it: decoded frames a second, and the latency (ms,
    median and 95th percentile) of the frames it could read; None when it read none."""

    fps: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None


@dataclass(frozen=True)
class ReceiveReport:
    conf_id: str
    uri: str
    main: StreamReceipt
    content: StreamReceipt | None  # None: the site receives no content stream
    received_at: float  # clock.monotonic() when the MCU got it

    def age(self, now: float) -> float:
        return max(0.0, now - self.received_at)


class ReceiveReports:
    """The last report of each connected site (see the module docstring)."""

    def __init__(self, conferences: LiveConferences, clock: Clock,
                 stale_after: float = STALE_S, max_reports: int = MAX_REPORTS) -> None:
        self._conferences = conferences
        self._clock = clock
        self.stale_after = stale_after
        self.max_reports = max_reports
        self._reports: dict[str, ReceiveReport] = {}

    def record(self, conf_id: str, uri: str, main: StreamReceipt,
               content: StreamReceipt | None) -> ReceiveReport:
        """Keep this report as the site's last one. Refused (DomainError, nothing kept) when
        the conference is not live (CONFERENCE_NOT_ONGOING), the site is not booked in it
        (SITE_NOT_IN_CONFERENCE) or not connected (SITE_NOT_CONNECTED), or MAX_REPORTS
        other sites hold a report (CAPACITY_EXCEEDED)."""
        live = self._conferences.get(conf_id)
        if live is None:
            raise DomainError(Fault.CONFERENCE_NOT_ONGOING, conf_id)
        connected_site(live, uri)
        self._prune()
        if uri not in self._reports and len(self._reports) >= self.max_reports:
            raise DomainError(Fault.CAPACITY_EXCEEDED,
                              f"{self.max_reports} sites hold a receive report")
        report = ReceiveReport(conf_id, uri, main, content, self._clock.monotonic())
        self._reports[uri] = report
        return report

    def of_conference(self, conf_id: str) -> list[ReceiveReport]:
        """The current reports of the sites connected in this conference, by URI."""
        return [report for report in self.current() if report.conf_id == conf_id]

    def current(self) -> list[ReceiveReport]:
        """Every current report (fresh, its site still connected there), by conference and URI."""
        self._prune()
        return sorted(self._reports.values(), key=lambda r: (r.conf_id, r.uri))

    def now(self) -> float:
        return self._clock.monotonic()

    def _prune(self) -> None:
        now = self._clock.monotonic()
        for uri, report in list(self._reports.items()):
            if report.age(now) > self.stale_after or not self._connected(report):
                del self._reports[uri]

    def _connected(self, report: ReceiveReport) -> bool:
        live = self._conferences.get(report.conf_id)
        if live is None:
            return False
        site = live.sites.get(report.uri)
        return site is not None and site.connected
