"""The terminals' receive reports (the signalling's `stats`, docs/signalling.md "Receive
statistics") against a real running server with simulated terminals in a conference
scheduled from the console:

- the health answer (GET /console/health) and /metrics show, per site, what each terminal
  measured: the frame rate it decodes and the glass-to-glass latency of the markers it read
  (p50 <= p95), labelled by conference, site and stream; a site that leaves the conference
  leaves both;
- the MCU keeps the figures as the site sent them (display only);
- a malformed report is answered `malformed` for its call and changes nothing; one for a
  call the terminal does not have is `unknown_call` and changes nothing;
- the domain's rule: only a site connected in the conference holds a report, one per site,
  at most MAX_REPORTS, dropped when stale or when the site leaves;
- the terminal's own figures (frames a second over the interval, nearest-rank p50/p95).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mcu.errors import DomainError, Fault
from mcu.runtime.receive_reports import STALE_S, ReceiveReports
from mcu.runtime.receive_reports import StreamReceipt as DomainReceipt
from rtc.signalling import Error, Message, ReceiveStats, StreamReceipt
from terminals.client import SimulatedTerminal
from terminals.receive_report import StreamMeter, latency_ms, percentile
from terminals.run_command import terminal_uri
from tests.test_console import (
    SMALL,
    act,
    browser_session,
    csrf_of,
    eventually,
    log_in,
    scheduled_now,
    server,  # noqa: F401 - the fixture
    soap,  # noqa: F401 - the fixture
)
from tests.test_runtime import A, B, C, joined_conference


class ErrorSpy:
    """The `error` messages the MCU sends one simulated terminal."""

    def __init__(self, sim: SimulatedTerminal) -> None:
        self.errors: list[Error] = []
        original = sim._on_message

        async def spy(message: Message) -> None:
            if isinstance(message, Error):
                self.errors.append(message)
            await original(message)

        sim._on_message = spy  # type: ignore[method-assign]

    async def next_error(self, timeout: float = 10.0) -> Error:
        seen = len(self.errors)

        async def arrived() -> bool:
            return len(self.errors) > seen

        await eventually(arrived, timeout=timeout, what="an error from the MCU")
        return self.errors[seen]


async def reporting_sim(server, index: int,  # noqa: F811
                        stats_interval_s: float | None) -> SimulatedTerminal:
    sim = SimulatedTerminal(uri=terminal_uri("0188", index), name=f"Site {index}",
                            site_index=index, ring_delay_s=0.1, video_format=SMALL,
                            loop_frames=10, analyse_every=2, stats_interval_s=stats_interval_s)
    await sim.start(server.url("/signalling").replace("http", "ws", 1))
    return sim


async def call_in_progress(http, server, csrf, soap,  # noqa: F811
                           sim: SimulatedTerminal) -> tuple[str, str]:
    """A conference scheduled now with `sim` in it, once its media connected: (confId,
    the terminal's call id)."""
    conf_id = await scheduled_now(http, server, csrf, soap, [sim.uri])
    assert sim._call is not None
    call_id = sim._call.call_id

    async def in_call() -> bool:
        return sim.state == "in_call"

    await eventually(in_call, what="the terminal's media connected")
    return conf_id, call_id


@pytest.fixture
async def admin(server) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:  # noqa: F811
    async with browser_session() as http:
        await log_in(http, server)
        yield http, await csrf_of(http, server)


async def probes(http: aiohttp.ClientSession, server, conf_id: str) -> dict[str, dict]:  # noqa: F811
    async with http.get(server.url(f"/console/health?conf={conf_id}")) as response:
        assert response.status == 200
        health = await response.json()
    return {probe["uri"]: probe for probe in health["probes"]}


async def reported_series(server) -> dict[tuple[str, ...], float]:  # noqa: F811
    """The receive-report series of /metrics: (name, conference, site, stream[, quantile])."""
    async with aiohttp.ClientSession() as http, http.get(server.url("/metrics")) as response:
        assert response.status == 200
        text = await response.text()
    series = {}
    for family in text_string_to_metric_families(text):
        if family.name in ("mcu_sim_site_receive_fps", "mcu_sim_site_receive_latency_seconds"):
            for sample in family.samples:
                labels = sample.labels
                key = (sample.name, labels["conference"], labels["site"], labels["stream"],
                       *([labels["quantile"]] if "quantile" in labels else []))
                series[key] = sample.value
    return series


async def test_the_health_panel_and_metrics_show_what_the_terminals_measure(
        server, soap, admin):  # noqa: F811
    http, csrf = admin
    sims = [await reporting_sim(server, 5, 0.5), await reporting_sim(server, 6, 0.5)]
    try:
        uris = [sim.uri for sim in sims]
        conf_id = await scheduled_now(http, server, csrf, soap, uris)

        async def both_measured() -> bool:
            found = await probes(http, server, conf_id)
            return all(uri in found and found[uri]["main"]["latency_ms_p50"] is not None
                       and found[uri]["main"]["fps"] > 0 for uri in uris)

        await eventually(both_measured, timeout=60, what="both sites report their latency")
        found = await probes(http, server, conf_id)
        for sim in sims:
            main = found[sim.uri]["main"]
            assert 0 < main["latency_ms_p50"] <= main["latency_ms_p95"] < 60_000
            assert 0 < main["fps"] <= 60
            assert found[sim.uri]["content"] is None  # nobody shares content
            # what the MCU shows is one of the reports the terminal sent, as it sent it
            assert any(report.main == StreamReceipt(**main) for report in sim.reports_sent)

        series = await reported_series(server)
        for uri in uris:
            assert series[("mcu_sim_site_receive_fps", conf_id, uri, "main")] > 0
            p50 = series[("mcu_sim_site_receive_latency_seconds", conf_id, uri, "main", "0.5")]
            p95 = series[("mcu_sim_site_receive_latency_seconds", conf_id, uri, "main", "0.95")]
            assert 0 < p50 <= p95 < 60
        assert {key[2] for key in series} == set(uris)  # one site label per reporting site

        # a site that leaves takes its report (and its series) with it
        status, answer = await act(http, server, csrf, "disconnect", confId=conf_id,
                                   uri=uris[1])
        assert status == 200, answer

        async def gone() -> bool:
            return uris[1] not in await probes(http, server, conf_id)

        await eventually(gone, what="the disconnected site's report dropped")
        assert {key[2] for key in await reported_series(server)} == {uris[0]}
    finally:
        for sim in sims:
            await sim.stop()


async def test_a_malformed_report_is_refused_and_changes_nothing(server, soap, admin):  # noqa: F811
    http, csrf = admin
    sim = await reporting_sim(server, 7, None)  # reports only what this test sends
    spy = ErrorSpy(sim)
    try:
        conf_id, call_id = await call_in_progress(http, server, csrf, soap, sim)
        good = ReceiveStats(call_id, StreamReceipt(25.0, 100.0, 150.0),
                            StreamReceipt(5.0, None, None))
        await sim._send(good)

        async def kept() -> bool:
            return sim.uri in await probes(http, server, conf_id)

        await eventually(kept, what="the report kept")
        expected = {"fps": 25.0, "latency_ms_p50": 100.0, "latency_ms_p95": 150.0}
        before = await probes(http, server, conf_id)
        assert before[sim.uri]["main"] == expected
        assert before[sim.uri]["content"] == {"fps": 5.0, "latency_ms_p50": None,
                                              "latency_ms_p95": None}
        series_before = await reported_series(server)
        assert series_before[("mcu_sim_site_receive_latency_seconds", conf_id, sim.uri,
                              "main", "0.95")] == pytest.approx(0.150)

        bad_mains = [
            {"fps": -1}, {"fps": 241}, {"fps": "25"}, {"fps": True}, {},
            {"fps": 25, "latency_ms_p50": 80},
            {"fps": 25, "latency_ms_p50": 80, "latency_ms_p95": 60},
            {"fps": 25, "latency_ms_p50": 80, "latency_ms_p95": 60_001},
        ]
        frames = [json.dumps({"type": "stats", "call_id": call_id, "main": main})
                  for main in bad_mains]
        frames += [json.dumps({"type": "stats", "call_id": call_id}),
                   json.dumps({"type": "stats", "call_id": call_id,
                               "main": {"fps": 30}, "content": "none"})]
        assert sim._ws is not None
        for frame in frames:
            await sim._ws.send_str(frame)
            error = await spy.next_error()
            assert error.code == "malformed" and error.call_id == call_id, (frame, error)
            assert error.message.startswith("stats.")  # the path of what was refused
        # not JSON at all: refused before any call_id could be read
        await sim._ws.send_str(json.dumps({"type": "stats", "call_id": call_id,
                                           "main": {"fps": 1}}).replace("1}", "NaN}"))
        error = await spy.next_error()
        assert error.code == "malformed" and error.call_id is None

        await sim._send(ReceiveStats("not-a-call", StreamReceipt(1.0, 1.0, 2.0)))
        error = await spy.next_error()
        assert error.code == "unknown_call" and error.call_id == "not-a-call"

        after = await probes(http, server, conf_id)
        assert after[sim.uri]["main"] == expected
        assert after[sim.uri]["content"] == before[sim.uri]["content"]
        assert await reported_series(server) == series_before
    finally:
        await sim.stop()


async def test_a_report_crossing_the_mcus_bye_is_refused_quietly(
        server, soap, admin, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """A stats report (or a bye) the terminal sent for a call the MCU had just ended is
    refused `unknown_call`, as any other for a call the MCU does not have; the terminal,
    which has ended that call too, takes it as expected (debug), not as a warning. One for
    a call it never had is still a warning."""
    http, csrf = admin
    sim = await reporting_sim(server, 8, None)
    spy = ErrorSpy(sim)
    try:
        conf_id, call_id = await call_in_progress(http, server, csrf, soap, sim)
        status, answer = await act(http, server, csrf, "disconnect", confId=conf_id,
                                   uri=sim.uri)
        assert status == 200, answer

        async def ended() -> bool:
            return sim._call is None

        await eventually(ended, what="the MCU's bye ended the terminal's call")
        caplog.set_level(logging.DEBUG, logger="terminals.client")
        caplog.clear()
        await sim._send(ReceiveStats(call_id, StreamReceipt(25.0, None, None)))
        error = await spy.next_error()
        assert (error.code, error.call_id) == ("unknown_call", call_id)
        await sim._send(ReceiveStats("never-had", StreamReceipt(25.0, None, None)))
        error = await spy.next_error()
        assert (error.code, error.call_id) == ("unknown_call", "never-had")
        said = [(record.levelno, record.getMessage()) for record in caplog.records
                if "MCU error unknown_call" in record.getMessage()]
        assert [level for level, text in said if call_id in text] == [logging.DEBUG], said
        assert [level for level, text in said if "never-had" in text] == [logging.WARNING]
    finally:
        await sim.stop()


def test_the_terminal_side_figures() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
    assert latency_ms([]) == (None, None)
    assert latency_ms([0.1, 0.2, 0.3, 0.4]) == (200.0, 400.0)
    assert latency_ms([120.0]) == (60_000.0, 60_000.0)  # clamped to the schema's bound
    meter = StreamMeter()
    assert meter.receipt(10.0, 100, []) is None  # no interval yet
    assert meter.receipt(12.0, 150, [0.05]) == StreamReceipt(25.0, 50.0, 50.0)
    assert meter.receipt(13.0, 10, []) is None  # the count went back: a new receiver
    assert meter.receipt(14.0, 40, []) == StreamReceipt(30.0, None, None)


# ------------------------------------------------- the domain's rule (mcu/runtime/receive_reports.py)


async def test_only_connected_sites_hold_a_report_bounded_and_fresh() -> None:
    clock, _, runtime = await joined_conference((A, B))
    reports = runtime.receive_reports
    main = DomainReceipt(25.0, 80.0, 120.0)
    reports.record("100", A, main, None)
    assert [(r.uri, r.main) for r in reports.of_conference("100")] == [(A, main)]

    for conf_id, uri, fault in (("999", A, Fault.CONFERENCE_NOT_ONGOING),
                                ("100", C, Fault.SITE_NOT_IN_CONFERENCE)):
        with pytest.raises(DomainError) as refused:
            reports.record(conf_id, uri, main, None)
        assert refused.value.fault is fault
    assert [r.uri for r in reports.current()] == [A]  # nothing kept by a refusal

    # bounded: another site is refused once the table is full; a site replaces its own
    small = ReceiveReports(runtime.conferences, clock, max_reports=1)
    small.record("100", A, main, None)
    with pytest.raises(DomainError) as refused:
        small.record("100", B, main, None)
    assert refused.value.fault is Fault.CAPACITY_EXCEEDED
    newer = DomainReceipt(30.0, None, None)
    small.record("100", A, newer, None)
    assert [(r.uri, r.main) for r in small.current()] == [(A, newer)]

    # fresh: a report older than STALE_S is no longer shown
    clock.advance(timedelta(seconds=STALE_S + 1))
    assert reports.current() == [] and small.current() == []

    # a site that leaves takes its report with it, and may not report while not connected
    reports.record("100", B, main, None)
    runtime.lifecycle.disconnect_sites("100", [B])
    assert reports.of_conference("100") == []
    with pytest.raises(DomainError) as refused:
        reports.record("100", B, main, None)
    assert refused.value.fault is Fault.SITE_NOT_CONNECTED
