"""The content floor end to end: real simulated terminals in a conference of the running
MCU, each with its BFCP connection (RFC 8855 over TCP) opened from the RFC 8856 parameters
of its call's signalling; setAuxStreamEx / lockPresentationEx / unlockPresentationEx through
zeep from the reference WSDL; what the terminals hear over BFCP and what the SOAP status
answers. Bad input on the MCU's BFCP port gets an Error or a closed connection and the
conference goes on."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from gateway import result_codes
from mcu.errors import Fault
from rtc.bfcp import messages
from rtc.bfcp.codec import Message, decode, encode
from rtc.bfcp.tables import AttributeType, ErrorCode, Primitive, RequestStatus
from rtc.bfcp.transport import read_message
from rtc.deadline import within
from terminals.client import SimulatedTerminal
from tests.conftest import SoapClients
from tests.test_cdr import SMALL, book, eventually, site_states, ws_url

A, B, C, D = "0177001", "0177002", "0177003", "0177004"  # D declares no content input
IN_CONFERENCE = 2
PRESENTATION_LOCKED = result_codes.result_code(Fault.PRESENTATION_LOCKED)
NOT_SUPPORTED = result_codes.result_code(Fault.NOT_SUPPORTED)


def terminal(uri: str, index: int, content_send: bool = True) -> SimulatedTerminal:
    """A terminal with a content input (a small radiograph: cheap to encode) unless
    content_send is False; what it declares follows (capabilities.content_send)."""
    return SimulatedTerminal(
        uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1, video_format=SMALL,
        loop_frames=30, analyse_every=1 << 30, decode_video=False, decode_audio=False,
        content="radiograph" if content_send else None, content_size=(640, 360),
    )


async def answers(call, expected: int, what: str, timeout: float = 15.0) -> None:
    """A SOAP query (a `result` answer) comes to answer `expected` (media answers lag the
    floor by the frames' travel)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await asyncio.to_thread(call)).result != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what} to answer {expected}")
        await asyncio.sleep(0.2)


@dataclass
class Consultation:
    conf_id: str
    terminals: dict[str, SimulatedTerminal]
    soap: SoapClients

    def status(self):
        return self.soap.conf_mgr.queryConferencesStatusEx(confIds=[self.conf_id])[
            "conferenceStatuses"
        ][0]

    async def presentation(self) -> tuple[str | None, bool]:
        """ConferenceStatusEx presentation (the holder) and whether it is locked (the lock
        flag is written only while locked)."""
        status = await asyncio.to_thread(self.status)
        return status.presentation, status.isLockPresentation == 1


@pytest.fixture
async def consultation(gateway_server, soap, clock) -> AsyncIterator[Consultation]:
    uris = [A, B, C, D]
    terminals = {uri: terminal(uri, 60 + i, content_send=uri != D) for i, uri in enumerate(uris)}
    for t in terminals.values():
        await t.start(ws_url(gateway_server.base_url))
    try:
        conf_id = await asyncio.to_thread(book, soap, "Radiograph review", clock.now(), uris)

        def all_in() -> bool:
            return all(t.floor is not None for t in terminals.values())

        await eventually(all_in, "every terminal's BFCP connection")
        await eventually(
            lambda: set(site_states(soap, conf_id).values()) == {IN_CONFERENCE},
            "all in conference",
        )
        yield Consultation(conf_id, terminals, soap)
    finally:
        for t in terminals.values():
            await t.stop()


async def test_the_call_carries_the_rfc_8856_floor_parameters(consultation, gateway_server):
    address = gateway_server.gateway.runtime.content.bfcp_address
    params = [t.floor.params for t in consultation.terminals.values()]
    assert {p.confid for p in params} == {params[0].confid}  # one BFCP conference
    assert len({p.userid for p in params}) == 4  # one user per site
    for p in params:
        assert (p.floorctrl, p.floorid, p.label, p.transport) == ("s-only", 1, "content", "TCP/BFCP")
        assert (p.host, p.port, p.setup, p.connection) == (address.host, address.port,
                                                          "passive", "new")


async def test_set_aux_stream_grants_and_a_participant_takes_the_floor(consultation):
    a, b = consultation.terminals[A], consultation.terminals[B]
    site_mgr = consultation.soap.site_mgr
    granted_to_a: list[bool] = []

    async def on_floor(granted: bool) -> None:
        granted_to_a.append(granted)

    a.on_floor = on_floor
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=A, controlCode=0) == 0
    await eventually(lambda: a.holds_floor, "A granted over BFCP")
    assert granted_to_a == [True]
    assert await consultation.presentation() == (A, False)
    # the granted terminal starts sending its content: the media answers
    assert a.sending_content
    await answers(lambda: site_mgr.isSendAuxStreamEx(siteUri=A), 1, "isSendAuxStreamEx A")
    await answers(lambda: site_mgr.isReceiveRemAuxStrmEx(siteUri=B), 1, "isReceiveRemAuxStrmEx B")
    assert (await asyncio.to_thread(site_mgr.isReceiveRemAuxStrmEx, siteUri=A)).result == 0

    # B presses "share": granted at once, A is revoked and told so
    assert await b.request_floor() is RequestStatus.GRANTED
    assert b.holds_floor
    await eventually(lambda: not a.holds_floor, "A revoked")
    assert a.floor.last_status is RequestStatus.REVOKED
    assert granted_to_a == [True, False]
    assert await consultation.presentation() == (B, False)
    assert not a.sending_content and b.sending_content  # A stopped, B started
    await answers(lambda: site_mgr.isSendAuxStreamEx(siteUri=A), 0, "isSendAuxStreamEx A")
    await answers(lambda: site_mgr.isSendAuxStreamEx(siteUri=B), 1, "isSendAuxStreamEx B")

    # B stops sharing: the floor is free
    assert await b.release_floor() is RequestStatus.RELEASED
    assert not b.holds_floor
    assert await consultation.presentation() == (None, False)

    # setAuxStreamEx controlCode 1 releases a chair grant, and A is told RELEASED
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=A, controlCode=0) == 0
    await eventually(lambda: a.holds_floor, "A granted again")
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=A, controlCode=1) == 0
    await eventually(lambda: not a.holds_floor, "A released")
    assert a.floor.last_status is RequestStatus.RELEASED
    assert await consultation.presentation() == (None, False)


