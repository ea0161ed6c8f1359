"""Ownership of conferences and account roles (docs/gateway.md, "Ownership and roles";
mcu/ownership.py, gateway/ownership_check.py).

Driven through the real server with zeep from the reference WSDL: operator alice books,
operator bob is refused everything about it (status 4 where a status is answered, result
code 1344274435 where an operation is refused) and nothing changes; bob's listings do not
show it; the administrator (the embedded demo account) sees and controls it; on both the
eSDK and the WS/T 546 URIs. Then the settings: --account and the [accounts] file roles.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway import result_codes
from gateway.settings import Settings, SettingsError, load_settings, parse_account, password_digest
from mcu import ownership
from mcu.cdr import (
    CallEnd,
    CallTimes,
    Direction,
    MultiPointRecord,
    NegotiatedMedia,
    PointToPointRecord,
)
from mcu.errors import Fault
from mcu.model import Conference, ConferenceSpec, SiteSpec, SiteType
from mcu.ownership import Actor, Role
from tests.conftest import DEMO, TNS, SoapClients, soap_clients

ALICE = ("alice", "Alice@123")
BOB = ("bob", "Bob@4567")
NO_PERMISSION = 1344274435
SCHEDULED, ONGOING, STATUS_NO_PERMISSION = 2, 3, 4

WST546_PATHS = {
    "conf_mgr": ("TPProfessional.ConfMgrbinding", "/services/confMgr"),
    "conf_ctrl": ("TPProfessional.ConfCtrbinding", "/services/confCtrl"),
    "terminal_conf_ctrl": ("TPProfessional.TerminalConfCtrbinding", "/services/confCtrl"),
    "site_mgr": ("TPProfessional.SiteMgrbinding", "/services/siteMgr"),
}


@pytest.fixture
def gateway_settings(gateway_settings: Settings) -> Settings:
    settings = gateway_settings.with_account(*ALICE).with_account(*BOB)
    # sessions outlive the clock jumps; unreachable sites stay "calling" during a test
    return replace(settings, session_timeout_seconds=timedelta(days=2).total_seconds(),
                   call_timeout_seconds=600.0)


def wst546_clients(base_url: str, user: tuple[str, str]) -> SoapClients:
    """zeep services of the reference WSDL at the WS/T 546 URIs, logged in as `user`."""
    clients = soap_clients(base_url)
    for name, (binding, path) in WST546_PATHS.items():
        setattr(clients, name, clients.client.create_service(f"{{{TNS}}}{binding}",
                                                             base_url + path))
    clients.common = clients.client.create_service(f"{{{TNS}}}TP.Commonbinding",
                                                   base_url + "/services/common")
    assert clients.login(*user) == 0
    return clients


def conference(name: str, begin, uris: list[str], minutes: int = 60) -> dict:
    return {
        "name": name, "beginTime": begin, "duration": timedelta(minutes=minutes),
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0, "rate": "1920k",
        "sites": [{"name": f"site {uri}", "uri": uri, "type": 4, "from": 0, "dialingMode": 1}
                  for uri in uris],
    }


def book(soap: SoapClients, name: str, begin, uris: list[str]) -> str:
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf=conference(name, begin, uris))
    assert answer.resultCode == 0, answer
    return answer.conferenceInfo.confId


def statuses(soap: SoapClients, ids: list[str] | None = None) -> dict[str, object]:
    answer = soap.conf_mgr.queryConferencesStatusEx(confIds=ids or [])
    assert answer.resultCode == 0
    return {status.id: status for status in answer.conferenceStatuses or []}


def snapshot(server, conf_id: str) -> tuple:
    """What the store holds of the conference, and the scheduler's revision."""
    scheduler = server.gateway.scheduler
    return scheduler.get(conf_id), scheduler.revision()


