"""Ad-hoc conference templates end to end: the templates of a settings file listed by
queryAdhocConferencesEx (zeep, reference WSDL), a simulated terminal dialling a template's
access code over the signalling starting a conference that queryConferencesStatusEx shows
with the terminal in it (and decoding its picture), wrong passwords and a full MCU refused,
free/busy and synch of templates, the started conference kept across a restart, and bad
template settings refused at start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from gateway.settings import Settings, SettingsError, load_settings
from mcu.adhoc import AdhocConferences, AdhocTemplate, TemplateError
from mcu.clock import ManualClock
from mcu.errors import DomainError, Fault
from mcu.model import ConferenceSpec, DialingMode, FreeBusy, SiteSpec
from mcu.scheduler import Scheduler, SchedulerSettings
from mcu.store import Store
from tests.conftest import DEMO, TESTER, ServerThread, soap_clients
from tests.test_media_acceptance import eventually_async
from tests.test_media_engine import PeerTerminal, eventually

A, B, RADIOLOGY = "01010086", "01010099", "01010010"
RED, BLUE = (220, 30, 30), (30, 30, 220)

TEMPLATES = """
[[adhoc]]
name = "Ward round"
access_code = "7001"
password = "123456"
duration_minutes = 90
rate = "1920k"
cp_resource = 4
presence_mode = 2
sites = [{ uri = "01010010", name = "Radiology", dialing_mode = 1 }]

