"""Call control: the state machine, the default dialer over the endpoint registry, timeouts
with their failure reasons, and disconnects."""

from __future__ import annotations

import asyncio

from mcu.calls import Call, CallFailure, RegistryDialer
from mcu.endpoints import EndpointRegistry
from mcu.events import SiteCallStateChanged
from mcu.model import SiteCallState, SiteSpec
from tests.test_runtime import (
    BEGIN,
    A,
    B,
    FakeTerminal,
    Recorder,
    joined_conference,
    make_runtime,
    wait_for_state,
)


def states_of(recorder: Recorder, uri: str) -> list[SiteCallState]:
    return [e.state for e in recorder.of(SiteCallStateChanged) if e.uri == uri]


# ---------------------------------------------------------------------------- the state machine


def test_call_moves_calling_ringing_in_conference_and_ignores_late_callbacks():
    seen: list[SiteCallState] = []
    call = Call("1", SiteSpec(A), lambda c: seen.append(c.state))
    call.answer()  # an answer without ringing is fine
    call.ringing()  # late: ignored
    call.reject()  # late: ignored
    assert call.state is SiteCallState.IN_CONFERENCE and call.failure is None
    assert call.hang_up_local() is True
    assert call.hang_up_local() is False
    call.answer()  # after hang-up: ignored
    assert seen == [SiteCallState.IN_CONFERENCE, SiteCallState.NOT_JOINED]


def test_rejected_call_carries_its_reason():
    call = Call("1", SiteSpec(A), lambda c: None)
    call.ringing()
    call.reject(CallFailure.CALLEE_BUSY.info())
    assert call.state is SiteCallState.NOT_JOINED
    assert (call.failure.code, call.failure.description) == (117, "callee busy")


async def test_registry_dialer_offers_the_call_to_the_registered_endpoint_only():
    registry = EndpointRegistry()
    terminal = FakeTerminal(A)
    registry.register(terminal)
    dialer = RegistryDialer(registry)
    reachable = Call("1", SiteSpec(A), lambda c: None)
    unreachable = Call("1", SiteSpec(B), lambda c: None)
    dialer.place_call(reachable)
    dialer.place_call(unreachable)
    assert terminal.offered == [reachable] and reachable.endpoint is terminal
    assert unreachable.endpoint is None and unreachable.state is SiteCallState.CALLING
    assert registry.unregister(A) is terminal and A not in registry


# ---------------------------------------------------------------------------- through the runtime


async def test_unreachable_site_ends_not_joined_as_offline_after_the_timeout():
    clock, scheduler, runtime = make_runtime(call_timeout=0.05)
    scheduler.book("100", [A], dial_in=frozenset({A}))
    clock.set(BEGIN)
    runtime.reconcile()
    recorder = Recorder(runtime)
    assert runtime.lifecycle.connect_sites("100", [A]) == [A]
    assert runtime.status.site_statuses("100", [A])[0].state is SiteCallState.CALLING
    await wait_for_state(runtime, "100", A, SiteCallState.NOT_JOINED)
    status = runtime.status.site_statuses("100", [A])[0]
    assert status.call_failed_reason.code == CallFailure.CALLEE_OFFLINE == 109
    assert states_of(recorder, A) == [SiteCallState.CALLING, SiteCallState.NOT_JOINED]
    assert recorder.of(SiteCallStateChanged)[-1].reason == status.call_failed_reason


async def test_reachable_endpoint_rings_then_answers():
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    runtime.registry.register(FakeTerminal(A))
    scheduler.book("100", [A], dial_in=frozenset({A}))
    clock.set(BEGIN)
    runtime.reconcile()
    recorder = Recorder(runtime)
    runtime.lifecycle.connect_sites("100", [A])
    await wait_for_state(runtime, "100", A, SiteCallState.IN_CONFERENCE)
    assert states_of(recorder, A) == [
        SiteCallState.CALLING,
        SiteCallState.RINGING,
        SiteCallState.IN_CONFERENCE,
    ]
    status = runtime.status.site_statuses("100", [A])[0]
    assert status.call_failed_reason is None and status.volume == 50


async def test_ringing_without_answer_fails_as_no_answer():
    clock, scheduler, runtime = make_runtime(call_timeout=0.05)
    runtime.registry.register(FakeTerminal(A, behaviour="ring"))
    scheduler.book("100", [A])
    clock.set(BEGIN)
    runtime.reconcile()
    await wait_for_state(runtime, "100", A, SiteCallState.RINGING)
    await wait_for_state(runtime, "100", A, SiteCallState.NOT_JOINED)
    assert runtime.status.site_statuses("100", [A])[0].call_failed_reason.code == CallFailure.NO_ANSWER


async def test_rejected_call_ends_not_joined_with_rejection():
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    runtime.registry.register(FakeTerminal(A, behaviour="reject"))
    scheduler.book("100", [A])
    clock.set(BEGIN)
    runtime.reconcile()
    await wait_for_state(runtime, "100", A, SiteCallState.NOT_JOINED)
    reason = runtime.status.site_statuses("100", [A])[0].call_failed_reason
    assert reason.code == CallFailure.CALLEE_REJECTED


async def test_connect_skips_unknown_and_active_sites():
    _, _, runtime = await joined_conference((A, B))
    runtime.lifecycle.disconnect_sites("100", [B])
    assert runtime.lifecycle.connect_sites("100", [A, B, "ghost"]) == [B]  # A is already in


async def test_disconnect_hangs_up_joined_and_calling_sites_without_a_reason():
    clock, scheduler, runtime = make_runtime(call_timeout=30)
    terminal = FakeTerminal(A)
    runtime.registry.register(terminal)
    scheduler.book("100", [A, B])
    clock.set(BEGIN)
    runtime.reconcile()
    await wait_for_state(runtime, "100", A, SiteCallState.IN_CONFERENCE)
    assert runtime.status.site_statuses("100", [B])[0].state is SiteCallState.CALLING
    assert runtime.lifecycle.disconnect_sites("100", [A, B, "ghost"]) == [A, B]
    statuses = runtime.status.site_statuses("100")
    assert [(s.state, s.call_failed_reason) for s in statuses] == [
        (SiteCallState.NOT_JOINED, None),
        (SiteCallState.NOT_JOINED, None),
    ]
    assert len(terminal.ended) == 1
    assert runtime.lifecycle.disconnect_sites("100", [A]) == []  # already gone: nothing to do
    await asyncio.sleep(0)


async def test_hang_up_cancels_the_timeout_so_a_redial_is_not_failed_by_the_old_timer():
    clock, scheduler, runtime = make_runtime(call_timeout=0.05)
    scheduler.book("100", [A])
    clock.set(BEGIN)
    runtime.reconcile()
    runtime.lifecycle.disconnect_sites("100", [A])
    terminal = FakeTerminal(A)
    runtime.registry.register(terminal)
    runtime.lifecycle.connect_sites("100", [A])
    await wait_for_state(runtime, "100", A, SiteCallState.IN_CONFERENCE)
    await asyncio.sleep(0.1)  # past the first call's timeout: it must not touch the new call
    assert runtime.status.site_statuses("100", [A])[0].state is SiteCallState.IN_CONFERENCE


async def test_terminal_hanging_up_leaves_the_conference():
    _, _, runtime = await joined_conference((A, B))
    runtime.control.request_conf_chair("100", A)
    runtime.registry.lookup(A).offered[-1].hang_up_remote()
    assert runtime.status.site_statuses("100", [A])[0].state is SiteCallState.NOT_JOINED
    assert runtime.status.conference_status("100").chair is None