def refusals(soap: SoapClients, conf_id: str, begin, uri: str) -> dict[str, object]:
    """Every conference operation of confMgr and confCtrl on `conf_id`, answered."""
    mgr, ctrl = soap.conf_mgr, soap.conf_ctrl
    edit = conference("taken over", begin, [uri, "7999"])
    edit["confId"] = conf_id
    return {
        "editScheduledConfEx": mgr.editScheduledConfEx(editConf=edit).resultCode,
        "editRecurrenceConferenceEx": mgr.editRecurrenceConferenceEx(
            editConf={**edit, "frequency": 0, "interval": 1, "weekDays": [1],
                      "weekDay": 0, "monthDay": 0, "count": 2}).resultCode,
        "prolongScheduledConfEx": mgr.prolongScheduledConfEx(
            confId=conf_id, prolongTime=timedelta(minutes=30)),
        "addSiteToConfEx": mgr.addSiteToConfEx(confId=conf_id, siteInfo={
            "name": "x", "uri": "7998", "type": 4, "from": 0, "dialingMode": 1}).resultCode,
        "delSiteFromConfEx": mgr.delSiteFromConfEx(confId=conf_id, siteUri=uri),
        "queryConfSitesStatusEx": mgr.queryConfSitesStatusEx(confId=conf_id).resultCode,
        "connectSitesEx": mgr.connectSitesEx(confId=conf_id, siteUris=[uri]),
        "disconnectSitesEx": mgr.disconnectSitesEx(confId=conf_id, siteUris=[uri]),
        "getContinuousPresenceInfoEx": mgr.getContinuousPresenceInfoEx(
            confId=conf_id).resultCode,
        "getContinuousPresenceParamEx": mgr.getContinuousPresenceParamEx(
            confId=conf_id, target="").resultCode,
        "queryConfSiteMCUEx": mgr.queryConfSiteMCUEx(confId=conf_id).resultCode,
        "setSitesMuteEx": ctrl.setSitesMuteEx(confId=conf_id, siteUris=[uri], isMute=0),
        "setContinuousPresenceEx": ctrl.setContinuousPresenceEx(
            confId=conf_id, target="", presenceMode=1, subPics=[uri]),
        "setBroadcastContinuousPresenceEx": ctrl.setBroadcastContinuousPresenceEx(
            confId=conf_id, isBroadcast=0),
        "setAudioSwitchEx": ctrl.setAudioSwitchEx(confId=conf_id, switchGate=10, isSwitch=1),
        "requestConfChairEx": ctrl.requestConfChairEx(confId=conf_id, chairmanUri=uri),
        "releaseConfChairEx": ctrl.releaseConfChairEx(confId=conf_id),
        "lockPresentationEx": ctrl.lockPresentationEx(confId=conf_id, siteUri=uri),
        "setConfSiteVolumeEx": ctrl.setConfSiteVolumeEx(
            confId=conf_id, siteVolumes=[{"siteUri": uri, "volume": 10}]),
        # last: it would end the conference
        "delScheduledConfEx": mgr.delScheduledConfEx(confId=conf_id),
    }


# --- an operator and another account's conference ------------------------------------------


@pytest.mark.parametrize("uris", ["esdk", "wst546"])
def test_an_operator_is_refused_another_accounts_conference_and_nothing_changes(
        gateway_server, soap_login, clock, uris):
    connect = soap_login if uris == "esdk" else (
        lambda *user: wst546_clients(gateway_server.base_url, user))
    alice, bob = connect(*ALICE), connect(*BOB)
    ongoing = book(alice, "alice's ward round", clock.now(), ["7101"])
    later = book(alice, "alice's follow-up", clock.now() + timedelta(hours=3), ["7102"])
    before = {conf_id: snapshot(gateway_server, conf_id) for conf_id in (ongoing, later)}

    for conf_id, uri in ((ongoing, "7101"), (later, "7102")):
        answers = refusals(bob, conf_id, clock.now() + timedelta(hours=5), uri)
        assert answers == dict.fromkeys(answers, NO_PERMISSION), answers
    # status 4 for the ids asked; nothing else of them is told
    asked = statuses(bob, [ongoing, later, "999999"])
    assert [asked[c].status for c in (ongoing, later, "999999")] == [4, 4, 1]
    assert asked[ongoing].name is None and asked[ongoing].beginTime == clock.now()
    # ...and not listed at all when bob asks for every conference
    assert statuses(bob) == {}
    # nothing changed: the stored conference is the same and no booking revision was made
    for conf_id in (ongoing, later):
        assert snapshot(gateway_server, conf_id) == before[conf_id]
    # the owner still has them, as they were
    own = statuses(alice)
    assert {c: own[c].status for c in own} == {ongoing: ONGOING, later: SCHEDULED}
    assert own[ongoing].name == "alice's ward round"
    assert alice.conf_mgr.queryConfSitesStatusEx(confId=ongoing).resultCode == 0


