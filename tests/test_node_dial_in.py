"""Dial-in to conferences that run on media nodes (issue 18; docs/runtime.md "Nodes",
Dial-in), driven from the outside:

- a real redis-server, two `mcu-sim node` processes of 2 ports each, `mcu-sim serve --redis`
  with an ad-hoc template in its settings, zeep clients of the reference WSDL, real
  simulated terminals dialling in over the gateway's signalling (`join`);
- refusals with the embedded MCU's errors (docs/signalling.md), nothing changed: an access
  code no conference or template has (`conference_not_found`), a wrong password
  (`wrong_password`), a site not booked in the conference (`dial_in_refused`);
- a booked conference of two dial-in sites (access code and password), placed on node 1:
  both terminals join with the password, queryConfSitesStatusEx shows them in conference,
  queryConfSiteMCUEx names node 1 for both, and each decodes both markers (the picture is
  composed on node 1; the gateway's media engine runs no conference);
- an ad-hoc template's code: the first terminal starts its conference, which goes to node 2
  (node 1 is full), the second joins the ongoing one (booked in it at the gateway, added to
  the node's copy); both are shown on node 2 and decode both markers;
- the gateway killed and started again: the dial-in calls go on at the node, the terminals
  register again and the status shows both sites in conference again, decoding;
- disconnectSitesEx through the gateway ends a dial-in call on its node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from mcu.layouts import layout_mode
from mcu.port_costs import FORMAT_NAMES
from terminals.call_state import CallState
from terminals.client import CallRefused, SimulatedTerminal
from tests.conftest import SoapClients
from tests.test_nodes import (
    IN_CONFERENCE,
    Platform,
    decoding,
    eventually,
    running_platform,
    site_mcus,
    statuses,
    terminal,
)

NODES = {1: ("wing-a", 2, 4), 2: ("wing-b", 2, 4)}  # id: (name, max_ports, max_cp_resources)
ONE_PORT_A_SITE = "[mcu.port_cost]\n" + "".join(f'"{name}" = 1\n' for name in FORMAT_NAMES)
ACCESS_CODE, PASSWORD = "5501", "246810"
TEMPLATE_CODE, TEMPLATE_PASSWORD = "7001", "135790"
GATEWAY_CONFIG = f"""{ONE_PORT_A_SITE}
[[adhoc]]
name = "Night round"
access_code = "{TEMPLATE_CODE}"
password = "{TEMPLATE_PASSWORD}"
cp_resource = 2
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("node-dial-in")
    yield from running_platform(root, NODES, ONE_PORT_A_SITE, GATEWAY_CONFIG)


def book_dial_in(soap: SoapClients, name: str, uris: list[str]) -> int | str:
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf={
        "name": name, "beginTime": datetime.now(UTC), "duration": timedelta(hours=1),
        "accessCode": ACCESS_CODE, "password": PASSWORD,
        "mediaEncryptType": 0, "cpResouce": 2, "presentation": 0, "rate": "1920k",
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 1}
                  for uri in uris]})
    return answer.conferenceInfo.confId if answer.resultCode == 0 else answer.resultCode


async def refused(t: SimulatedTerminal, code: str, password: str) -> str:
    """The join's refusal code (the terminal's call is over again)."""
    try:
        conf_id = await t.join(code, password, timeout=60.0)
    except CallRefused as refusal:
        assert t.state is CallState.IDLE
        return refusal.code
    raise AssertionError(f"{t.uri} joined {conf_id} with {code!r} / {password!r}")


async def everyone_sees(soap: SoapClients, conf_id: str,
                        sites: list[SimulatedTerminal]) -> None:
    """CP_2_1 with both sites: each terminal decodes both markers."""
    code = await asyncio.to_thread(
        soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
        presenceMode=layout_mode("CP_2_1").value, subPics=[t.uri for t in sites])
    assert code == 0
    panes = [tuple(pane.as_floats()) for pane in layout_mode("CP_2_1").panes]
    for t in sites:
        t.set_panes(panes)
    seen: dict[str, list[int | None]] = {}

    async def both_markers() -> bool:
        ok = True
        for viewer in sites:
            seen[viewer.uri] = [pane.site_index for pane in await viewer.read_panes()]
            ok = ok and seen[viewer.uri] == [t.site_index for t in sites]
        return ok

    await eventually(both_markers, f"both markers of {conf_id}", timeout=120.0,
                     what_else=lambda: seen)


