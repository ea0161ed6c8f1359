"""GET /metrics: the Prometheus text format (prometheus-client), one registry per server.

- SOAP requests, counted and timed where gateway/server.py answers them: by operation (a
  name of the WSDL, or "unknown" when the body named none) and result (the answer's
  resultCode, or "fault" for a SOAP fault).
- Everything else is read at scrape time by `StateCollector`, a custom collector, from what
  the process holds already (nothing is counted a second time): sessions
  (gateway/sessions.py), conferences and sites by state (the same queries as
  queryConferencesStatusEx and queryConfSitesStatusEx, mcu/runtime/status.py), the media
  engine's encoder groups and running totals (mcu/media/media_totals.py) and its tick
  lateness (mcu/media/tick_lateness.py).
- The sites' receive reports (the terminals' `stats` messages, mcu/runtime/receive_reports.py),
  as the sites said them: `mcu_sim_site_receive_fps` and `mcu_sim_site_receive_latency_seconds`
  (quantile 0.5 and 0.95), labelled by conference, site and stream (main, content). Only the
  current reports of connected sites are series (at most MAX_REPORTS sites, each gone once
  its site leaves or stops reporting), so the label sets follow the joined sites.
- The process (prometheus-client's ProcessCollector): `process_cpu_seconds_total`, memory,
  open files; the console's health plot reads the same CPU seconds.

Who may read it ([metrics] in the settings; docs/security.md): a client address inside
`allowed_addresses` (loopback by default), else 403; and, when a token is set, the header
`Authorization: Bearer <token>`, else 401. No SOAP session is needed.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from gateway.wire import ALL_OPERATIONS

if TYPE_CHECKING:
    from gateway.sessions import SessionStore
    from gateway.settings import Settings
    from mcu.media.engine import MediaEngine
    from mcu.runtime import ConferenceRuntime

log = logging.getLogger("gateway.metrics")

METRICS_PATH = "/metrics"
UNKNOWN_OPERATION = "unknown"  # a request whose body named no operation of the WSDL
FAULT = "fault"  # the result label of a SOAP fault (no resultCode)


class SoapMetrics:
    """The two SOAP instruments, on the server's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "mcu_sim_soap_requests", "SOAP requests answered, by operation and result "
            "(the resultCode, or 'fault' for a SOAP fault)",
            ["operation", "result"], registry=registry)
        self.duration = Histogram(
            "mcu_sim_soap_request_duration_seconds", "Time from a SOAP request's arrival to "
            "its answer, by operation", ["operation"], registry=registry)

    def observe(self, operation: str, result_code: int | None, seconds: float) -> None:
        name = operation if operation in ALL_OPERATIONS else UNKNOWN_OPERATION
        result = FAULT if result_code is None else str(result_code)
        self.requests.labels(name, result).inc()
        self.duration.labels(name).observe(seconds)