def test_bob_lists_only_his_own_and_alice_hers(soap_login, clock):
    alice, bob = soap_login(*ALICE), soap_login(*BOB)
    a = book(alice, "a", clock.now() + timedelta(hours=1), ["7201"])
    b = book(bob, "b", clock.now() + timedelta(hours=1), ["7202"])
    assert set(statuses(alice)) == {a} and set(statuses(bob)) == {b}
    assert statuses(alice, [a, b])[b].status == STATUS_NO_PERMISSION
    # each controls its own
    assert bob.conf_mgr.prolongScheduledConfEx(confId=b, prolongTime=timedelta(minutes=5)) == 0
    assert bob.conf_mgr.delScheduledConfEx(confId=b) == 0
    # a conference that does not exist is answered as before, to anyone
    assert bob.conf_mgr.delScheduledConfEx(confId=b) == result_codes.CONFERENCE_NOT_FOUND


def test_the_administrator_sees_and_controls_every_conference(gateway_server, soap, soap_login,
                                                               clock):
    alice = soap_login(*ALICE)
    conf_id = book(alice, "alice's", clock.now(), ["7301"])
    listed = statuses(soap)  # demo, the embedded administrator
    assert listed[conf_id].status == ONGOING and listed[conf_id].name == "alice's"
    assert soap.conf_mgr.prolongScheduledConfEx(
        confId=conf_id, prolongTime=timedelta(minutes=30)) == 0
    assert soap.conf_ctrl.setSitesMuteEx(confId=conf_id, siteUris=["7301"], isMute=0) in (
        0, result_codes.result_code(Fault.SITE_NOT_CONNECTED))
    status = statuses(alice, [conf_id])[conf_id]
    assert status.endTime - status.beginTime == timedelta(minutes=90)
    # the owner is still alice: the administrator's edit does not take the conference
    assert gateway_server.gateway.scheduler.get(conf_id).creator == "alice"
    assert soap.conf_mgr.delScheduledConfEx(confId=conf_id) == 0


@pytest.mark.parametrize("uris", ["esdk", "wst546"])
def test_site_operations_are_refused_on_a_site_in_another_accounts_conference(
        gateway_server, soap_login, clock, uris):
    connect = soap_login if uris == "esdk" else (
        lambda *user: wst546_clients(gateway_server.base_url, user))
    alice, bob = connect(*ALICE), connect(*BOB)
    book(alice, "alice's", clock.now(), ["7401"])
    terminal, site = bob.terminal_conf_ctrl, bob.site_mgr
    refused = {
        "requestChairEx": terminal.requestChairEx(siteUri="7401"),
        "releaseChairEx": terminal.releaseChairEx(siteUri="7401"),
        "setRecordBroadEx": terminal.setRecordBroadEx(siteUri="7401", action=0),
        "setDirectBroadEx": terminal.setDirectBroadEx(siteUri=" 7401 ", action=0),
        "queryBroadInfoEx": terminal.queryBroadInfoEx(siteUri="7401").resultCode,
        "queryConfCtrlPwdEx": terminal.queryConfCtrlPwdEx(siteUri="7401").resultCode,
        "setAuxStreamEx": site.setAuxStreamEx(siteUri="7401", controlCode=0),
        "isSendAuxStreamEx": site.isSendAuxStreamEx(siteUri="7401").resultCode,
        "querySiteVersionInfoEx": site.querySiteVersionInfoEx(siteUri="7401").resultCode,
    }
    assert refused == dict.fromkeys(refused, NO_PERMISSION), refused
    # the owner gets the answers the site's state gives (it is not joined), not a refusal
    mine = alice.terminal_conf_ctrl.queryConfCtrlPwdEx(siteUri="7401")
    assert mine.resultCode == 0 and mine.result == "1"
    # a site in no ongoing conference is nobody's: bob gets the usual answer
    assert bob.terminal_conf_ctrl.queryConfCtrlPwdEx(siteUri="7499").resultCode != NO_PERMISSION


# --- call detail records ----------------------------------------------------------------------


