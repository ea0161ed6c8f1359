"""querySiteStatusEx and synchSiteStatusEx on the wire: busy intervals whole, free windows,
unknown sites, and synchronisation per session with FREE tombstones for what went away."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone

import pytest

from gateway.settings import Settings
from tests.conftest import DEMO
from tests.test_conf_mgr import book

FREE, BUSY, UNKNOWN_SITE = 0, 1, 2
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    return replace(gateway_settings, session_timeout_seconds=timedelta(days=30).total_seconds())


def states(answer) -> dict:
    return {
        entry.uri: [(s.state, s.confId, s.startTime, s.span) for s in entry.states]
        for entry in answer.siteFreeBusyStates
    }


def test_free_busy_answers_busy_free_and_unknown(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    info = book(soap, "round", begin.astimezone(SHANGHAI), 45, ["01010086", "01010010"])
    window = (clock.now(), timedelta(hours=3))
    answer = soap.conf_mgr.querySiteStatusEx(
        siteUris=["01010086", "nobody"], beginTime=window[0], duration=window[1]
    )
    assert answer.resultCode == 0
    found = states(answer)
    assert found["01010086"] == [(BUSY, info.confId, begin, timedelta(minutes=45))]
    assert found["nobody"] == [(UNKNOWN_SITE, None, window[0], window[1])]
    busy = answer.siteFreeBusyStates[0].states[0]
    assert busy.confName == "round"
    assert busy.startTime.utcoffset() == timedelta(hours=8)

    # a known site with nothing in the window: one FREE state over the window
    later = soap.conf_mgr.querySiteStatusEx(
        siteUris=["01010086"], beginTime=begin + timedelta(hours=2), duration=timedelta(hours=1)
    )
    assert states(later)["01010086"] == [
        (FREE, None, begin + timedelta(hours=2), timedelta(hours=1))
    ]


def test_free_busy_refuses_an_empty_window(soap, clock):
    answer = soap.conf_mgr.querySiteStatusEx(
        siteUris=["1"], beginTime=clock.now(), duration=timedelta(0)
    )
    assert answer.resultCode != 0 and answer.siteFreeBusyStates == []


def test_synch_reports_everything_first_then_changes_and_tombstones(soap, soap_login, clock):
    window = {"beginTime": clock.now(), "duration": timedelta(days=1)}
    first = book(soap, "a", clock.now() + timedelta(hours=1), 30, ["s1", "s2"])
    second = book(soap, "b", clock.now() + timedelta(hours=3), 30, ["s1"])

    initial = soap.conf_mgr.synchSiteStatusEx(siteUris=["s1", "s2"], **window)
    assert initial.resultCode == 0
    assert [(s[0], s[1]) for s in states(initial)["s1"]] == [
        (BUSY, first.confId),
        (BUSY, second.confId),
    ]

    # nothing changed since: an answer with no sites
    assert soap.conf_mgr.synchSiteStatusEx(siteUris=["s1", "s2"], **window).siteFreeBusyStates == []

    # s2 leaves conference a, conference b is deleted: FREE tombstones with the conference id
    assert soap.conf_mgr.delSiteFromConfEx(confId=first.confId, siteUri="s2") == 0
    assert soap.conf_mgr.delScheduledConfEx(confId=second.confId) == 0
    changed = states(soap.conf_mgr.synchSiteStatusEx(siteUris=["s1", "s2"], **window))
    assert [(s[0], s[1]) for s in changed["s1"]] == [(FREE, second.confId)]
    assert [(s[0], s[1]) for s in changed["s2"]] == [(FREE, first.confId)]

    # another session starts from revision 0: what is booked now, plus the tombstones
    other = soap_login(*DEMO)
    fresh = states(other.conf_mgr.synchSiteStatusEx(siteUris=["s1", "s2"], **window))
    assert [(s[0], s[1]) for s in fresh["s1"]] == [(BUSY, first.confId), (FREE, second.confId)]

    # a site asked for the first time in this session gets everything, the others only changes
    book(soap, "c", clock.now() + timedelta(hours=5), 30, ["s3"])
    mixed = states(soap.conf_mgr.synchSiteStatusEx(siteUris=["s1", "s3"], **window))
    assert list(mixed) == ["s3"]
