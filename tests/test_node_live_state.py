"""A conference on a media node follows what the embedded MCU follows, driven from the
outside (docs/runtime.md "Nodes"): a real redis-server, one `mcu-sim node` process,
`mcu-sim serve --redis`, zeep clients of the reference WSDL, real simulated terminals.

Booking edits of a running conference (the embedded runtime's Lifecycle._follow_booking):
- addSiteToConfEx adds a site to the conference running on the node: it is booked, not
  joined; connectSitesEx calls it from the node (no 116 "not in the conference" from the
  node), it joins, and with a CP_4_1 of the three sites every terminal decodes the three
  markers; the node's registry record holds its port;
- delSiteFromConfEx removes a joined site: its call ends (its terminal is idle), the status
  no longer lists it, the node's record no longer holds its port, the others go on decoding;
- editScheduledConfEx moves the conference's end to a few seconds from now: it ends then on
  the node (its record no longer lists it, every call over), not before.

The content floor across a gateway restart:
- a site holds the content floor (setAuxStreamEx) and sends its content, which the other
  terminals decode; the gateway is killed (SIGKILL) and started again: queryConferencesStatusEx
  names the same holder, the others still decode the holder's content (more frames), and
  releasing the floor through the new gateway (setAuxStreamEx controlCode 1) reaches the
  node: the holder is none and, while the terminal still sends, no content frame reaches
  the others any more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from mcu.layouts import layout_mode
from mcu.nodes.node_record import NodeRecord, parse_record
from terminals.client import SimulatedTerminal
from tests.conftest import SoapClients
from tests.test_cdr import SMALL as SENT
from tests.test_node_cascade import ONE_PORT_A_SITE
from tests.test_nodes import (
    IN_CONFERENCE,
    Platform,
    eventually,
    running_platform,
    statuses,
    terminal,
)

CONTENT_SIZE = (640, 360)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("node-live-state")
    yield from running_platform(root, {1: ("ward-c", 6, 9)}, ONE_PORT_A_SITE)


def site(uri: str) -> dict:
    return {"name": f"Site {uri}", "uri": uri, "type": 7, "from": 0, "dialingMode": 0,
            "videoFormat": 1}


def book(soap: SoapClients, name: str, uris: list[str], duration=timedelta(hours=1)):
    answer = soap.conf_mgr.scheduleConfEx(scheduleConf={
        "name": name, "beginTime": datetime.now(UTC), "duration": duration,
        "mediaEncryptType": 0, "cpResouce": 4, "presentation": 0, "rate": "1920k",
        "sites": [site(uri) for uri in uris]})
    assert answer.resultCode == 0, answer
    return answer.conferenceInfo


async def record(url: str) -> NodeRecord | None:
    client = aioredis.Redis.from_url(url)
    try:
        text = await client.get("mcu:node:1")
    finally:
        await client.aclose()
    return None if text is None else parse_record(text)


def sees(viewers: list[SimulatedTerminal], shown: list[SimulatedTerminal], seen: dict):
    """A check: every viewer decodes the markers of `shown` in CP_4_1's panes, in order."""
    async def check() -> bool:
        ok = True
        for viewer in viewers:
            seen[viewer.uri] = [pane.site_index for pane in await viewer.read_panes()]
            expected = [t.site_index for t in shown] + [None] * (4 - len(shown))
            ok = ok and seen[viewer.uri] == expected
        return ok

    return check


