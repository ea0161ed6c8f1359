"""The gateway's side of SIP on media nodes, with the in-process transport playing the node
(over a real redis-server for the registry, as tests/test_node_router.py):

- a call the node took by itself (a SIP dial-in after the gateway's redirect) becomes the
  gateway runtime's dial-in call when the node reports it CALLING: its later states move it,
  its status answers, and disconnectSitesEx hangs it up on the node; a CALLING of a site the
  gateway refuses is hung up on the node; states of calls the gateway does not know that
  are not CALLING make nothing up;
- the node's floor reports (`floor`): the gateway's presentation follows (and is forwarded
  back to the node as PresentationChanged), a report naming a site not in the conference
  or from a node that does not hold it changes nothing;
- the redirect (mcu/nodes/sip_redirect.py) answers from the same view: the refusals it can
  tell by itself, 302 with the node's Contact, 503 when the node has no SIP port; an INVITE
  that came over TLS or to a `sips:` URI is sent to the node's TLS port (`sips:` kept,
  `sip:` over TLS with transport=tls), and refused with 503 "No TLS Media Node" when the
  node has no SIP over TLS, never sent to its plain port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mcu.calls import Direction
from mcu.dial_in_limits import DialInLimitSettings, dial_in_limits
from mcu.model import SiteCallState
from mcu.nodes import sip_redirect
from mcu.nodes.messages import CallState, FloorHeld, ForwardedEvent, HangUp, NodeMessage
from mcu.nodes.node_record import NodeRecord, port_costs_json
from mcu.nodes.registry import NodeRegistry
from mcu.nodes.sip_redirect import SipRedirect
from mcu.nodes.transport import InProcessTransport
from mcu.port_costs import PortCosts
from sip.message import Request
from tests.router_harness import router_of
from tests.test_node_router import NODE, next_command, redis_url, registry, until  # noqa: F401
from tests.test_runtime import BEGIN, A, B, C, make_runtime

SIP_PORT = 5999


@pytest.fixture
async def placed(registry: NodeRegistry) -> AsyncIterator[tuple]:  # noqa: F811
    """A conference "300" of A and B (B dials in) placed on the node, its commands read up
    to its start and A's call."""
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    transport = InProcessTransport()
    async with router_of(runtime, registry, transport) as router:
        commands = transport.commands(NODE)
        scheduler.book("300", [A, B], dial_in=frozenset({B}), cp_resource=2)
        clock.set(BEGIN)
        runtime.reconcile()
        await next_command(commands)  # start
        await next_command(commands)  # call A
        yield runtime, router, transport, commands


def state(runtime, uri: str) -> SiteCallState:
    return runtime.status.site_statuses("300", [uri])[0].state


async def test_a_dial_in_the_node_took_is_the_gateway_s_call(placed) -> None:
    runtime, router, transport, commands = placed
    # states of a call the gateway does not know, other than CALLING, make nothing up
    transport.post_event(CallState(NODE, "300", B, "IN_CONFERENCE"))
    transport.post_event(CallState(NODE, "300", A, "RINGING"))
    await until(lambda: state(runtime, A) is SiteCallState.RINGING)
    assert state(runtime, B) is SiteCallState.NOT_JOINED
    # the node accepted B's dial-in: CALLING, then in conference
    transport.post_event(CallState(NODE, "300", B, "CALLING"))
    transport.post_event(CallState(NODE, "300", B, "IN_CONFERENCE"))
    await until(lambda: state(runtime, B) is SiteCallState.IN_CONFERENCE)
    live = runtime.conferences.get("300")
    call = live.sites[B].call
    assert call is not None and call.direction is Direction.DIAL_IN
    # disconnectSitesEx: the node is told to hang it up
    assert runtime.lifecycle.disconnect_sites("300", [B]) == [B]
    command: NodeMessage = await next_command(commands)
    assert isinstance(command, HangUp) and (command.conf_id, command.uri) == ("300", B)
    assert state(runtime, B) is SiteCallState.NOT_JOINED
    # a dial-in of a site the gateway has in a live call is refused: hung up on the node
    transport.post_event(CallState(NODE, "300", A, "IN_CONFERENCE"))
    await until(lambda: state(runtime, A) is SiteCallState.IN_CONFERENCE)
    transport.post_event(CallState(NODE, "300", C, "CALLING"))  # not a site of it
    command = await next_command(commands)
    assert isinstance(command, HangUp) and command.uri == C