class StateCollector(Collector):
    """What the process holds, read at each scrape."""

    def __init__(self, sessions: SessionStore, runtime: ConferenceRuntime | None,
                 engine: Callable[[], MediaEngine | None]) -> None:
        self._sessions = sessions
        self._runtime = runtime
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        sessions = GaugeMetricFamily(
            "mcu_sim_sessions", "Unexpired SOAP sessions by state", labels=["state"])
        for state, count in self._sessions.counts().items():
            sessions.add_metric([state.value], count)
        yield sessions
        if self._runtime is not None:
            yield from self._conferences(self._runtime)
            yield from self._receive_reports(self._runtime)
        engine = self._engine()
        if engine is not None:
            yield from self._media(engine)

    @staticmethod
    def _conferences(runtime: ConferenceRuntime) -> Iterator[Metric]:
        by_state, sites_by_state = runtime.status.state_counts()
        conferences = GaugeMetricFamily(
            "mcu_sim_conferences", "Conferences the scheduler holds, by the state "
            "queryConferencesStatusEx answers", labels=["state"])
        for conference_state, count in by_state.items():
            conferences.add_metric([conference_state.name.lower()], count)
        yield conferences
        sites = GaugeMetricFamily(
            "mcu_sim_sites", "Sites of the ongoing conferences, by the call state "
            "queryConfSitesStatusEx answers", labels=["state"])
        for site_state, count in sites_by_state.items():
            sites.add_metric([site_state.name.lower()], count)
        yield sites

    @staticmethod
    def _receive_reports(runtime: ConferenceRuntime) -> Iterator[Metric]:
        labels = ["conference", "site", "stream"]
        fps = GaugeMetricFamily(
            "mcu_sim_site_receive_fps", "Frames a second a site reports it decoded over its "
            "last report interval (the terminal's own figure, for display)", labels=labels)
        latency = GaugeMetricFamily(
            "mcu_sim_site_receive_latency_seconds", "Glass-to-glass latency a site reports "
            "for the frames it read, median and 95th percentile (the terminal's own figure)",
            labels=[*labels, "quantile"])
        for report in runtime.receive_reports.current():
            streams = [("main", report.main)]
            if report.content is not None:
                streams.append(("content", report.content))
            for stream, receipt in streams:
                fps.add_metric([report.conf_id, report.uri, stream], receipt.fps)
                for quantile, value in (("0.5", receipt.latency_ms_p50),
                                        ("0.95", receipt.latency_ms_p95)):
                    if value is not None:
                        latency.add_metric([report.conf_id, report.uri, stream, quantile],
                                           value / 1000)
        yield fps
        yield latency

    @staticmethod
    def _media(engine: MediaEngine) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "mcu_sim_encoder_groups", "Open video encoder groups (one per distinct output)",
            value=engine.encoder_groups())
        totals = engine.totals()
        for name, documentation, value in (
            ("mcu_sim_video_frames_encoded", "Video frames encoded by the encoder groups",
             totals.video_frames_encoded),
            ("mcu_sim_video_frames_delivered", "Encoded video frames handed to the sites' "
             "senders (main and content streams)", totals.video_frames_delivered),
            ("mcu_sim_video_frames_dropped", "Decoded input pictures replaced by a newer one "
             "before a tick composed them", totals.video_frames_dropped),
            ("mcu_sim_audio_mix_frames_encoded", "20 ms Opus frames of the N-1 audio mixes "
             "encoded", totals.audio_mix_frames_encoded),
            ("mcu_sim_audio_frames_decoded", "20 ms frames of the sites' voices decoded",
             totals.audio_frames_decoded),
            ("mcu_sim_audio_frames_undecoded", "20 ms frames of the sites' voices left "
             "undecoded: their RFC 6464 level said nobody would hear them",
             totals.audio_frames_undecoded),
            ("mcu_sim_audio_input_underruns", "Times a site's voice ran out while the mix "
             "played it (a cut: late or lost audio; silence until 40 ms are in again)",
             totals.audio_input_underruns),
            ("mcu_sim_audio_input_dropped_samples", "48 kHz samples of the sites' voices "
             "dropped unplayed (a full mix input, or a standing backlog cut back to keep the "
             "voice with its picture)", totals.audio_input_samples_dropped),
            ("mcu_sim_rtp_packets_sent", "RTP packets sent to the sites",
             totals.rtp_packets_sent),
            ("mcu_sim_rtp_payload_sent_bytes", "Payload bytes of the RTP packets sent to the "
             "sites", totals.rtp_payload_bytes_sent),
            ("mcu_sim_rtp_packets_received", "RTP packets received from the sites",
             totals.rtp_packets_received),
            ("mcu_sim_rtp_payload_received_bytes", "Payload bytes of the RTP packets received "
             "from the sites", totals.rtp_payload_bytes_received),
            ("mcu_sim_rtcp_nack_sent", "RTCP NACK packets the MCU sent to the sites (packets "
             "it did not receive)", totals.rtcp_nack_sent),
            ("mcu_sim_rtcp_nack_received", "RTCP NACK packets the sites sent to the MCU "
             "(packets they did not receive)", totals.rtcp_nack_received),
            ("mcu_sim_rtcp_pli_sent", "RTCP PLI packets (picture loss) the MCU sent to the "
             "sites", totals.rtcp_pli_sent),
            ("mcu_sim_rtcp_pli_received", "RTCP PLI packets (picture loss) the sites sent to "
             "the MCU", totals.rtcp_pli_received),
        ):
            yield CounterMetricFamily(name, documentation, value=value)
        lateness = engine.tick_lateness
        histogram = HistogramMetricFamily(
            "mcu_sim_tick_lateness_seconds", "How late each video and audio tick of the "
            "conferences' media started after its scheduled time")
        histogram.add_metric([], lateness.cumulative_buckets(), sum_value=lateness.sum)
        yield histogram


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry
    soap: SoapMetrics
    process: ProcessCollector  # process_cpu_seconds_total etc. (the console's health reads it)

    def cpu_seconds(self) -> float | None:
        """process_cpu_seconds_total as /metrics answers it; None where the platform has
        no /proc."""
        for metric in self.process.collect():
            if metric.name == "process_cpu_seconds":
                return float(metric.samples[0].value)
        return None


METRICS = web.AppKey("metrics", GatewayMetrics)


def install_metrics(app: web.Application, settings: Settings, sessions: SessionStore,
                    runtime: ConferenceRuntime | None,
                    engine: Callable[[], MediaEngine | None]) -> GatewayMetrics:
    """A registry of this server's own, its SOAP instruments and collector, and GET /metrics."""
    registry = CollectorRegistry(auto_describe=False)
    metrics = GatewayMetrics(registry, SoapMetrics(registry), ProcessCollector(registry=registry))
    registry.register(StateCollector(sessions, runtime, engine))
    app[METRICS] = metrics

    async def metrics_get(request: web.Request) -> web.Response:
        refused = refusal(request, settings)
        if refused is not None:
            return refused
        try:
            body = generate_latest(registry)
        except Exception:
            log.exception("metrics collection failed")
            return web.Response(status=503, text="metrics could not be collected now; "
                                                 "the server log says why\n")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    app.router.add_get(METRICS_PATH, metrics_get)
    return metrics


def refusal(request: web.Request, settings: Settings) -> web.Response | None:
    """403 for an address outside [metrics] allowed_addresses, 401 without the token."""
    address = _client_address(request.remote)
    if address is None or not any(address in network
                                  for network in settings.metrics_allowed_addresses):
        return web.Response(status=403, text=f"metrics: the address {request.remote} may not "
                            "read /metrics ([metrics] allowed_addresses)\n")
    token = settings.metrics_token
    if not token:
        return None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return web.Response(
            status=401, text="metrics: send Authorization: Bearer <token> ([metrics] token)\n",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode("ascii")):
        return web.Response(
            status=401, text="metrics: the bearer token is not the one configured\n",
            headers={"WWW-Authenticate": 'Bearer realm="metrics", error="invalid_token"'})
    return None


def _client_address(remote: str | None) -> IPv4Address | IPv6Address | None:
    if not remote:
        return None
    try:
        address = ip_address(remote.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