async def test_booking_edits_of_a_running_conference_reach_its_node(
        platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    first = [terminal("0304001", 21), terminal("0304002", 22)]
    added = terminal("0304003", 23)
    everyone = [*first, added]
    for t in everyone:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    try:
        info = await asyncio.to_thread(book, soap, "rounds", [t.uri for t in first])
        conf_id = info.confId

        async def states(expected: dict[str, int]) -> bool:
            return await asyncio.to_thread(statuses, soap, conf_id) == expected

        await eventually(lambda: states({t.uri: IN_CONFERENCE for t in first}),
                         "the two booked sites in conference")

        async def holds(ports: int) -> bool:
            found = await record(platform.redis.url)
            return found is not None and found.ports_used == ports

        # the node's record follows within its once-a-second report
        await eventually(lambda: holds(2), "the node's record holding the two sites' ports")

        # a site added to the running booking: booked, not joined; called from the node
        answer = await asyncio.to_thread(soap.conf_mgr.addSiteToConfEx, confId=conf_id,
                                         siteInfo=site(added.uri), beginTime=None)
        assert answer.resultCode == 0, answer
        found = await asyncio.to_thread(statuses, soap, conf_id)
        assert set(found) == {t.uri for t in everyone} and found[added.uri] != IN_CONFERENCE
        code = await asyncio.to_thread(soap.conf_mgr.connectSitesEx, confId=conf_id,
                                       siteUris=[added.uri])
        assert code == 0
        await eventually(lambda: states({t.uri: IN_CONFERENCE for t in everyone}),
                         "the added site in conference")
        assert added.state == "in_call"

        await eventually(lambda: holds(3), "the node's record holding the added site's port")
        code = await asyncio.to_thread(
            soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id, target="0",
            presenceMode=layout_mode("CP_4_1").value, subPics=[t.uri for t in everyone])
        assert code == 0
        panes = [tuple(pane.as_floats()) for pane in layout_mode("CP_4_1").panes]
        for t in everyone:
            t.set_panes(panes)
        seen: dict[str, list[int | None]] = {}
        await eventually(sees(everyone, everyone, seen), "the three markers everywhere",
                         what_else=lambda: seen)

        # a joined site removed from the booking: hung up by its node, gone from the status
        gone = first[0]
        code = await asyncio.to_thread(soap.conf_mgr.delSiteFromConfEx, confId=conf_id,
                                       siteUri=gone.uri, beginTime=None)
        assert code == 0
        staying = [first[1], added]

        async def removed() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return set(found) == {t.uri for t in staying} and gone.state == "idle"

        await eventually(removed, "the removed site's call over, the site unlisted")
        await eventually(lambda: holds(2), "the node's record without the removed site")
        decoded = {t.uri: t.video.frames_decoded for t in staying}

        async def decoding() -> bool:
            return all(t.video.frames_decoded > decoded[t.uri] for t in staying)

        await eventually(decoding, "the staying sites decoding")
        assert all(t.state == "in_call" for t in staying)

        # the end moved to a few seconds from now (editScheduledConfEx): it ends then, on
        # the node
        begin = info.beginTime
        ends_in = timedelta(seconds=20)
        duration = (datetime.now(UTC) - begin) + ends_in
        edit = {"confId": conf_id, "name": "rounds", "beginTime": begin,
                "duration": duration, "mediaEncryptType": 0, "cpResouce": 4,
                "presentation": 0, "rate": "1920k", "sites": [site(t.uri) for t in staying]}
        answer = await asyncio.to_thread(soap.conf_mgr.editScheduledConfEx, editConf=edit)
        assert answer.resultCode == 0, answer
        end = begin + duration
        listed = await record(platform.redis.url)
        assert listed is not None and conf_id in listed.conferences

        async def ended_on_the_node() -> bool:
            found = await record(platform.redis.url)
            return found is not None and conf_id not in found.conferences \
                and all(t.state == "idle" for t in staying)

        await eventually(ended_on_the_node, "the conference ended on the node at its new end",
                         timeout=60.0)
        assert datetime.now(UTC) >= end - timedelta(seconds=1)  # not before its end
    finally:
        for t in everyone:
            await t.stop()


async def test_the_content_floor_survives_a_gateway_restart(platform: Platform) -> None:
    soap = await asyncio.to_thread(platform.soap)
    holder = SimulatedTerminal(uri="0304011", name="Site 0304011", site_index=24,
                               ring_delay_s=0.1, video_format=SENT, loop_frames=30,
                               analyse_every=5, keep_call_on_reconnect=True,
                               content="radiograph", content_size=CONTENT_SIZE)
    viewers = [SimulatedTerminal(uri=uri, name=f"Site {uri}", site_index=index,
                                 ring_delay_s=0.1, video_format=SENT, loop_frames=30,
                                 analyse_every=5, keep_call_on_reconnect=True,
                                 content_size=CONTENT_SIZE)
               for uri, index in (("0304012", 25), ("0304013", 26))]
    everyone = [holder, *viewers]
    for t in everyone:
        await t.start(platform.base_url.replace("http", "ws", 1) + "/signalling")
    try:
        info = await asyncio.to_thread(book, soap, "film review", [t.uri for t in everyone])
        conf_id = info.confId

        async def all_joined() -> bool:
            found = await asyncio.to_thread(statuses, soap, conf_id)
            return found == {t.uri: IN_CONFERENCE for t in everyone}

        await eventually(all_joined, "the three sites in conference")
        answer = await asyncio.to_thread(soap.site_mgr.setAuxStreamEx, siteUri=holder.uri,
                                         controlCode=0)
        assert answer == 0
        assert holder.start_content()

        async def content_everywhere() -> bool:
            return all(v.content_stats().site_index == holder.site_index for v in viewers)

        await eventually(content_everywhere, "the holder's content decoded by the others")

        async def presentation() -> str | None:
            status = await asyncio.to_thread(soap.conf_mgr.queryConferencesStatusEx,
                                             confIds=[conf_id])
            assert status.resultCode == 0, status
            return status.conferenceStatuses[0].presentation

        assert await presentation() == holder.uri

        await asyncio.to_thread(platform.kill_gateway)
        await asyncio.to_thread(platform.start_gateway)
        soap = await asyncio.to_thread(platform.soap)
        await eventually(all_joined, "the status after the restart")
        assert await presentation() == holder.uri  # the floor is the holder's again
        decoded = {v.uri: v.content.frames_decoded for v in viewers}

        async def still_decoding() -> bool:
            return all(v.content.frames_decoded > decoded[v.uri]
                       and v.content_stats().site_index == holder.site_index for v in viewers)

        await eventually(still_decoding, "the others decoding the content after the restart")

        async def registered_again() -> bool:
            return all(t.registered for t in everyone)

        await eventually(registered_again, "the terminals registered with the new gateway")
        # the rebuilt floor is the one the operations act on: releasing it reaches the node
        answer = await asyncio.to_thread(soap.site_mgr.setAuxStreamEx, siteUri=holder.uri,
                                         controlCode=1)
        assert answer == 0
        assert await presentation() is None
        # the node's BFCP floor server revokes the holder's floor, as an embedded MCU does
        async def stopped() -> bool:
            return not holder.sending_content

        await eventually(stopped, "the holder told to stop sending")
        await asyncio.sleep(2.0)  # what was in flight
        decoded = {v.uri: v.content.frames_decoded for v in viewers}
        await asyncio.sleep(3.0)
        assert {v.uri: v.content.frames_decoded for v in viewers} == decoded
        code = await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id)
        assert code == 0
    finally:
        for t in everyone:
            await t.stop()
