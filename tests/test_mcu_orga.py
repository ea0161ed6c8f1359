"""MCUMgr (queryMCUInfoEx, queryMCUFutureResourceEx), OrgaMgr (queryOrganizationEx) and
confMgr's queryConfSiteMCUEx over SOAP: zeep clients of the reference WSDL's ports pointed
at the new endpoints of the running gateway (tests/conftest.py), with the server's manual
clock. Resources follow bookings made in the test and sites joining a running conference
(fake terminals that answer at once, as in tests/test_conf_ctrl.py)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from gateway import result_codes
from gateway.settings import Settings, SettingsError, load_settings
from mcu.errors import Fault
from mcu.model import ConferenceSpec, DirectorySite, SiteSpec, SiteType, VideoFormat
from mcu.organizations import Organization
from mcu.port_costs import PRICED_FORMATS
from mcu.store import Store
from tests.conftest import TNS, envelope
from tests.test_conf_ctrl import AnsweringTerminal
from tests.test_wsdl import REFERENCE_SCHEMA, body_child

MEDIA_ADDRESS = "127.0.0.2"
PORTS, CP = 6, 8
A, B, C = "01010086", "01010010", "01010099"

MCU_NOT_FOUND = result_codes.result_code(Fault.MCU_NOT_FOUND)
ORG_NOT_FOUND = result_codes.result_code(Fault.ORGANIZATION_NOT_FOUND)
OUT_OF_RANGE = result_codes.OUT_OF_RANGE
MISSING = result_codes.MISSING_PARAMETER
CONFERENCE_NOT_FOUND = result_codes.CONFERENCE_NOT_FOUND
SITE_NOT_IN_CONFERENCE = result_codes.result_code(Fault.SITE_NOT_IN_CONFERENCE)

PORTS_BOOKED, CP_BOOKED, PORTS_IN_USE, CP_IN_USE = 1, 2, 3, 4
CAPACITY = result_codes.result_code(Fault.CAPACITY_EXCEEDED)

# The module's MCU: PORTS ports of its costliest format; what a port costs by format, as an
# operator's config file gives it (the other formats keep the embedded defaults, e.g.
# 720P60 = 8). Pool: PORTS x 12 = 72 units.
PORT_COST_CONFIG = """
[mcu.port_cost]
"1080P60" = 12
"1080P30" = 6
"720P30" = 3
"4CIF" = 2
"CIF" = 1
"""
POOL = PORTS * 12
FMT_4CIF, FMT_720P30, FMT_1080P30, FMT_1080P60, FMT_CIF = 1, 2, 3, 6, 8


def booked_type(video_format: int) -> int:
    """resourceType of "ports of this format booked" (docs/gateway.md)."""
    return 100 + video_format


def in_use_type(video_format: int) -> int:
    return 200 + video_format

TREE = (
    Organization("1", "Provincial hospital"),
    Organization("2", "Cardiology", "1"),
    Organization("3", "Radiology", "1"),
    Organization("4", "Cardiology ward 4", "2"),
)


@pytest.fixture
def gateway_settings(gateway_settings: Settings, tmp_path: Path) -> Settings:
    config = tmp_path / "port-costs.toml"
    config.write_text(PORT_COST_CONFIG)
    return replace(
        gateway_settings,
        media_address=MEDIA_ADDRESS,
        max_ports=PORTS,
        port_costs=load_settings(config).port_costs,
        max_cp_resources=CP,
        mcu_name="ward MCU",
        mcu_domain_name="mcu.hospital.example",
        organizations=TREE,
        session_timeout_seconds=timedelta(days=2).total_seconds(),
    )


@pytest.fixture
def mcu_mgr(soap, gateway_server):
    return soap.client.create_service(
        f"{{{TNS}}}TPProfessional.MCUMgrbinding",
        gateway_server.url("/esdk/services/tpProfessionalMCUMgr"),
    )


@pytest.fixture
def orga_mgr(soap, gateway_server):
    return soap.client.create_service(
        f"{{{TNS}}}TPProfessional.OrgaMgrbinding",
        gateway_server.url("/esdk/services/tpProfessionalOrgaMgr"),
    )


def query_config(soap, per_page=10, page=1, filters=None, sort=None):
    factory = soap.client.type_factory("ns0")
    return factory.QueryConfigEx(
        sortItems=[factory.SortItemEx(sort=order, itemIndex=column) for column, order in sort or []],
        filters=filters or [],
        pageParam=factory.PageParamEx(numberPerPage=per_page, currentPage=page),
    )


def book(server, begin_in: timedelta, minutes: int, uris, cp: int = 4) -> str:
    gateway = server.gateway
    spec = ConferenceSpec(
        name="consultation",
        begin=gateway.clock.now() + begin_in,
        duration=timedelta(minutes=minutes),
        sites=[SiteSpec(uri, name=f"site {uri}") for uri in uris],
        cp_resource=cp,
    )
    # the server's own queries bring the live runtime in line (on its loop)
    return gateway.scheduler.schedule(spec).conf_id


def resources(mcu_mgr, clock, hours: int = 3, begin_in=timedelta(0)) -> dict[int, list]:
    """resourceType -> [(offset from now, length, free, total)] over the window."""
    now = clock.now()
    answer = mcu_mgr.queryMCUFutureResourceEx(
        mcus=[1], beginTime=now + begin_in, duration=timedelta(hours=hours)
    )
    assert answer.resultCode == 0, answer
    (mcu,) = answer.mcuResList
    assert mcu.mcuId == 1
    return {
        item.resourceType: [
            (s.beginTime - now, s.duration, s.freeCount, s.totalCount) for s in item.resourceStatus
        ]
        for item in mcu.resourceList
    }


H = timedelta(hours=1)


# --- queryMCUInfoEx ---------------------------------------------------------------------------


def test_mcu_info_is_the_media_mcu_of_the_settings(soap, mcu_mgr):
    answer = mcu_mgr.queryMCUInfoEx(queryConfig=query_config(soap))
    assert answer.resultCode == 0
    (mcu,) = answer.mcus
    assert (mcu.id, mcu.name, mcu.type, mcu.ip1, mcu.domainName, mcu.stutas) == (
        1, "ward MCU", 1, MEDIA_ADDRESS, "mcu.hospital.example", 1
    )
    assert mcu.port1 is None and mcu.ip2 is None
    info = answer.pageInfo
    assert (info.totalPages, info.currentPage, info.totalRecords) == (1, 1, 1)


def test_mcu_info_filters_sorts_and_pages_like_the_directory(soap, mcu_mgr):
    factory = soap.client.type_factory("ns0")
    by_name = factory.StringFilterEx(columnIndex=1, value="WARD")
    assert len(mcu_mgr.queryMCUInfoEx(queryConfig=query_config(soap, filters=[by_name])).mcus) == 1
    other = factory.StringFilterEx(columnIndex=3, value="10.1.")
    answer = mcu_mgr.queryMCUInfoEx(queryConfig=query_config(soap, filters=[other]))
    assert answer.resultCode == 0 and not answer.mcus and answer.pageInfo.totalRecords == 0
    online = factory.IntFilterEx(columnIndex=5, greaterThan=0, lessThan=0, equalTo=1)
    answer = mcu_mgr.queryMCUInfoEx(queryConfig=query_config(soap, filters=[online], sort=[(0, 1)]))
    assert [mcu.id for mcu in answer.mcus] == [1]
    past_the_end = mcu_mgr.queryMCUInfoEx(queryConfig=query_config(soap, page=2))
    assert not past_the_end.mcus and past_the_end.pageInfo.totalRecords == 1
    bad = [
        query_config(soap, per_page=0),
        query_config(soap, sort=[(6, 0)]),
        query_config(soap, filters=[factory.IntFilterEx(columnIndex=1, greaterThan=0,
                                                        lessThan=2, equalTo=1)]),
    ]
    for config in bad:
        assert mcu_mgr.queryMCUInfoEx(queryConfig=config).resultCode == OUT_OF_RANGE


def test_wst546_paths_serve_both_ports(soap, gateway_server):
    mcu = soap.client.create_service(
        f"{{{TNS}}}TPProfessional.MCUMgrbinding", gateway_server.url("/services/mcuMgr")
    )
    assert mcu.queryMCUInfoEx(queryConfig=query_config(soap)).mcus[0].ip1 == MEDIA_ADDRESS
    orga = soap.client.create_service(
        f"{{{TNS}}}TPProfessional.OrgaMgrbinding", gateway_server.url("/services/orgaMgr")
    )
    assert [org.id for org in orga.queryOrganizationEx().orgs] == ["1", "2", "4", "3"]


# --- queryMCUFutureResourceEx -----------------------------------------------------------------


def test_future_resources_without_bookings_are_all_free(mcu_mgr, clock):
    got = resources(mcu_mgr, clock)
    assert {kind: got[kind] for kind in (1, 2, 3, 4)} == {
        PORTS_BOOKED: [(timedelta(0), 3 * H, PORTS, PORTS)],
        CP_BOOKED: [(timedelta(0), 3 * H, CP, CP)],
        PORTS_IN_USE: [(timedelta(0), 3 * H, PORTS, PORTS)],
        CP_IN_USE: [(timedelta(0), 3 * H, CP, CP)],
    }
    # one booked and one in-use type per video format, nothing else
    formats = [int(f) for f in PRICED_FORMATS]
    assert list(got) == [1, 2, 3, 4, *(100 + f for f in formats), *(200 + f for f in formats)]


def test_capacity_per_format_comes_from_the_settings(mcu_mgr, clock):
    """The totals of an empty MCU: how many ports of each format the pool holds."""
    got = resources(mcu_mgr, clock)
    expected = {FMT_1080P60: 6, FMT_1080P30: 12, FMT_720P30: 24, FMT_4CIF: 36, FMT_CIF: 72,
                int(VideoFormat.HD720P60): POOL // 8}  # 720P60 keeps its default cost 8
    for video_format, ports in expected.items():
        for kind in (booked_type(video_format), in_use_type(video_format)):
            assert got[kind] == [(timedelta(0), 3 * H, ports, ports)], (kind, got[kind])


def soap_booking(name: str, begin, uris_and_formats) -> dict:
    return {
        "name": name, "beginTime": begin, "duration": H, "mediaEncryptType": 0,
        "cpResouce": 2, "presentation": 0,
        "sites": [{"name": f"site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": video_format} for uri, video_format in uris_and_formats],
    }


def test_bookings_count_each_site_by_its_format(soap, mcu_mgr, clock):
    begin = clock.now() + H
    hd = soap.conf_mgr.scheduleConfEx(scheduleConf=soap_booking(
        "HD consult", begin, [("0601", FMT_1080P30), ("0602", FMT_1080P30), ("0603", FMT_4CIF)]))
    assert hd.resultCode == 0
    held = 6 + 6 + 2  # two 1080P30 ports and a 4CIF one
    got = resources(mcu_mgr, clock)
    free = POOL - held
    assert got[booked_type(FMT_1080P30)] == [
        (timedelta(0), H, 12, 12), (H, H, free // 6, 12), (2 * H, H, 12, 12)]
    assert got[booked_type(FMT_4CIF)][1] == (H, H, free // 2, 36)
    assert got[booked_type(FMT_1080P60)][1] == (H, H, free // 12, 6)
    assert got[PORTS_BOOKED][1] == (H, H, free // 12, PORTS)  # ports of the costliest format
    assert got[in_use_type(FMT_1080P30)] == [(timedelta(0), 3 * H, 12, 12)]  # nothing runs

    # ten more 1080P30 sites at the same time need 60 units: only 58 are free
    statuses = soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses
    too_many = soap.conf_mgr.scheduleConfEx(scheduleConf=soap_booking(
        "ward round", begin + timedelta(minutes=30),
        [(f"07{n:02d}", FMT_1080P30) for n in range(10)]))
    assert too_many.resultCode == CAPACITY
    assert soap.conf_mgr.queryConferencesStatusEx(
        confIds=[]).conferenceStatuses == statuses  # nothing changed
    assert resources(mcu_mgr, clock) == got
    # the same ten sites at 720P30 take 30 units: they fit, though 13 sites now overlap
    # on an MCU of 6 ports of its costliest format
    sd = soap.conf_mgr.scheduleConfEx(scheduleConf=soap_booking(
        "ward round", begin + timedelta(minutes=30),
        [(f"07{n:02d}", FMT_720P30) for n in range(10)]))
    assert sd.resultCode == 0
    half = timedelta(minutes=30)
    both = POOL - held - 30
    after = resources(mcu_mgr, clock)
    assert after[booked_type(FMT_720P30)] == [
        (timedelta(0), H, 24, 24),
        (H, half, free // 3, 24),
        (H + half, half, both // 3, 24),
        (2 * H, half, (POOL - 30) // 3, 24),
        (2 * H + half, half, 24, 24),
    ]
    assert after[booked_type(FMT_1080P30)][2] == (H + half, half, both // 6, 12)
    # 1080P30 sites in that half hour: as many as the answer says are free fit, one more not
    fit = both // 6
    assert fit == 4
    over = soap.conf_mgr.scheduleConfEx(scheduleConf=soap_booking(
        "late", begin + half, [(f"08{n:02d}", FMT_1080P30) for n in range(fit + 1)]))
    assert over.resultCode == CAPACITY
    exact = soap.conf_mgr.scheduleConfEx(scheduleConf=soap_booking(
        "late", begin + half, [(f"08{n:02d}", FMT_1080P30) for n in range(fit)]))
    assert exact.resultCode == 0
    assert resources(mcu_mgr, clock)[booked_type(FMT_1080P30)][2] == (H + half, half, 0, 12)


def test_future_resources_follow_the_bookings(mcu_mgr, clock, gateway_server):
    book(gateway_server, H, 60, [A, B], cp=4)
    book(gateway_server, 90 * timedelta(minutes=1), 60, [C], cp=2)
    got = resources(mcu_mgr, clock)
    half = timedelta(minutes=30)
    assert got[PORTS_BOOKED] == [
        (timedelta(0), H, 6, 6),
        (H, half, 4, 6),
        (H + half, half, 3, 6),
        (2 * H, half, 5, 6),
        (2 * H + half, half, 6, 6),
    ]
    assert got[CP_BOOKED] == [
        (timedelta(0), H, 8, 8),
        (H, half, 4, 8),
        (H + half, half, 2, 8),
        (2 * H, half, 6, 8),
        (2 * H + half, half, 8, 8),
    ]
    # nothing runs yet
    assert got[PORTS_IN_USE] == [(timedelta(0), 3 * H, 6, 6)]
    # a window starting inside a booking: the booking counts from the window's begin
    later = resources(mcu_mgr, clock, hours=1, begin_in=H + half)
    assert later[PORTS_BOOKED] == [(H + half, half, 3, 6), (2 * H, half, 5, 6)]


def test_use_now_changes_when_the_conference_starts_and_sites_join(
    soap, mcu_mgr, clock, gateway_server
):
    conf_id = book(gateway_server, timedelta(0), 60, [A, B, C], cp=4)
    before = resources(mcu_mgr, clock, hours=2)  # the query starts the conference: it is due
    assert before[PORTS_BOOKED] == [(timedelta(0), H, 3, 6), (H, H, 6, 6)]
    assert before[CP_IN_USE] == [(timedelta(0), H, 4, 8), (H, H, 8, 8)]
    # its sites are called, but no terminal is registered to answer: nobody joined
    assert before[PORTS_IN_USE] == [(timedelta(0), 2 * H, 6, 6)]
    assert soap.conf_mgr.disconnectSitesEx(confId=conf_id, siteUris=[A, B]) == 0
    for uri in (A, B):
        gateway_server.gateway.runtime.registry.register(AnsweringTerminal(uri))
    assert soap.conf_mgr.connectSitesEx(confId=conf_id, siteUris=[A, B]) == 0
    joined = resources(mcu_mgr, clock, hours=2)
    assert joined[PORTS_IN_USE] == [(timedelta(0), H, 4, 6), (H, H, 6, 6)]  # A and B; C calls
    # booked without a format, each joined site holds a port of the costliest format
    assert joined[in_use_type(FMT_1080P30)] == [(timedelta(0), H, (POOL - 24) // 6, 12),
                                                (H, H, 12, 12)]
    assert soap.conf_mgr.disconnectSitesEx(confId=conf_id, siteUris=[A]) == 0
    assert resources(mcu_mgr, clock, hours=2)[PORTS_IN_USE][0] == (timedelta(0), H, 5, 6)
    clock.advance(2 * H)
    ended = resources(mcu_mgr, clock, hours=1)
    assert ended[PORTS_IN_USE] == [(timedelta(0), H, 6, 6)]
    assert ended[CP_IN_USE] == [(timedelta(0), H, 8, 8)]


def test_future_resource_refusals(mcu_mgr, clock):
    now = clock.now()

    def code(**request) -> int:
        return mcu_mgr.queryMCUFutureResourceEx(**request).resultCode

    assert code(mcus=[1, 7], beginTime=now, duration=H) == MCU_NOT_FOUND
    assert code(mcus=[1], beginTime=now, duration=-H) == OUT_OF_RANGE
    assert code(mcus=[1], beginTime=now, duration=timedelta(0)) == OUT_OF_RANGE
    assert code(mcus=[1], beginTime=now.replace(tzinfo=None), duration=H) == OUT_OF_RANGE
    twice = mcu_mgr.queryMCUFutureResourceEx(mcus=[1, 1], beginTime=now, duration=H)
    assert [item.mcuId for item in twice.mcuResList] == [1]


def test_future_resources_without_mcus_is_a_client_fault(soap, post_raw):
    body = (
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:smc="{TNS}"><env:Body><smc:queryMCUFutureResourceEx>'
        "<beginTime>2030-01-01T00:00:00Z</beginTime><duration>PT1H</duration>"
        "</smc:queryMCUFutureResourceEx></env:Body></env:Envelope>"
    ).encode()
    answer = post_raw(
        body, path="/services/mcuMgr", cookies={"JSESSIONID": soap.session_id}
    )
    assert answer.status_code == 500 and b"Client" in answer.content


# --- queryConfSiteMCUEx -----------------------------------------------------------------------


def test_every_site_of_a_conference_is_served_by_the_mcu(soap, gateway_server):
    conf_id = book(gateway_server, H, 60, [A, B, C])
    answer = soap.conf_mgr.queryConfSiteMCUEx(confId=conf_id)
    assert answer.resultCode == 0
    assert [(item.siteUri, item.mcuId) for item in answer.mcus] == [(A, 1), (B, 1), (C, 1)]
    some = soap.conf_mgr.queryConfSiteMCUEx(confId=conf_id, siteUris=[C, A])
    assert [(item.siteUri, item.mcuId) for item in some.mcus] == [(C, 1), (A, 1)]
    begin = gateway_server.gateway.scheduler.get(conf_id).occurrences[0].begin
    at = soap.conf_mgr.queryConfSiteMCUEx(confId=conf_id, siteUris=[B], beginTime=begin)
    assert [(item.siteUri, item.mcuId) for item in at.mcus] == [(B, 1)]


def test_conf_site_mcu_refusals(soap, gateway_server, clock):
    conf_id = book(gateway_server, H, 60, [A, B])

    def code(**request) -> int:
        return soap.conf_mgr.queryConfSiteMCUEx(**request).resultCode

    assert code(confId="424242") == CONFERENCE_NOT_FOUND
    assert code(confId=conf_id, siteUris=[A, C]) == SITE_NOT_IN_CONFERENCE
    assert code(confId=conf_id, siteUris=[" "]) == MISSING
    assert code(confId=conf_id, beginTime=clock.now() + 5 * H) == CONFERENCE_NOT_FOUND
    assert code(confId=conf_id, beginTime=clock.now().replace(tzinfo=None)) == OUT_OF_RANGE
    assert soap.conf_mgr.delScheduledConfEx(confId=conf_id) == 0
    assert code(confId=conf_id) == CONFERENCE_NOT_FOUND


# --- organizations ----------------------------------------------------------------------------


def test_organizations_come_from_the_settings_parents_first(orga_mgr):
    answer = orga_mgr.queryOrganizationEx()
    assert answer.resultCode == 0
    assert [(org.id, org.name) for org in answer.orgs] == [
        ("1", "Provincial hospital"),
        ("2", "Cardiology"),
        ("4", "Cardiology ward 4"),
        ("3", "Radiology"),
    ]


def terminal(soap, uri: str, name: str):
    return soap.client.get_type(f"{{{TNS}}}TerminalInfoEx")(name=name, uri=uri, type=4)


def test_sites_belong_to_organizations_and_the_directory_query_selects_them(soap):
    site_mgr = soap.site_mgr
    assert site_mgr.addSiteInfoEx(orgId="9", siteInfo=terminal(soap, "0300", "x")) == ORG_NOT_FOUND
    for uri, name, org in [("0301", "ECG room", "4"), ("0302", "CT", "3"), ("0303", "Desk", "2")]:
        assert site_mgr.addSiteInfoEx(orgId=f" {org} ", siteInfo=terminal(soap, uri, name)) == 0
    assert site_mgr.editSiteInfoEx(siteInfo=terminal(soap, "0301", "ECG room 2")) == 0
    factory = soap.client.type_factory("ns0")

    def uris(**query) -> list[str]:
        answer = site_mgr.querySitesInfoEx(queryConfig=query_config(soap, **query))
        assert answer.resultCode == 0, answer
        return [site.uri for site in answer.sites or []]

    assert uris() == ["0301", "0302", "0303"]  # "0300" was refused: nothing stored
    assert uris(filters=[factory.StringFilterEx(columnIndex=6, value="4")]) == ["0301"]
    assert uris(sort=[(6, 1)]) == ["0301", "0302", "0303"]  # orgs 4, 3, 2 descending
    assert uris(sort=[(6, 0)], per_page=2, page=2) == ["0301"]


def test_sites_keep_their_organization_across_a_restart(gateway_server):
    scheduler = gateway_server.gateway.scheduler
    scheduler.add_directory_site(DirectorySite("0401", "Lab", SiteType.SIP, org_id="3"))
    path = gateway_server.gateway.settings.data_dir / "mcu.sqlite3"
    reopened = Store(path)
    try:
        (site,) = reopened.load().directory
    finally:
        reopened.close()
    assert (site.uri, site.org_id) == ("0401", "3")


def test_a_store_from_before_organizations_keeps_its_sites(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE directory (uri TEXT PRIMARY KEY, document TEXT NOT NULL)")
    old.execute(
        "INSERT INTO directory VALUES ('0501', '{\"uri\": \"0501\", \"name\": \"Old\", "
        "\"type\": 7, \"rate\": null, \"video_format\": null, \"video_protocol\": null}')"
    )
    old.commit()
    old.close()
    store = Store(path)
    try:
        (site,) = store.load().directory
        assert (site.uri, site.name, site.org_id) == ("0501", "Old", None)
        with store.transaction() as tx:
            tx.put_directory_site(replace(site, org_id="1"))
        assert store.load().directory[0].org_id == "1"
    finally:
        store.close()


def test_the_embedded_default_is_one_organization_and_a_file_replaces_it(tmp_path: Path):
    assert load_settings().organizations == (Organization("1", "Telemedicine centre"),)
    config = tmp_path / "orgs.toml"
    config.write_text(
        '[[organizations]]\nid = "10"\nname = "Clinic"\n'
        '[[organizations]]\nid = "11"\nname = "Clinic east"\nparent = "10"\n'
    )
    assert load_settings(config).organizations == (
        Organization("10", "Clinic"),
        Organization("11", "Clinic east", "10"),
    )


@pytest.mark.parametrize(
    "text",
    [
        '[[organizations]]\nid = "1"\nname = "a"\nparent = "7"\n',  # unknown parent
        '[[organizations]]\nid = "1"\nname = "a"\n[[organizations]]\nid = "1"\nname = "b"\n',
        '[[organizations]]\nid = "1"\nname = "a"\nparent = "2"\n'
        '[[organizations]]\nid = "2"\nname = "b"\nparent = "1"\n',  # a cycle, no root
        '[[organizations]]\nid = "1"\nname = " "\n',
        '[[organizations]]\nid = "1"\nname = "a"\ncolour = "red"\n',
        "organizations = []\n",
        '[mcu_identity]\nname = ""\n',
    ],
)
def test_bad_organization_or_mcu_settings_are_refused(tmp_path: Path, text: str):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SettingsError):
        load_settings(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[mcu.port_cost]\n"8K" = 64\n', "'8K' is not a video format"),
        ('[mcu.port_cost]\n"1080P30" = 0\n', "1080P30: a whole number >= 1"),
        ('[mcu.port_cost]\n"1080P30" = 2.5\n', "1080P30: a whole number >= 1"),
        ('[mcu.port_cost]\n"1080P30" = true\n', "1080P30: a whole number >= 1"),
        ('[mcu]\nport_cost = 3\n', "port_cost is a table"),
        ('[mcu]\nmax_ports = 0\n', "at least 1"),
    ],
)
def test_bad_port_costs_are_refused_at_start(tmp_path: Path, text: str, message: str):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SettingsError) as refused:
        load_settings(config)
    assert message in str(refused.value)


def test_port_costs_of_a_config_file_override_the_defaults_by_name(tmp_path: Path):
    config = tmp_path / "costs.toml"
    config.write_text('[mcu.port_cost]\n"720p30" = 5\n')  # names in any case
    costs = load_settings(config).port_costs
    assert costs.of(VideoFormat.HD720P30) == 5
    assert costs.of(VideoFormat.HD1080P60) == costs.top == 16  # the embedded default
    assert costs.of(None) == costs.of(VideoFormat.AUTO) == 16


def test_answers_validate_against_the_reference_schema(soap, post_raw, gateway_server):
    schema = xmlschema.XMLSchema(etree.tostring(REFERENCE_SCHEMA).decode())
    conf_id = book(gateway_server, H, 60, [A, B])
    page = "<queryConfig><pageParam><numberPerPage>5</numberPerPage><currentPage>1</currentPage>"
    requests = [
        ("/services/mcuMgr", f"<smc:queryMCUInfoEx>{page}</pageParam></queryConfig>"
                             "</smc:queryMCUInfoEx>"),
        ("/services/mcuMgr", "<smc:queryMCUFutureResourceEx><mcus>1</mcus>"
                             "<beginTime>2030-01-01T00:00:00+08:00</beginTime>"
                             "<duration>PT2H</duration></smc:queryMCUFutureResourceEx>"),
        ("/services/mcuMgr", "<smc:queryMCUFutureResourceEx><mcus>5</mcus>"
                             "<beginTime>2030-01-01T00:00:00+08:00</beginTime>"
                             "<duration>PT2H</duration></smc:queryMCUFutureResourceEx>"),
        ("/services/orgaMgr", "<smc:queryOrganizationEx/>"),
        ("/services/confMgr", f"<smc:queryConfSiteMCUEx><confId>{conf_id}</confId>"
                              "</smc:queryConfSiteMCUEx>"),
    ]
    for path, body in requests:
        answer = post_raw(envelope(body), path=path, cookies={"JSESSIONID": soap.session_id})
        assert answer.status_code == 200, answer.text
        schema.validate(etree.tostring(body_child(answer)).decode())
