"""A site added to a conference that runs on a media node must fit on THAT node (issue 18;
mcu/nodes/node_room.py, docs/deployment.md "A site added to a running conference"), driven
from the outside:

- a real redis-server, two `mcu-sim node` processes (node 1: 2 ports, node 2: 3 ports, one
  port unit a site), `mcu-sim serve --redis` with an ad-hoc template, zeep clients of the
  reference WSDL, real simulated terminals;
- a conference of two sites booked now goes to node 1 (both empty: the lower id) and fills
  it; addSiteToConfEx of a third site is refused with the embedded MCU's code when ports run
  out (CAPACITY_EXCEEDED, 1347444739) although the platform has 3 free ports on node 2 (the
  scheduler's check, which counts both nodes, would take it); nothing changed: the booking,
  the status, the site's node, the terminal never called; the two sites go on decoding;
- that conference deleted, an ad-hoc template's conference grows by dial-in on node 2 up to
  its 3 ports; a fourth dialler is refused with `no_capacity` (the embedded MCU's signalling
  error when it is full) although node 1 is free again, and is not booked in it;
- at every step each node's used ports (its registry record, and queryMCUFutureResourceEx)
  stay within its max_ports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from mcu.nodes.node_record import parse_record
from mcu.port_costs import FORMAT_NAMES
from terminals.call_state import CallState
from tests.conftest import SoapClients
from tests.test_node_dial_in import refused
from tests.test_nodes import (
    CAPACITY,
    IN_CONFERENCE,
    Platform,
    book,
    decoding,
    eventually,
    ports_in_use,
    running_platform,
    site_mcus,
    statuses,
    terminal,
)

NODES = {1: ("room-a", 2, 4), 2: ("room-b", 3, 6)}  # id: (name, max_ports, max_cp_resources)
ONE_PORT_A_SITE = "[mcu.port_cost]\n" + "".join(f'"{name}" = 1\n' for name in FORMAT_NAMES)
TEMPLATE_CODE, TEMPLATE_PASSWORD = "7301", "864200"
GATEWAY_CONFIG = f"""{ONE_PORT_A_SITE}
[[adhoc]]
name = "Ward round"
access_code = "{TEMPLATE_CODE}"
password = "{TEMPLATE_PASSWORD}"
cp_resource = 2
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("node-room")
    yield from running_platform(root, NODES, ONE_PORT_A_SITE, GATEWAY_CONFIG)


async def ports_used(url: str) -> dict[int, int]:
    """Each node's port units in use as its own registry record reports them."""
    client = aioredis.Redis.from_url(url)
    try:
        used = {}
        for node_id in NODES:
            text = await client.get(f"mcu:node:{node_id}")
            assert text is not None, f"node {node_id} is not in the registry"
            used[node_id] = parse_record(text).ports_used
        return used
    finally:
        await client.aclose()


async def within_capacity(platform: Platform, soap: SoapClients) -> None:
    """No node holds more than its max_ports (record and queryMCUFutureResourceEx)."""
    used = await ports_used(platform.redis.url)
    for node_id, (_, ports, _) in NODES.items():
        assert used[node_id] <= ports, used
        free, total = await asyncio.to_thread(ports_in_use, platform, soap, node_id)
        assert total == ports and 0 <= free <= ports, (node_id, free, total)


async def test_a_site_added_beyond_its_node_is_refused_and_nothing_changes(
        platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    booked = [terminal("0501001", 31), terminal("0501002", 32)]
    extra = terminal("0501003", 33)
    diallers = [terminal(f"050200{n}", 40 + n) for n in range(1, 5)]
    everyone = [*booked, extra, *diallers]
    for t in everyone:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    try:
        # two sites fill node 1 (both nodes empty: the lower id)
        conf_id = await asyncio.to_thread(book, soap, "full node", [t.uri for t in booked])
        assert isinstance(conf_id, str), conf_id

        async def booked_joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return found == {t.uri: IN_CONFERENCE for t in booked}

        await eventually(booked_joined, "both booked sites in conference")
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == {t.uri: 1 for t in booked}

        async def node_1_full() -> bool:
            return (await ports_used(platform.redis.url))[1] == 2

        await eventually(node_1_full, "node 1 reporting its 2 ports in use")
        await within_capacity(platform, soap)

        # a third site: the platform has 3 free ports (node 2), node 1 none: refused
        answer = await asyncio.to_thread(
            soap.conf_mgr.addSiteToConfEx, confId=conf_id, beginTime=None,
            siteInfo={"name": "Site 0501003", "uri": extra.uri, "type": 7, "from": 0,
                      "dialingMode": 0})
        assert answer.resultCode == CAPACITY, answer
        connect = await asyncio.to_thread(soap.conf_mgr.connectSitesEx, confId=conf_id,
                                          siteUris=[extra.uri])
        assert connect != 0  # not booked in it: nothing to call
        await asyncio.sleep(3.0)  # a heartbeat or three: nothing may have moved meanwhile
        assert await asyncio.to_thread(statuses, soap, conf_id) == {
            t.uri: IN_CONFERENCE for t in booked}
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == {t.uri: 1 for t in booked}
        assert extra.state is CallState.IDLE
        await within_capacity(platform, soap)
        decoded = {t.uri: t.video.frames_decoded for t in booked}
        await eventually(decoding(booked, decoded), "the two sites decoding on")

        # node 1 freed; an ad-hoc conference grows by dial-in on node 2 to its 3 ports
        assert await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id,
                                       beginTime=None) == 0

        async def node_1_free() -> bool:
            return (await ports_used(platform.redis.url))[1] == 0

        await eventually(node_1_free, "node 1 reporting no port in use")
        await asyncio.sleep(2.5)  # the gateway's view of the records: refreshed every 1 s
        # node 1 is the lower id but empty nodes tie: hold it with a booked 1-site
        # conference first so the ad-hoc one goes to node 2
        holder = await asyncio.to_thread(book, soap, "holder", [booked[0].uri])
        assert isinstance(holder, str), holder
        assert await asyncio.to_thread(site_mcus, soap, holder) == {booked[0].uri: 1}
        adhoc_id = await diallers[0].join(TEMPLATE_CODE, TEMPLATE_PASSWORD, timeout=60.0)
        for t in diallers[1:3]:
            assert await t.join(TEMPLATE_CODE, TEMPLATE_PASSWORD, timeout=60.0) == adhoc_id

        async def adhoc_joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, adhoc_id)
            return found == {t.uri: IN_CONFERENCE for t in diallers[:3]}

        await eventually(adhoc_joined, "three diallers in the ad-hoc conference")
        assert await asyncio.to_thread(site_mcus, soap, adhoc_id) == {
            t.uri: 2 for t in diallers[:3]}

        async def node_2_full() -> bool:
            return (await ports_used(platform.redis.url))[2] == 3

        await eventually(node_2_full, "node 2 reporting its 3 ports in use")

        # a fourth dialler: node 1 has a free port, node 2 none: refused, not booked
        assert await refused(diallers[3], TEMPLATE_CODE, TEMPLATE_PASSWORD) == "no_capacity"
        await asyncio.sleep(3.0)
        assert await asyncio.to_thread(statuses, soap, adhoc_id) == {
            t.uri: IN_CONFERENCE for t in diallers[:3]}
        await within_capacity(platform, soap)
        decoded = {t.uri: t.video.frames_decoded for t in diallers[:3]}
        await eventually(decoding(diallers[:3], decoded), "the three diallers decoding on")
    finally:
        for t in everyone:
            await t.stop()
