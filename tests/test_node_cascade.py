"""A conference larger than one media node, split over two node processes linked by a cascade
(issue 18 "Cascading"; docs/cascade.md "On media nodes"), driven from the outside:

- a real redis-server, two `mcu-sim node` processes of 4 ports each, `mcu-sim serve
  --redis`, zeep clients of the reference WSDL, eight real simulated terminals;
- an 8-site conference booked over SOAP fits on no single node: it is split, the root
  (node 1: the most room, ties to the lower id) holds the first four sites, the leaf (node 2)
  the other four; queryConfSiteMCUEx names each site's node, queryMCUFutureResourceEx shows
  both nodes full, both nodes' registry records list the conference;
- every site joins (queryConfSitesStatusEx), each called by its own node;
- with CP_9_1 and the sites interleaved root/leaf in the subPics (setContinuousPresenceEx
  through the gateway), every one of the eight terminals decodes the eight markers in the
  same eight panes, whichever node its call is on;
- voice switching across the link: a loud site of the leaf becomes the speaker
  (queryConferencesStatusEx names it: the root node's voice switching counts the leaf's
  sites) and the main pane of CP_9_1 without subPics for a terminal of each node;
- the gateway's media engine runs no conference: the media is the nodes';
- delScheduledConfEx ends the conference on both nodes;
- a gateway restarted (SIGKILL) during a split conference rebuilds its view from Redis (the
  whole placement: root, leaves, the sites of each) and its commands reach the right node
  (the last test).

And the split rule itself on registry records (`cascade_placement.split`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
import requests

from mcu.layouts import layout_mode
from mcu.model import SiteSpec
from mcu.nodes.cascade_placement import split
from mcu.nodes.node_record import NodeRecord, parse_record, port_costs_json
from mcu.nodes.placement import Need, Reservations
from mcu.port_costs import FORMAT_NAMES, PortCosts
from tests.conftest import SoapClients
from tests.test_nodes import (
    IN_CONFERENCE,
    Platform,
    eventually,
    ports_in_use,
    running_platform,
    site_mcus,
    statuses,
    terminal,
)

NODES = {1: ("hall-a", 4, 9), 2: ("hall-b", 4, 9)}  # id: (name, max_ports, max_cp_resources)
# every format one unit: a node of 4 ports takes 4 sites of the 4CIF the test books (small
# pictures: eight terminals in one test process on a loaded machine)
ONE_PORT_A_SITE = "[mcu.port_cost]\n" + "".join(f'"{name}" = 1\n' for name in FORMAT_NAMES)
ROOT_SITES = (31, 32, 33, 34)
LEAF_SITES = (35, 36, 37, 38)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("node-cascade")
    yield from running_platform(root, NODES, ONE_PORT_A_SITE)


def book(soap: SoapClients, name: str, uris: list[str]) -> int | str:
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf={
        "name": name, "beginTime": datetime.now(UTC), "duration": timedelta(hours=1),
        "mediaEncryptType": 0, "cpResouce": 9, "presentation": 0, "rate": "1920k",
        "sites": [{"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
                   "videoFormat": 1} for uri in uris]})  # 4CIF: the links' format too
    return answer.conferenceInfo.confId if answer.resultCode == 0 else answer.resultCode


async def records(url: str) -> dict[int, NodeRecord]:
    client = aioredis.Redis.from_url(url)
    try:
        found = {}
        for node_id in NODES:
            text = await client.get(f"mcu:node:{node_id}")
            if text is not None:
                found[node_id] = parse_record(text)
        return found
    finally:
        await client.aclose()


async def end_conference(platform: Platform, conf_id: int | str | None) -> None:
    """A test's cleanup: a conference it booked and did not end (it failed on the way) holds
    every port of both nodes, and the next test could place nothing (a clean-clone CI run:
    the first test failed, the second found no site joining). Ended through a new session
    (the gateway may have been restarted); the answer is not judged: the test ended it
    already when it passed, and the test's own failure is the one to report."""
    if not isinstance(conf_id, str):
        return
    try:
        soap = await asyncio.to_thread(platform.soap)
        await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id)
    except Exception as error:  # noqa: BLE001 - cleanup; reported, not raised over the test's
        print(f"cleanup: conference {conf_id} not ended: {error!r}")


