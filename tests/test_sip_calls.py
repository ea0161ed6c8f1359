"""Two of our SIP user agents on loopback, over UDP, TCP and TLS: a call is set up (100, 180,
200, ACK) with the offer and answer each side's callbacks make, re-INVITEd and torn down by
either side; CANCEL before the answer ends the INVITE in 487; 486 and 603 come back as the
failure the MCU reports; datagrams dropped on the way are retransmitted (timer A, the UAS
core's 2xx); timers B and F end requests nobody answers; REGISTER with digest (SHA-256 and
MD5, right and wrong password, unregister, expired nonce); OPTIONS; INFO dtmf-relay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mcu.calls import CallFailure
from mcu.sip_call_failure import call_failure, failure_of
from rtc.deadline import within
from sip.dialog import Dialog
from sip.dtmf import CONTENT_TYPE, DtmfEvent, dtmf_relay_body
from sip.errors import SipCallFailed
from sip.message import Request
from sip.registrar import Registrar
from sip.useragent import SipReject, SipUserAgent
from tests.sip_helpers import FAST, RawUdp, make_ua, tls_contexts


class Callee:
    """B's side: records what arrives and answers per its settings."""

    def __init__(self) -> None:
        self.offers: list[bytes] = []
        self.reinvites: list[bytes] = []
        self.byes: list[Dialog] = []
        self.dtmf: list[DtmfEvent] = []
        self.reject: SipReject | None = None
        self.hold = asyncio.Event()  # cleared: answer at once
        self.cancelled = asyncio.Event()
        self.hold.set()

    async def on_invite(self, request: Request) -> bytes | SipReject:
        self.offers.append(request.body)
        try:
            await self.hold.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return self.reject or b"answer to " + request.body

    async def on_reinvite(self, dialog: Dialog, offer: bytes) -> bytes | SipReject:
        self.reinvites.append(offer)
        return b"re-answer to " + offer

    def handlers(self) -> dict[str, object]:
        return {"on_invite": self.on_invite, "on_reinvite": self.on_reinvite,
                "on_bye": self.byes.append, "on_dtmf": lambda d, e: self.dtmf.append(e)}


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[SipUserAgent, SipUserAgent, Callee]]:
    tls = tls_contexts(tmp_path)
    callee = Callee()
    a = make_ua("alice", tls=tls, on_bye=lambda d: None)
    b = make_ua("bob", tls=tls, **callee.handlers())  # type: ignore[arg-type]
    async with a, b:
        yield a, b, callee


