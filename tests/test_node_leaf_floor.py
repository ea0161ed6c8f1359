"""BFCP of SIP sites on both nodes of a conference split over two nodes (docs/sip.md "SIP on
media nodes", "The node is the floor's authority"; mcu/nodes/leaf_floor.py): a real
redis-server, two `mcu-sim node` processes (node 1, the most room: the root; node 2: the
leaf) each with its own SIP user agent and BFCP floor server, the gateway as `mcu-sim serve
--redis` with a `[site_zones]` table pinning the "leaf-*" rooms to node 2 and the "root-*"
rooms to node 1, simulated SIP rooms (terminals/sip_room.py) each called by its node and
connected to its node's floor server:

- the leaf room presses "share" at the leaf's floor server: granted there, the gateway's
  queryConferencesStatusEx presentation names it (the root took the leaf's request and
  answered); a root room then presses "share" at the root: granted, the leaf room is told
  REVOKED by its node, the gateway names the root room;
- both rooms press "share" at once, each at its own node: both granted at first, one of
  them revoked, and from then on one holder everywhere: the gateway's view never goes back
  once it named the winner, the winner's BFCP statuses are GRANTED alone and the loser's
  GRANTED then REVOKED (no node's floor goes back to a holder it left).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rtc.bfcp.tables import RequestStatus
from terminals.documents import DocumentKind
from terminals.sip_room import SipRoom
from tests.test_node_sip import eventually, floor_statuses, site_mcus, status_is
from tests.test_nodes import Platform, running_platform
from tests.test_sip_content import presentation, shows, sip_room
from tests.test_sip_endpoint import IN_CONFERENCE, book

ROOT, LEAF = 1, 2
NODES = {ROOT: ("ward-root", 32, 16), LEAF: ("ward-leaf", 16, 16)}  # node 1: the most room
NODE_CONFIG = "[sip]\nport = 0\n[bfcp]\nport = 0\n"
PINS = '[site_zones]\n"sip:leaf-*" = "node:2"\n"sip:root-*" = "node:1"\n'


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("node-leaf-floor")
    yield from running_platform(root, NODES, NODE_CONFIG, gateway_config=PINS)



async def split_conference(platform: Platform, made: list[SipRoom], name: str
                           ) -> tuple[object, str, SipRoom, SipRoom]:
    """A conference of a leaf room and a root room, both with a content input and a second
    screen, split over the two nodes, both rooms in conference with their floor
    connections up (each to its own node's floor server)."""
    soap = await asyncio.to_thread(platform.soap)
    leaf = sip_room(f"leaf-{name}", 51, content="record", receive_content=True)
    root = sip_room(f"root-{name}", 52, content="radiograph", receive_content=True)
    for each in (leaf, root):
        await each.start()
        made.append(each)
    conf_id, _ = await asyncio.to_thread(book, soap, datetime.now(UTC), [leaf.uri, root.uri])
    await eventually(status_is(soap, conf_id, {leaf.uri: IN_CONFERENCE,
                                               root.uri: IN_CONFERENCE}),
                     "both rooms in conference")
    mcus = await asyncio.to_thread(site_mcus, soap, conf_id)
    assert (mcus[leaf.uri], mcus[root.uri]) == (LEAF, ROOT), mcus
    await eventually(lambda: leaf.floor_connected and root.floor_connected,
                     "both rooms' BFCP connections (each to its node's floor server)")
    assert await asyncio.to_thread(presentation, soap, conf_id) is None
    return soap, conf_id, leaf, root


async def test_a_leaf_room_s_floor_request_is_taken_everywhere_and_revoked_from_the_root(
        platform: Platform, rooms: list[SipRoom]) -> None:
    soap, conf_id, leaf, root = await split_conference(platform, rooms, "share")
    # the leaf room presses "share": its node's floor server grants it, the root takes the
    # request and the gateway's view names the leaf room
    assert await leaf.request_floor() is RequestStatus.GRANTED
    await eventually(lambda: asyncio.to_thread(
        lambda: presentation(soap, conf_id) == leaf.uri),
        "the gateway shows the leaf room as the presentation holder")
    await eventually(lambda: asyncio.to_thread(
        lambda: soap.site_mgr.isSendAuxStreamEx(siteUri=leaf.uri).result == 1),
        "isSendAuxStreamEx of the leaf room")
    assert leaf.holds_floor and leaf.sending_content
    # its pages cross the cascade link: the root room decodes the leaf room's marker
    await eventually(shows(root, leaf.site_index, DocumentKind.RECORD),
                     "the root room decodes the leaf room's page")
    # the root room presses "share" at the root: granted there; the leaf's node revokes
    # the leaf room's request, and the gateway names the root room
    assert await root.request_floor() is RequestStatus.GRANTED
    await eventually(lambda: not leaf.holds_floor, "the leaf room revoked by its node")
    assert floor_statuses(leaf) == [RequestStatus.GRANTED, RequestStatus.REVOKED]
    assert not leaf.sending_content
    await eventually(lambda: asyncio.to_thread(
        lambda: presentation(soap, conf_id) == root.uri),
        "the gateway shows the root room as the holder")
    assert root.holds_floor and floor_statuses(root) == [RequestStatus.GRANTED]
    # and down the link: the leaf room decodes the root room's page
    await eventually(shows(leaf, root.site_index, DocumentKind.RADIOGRAPH),
                     "the leaf room decodes the root room's page")
    assert await root.release_floor() is RequestStatus.RELEASED
    await eventually(lambda: asyncio.to_thread(lambda: presentation(soap, conf_id) is None),
                     "the floor free in the gateway's view")
    assert await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id) == 0


async def test_two_requests_at_once_at_two_nodes_end_on_one_holder_without_a_flip(
        platform: Platform, rooms: list[SipRoom]) -> None:
    soap, conf_id, leaf, root = await split_conference(platform, rooms, "race")
    # both press "share" at once, each at its own node: both granted there at first
    answers = await asyncio.gather(leaf.request_floor(), root.request_floor())
    assert answers == [RequestStatus.GRANTED, RequestStatus.GRANTED]
    await eventually(lambda: RequestStatus.REVOKED in floor_statuses(leaf) + floor_statuses(
        root), "one of the two revoked")
    winner, loser = (leaf, root) if RequestStatus.REVOKED in floor_statuses(root) \
        else (root, leaf)
    seen: list[str | None] = []

    async def settled() -> bool:
        seen.append(await asyncio.to_thread(presentation, soap, conf_id))
        return seen[-1] == winner.uri

    await eventually(settled, "the gateway shows the winner as the holder")
    # a while for anything in flight to cross: no floor moves again
    for _ in range(10):
        seen.append(await asyncio.to_thread(presentation, soap, conf_id))
        await asyncio.sleep(0.5)
    after = seen[seen.index(winner.uri):]
    assert after == [winner.uri] * len(after), seen
    assert floor_statuses(winner) == [RequestStatus.GRANTED]
    assert floor_statuses(loser) == [RequestStatus.GRANTED, RequestStatus.REVOKED]
    assert winner.holds_floor and winner.sending_content
    assert not loser.holds_floor and not loser.sending_content
    kind = {leaf.site_index: DocumentKind.RECORD, root.site_index: DocumentKind.RADIOGRAPH}
    await eventually(shows(loser, winner.site_index, kind[winner.site_index]),
                     "the loser decodes the winner's page, across the link")
    assert await winner.release_floor() is RequestStatus.RELEASED
    assert await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id) == 0
