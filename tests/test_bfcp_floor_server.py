"""The floor control server (gateway/bfcp_floor.py) over real TCP sockets: BFCP participants
request, are granted, revoked, denied under a lock, refused, and a vanished holder loses the
floor; the answers and notices are read from the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.bfcp_floor import BfcpConference, FloorControlServer
from mcu.floor import Floor, FloorChange
from rtc.bfcp import messages
from rtc.bfcp.codec import Attribute, ErrorCodeValue, Grouped, Message
from rtc.bfcp.tables import AttributeType, ErrorCode, Primitive, RequestStatus
from rtc.bfcp.transport import BfcpClient
from rtc.deadline import within

CONF = 42
A, B, C, VIEWER = "sip:a", "sip:b", "sip:c", "sip:viewer"
USERS = {1: A, 2: B, 3: C, 4: VIEWER}


class Setup:
    def __init__(self) -> None:
        self.floor = Floor()
        for site in (A, B, C):
            self.floor.join(site, has_content_input=True)
        self.floor.join(VIEWER, has_content_input=False)
        self.conference = BfcpConference(self.floor, dict(USERS))
        self.changes: list[FloorChange] = []
        self.fcs = FloorControlServer(
            lambda conf: self.conference if conf == CONF else None, self.on_change
        )
        self.port = 0
        self.clients: dict[int, BfcpClient] = {}

    async def on_change(self, conference_id: int, change: FloorChange) -> None:
        assert conference_id == CONF
        self.changes.append(change)

    async def connect(self, user: int) -> BfcpClient:
        client = await BfcpClient.connect("127.0.0.1", self.port, CONF, user)
        assert (await client.request(Primitive.HELLO)).primitive is Primitive.HELLO_ACK
        self.clients[user] = client
        return client


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    s = Setup()
    _, s.port = await s.fcs.start()
    yield s
    for client in s.clients.values():
        await client.close()
    await s.fcs.close()


FLOOR_1 = Attribute(AttributeType.FLOOR_ID, 1, True)


async def next_notice(client: BfcpClient, primitive: Primitive) -> Message:
    while True:
        notice = await within(client.notices.get(), 5)
        assert notice.transaction_id == 0
        if notice.primitive is primitive:
            return notice


def holder_user(floor_status: Message) -> int | None:
    info = floor_status.first(AttributeType.FLOOR_REQUEST_INFORMATION)
    if info is None:
        return None
    beneficiary = info.first(AttributeType.BENEFICIARY_INFORMATION)
    assert isinstance(beneficiary, Grouped)
    return beneficiary.lead


def error_code(message: Message) -> int:
    assert message.primitive is Primitive.ERROR, message
    value = message.first(AttributeType.ERROR_CODE)
    assert isinstance(value, ErrorCodeValue)
    return value.code


async def test_grant_revoke_lock_deny_and_vanish(setup: Setup) -> None:
    a = await setup.connect(1)
    b = await setup.connect(2)
    c = await setup.connect(3)

    granted = await a.request(Primitive.FLOOR_REQUEST, FLOOR_1)
    a_request, status = messages.request_status_of(granted)
    assert status is RequestStatus.GRANTED
    assert setup.floor.holder == A
    for client in (a, b, c):  # every participant hears who holds the floor
        assert holder_user(await next_notice(client, Primitive.FLOOR_STATUS)) == 1

    # B presses "share": granted; A is told its request was revoked.
    answer = await b.request(Primitive.FLOOR_REQUEST, FLOOR_1)
    assert messages.request_status_of(answer)[1] is RequestStatus.GRANTED
    revoked = await next_notice(a, Primitive.FLOOR_REQUEST_STATUS)
    assert messages.request_status_of(revoked) == (a_request, RequestStatus.REVOKED)
    assert holder_user(await next_notice(c, Primitive.FLOOR_STATUS)) == 2
    assert [ch.holder_after for ch in setup.changes] == [A, B]

    # lockPresentationEx for C, made by the chair outside BFCP and published.
    await setup.fcs.publish(CONF, setup.floor.lock(C))
    assert messages.request_status_of(await next_notice(b, Primitive.FLOOR_REQUEST_STATUS))[
        1
    ] is RequestStatus.REVOKED
    assert messages.request_status_of(await next_notice(c, Primitive.FLOOR_REQUEST_STATUS))[
        1
    ] is RequestStatus.GRANTED
    denied = await a.request(Primitive.FLOOR_REQUEST, FLOOR_1)
    assert messages.request_status_of(denied)[1] is RequestStatus.DENIED
    assert setup.floor.holder == C

    query = await a.request(Primitive.FLOOR_QUERY, FLOOR_1)
    assert query.primitive is Primitive.FLOOR_STATUS and holder_user(query) == 3

    # C vanishes without Goodbye: the floor (and the lock) are released, everyone is told.
    await c.close()
    del setup.clients[3]
    for client in (a, b):
        while True:
            status_msg = await next_notice(client, Primitive.FLOOR_STATUS)
            if holder_user(status_msg) is None:
                break
    assert (setup.floor.holder, setup.floor.locked) == (None, False)
    assert setup.changes[-1].holder_after is None


async def test_refusals_answer_their_error_codes(setup: Setup) -> None:
    viewer = await setup.connect(4)
    a = await setup.connect(1)
    assert error_code(await viewer.request(Primitive.FLOOR_REQUEST, FLOOR_1)) == (
        ErrorCode.UNAUTHORIZED_OPERATION
    )
    assert error_code(
        await a.request(Primitive.FLOOR_REQUEST, Attribute(AttributeType.FLOOR_ID, 2, True))
    ) == ErrorCode.INVALID_FLOOR_ID
    assert error_code(
        await a.request(
            Primitive.FLOOR_REQUEST, FLOOR_1, Attribute(AttributeType.BENEFICIARY_ID, 2, True)
        )
    ) == ErrorCode.UNAUTHORIZED_OPERATION
    assert error_code(
        await a.request(Primitive.FLOOR_RELEASE, Attribute(AttributeType.FLOOR_REQUEST_ID, 9))
    ) == ErrorCode.FLOOR_REQUEST_ID_DOES_NOT_EXIST
    info = messages.floor_request_information(1, 1, RequestStatus.GRANTED)
    assert error_code(await a.request(Primitive.CHAIR_ACTION, info)) == (
        ErrorCode.UNAUTHORIZED_OPERATION
    )
    assert setup.floor.holder is None and setup.changes == []  # nothing changed

    granted = await a.request(Primitive.FLOOR_REQUEST, FLOOR_1)
    request_id, _ = messages.request_status_of(granted)
    assert error_code(await a.request(Primitive.FLOOR_REQUEST, FLOOR_1)) == (
        ErrorCode.MAX_FLOOR_REQUESTS_REACHED
    )
    released = await a.request(
        Primitive.FLOOR_RELEASE, Attribute(AttributeType.FLOOR_REQUEST_ID, request_id, True)
    )
    assert messages.request_status_of(released) == (request_id, RequestStatus.RELEASED)
    queried = await a.request(
        Primitive.FLOOR_REQUEST_QUERY,
        Attribute(AttributeType.FLOOR_REQUEST_ID, request_id, True),
    )
    assert messages.request_status_of(queried) == (request_id, RequestStatus.RELEASED)
    user_status = await a.request(Primitive.USER_QUERY)
    assert user_status.primitive is Primitive.USER_STATUS
    assert setup.floor.holder is None