def _multipoint(conf_id: str, creator: str, uri: str, at) -> MultiPointRecord:
    return MultiPointRecord(
        conf_id=conf_id, conf_name=f"conf {conf_id}", conf_creator=creator, bill_code="",
        site_uri=uri, site_name=uri, site_type=SiteType.SIP, participant_type=0,
        direction=Direction.DIAL_OUT, rate="1920k",
        times=CallTimes(at, at, at + timedelta(minutes=5)), media=NegotiatedMedia(),
        end=CallEnd(0, "hang up"))


def test_cdr_queries_show_an_operator_only_its_own_conferences(gateway_server, soap, soap_login,
                                                               clock):
    alice, bob = soap_login(*ALICE), soap_login(*BOB)
    begin = clock.now()
    a = book(alice, "a", begin + timedelta(hours=1), ["7501"])
    b = book(bob, "b", begin + timedelta(hours=1), ["7502"])
    records = gateway_server.gateway.runtime.call_records
    records.record(_multipoint(a, "alice", "7501", begin + timedelta(minutes=1)))
    records.record(_multipoint(b, "bob", "7502", begin + timedelta(minutes=2)))
    records.record(PointToPointRecord(
        call_id="p1", calling_uri="7601", calling_type=SiteType.SIP, called_uri="7602",
        called_type=SiteType.SIP, rate="", times=CallTimes(begin, begin, begin),
        media=NegotiatedMedia(), end=CallEnd(0, "hang up")))
    # alice's conference is deleted: its records stay hers
    assert alice.conf_mgr.delScheduledConfEx(confId=a) == 0

    config = {"beginTime": begin, "duration": timedelta(days=1),
              "pageParam": {"numberPerPage": 10, "currentPage": 1}}

    def multipoint(clients: SoapClients) -> list[str]:
        answer = clients.conf_mgr.queryMultiPointCDREx(queryConfig=config)
        assert answer.resultCode == 0
        assert answer.pageInfo.totalRecords == len(answer.cdr or [])
        return [record.conferenceId for record in answer.cdr or []]

    def p2p(clients: SoapClients) -> int:
        answer = clients.conf_mgr.queryPointToPointCDREx(queryConfig=config)
        assert answer.resultCode == 0
        return answer.pageInfo.totalRecords

    assert multipoint(alice) == [a] and multipoint(bob) == [b] and multipoint(soap) == [a, b]
    # point-to-point calls belong to no conference, so to no operator
    assert (p2p(alice), p2p(bob), p2p(soap)) == (0, 0, 1)


# --- conferences no account owns ------------------------------------------------------------


def test_a_conference_without_an_owning_account_is_the_administrators(gateway_server, soap,
                                                                      soap_login, clock):
    scheduler = gateway_server.gateway.scheduler
    spec = ConferenceSpec(name="stored before owners", begin=clock.now() + timedelta(hours=1),
                          duration=timedelta(minutes=30), sites=[SiteSpec(uri="7701")])
    legacy = scheduler.schedule(spec).conf_id  # creator "" as an older version stored it
    alice = soap_login(*ALICE)
    assert statuses(alice, [legacy])[legacy].status == STATUS_NO_PERMISSION
    assert legacy not in statuses(alice)
    assert alice.conf_mgr.delScheduledConfEx(confId=legacy) == NO_PERMISSION
    assert statuses(soap, [legacy])[legacy].status == SCHEDULED


def test_the_rule_itself():
    alice, admin = Actor("alice", Role.OPERATOR), Actor("root", Role.ADMIN)
    spec = ConferenceSpec(name="x", begin=datetime(2030, 1, 1, tzinfo=UTC),
                          duration=timedelta(hours=1))
    base = Conference(conf_id="1", spec=spec, access_code="1", password="", chairman_password="",
                      recurrence=None, occurrences=[], creator="alice")
    adhoc = replace(base, adhoc_template="7001")  # creator is then the template's name
    nobody = replace(base, creator="")
    assert ownership.owns(alice, base)
    assert not ownership.owns(alice, adhoc) and not ownership.owns(alice, nobody)
    assert not ownership.owns(Actor("bob", Role.OPERATOR), base)
    assert all(ownership.owns(admin, c) for c in (base, adhoc, nobody))
    assert ownership.visible(alice, [base, adhoc, nobody]) == [base]