async def test_terminals_dial_in_to_conferences_on_nodes(platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    booked = [terminal("0401001", 21), terminal("0401002", 22)]
    adhoc = [terminal("0401003", 23), terminal("0401004", 24)]
    everyone = booked + adhoc
    for t in everyone:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    try:
        conf_id = await asyncio.to_thread(book_dial_in, soap, "night desk",
                                          [t.uri for t in booked])
        assert isinstance(conf_id, str), conf_id
        # refused as by the embedded MCU, and nothing changes
        assert await refused(booked[0], "9999", PASSWORD) == "conference_not_found"
        assert await refused(booked[0], ACCESS_CODE, "000000") == "wrong_password"
        assert await refused(adhoc[0], ACCESS_CODE, PASSWORD) == "dial_in_refused"
        assert await asyncio.to_thread(statuses, soap, conf_id) == {
            t.uri: 3 for t in booked}  # booked, not joined

        # the booked dial-in sites join through the gateway; their node answers
        for t in booked:
            assert await t.join(ACCESS_CODE, PASSWORD, timeout=60.0) == conf_id

        async def booked_joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return found == {t.uri: IN_CONFERENCE for t in booked}

        await eventually(booked_joined, "both dial-in sites in conference")
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == {t.uri: 1 for t in booked}
        await everyone_sees(soap, conf_id, booked)
        stats = await asyncio.to_thread(requests.get, platform.base_url + "/stats/media",
                                        timeout=30)
        assert stats.json() == {"conferences": []}  # the media is the nodes'

        # the gateway restarted mid-conference: the node keeps the dial-in calls, and the
        # terminals registering again get them back in the gateway's status
        decoded = {t.uri: t.video.frames_decoded for t in booked}
        await asyncio.to_thread(platform.kill_gateway)
        await asyncio.to_thread(platform.start_gateway)
        soap = await asyncio.to_thread(platform.soap)
        await eventually(booked_joined, "both dial-in sites in conference after the restart")
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == {t.uri: 1 for t in booked}
        await eventually(decoding(booked, decoded), "the dial-in sites decoding")

        # an ad-hoc template's code: the first dialler starts its conference (node 2, as
        # node 1 is full), the second joins the ongoing one
        assert await refused(adhoc[0], TEMPLATE_CODE, "000000") == "wrong_password"
        adhoc_id = await adhoc[0].join(TEMPLATE_CODE, TEMPLATE_PASSWORD, timeout=60.0)
        assert adhoc_id != conf_id
        assert await adhoc[1].join(TEMPLATE_CODE, TEMPLATE_PASSWORD, timeout=60.0) == adhoc_id

        async def adhoc_joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, adhoc_id)
            return found == {t.uri: IN_CONFERENCE for t in adhoc}

        await eventually(adhoc_joined, "both diallers of the template in conference")
        assert await asyncio.to_thread(site_mcus, soap, adhoc_id) == {t.uri: 2 for t in adhoc}
        await everyone_sees(soap, adhoc_id, adhoc)

        # the gateway hangs up a dial-in site: its node ends the call
        code = await asyncio.to_thread(soap.conf_mgr.disconnectSitesEx, confId=conf_id,
                                       siteUris=[booked[1].uri])
        assert code == 0

        async def hung_up() -> bool:
            return booked[1].state is CallState.IDLE

        await eventually(hung_up, "the disconnected site's call over")
        assert (await asyncio.to_thread(statuses, soap, conf_id))[booked[1].uri] != \
            IN_CONFERENCE
    finally:
        for t in everyone:
            await t.stop()