[[adhoc]]
name = "Open clinic"
access_code = "7002"
"""


def settings_with(tmp_path: Path, text: str, **overrides) -> Settings:
    config = tmp_path / "adhoc.toml"
    config.write_text(text, encoding="utf-8")
    return load_settings(config, port=0, data_dir=tmp_path / "data", **overrides)


@pytest.fixture
def gateway_settings(tmp_path: Path) -> Settings:
    return settings_with(tmp_path, TEMPLATES, call_timeout_seconds=5.0).with_account(*TESTER)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def page(soap, size: int = 10, number: int = 1, **extra):
    return soap.conf_mgr.queryAdhocConferencesEx(
        queryConfig={"pageParam": {"numberPerPage": size, "currentPage": number}, **extra}
    )


def listed(answer) -> list[tuple[str, str]]:
    return [(item.name, item.confAccessCode) for item in answer.adhocConferences or []]


def window(clock: ManualClock) -> dict:
    return {"beginTime": clock.now() - timedelta(hours=1), "duration": timedelta(days=1)}


def states_of(answer) -> dict[str, list[tuple[int, str | None, timedelta | None]]]:
    return {
        item.confAccessCode: [(state.state, state.confId, state.span) for state in item.freebusys]
        for item in answer.freebusy or []
    }


async def off_loop(call, /, **arguments):
    """A blocking zeep call on a worker thread. The terminals of these tests live on the
    test's event loop: a SOAP call made on it holds them, and a few of them in a row on a
    loaded machine kept them from answering the MCU's pings for the heartbeat's 6 s, a
    silence the MCU rightly took for a hung terminal (docs/signalling.md, "Heartbeat")."""
    return await asyncio.to_thread(call, **arguments)


async def site_states(soap, conf_id: str) -> dict[str, int]:
    answer = await off_loop(soap.conf_mgr.queryConfSitesStatusEx, confId=conf_id, siteUris=[])
    assert answer.resultCode == 0
    return {site.uri: site.status for site in answer.siteStatuses}


async def site_state_is(soap, conf_id: str, uri: str, state: int) -> None:
    async def holds() -> bool:
        return (await site_states(soap, conf_id)).get(uri) == state

    await eventually_async(holds, what=f"{uri} in state {state}")


def covers(image: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    """A tenth of `image` or more is that colour."""
    return bool((np.abs(image - np.array(rgb, np.int16)) <= 40).all(axis=2).mean() > 0.1)


async def shows(terminal: PeerTerminal, *colours: tuple[int, int, int]) -> bool:
    """A tenth of the terminal's latest decoded picture or more is each of the colours.

    Judged on a worker thread: the terminal lives on this test's event loop, and this
    whole-picture arithmetic, polled on the loop, held it for up to 10 s at a time on a
    loaded machine (py-spy: half the loop's time) so that it answered none of the MCU's
    pings and the MCU, rightly, gave it up as hung (docs/signalling.md, "Heartbeat")."""
    picture = terminal.picture
    if picture is None:
        return False

    def judge() -> bool:
        image = picture.to_ndarray(format="rgb24").astype(np.int16)
        return all(covers(image, rgb) for rgb in colours)

    return await asyncio.to_thread(judge)


def errors(terminal: PeerTerminal) -> list[str]:
    return [message["code"] for message in terminal.messages if message["type"] == "error"]


def joined_conference(terminal: PeerTerminal, call_id: str) -> str:
    return next(m["conf_id"] for m in terminal.messages
                if m["type"] == "joined" and m["call_id"] == call_id)


async def registered(http, server, uri: str, rgb) -> PeerTerminal:
    terminal = PeerTerminal(uri, rgb)
    await terminal.register(http, server.url("/signalling"))
    await eventually(lambda: "registered" in terminal.received, what=f"{uri} registered")
    return terminal


async def close(*terminals: PeerTerminal) -> None:
    for terminal in terminals:
        for task in terminal.tasks:
            task.cancel()
        if terminal.pc is not None:
            await terminal.pc.close()
        if terminal.ws is not None:
            await terminal.ws.close()


# ---------------------------------------------------------------------------- the list


def test_query_adhoc_conferences_lists_the_templates_of_the_settings(soap):
    answer = page(soap)
    assert answer.resultCode == 0
    assert listed(answer) == [("Ward round", "7001"), ("Open clinic", "7002")]
    assert (answer.pageInfo.totalRecords, answer.pageInfo.totalPages) == (2, 1)

    string_filter = soap.client.get_type("{http://smc.huawei.com/}StringFilterEx")
    clinic = page(soap, filters=[string_filter(columnIndex=0, value="CLINIC")])
    assert listed(clinic) == [("Open clinic", "7002")]
    by_code_down = page(soap, sortItems=[{"sort": 1, "itemIndex": 1}])
    assert [code for _, code in listed(by_code_down)] == ["7002", "7001"]
    second = page(soap, size=1, number=2)
    assert listed(second) == [("Open clinic", "7002")]
    assert (second.pageInfo.totalPages, second.pageInfo.currentPage) == (2, 2)
    # the directory's rules: an unknown column or a zero page size is refused
    assert page(soap, sortItems=[{"sort": 0, "itemIndex": 2}]).resultCode == 570462211
    assert page(soap, size=0).resultCode == 570462211


def test_a_template_code_is_reserved_for_the_template(soap, gateway_server, clock):
    info = {"name": "takes 7001", "beginTime": clock.now(), "duration": timedelta(hours=1),
            "accessCode": "7001", "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0}
    assert soap.conf_mgr.scheduleConfEx(scheduleConf=info).resultCode == 8254
    assert soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses == []


def test_free_busy_of_templates_before_any_conference(soap, clock):
    answer = soap.conf_mgr.queryAdhocConfFreeBusyEx(
        confAccessCodes=["7001", " 9999 ", "7001"], **window(clock)
    )
    assert answer.resultCode == 0
    day = timedelta(days=1)
    assert states_of(answer) == {
        "7001": [(int(FreeBusy.FREE), None, day)],
        "9999": [(int(FreeBusy.UNKNOWN_SITE), None, day)],  # no such template
    }
    blank = soap.conf_mgr.queryAdhocConfFreeBusyEx(confAccessCodes=[""], **window(clock))
    assert blank.resultCode == 570462210
    backwards = soap.conf_mgr.queryAdhocConfFreeBusyEx(
        confAccessCodes=["7001"], beginTime=clock.now(), duration=-timedelta(hours=1)
    )
    assert backwards.resultCode == 570462211


# ---------------------------------------------------------------------------- dialling in


async def test_dialling_a_template_code_starts_its_conference(soap, gateway_server, clock, http):
    conf_mgr = soap.conf_mgr
    first_synch = await off_loop(conf_mgr.synchAdhocConfFreeBusyEx, confAccessCodes=["7001"],
                                 **window(clock))
    assert states_of(first_synch) == {"7001": [(0, None, timedelta(days=1))]}

    red = await registered(http, gateway_server, A, RED)
    blue = await registered(http, gateway_server, B, BLUE)
    try:
        await red.dial_in("7001", "000000", call_id="wrong")
        await eventually(lambda: "error" in red.received, what="refusal")
        assert errors(red) == ["wrong_password"]
        assert (await off_loop(conf_mgr.queryConferencesStatusEx, confIds=[])
                ).conferenceStatuses == []

        await red.dial_in("7001", "123456", call_id="start")
        await eventually(lambda: "joined" in red.received, what="joined")
        conf_id = joined_conference(red, "start")
        [status] = (await off_loop(conf_mgr.queryConferencesStatusEx, confIds=[])
                    ).conferenceStatuses
        assert (status.id, status.name, status.status) == (conf_id, "Ward round", 3)
        assert status.endTime - status.beginTime == timedelta(minutes=90)
        # the dialler in conference once media flows; the template's site booked, not called
        await site_state_is(soap, conf_id, A, 2)
        assert (await site_states(soap, conf_id))[RADIOLOGY] == 3
        # the terminal decodes the conference picture: its own camera in CP_2_1's first pane
        await eventually_async(lambda: shows(red, RED), timeout=20.0,
                               what="own camera in the picture")
        param = await off_loop(conf_mgr.getContinuousPresenceParamEx, confId=conf_id, target="")
        assert param.presenceMode == 2  # the template's layout
        assert gateway_server.gateway.scheduler.get(conf_id).spec.rate == "1920k"
        # nobody booked it: its creator (CDR conferenceCreater) is the template
        assert gateway_server.gateway.scheduler.get(conf_id).creator == "Ward round"

        busy = await off_loop(conf_mgr.queryAdhocConfFreeBusyEx, confAccessCodes=["7001", "7002"],
                              **window(clock))
        assert states_of(busy) == {
            "7001": [(int(FreeBusy.BUSY), conf_id, timedelta(minutes=90))],
            "7002": [(int(FreeBusy.FREE), None, timedelta(days=1))],
        }
        # synch: the new busy entry is a change since this session's first synch
        synch = await off_loop(conf_mgr.synchAdhocConfFreeBusyEx, confAccessCodes=["7001"],
                               **window(clock))
        assert states_of(synch) == {"7001": [(1, conf_id, timedelta(minutes=90))]}

        # a second terminal the template does not list dials the same code: same conference
        await blue.dial_in("7001", "123456", call_id="second")
        await eventually(lambda: "joined" in blue.received, what="B joined")
        assert joined_conference(blue, "second") == conf_id
        await site_state_is(soap, conf_id, B, 2)
        # both in the template's two-pane picture
        await eventually_async(lambda: shows(red, RED, BLUE), timeout=20.0, what="both panes")
        assert len((await off_loop(conf_mgr.queryConferencesStatusEx, confIds=[])
                    ).conferenceStatuses) == 1
        # and the rest of the interface treats it as any conference: call the template site
        assert await off_loop(conf_mgr.connectSitesEx, confId=conf_id, siteUris=[RADIOLOGY]) == 0

        # ended by delScheduledConfEx: the template's entry changes (now ends now), synch says so
        clock.advance(timedelta(seconds=50))  # within the session's 60 s
        assert await off_loop(conf_mgr.delScheduledConfEx, confId=conf_id) == 0
        after = await off_loop(conf_mgr.synchAdhocConfFreeBusyEx, confAccessCodes=["7001"],
                               **window(clock))
        assert states_of(after) == {"7001": [(1, conf_id, timedelta(seconds=50))]}
        await eventually(lambda: "bye" in red.received, what="hung up at the end")
    finally:
        await close(red, blue)


async def test_a_template_without_password_and_a_full_mcu(soap, gateway_server, clock, http):
    scheduler = gateway_server.gateway.scheduler
    # 63 of the 64 ports taken now: the template's conference (the dialler) fits, once
    sites = [SiteSpec(f"0203{n:04d}", dialing_mode=DialingMode.SITE_CALLS_IN) for n in range(63)]
    scheduler.schedule(ConferenceSpec("big", clock.now(), timedelta(hours=3), sites))
    red = await registered(http, gateway_server, A, RED)
    blue = await registered(http, gateway_server, B, BLUE)
    try:
        await red.dial_in("7002", "any thing", call_id="open")  # no password: any is taken
        await eventually(lambda: "joined" in red.received, what="joined")
        await blue.dial_in("7002", "", call_id="full")
        await eventually(lambda: "error" in blue.received, what="refused")
        assert errors(blue) == ["no_capacity"]
        conf_id = joined_conference(red, "open")
        assert list(await site_states(soap, conf_id)) == [A]  # nothing of B was booked
        await red.dial_in("9999", "", call_id="nowhere")
        await eventually(lambda: "error" in red.received, what="unknown code")
        assert errors(red) == ["conference_not_found"]
    finally:
        await close(red, blue)


async def test_a_restart_keeps_the_started_conference(tmp_path, http):
    clock = ManualClock()
    settings = settings_with(tmp_path, TEMPLATES)
    first = ServerThread(settings, clock)
    server = first.start()
    red = await registered(http, server, A, RED)
    try:
        await red.dial_in("7001", "123456", call_id="start")
        await eventually(lambda: "joined" in red.received, what="joined")
    finally:
        await close(red)
    conf_id = joined_conference(red, "start")
    first.stop()

    second = ServerThread(settings, clock)
    server = second.start()
    try:
        soap = soap_clients(server.base_url)
        assert soap.login(*DEMO) == 0
        [status] = soap.conf_mgr.queryConferencesStatusEx(confIds=[]).conferenceStatuses
        assert (status.id, status.status) == (conf_id, 3)
        # still the template's: its free/busy, its layout, and a dial-in joins it
        busy = soap.conf_mgr.queryAdhocConfFreeBusyEx(confAccessCodes=["7001"], **window(clock))
        assert states_of(busy)["7001"][0][:2] == (1, conf_id)
        param = soap.conf_mgr.getContinuousPresenceParamEx(confId=conf_id, target="")
        assert param.presenceMode == 2
        blue = await registered(http, server, B, BLUE)
        try:
            await blue.dial_in("7001", "123456", call_id="again")
            await eventually(lambda: "joined" in blue.received, what="joined after restart")
            assert joined_conference(blue, "again") == conf_id
        finally:
            await close(blue)
    finally:
        second.stop()


# ---------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[adhoc]]\naccess_code = "1"', "name is required"),
        ('[[adhoc]]\nname = "x"', "access_code is required"),
        ('[[adhoc]]\nname = "x"\naccess_code = "12a"', "not numeric"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\npassword = "12"', "password must be 6 digits"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\ncp_resource = 11', "bad_cp_resource"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\npresence_mode = 50', "presence_mode 50"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\npresence_mode = 11\ncp_resource = 2',
         "panes"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\nduration_minutes = 0', "positive"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\nrate = "fast"', "rate 'fast'"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\ncolour = "red"', "unknown keys ['colour']"),
        ('[[adhoc]]\nname = "x"\naccess_code = 1', "access_code must be a str"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\nsites = [{ name = "no uri" }]',
         "uri is required"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\nsites = [{ uri = "1" }, { uri = "1" }]',
         "listed twice"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\nsites = [{ uri = "1", dialing_mode = 5 }]',
         "5 is not a valid DialingMode"),
        ('[[adhoc]]\nname = "x"\naccess_code = "1"\n[[adhoc]]\nname = "y"\naccess_code = "1"',
         "also the code of template 'x'"),
        ('[mcu]\nmax_ports = 1\n[[adhoc]]\nname = "x"\naccess_code = "1"\n'
         'sites = [{ uri = "1" }, { uri = "2" }]', "the MCU has 16 (2 x auto at 16)"),
        ("adhoc = 3", "[[adhoc]] tables"),
    ],
)
def test_bad_templates_are_refused_at_start(tmp_path, text, message):
    with pytest.raises(SettingsError) as refused:
        settings_with(tmp_path, text)
    assert message in str(refused.value)
    assert "adhoc" in str(refused.value)


def test_a_template_code_held_by_a_stored_conference_is_refused_at_start(tmp_path):
    clock = ManualClock()
    plain = ServerThread(settings_with(tmp_path, ""), clock)
    server = plain.start()
    try:
        spec = ConferenceSpec("booked", clock.now() + timedelta(hours=1), timedelta(hours=1),
                              access_code="7001")
        server.gateway.scheduler.schedule(spec)
    finally:
        plain.stop()
    clashing = ServerThread(settings_with(tmp_path, TEMPLATES), clock)
    with pytest.raises(TemplateError, match="7001 is held by conference 1001"):
        clashing.start()


def test_serve_refuses_bad_templates_with_a_clear_message(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[[adhoc]]\nname = "Ward round"\naccess_code = "7001"\npassword = "1"\n')
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--sip-port", "0", "--port", "0", "--no-terminals",
         "--config", str(config), "--data-dir", str(tmp_path / "data")],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "mcu-sim serve: [[adhoc]]: adhoc template 'Ward round': password must be 6 digits or empty"
    )


# ---------------------------------------------------------------------------- the domain


def template_scheduler(path: Path, clock: ManualClock) -> tuple[Store, Scheduler, AdhocConferences]:
    store = Store(path)
    scheduler = Scheduler(store, clock, SchedulerSettings(reserved_access_codes=frozenset({"7001"})))
    template = AdhocTemplate("Ward round", "7001", password="123456",
                             sites=(SiteSpec(RADIOLOGY, "Radiology"),),
                             duration=timedelta(minutes=30))
    return store, scheduler, AdhocConferences(scheduler, [template])


def test_template_keys_are_no_sites_and_codes_are_reserved(tmp_path):
    clock = ManualClock()
    _, scheduler, adhoc = template_scheduler(tmp_path / "mcu.sqlite3", clock)
    conference = adhoc.admit("7001", SiteSpec(A, "Ward 3"))
    assert conference.adhoc_template == "7001" and conference.access_code == "7001"
    # the dialler dials in; the template's site keeps its own dialling mode
    booked = {site.uri: site.dialing_mode for site in conference.occurrences[0].sites}
    assert booked == {RADIOLOGY: DialingMode.MCU_CALLS_SITE, A: DialingMode.SITE_CALLS_IN}
    # a second dialler joins that conference, booked into it; no second conference
    joined = adhoc.admit("7001", SiteSpec(B, "Ward 5"))
    assert joined.conf_id == conference.conf_id
    assert [site.uri for site in joined.occurrences[0].sites] == [RADIOLOGY, A, B]
    assert [site.uri for site in joined.spec.sites] == [RADIOLOGY, A, B]
    assert len(scheduler.conferences()) == 1

    key = "adhoc-template:7001"
    hour = timedelta(hours=1)
    assert scheduler.free_busy([key], clock.now(), hour)[key][0].state is FreeBusy.UNKNOWN_SITE
    assert scheduler.changes([key], clock.now(), hour, 0)[key][0].state is FreeBusy.UNKNOWN_SITE
    with pytest.raises(DomainError) as refused:
        scheduler.schedule(ConferenceSpec("x", clock.now(), hour, [SiteSpec(key)]))
    assert refused.value.fault is Fault.OUT_OF_RANGE
    # generated (random) codes skip the templates' codes: with one-digit codes and 1..8
    # reserved, 9 is the only one left; no other booking may take or edit to them
    scheduler_settings = SchedulerSettings(access_code_digits=1,
                                           reserved_access_codes=frozenset("12345678"))
    other = Scheduler(Store(tmp_path / "other.sqlite3"), clock, scheduler_settings)
    assert other.schedule(ConferenceSpec("y", clock.now(), hour)).access_code == "9"
    later = scheduler.schedule(ConferenceSpec("z", clock.now() + 2 * hour, hour))
    with pytest.raises(DomainError) as taken:
        scheduler.edit(later.conf_id, replace(later.spec, access_code="7001"))
    assert taken.value.fault is Fault.ACCESS_CODE_CONFLICT
    # the template's own conference may be edited keeping its code
    renamed = scheduler.edit(conference.conf_id, replace(joined.spec, name="Ward round 2"))
    assert renamed.access_code == "7001" and renamed.adhoc_template == "7001"


def test_a_template_tombstone_is_kept_in_the_store(tmp_path):
    clock = ManualClock()
    store, scheduler, adhoc = template_scheduler(tmp_path / "mcu.sqlite3", clock)
    conference = adhoc.admit("7001", SiteSpec(A))
    begin, day = clock.now() - timedelta(hours=1), timedelta(days=1)
    [busy] = adhoc.free_busy(["7001"], begin, day)["7001"]
    assert (busy.state, busy.conf_id, busy.span) == (FreeBusy.BUSY, conference.conf_id,
                                                      timedelta(minutes=30))
    since = scheduler.revision()
    clock.advance(timedelta(hours=1))  # over: deleting it removes its entries
    scheduler.delete(conference.conf_id)
    [freed] = adhoc.changes(["7001"], begin, day, since)["7001"]
    assert (freed.state, freed.conf_id, freed.start) == (FreeBusy.FREE, conference.conf_id,
                                                         busy.start)
    assert adhoc.free_busy(["7001"], begin, day)["7001"] == []
    assert adhoc.ongoing("7001") is None
    store.close()

    _, reopened, again = template_scheduler(tmp_path / "mcu.sqlite3", clock)
    [kept] = again.changes(["7001"], begin, day, 0)["7001"]
    assert (kept.state, kept.conf_id) == (FreeBusy.FREE, conference.conf_id)
    # the next dial starts a new conference from the template
    assert again.admit("7001", SiteSpec(A)).conf_id != conference.conf_id
