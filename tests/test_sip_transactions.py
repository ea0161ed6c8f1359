"""The transaction timers seen from the wire (RFC 3261 section 17, short T1/T2/T4), with a raw
UDP socket playing the other side: G retransmits a final non-2xx until the ACK (or H gives
up); the ACK stops it (then I absorbs); J answers a retransmitted non-INVITE request with the
same response; the client INVITE transaction acknowledges a non-2xx and each of its
retransmissions (D); the UAS core resends its 2xx until the ACK and without one ends the call
with a BYE (13.3.1.4); a retransmitted INVITE is absorbed and does not make a second call."""

from __future__ import annotations

import asyncio
import time

from rtc.deadline import within
from sip.errors import SipCallFailed
from sip.message import Request, Response, parse_datagram
from sip.useragent import SipReject
from tests.sip_helpers import FAST, RawUdp, make_ua, request

TIMEOUT = 64 * FAST.t1


def invite(port: int, call_id: str) -> bytes:
    return request("INVITE", port=port, call_id=call_id, extra=(
        f"Contact: <sip:raw@127.0.0.1:{port}>\r\nContent-Type: application/sdp\r\n"),
        body=b"v=0\r\n")


def ack_for(response: Response, port: int, call_id: str, branch: str | None = None) -> bytes:
    return (f"ACK sip:u@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch or 'z9hG4bK' + call_id}\r\n"
            f"From: <sip:raw@127.0.0.1>;tag=r1\r\nTo: {response.headers.get('To')}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


async def collect(raw: RawUdp, seconds: float) -> list[Response]:
    out: list[Response] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            out.append(await raw.answer(left))
        except TimeoutError:
            break
    return out


async def test_timer_g_until_h_and_the_ack_stopping_it() -> None:
    async def busy(_r: Request) -> SipReject:
        return SipReject(486)

    ua = make_ua("u", on_invite=busy)
    raw = await RawUdp.open()
    async with ua:
        port = ua.transports.ports["UDP"]
        raw.send(invite(raw.port, "g1"), port)
        answers = await collect(raw, TIMEOUT + 0.5)
        statuses = [a.status for a in answers]
        assert statuses[:2] == [100, 180]
        busy_count = statuses.count(486)
        # G: T1, 2T1, 4T1, then T2 each until H (64*T1): at least 8 in 1.28 s
        assert busy_count >= 8, statuses
        assert not await collect(raw, 0.3)  # H fired: retransmissions stopped
        # another INVITE, ACKed at once: the 486 stops (timer I absorbs the rest)
        raw.send(invite(raw.port, "g2"), port)
        answers = await collect(raw, 0.2)
        final = next(a for a in answers if a.status == 486)
        raw.send(ack_for(final, raw.port, "g2"), port)
        await asyncio.sleep(0.05)
        while not raw.received.empty():
            raw.received.get_nowait()
        assert not await collect(raw, 0.5)
        # a retransmitted INVITE gets the final response again, not a second call
        raw.send(invite(raw.port, "g3"), port)
        first = [a for a in await collect(raw, 0.1) if a.status == 486][0]
        raw.send(invite(raw.port, "g3"), port)
        again = [a for a in await collect(raw, 0.1) if a.status == 486]
        assert again and again[0].to.tag == first.to.tag
    raw.close()


async def test_timer_j_answers_a_retransmitted_request_the_same() -> None:
    ua = make_ua("u")
    raw = await RawUdp.open()
    async with ua:
        port = ua.transports.ports["UDP"]
        raw.send(request(call_id="j1", port=raw.port), port)
        first = await raw.answer()
        raw.send(request(call_id="j1", port=raw.port), port)
        second = await raw.answer()
        assert first.status == second.status == 200 and first.to.tag == second.to.tag
        await asyncio.sleep(TIMEOUT + 0.2)  # J over: the same branch is a new request
        raw.send(request(call_id="j1", port=raw.port), port)
        third = await raw.answer()
        assert third.to.tag != first.to.tag
    raw.close()


async def test_client_acks_a_non_2xx_and_its_retransmissions() -> None:
    raw = await RawUdp.open()
    ua = make_ua("u")
    async with ua:
        task = asyncio.ensure_future(ua.invite(f"sip:x@127.0.0.1:{raw.port}", b"o"))
        data = await within(raw.received.get(), 3)
        inv = parse_datagram(data)
        assert isinstance(inv, Request) and inv.method == "INVITE"
        busy = Response(status=486, reason="Busy Here")
        for name in ("Via", "From", "Call-ID", "CSeq"):
            busy.headers.add(name, inv.headers.get(name) or "")
        busy.headers.add("To", (inv.headers.get("To") or "") + ";tag=x1")
        port = ua.transports.ports["UDP"]
        raw.send(busy.encode(), port)
        try:
            await task
        except SipCallFailed as failure:
            assert failure.status == 486
        acks: list[Request] = []
        raw.send(busy.encode(), port)  # retransmitted: timer D keeps the transaction
        raw.send(busy.encode(), port)
        deadline = time.monotonic() + 1
        while len(acks) < 3 and time.monotonic() < deadline:
            try:
                message = parse_datagram(await within(raw.received.get(), 0.5))
            except TimeoutError:
                break
            if isinstance(message, Request) and message.method == "ACK":
                acks.append(message)
        assert len(acks) == 3
        assert all(a.top_via.branch == inv.top_via.branch for a in acks)  # in the transaction
        assert acks[0].to.tag == "x1" and acks[0].cseq.number == inv.cseq.number
    raw.close()


async def test_2xx_resent_until_ack_and_bye_without_it() -> None:
    async def accept(_r: Request) -> bytes:
        return b"answer"

    ua = make_ua("u", on_invite=accept)
    raw = await RawUdp.open()
    async with ua:
        port = ua.transports.ports["UDP"]
        raw.send(invite(raw.port, "k1"), port)
        seen: list[int] = []
        bye: Request | None = None
        deadline = time.monotonic() + TIMEOUT + 1
        while bye is None and time.monotonic() < deadline:
            try:
                data = await within(raw.received.get(), 0.5)
            except TimeoutError:
                continue
            message = parse_datagram(data)
            if isinstance(message, Response):
                seen.append(message.status)
            elif message.method == "BYE":
                bye = message
        assert seen.count(200) >= 6  # T1, 2T1, 4T1, T2, T2...
        assert bye is not None and bye.call_id == "k1"  # no ACK: the session ends
        assert not ua.dialogs
    raw.close()


async def test_delayed_offer_answer_comes_in_the_ack() -> None:
    """An INVITE without a body (room systems do this): `on_invite` sees an empty offer and
    returns ours, the 200 carries it, and the ACK's answer becomes the dialog's remote SDP."""
    offers: list[bytes] = []

    async def offer(r: Request) -> bytes:
        offers.append(r.body)
        return b"our offer"

    ua = make_ua("u", on_invite=offer)
    raw = await RawUdp.open()
    async with ua:
        port = ua.transports.ports["UDP"]
        raw.send(request("INVITE", port=raw.port, call_id="late",
                         extra=f"Contact: <sip:raw@127.0.0.1:{raw.port}>\r\n"), port)
        ok = next(a for a in await collect(raw, 0.3) if a.status == 200)
        assert ok.body == b"our offer" and offers == [b""]
        ack = ack_for(ok, raw.port, "late", branch="z9hG4bKack-late").replace(
            b"Content-Length: 0\r\n\r\n",
            b"Content-Type: application/sdp\r\nContent-Length: 10\r\n\r\ntheir answ")
        raw.send(ack, port)
        dialog = next(iter(ua.dialogs.values()))
        await within(dialog.confirmed.wait(), 2)
        assert dialog.remote_sdp == b"their answ" and dialog.local_sdp == b"our offer"
    raw.close()


async def test_cancel_after_the_answer_has_no_effect() -> None:
    async def accept(_r: Request) -> bytes:
        return b"answer"

    ua = make_ua("u", on_invite=accept)
    raw = await RawUdp.open()
    async with ua:
        port = ua.transports.ports["UDP"]
        raw.send(invite(raw.port, "c1"), port)
        ok = next(a for a in await collect(raw, 0.3) if a.status == 200)
        raw.send(request("CANCEL", port=raw.port, call_id="c1"), port)  # same branch
        answers = [a for a in await collect(raw, 0.3) if a.cseq.method == "CANCEL"]
        assert [a.status for a in answers] == [200]
        raw.send(ack_for(ok, raw.port, "c1", branch="z9hG4bKack-c1"), port)
        dialog = next(iter(ua.dialogs.values()))
        await within(dialog.confirmed.wait(), 2)
        assert not dialog.terminated.is_set()  # the call stands
    raw.close()