async def test_an_eight_site_conference_over_two_nodes_shows_every_site_everywhere(
        platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    root_terminals = [terminal(f"03020{i:02d}", i) for i in ROOT_SITES]
    leaf_terminals = [terminal(f"03020{i:02d}", i) for i in LEAF_SITES]
    everyone = root_terminals + leaf_terminals
    for t in everyone:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    conf_id: int | str | None = None
    try:
        conf_id = await asyncio.to_thread(book, soap, "grand rounds", [t.uri for t in everyone])
        assert isinstance(conf_id, str), conf_id

        async def all_joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return found == {t.uri: IN_CONFERENCE for t in everyone}

        await eventually(all_joined, "all eight sites in conference")
        # split: the root (node 1) holds the first four sites, the leaf (node 2) the others
        expected_nodes = {**{t.uri: 1 for t in root_terminals},
                          **{t.uri: 2 for t in leaf_terminals}}
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == expected_nodes
        assert await asyncio.to_thread(ports_in_use, platform, soap, 1) == (0, 4)
        assert await asyncio.to_thread(ports_in_use, platform, soap, 2) == (0, 4)
        listed: dict[int, NodeRecord] = {}

        async def on_both_nodes() -> bool:
            # a node's record says what its loop last published: within a heartbeat of the
            # join on a quiet machine, later on a loaded one (a clean-clone CI run read it
            # before it listed the conference)
            listed.update(await records(platform.redis.url))
            return all(conf_id in listed[node_id].conferences for node_id in NODES)

        await eventually(on_both_nodes, "the conference in both nodes' records",
                         what_else=lambda: {n: r.conferences for n, r in listed.items()})
        assert all(listed[node_id].cascade_port > 0 for node_id in NODES)
        stats = await asyncio.to_thread(requests.get, platform.base_url + "/stats/media",
                                        timeout=30)
        assert stats.json() == {"conferences": []}  # the media is the nodes'

        # one picture: the sites interleaved root, leaf, root, leaf ... in CP_9_1's panes
        order = [t for pair in zip(root_terminals, leaf_terminals, strict=True) for t in pair]
        code = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode("CP_9_1").value, subPics=[t.uri for t in order])
        assert code == 0
        panes = [tuple(pane.as_floats()) for pane in layout_mode("CP_9_1").panes]
        for t in everyone:
            t.set_panes(panes)
        expected = [t.site_index for t in order] + [None]
        seen: dict[int, list[int | None]] = {}

        async def everyone_sees_all_eight() -> bool:
            ok = True
            for viewer in everyone:
                seen[viewer.site_index] = [pane.site_index for pane in await viewer.read_panes()]
                ok = ok and seen[viewer.site_index] == expected
            return ok

        await eventually(everyone_sees_all_eight, "every terminal decodes the 8 markers",
                         timeout=120.0, what_else=lambda: seen)

        # voice switching across the link: CP_9_1 without subPics puts the speaker in the
        # main pane; a site of the leaf talking loud becomes the speaker the root's node
        # chooses (the gateway's status names it) and moves into the main pane of the
        # picture the root composes, for a site of the root and one of the leaf
        loud = leaf_terminals[2]
        for t in everyone:
            t.speech.set_level(0.0)
        loud.speech.set_level(0.8)
        code = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode("CP_9_1").value, subPics=[])
        assert code == 0
        code = await asyncio.to_thread(soap.conf_ctrl.setAudioSwitchEx, confId=conf_id,
                                       switchGate=20, isSwitch=1)
        assert code == 0
        spoken: list[str | None] = []

        async def the_leaf_site_speaks() -> bool:
            answer = await asyncio.to_thread(soap.conf_mgr.queryConferencesStatusEx,
                                             confIds=[conf_id])
            assert answer.resultCode == 0, answer
            spoken.append(answer.conferenceStatuses[0].speaking)
            return spoken[-1] == loud.uri

        await eventually(the_leaf_site_speaks, "the leaf's loud site is the speaker",
                         timeout=60.0, what_else=lambda: spoken[-5:])
        for viewer in (root_terminals[1], leaf_terminals[1]):
            async def in_main_pane(viewer=viewer) -> bool:
                seen[viewer.site_index] = [pane.site_index for pane in await viewer.read_panes()]
                return seen[viewer.site_index][0] == loud.site_index

            await eventually(in_main_pane, f"site {viewer.site_index} sees the speaker in the "
                             "main pane", timeout=60.0, what_else=lambda: seen)

        # the conference ends on both nodes
        code = await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id)
        assert code == 0

        async def off_both_nodes() -> bool:
            listed = await records(platform.redis.url)
            return all(conf_id not in listed[node_id].conferences for node_id in NODES)

        await eventually(off_both_nodes, "the conference gone from both nodes' records")
    finally:
        await end_conference(platform, conf_id)
        for t in everyone:
            await t.stop()


