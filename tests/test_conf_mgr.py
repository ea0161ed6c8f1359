"""confMgr end to end: the running gateway of tests/conftest.py (scheduler + live runtime),
driven by zeep built from the reference WSDL, time moved by the server's ManualClock."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway import result_codes
from gateway.settings import Settings
from mcu.errors import Fault
from mcu.model import DirectorySite
from tests.conftest import SOAP_EXAMPLES, envelope

CALL_TIMEOUT = 2.0  # seconds of loop time until an unanswered call fails: long enough that a
# SOAP round trip on a loaded CI machine still finds a site CALLING right after the dial (at
# 0.3 s, test_disconnect_hangs_up_a_calling_site once found its call already failed)
SHANGHAI = timezone(timedelta(hours=8))

NOT_FOUND = result_codes.result_code(Fault.CONFERENCE_NOT_FOUND)
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)
BAD_PASSWORD = result_codes.result_code(Fault.BAD_PASSWORD)
UNDECRYPTABLE = result_codes.result_code(Fault.PASSWORD_DECRYPTION_FAILED)
SITE_BUSY = result_codes.result_code(Fault.SITE_BUSY)
CAPACITY = result_codes.result_code(Fault.CAPACITY_EXCEEDED)
SITE_NOT_FOUND = result_codes.result_code(Fault.SITE_NOT_FOUND)
SITE_NOT_IN_CONFERENCE = result_codes.result_code(Fault.SITE_NOT_IN_CONFERENCE)

SCHEDULED, ONGOING, ENDED, NOT_EXIST = 2, 3, 5, 1
IN_CONFERENCE, NOT_JOINED, CALLING = 2, 3, 4


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    # capacity small enough to run out of; a short call timeout; sessions that outlive the
    # clock jumps of a test
    return replace(
        gateway_settings,
        max_ports=4,
        max_cp_resources=8,
        call_timeout_seconds=CALL_TIMEOUT,
        session_timeout_seconds=timedelta(days=400).total_seconds(),
    )


# --- helpers --------------------------------------------------------------------------------


def site(uri: str, name: str = "", **extra) -> dict:
    return {"name": name or f"site {uri}", "uri": uri, "type": 4, "from": 0, "dialingMode": 0}


def conference(name: str, begin: datetime, minutes: int, uris: list[str], **extra) -> dict:
    info = {
        "name": name,
        "beginTime": begin,
        "duration": timedelta(minutes=minutes),
        "mediaEncryptType": 0,
        "cpResouce": 4,
        "presentation": 0,
        "rate": "1920k",
        "sites": [site(uri) for uri in uris],
    }
    info.update(extra)
    return info


def book(soap, name: str, begin: datetime, minutes: int, uris: list[str], **extra):
    answer = soap.conf_mgr.scheduleConfEx(
        scheduleConf=conference(name, begin, minutes, uris, **extra)
    )
    assert answer.resultCode == 0, answer
    return answer.conferenceInfo


def status_of(soap, conf_id: str):
    answer = soap.conf_mgr.queryConferencesStatusEx(confIds=[conf_id])
    assert answer.resultCode == 0
    (status,) = answer.conferenceStatuses
    return status


def sites_of(soap, conf_id: str, uris: list[str] | None = None) -> dict:
    answer = soap.conf_mgr.queryConfSitesStatusEx(confId=conf_id, siteUris=uris or [])
    assert answer.resultCode == 0, answer
    return {status.uri: status for status in answer.siteStatuses}


def wait_for_site_state(soap, conf_id: str, uri: str, state: int, limit: float = 15.0):
    deadline = time.monotonic() + limit
    while True:
        status = sites_of(soap, conf_id, [uri])[uri]
        if status.status == state or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


# --- scheduling -----------------------------------------------------------------------------


def test_schedule_answers_the_booking_and_status_follows_the_clock(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    info = book(soap, "ward round", begin.astimezone(SHANGHAI), 30, ["1001", "1002"])
    assert info.confId and info.accessCode.isdigit()
    assert len(info.password) == 6 and info.password.isdigit()
    assert [s.uri for s in info.sites] == ["1001", "1002"]
    assert info.beginTime == begin and info.beginTime.utcoffset() == timedelta(hours=8)
    assert info.status == SCHEDULED

    status = status_of(soap, info.confId)
    assert (status.status, status.name) == (SCHEDULED, "ward round")
    assert status.endTime - status.beginTime == timedelta(minutes=30)

    clock.advance(timedelta(hours=1, minutes=1))
    assert status_of(soap, info.confId).status == ONGOING
    clock.advance(timedelta(minutes=30))
    assert status_of(soap, info.confId).status == ENDED


def test_a_conference_beginning_now_is_ongoing_at_once_and_calls_its_sites(soap, clock):
    info = book(soap, "now", clock.now(), 60, ["2001"])
    assert info.status == ONGOING
    status = status_of(soap, info.confId)
    assert status.status == ONGOING
    assert sites_of(soap, info.confId)["2001"].status == CALLING


def test_password_given_is_kept_and_bad_passwords_get_a_code(soap, clock):
    begin = clock.now() + timedelta(hours=2)
    info = book(soap, "pw", begin, 30, ["3001"], password="123456", chairmanPassword="654321")
    assert (info.password, info.chairmanPassword) == ("123456", "654321")
    for bad in ("12345", "abcdef", "FhJjqZYOmoJiIoB3hHCLv428R3jax8T/Z20Ipcvt=="):
        answer = soap.conf_mgr.scheduleConfEx(
            scheduleConf=conference("pw2", begin + timedelta(hours=3), 30, ["3002"], password=bad)
        )
        assert answer.resultCode == BAD_PASSWORD and answer.conferenceInfo is None
    everything = soap.conf_mgr.queryConferencesStatusEx(confIds=[])
    assert [s.id for s in everything.conferenceStatuses] == [info.confId]


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("mediaEncryptType", 3),
        ("presentation", 3),
        ("cpResouce", 11),
        ("auxVideoFormat", 20),  # 15..19 are the extension formats (720P25 ... 1080i50)
        ("duration", timedelta(0)),
    ],
)
def test_out_of_range_conference_values_are_refused_and_book_nothing(soap, clock, member, value):
    info = conference("bad", clock.now() + timedelta(hours=1), 30, ["4001"], **{member: value})
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=info)
    assert answer.resultCode == OUT_OF_RANGE
    assert soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses == []


@pytest.mark.parametrize(
    ("member", "value"), [("type", 10), ("from", 2), ("dialingMode", 2), ("videoProtocol", 6)]
)
def test_out_of_range_site_values_are_refused(soap, clock, member, value):
    info = conference("bad site", clock.now() + timedelta(hours=1), 30, [])
    info["sites"] = [{**site("4101"), member: value}]
    assert soap.conf_mgr.scheduleConfEx(scheduleConf=info).resultCode == OUT_OF_RANGE
    assert soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses == []


def test_missing_required_parameter_is_a_client_fault(soap, post_raw):
    # zeep itself refuses to send this, so the request goes out raw
    body = envelope(
        "<smc:queryConfSitesStatusEx><siteUris>1</siteUris></smc:queryConfSitesStatusEx>"
    )
    response = post_raw(
        body, path="/esdk/services/tpProfessionalConfMgr", cookies={"JSESSIONID": soap.session_id}
    )
    assert response.status_code == 500
    assert "Client" in response.text and "confId" in response.text


def test_site_busy_and_capacity_refusals(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    book(soap, "first", begin, 60, ["5001", "5002"])
    busy = soap.conf_mgr.scheduleConfEx(
        scheduleConf=conference("clash", begin + timedelta(minutes=30), 60, ["5002", "5003"])
    )
    assert busy.resultCode == SITE_BUSY
    # max_ports is 4 in this module: 2 booked + 3 more overlap
    full = soap.conf_mgr.scheduleConfEx(
        scheduleConf=conference("full", begin, 60, ["5004", "5005", "5006"])
    )
    assert full.resultCode == CAPACITY
    assert len(soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses) == 1


def test_recurrence_lists_every_occurrence_of_every_site(soap, clock):
    begin = (clock.now() + timedelta(days=1)).astimezone(SHANGHAI)
    info = conference("daily", begin, 60, ["6001", "6002"], frequency=0, interval=2, count=3)
    info.update(weekDay=0, monthDay=0)
    answer = soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=info)
    assert answer.resultCode == 0
    series = answer.recurrenceConfInfo
    assert (series.frequency, series.interval, series.count) == (0, 2, 3)
    access = [(a.uri, a.beginTime) for a in series.siteAccessInfos]
    begins = [begin + timedelta(days=2 * n) for n in range(3)]
    assert access == [(uri, b) for b in begins for uri in ("6001", "6002")]
    assert {a.confAccessCode for a in series.siteAccessInfos} == {series.accessCode}

    # one occurrence edited: only that one moves
    edit = conference("daily", begin, 90, ["6001"], frequency=0, interval=2, count=3)
    edit.update(confId=series.confId, weekDay=0, monthDay=0, name="moved", beginTime=begins[1])
    edited = soap.conf_mgr.editRecurrenceConferenceEx(editConf=edit, beginTime=begins[1])
    assert edited.resultCode == 0
    infos = edited.recurrenceConfInfo.siteAccessInfos
    assert [(a.uri, a.beginTime) for a in infos if a.beginTime == begins[1]] == [
        ("6001", begins[1])
    ]

    # the whole series: a new rule from the same begin
    edit.update(count=2, name="daily", beginTime=begin, duration=timedelta(minutes=60))
    whole = soap.conf_mgr.editRecurrenceConferenceEx(editConf=edit)
    assert whole.resultCode == 0
    assert sorted({a.beginTime for a in whole.recurrenceConfInfo.siteAccessInfos}) == begins[:2]


def test_recurrence_refusals(soap, clock):
    begin = clock.now() + timedelta(days=1)
    info = conference("bad", begin, 60, ["6101"], frequency=3, interval=1, count=2)
    info.update(weekDay=0, monthDay=0)
    assert soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=info).resultCode == (
        OUT_OF_RANGE
    )
    info.update(frequency=0, interval=0)
    assert soap.conf_mgr.scheduleRecurrenceConferenceEx(scheduleConf=info).resultCode == (
        OUT_OF_RANGE
    )
    assert soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses == []


def test_times_past_the_year_9999_are_refused_with_a_code_not_a_server_fault(soap, clock):
    # datetime stops at 9999-12-31: an end or a recurrence date past it is the client's bad
    # value (BAD_TIME / BAD_RECURRENCE), answered with a resultCode and booking nothing
    begin = clock.now() + timedelta(hours=1)
    huge = timedelta(days=99_999_999)
    calls = [
        lambda: soap.conf_mgr.scheduleConfEx(
            scheduleConf=conference("long", begin, 30, ["6201"], duration=huge)
        ),
        lambda: soap.conf_mgr.scheduleConfEx(
            scheduleConf=conference("late", datetime(9999, 12, 31, 23, tzinfo=UTC), 120, ["6202"])
        ),
        lambda: soap.conf_mgr.scheduleRecurrenceConferenceEx(
            scheduleConf=conference(
                "sparse", begin, 30, ["6203"], frequency=0, interval=999_999_999, count=3,
                weekDay=0, monthDay=0,
            )
        ),
        lambda: soap.conf_mgr.scheduleRecurrenceConferenceEx(
            scheduleConf=conference(
                "sparse monthly", begin, 30, ["6204"], frequency=2, interval=999_999_999,
                weekDay=0, monthDay=1, count=3,
            )
        ),
        lambda: soap.conf_mgr.querySiteStatusEx(siteUris=["6205"], beginTime=begin, duration=huge),
        lambda: soap.conf_mgr.synchSiteStatusEx(siteUris=["6205"], beginTime=begin, duration=huge),
    ]
    for call in calls:
        assert call().resultCode == OUT_OF_RANGE
    assert soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses == []
    info = book(soap, "prolonged", begin, 30, ["6206"])
    code = soap.conf_mgr.prolongScheduledConfEx(
        confId=info.confId, beginDate=begin, prolongTime=huge
    )
    assert code == OUT_OF_RANGE
    assert status_of(soap, info.confId).endTime == begin + timedelta(minutes=30)


# --- edit, prolong, sites, delete ------------------------------------------------------------


def test_edit_prolong_and_unknown_conference(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    info = book(soap, "consult", begin, 30, ["7001"])
    edit = conference("consult 2", begin + timedelta(hours=1), 45, ["7001", "7002"])
    edit["confId"] = info.confId
    edited = soap.conf_mgr.editScheduledConfEx(editConf=edit)
    assert edited.resultCode == 0
    assert edited.conferenceInfo.name == "consult 2"
    assert [s.uri for s in edited.conferenceInfo.sites] == ["7001", "7002"]
    assert edited.conferenceInfo.accessCode == info.accessCode

    assert (
        soap.conf_mgr.prolongScheduledConfEx(confId=info.confId, prolongTime=timedelta(minutes=15))
        == 0
    )
    status = status_of(soap, info.confId)
    assert status.endTime - status.beginTime == timedelta(minutes=60)

    edit["confId"] = "999999"
    assert soap.conf_mgr.editScheduledConfEx(editConf=edit).resultCode == NOT_FOUND
    assert (
        soap.conf_mgr.prolongScheduledConfEx(confId="999999", prolongTime=timedelta(minutes=5))
        == NOT_FOUND
    )
    assert status_of(soap, "999999").status == NOT_EXIST
    refused = soap.conf_mgr.prolongScheduledConfEx(confId=info.confId, prolongTime=timedelta(0))
    assert refused == OUT_OF_RANGE


def test_add_and_delete_site(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    info = book(soap, "add", begin, 30, ["8001"])
    added = soap.conf_mgr.addSiteToConfEx(
        confId=info.confId,
        siteInfo={"name": "new", "uri": "8002", "type": 4, "from": 0, "dialingMode": 0},
    )
    assert added.resultCode == 0
    assert [a.uri for a in added.siteAccessInfos] == ["8001", "8002"]
    assert all(a.confAccessCode == info.accessCode for a in added.siteAccessInfos)
    assert set(sites_of(soap, info.confId)) == {"8001", "8002"}

    again = soap.conf_mgr.addSiteToConfEx(confId=info.confId, siteInfo=site("8002"))
    assert again.resultCode == result_codes.result_code(Fault.SITE_ALREADY_IN_CONFERENCE)

    assert soap.conf_mgr.delSiteFromConfEx(confId=info.confId, siteUri="8001") == 0
    assert set(sites_of(soap, info.confId)) == {"8002"}
    gone = soap.conf_mgr.delSiteFromConfEx(confId=info.confId, siteUri="8001")
    assert gone == SITE_NOT_IN_CONFERENCE


def test_delete_scheduled_disappears_and_ongoing_ends(soap, clock):
    later = book(soap, "later", clock.now() + timedelta(hours=3), 30, ["9001"])
    now = book(soap, "now", clock.now(), 60, ["9002"])
    assert soap.conf_mgr.delScheduledConfEx(confId=later.confId) == 0
    assert status_of(soap, later.confId).status == NOT_EXIST
    assert soap.conf_mgr.delScheduledConfEx(confId=later.confId) == NOT_FOUND

    clock.advance(timedelta(minutes=5))
    assert status_of(soap, now.confId).status == ONGOING
    assert soap.conf_mgr.delScheduledConfEx(confId=now.confId) == 0
    ended = status_of(soap, now.confId)
    assert ended.status == ENDED and ended.endTime == clock.now()
    # the live conference is over: its sites cannot be called any more
    refused = soap.conf_mgr.connectSitesEx(confId=now.confId, siteUris=["9002"])
    assert refused == result_codes.result_code(Fault.CONFERENCE_NOT_ONGOING)


# --- calls ----------------------------------------------------------------------------------


def test_connect_unreachable_site_calls_then_fails_with_a_reason(soap, clock):
    info = book(soap, "calls", clock.now(), 60, ["10001", "10002"])
    first = wait_for_site_state(soap, info.confId, "10001", NOT_JOINED)
    assert first.callFailedReason.errCode == 109
    assert first.volume == 65535

    assert soap.conf_mgr.connectSitesEx(confId=info.confId, siteUris=["10001", "nobody"]) == 0
    assert sites_of(soap, info.confId, ["10001"])["10001"].status == CALLING
    failed = wait_for_site_state(soap, info.confId, "10001", NOT_JOINED)
    assert failed.status == NOT_JOINED
    assert failed.callFailedReason.errCode == 109 and failed.callFailedReason.discription

    all_unknown = soap.conf_mgr.connectSitesEx(confId=info.confId, siteUris=["nobody"])
    assert all_unknown in (SITE_NOT_FOUND, SITE_NOT_IN_CONFERENCE)


def test_disconnect_hangs_up_a_calling_site(soap, clock):
    info = book(soap, "hang up", clock.now(), 60, ["11001"])
    assert sites_of(soap, info.confId)["11001"].status == CALLING
    assert soap.conf_mgr.disconnectSitesEx(confId=info.confId, siteUris=["11001"]) == 0
    hung_up = sites_of(soap, info.confId)["11001"]
    assert hung_up.status == NOT_JOINED and hung_up.callFailedReason is None


def test_connect_on_a_scheduled_conference_is_refused(soap, clock):
    info = book(soap, "later", clock.now() + timedelta(hours=1), 60, ["12001"])
    answer = soap.conf_mgr.connectSitesEx(confId=info.confId, siteUris=["12001"])
    assert answer == result_codes.result_code(Fault.CONFERENCE_NOT_ONGOING)
    assert sites_of(soap, info.confId)["12001"].status == NOT_JOINED


def test_continuous_presence_info_and_param(soap, clock):
    info = book(soap, "cp", clock.now(), 60, ["13001", "13002"])
    cp = soap.conf_mgr.getContinuousPresenceInfoEx(confId=info.confId)
    assert cp.resultCode == 0
    assert cp.cpResource == 4
    assert cp.targets == ["0", "(13001)", "(13002)"]
    assert 0 in cp.supportCPModes
    param = soap.conf_mgr.getContinuousPresenceParamEx(confId=info.confId, target="0")
    assert (param.resultCode, param.presenceMode) == (0, 0)
    unknown = soap.conf_mgr.getContinuousPresenceInfoEx(confId="424242")
    assert unknown.resultCode == NOT_FOUND


def test_query_sites_lists_the_directory(soap, gateway_server):
    gateway_server.gateway.scheduler.add_directory_site(DirectorySite("01010086", "VCT205"))
    answer = soap.conf_mgr.querySitesEx()
    assert answer.resultCode == 0
    assert [(s.uri, s.name, s.type) for s in answer.siteInfos] == [("01010086", "VCT205", 7)]


# --- the reference examples -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        # passwords RSA-encrypted with Huawei's key, not ours: 2130000030
        ("scheduleConfEx", UNDECRYPTABLE),
        ("scheduleRecurrenceConferenceEx", UNDECRYPTABLE),
        ("querySitesEx", 0),
        ("querySiteStatusEx", 0),
        ("synchSiteStatusEx", 0),
        ("queryConferencesStatusEx", 0),
        ("delScheduledConfEx", NOT_FOUND),
        ("prolongScheduledConfEx", NOT_FOUND),
    ],
)
def test_reference_examples_are_answered_with_codes(soap, post_raw, example, expected):
    body = (SOAP_EXAMPLES / f"{example}.request.xml").read_bytes()
    response = post_raw(
        body, path="/esdk/services/tpProfessionalConfMgr", cookies={"JSESSIONID": soap.session_id}
    )
    assert response.status_code == 200, response.text
    assert f"<resultCode>{expected}</resultCode>" in response.text


def test_times_without_offset_are_refused(soap):
    begin = datetime(2026, 1, 5, 10, 0)  # naive
    answer = soap.conf_mgr.querySiteStatusEx(
        siteUris=["1"], beginTime=begin, duration=timedelta(hours=1)
    )
    assert answer.resultCode == OUT_OF_RANGE


def test_booked_times_come_back_in_utc_when_booked_in_utc(soap, clock):
    info = book(soap, "utc", clock.now() + timedelta(hours=1), 30, ["14001"])
    assert info.beginTime.utcoffset() == timedelta(0)
    assert info.beginTime == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("sent", "kept"), [(None, 1), (0, 0), (1, 1), (2, 0), (10, 1)])
def test_flags_follow_the_boolean_rule(soap, clock, sent, kept):
    # WS/T 546 4.2.3: a value beginning with "1" is true, anything else false
    extra = {} if sent is None else {"isRecording": sent, "isLiveBroadcast": sent}
    info = book(soap, "flags", clock.now() + timedelta(hours=1), 30, ["15001"], **extra)
    assert (info.isRecording, info.isLiveBroadcast) == (kept, kept)
