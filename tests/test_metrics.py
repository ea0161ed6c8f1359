"""GET /metrics (gateway/metrics.py): the SOAP counter and histogram move by the calls made,
the conference and site gauges match queryConferencesStatusEx / queryConfSitesStatusEx, a
running 2-site conference of real terminals makes the media counters grow, and the
[metrics] address and token rules answer 403 / 401, never a 500."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_network

import aiohttp
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app.process import running_server
from gateway.settings import SettingsError, load_settings
from tests.conftest import ServerThread
from tests.test_media_acceptance import book, eventually, signalling_url, terminal

TOKEN = "s3cret-scrape-token-0123456789"


def scrape(base_url: str, **headers: str) -> requests.Response:
    http = requests.Session()
    http.trust_env = False
    return http.get(base_url + "/metrics", headers=headers, timeout=30)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_n_keepalives_move_the_counter_and_the_histogram_by_n(gateway_server, soap):
    before = samples(scrape(gateway_server.base_url).text)
    for _ in range(7):
        assert soap.common.KeepAlive() == 0
    after = samples(scrape(gateway_server.base_url).text)
    name = "mcu_sim_soap_requests_total"
    assert value(after, name, operation="KeepAlive", result="0") - value(
        before, name, operation="KeepAlive", result="0") == 7
    count = "mcu_sim_soap_request_duration_seconds_count"
    assert value(after, count, operation="KeepAlive") - value(
        before, count, operation="KeepAlive") == 7


def test_result_codes_and_faults_are_labelled(gateway_server, soap, post_raw):
    # a call without a session: resultCode 571052032
    from tests.conftest import soap_clients
    anonymous = soap_clients(gateway_server.base_url)
    for _ in range(3):
        assert anonymous.common.KeepAlive() == 571052032
    # a body that is not SOAP: a fault of no operation
    assert post_raw(b"not xml at all").status_code in (400, 500)
    found = samples(scrape(gateway_server.base_url).text)
    assert value(found, "mcu_sim_soap_requests_total",
                 operation="KeepAlive", result="571052032") == 3
    assert value(found, "mcu_sim_soap_requests_total", operation="unknown", result="fault") >= 1


def test_conference_and_site_gauges_match_the_status_queries(gateway_server, soap, clock):
    from tests.test_conf_mgr import book as book_soap
    now = clock.now()
    ongoing = book_soap(soap, "now", now, 60, ["sip:m1@x", "sip:m2@x"]).confId
    later = book_soap(soap, "later", now + timedelta(days=1), 60, ["sip:m3@x"]).confId
    statuses = soap.conf_mgr.queryConferencesStatusEx(confIds=[ongoing, later])
    assert statuses.resultCode == 0
    by_state: dict[int, int] = {}
    for status in statuses.conferenceStatuses:
        by_state[status.status] = by_state.get(status.status, 0) + 1
    found = samples(scrape(gateway_server.base_url).text)
    assert value(found, "mcu_sim_conferences", state="ongoing") == by_state.get(3, 0) == 1
    assert value(found, "mcu_sim_conferences", state="scheduled") == by_state.get(2, 0) == 1
    sites = soap.conf_mgr.queryConfSitesStatusEx(confId=ongoing)
    site_states = [s.status for s in sites.siteStatuses]
    # no terminal is registered: each called site ends not joined or is still calling
    for state, label in ((2, "in_conference"), (3, "not_joined"), (4, "calling"),
                         (5, "ringing")):
        assert value(found, "mcu_sim_sites", state=label) == site_states.count(state)
    assert value(found, "mcu_sim_sessions", state="authenticated") >= 1


@pytest.fixture
def guarded_server(tmp_path, clock, request):
    settings = load_settings(port=0, data_dir=tmp_path / "data")
    settings = replace(settings, **request.param)
    thread = ServerThread(settings, clock)
    server = thread.start()
    try:
        yield server
    finally:
        thread.stop()


@pytest.mark.parametrize("guarded_server", [{"metrics_token": TOKEN}], indirect=True)
def test_a_token_is_asked_when_set(guarded_server):
    missing = scrape(guarded_server.base_url)
    assert missing.status_code == 401 and "Bearer" in missing.text
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = scrape(guarded_server.base_url, Authorization="Bearer " + "x" * 30)
    assert wrong.status_code == 401 and "not the one configured" in wrong.text
    odd = scrape(guarded_server.base_url, Authorization="Basic \u00e9\u00e9")
    assert odd.status_code == 401
    right = scrape(guarded_server.base_url, Authorization="Bearer " + TOKEN)
    assert right.status_code == 200 and "mcu_sim_sessions" in right.text
    assert right.headers["Content-Type"].startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize("guarded_server", [
    {"metrics_allowed_addresses": (ip_network("192.0.2.0/24"),)},
    {"metrics_allowed_addresses": ()},
], indirect=True)
def test_an_address_outside_the_list_is_refused(guarded_server):
    refused = scrape(guarded_server.base_url)
    assert refused.status_code == 403 and "allowed_addresses" in refused.text


def test_the_settings_are_validated(tmp_path):
    bad = tmp_path / "bad.toml"
    for text in ('[metrics]\ntoken = "short"\n', '[metrics]\ntoken = "has a space in it ok?"\n',
                 '[metrics]\nallowed_addresses = ["not-an-address"]\n',
                 '[metrics]\nallowed_addresses = "127.0.0.1"\n', '[metrics]\nfoo = 1\n'):
        bad.write_text(text)
        with pytest.raises(SettingsError):
            load_settings(bad)
    good = tmp_path / "good.toml"
    good.write_text(f'[metrics]\ntoken = "{TOKEN}"\nallowed_addresses = ["10.0.0.0/8", "::1"]\n')
    settings = load_settings(good)
    assert settings.metrics_token == TOKEN
    assert settings.metrics_allowed_addresses == (ip_network("10.0.0.0/8"), ip_network("::1"))


async def _scrape(session: aiohttp.ClientSession, base_url: str):
    async with session.get(base_url + "/metrics") as response:
        assert response.status == 200
        return samples(await response.text())


async def test_a_running_two_site_conference_makes_the_media_counters_grow(tmp_path):
    from mcu.clock import ManualClock
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=4.0)
    async with running_server(settings, clock=clock) as server, aiohttp.ClientSession() as http:
        server.clock = clock
        terminals = [terminal(5, decode_video=False), terminal(6, decode_video=False)]
        for t in terminals:
            await t.start(signalling_url(server))
        try:
            book(server, [t.uri for t in terminals])
            await eventually(lambda: all(t.state == "in_call" for t in terminals),
                             what="both in the call")
            await asyncio.sleep(2.0)
            first = await _scrape(http, server.base_url)
            await asyncio.sleep(2.0)
            second = await _scrape(http, server.base_url)
            assert value(first, "mcu_sim_sites", state="in_conference") == 2
            assert value(first, "mcu_sim_encoder_groups") >= 1
            for name in ("mcu_sim_video_frames_encoded_total",
                         "mcu_sim_video_frames_delivered_total",
                         "mcu_sim_audio_mix_frames_encoded_total",
                         "mcu_sim_audio_frames_decoded_total",  # both talk: both decoded
                         "mcu_sim_rtp_packets_sent_total", "mcu_sim_rtp_payload_sent_bytes_total",
                         "mcu_sim_rtp_packets_received_total",
                         "mcu_sim_rtp_payload_received_bytes_total",
                         "mcu_sim_tick_lateness_seconds_count"):
                assert value(second, name) > value(first, name) > 0, name
            # two talkers and room in the mix for four: no frame of theirs left undecoded
            assert ("mcu_sim_audio_frames_undecoded_total", ()) in second
            assert value(second, "mcu_sim_audio_frames_undecoded_total") == 0
        finally:
            for t in terminals:
                await t.stop()
        # the calls ended: the totals they reached are kept (counters never go back)
        third = await _scrape(http, server.base_url)
        for name in ("mcu_sim_video_frames_delivered_total", "mcu_sim_rtp_packets_sent_total",
                     "mcu_sim_rtp_packets_received_total",
                     "mcu_sim_rtp_payload_received_bytes_total"):
            assert value(third, name) >= value(second, name), name