# ---------------------------------------------------------------- the split rule


def node(node_id: int, ports: int, used: int = 0, cascade_port: int = 4000,
         cp: int = 9) -> NodeRecord:
    return NodeRecord(node_id=node_id, name=f"n{node_id}", address="127.0.0.1",
                      max_ports=ports, max_cp_resources=cp,
                      port_costs=port_costs_json(PortCosts()), ports_used=used,
                      cascade_port=cascade_port)


def sites(count: int) -> tuple[SiteSpec, ...]:
    return tuple(SiteSpec(uri=f"0{index}", name=f"s{index}") for index in range(count))


def test_the_root_is_the_node_with_most_room_and_sites_fill_it_first() -> None:
    need = Need("c", sites(8), cp_resource=4)
    top = PortCosts().top
    parts = split([node(1, 3), node(2, 6), node(3, 4)], need, Reservations())
    assert parts is not None
    assert [(p.node.node_id, p.uris) for p in parts] == [
        (2, tuple(f"0{i}" for i in range(6))), (3, ("06", "07"))]
    # a node that takes no cascade links is never part of a split
    assert split([node(1, 4, cascade_port=0), node(2, 4)], need, Reservations()) is None
    # not enough room on all nodes together: no split
    assert split([node(1, 4), node(2, 3)], need, Reservations()) is None
    # the root needs the conference's cpResouce: node 2 has the most room but no CP left
    parts = split([node(1, 4), node(2, 5, cp=2)], Need("c", sites(8), 4), Reservations())
    assert parts is not None and parts[0].node.node_id == 1
    # load counts: node 2's used ports leave it less room than node 1
    parts = split([node(1, 5), node(2, 8, used=4 * top)], need, Reservations())
    assert parts is not None and [p.node.node_id for p in parts] == [1, 2]


# ---------------------------------------------------------------- a gateway restart


def layout_of(soap: SoapClients, conf_id: str) -> tuple[int, list[str]]:
    answer = soap.conf_mgr.getContinuousPresenceParamEx(confId=conf_id, target="0")
    assert answer.resultCode == 0, answer
    return answer.presenceMode, list(answer.subPics or [])


def speaking(soap: SoapClients, conf_id: str) -> str | None:
    answer = soap.conf_mgr.queryConferencesStatusEx(confIds=[conf_id])
    assert answer.resultCode == 0, answer
    return answer.conferenceStatuses[0].speaking


