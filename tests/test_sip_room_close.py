"""A SIP room closed just after the MCU ended its call closes that call completely
(terminals/sip_room.py `_end`): its BFCP floor connection says Goodbye and is closed, its
reader ends. Before, the room's close() cancelled the task that follows the call's dialog
while that task was closing the call, which left the floor connection open and its read
loop running until the event loop's shutdown (where a dropped cancel then hung a CI run:
docs/testing.md).

The MCU runs in this process; two SIP rooms with content and BFCP are called, the
conference is deleted over SOAP (the MCU sends BYE), and each room is closed the moment it
is idle, several times over."""

from __future__ import annotations

import asyncio

from rtc.bfcp.transport import BfcpClient
from terminals.sip_room import SipRoom
from tests.test_sip_content import sip_room
from tests.test_sip_endpoint import IN_CONFERENCE, book, eventually, site_statuses

ATTEMPTS = 3


async def closed_when_idle(room: SipRoom) -> None:
    while room.call is not None:
        await asyncio.sleep(0)
    await room.close()


async def attempt(soap, clock, number: int) -> None:
    rooms = [sip_room(f"closing-{number}-a", 41, content="radiograph", receive_content=True),
             sip_room(f"closing-{number}-b", 42, receive_content=True)]
    for room in rooms:
        await room.start()
    clients: list[BfcpClient] = []
    try:
        conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [r.uri for r in rooms])
        await eventually(lambda: asyncio.to_thread(
            lambda: {s.status for s in site_statuses(soap, conf_id).values()}
            == {IN_CONFERENCE}), "both rooms in conference")
        await eventually(lambda: all(room.floor_connected for room in rooms),
                         "both rooms' BFCP connections")
        for room in rooms:
            content = room.content_call
            assert content is not None and content.floor is not None
            client = content.floor._client
            assert client is not None
            clients.append(client)
        assert await asyncio.to_thread(soap.conf_mgr.delScheduledConfEx, confId=conf_id) == 0
        await asyncio.gather(*(closed_when_idle(room) for room in rooms))
    finally:
        for room in rooms:
            await room.close()
    for client in clients:
        assert client._writer.is_closing(), f"attempt {number}: floor connection left open"
        assert client._reading.done(), f"attempt {number}: its reader still running"


async def test_a_room_closed_as_the_mcu_ends_its_call_closes_its_floor_connection(
        gateway_server, soap, clock) -> None:
    for number in range(ATTEMPTS):
        await attempt(soap, clock, number)
