"""Recordings follow issue 11's ownership rule (mcu/ownership.py), over HTTP with the SOAP
session's cookie: operator alice lists and downloads the recordings of the conference she
booked (scheduleConfEx as alice), not those of bob's; an administrator (demo) sees both.
Another account's recording answers 404, like a name that is no recording.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway.settings import Settings
from tests.conftest import DEMO
from tests.test_restart_persistence import conference

ALICE = ("alice", "Alice@123")
BOB = ("bob", "Bob@4567")
NAME = "20260101T000000.000Z.mp4"


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    settings = gateway_settings.with_account(*ALICE).with_account(*BOB)
    return replace(settings, call_timeout_seconds=600.0)


@pytest.mark.stand_in_recordings  # its files are bytes standing for recordings, no media
def test_an_account_sees_and_downloads_only_the_recordings_of_its_conferences(
        gateway_server, gateway_settings, soap_login):
    alice, bob, admin = soap_login(*ALICE), soap_login(*BOB), soap_login(*DEMO)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    ids = {}
    for who, clients in (("alice", alice), ("bob", bob)):
        booked = clients.conf_mgr.scheduleConfEx(
            scheduleConf=conference(who, tomorrow, [f"8400{len(ids)}"]))
        assert booked.resultCode == 0
        ids[who] = booked.conferenceInfo.confId
    root = gateway_settings.data_dir / "recordings"
    for who, conf_id in ids.items():  # a recording of each conference on disk
        (root / conf_id).mkdir(parents=True)
        (root / conf_id / NAME).write_bytes(f"recording of {who}".encode())
    base = gateway_server.base_url

    def listed(clients) -> set[str]:
        answer = clients.http.get(base + "/recordings")
        assert answer.status_code == 200
        return {item["conf_id"] for item in answer.json()["recordings"]}

    assert listed(alice) == {ids["alice"]}
    assert listed(bob) == {ids["bob"]}
    assert listed(admin) == set(ids.values())
    mine = alice.http.get(f"{base}/recordings/{ids['alice']}/{NAME}")
    assert mine.status_code == 200 and mine.content == b"recording of alice"
    assert alice.http.get(f"{base}/recordings/{ids['bob']}/{NAME}").status_code == 404
    assert bob.http.get(f"{base}/recordings/{ids['alice']}/{NAME}").status_code == 404
    assert admin.http.get(f"{base}/recordings/{ids['bob']}/{NAME}").content == b"recording of bob"
    # a deleted conference's recordings stay its owner's
    assert alice.conf_mgr.delScheduledConfEx(confId=ids["alice"], beginTime=None) == 0
    assert listed(alice) == {ids["alice"]} and listed(bob) == {ids["bob"]}