async def test_the_gateway_s_presentation_follows_the_node_s_floor(placed) -> None:
    runtime, router, transport, commands = placed
    for uri in (A, B):
        transport.post_event(CallState(NODE, "300", uri, "CALLING"))
        transport.post_event(CallState(NODE, "300", uri, "IN_CONFERENCE"))
    await until(lambda: state(runtime, A) is state(runtime, B) is SiteCallState.IN_CONFERENCE)
    live = runtime.conferences.get("300")
    transport.post_event(FloorHeld(NODE, "300", A, True))
    await until(lambda: live.presentation == A and live.presentation_locked)
    # the node's own reports are not sent back to it (the node is the floor's authority:
    # no echo to cross its later grants); a change the gateway decides is
    runtime.control.unlock_presentation("300")
    forwarded = await next_command(commands)
    while not (isinstance(forwarded, ForwardedEvent) and forwarded.name == "PresentationChanged"):
        forwarded = await next_command(commands)
    assert (forwarded.fields["holder"], forwarded.fields["locked"]) == (A, False)
    # a lock, then another holder granted by the node (the lock went with the release)
    transport.post_event(FloorHeld(NODE, "300", A, True))
    await until(lambda: live.presentation_locked)
    transport.post_event(FloorHeld(NODE, "300", B, False))
    await until(lambda: live.presentation == B and not live.presentation_locked)
    # refused: a holder that is not a site of the conference, a node that does not hold it
    dropped = router.dropped
    transport.post_event(FloorHeld(NODE, "300", C, False))
    transport.post_event(FloorHeld(NODE + 1, "300", A, False))
    await until(lambda: router.dropped == dropped + 1)
    await asyncio.sleep(0.2)
    assert live.presentation == B
    transport.post_event(FloorHeld(NODE, "300", None, False))
    await until(lambda: live.presentation is None)


def invite(user: str, caller: str, scheme: str = "sip", via: str = "UDP") -> Request:
    request = Request(method="INVITE", uri=f"{scheme}:{user}@127.0.0.1")
    for name, value in (("Via", f"SIP/2.0/{via} 127.0.0.1:5070;branch=z9hG4bKtest"),
                        ("From", f"<{caller}>;tag=t1"), ("To", f"<sip:{user}@127.0.0.1>"),
                        ("Call-ID", "redirect-1@127.0.0.1"), ("CSeq", "1 INVITE"),
                        ("Contact", "<sip:caller@127.0.0.1:5070>"), ("Max-Forwards", "70")):
        request.headers.add(name, value)
    return request