# --- accounts and roles in the settings ------------------------------------------------------


def test_account_flag_parse_rule():
    assert parse_account("ann:secret") == ("ann", "secret", Role.OPERATOR)
    assert parse_account("ann:secret:admin") == ("ann", "secret", Role.ADMIN)
    assert parse_account("ann:secret:operator") == ("ann", "secret", Role.OPERATOR)
    # ':' in the password: the name ends at the first, a role only as the last part
    assert parse_account("ann:a:b:c") == ("ann", "a:b:c", Role.OPERATOR)
    assert parse_account("ann:a:b:admin") == ("ann", "a:b", Role.ADMIN)
    assert parse_account("ann:pw:admin:operator") == ("ann", "pw:admin", Role.OPERATOR)
    assert parse_account("ann:administrator") == ("ann", "administrator", Role.OPERATOR)
    assert parse_account("ann:admin") == ("ann", "admin", Role.OPERATOR)  # a password alone
    for bad in ("ann", "ann:", ":pw", "ann::admin", ":pw:admin"):
        with pytest.raises(SettingsError):
            parse_account(bad)


def test_account_roles_from_flags_and_defaults():
    settings = load_settings()
    assert settings.role_of("demo") is Role.ADMIN  # the embedded account of `make run`
    settings = settings.with_account(*parse_account("ann:pw:admin")).with_account("op", "pw")
    assert settings.role_of("ann") is Role.ADMIN and settings.role_of("op") is Role.OPERATOR
    # giving demo again replaces it, role included
    assert settings.with_account("demo", "new").role_of("demo") is Role.OPERATOR


def test_account_roles_from_the_settings_file(tmp_path: Path):
    config = tmp_path / "gw.toml"
    digest = password_digest("Ops@2024")
    config.write_text(
        "[accounts]\n"
        f'plain = "{digest}"\n'  # the form written before roles: an operator
        f'boss = {{ sha256 = "{digest.upper()}", role = "admin" }}\n'
        f'clerk = {{ sha256 = "{digest}", role = "operator" }}\n'
    )
    settings = load_settings(config)
    assert {name: settings.role_of(name) for name in ("plain", "boss", "clerk", "demo")} == {
        "plain": Role.OPERATOR, "boss": Role.ADMIN, "clerk": Role.OPERATOR, "demo": Role.ADMIN}
    assert settings.accounts["boss"] == digest
    for bad in (f'x = {{ sha256 = "{digest}", role = "root" }}',
                f'x = {{ sha256 = "{digest}", colour = "red" }}',
                'x = { role = "admin" }',
                "x = 5", "x = { sha256 = 5 }"):
        config.write_text(f"[accounts]\n{bad}\n")
        with pytest.raises(SettingsError):
            load_settings(config)


def test_a_role_reaches_the_session(gateway_server, soap_login):
    sessions = gateway_server.gateway.sessions
    for user, role in ((DEMO, Role.ADMIN), (ALICE, Role.OPERATOR)):
        clients = soap_login(*user)
        session = sessions.touch(clients.session_id)
        assert session is not None and session.actor == Actor(user[0], role)


def test_free_busy_tells_an_operator_when_a_site_is_busy_but_not_whose_conference(
        soap, soap_login, clock):
    alice, bob = soap_login(*ALICE), soap_login(*BOB)
    begin = clock.now() + timedelta(hours=1)
    conf_id = book(alice, "alice's private round", begin, ["7801"])

    def busy(clients: SoapClients, synch: bool = False) -> list[tuple]:
        query = clients.conf_mgr.synchSiteStatusEx if synch else clients.conf_mgr.querySiteStatusEx
        answer = query(siteUris=["7801"], beginTime=clock.now(), duration=timedelta(days=1))
        assert answer.resultCode == 0
        return [(s.state, s.confId, s.confName)
                for site in answer.siteFreeBusyStates for s in site.states if s.state == 1]

    assert busy(alice) == [(1, conf_id, "alice's private round")]
    assert busy(soap) == [(1, conf_id, "alice's private round")]  # the administrator
    assert busy(bob) == busy(bob, synch=True) == [(1, conf_id, None)]
