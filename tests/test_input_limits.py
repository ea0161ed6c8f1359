"""SOAP input limits and the three input decisions, end to end (docs/gateway.md "Choices
where the standard is silent", docs/security.md "SOAP input limits"): string and list
lengths from the one table (gateway/wire.py), trimmed spaces, extreme and unreadable dates.
Each over zeep built from the reference WSDL and, where
zeep would refuse or reshape the value client-side, over a raw HTTP post."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree
from spyne.model.primitive import Unicode
from zeep.exceptions import Fault as ZeepFault

from gateway import result_codes, wire
from gateway.settings import Settings
from tests.conftest import DEMO, envelope, soap_clients

OUT_OF_RANGE = result_codes.OUT_OF_RANGE
CONF_MGR = "/esdk/services/tpProfessionalConfMgr"


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    return replace(gateway_settings, session_timeout_seconds=timedelta(days=400).total_seconds())


def site(uri: str, name: str | None = None) -> dict:
    return {"name": name or f"site {uri}", "uri": uri, "type": 4, "from": 0, "dialingMode": 0}


def conference(name: str, begin: datetime, uris: list[str], **extra) -> dict:
    info = {
        "name": name,
        "beginTime": begin,
        "duration": timedelta(minutes=30),
        "mediaEncryptType": 0,
        "cpResouce": 4,
        "presentation": 0,
        "sites": [site(uri) for uri in uris],
    }
    info.update(extra)
    return info


def booked(soap) -> list:
    return soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses


def result_code_of(response) -> int:
    assert response.status_code == 200, response.text
    return int(etree.fromstring(response.content).findtext(".//resultCode"))


def fault_text(response) -> str:
    assert response.status_code == 500, response.text
    root = etree.fromstring(response.content)
    code = root.findtext(".//faultcode")
    assert code.startswith("soap:Client"), code
    return root.findtext(".//faultstring")


def raw_schedule(post_raw, soap, begin: str, name: str = "raw", extra: str = "") -> object:
    body = (
        "<smc:scheduleConfEx><scheduleConf>"
        f"<name>{name}</name><beginTime>{begin}</beginTime><duration>PT30M</duration>"
        f"{extra}<mediaEncryptType>0</mediaEncryptType><cpResouce>4</cpResouce>"
        "<presentation>0</presentation>"
        "<sites><name>s</name><uri>7001</uri><type>4</type><from>0</from>"
        "<dialingMode>0</dialingMode></sites>"
        "</scheduleConf></smc:scheduleConfEx>"
    )
    return post_raw(envelope(body), path=CONF_MGR, cookies={"JSESSIONID": soap.session_id})


def a_future_text(clock) -> str:
    return (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the table -----------------------------------------------------------------------------


def request_string_members() -> set[str]:
    """Every string member any request carries, at any depth."""
    names: set[str] = set()
    seen: set[type] = set()

    def walk(name: str, type_) -> None:
        if issubclass(type_, Unicode):
            names.add(name)
        elif issubclass(type_, wire.WireType) and type_ not in seen:
            seen.add(type_)
            for member, inner in type_.get_flat_type_info(type_).items():
                walk(member, inner)
            for subclass in type_.__subclasses__():  # xsi:type, e.g. StringFilterEx
                walk(name, subclass)

    for spec in wire.ALL_OPERATIONS.values():
        for member, type_ in spec.request:
            walk(member, type_)
    return names


def test_every_request_string_member_has_a_declared_limit():
    # the hard default bounds anything new; the table names every member there is today
    assert request_string_members() - set(wire.MAX_CHARS) == set()
    assert max(wire.MAX_CHARS.values()) <= wire.DEFAULT_MAX_CHARS


# --- lengths -----------------------------------------------------------------------------------


def test_names_at_the_limit_are_booked_one_more_is_refused_and_books_nothing(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    limit = wire.MAX_CHARS["name"]
    long_name = "n" * (limit + 1)
    refused = soap.conf_mgr.scheduleConfEx(scheduleConf=conference(long_name, begin, ["7001"]))
    assert refused.resultCode == OUT_OF_RANGE
    site_refused = conference("ok", begin, ["7002"])
    site_refused["sites"] = [site("7002", name=long_name)]
    assert soap.conf_mgr.scheduleConfEx(scheduleConf=site_refused).resultCode == OUT_OF_RANGE
    assert booked(soap) == []
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=conference("n" * limit, begin, ["7003"]))
    assert answer.resultCode == 0
    assert answer.conferenceInfo.name == "n" * limit


def test_over_long_uris_ids_and_passwords_are_refused(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    uri = "7" * (wire.MAX_CHARS["uri"] + 1)
    assert soap.conf_mgr.scheduleConfEx(
        scheduleConf=conference("long uri", begin, [uri])
    ).resultCode == OUT_OF_RANGE
    password = "1" * (wire.MAX_CHARS["password"] + 1)
    assert soap.conf_mgr.scheduleConfEx(
        scheduleConf=conference("long password", begin, ["7004"], password=password)
    ).resultCode == OUT_OF_RANGE
    assert booked(soap) == []
    conf_id = "9" * (wire.MAX_CHARS["confId"] + 1)
    assert soap.conf_mgr.delScheduledConfEx(confId=conf_id) == OUT_OF_RANGE
    assert soap.conf_ctrl.setFloorEx(confId="1", siteUri=uri) == OUT_OF_RANGE


def test_lists_beyond_their_limit_are_refused(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    limit = wire.MAX_ITEMS["siteUris"]
    uris = [str(10_000 + index) for index in range(limit + 1)]
    answer = soap.conf_mgr.querySiteStatusEx(
        siteUris=uris, beginTime=begin, duration=timedelta(hours=1)
    )
    assert answer.resultCode == OUT_OF_RANGE
    answer = soap.conf_mgr.querySiteStatusEx(
        siteUris=uris[:limit], beginTime=begin, duration=timedelta(hours=1)
    )
    assert answer.resultCode == 0
    assert len(answer.siteFreeBusyStates) == limit


def test_over_long_values_over_raw_http_get_the_code_and_change_nothing(soap, post_raw, clock):
    name = "x" * (wire.MAX_CHARS["name"] + 1)
    assert result_code_of(raw_schedule(post_raw, soap, a_future_text(clock), name)) == OUT_OF_RANGE
    notice = "<conferenceNotice><Content>" + "c" * 1025 + "</Content></conferenceNotice>"
    body = (
        "<smc:scheduleConfEx><scheduleConf>"
        f"<name>n</name><beginTime>{a_future_text(clock)}</beginTime>"
        "<mediaEncryptType>0</mediaEncryptType><cpResouce>4</cpResouce>"
        f"<presentation>0</presentation>{notice}</scheduleConf></smc:scheduleConfEx>"
    )
    response = post_raw(envelope(body), path=CONF_MGR, cookies={"JSESSIONID": soap.session_id})
    assert result_code_of(response) == OUT_OF_RANGE
    assert booked(soap) == []
    # a proof longer than any SHA-256, before a session exists
    proof = "QUFB" * 40
    response = post_raw(envelope(
        f"<smc:Authenticate><encryptPassword>{proof}</encryptPassword></smc:Authenticate>"
    ))
    assert result_code_of(response) == OUT_OF_RANGE


# --- trimmed spaces ----------------------------------------------------------------------------


def test_names_uris_access_codes_and_passwords_are_trimmed(soap, clock):
    begin = clock.now() + timedelta(hours=1)
    info = conference(
        "  Ward round  ", begin, [], accessCode=" 55501234 ", password=" 123456 ",
        chairmanPassword="\t654321\n",
    )
    info["sites"] = [site("  7010  ", name="  Room 1 ")]
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=info)
    assert answer.resultCode == 0, answer
    booked_info = answer.conferenceInfo
    assert booked_info.name == "Ward round"
    assert booked_info.accessCode == "55501234"
    assert (booked_info.password, booked_info.chairmanPassword) == ("123456", "654321")
    assert [(s.uri, s.name) for s in booked_info.sites] == [("7010", "Room 1")]
    # a single URI member is trimmed too: the site is found
    statuses = soap.conf_mgr.queryConfSitesStatusEx(
        confId=f" {booked_info.confId} ", siteUris=[" 7010 "]
    )
    assert statuses.resultCode == 0
    assert [s.uri for s in statuses.siteStatuses] == ["7010"]


def test_the_user_name_is_trimmed_at_login(gateway_server):
    clients = soap_clients(gateway_server.base_url)
    assert clients.login(f"  {DEMO[0]} ", DEMO[1]) == 0
    assert clients.common.KeepAlive() == 0


def test_trimming_over_raw_http(soap, post_raw, clock):
    extra = "<accessCode>\n  55509876\n  </accessCode><password> 112233 </password>"
    response = raw_schedule(post_raw, soap, a_future_text(clock), "\n  Raw  \n", extra)
    assert result_code_of(response) == 0
    root = etree.fromstring(response.content)
    assert root.findtext(".//conferenceInfo/name") == "Raw"
    assert root.findtext(".//conferenceInfo/accessCode") == "55509876"
    assert root.findtext(".//conferenceInfo/password") == "112233"


# --- dates -------------------------------------------------------------------------------------


def test_year_one_is_a_date_like_any_other(soap):
    year_one = datetime(1, 1, 1, tzinfo=UTC)
    answer = soap.conf_mgr.querySiteStatusEx(
        siteUris=["7020"], beginTime=year_one, duration=timedelta(hours=1)
    )
    assert answer.resultCode == 0
    (free,) = answer.siteFreeBusyStates[0].states
    assert free.startTime == year_one
    # a booking then is accepted as any past time is (mcu/scheduler.py): ended at once
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=conference("old", year_one, ["7021"]))
    assert answer.resultCode == 0
    assert answer.conferenceInfo.beginTime == year_one
    (status,) = booked(soap)
    assert (status.status, status.beginTime) == (5, year_one)


def test_the_last_moment_of_9999_in_utc_is_read(soap):
    last = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    answer = soap.conf_mgr.querySiteStatusEx(
        siteUris=["7022"], beginTime=last, duration=timedelta(minutes=30)
    )
    assert answer.resultCode == 0
    # a window that would end past it: the domain's time code, as before
    answer = soap.conf_mgr.querySiteStatusEx(
        siteUris=["7022"], beginTime=last, duration=timedelta(hours=2)
    )
    assert answer.resultCode == OUT_OF_RANGE


def test_a_date_past_9999_in_utc_is_a_client_fault_naming_the_member(soap):
    west = timezone(-timedelta(hours=1))
    with pytest.raises(ZeepFault) as refused:
        soap.conf_mgr.querySiteStatusEx(
            siteUris=["7023"],
            beginTime=datetime(9999, 12, 31, 23, 59, 59, tzinfo=west),
            duration=timedelta(hours=1),
        )
    assert refused.value.code.endswith("Client.ValidationError")
    assert refused.value.message.startswith("beginTime: ")
    assert "outside years 1-9999 in UTC" in refused.value.message


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        ("9999-12-31T23:59:59-01:00", "outside years 1-9999 in UTC"),
        ("0001-01-01T00:30:00+01:00", "outside years 1-9999 in UTC"),
        ("10000-01-01T00:00:00Z", "year 10000 is out of range"),
        ("garbage", "is not a date and time"),
        ("9" * 5000 + "-01-01T00:00:00Z", "is not a date and time"),  # no int() of 5000 digits
        ("2026-13-01T10:00:00Z", "month must be in 1..12"),
        ("2026-02-30T10:00:00Z", "day is out of range for month"),
        ("2026-01-05T10:00:00+15:00", "offset +15:00 is out of range"),
    ],
)
def test_unreadable_dates_over_raw_http_are_client_faults_naming_the_member(
    soap, post_raw, sent, says
):
    message = fault_text(raw_schedule(post_raw, soap, sent))
    assert message.startswith("beginTime: "), message
    assert says in message
    assert "expected an xs:dateTime" in message or "offset" in says
    assert booked(soap) == []
    assert soap.common.KeepAlive() == 0  # the session and the server are unharmed


@pytest.mark.parametrize("sent", ["", "  \n "])
def test_an_empty_date_is_a_missing_member(soap, post_raw, sent):
    assert result_code_of(raw_schedule(post_raw, soap, sent)) == result_codes.MISSING_PARAMETER
    assert booked(soap) == []


def test_an_unreadable_date_in_soap_1_2_is_a_sender_fault(soap, post_raw):
    body = (
        "<smc:querySiteStatusEx><siteUris>1</siteUris><beginTime>soon</beginTime>"
        "<duration>PT1H</duration></smc:querySiteStatusEx>"
    )
    response = post_raw(
        envelope(body, 12), content_type="application/soap+xml; charset=utf-8",
        path=CONF_MGR, cookies={"JSESSIONID": soap.session_id},
    )
    assert response.status_code == 400
    assert b"beginTime: 'soon' is not a date and time" in response.content


def test_spaces_around_a_date_are_collapsed_as_xsd_says(soap, post_raw, clock):
    response = raw_schedule(post_raw, soap, f"  {a_future_text(clock)}\n ")
    assert result_code_of(response) == 0
    assert len(booked(soap)) == 1