async def until(predicate, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS"])
async def test_call_reinvite_and_bye(pair, transport: str) -> None:  # type: ignore[no-untyped-def]
    a, b, callee = pair
    rings: list[int] = []
    dialog = await a.invite(b.contact(transport), b"offer-1", on_ringing=lambda r: rings.append(
        r.status))
    assert rings == [180] and callee.offers == [b"offer-1"]
    assert dialog.remote_sdp == b"answer to offer-1" and dialog.transport == transport
    await until(lambda: len(b.dialogs) == 1)
    far = next(iter(b.dialogs.values()))
    await within(far.confirmed.wait(), 3)  # the ACK arrived
    assert far.remote_sdp == b"offer-1" and far.local_sdp == b"answer to offer-1"
    assert far.call_id == dialog.call_id and far.remote_tag == dialog.local_tag

    assert await dialog.reinvite(b"offer-2") == b"re-answer to offer-2"
    assert callee.reinvites == [b"offer-2"] and far.remote_sdp == b"offer-2"

    await dialog.bye()
    await until(lambda: len(callee.byes) == 1)
    assert callee.byes[0] is far and far.terminated.is_set() and far.ended_by == "remote"
    assert dialog.ended_by == "local" and not a.dialogs and not b.dialogs
    with pytest.raises(SipCallFailed) as caught:
        await dialog.reinvite(b"late")  # a dead dialog sends nothing
    assert caught.value.status == 481


async def test_callee_hangs_up_and_a_stale_request_gets_481(pair) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = pair
    dialog = await a.invite(b.contact("UDP"), b"o")
    await until(lambda: len(b.dialogs) == 1)
    far = next(iter(b.dialogs.values()))
    await within(far.confirmed.wait(), 3)
    await far.bye()
    await within(dialog.terminated.wait(), 3)
    assert dialog.ended_by == "remote"
    far.terminated.clear()  # pretend B never saw it end: its BYE now meets no dialog at A
    with pytest.raises(SipCallFailed) as caught:
        await far.request("BYE")
    assert caught.value.status == 481


async def test_cancel_before_answer_ends_in_487(pair) -> None:  # type: ignore[no-untyped-def]
    a, b, callee = pair
    callee.hold.clear()  # B rings and never answers
    cancel = asyncio.Event()
    with pytest.raises(SipCallFailed) as caught:
        await a.invite(b.contact("UDP"), b"o", on_ringing=lambda r: cancel.set(), cancel=cancel)
    assert caught.value.status == 487 and not caught.value.local
    assert failure_of(caught.value) is CallFailure.NO_ANSWER
    await within(callee.cancelled.wait(), 3)  # B's answering task was stopped
    assert not b.dialogs and not a.dialogs


@pytest.mark.parametrize(("status", "failure"), [(486, CallFailure.CALLEE_BUSY),
                                                 (603, CallFailure.CALLEE_REJECTED),
                                                 (488, CallFailure.CODEC_MISMATCH)])
async def test_rejections_map_to_the_call_failure(pair, status: int,  # type: ignore[no-untyped-def]
                                                  failure: CallFailure) -> None:
    a, b, callee = pair
    callee.reject = SipReject(status)
    with pytest.raises(SipCallFailed) as caught:
        await a.invite(b.contact("TCP"), b"o")
    assert caught.value.status == status and failure_of(caught.value) is failure
    assert not b.dialogs


async def test_lost_invite_and_lost_200_are_retransmitted() -> None:
    callee = Callee()
    sent: dict[str, int] = {"INVITE": 0, "200": 0}

    def drop_first_invite(data: bytes) -> bool:
        if data.startswith(b"INVITE "):
            sent["INVITE"] += 1
            return sent["INVITE"] == 1
        return False

    def drop_first_200(data: bytes) -> bool:
        if data.startswith(b"SIP/2.0 200") and b"INVITE\r\n" in data:
            sent["200"] += 1
            return sent["200"] == 1
        return False

    a = make_ua("alice", drop=drop_first_invite)
    b = make_ua("bob", drop=drop_first_200, **callee.handlers())  # type: ignore[arg-type]
    async with a, b:
        dialog = await a.invite(b.contact("UDP"), b"o")
        assert dialog.remote_sdp == b"answer to o"
        assert sent["INVITE"] >= 2  # timer A resent the lost INVITE
        assert sent["200"] >= 2  # the UAS core resent its 2xx until the ACK
        far = next(iter(b.dialogs.values()))
        await within(far.confirmed.wait(), 3)
        count = sent["200"]
        await asyncio.sleep(FAST.t2 * 3)
        assert sent["200"] == count  # and stopped once the ACK came
        assert callee.offers == [b"o"]  # retransmissions did not make a second call
        await dialog.bye()


async def test_timers_b_and_f_end_unanswered_requests() -> None:
    silent = await RawUdp.open()
    a = make_ua("alice")
    async with a:
        started = time.monotonic()
        with pytest.raises(SipCallFailed) as caught:
            await a.invite(f"sip:nobody@127.0.0.1:{silent.port}", b"o")
        took = time.monotonic() - started
        assert caught.value.status == 408 and caught.value.local
        assert failure_of(caught.value) is CallFailure.NETWORK_ERROR
        assert 64 * FAST.t1 * 0.9 <= took < 64 * FAST.t1 + 2  # timer B
        invites = silent.received.qsize()
        assert invites >= 6  # timer A: 0, T1, 3T1, 7T1, 15T1, 31T1, (63T1)
        while not silent.received.empty():
            silent.received.get_nowait()
        with pytest.raises(SipCallFailed) as caught:
            await a.options(f"sip:nobody@127.0.0.1:{silent.port}")
        assert caught.value.status == 408 and caught.value.local  # timer F
        assert silent.received.qsize() >= 6  # timer E, capped at T2
    silent.close()


async def test_register_with_digest() -> None:
    registrar = Registrar("lab", {"1001": "s3cret"}, min_expires=10)
    b = make_ua("registrar", registrar=registrar)
    a = make_ua("1001")
    async with a, b:
        target = b.contact("UDP")
        aor = "sip:1001@127.0.0.1"
        with pytest.raises(SipCallFailed) as caught:
            await a.register(target, aor)  # no credentials: the challenge is the answer
        assert caught.value.status == 401
        with pytest.raises(SipCallFailed) as caught:
            await a.register(target, aor, password="wrong")
        assert caught.value.status == 403 and registrar.lookup(aor) == []
        with pytest.raises(SipCallFailed) as caught:
            await a.register(target, aor, password="s3cret", expires=5)
        assert caught.value.status == 423  # under Min-Expires
        granted = await a.register(target, aor, password="s3cret", expires=120)
        assert granted == 120 and registrar.lookup(aor) == [a.contact("UDP")]
        assert await a.register(target, aor, password="s3cret", expires=0) == 0
        assert registrar.lookup(aor) == []
        # somebody else's address-of-record with valid credentials of 1001
        with pytest.raises(SipCallFailed) as caught:
            await a.register(target, "sip:1002@127.0.0.1", password="s3cret",
                             username="1001")
        assert caught.value.status == 403


async def test_registrar_md5_only_expiry_and_stale_nonce() -> None:
    now = [1000.0]
    registrar = Registrar("lab", {"7": "pw"}, min_expires=1, nonce_lifetime=30,
                          clock=lambda: now[0])
    registrar.digest.algorithms = ("MD5",)
    b = make_ua("registrar", registrar=registrar)
    a = make_ua("7")
    async with a, b:
        aor = "sip:7@127.0.0.1"
        assert await a.register(b.contact("TCP"), aor, password="pw", expires=60) == 60
        assert registrar.lookup(aor) == [a.contact("TCP")]
        now[0] += 61
        assert registrar.lookup(aor) == []  # the binding lapsed
        old_nonce = registrar.digest.nonce()
        now[0] += 31
        from sip.digest import answer_challenge
        challenge = f'Digest realm="lab", nonce="{old_nonce}", algorithm=MD5, qop="auth"'
        authorization = answer_challenge([challenge], "7", "pw", "REGISTER", "sip:x")
        assert authorization is not None
        verdict = registrar.digest.check(authorization, "REGISTER")
        assert not verdict.ok and verdict.stale  # answered 401 with stale=true


async def test_registrar_grants_exactly_what_it_was_asked() -> None:
    # at this clock (now + 600) - now is 599.99999999: the grant must not read a second short
    now = 16217.014306821986
    assert (now + 600) - now < 600
    registrar = Registrar(min_expires=1, clock=lambda: now)
    b = make_ua("registrar", registrar=registrar)
    a = make_ua("room1")
    async with a, b:
        assert await a.register(b.contact("UDP"), "sip:8001@127.0.0.1", expires=600) == 600


async def test_registrar_without_credentials_and_lookup_by_uri() -> None:
    registrar = Registrar(min_expires=1)
    b = make_ua("registrar", registrar=registrar)
    a = make_ua("room1")
    async with a, b:
        assert await a.register(b.contact("UDP"), "sip:8001@127.0.0.1", expires=30) == 30
        contact = registrar.lookup("sip:8001@127.0.0.1")[0]
        callee = Callee()
        a.on_invite = callee.on_invite  # the registered room system answers calls
        dialog = await b.invite(contact, b"o")  # dialled at the looked-up contact
        assert dialog.remote_sdp == b"answer to o"
        await dialog.bye()
        plain = make_ua("plain")  # a UA without a registrar refuses REGISTER
        async with plain:
            with pytest.raises(SipCallFailed) as caught:
                await a.register(plain.contact("UDP"), "sip:8001@127.0.0.1")
            assert caught.value.status == 405


async def test_options_lists_allow_accept_supported(pair) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = pair
    for transport in ("UDP", "TCP", "TLS"):
        response = await a.options(b.contact(transport))
        assert response.status == 200
        assert set(response.headers.get_all("Allow")) == {
            "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "REGISTER"}
        assert response.headers.get_all("Accept") == ["application/sdp",
                                                      "application/dtmf-relay"]
        assert response.headers.get("Supported") == ""


async def test_info_dtmf_relay_is_handed_up(pair) -> None:  # type: ignore[no-untyped-def]
    a, b, callee = pair
    dialog = await a.invite(b.contact("UDP"), b"o")
    assert (await dialog.info(dtmf_relay_body("5", 160), CONTENT_TYPE)).status == 200
    await dialog.info(dtmf_relay_body("#"), CONTENT_TYPE)
    assert callee.dtmf == [DtmfEvent("5", 160), DtmfEvent("#", 250)]
    for body, content_type, status in ((b"Signal=X\r\n", CONTENT_TYPE, 400),
                                       (b"Signal=1\r\nDuration=-4\r\n", CONTENT_TYPE, 400),
                                       (b"hello", "text/plain", 415)):
        with pytest.raises(SipCallFailed) as caught:
            await dialog.info(body, content_type)
        assert caught.value.status == status
    assert len(callee.dtmf) == 2
    await dialog.bye()


def test_status_to_call_failure_table() -> None:
    assert call_failure(404) is CallFailure.CALLEE_OFFLINE
    assert call_failure(480) is CallFailure.CALLEE_OFFLINE
    assert call_failure(486) is CallFailure.CALLEE_BUSY
    assert call_failure(603) is CallFailure.CALLEE_REJECTED
    assert call_failure(408) is CallFailure.NO_ANSWER
    assert call_failure(408, local=True) is CallFailure.NETWORK_ERROR
    assert call_failure(488) is CallFailure.CODEC_MISMATCH
    assert call_failure(503) is CallFailure.NETWORK_ERROR


async def test_unreachable_hosts_fail_the_call_without_blocking() -> None:
    """Names are resolved off the event loop (a blocking lookup froze the UA under fuzzing):
    a host that does not resolve, or cannot be a host name at all, fails the call with a
    local 503 (network error) while the UA goes on answering."""
    a = make_ua("alice")
    b = make_ua("bob")
    async with a, b:
        for uri in ("sip:x@no-such-host.invalid", "sip:x@bad\u00ffhost..name"):
            with pytest.raises(SipCallFailed) as caught:
                await within(a.invite(uri, b"o"), 10)
            assert caught.value.status == 503 and caught.value.local
            assert failure_of(caught.value) is CallFailure.NETWORK_ERROR
        assert (await a.options(b.contact("UDP"))).status == 200


async def test_a_ringing_call_outlives_timer_b(pair) -> None:  # type: ignore[no-untyped-def]
    """Timer B runs only until the first provisional (17.1.1.2): B rings for longer than
    64*T1, then answers, and the call is set up."""
    a, b, callee = pair
    callee.hold.clear()
    call = asyncio.ensure_future(a.invite(b.contact("UDP"), b"o"))
    await asyncio.sleep(64 * FAST.t1 + 0.5)
    assert not call.done()
    callee.hold.set()
    dialog = await within(call, 3)
    assert dialog.remote_sdp == b"answer to o"
    await dialog.bye()