async def test_a_lock_denies_other_requests_until_unlocked(consultation):
    a, b, c = (consultation.terminals[uri] for uri in (A, B, C))
    conf_ctrl, site_mgr = consultation.soap.conf_ctrl, consultation.soap.site_mgr
    lock = conf_ctrl.lockPresentationEx
    assert await asyncio.to_thread(lock, confId=consultation.conf_id, siteUri=A) == 0
    await eventually(lambda: a.holds_floor, "A granted by the lock")
    assert await consultation.presentation() == (A, True)

    assert await c.request_floor() is RequestStatus.DENIED
    assert not c.holds_floor and a.holds_floor
    answer = await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=B, controlCode=0)
    assert answer == PRESENTATION_LOCKED
    assert await asyncio.to_thread(lock, confId=consultation.conf_id, siteUri=B) == (
        PRESENTATION_LOCKED
    )
    assert await consultation.presentation() == (A, True)
    assert not b.holds_floor

    unlock = conf_ctrl.unlockPresentationEx
    assert await asyncio.to_thread(unlock, confId=consultation.conf_id) == 0
    assert await consultation.presentation() == (A, False)
    assert await c.request_floor() is RequestStatus.GRANTED
    await eventually(lambda: not a.holds_floor, "A revoked after the unlock")
    assert await consultation.presentation() == (C, False)


async def test_a_holder_hanging_up_releases_the_floor(consultation):
    b = consultation.terminals[B]
    assert await b.request_floor() is RequestStatus.GRANTED
    assert await consultation.presentation() == (B, False)
    await b.hang_up()

    async def free() -> bool:
        return (await consultation.presentation())[0] is None

    for _ in range(100):
        if await free():
            break
        await asyncio.sleep(0.1)
    assert await consultation.presentation() == (None, False)


