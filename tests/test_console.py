"""The web console over plain HTTP (aiohttp client) against a real running server, its
effects read back with SOAP (zeep from the reference WSDL): log-in and lockout with the
SOAP accounts, the cookie's flags, visitors kept out, CSRF refusals that change nothing,
scheduling a conference now with a simulated terminal, each control action seen by the
SOAP queries, a refusal answered with the SOAP result code, and the live event stream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app.demo.soap_client import EsdkClient, check
from app.process import running_server
from gateway import result_codes
from gateway.console.auth import CONSOLE_COOKIE
from gateway.settings import load_settings
from mcu.clock import ManualClock
from mcu.layouts import layout_mode
from terminals.client import SimulatedTerminal
from terminals.media_sources import VideoFormat
from terminals.run_command import terminal_uri
from tests.conftest import DEMO, soap_clients

USER, PASSWORD = "demo", "Demo@123"  # the embedded administrator
OPERATOR, OPERATOR_PASSWORD = "nurse", "Nurse@123"
IN_CONFERENCE = 2
SMALL = VideoFormat(320, 180, 10, 200_000)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=30.0)
    settings = settings.with_account(OPERATOR, OPERATOR_PASSWORD)  # an operator, not admin
    async with running_server(settings, clock=ManualClock()) as running:
        yield running


@pytest.fixture
async def soap(server) -> EsdkClient:
    client = await asyncio.to_thread(EsdkClient.connect, server.base_url)
    await asyncio.to_thread(client.login, USER, PASSWORD)
    return client


async def sim_terminal(server, index: int) -> SimulatedTerminal:
    uri = terminal_uri("0188", index)
    sim = SimulatedTerminal(uri=uri, name=f"Site {index}", site_index=index, ring_delay_s=0.1,
                            video_format=SMALL, loop_frames=10, analyse_every=1 << 30)
    await sim.start(server.url("/signalling").replace("http", "ws", 1))
    return sim


@pytest.fixture
async def sims(server) -> AsyncIterator[list[SimulatedTerminal]]:
    terminals = [await sim_terminal(server, 3), await sim_terminal(server, 4)]
    try:
        yield terminals
    finally:
        for sim in terminals:
            await sim.stop()


def browser_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def log_in(http: aiohttp.ClientSession, server, password: str = PASSWORD,
                 user: str = USER) -> aiohttp.ClientResponse:
    return await http.post(server.url("/login"), data={"user": user, "password": password},
                           allow_redirects=False)


async def csrf_of(http: aiohttp.ClientSession, server) -> str:
    page = await (await http.get(server.url("/"))).text()
    match = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
    assert match, page[:500]
    return match.group(1)


async def act(http, server, csrf: str | None, action: str, **fields) -> tuple[int, dict]:
    data = aiohttp.FormData()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            data.add_field(key, str(item))
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    async with http.post(server.url(f"/console/action/{action}"), data=data,
                         headers=headers) as response:
        return response.status, await response.json()


async def soap_call(soap: EsdkClient, operation: str, service: str = "conf_mgr", **kwargs):
    function = getattr(getattr(soap, service), operation)
    return check(await asyncio.to_thread(function, **kwargs), operation)


def site_mgr_client(base_url: str):
    """The siteMgr service of the reference WSDL, logged in (tests/conftest.py's clients)."""
    clients = soap_clients(base_url)
    assert clients.login(*DEMO) == 0
    return clients.site_mgr


async def eventually(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


async def site_status(soap: EsdkClient, conf_id: str, uri: str):
    answer = await soap_call(soap, "queryConfSitesStatusEx", confId=conf_id, siteUris=[uri])
    return answer.siteStatuses[0]


async def conference_status(soap: EsdkClient, conf_id: str):
    answer = await soap_call(soap, "queryConferencesStatusEx", confIds=[conf_id])
    return answer.conferenceStatuses[0]


async def scheduled_now(http, server, csrf, soap, uris: list[str]) -> str:
    status, answer = await act(http, server, csrf, "schedule", name="console", begin="now",
                               duration=60, cpResource=4, site=uris)
    assert status == 200 and answer["resultCode"] == 0, answer
    conf_id = answer["confId"]

    async def joined() -> bool:
        return all([(await site_status(soap, conf_id, uri)).status == IN_CONFERENCE
                    for uri in uris])

    await eventually(joined, what="the sites join the conference scheduled from the console")
    return conf_id


# ------------------------------------------------------------------------------- tests


async def test_a_visitor_sees_only_the_login_page_and_static_files(server):
    async with browser_session() as http:
        response = await http.get(server.url("/"), allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/login"
        assert (await http.get(server.url("/login"))).status == 200
        assert (await http.get(server.url("/console/static/console.js"))).status == 200
        assert (await http.get(server.url("/console/fragments"))).status == 401
        assert (await http.get(server.url("/console/events"))).status == 401
        status, _ = await act(http, server, None, "mute", confId="x", uri="y", muted=1)
        assert status == 401


async def test_login_sets_a_strict_http_only_cookie_and_opens_the_console(server):
    async with browser_session() as http:
        response = await log_in(http, server)
        assert response.status == 303 and response.headers["Location"] == "/"
        cookie = response.cookies[CONSOLE_COOKIE]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert not cookie["secure"]  # plain HTTP here; Secure when the server speaks HTTPS
        page = await (await http.get(server.url("/"))).text()
        assert "MCU console" in page and f"{USER} (" in page and 'id="live-view"' not in page
        assert "id=live-view" in page  # the place the live view will go


async def test_three_wrong_passwords_lock_the_account_for_console_and_soap(server):
    async with browser_session() as http:
        for _ in range(2):
            response = await log_in(http, server, "wrong")
            assert response.status == 401
            assert "Wrong user name or password" in await response.text()
        response = await log_in(http, server, "wrong")
        assert response.status == 403 and "locked" in await response.text()
        response = await log_in(http, server)  # the right password: still locked
        assert response.status == 403 and "locked" in await response.text()
        assert CONSOLE_COOKIE not in response.cookies
    soap = await asyncio.to_thread(EsdkClient.connect, server.base_url)
    challenge = await asyncio.to_thread(soap.common.LoginRequest, userName=USER,
                                        clientType="API", version=1)
    assert challenge.resultCode == result_codes.ACCOUNT_LOCKED


async def test_log_out_ends_the_session_and_needs_the_csrf_token(server):
    async with browser_session() as http:
        await log_in(http, server)
        csrf = await csrf_of(http, server)
        response = await http.post(server.url("/logout"), allow_redirects=False)
        assert response.status == 403
        assert (await http.get(server.url("/"), allow_redirects=False)).status == 200
        response = await http.post(server.url("/logout"), data={"csrf": csrf},
                                   allow_redirects=False)
        assert response.status == 303
        assert (await http.get(server.url("/"), allow_redirects=False)).status == 303


async def test_control_actions_are_seen_by_the_soap_queries(server, soap, sims):
    a, b = (sim.uri for sim in sims)
    async with browser_session() as http:
        await log_in(http, server)
        csrf = await csrf_of(http, server)
        conf_id = await scheduled_now(http, server, csrf, soap, [a, b])
        page = await (await http.get(server.url(f"/?conf={conf_id}"))).text()
        assert f'data-site="{a}"' in page and "id=layout-picker" in page
        assert page.count("class=\"mode") == 50  # the picker draws every mode

        # CSRF: no token, a wrong token, a token of another session: 403, nothing changes
        assert (await act(http, server, None, "mute", confId=conf_id, uri=a, muted=1))[0] == 403
        assert (await act(http, server, "0" * 64, "mute", confId=conf_id, uri=a,
                          muted=1))[0] == 403
        async with browser_session() as other:
            await log_in(other, server)
            foreign = await csrf_of(other, server)
        assert (await act(http, server, foreign, "mute", confId=conf_id, uri=a, muted=1))[0] == 403
        assert (await site_status(soap, conf_id, a)).isMute == 1  # not muted

        async def ok(action: str, **fields) -> None:
            status, answer = await act(http, server, csrf, action, confId=conf_id, **fields)
            assert status == 200 and answer["resultCode"] == 0, (action, answer)

        await ok("mute", uri=a, muted=1)
        await ok("quiet", uri=b, quiet=1)
        await ok("volume", uri=b, volume=30)
        status_a, status_b = (await site_status(soap, conf_id, a)), (await site_status(soap, conf_id, b))
        assert status_a.isMute == 0 and status_b.isQuiet == 0 and status_b.volume == 30
        await ok("mute", uri=a, muted=0)
        assert (await site_status(soap, conf_id, a)).isMute == 1

        await ok("video_source", uri=a, source=b, lock=0)
        assert (await site_status(soap, conf_id, a)).videoSource == b
        await ok("broadcast", uri=b, on=1)
        assert (await conference_status(soap, conf_id)).broadcast == b
        await ok("chair", uri=a)
        assert (await conference_status(soap, conf_id)).chair == a
        await ok("release_chair")
        assert not (await conference_status(soap, conf_id)).chair
        await ok("audio_switch", on=1, gate=40)
        conference = await conference_status(soap, conf_id)
        assert conference.isAudioSwitch == 1 and conference.switchGate == 40

        mode = layout_mode("CP_2_1")
        await ok("layout", target="0", mode=mode.value, pane=[b, a])
        param = await soap_call(soap, "getContinuousPresenceParamEx", confId=conf_id, target="0")
        assert param.presenceMode == mode.value and list(param.subPics) == [b, a]

        await ok("camera", uri=a, camState=0, camAction=0, camSrc=0, camPos=255)
        await ok("camera", uri=a, camState=0, camAction=18, camSrc=0, camPos=3)

        # refusals: the SOAP result code, nothing changed
        too_big = layout_mode("CP_16_1")
        status, answer = await act(http, server, csrf, "layout", confId=conf_id, target="0",
                                   mode=too_big.value, pane=[a])
        assert status == 400 and answer["resultCode"] == 1347420262
        param = await soap_call(soap, "getContinuousPresenceParamEx", confId=conf_id, target="0")
        assert param.presenceMode == mode.value
        status, answer = await act(http, server, csrf, "volume", confId=conf_id, uri=a,
                                   volume="loud")
        assert status == 400 and answer["resultCode"] != 0
        status, answer = await act(http, server, csrf, "camera", uri=a, camState=0,
                                   camAction=18, camSrc=0)  # a preset without its position
        assert status == 400 and answer["resultCode"] == 570462210
        status, answer = await act(http, server, csrf, "no_such_action", confId=conf_id)
        assert status == 400

        # content: the same answer as setAuxStreamEx gives, and its effect seen over SOAP
        site_mgr = await asyncio.to_thread(site_mgr_client, server.base_url)
        status, answer = await act(http, server, csrf, "content", uri=a, on=1)
        soap_answer = await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=b, controlCode=0)
        assert answer["resultCode"] == soap_answer
        sending = await asyncio.to_thread(site_mgr.isSendAuxStreamEx, siteUri=a)
        assert (sending.result == 1) == (answer["resultCode"] == 0), (answer, sending)

        await ok("disconnect", uri=b)

        async def b_left() -> bool:
            return (await site_status(soap, conf_id, b)).status != IN_CONFERENCE

        await eventually(b_left, what="the site hung up from the console leaves")
        await ok("end")
        assert (await conference_status(soap, conf_id)).status != 3  # no longer ongoing


async def test_the_event_stream_reports_a_change(server, soap, sims):
    a = sims[0].uri
    async with browser_session() as http:
        await log_in(http, server)
        csrf = await csrf_of(http, server)
        conf_id = await scheduled_now(http, server, csrf, soap, [a])
        async with http.get(server.url("/console/events")) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            await stream.content.readline()  # retry:
            await stream.content.readline()
            await act(http, server, csrf, "mute", confId=conf_id, uri=a, muted=1)
            lines = []
            async with asyncio.timeout(10):
                while not any(line.startswith("data:") for line in lines):
                    lines.append((await stream.content.readline()).decode().strip())
            assert "event: changed" in lines and f'data: "{conf_id}"' in lines
        fragments = await (await http.get(server.url(f"/console/fragments?conf={conf_id}"))).json()
        assert f'data-site="{a}"' in fragments["detail"] and 'data-muted="1"' in fragments["detail"]
        assert a in fragments["terminals"]


async def test_an_operator_sees_and_controls_only_its_own_conferences(server, soap, sims):
    a, b = (sim.uri for sim in sims)
    async with browser_session() as admin, browser_session() as nurse:
        await log_in(admin, server)
        conf_id = await scheduled_now(admin, server, await csrf_of(admin, server), soap, [a])
        assert (await log_in(nurse, server, OPERATOR_PASSWORD, OPERATOR)).status == 303
        csrf = await csrf_of(nurse, server)
        fragments = await (await nurse.get(server.url(f"/console/fragments?conf={conf_id}"))).json()
        assert conf_id not in fragments["conferences"] and a not in fragments["detail"]
        for action, fields in (("mute", {"uri": a, "muted": 1}), ("end", {})):
            status, answer = await act(nurse, server, csrf, action, confId=conf_id, **fields)
            assert status == 400 and answer["resultCode"] == result_codes.NO_PERMISSION
        status, answer = await act(nurse, server, csrf, "camera", uri=a, camState=0,
                                   camAction=0, camSrc=0, camPos=255)  # names only the site
        assert status == 400 and answer["resultCode"] == result_codes.NO_PERMISSION
        assert (await site_status(soap, conf_id, a)).isMute == 1  # nothing changed
        assert (await conference_status(soap, conf_id)).status == 3  # still ongoing
        own = await scheduled_now(nurse, server, csrf, soap, [b])
        fragments = await (await nurse.get(server.url(f"/console/fragments?conf={own}"))).json()
        assert own in fragments["conferences"] and conf_id not in fragments["conferences"]
        status, answer = await act(nurse, server, csrf, "mute", confId=own, uri=b, muted=1)
        assert status == 200, answer
        # its own confId does not lend a site-only action a right over another's site
        status, answer = await act(nurse, server, csrf, "camera", confId=own, uri=a,
                                   camState=0, camAction=0, camSrc=0, camPos=255)
        assert status == 400 and answer["resultCode"] == result_codes.NO_PERMISSION
        assert (await site_status(soap, own, b)).isMute == 0


async def test_a_refused_booking_answers_the_schedulers_code(server):
    async with browser_session() as http:
        await log_in(http, server)
        csrf = await csrf_of(http, server)
        status, answer = await act(http, server, csrf, "schedule", name="x", begin="now",
                                   duration=30, cpResource=11, site=["sip:nobody@x"])
        assert status == 400 and answer["resultCode"] != 0  # 11 is no allowed cpResouce
        status, answer = await act(http, server, csrf, "schedule", name="x", begin="tomorrow",
                                   duration=30, site=["sip:nobody@x"])
        assert status == 400
        status, answer = await act(http, server, csrf, "schedule", name="later",
                                   begin="2099-01-05T10:00:00+00:00", duration=30,
                                   site=["sip:nobody@x"], frequency=1, count=3)
        assert status == 200, answer
        page = await (await http.get(server.url("/"))).text()
        assert "later" in page and "scheduled (recurring)" in page


BAD_FIELDS = [
    ("mute", {"confId": "1001", "uri": "x", "muted": "2"}),
    ("mute", {"confId": "", "uri": "x", "muted": "1"}),
    ("volume", {"confId": "1001", "uri": "x", "volume": "9" * 600}),
    ("layout", {"confId": "1001", "mode": "-1", "pane": ["a"] * 100}),
    ("layout", {"confId": "1001", "mode": "1e3"}),
    ("camera", {"uri": "nobody", "camState": "0", "camAction": "0", "camSrc": "0"}),
    ("connect", {"confId": "1001", "uri": ["", " "]}),
    ("end", {"confId": "no such conference"}),
    ("schedule", {"name": "x", "begin": "9999-12-31T23:30:00+00:00", "duration": "600",
                  "site": "u"}),
    ("schedule", {"name": "x", "begin": "not a time", "duration": "60", "site": "u"}),
    ("schedule", {"name": "x", "begin": "2030-01-01T00:00:00", "duration": "60", "site": "u"}),
    ("schedule", {"name": "x", "duration": "60", "site": "u", "frequency": "7", "count": "2"}),
    ("schedule", {"name": "x" * 600, "duration": "60", "site": "u"}),
    ("schedule", {"name": "x", "duration": "0", "site": "u"}),
]


@pytest.mark.parametrize("action, fields", BAD_FIELDS)
async def test_bad_fields_answer_a_result_code_and_change_nothing(server, soap, action, fields):
    async with browser_session() as http:
        await log_in(http, server)
        csrf = await csrf_of(http, server)
        before = server.gateway.scheduler.revision()
        status, answer = await act(http, server, csrf, action, **fields)
        assert status == 400 and answer["resultCode"] not in (0, None), answer
        assert server.gateway.scheduler.revision() == before


async def test_odd_requests_are_answered_not_crashed(server):
    async with browser_session() as http:
        response = await http.post(server.url("/login"), json={"user": USER})
        assert response.status == 400
        response = await http.post(server.url("/login"), data={"user": "x" * 10_000,
                                                                  "password": "p"})
        assert response.status == 401
        response = await http.post(server.url("/login"), data={"user": USER, "password": PASSWORD},
                                   headers={"Origin": "http://evil.example"},
                                   allow_redirects=False)
        assert response.status == 403 and CONSOLE_COOKIE not in response.cookies
        await log_in(http, server)
        for token in ("é" * 64, "", "x"):
            status, _ = await act(http, server, token, "end", confId="1")
            assert status == 403
        response = await http.get(server.url("/?conf=%00%ff"))
        assert response.status == 200
        response = await http.get(server.url("/console/fragments?conf=" + "9" * 5000))
        assert response.status in (200, 400, 414)


async def test_a_booking_from_the_console_survives_a_restart(tmp_path: Path):
    settings = load_settings(port=0, data_dir=tmp_path, call_timeout_seconds=30.0)
    clock = ManualClock()
    async with running_server(settings, clock=clock) as first, browser_session() as http:
        await log_in(http, first)
        status, answer = await act(http, first, await csrf_of(http, first), "schedule",
                                   name="kept", begin="2099-03-02T08:00:00+00:00",
                                   duration=45, site=["sip:kept@example"])
        assert status == 200, answer
        conf_id = answer["confId"]
    async with running_server(settings, clock=clock) as second, browser_session() as http:
        await log_in(http, second)  # sessions are in memory: a new log-in
        page = await (await http.get(second.url(f"/?conf={conf_id}"))).text()
        assert f'data-conf="{conf_id}"' in page and "kept" in page
        conference = second.gateway.scheduler.get(conf_id)
        assert [site.uri for site in conference.spec.sites] == ["sip:kept@example"]
