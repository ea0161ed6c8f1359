"""The console's health of a conference (docs/console.md, "Health"): its encoder groups with
their output frame rates and receivers, the MCU's CPU, the ticks' lateness, and a history of
the last HISTORY_S seconds for the page's plot.

The numbers are the ones /metrics exposes, read from the same objects: the media engine's
group stats (`MediaEngine.stats()`, whose groups `mcu_sim_encoder_groups` counts), its
`TickLateness` (`mcu_sim_tick_lateness_seconds`) and prometheus-client's ProcessCollector
(`process_cpu_seconds_total`; CPU % = its growth over wall time, 100 = one core busy).
A sampler task records one point every SAMPLE_S seconds while a console has asked for a
health answer in the last IDLE_STOP_S seconds (no page open: no sampling).

The media: what each site's call negotiated (codecs, format, encryption), from the runtime's
site statuses (gateway/console/site_media.py).

The probes: the last receive report of each site connected in the conference (the
terminals' `stats` messages, kept by mcu/runtime/receive_reports.py), as the sites said
them: frame rates and latencies of the main picture and the content, and the report's age.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass

from mcu.media.engine import MediaEngine
from mcu.runtime.receive_reports import ReceiveReports, StreamReceipt

SAMPLE_S = 2.0
HISTORY_S = 300.0  # the plot's span: the last five minutes
IDLE_STOP_S = 60.0


@dataclass(frozen=True)
class Sample:
    t: float  # time.monotonic()
    fps: float  # the sum of the conference's groups' output frame rates
    cpu: float  # the process's CPU %, over the last sample interval


class HealthHistory:
    """Samples of each live conference, the last HISTORY_S seconds."""

    def __init__(self, engine: Callable[[], MediaEngine | None],
                 cpu_seconds: Callable[[], float | None],
                 receive_reports: ReceiveReports | None = None,
                 negotiated: Callable[[str], list[dict[str, object]]] | None = None) -> None:
        self._engine = engine
        self._negotiated = negotiated
        self._receive_reports = receive_reports
        self._cpu_seconds = cpu_seconds
        self.samples: dict[str, collections.deque[Sample]] = {}
        self._last_cpu: tuple[float, float] | None = None  # (monotonic, cpu seconds)
        self.cpu_percent = 0.0
        self._task: asyncio.Task[None] | None = None
        self._asked = 0.0

    def asked(self) -> None:
        """A page wants health: sample (from now on, until nobody asks for IDLE_STOP_S)."""
        self._asked = time.monotonic()
        if self._task is None or self._task.done():
            self.sample()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="health")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while time.monotonic() - self._asked < IDLE_STOP_S:
            await asyncio.sleep(SAMPLE_S)
            self.sample()

    def sample(self) -> None:
        now = time.monotonic()
        cpu = self._cpu_seconds()
        if cpu is not None:
            if self._last_cpu is not None and now > self._last_cpu[0]:
                self.cpu_percent = round(100 * (cpu - self._last_cpu[1])
                                         / (now - self._last_cpu[0]), 1)
            self._last_cpu = (now, cpu)
        engine = self._engine()
        stats = engine.stats() if engine is not None else []
        live = set()
        for conference in stats:
            live.add(conference.conf_id)
            fps = round(sum(group.output_fps for group in conference.groups), 1)
            history = self.samples.setdefault(conference.conf_id, collections.deque())
            history.append(Sample(now, fps, self.cpu_percent))
            while history and history[0].t < now - HISTORY_S:
                history.popleft()
        for conf_id in [conf_id for conf_id in self.samples if conf_id not in live]:
            del self.samples[conf_id]  # ended

    def report(self, conf_id: str) -> dict[str, object]:
        """The health answer of one conference (JSON)."""
        engine = self._engine()
        groups: list[dict[str, object]] = []
        lateness_ms = None
        if engine is not None:
            for conference in engine.stats():
                if conference.conf_id == conf_id:
                    groups = [{"picture": group.picture, "format": group.format,
                               "output_fps": group.output_fps,
                               "frames_encoded": group.frames_encoded,
                               "receivers": len(group.sites)} for group in conference.groups]
            lateness = engine.tick_lateness
            if lateness.count:
                lateness_ms = round(1000 * lateness.sum / lateness.count, 2)
        history = list(self.samples.get(conf_id, ()))
        origin = history[-1].t if history else 0.0
        return {
            "conf_id": conf_id,
            "groups": groups,
            "cpu_percent": self.cpu_percent,
            "tick_lateness_ms": lateness_ms,
            "probes": self.probes(conf_id),
            "media": self._negotiated(conf_id) if self._negotiated is not None else [],
            "span_s": HISTORY_S,
            "history": [{"t": round(s.t - origin, 2), "fps": s.fps, "cpu": s.cpu}
                        for s in history],
        }

    def probes(self, conf_id: str) -> list[dict[str, object]]:
        """The sites' last receive reports in this conference (JSON), by URI."""
        reports = self._receive_reports
        if reports is None:
            return []
        now = reports.now()
        return [{"uri": report.uri, "age_s": round(report.age(now), 1),
                 "main": _receipt(report.main),
                 "content": _receipt(report.content) if report.content else None}
                for report in reports.of_conference(conf_id)]


def _receipt(receipt: StreamReceipt) -> dict[str, float | None]:
    return {"fps": receipt.fps, "latency_ms_p50": receipt.latency_ms_p50,
            "latency_ms_p95": receipt.latency_ms_p95}