async def test_a_site_without_a_content_input_changes_nothing(consultation):
    a, d = consultation.terminals[A], consultation.terminals[D]
    site_mgr = consultation.soap.site_mgr
    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=A, controlCode=0) == 0
    await eventually(lambda: a.holds_floor, "A granted")

    assert await asyncio.to_thread(site_mgr.setAuxStreamEx, siteUri=D, controlCode=0) == (
        NOT_SUPPORTED
    )
    lock = consultation.soap.conf_ctrl.lockPresentationEx
    assert await asyncio.to_thread(lock, confId=consultation.conf_id, siteUri=D) == NOT_SUPPORTED
    with pytest.raises(Exception, match="BFCP error 5"):
        await d.request_floor()
    assert await consultation.presentation() == (A, False)
    assert a.holds_floor and not d.holds_floor
    assert (await asyncio.to_thread(site_mgr.isConnectAuxSourceEx, siteUri=D)).result == 0
    assert (await asyncio.to_thread(site_mgr.isConnectAuxSourceEx, siteUri=A)).result == 1
    states = await asyncio.to_thread(site_mgr.queryVideoOutSrcStateEx, siteUri=D)
    assert [(s.sourcesId, s.sourcesState) for s in states.videoSourcesInfos] == [
        (0, 1), (1, 0), (2, 0), (4, 0)
    ]


async def raw_exchange(address, data: bytes) -> Message | None:
    """Write octets to the MCU's BFCP port; the answer (None: closed without one)."""
    reader, writer = await asyncio.open_connection(address.host, address.port)
    try:
        writer.write(data)
        await writer.drain()
        try:
            return await within(read_message(reader), 5)
        except Exception:
            return None
    finally:
        writer.close()


def error_code(message: Message | None) -> int | None:
    if message is None or message.primitive is not Primitive.ERROR:
        return None
    return int(message.first(AttributeType.ERROR_CODE).code)


async def test_bad_input_on_the_bfcp_port_and_the_conference_goes_on(
    consultation, gateway_server
):
    address = gateway_server.gateway.runtime.content.bfcp_address
    a = consultation.terminals[A]
    params = a.floor.params
    hello = encode(Message(Primitive.HELLO, params.confid, 7, params.userid, ()))

    wrong_version = bytes([(5 << 5)]) + hello[1:]
    assert error_code(await raw_exchange(address, wrong_version)) == ErrorCode.UNSUPPORTED_VERSION
    too_long = hello[:2] + struct.pack("!H", 0xFFFF) + hello[4:]
    assert error_code(await raw_exchange(address, too_long)) == (
        ErrorCode.INCORRECT_MESSAGE_LENGTH
    )
    unknown_primitive = hello[:1] + bytes([99]) + hello[2:]
    assert error_code(await raw_exchange(address, unknown_primitive)) == (
        ErrorCode.UNKNOWN_PRIMITIVE
    )
    other_conference = encode(Message(Primitive.HELLO, params.confid + 1000, 7, 1, ()))
    assert error_code(await raw_exchange(address, other_conference)) == (
        ErrorCode.CONFERENCE_DOES_NOT_EXIST
    )
    other_user = encode(Message(Primitive.HELLO, params.confid, 7, 999, ()))
    assert error_code(await raw_exchange(address, other_user)) == ErrorCode.USER_DOES_NOT_EXIST
    # a truncated header: the connection is closed after the timeout, nothing answered; the
    # peer closing mid-message ends it at once
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(hello[:5])
    await writer.drain()
    writer.close()

    # the conference and its floor go on
    assert await a.request_floor() is RequestStatus.GRANTED
    assert await consultation.presentation() == (A, False)
    query = messages.floor_request(0, 0, 0, params.floorid).attributes
    status = await a.floor._require().request(Primitive.FLOOR_QUERY, *query)
    assert status.primitive is Primitive.FLOOR_STATUS
    assert decode(encode(status)) == status
