"""A 3xx answer to an INVITE (RFC 3261 sections 8.1.3.4 and 21.3), with real user agents on
loopback (sip/useragent.py): the redirecting UA's 302 carries the Contact it was given, the
caller re-sends its offer there and gets the dialog with the target (UDP and TCP); a chain
longer than MAX_REDIRECTS, a redirect to the URI just tried, and a 3xx without a Contact end
the call with that status; only a 3xx may carry a Contact. Over TLS (the gateway's TLS redirect,
docs/sip.md "SIP over TLS through the redirect"): a caller that dialled `sips:` or
`sip:...;transport=tls` follows a 302 to a `sips:` or `transport=tls` Contact over a new TLS
connection verified against the target's certificate, and does not follow one that would
take the call off TLS (the target never sees an INVITE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sip.errors import SipCallFailed
from sip.message import Request
from sip.useragent import MAX_REDIRECTS, SipReject
from tests.sip_helpers import make_ua, tls_contexts


def redirecting_to(target: str):
    async def on_invite(request: Request) -> SipReject:
        return SipReject(302, "Moved Temporarily", contact=target)
    return on_invite


DIALLED: list[str] = []  # the Request-URI user part each answered INVITE had


async def answering(request: Request) -> bytes:
    DIALLED.append(request.request_uri.user or "")
    return b"answer to " + request.body


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_the_caller_follows_a_302_to_its_contact(transport: str) -> None:
    target = make_ua("node", on_invite=answering)
    async with target:
        gateway = make_ua("gateway", on_invite=redirecting_to(
            target.contact(transport).replace("sip:node@", "sip:4455*99@")))
        caller = make_ua("room")
        async with gateway, caller:
            dialog = await caller.invite(gateway.contact(transport).replace(
                "sip:gateway@", "sip:4455*99@"), b"offer")
            assert dialog.remote_sdp == b"answer to offer"
            assert dialog.remote_target.port == target.transports.ports[transport]
            assert DIALLED[-1] == "4455*99"  # the user part the redirect gave
            await dialog.bye()


async def test_redirect_chains_loops_and_3xx_without_contact_fail() -> None:
    # a chain one longer than MAX_REDIRECTS: the last 302 is the answer
    agents = [make_ua(f"hop{i}") for i in range(MAX_REDIRECTS + 2)]
    caller = make_ua("room")
    for agent in agents:
        await agent.start()
    for index, agent in enumerate(agents[:-1]):
        agent.on_invite = redirecting_to(agents[index + 1].contact())
    agents[-1].on_invite = answering
    try:
        async with caller:
            with pytest.raises(SipCallFailed) as chain:
                await caller.invite(agents[0].contact(), b"offer")
            assert chain.value.status == 302
            # MAX_REDIRECTS hops are followed
            dialog = await caller.invite(agents[1].contact(), b"offer")
            assert dialog.remote_sdp == b"answer to offer"
            await dialog.bye()
            # a redirect to the URI just tried is not followed
            loop = agents[0]
            loop.on_invite = redirecting_to(loop.contact())
            with pytest.raises(SipCallFailed) as looped:
                await caller.invite(loop.contact(), b"offer")
            assert looped.value.status == 302

            async def bare_302(request: Request) -> SipReject:
                return SipReject(302, "Moved Temporarily")

            loop.on_invite = bare_302
            with pytest.raises(SipCallFailed) as bare:
                await caller.invite(loop.contact(), b"offer")
            assert bare.value.status == 302
    finally:
        for agent in agents:
            await agent.close()


def test_only_a_redirection_carries_a_contact() -> None:
    with pytest.raises(ValueError):
        SipReject(486, "Busy Here", contact="sip:elsewhere@127.0.0.1")
    assert SipReject(302, contact="sip:elsewhere@127.0.0.1").contact


@pytest.mark.parametrize("scheme", ["sips", "sip"])
async def test_a_tls_caller_follows_a_302_to_a_tls_contact(scheme: str, tmp_path: Path) -> None:
    tls = tls_contexts(tmp_path)  # one certificate for 127.0.0.1, trusted by every party
    target = make_ua("node", tls=tls, on_invite=answering)
    async with target:
        tls_port = target.transports.ports["TLS"]
        contact = (f"sips:4455*99@127.0.0.1:{tls_port}" if scheme == "sips"
                   else f"sip:4455*99@127.0.0.1:{tls_port};transport=tls")
        gateway = make_ua("gateway", tls=tls, on_invite=redirecting_to(contact))
        caller = make_ua("room", tls=tls)
        async with gateway, caller:
            gateway_tls = gateway.transports.ports["TLS"]
            dialled = (f"sips:4455*99@127.0.0.1:{gateway_tls}" if scheme == "sips"
                       else f"sip:4455*99@127.0.0.1:{gateway_tls};transport=tls")
            dialog = await caller.invite(dialled, b"offer")
            assert dialog.remote_sdp == b"answer to offer"
            assert dialog.transport == "TLS"
            assert dialog.remote_target.port == tls_port
            assert dialog.peer is not None and dialog.peer.addr[1] == tls_port
            assert DIALLED[-1] == "4455*99"
            await dialog.bye()


async def test_a_tls_caller_does_not_follow_a_302_off_tls(tmp_path: Path) -> None:
    tls = tls_contexts(tmp_path)
    seen: list[str] = []

    async def plain_target(request: Request) -> bytes:
        seen.append(request.uri)
        return b"answer"

    target = make_ua("node", on_invite=plain_target)
    async with target:
        plain = target.contact("UDP").replace("sip:node@", "sip:4455@")
        gateway = make_ua("gateway", tls=tls, on_invite=redirecting_to(plain))
        caller = make_ua("room", tls=tls)
        async with gateway, caller:
            for dialled in (f"sips:4455@127.0.0.1:{gateway.transports.ports['TLS']}",
                            gateway.contact("TCP").replace("sip:gateway@", "sip:4455@")):
                if dialled.startswith("sips:"):
                    with pytest.raises(SipCallFailed) as refused:
                        await caller.invite(dialled, b"offer")
                    assert refused.value.status == 302
                    assert "not TLS" in refused.value.reason
                    assert seen == []  # the plain target was never sent the offer
                else:  # a caller that did not ask for TLS still follows it
                    dialog = await caller.invite(dialled, b"offer")
                    assert dialog.remote_sdp == b"answer"
                    assert seen == [plain]
                    await dialog.bye()