async def test_the_redirect_refuses_as_embedded_and_sends_the_caller_to_the_node(
        placed, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, router, transport, _ = placed
    code = runtime.scheduler.get("300").access_code  # its password is "123456"
    limits = dial_in_limits(runtime.clock, DialInLimitSettings())
    redirect = SipRedirect(runtime, router, "127.0.0.1", 0, limits)

    async def answer(user: str, caller: str) -> tuple[int, str, str]:
        refusal = await redirect.on_invite(invite(user, caller))
        return refusal.status, refusal.reason, refusal.contact

    assert await answer("99999999", f"sip:{B}@127.0.0.1") == (404, "Conference Not Found", "")
    assert await answer(code, "sip:stranger@127.0.0.1") == (403, "Not Booked", "")
    assert await answer(f"{code}*111111", f"sip:{B}@127.0.0.1") == (403, "Wrong Password", "")
    # three failures from one address: the dial-in limits (the embedded ones) hold it back
    assert await answer(code, f"sip:{A}@127.0.0.1") == (403, "Dial-in Locked", "")
    redirect.limits = dial_in_limits(runtime.clock, DialInLimitSettings())  # a fresh count
    transport.post_event(CallState(NODE, "300", A, "IN_CONFERENCE"))
    await until(lambda: state(runtime, A) is SiteCallState.IN_CONFERENCE)
    assert await answer(code, f"sip:{A}@127.0.0.1") == (486, "Already In Conference", "")
    # the node has not announced a SIP port: nowhere to send the caller
    monkeypatch.setattr(sip_redirect, "PLACED_WAIT_S", 0.2)
    router.nodes[NODE] = NodeRecord(NODE, "ward", "127.0.0.1", 4, 8,
                                    port_costs_json(PortCosts()), conferences=["300"])
    assert await answer(code, f"sip:{B}@127.0.0.1") == (503, "No Media Node", "")
    assert redirect.redirected == 0
    router.nodes[NODE] = NodeRecord(NODE, "ward", "127.0.0.1", 4, 8,
                                    port_costs_json(PortCosts()), conferences=["300"],
                                    sip_port=SIP_PORT)
    assert await answer(f"{code}*123456", f"sip:{B}@127.0.0.1") == (
        302, "Moved Temporarily", f"sip:{code}*123456@127.0.0.1:{SIP_PORT}")
    assert redirect.redirected == 1


async def test_a_tls_dial_in_is_redirected_to_the_node_s_tls_port_only(
        placed, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, router, _, _ = placed
    code = runtime.scheduler.get("300").access_code
    redirect = SipRedirect(runtime, router, "127.0.0.1", 0,
                           dial_in_limits(runtime.clock, DialInLimitSettings()))
    caller = f"sip:{B}@127.0.0.1"

    async def answer(scheme: str, via: str) -> tuple[int, str, str]:
        refusal = await redirect.on_invite(invite(f"{code}*123456", caller, scheme, via))
        return refusal.status, refusal.reason, refusal.contact

    monkeypatch.setattr(sip_redirect, "PLACED_WAIT_S", 0.2)
    # a node without SIP over TLS: the TLS caller is refused, the plain one redirected
    router.nodes[NODE] = NodeRecord(NODE, "ward", "127.0.0.1", 4, 8,
                                    port_costs_json(PortCosts()), conferences=["300"],
                                    sip_port=SIP_PORT)
    assert await answer("sips", "TLS") == (503, "No TLS Media Node", "")
    assert await answer("sip", "TLS") == (503, "No TLS Media Node", "")
    assert await answer("sips", "TCP") == (503, "No TLS Media Node", "")  # asked for TLS
    assert redirect.redirected == 0
    assert await answer("sip", "TCP") == (
        302, "Moved Temporarily", f"sip:{code}*123456@127.0.0.1:{SIP_PORT};transport=tcp")
    router.nodes[NODE] = NodeRecord(NODE, "ward", "127.0.0.1", 4, 8,
                                    port_costs_json(PortCosts()), conferences=["300"],
                                    sip_port=SIP_PORT, sip_tls_port=SIP_PORT + 1)
    assert await answer("sips", "TLS") == (
        302, "Moved Temporarily", f"sips:{code}*123456@127.0.0.1:{SIP_PORT + 1}")
    assert await answer("sip", "TLS") == (
        302, "Moved Temporarily",
        f"sip:{code}*123456@127.0.0.1:{SIP_PORT + 1};transport=tls")
    assert await answer("sip", "UDP") == (
        302, "Moved Temporarily", f"sip:{code}*123456@127.0.0.1:{SIP_PORT}")
    assert redirect.redirected == 4
