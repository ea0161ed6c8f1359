"""Live broadcasts follow issue 11's ownership rule (mcu/ownership.py) as the recordings do,
over HTTP with the SOAP session's cookie: operator alice books a conference (scheduleConfEx
as alice) and starts its broadcast (setDirectBroadEx), bob likewise; GET /live lists each
his own, an administrator (demo) both. With the cookie, alice's playlist opens for her and
answers 404 for bob, like a broadcast that is not running; the player URL (its token) opens
it for whoever holds it.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import requests

from gateway.settings import Settings
from tests.conftest import DEMO
from tests.test_restart_persistence import conference

ALICE = ("alice", "Alice@123")
BOB = ("bob", "Bob@4567")
START, STOP = 0, 1


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    settings = gateway_settings.with_account(*ALICE).with_account(*BOB)
    return replace(settings, call_timeout_seconds=600.0)


def status_within(get, url: str, wanted: int, timeout: float = 60) -> int:
    """The status of GET url once it is `wanted` (or the last one after `timeout`)."""
    deadline = time.monotonic() + timeout
    status = get(url).status_code
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
        status = get(url).status_code
    return status


def test_an_account_lists_and_opens_only_the_broadcasts_of_its_conferences(
        gateway_server, soap_login, clock):
    alice, bob, admin = soap_login(*ALICE), soap_login(*BOB), soap_login(*DEMO)
    ids, sites = {}, {}
    for who, clients, uri in (("alice", alice, "85001"), ("bob", bob, "85002")):
        booked = clients.conf_mgr.scheduleConfEx(scheduleConf=conference(
            who, clock.now(), [uri], isRecording=1, isLiveBroadcast=1))
        assert booked.resultCode == 0
        ids[who], sites[who] = booked.conferenceInfo.confId, uri
    base = gateway_server.base_url
    try:
        for who, clients in (("alice", alice), ("bob", bob)):
            deadline = time.monotonic() + 30
            while True:  # the conference starts within a second of its begin
                code = clients.terminal_conf_ctrl.setDirectBroadEx(siteUri=sites[who],
                                                                   action=START)
                if code == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert code == 0, code

        def listed(clients) -> dict[str, str]:
            answer = clients.http.get(base + "/live")
            assert answer.status_code == 200
            return {item["conf_id"]: item["url"] for item in answer.json()["broadcasts"]}

        assert set(listed(alice)) == {ids["alice"]}
        assert set(listed(bob)) == {ids["bob"]}
        assert set(listed(admin)) == set(ids.values())
        playlist = f"{base}/live/{ids['alice']}/index.m3u8"
        assert status_within(alice.http.get, playlist, 200) == 200
        assert bob.http.get(playlist).status_code == 404  # not revealed to another account
        assert admin.http.get(playlist).status_code == 200
        player = requests.Session()  # the token alice hands to a player opens it
        player.trust_env = False
        assert player.get(base + listed(alice)[ids["alice"]]).status_code == 200
        assert player.get(playlist).status_code == 401  # neither token nor cookie
    finally:
        for who, clients in (("alice", alice), ("bob", bob)):
            clients.terminal_conf_ctrl.setDirectBroadEx(siteUri=sites[who], action=STOP)