async def test_a_gateway_restarted_during_a_split_conference_rebuilds_its_view(
        platform: Platform) -> None:
    """The whole placement is in Redis (root, leaves, the sites of each): the gateway killed
    (SIGKILL) and started again while an 8-site conference spans both nodes answers the
    status queries as before (site states, each site's node, the layout) and its commands
    reach the right node: a new layout (every terminal decodes the new order), a leaf site
    becoming the speaker the root chooses (the speaker the restarted gateway takes from the
    root), the same site muted (the root chooses a quieter root site instead), a leaf site
    hung up (its terminal's call ends: the leaf node hung up), the conference's end (off
    both nodes)."""
    soap = await asyncio.to_thread(platform.soap)
    root_terminals = [terminal(f"03021{i:02d}", i) for i in (41, 42, 43, 44)]
    leaf_terminals = [terminal(f"03021{i:02d}", i) for i in (45, 46, 47, 48)]
    everyone = root_terminals + leaf_terminals
    for t in everyone:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    conf_id: int | str | None = None
    try:
        conf_id = await asyncio.to_thread(book, soap, "night rounds", [t.uri for t in everyone])
        assert isinstance(conf_id, str), conf_id
        joined = {t.uri: IN_CONFERENCE for t in everyone}

        async def all_joined() -> bool:
            return await asyncio.to_thread(statuses, soap, conf_id) == joined

        await eventually(all_joined, "all eight sites in conference")
        expected_nodes = {**{t.uri: 1 for t in root_terminals},
                          **{t.uri: 2 for t in leaf_terminals}}
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == expected_nodes
        order = [t for pair in zip(root_terminals, leaf_terminals, strict=True) for t in pair]
        cp_9_1 = layout_mode("CP_9_1").value
        code = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=cp_9_1, subPics=[t.uri for t in order])
        assert code == 0
        panes = [tuple(pane.as_floats()) for pane in layout_mode("CP_9_1").panes]
        for t in everyone:
            t.set_panes(panes)
        seen: dict[int, list[int | None]] = {}

        def everyone_sees(shown: list) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                ok = True
                for viewer in everyone:
                    seen[viewer.site_index] = [pane.site_index
                                               for pane in await viewer.read_panes()]
                    ok = ok and seen[viewer.site_index] == [t.site_index for t in shown] + [None]
                return ok

            return check

        await eventually(everyone_sees(order), "every terminal decodes the 8 markers",
                         timeout=120.0, what_else=lambda: seen)
        layout = await asyncio.to_thread(layout_of, soap, conf_id)

        await asyncio.to_thread(platform.kill_gateway)
        await asyncio.to_thread(platform.start_gateway)
        soap = await asyncio.to_thread(platform.soap)
        await eventually(all_joined, "the status after the restart")
        assert await asyncio.to_thread(site_mcus, soap, conf_id) == expected_nodes
        assert await asyncio.to_thread(layout_of, soap, conf_id) == layout
        assert await asyncio.to_thread(ports_in_use, platform, soap, 1) == (0, 4)
        assert await asyncio.to_thread(ports_in_use, platform, soap, 2) == (0, 4)
        await eventually(everyone_sees(order), "the 8 markers after the restart",
                         timeout=120.0, what_else=lambda: seen)

        async def registered_again() -> bool:
            return all(t.registered for t in everyone)

        await eventually(registered_again, "the terminals registered with the new gateway")

        # a new layout through the restarted gateway: the root composes it, the leaf's
        # sites see it
        reverse = list(reversed(order))
        code = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=cp_9_1, subPics=[t.uri for t in reverse])
        assert code == 0
        await eventually(everyone_sees(reverse), "the new order everywhere", timeout=120.0,
                         what_else=lambda: seen)

        # the speaker across the link, taken from the root by the restarted gateway
        loud = leaf_terminals[1]
        for t in everyone:
            t.speech.set_level(0.0)
        loud.speech.set_level(0.8)
        code = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=cp_9_1, subPics=[])
        assert code == 0
        code = await asyncio.to_thread(soap.conf_ctrl.setAudioSwitchEx, confId=conf_id,
                                       switchGate=20, isSwitch=1)
        assert code == 0
        spoken: list[str | None] = []

        async def speaker_is(uri: str) -> bool:
            spoken.append(await asyncio.to_thread(speaking, soap, conf_id))
            return spoken[-1] == uri

        await eventually(lambda: speaker_is(loud.uri), "the leaf's loud site is the speaker",
                         timeout=60.0, what_else=lambda: spoken[-5:])
        viewer = root_terminals[2]

        async def in_main_pane() -> bool:
            seen[viewer.site_index] = [pane.site_index for pane in await viewer.read_panes()]
            return seen[viewer.site_index][0] == loud.site_index

        await eventually(in_main_pane, "the speaker in the main pane", timeout=60.0,
                         what_else=lambda: seen)

        # muted through the restarted gateway: louder than a root site that starts
        # talking, it is no longer chosen (unmuted it would stay the speaker)
        code = await asyncio.to_thread(soap.conf_ctrl.setSitesMuteEx, confId=conf_id,
                                       siteUris=[loud.uri], isMute=0)
        assert code == 0
        loud.speech.set_level(0.9)
        talker = root_terminals[0]
        talker.speech.set_level(0.5)
        await eventually(lambda: speaker_is(talker.uri), "the root's talker, not the muted "
                         "leaf site, is the speaker", timeout=60.0,
                         what_else=lambda: spoken[-5:])

        # a leaf site hung up: the leaf node ends its call
        gone = leaf_terminals[3]
        code = await asyncio.to_thread(soap.conf_mgr.disconnectSitesEx, confId=conf_id,
                                       siteUris=[gone.uri])
        assert code == 0

        async def hung_up() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return found[gone.uri] != IN_CONFERENCE and gone.state == "idle"

        await eventually(hung_up, "the leaf site hung up by its node")
        assert all(t.state == "in_call" for t in everyone if t is not gone)

        code = await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id)
        assert code == 0

        async def off_both_nodes() -> bool:
            listed = await records(platform.redis.url)
            return all(conf_id not in listed[node_id].conferences for node_id in NODES)

        await eventually(off_both_nodes, "the conference gone from both nodes' records")

        async def all_idle() -> bool:
            return all(t.state == "idle" for t in everyone)

        await eventually(all_idle, "every call over")
    finally:
        await end_conference(platform, conf_id)
        for t in everyone:
            await t.stop()
